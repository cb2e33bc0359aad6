"""Clustering the self-expression coefficients (paper Algorithm 2, docs/DESIGN.md section 5).

Pipeline: per-column l1-mass thresholding -> S = (|C| + |C|^T)/2 -> top-r eigenvectors (r = K*q + 1) ->
rows of U*Sigma^1/2 normalised -> A = max(U U^T, 0)^alpha -> spectral clustering.

Both paths threshold C into a sparse matrix (a few entries per column survive), form S sparse and take
its top eigenvectors by Lanczos iteration (ARPACK, matrix-vector products only);
they differ after that:

* dense (small n): A is the full n x n array, as in the paper, and spectral clustering runs on it;
* sparse (large n): A keeps only each row's ``n_neighbors`` largest entries, found by FAISS
  inner-product search, and spectral clustering runs on that sparse graph. Nothing n x n is formed
  apart from the caller's C (unless ``ro >= 1``, which keeps every entry and so makes S dense).

``method="exact"`` is the dense path with a full LAPACK eigendecomposition, kept for comparison.
``cluster_coefficients(..., method="auto")`` picks dense up to :data:`DENSE_MAX_N` nodes, sparse above.
"""
from __future__ import annotations

import contextlib
import time
import warnings

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.utils import check_random_state

from .params import AFFINITY_METHODS, PSSC_DEFAULTS
from .spectral import spectral_clustering

__all__ = [
    "DENSE_MAX_N",
    "DEFAULT_N_NEIGHBORS",
    "threshold_columns",
    "symmetrize_abs",
    "summed_coefficients",
    "top_eigenvectors",
    "embed_rows",
    "dense_affinity",
    "knn_affinity",
    "cluster_coefficients",
    "threshold_partitions",
    "consensus_labels",
    "consensus_of",
    "CONSENSUS_FACTORS",
    "normalized_cut",
    "cluster_best_of",
    "rebalance_labels",
    "share_at_mean_size",
    "REBALANCE_RATIO",
    "REBALANCE_MAX_CV",
]

#: ``method="auto"`` uses the dense path up to this many nodes. The sparse path was faster at every size
#: measured (bench/affinity_scaling.py, 2 busy cores: dense/sparse 1.6x at n=300, 2x at 1000-2000,
#: 6x at 3000, 8x at 4000, where the dense path also needs ~4 n^2 doubles), so the threshold is a
#: fidelity choice: every paper benchmark (n <= 2880) keeps the paper's exact dense affinity for at most
#: a few seconds, and larger n goes sparse.
DENSE_MAX_N = 3000
#: Largest n whose eigenproblem falls back to LAPACK's dense ``eigh`` when ARPACK fails (an n x n float64 copy: 0.8
#: GiB and about a minute at 10000).
EIGH_FALLBACK_MAX_N = 10000

#: Neighbours kept per row of the sparse affinity (10-100 gave the same labels on the benchmark's
#: block-structured C; 30 leaves room for clusters of a few dozen points).
DEFAULT_N_NEIGHBORS = 30

# Working-buffer budget of the thresholding passes (a row chunk, or a transposed column block).
_CHUNK_BYTES = 16 << 20
# Row tile for the cache-friendly transpose of a column block.
_TRANSPOSE_TILE = 256
# A column whose candidate set exceeds this multiple of k goes to the top-k fallback.
_CAND_FACTOR = 8
# Columns used to size k before the main pass.
_PILOT_COLUMNS = 128


def _as_float_array(C) -> np.ndarray:
    """C as a 2-D float32/float64 numpy array, without copying when it already is one (torch: shared)."""
    if isinstance(C, torch.Tensor):
        C = C.detach()
        if C.device.type != "cpu":
            C = C.cpu()
        if C.dtype not in (torch.float32, torch.float64):
            C = C.to(torch.float32 if C.is_floating_point() else torch.float64)
        C = C.numpy()
    elif sp.issparse(C):
        raise TypeError("expected a dense coefficient matrix C, got a scipy sparse matrix")
    else:
        C = np.asarray(C)
        if C.dtype not in (np.float32, np.float64):
            C = C.astype(np.float64)
    if C.ndim != 2:
        raise ValueError(f"C must be 2-D, got shape {C.shape}")
    return C


def _stable_desc(vals: np.ndarray, idx: np.ndarray):
    """Sort each row by value descending, ties by position ascending (the definition's order)."""
    order = np.lexsort((idx, -vals), axis=-1)
    return np.take_along_axis(vals, order, axis=1), np.take_along_axis(idx, order, axis=1)


def _kept_prefix(vals: np.ndarray, thr: np.ndarray, mode: str):
    """Kept count per row of candidates sorted in the definition's order, and whether it is exact.

    ``vals`` (rows x width, |values| sorted descending, ties by position; padding < 0 at the end) are
    accumulated in float64. Exactness of the count depends on what the candidates are:

    * ``"topk"`` (a row's k largest, ties at the k-th value cut arbitrarily): the first dropped entry
      lies inside the k and the last kept value is strictly above the k-th, so no tie straddles the cut;
    * ``"above"`` (every entry >= some cut): the candidates' total mass exceeds the threshold;
    * ``"all"`` (the whole row): always.
    """
    v64 = np.maximum(vals, 0.0, dtype=np.float64)
    csum = np.cumsum(v64, axis=1)
    cnt = (csum - v64 <= thr[:, None]).sum(axis=1)
    if mode == "all":
        return cnt, np.ones(cnt.shape, dtype=bool)
    if mode == "above":
        return cnt, csum[:, -1] > thr
    k = v64.shape[1]
    last_kept = v64[np.arange(cnt.size), np.maximum(cnt - 1, 0)]
    return cnt, (cnt < k) & ((cnt == 0) | (last_kept > v64[:, -1]))


