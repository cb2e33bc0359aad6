"""Landmark spectral clustering of every row through the anchors (Chen & Cai, AAAI 2011, "LSC").

Each row i is linked to its ``s`` nearest anchors a with weights b_ia = exp(-d_ia^2 / 2 sigma^2), normalised
to sum 1 over the row; B is the (N, m) sparse matrix of these weights, lambda_a = sum_i b_ia its column sums
and B^ = B diag(lambda)^(-1/2). The row graph W = B^ B^^T (N x N, never formed) has every degree equal to 1,
so its leading eigenvectors are the leading left singular vectors of B^, obtained from the m x m matrix
B^^T B^ = V Sigma^2 V^T as U = B^ V Sigma^-1. Rows of U are normalised and cut by k-means.

Everything grows linearly in N (N s non-zeros) besides an m x m sparse eigenproblem, and a new row is
embedded the same way (its s nearest anchors), which gives out-of-sample labels.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import eigsh

__all__ = ["LandmarkSpectral", "anchor_weights", "bandwidth", "distance_sums", "nearest_center"]


def anchor_weights(sq_dist: np.ndarray, sigma: float) -> np.ndarray:
    """Row-normalised Gaussian weights of each row's nearest anchors from their squared distances (N, s).

    Subtracting each row's smallest distance before exponentiating leaves the normalised weights unchanged
    and keeps a row far from every anchor from underflowing to all zeros."""
    d = np.asarray(sq_dist, dtype=np.float64)
    w = np.exp(-(d - d.min(axis=1, keepdims=True)) / (2.0 * sigma * sigma))
    return w / w.sum(axis=1, keepdims=True)


class LandmarkSpectral:
    """The spectral embedding of rows given their nearest anchors (``fit``), and of new rows (``embed``).

    Parameters
    ----------
    n_anchors : m.
    n_components : number of leading singular vectors kept (the number of clusters).
    random_state : seeds the eigensolver's start vector.
    """

    def __init__(self, n_anchors: int, n_components: int, random_state: int = 0):
        self.n_anchors = int(n_anchors)
        self.n_components = int(n_components)
        self.random_state = int(random_state)

    def fit(self, neighbors: np.ndarray, sq_dist: np.ndarray) -> np.ndarray:
        """neighbors: (N, s) anchor indices; sq_dist: (N, s) squared distances. Sets ``sigma_`` (the mean
        distance to the s nearest anchors, as LSC), ``scale_`` (lambda^-1/2) and ``projection_`` (V Sigma^-1);
        returns the (N, n_components) embedding with unit rows."""
        self.sigma_ = bandwidth(*distance_sums(sq_dist))
        B = self._weights_matrix(neighbors, anchor_weights(sq_dist, self.sigma_))
        self.scale_ = _inverse_sqrt(np.asarray(B.sum(axis=0)).ravel())
        Bh = B @ sp.diags(self.scale_)
        self._project((Bh.T @ Bh).tocsr())
        return _unit_rows(Bh @ self.projection_)

    def gram_part(self, neighbors: np.ndarray, sq_dist: np.ndarray, sigma: float) -> tuple:
        """Some rows' share of (lambda, B^T B) under the bandwidth ``sigma`` (:func:`bandwidth`): summed over
        chunks of rows they are what :meth:`fit_sums` needs, so that B is never held whole."""
        B = self._weights_matrix(neighbors, anchor_weights(sq_dist, sigma))
        return np.asarray(B.sum(axis=0)).ravel(), (B.T @ B).tocsr()

    def fit_sums(self, sigma: float, lam: np.ndarray, gram) -> "LandmarkSpectral":
        """The fit of :meth:`fit` from sums over the rows (``sigma`` from :func:`bandwidth`; ``lam`` and
        ``gram`` summed :meth:`gram_part`) instead of all rows' neighbour lists (:mod:`pssc_fast.parallel`);
        rows are then embedded by :meth:`embed`."""
        self.sigma_ = float(sigma)
        self.scale_ = _inverse_sqrt(np.asarray(lam, dtype=np.float64))
        D = sp.diags(self.scale_)
        self._project((D @ gram @ D).tocsr())
        return self

    def _project(self, M) -> None:
        """``projection_`` = V Sigma^-1 from the m x m matrix M = B^^T B^ = V Sigma^2 V^T."""
        k = min(self.n_components, self.n_anchors - 1)
        v0 = np.random.default_rng(self.random_state).random(self.n_anchors)
        vals, V = eigsh(M, k=k, which="LA", v0=v0, tol=1e-10)
        # directions B^ does not span (rank below k) hold only round-off; 1 / sigma would blow it up
        spanned = vals > 1e-10 * max(float(vals.max()), 0.0)
        sig = np.sqrt(np.where(spanned, vals, 1.0))
        self.projection_ = np.where(spanned, V / sig, 0.0)

    def embed(self, neighbors: np.ndarray, sq_dist: np.ndarray) -> np.ndarray:
        """Embedding of (new) rows from their nearest anchors, with the fitted bandwidth and projection."""
        w = anchor_weights(sq_dist, self.sigma_) * self.scale_[neighbors]
        return _unit_rows(np.einsum("ns,nsk->nk", w, self.projection_[neighbors]))

    def _weights_matrix(self, neighbors, weights) -> sp.csr_matrix:
        n, s = neighbors.shape
        return sp.csr_matrix((weights.ravel(), (np.repeat(np.arange(n), s), neighbors.ravel())),
                             shape=(n, self.n_anchors))


def nearest_center(U: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """Index of the nearest of ``centers`` (k-means centres of the embedding) for each row of U."""
    d = (U * U).sum(1, keepdims=True) - 2.0 * U @ centers.T + (centers * centers).sum(1)
    return d.argmin(axis=1).astype(np.int64)


def distance_sums(sq_dist: np.ndarray) -> tuple:
    """(sum, count) of the distances of some rows to their nearest anchors, from the squared ones: summed
    over chunks of rows they give :func:`bandwidth`."""
    d = np.sqrt(np.maximum(np.asarray(sq_dist, dtype=np.float64), 0.0))
    return float(d.sum()), int(d.size)


def bandwidth(distance_sum: float, count: int) -> float:
    """sigma: the mean distance of the rows to their s nearest anchors (as LSC)."""
    mean_dist = distance_sum / max(int(count), 1)
    # every row on its anchors (collapsed codes): any bandwidth gives uniform weights, and a floor such as
    # float32's tiny would square to 0 and make the weights 0 / 0
    return mean_dist if mean_dist > 0 else 1.0


def _inverse_sqrt(lam: np.ndarray) -> np.ndarray:
    # an anchor no row picked has an empty column; it gets no weight instead of a division by zero
    return np.where(lam > 0, 1.0 / np.sqrt(np.where(lam > 0, lam, 1.0)), 0.0)


def _unit_rows(U: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(U, axis=1, keepdims=True)
    return (U / np.where(norms > 0, norms, 1.0)).astype(np.float32)
