"""Clustering the self-expression coefficients (paper Algorithm 2, DESIGN.md section 5).

Pipeline: per-column l1-mass thresholding -> symmetrise -> top-r SVD (r = K*q + 1) ->
rows of U*Sigma^1/2 normalised -> A = max(U U^T, 0)^alpha -> spectral clustering.
"""
from __future__ import annotations

import numpy as np
import torch
from sklearn.cluster import spectral_clustering


def _as_numpy(C) -> np.ndarray:
    if isinstance(C, torch.Tensor):
        C = C.detach().cpu().numpy()
    return np.asarray(C, dtype=np.float64)


def threshold_columns(C, ro: float) -> np.ndarray:
    """Keep, in every column, the largest |entries| whose l1 mass reaches a fraction ``ro``.

    An entry is kept when the mass of the strictly larger entries before it is <= ro * column mass,
    so the entry that crosses the threshold is kept too (as in the released DSC code).
    ``ro >= 1`` keeps everything.
    """
    C = _as_numpy(C)
    if ro >= 1:
        return C.copy()
    A = np.abs(C)
    order = np.argsort(-A, axis=0, kind="stable")
    sorted_abs = np.take_along_axis(A, order, axis=0)
    before = np.cumsum(sorted_abs, axis=0) - sorted_abs
    keep_sorted = before <= ro * A.sum(axis=0, keepdims=True)
    keep = np.zeros_like(keep_sorted)
    np.put_along_axis(keep, order, keep_sorted, axis=0)
    return np.where(keep, C, 0.0)


def spectral_embedding_affinity(C, n_clusters: int, *, q: int, alpha: float) -> np.ndarray:
    """Dense affinity A = max(U U^T, 0)^alpha from the top-(K q + 1) SVD of S = (|C| + |C|^T)/2."""
    A = np.abs(_as_numpy(C))
    S = 0.5 * (A + A.T)
    r = min(n_clusters * q + 1, S.shape[0])
    U, sig, _ = np.linalg.svd(S, hermitian=True)
    U = U[:, :r] * np.sqrt(sig[:r])[None, :]
    U /= np.maximum(np.linalg.norm(U, axis=1, keepdims=True), 1e-12)
    G = np.maximum(U @ U.T, 0.0) ** alpha
    G /= max(G.max(), 1e-12)
    return 0.5 * (G + G.T)


def cluster_coefficients(C, n_clusters: int, *, q: int = 4, alpha: float = 5.0, ro: float = 0.12,
                         method: str = "auto", random_state=None, return_affinity: bool = False):
    """Labels (and optionally the affinity) from self-expression coefficients C (paper Algorithm 2)."""
    Ct = threshold_columns(C, ro)
    A = spectral_embedding_affinity(Ct, n_clusters, q=q, alpha=alpha)
    labels = spectral_clustering(A, n_clusters=n_clusters, assign_labels="discretize",
                                 random_state=random_state)
    labels = np.asarray(labels, dtype=np.int64)
    return (labels, A) if return_affinity else labels
