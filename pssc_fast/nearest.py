"""Nearest anchors in latent space with FAISS: the index over the anchors' codes, the search, and the
labels it gives (paper Algorithm 3's assignment step, used by :class:`pssc_fast.LargePSSC`)."""
from __future__ import annotations

import math

import numpy as np

__all__ = ["IVF_MIN_WORK", "build_index", "index_kind", "nearest_anchor_labels", "search"]

#: ``index="auto"`` switches from the exact flat index to IVF when queries x anchors exceeds this many
#: distance evaluations (and there are at least 1000 anchors). Below it the exact search is already cheap next to encoding (measured in
#: bench/fit_large_scaling.py: 5000 anchors x 65,000 queries in 10-D take a few hundredths of a second).
IVF_MIN_WORK = 5e10


def index_kind(index: str, n_queries: int, n_anchors: int) -> str:
    """The kind of index ``index`` ("auto", "flat" or "ivf") means for this many queries and anchors."""
    if index != "auto":
        return index
    return "ivf" if float(n_queries) * n_anchors > IVF_MIN_WORK and n_anchors >= 1000 else "flat"


def build_index(codes: np.ndarray, kind: str, seed: int, nprobe):
    """A FAISS index over the rows of ``codes``: exact ``IndexFlatL2`` ("flat") or ``IndexIVFFlat`` ("ivf",
    sqrt(m) lists, ``nprobe`` visited per query; None: a quarter of them, at least 8)."""
    import faiss

    m, dim = codes.shape
    if kind == "flat":
        index = faiss.IndexFlatL2(dim)
    else:
        nlist = max(1, int(round(math.sqrt(m))))
        index = faiss.IndexIVFFlat(faiss.IndexFlatL2(dim), dim, nlist)
        index.cp.seed = int(seed) % (2**31)
        # faiss prints a warning to stdout below 39 training points per list; a coarse quantiser of a few
        # thousand anchors is fine with fewer, and a library should not write to stdout
        index.cp.min_points_per_centroid = 1
        index.train(codes)
        index.nprobe = int(nprobe) if nprobe is not None else min(nlist, max(8, nlist // 4))
    index.add(codes)
    return index


def search(index, Z, k: int):
    """(squared distances, indices) of the k nearest anchors of each row of Z. IVF with too few probes can
    come back short (index -1): those slots repeat the nearest anchor found."""
    sq_dist, nbrs = index.search(np.ascontiguousarray(Z, dtype=np.float32), k)
    missing = nbrs < 0
    if missing.any():
        nbrs = np.where(missing, nbrs[:, :1], nbrs)
        sq_dist = np.where(missing, sq_dist[:, :1], sq_dist)
    return sq_dist, nbrs


def nearest_anchor_labels(index, Z, anchor_labels, n_clusters: int, n_neighbors: int = 1) -> np.ndarray:
    """Labels of the query codes Z from a FAISS ``index`` over the anchors' codes: the nearest anchor's
    label, or with ``n_neighbors > 1`` the majority label of the nearest anchors (ties to the nearest's)."""
    _, nn = search(index, Z, int(n_neighbors))
    votes_of = anchor_labels[nn]
    if n_neighbors == 1:
        return votes_of[:, 0].astype(np.int64)
    votes = np.zeros((Z.shape[0], n_clusters), dtype=np.float64)
    np.add.at(votes, (np.arange(Z.shape[0])[:, None], votes_of), 1.0)
    votes[np.arange(Z.shape[0]), votes_of[:, 0]] += 0.5  # a tie goes to the nearest anchor's label
    return votes.argmax(axis=1).astype(np.int64)