def _take_prefix(cols, cnt, ok, pos, out_cols, out_rows):
    """Append the kept (column, row) pairs of the columns whose count is exact; return the others."""
    c_ok = np.flatnonzero(ok)
    if c_ok.size:
        c = cnt[c_ok]
        mask = np.arange(pos.shape[1])[None, :] < c[:, None]
        out_cols.append(np.repeat(cols[c_ok], c))
        out_rows.append(pos[c_ok][mask])
    return cols[~ok]


def _row_chunks(m: int, n: int, itemsize: int, align: int):
    """Row ranges of about _CHUNK_BYTES, with lengths that are multiples or divisors of ``align``."""
    rows = max(1, _CHUNK_BYTES // max(1, n * itemsize))
    step = align * max(1, rows // align) if rows >= align else 1 << (rows.bit_length() - 1)
    return [(i, min(m, i + step)) for i in range(0, m, step)]


def _column_stats(C: np.ndarray, g: int):
    """Column l1 masses (float64) and the maxima of |C| over g strided row groups (row i in i mod g)."""
    m, n = C.shape
    mass = np.zeros(n, dtype=np.float64)
    gmax = np.zeros((g, n), dtype=C.dtype)
    for i0, i1 in _row_chunks(m, n, C.itemsize, g):
        a = np.abs(C[i0:i1])
        mass += a.sum(axis=0, dtype=np.float64)
        if i1 - i0 >= g:  # chunk of whole group periods, starting at a multiple of g
            full = (i1 - i0) // g * g
            np.maximum(gmax, a[:full].reshape(-1, g, n).max(axis=0), out=gmax)
            rest = a[full:]
            np.maximum(gmax[:rest.shape[0]], rest, out=gmax[:rest.shape[0]])
        else:  # chunk inside one group period
            s0 = i0 % g
            np.maximum(gmax[s0:s0 + (i1 - i0)], a, out=gmax[s0:s0 + (i1 - i0)])
    return mass, gmax


def _candidates_above(C: np.ndarray, t: np.ndarray, cap: int):
    """All (row, col, |value|) with |C[row, col]| >= t[col], grouped by column as CSR (n x m).

    A column collecting more than ``cap`` candidates stops collecting (its cut becomes +inf) and is
    reported in the returned boolean array, so memory stays bounded for flat or constant columns.
    """
    m, n = C.shape
    t = t.copy()
    counts = np.zeros(n, dtype=np.int64)
    rows_l, cols_l, vals_l = [], [], []
    for i0, i1 in _row_chunks(m, n, C.itemsize, 1):
        a = np.abs(C[i0:i1])
        flat = np.flatnonzero(a >= t)
        r, c = np.divmod(flat, n)
        rows_l.append(r + i0)
        cols_l.append(c)
        vals_l.append(a.ravel()[flat])
        counts += np.bincount(c, minlength=n)
        t[counts > cap] = np.inf
    over = counts > cap
    rows = np.concatenate(rows_l) if rows_l else np.zeros(0, dtype=np.int64)
    cols = np.concatenate(cols_l) if cols_l else np.zeros(0, dtype=np.int64)
    vals = np.concatenate(vals_l) if vals_l else np.zeros(0, dtype=C.dtype)
    keep = ~over[cols]
    # COO -> CSR is a stable counting sort: each column's candidates stay in row order.
    G = sp.csr_matrix((vals[keep], (cols[keep], rows[keep])), shape=(n, m))
    G.sort_indices()
    return G, over


def _padded(G: sp.csr_matrix, c0: int, c1: int):
    """Rows c0:c1 of a CSR matrix as padded rectangles (values, positions); padding: value -1."""
    ptr = G.indptr[c0:c1 + 1]
    counts = np.diff(ptr)
    width = max(1, int(counts.max()) if counts.size else 1)
    rr = np.repeat(np.arange(c1 - c0), counts)
    col = np.arange(ptr[-1] - ptr[0]) - (ptr[:-1] - ptr[0])[rr]
    V = np.full((c1 - c0, width), -1.0, dtype=G.dtype)
    P = np.full((c1 - c0, width), np.iinfo(np.int64).max, dtype=np.int64)
    V[rr, col] = G.data[ptr[0]:ptr[-1]]
    P[rr, col] = G.indices[ptr[0]:ptr[-1]]
    return V, P


def _transposed_abs(C: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """|C[:, cols]|.T as a contiguous (len(cols), m) array, copied one row tile at a time.

    A plain ``.T`` copy of a tall column block is several times slower (a cache miss per element).
    """
    m = C.shape[0]
    out = np.empty((cols.size, m), dtype=C.dtype)
    contiguous = cols.size and cols[-1] - cols[0] + 1 == cols.size
    for i0 in range(0, m, _TRANSPOSE_TILE):
        tile = C[i0:i0 + _TRANSPOSE_TILE, cols[0]:cols[-1] + 1] if contiguous \
            else C[i0:i0 + _TRANSPOSE_TILE][:, cols]
        out[:, i0:i0 + _TRANSPOSE_TILE] = tile.T
    return np.abs(out, out=out)


def _threshold_topk(C: np.ndarray, cols: np.ndarray, thr: np.ndarray, k: int, out_cols, out_rows):
    """Exact kept rows of the given columns from their k, 4k, ... largest |entries|, up to a full sort."""
    m = C.shape[0]
    b = max(1, _CHUNK_BYTES // max(1, m * C.itemsize))
    for j in range(0, cols.size, b):
        blk_cols = cols[j:j + b]
        a = _transposed_abs(C, blk_cols)
        local = np.arange(blk_cols.size)
        kk = k
        while local.size:
            sub = a if local.size == blk_cols.size else a[local]
            if 4 * kk >= m:
                # Close to a full sort anyway: sort everything, exact by construction.
                pos = np.argsort(-sub, axis=1, kind="stable")
                vals = np.take_along_axis(sub, pos, axis=1)
                mode = "all"
            else:
                idx = np.argpartition(sub, m - kk, axis=1)[:, m - kk:]
                vals, pos = _stable_desc(np.take_along_axis(sub, idx, axis=1), idx)
                mode = "topk"
            cnt, ok = _kept_prefix(vals, thr[blk_cols[local]], mode)
            ok_cols = local[ok]
            _take_prefix(blk_cols[ok_cols], cnt[ok], np.ones(ok_cols.size, bool), pos[ok],
                         out_cols, out_rows)
            local = local[~ok]
            kk = min(m, 4 * kk)


def _pick_k(C, thr, live, g):
    """Candidates per column for the main pass: 1.5x what 95% of a pilot sample of columns keep."""
    pilot = live[:_PILOT_COLUMNS]
    pc, pr = [], []
    _threshold_topk(C, pilot, thr, 16, pc, pr)
    need = np.bincount(np.concatenate(pc), minlength=C.shape[1])[pilot] if pc else np.zeros(1)
    return int(min(g // 2, max(4, np.ceil(1.5 * np.quantile(need, 0.95)) + 1)))


def threshold_columns(C, ro: float, *, sparse: bool = False):
    """Keep, in every column, the largest |entries| whose l1 mass reaches a fraction ``ro``.

    An entry is kept when the l1 mass of the entries sorted before it (descending |value|, ties by row
    index) is <= ``ro`` * column l1 mass, so the entry that crosses the threshold is kept too (as in
    the released DSC code). ``ro >= 1`` keeps everything.

    Sort + cumulative sum, vectorised, without a per-column loop and without sorting whole columns:

    1. one pass over row chunks of C gives each column's l1 mass and the maxima of |C| over g strided
       row groups (row i in group i mod g);
    2. per column, the k-th largest group maximum t is a cut with at least k entries above it (k from
       a pilot of 128 columns); a second pass collects every entry >= t;
    3. per column block, the candidates are sorted (descending, ties by row) and a float64 cumulative
       sum gives the kept prefix. Since the candidates are *all* entries >= t, the result is exact
       whenever their mass exceeds the threshold; other columns (and columns with more than 8k
       candidates) are redone from their k largest entries (``np.argpartition``) with growing k, up
       to a full stable sort.

    All of it is single-threaded numpy: memory-bound passes gain little from a second core, and
    small multi-threaded torch sorts stalled for seconds on the busy shared machine (measured).

    Memory: O(g n + candidates) besides C (16 MiB working chunks); C itself is not copied.
    Masses are summed by row chunks in float64; where an entry's prior mass equals ro * mass to the
    last bit, a different summation order could flip it, as for any floating-point implementation.

    Parameters
    ----------
    C : (m, n) numpy array or torch tensor (not copied when float32/float64 on CPU).
    ro : fraction of each column's l1 mass to keep.
    sparse : return a ``scipy.sparse.csc_matrix`` in C's float dtype (only the kept non-zeros) instead
        of a dense float64 array; the sparse form is what the large-n path uses.

    Returns
    -------
    Dense float64 ndarray (default) or CSC matrix, holding C's signed values at kept positions.
    """
    C = _as_float_array(C)
    m, n = C.shape
    if ro >= 1:
        return sp.csc_matrix(C) if sparse else C.astype(np.float64, copy=True)
    out_cols, out_rows = [], []
    if m and n:
        # Groups of >= ~16 rows: the group maxima are 16x fewer values than C to select from, and up
        # to 1024 of them still resolve a cut for k <= g / 2 candidates.
        g = 1 << int(np.clip(np.log2(max(m, 1) / 16), 6, 10))
        mass, gmax = _column_stats(C, g)
        thr = ro * mass
        live = np.flatnonzero(mass > 0)  # all-zero columns keep nothing non-zero
        fallback = live
        if m >= 4 * g and live.size > _PILOT_COLUMNS:
            k = _pick_k(C, thr, live, g)
            t = np.partition(gmax, g - k, axis=0)[g - k]
            del gmax
            t[mass <= 0] = np.inf
            G, over = _candidates_above(C, t, _CAND_FACTOR * k)
            # Columns per block: a column's rectangles hold <= _CAND_FACTOR * k slots of value and
            # position, plus sorted copies (~64 bytes a slot in all).
            b = max(1, _CHUNK_BYTES // (64 * _CAND_FACTOR * k))
            left = [np.flatnonzero(over & (mass > 0))]
            for c0 in range(0, n, b):
                c1 = min(n, c0 + b)
                cols = np.arange(c0, c1)
                cols = cols[mass[cols] > 0]
                if not cols.size:
                    continue
                V, P = _padded(G, c0, c1)
                V, P = V[cols - c0], P[cols - c0]
                # Positions ascend within a row already, so a stable sort on value gives the order.
                order = np.argsort(-V, axis=1, kind="stable")
                vals, pos = np.take_along_axis(V, order, axis=1), np.take_along_axis(P, order, axis=1)
                cnt, ok = _kept_prefix(vals, thr[cols], "above")
                left.append(_take_prefix(cols, cnt, ok, pos, out_cols, out_rows))
            fallback = np.unique(np.concatenate(left))
            k *= 4
        else:
            k = 16
        if fallback.size:
            _threshold_topk(C, fallback, thr, k, out_cols, out_rows)
    if out_cols:
        cols = np.concatenate(out_cols)
        rows = np.concatenate(out_rows)
        vals = C[rows, cols]
        nz = vals != 0
        rows, cols, vals = rows[nz], cols[nz], vals[nz]
    else:
        rows = cols = np.zeros(0, dtype=np.int64)
        vals = np.zeros(0, dtype=C.dtype)
    Ct = sp.csc_matrix((vals, (rows, cols)), shape=(m, n))
    return Ct if sparse else Ct.toarray().astype(np.float64, copy=False)


def symmetrize_abs(C):
    """S = (|C| + |C|^T) / 2 in float64; sparse input gives CSR, dense input a dense array."""
    if sp.issparse(C):
        A = abs(sp.csr_matrix(C, dtype=np.float64))
        return ((A + A.T) * 0.5).tocsr()
    A = np.abs(_as_float_array(C)).astype(np.float64, copy=False)
    return 0.5 * (A + A.T)


def summed_coefficients(*Cs) -> np.ndarray:
    """The sum of dense coefficient matrices of the same points, each column first scaled to unit l1 mass (float64):
    one graph that several representations vote in, none outweighing another by its scale. A zero column stays zero."""
    total = 0.0
    for C in Cs:
        C = np.asarray(C, dtype=np.float64)
        total = total + C / np.maximum(np.abs(C).sum(axis=0, keepdims=True), 1e-12)
    return total


def top_eigenvectors(S, rank: int, *, random_state=None, exact: bool = False):
    """Eigenvectors of the ``rank`` algebraically largest eigenvalues of the symmetric S, and those values.

    S = (|C| + |C|^T)/2 is symmetric and non-negative: its cluster structure sits in its largest
    eigenvalues, while its negative ones (which an SVD ranks by magnitude beside them) carry none.
    Lanczos (ARPACK ``eigsh``, seeded start vector) on sparse or dense S, LAPACK ``eigh`` when the rank is
    a large share of n or ``exact`` is set, or when ARPACK fails (up to :data:`EIGH_FALLBACK_MAX_N`). Replaces
    the randomized range finder: S's spectrum is flat, and with the default 4 power iterations the randomized
    vectors were inexact enough to cost COIL20 nine points of ACC on the same C (0.83 -> 0.74; eigenvalue errors
    ~1e-3 at n = 1440, rank 241).

    Returns ``(U, lam)`` with lam in decreasing order, U of shape (n, rank).
    """
    n = S.shape[0]
    rank = int(rank)
    if S.shape != (n, n) or not 1 <= rank <= n:
        raise ValueError(f"S must be square and rank={rank} in [1, {n}]")
    nonzero = S.nnz > 0 if sp.issparse(S) else bool(np.any(S))
    lam = None
    if rank < n // 2 and nonzero and not exact:  # ARPACK cannot start on an all-zero matrix
        from scipy.sparse.linalg import ArpackError, eigsh

        v0 = check_random_state(random_state).uniform(-1.0, 1.0, n)
        try:
            lam, U = eigsh(S.astype(np.float64), k=rank, which="LA", v0=v0)
        except ArpackError as exc:  # ARPACK gives up on some near-degenerate S (a C barely moved from a tiny start)
            if n > EIGH_FALLBACK_MAX_N:
                raise RuntimeError(f"the eigensolver (ARPACK) failed on the {n} x {n} affinity: {exc}; try other "
                                   "post-processing settings (q, ro) or another random_state") from exc
    if lam is None:
        lam, U = np.linalg.eigh(S.toarray() if sp.issparse(S) else np.asarray(S, dtype=np.float64))
    order = np.argsort(-lam, kind="stable")[:rank]
    return U[:, order], lam[order]


def embed_rows(U, s) -> np.ndarray:
    """Rows of U * Sigma^{1/2} scaled to unit length (zero rows stay zero)."""
    E = np.asarray(U, dtype=np.float64) * np.sqrt(np.maximum(np.asarray(s, dtype=np.float64), 0.0))
    norms = np.linalg.norm(E, axis=1, keepdims=True)
    return E / np.maximum(norms, 1e-12)


def _pow_(G: torch.Tensor, alpha: float) -> torch.Tensor:
    """In-place G ** alpha for G >= 0; integer alpha by repeated squaring (several times faster)."""
    if float(alpha).is_integer() and 1 <= alpha <= 64:
        e = int(alpha)
        base = G.clone() if e > 1 else G
        if e % 2 == 0:
            G.fill_(1.0)
        e >>= 1
        while e:
            base.mul_(base)
            if e & 1:
                G.mul_(base)
            e >>= 1
        return G
    return G.pow_(alpha)


def dense_affinity(E, alpha: float) -> np.ndarray:
    """Dense A = max(E E^T, 0)^alpha scaled to max 1 and symmetrised, for unit rows E (n x n, float64)."""
    Et = torch.from_numpy(np.ascontiguousarray(E, dtype=np.float64))
    G = Et @ Et.T
    _pow_(G.clamp_(min=0.0), alpha)
    G /= max(float(G.max()), 1e-12)
    G += G.T.clone()
    G *= 0.5
    return G.numpy()


def knn_affinity(E, alpha: float, n_neighbors: int = DEFAULT_N_NEIGHBORS) -> sp.csr_matrix:
    """Sparse A: for each row of E, its ``n_neighbors`` largest max(<e_i, e_j>, 0)^alpha, j != i.

    Neighbours come from an exact FAISS inner-product search on the unit rows of E (float32). The graph
    is symmetrised by the union of neighbour lists, each kept pair carrying its value of the dense A
    (``max(W, W^T)``), so every stored entry equals the dense affinity's entry. The diagonal is not
    stored (spectral clustering ignores self-loops). Returns an (n, n) float64 CSR matrix.
    """
    import faiss

    X = np.ascontiguousarray(E, dtype=np.float32)
    n = X.shape[0]
    k = int(min(n_neighbors, n - 1))
    if k < 1:
        return sp.csr_matrix((n, n))
    index = faiss.IndexFlatIP(X.shape[1])
    index.add(X)
    sims, nbrs = index.search(X, k + 1)
    rows = np.repeat(np.arange(n), k + 1)
    cols = nbrs.ravel()
    w = np.maximum(sims.ravel().astype(np.float64), 0.0) ** alpha
    keep = (cols >= 0) & (cols != rows) & (w > 0)
    W = sp.csr_matrix((w[keep], (rows[keep], cols[keep])), shape=(n, n))
    return W.maximum(W.T).tocsr()


#: the ``method`` values of :func:`cluster_coefficients` (an estimator's ``affinity_method``)
METHODS = AFFINITY_METHODS


def cluster_coefficients(C, n_clusters: int, *, q: int = PSSC_DEFAULTS["q"], alpha: float = PSSC_DEFAULTS["alpha"],
                         ro: float = PSSC_DEFAULTS["ro"], diag_shift: float = PSSC_DEFAULTS["diag_shift"],
                         method: str = PSSC_DEFAULTS["affinity_method"], random_state=None,
                         return_affinity: bool = False,
                         n_neighbors: int = DEFAULT_N_NEIGHBORS, n_init: int = 10,
                         timings: dict | None = None):
    """Labels (and optionally the affinity) from self-expression coefficients C (paper Algorithm 2).

    Parameters
    ----------
    C : (n, n) coefficients, numpy array or torch tensor (not copied when float32/float64 on CPU with a zero
        diagonal; a non-zero diagonal is ignored, as the graph is built from C0).
    n_clusters : K.
    q : subspace dimension; the eigen-embedding keeps r = K*q + 1 directions.
    alpha : exponent of the affinity max(U U^T, 0)^alpha.
    ro : fraction of each column's l1 mass kept by :func:`threshold_columns` (>= 1 keeps all).
    diag_shift : the eigen-embedding is that of S + diag_shift * I (same eigenvectors, eigenvalues raised by
        diag_shift, which flattens the Sigma^1/2 weighting when diag_shift is large against S's spectrum).
        0 is the paper's Algorithm 2; 1 is the line "C = C - diag(C) + I" left commented out in the public
        DSC-Net port's post-processing ("good for coil20, bad for orl": chosen against labels, so only the
        ``dscnet-coil20`` preset uses it).
    method :
        ``"dense"`` - top eigenvectors of S by Lanczos (S sparse after thresholding, dense when ``ro >= 1``), dense A,
        spectral clustering on it;
        ``"sparse"`` - thresholded C and S sparse, Lanczos eigenvectors, ``n_neighbors``-NN sparse A (FAISS),
        sparse spectral clustering; no dense n x n array besides C itself;
        ``"exact"`` - the dense path with a full LAPACK eigendecomposition, for comparison;
        ``"auto"`` - ``"dense"`` when n <= :data:`DENSE_MAX_N`, else ``"sparse"``.
    random_state : int for reproducible labels (it seeds the Lanczos start, the eigensolver and k-means).
    return_affinity : also return the affinity: a dense (n, n) float64 array on the dense/exact paths,
        a scipy CSR matrix (n_neighbors-NN entries, no diagonal) on the sparse path.
    n_neighbors : neighbours per row of the sparse affinity.
    n_init : k-means restarts in the spectral step.
    timings : if a dict, wall seconds of the stages "threshold" (incl. symmetrising), "svd",
        "affinity" and "spectral" are added to it.

    Returns
    -------
    labels (int64, values in [0, n_clusters)), or ``(labels, affinity)`` with ``return_affinity``.
    """
    Cn = _as_float_array(C)
    n = Cn.shape[0]
    if Cn.shape != (n, n):
        raise ValueError(f"C must be square, got {Cn.shape}")
    if method == "auto":
        method = "dense" if n <= DENSE_MAX_N else "sparse"
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; use one of {METHODS}")
    if not ro >= 0:  # NaN included
        raise ValueError(f"ro={ro} must be >= 0 (the fraction of each column's l1 mass kept)")
    if not alpha > 0:
        raise ValueError(f"alpha={alpha} must be > 0 (the affinity's exponent)")
    if not diag_shift >= 0:
        raise ValueError(f"diag_shift={diag_shift} must be >= 0")
    if np.any(np.diagonal(Cn) != 0):  # a point is not its own neighbour: the graph is built from C0
        Cn = Cn.copy()
        np.fill_diagonal(Cn, 0)
    rs = check_random_state(random_state)
    seed_svd, seed_spec = (int(x) for x in rs.randint(0, 2**31 - 1, size=2))
    sparse_path = method == "sparse"
    clock = _StageClock(timings)

    # Thresholding leaves few entries per column, so S is kept sparse on every path and the eigensolver runs
    # on sparse products; without thresholding (ro >= 1) S is dense.
    with clock("threshold"):
        Ct = threshold_columns(Cn, ro, sparse=ro < 1)
        S = symmetrize_abs(Ct)
        del Ct
    with clock("svd"):
        r = min(n_clusters * q + 1, n)
        if method == "exact":
            U, s = top_eigenvectors(S.toarray() if sp.issparse(S) else S, r, exact=True)
        else:
            U, s = top_eigenvectors(S, r, random_state=seed_svd)
        del S
    with clock("affinity"):
        E = embed_rows(U, s + diag_shift)
        A = knn_affinity(E, alpha, n_neighbors) if sparse_path else dense_affinity(E, alpha)
    with clock("spectral"):
        labels = spectral_clustering(A, n_clusters, random_state=seed_spec, n_init=n_init, features=E)
    return (labels, A) if return_affinity else labels


def normalized_cut(A, labels) -> float:
    """Mean over the clusters of cut(k) / vol(k) on the affinity A (self-loops ignored): the share of a
    cluster's edge weight that leaves it, 0 for clusters with no edge outside, 1 for no edge inside.

    A label-free measure of how well a partition separates its own graph (Shi & Malik's normalized cut,
    averaged); :func:`cluster_best_of` compares candidate coefficient matrices with it. An empty or
    isolated-and-edgeless cluster counts as 1 (nothing holds it together)."""
    A = sp.csr_matrix(A, dtype=np.float64, copy=True)
    A.setdiag(0.0)
    A.eliminate_zeros()
    labels = np.asarray(labels)
    n_clusters = int(labels.max()) + 1
    H = sp.csr_matrix((np.ones(labels.size), (np.arange(labels.size), labels)), shape=(labels.size, n_clusters))
    volume = np.asarray(H.T @ np.asarray(A.sum(axis=1)).ravel()).ravel()
    inside = np.asarray((H.T @ A @ H).diagonal()).ravel()
    share = np.where(volume > 0, (volume - inside) / np.maximum(volume, 1e-300), 1.0)
    return float(share.mean())


def cluster_best_of(candidates: dict, n_clusters: int, *, preferred: str | None = None, tolerance: float = 0.0,
                    **kwargs):
    """Cluster each candidate coefficient matrix (name -> C) with :func:`cluster_coefficients` and pick the
    partition with the lowest :func:`normalized_cut` on its own affinity (the first candidate wins ties), except
    that the ``preferred`` candidate, when given, is kept whenever its cut is at most (1 + ``tolerance``) times
    the lowest.

    Returns ``(chosen, results)``: the chosen name and, for every candidate, ``(labels, affinity, cut)``.
    The estimators pass the network's C first and the input's own ridge self-expression second, so the
    shallow solution wins only when its graph is better separated than the network's; for images the
    contrastive candidate is ``preferred`` (``contrastive_tolerance``)."""
    if preferred is not None and preferred not in candidates:
        raise ValueError(f"preferred={preferred!r} is not one of the candidates {list(candidates)}")
    if not tolerance >= 0:  # NaN included
        raise ValueError(f"tolerance={tolerance} must be >= 0")
    kwargs = {**kwargs, "return_affinity": True}
    results = {}
    for name, C in candidates.items():
        labels, A = cluster_coefficients(C, n_clusters, **kwargs)
        results[name] = (labels, A, normalized_cut(A, labels))
    chosen = min(results, key=lambda name: results[name][2])  # min keeps the first of equals
    if preferred is not None and results[preferred][2] <= (1.0 + tolerance) * results[chosen][2]:
        chosen = preferred
    return chosen, results


#: The thresholds :func:`consensus_labels` clusters C at, as multiples of ``ro``. With the default ro = 0.12 they are
#: 0.04, 0.08, 0.12, 0.2, 0.3 and 0.5: the values DSC-Net's released scripts use per dataset (COIL20 0.04, MNIST
#: 0.12, ORL 0.2, each picked against labels) and the range around them up to half of each column's mass.
CONSENSUS_FACTORS = (1 / 3, 2 / 3, 1.0, 5 / 3, 5 / 2, 25 / 6)


def threshold_partitions(C, n_clusters: int, *, ro: float = PSSC_DEFAULTS["ro"], given=None, random_state=None,
                         n_init: int = 10, **kwargs) -> list:
    """C's partitions (:func:`cluster_coefficients`, int64 labels) at ``ro`` times each of :data:`CONSENSUS_FACTORS`
    (at most 1), each seeded as a plain ``cluster_coefficients(C, K, random_state=...)`` call. ``given``: the labels at
    ``ro`` itself when already computed (saves one clustering). Other keywords go to :func:`cluster_coefficients`."""
    K = int(n_clusters)
    partitions = []
    for factor in CONSENSUS_FACTORS:
        if factor == 1.0 and given is not None:
            partitions.append(np.asarray(given, dtype=np.int64))
        else:
            partitions.append(np.asarray(cluster_coefficients(C, K, ro=min(float(ro) * factor, 1.0),
                                                              random_state=random_state, n_init=n_init, **kwargs),
                                         dtype=np.int64))
    return partitions


def _consensus_seed(random_state) -> int:
    """The random state :func:`consensus_labels` gives its final consensus, drawn from the fit's own."""
    return int(check_random_state(random_state).randint(0, 2**31 - 1))


def consensus_labels(C, n_clusters: int, *, ro: float = PSSC_DEFAULTS["ro"], given=None, random_state=None,
                     n_init: int = 10, joined=(), **kwargs) -> np.ndarray:
    """Labels of C that do not hang on one threshold: C's partitions at each ``ro`` times :data:`CONSENSUS_FACTORS`
    (:func:`threshold_partitions`), then the consensus of those partitions - normalised spectral clustering
    of their co-association graph, whose edge (i, j) counts the partitions that put i and j together (Strehl &
    Ghosh's cluster ensembles; a sparse graph with at most as many entries a row as the partitions' clusters around
    the row hold together).

    Why: where ro puts the threshold decides which weak edges survive, and near a tie (two clusters almost joined)
    the spectral step can land on either side for a small change of ro; the consensus keeps what most thresholds
    agree on. ``given``: the labels at ``ro`` itself when already computed (saves one clustering). ``joined``: further
    ``(C, given)`` pairs, each of another representation of the same points, whose threshold partitions join the
    consensus alike (the estimators pass the network's candidate next to the contrastive one when its cut is close and
    its partition agrees, since the two representations split and join different groups, and then the two candidates'
    :func:`summed_coefficients` with ``given=None``). Other keywords go to :func:`cluster_coefficients`. Returns int64
    labels in [0, n_clusters)."""
    partitions = []
    for C_i, given_i in ((C, given), *joined):
        partitions += threshold_partitions(C_i, n_clusters, ro=ro, given=given_i, random_state=random_state,
                                           n_init=n_init, **kwargs)
    return consensus_of(partitions, int(n_clusters), random_state=_consensus_seed(random_state), n_init=n_init)


def consensus_of(partitions, n_clusters: int, *, random_state=None, n_init: int = 10) -> np.ndarray:
    """The consensus of several partitions of the same n points (each labels in [0, n_clusters)): normalised
    spectral clustering (:func:`pssc_fast.spectral.spectral_clustering`) of the graph whose edge (i, j) counts the
    partitions that put i and j in one cluster. Returns int64 labels."""
    partitions = [np.asarray(p, dtype=np.int64).ravel() for p in partitions]
    K, n = int(n_clusters), partitions[0].size
    if K in (1, n):
        return partitions[0]
    # M = H H^T, H one column per (partition, cluster); spectral_clustering drops M's diagonal. Sparse, with at
    # most (partitions x cluster size) entries a row.
    H = sp.csr_matrix((np.ones(n * len(partitions)),
                       (np.tile(np.arange(n), len(partitions)),
                        np.concatenate([j * K + p for j, p in enumerate(partitions)]))),
                      shape=(n, K * len(partitions)))
    return spectral_clustering((H @ H.T).tocsr(), K, random_state=random_state, n_init=n_init)


#: :func:`rebalance_labels` acts while the largest cluster holds at least this many times the median cluster size
#: (half way between one cluster's size and two clusters')...
REBALANCE_RATIO = 1.5
#: ... and keeps its result only if the cluster sizes' coefficient of variation (std / mean) ends at most this. At
#: 0.3 it moved uneven data (class sizes falling to 1/4 of the largest) in the twentieth session's development fits; at
#: 0.2 it did not (bench/results/diagnostics/rebalance_rule.md: labels informed it).
REBALANCE_MAX_CV = 0.2
#: Where the one-pair move is not kept but at least half of the clusters hold n / K rows to within 10%, the classes are
#: taken to be of one size (a majority of clusters at the mean size is rare unless they are) and
#: :func:`rebalance_labels` repairs many errors at once, with no gate on the sizes it ends at
#: (bench/results/diagnostics/rebalance_many_rule.md).
REBALANCE_EVEN_SHARE = 0.5
REBALANCE_EVEN_TOLERANCE = 0.1
#: ... merging only small groups: two clusters whose sizes sum to at most this many times the median size.
REBALANCE_MERGE_LIMIT = 1.5


def _size_cv(labels, n_clusters: int) -> float:
    sizes = np.bincount(labels, minlength=n_clusters)
    return float(sizes.std() / sizes.mean())


def share_at_mean_size(labels, n_clusters: int) -> float:
    """The share of clusters holding n / K rows to within ``REBALANCE_EVEN_TOLERANCE`` of it: the gate of
    :func:`rebalance_labels`' repair of many errors (``even_share``)."""
    sizes = np.bincount(labels, minlength=n_clusters)
    mean = len(labels) / n_clusters
    return float(np.mean(np.abs(sizes - mean) <= REBALANCE_EVEN_TOLERANCE * mean))


def _best_merge(labels, n_clusters: int, A, excluded: int, limit: float):
    """The pair of clusters (neither ``excluded``, sizes summing to at most ``limit``) whose merging lowers the
    normalized cut on A (no self-loops) most, or None."""
    K = n_clusters
    sizes = np.bincount(labels, minlength=K)
    H = sp.csr_matrix((np.ones(labels.size), (np.arange(labels.size), labels)), shape=(labels.size, K))
    W = (H.T @ A @ H).toarray()  # K x K edge weight between clusters
    volume = W.sum(axis=1)
    cut = volume - np.diag(W)
    share = np.where(volume > 0, cut / np.maximum(volume, 1e-300), 1.0)
    best, pair = -np.inf, None
    for i in range(K):
        for j in range(i + 1, K):
            if excluded in (i, j) or sizes[i] + sizes[j] > limit:
                continue
            joined = volume[i] + volume[j]
            gain = share[i] + share[j] - ((cut[i] + cut[j] - 2 * W[i, j]) / joined if joined > 0 else 1.0)
            if gain > best:
                best, pair = gain, (i, j)
    return pair


def _moved(labels, pair, rows, halves) -> np.ndarray:
    """``labels`` with ``pair`` merged into its first cluster and ``rows``' second half in the freed label."""
    moved = labels.copy()
    moved[labels == pair[1]] = pair[0]
    moved[rows[halves == 1]] = pair[1]
    return moved


def _merge_and_split(labels, K: int, A, ratio: float, limit, split, better) -> np.ndarray:
    """The moves both repairs make: while the largest cluster holds ``ratio`` times the median size, merge the pair of
    other clusters (sizes summing to at most ``limit(sizes, median, largest)``) that lowers the normalized cut on A most
    and ``split(rows)`` the largest in two (0/1 labels of its rows) into the freed label; a move is kept while
    ``better(moved, labels)`` (at most K moves)."""
    for _ in range(K):
        sizes = np.bincount(labels, minlength=K)
        median, big = float(np.median(sizes)), int(np.argmax(sizes))
        if sizes[big] < ratio * median:
            break
        pair = _best_merge(labels, K, A, big, limit(sizes, median, big))
        if pair is None:
            break
        rows = np.flatnonzero(labels == big)
        with warnings.catch_warnings():  # a cluster's block often falls apart into components: expected here
            warnings.simplefilter("ignore")
            halves = split(rows)
        moved = _moved(labels, pair, rows, halves)
        if not better(moved, labels):
            break
        labels = moved
    return labels


def _repair_many(labels, K: int, A, ratio: float, random_state) -> np.ndarray:
    """Many merges at once, for partitions whose clusters are mostly of one size: :func:`_merge_and_split` with pairs
    of small clusters (sizes summing to at most ``REBALANCE_MERGE_LIMIT`` times the median), the largest bisected
    spectrally on its block of A, each move kept while the sizes' coefficient of variation falls."""
    return _merge_and_split(labels, K, A, ratio, lambda sizes, median, big: REBALANCE_MERGE_LIMIT * median,
                            lambda rows: spectral_clustering(A[rows][:, rows], 2, random_state=random_state),
                            lambda moved, before: _size_cv(moved, K) < _size_cv(before, K))


def rebalance_labels(C, labels, n_clusters: int, A, *, ratio: float = REBALANCE_RATIO,
                     max_cv: float = REBALANCE_MAX_CV, even_share: float = REBALANCE_EVEN_SHARE,
                     **kwargs) -> np.ndarray:
    """Undo one kind of error that no graph criterion sees: a cluster holding two groups while another group is
    split in two. While the largest cluster holds at least ``ratio`` times the median cluster size, merge the pair of
    other clusters (their sizes summing to at most the largest's) whose merging lowers the normalized cut on the
    affinity ``A`` most, and split the largest in two by :func:`cluster_coefficients` of its own rows' coefficients
    (C restricted to them; other keywords - q, alpha, ro, random_state... - go there); stop when the largest-to-median
    ratio no longer falls (at most K moves). The result is kept only if the cluster sizes' coefficient of variation
    ends at most ``max_cv`` and below the start's; else ``labels`` come back unchanged.

    Where that move is not kept but at least ``even_share`` of the clusters hold n / K rows to within 10%
    (:func:`share_at_mean_size`; by default half of them), the sizes themselves say the classes are of one size, and
    many errors are repaired at once instead (faces split into two groups of half the size beside clusters of two
    faces, as on ORL): small pairs merged (``REBALANCE_MERGE_LIMIT``), the largest bisected spectrally on its block of
    ``A``, while the sizes' spread falls, with no gate on where it ends.

    Why: on the board's image sets most partitions hold such a pair (two toy cars of COIL20, 3 and 5 of MNIST,
    with the upright and the slanted 1s apart), and every graph measured cuts that partition lower than the
    classes (docs/notes.md). Only sizes tell: one cluster about twice the typical size, two about half. It is a prior
    that clusters are of about one size, so it acts only where the sizes say so, and leaves uneven partitions alone
    (bench/results/diagnostics/rebalance_rule.md, rebalance_many_rule.md). What it cannot tell: uneven classes of just
    that shape (one about twice the median, two about half of it, the rest alike) are "repaired" too. Returns int64
    labels in [0, n_clusters)."""
    K = int(n_clusters)
    start = np.asarray(labels, dtype=np.int64).copy()
    if K < 3:
        return start
    A = sp.csr_matrix(A, dtype=np.float64, copy=True)
    A.setdiag(0.0)
    A.eliminate_zeros()
    Cn = _as_float_array(C)

    def ratio_falls(moved, before):
        now, was = np.bincount(moved, minlength=K), np.bincount(before, minlength=K)
        return now.max() / np.median(now) < was.max() / np.median(was)

    labels = _merge_and_split(start, K, A, ratio, lambda sizes, median, big: sizes[big],
                              lambda rows: cluster_coefficients(Cn[np.ix_(rows, rows)], 2, **kwargs), ratio_falls)
    cv = _size_cv(labels, K)
    if cv <= max_cv and cv < _size_cv(start, K):
        return labels
    if share_at_mean_size(start, K) >= even_share:
        return _repair_many(start, K, A, ratio, kwargs.get("random_state"))
    return start


class _StageClock:
    """Context-manager factory that adds each stage's wall time to a dict (no-op without one)."""

    def __init__(self, timings):
        self.timings = timings

    @contextlib.contextmanager
    def __call__(self, name):
        t0 = time.perf_counter()
        try:
            yield
        finally:
            if self.timings is not None:
                self.timings[name] = self.timings.get(name, 0.0) + time.perf_counter() - t0
