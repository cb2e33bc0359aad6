"""Normalised spectral clustering on a dense or sparse affinity (docs/DESIGN.md section 5).

The sparse path never forms an n x n dense array: the normalised adjacency keeps the sparsity of the
affinity, its top eigenvectors come from ARPACK (``scipy.sparse.linalg.eigsh``, LOBPCG as a fallback),
and the rows of the embedding are clustered with k-means (Ng, Jordan & Weiss, 2001).

Disconnected graphs get explicit treatment (a k-NN affinity of well separated clusters is disconnected
by design):

* each connected component has eigenvalue exactly 1 with a known eigenvector, which Lanczos resolves
  unreliably when repeated; those vectors are written down and deflated, ARPACK finds the rest;
* components too small to be clusters (isolated nodes, stray pairs) are left out of the eigenproblem and
  labelled afterwards from node features, so they cannot take over the embedding.
"""
from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components
from scipy.sparse.linalg import ArpackNoConvergence, LinearOperator, eigsh, lobpcg
from sklearn.cluster import KMeans
from sklearn.utils import check_random_state
from threadpoolctl import threadpool_limits

from ._warnings import warn_user

__all__ = ["clean_affinity", "normalized_adjacency", "spectral_embedding", "spectral_clustering"]

# Below this many nodes a full dense eigendecomposition is cheaper and more reliable than ARPACK.
_DENSE_EIG_MAX_N = 300
# A cleaned dense affinity with fewer non-zeros than this fraction is converted to CSR.
_SPARSE_DENSITY = 0.25
# Deflation shift: the known eigenvalue-1 directions move to 1 - 3 = -2, below the whole spectrum
# of D^{-1/2} A D^{-1/2} (which lies in [-1, 1]), so the largest remaining eigenpairs are new ones.
_DEFLATE = 3.0
# Relative weight under which an edge counts as absent (see clean_affinity).
ZERO_TOL = 1e-12


def clean_affinity(A, zero_tol: float = ZERO_TOL):
    """Symmetric affinity without self-loops and without edges below ``zero_tol`` * max weight.

    Self-loops are dropped, as scikit-learn's spectral embedding does: a weight-1 self-loop would make a
    weakly attached node look like a cluster of its own. Edges below ``zero_tol`` of the largest weight
    are dropped because they cannot be resolved by the eigensolver in double precision (an affinity
    max(U U^T, 0)^alpha has entries ~1e-80 between numerically orthogonal rows) but would hide the
    component structure that :func:`spectral_embedding` relies on. Returns a float64 copy: CSR for sparse
    input and for dense input that is mostly zeros after cleaning, else a dense array.
    """
    if sp.issparse(A):
        A = sp.csr_matrix(A, dtype=np.float64, copy=True)
        A.setdiag(0.0)
        if A.nnz:
            cut = zero_tol * abs(A.data).max()
            A.data[A.data <= cut] = 0.0
        A.eliminate_zeros()
        return A
    A = np.array(A, dtype=np.float64, copy=True)
    np.fill_diagonal(A, 0.0)
    cut = zero_tol * (A.max() if A.size else 0.0)
    A[A <= cut] = 0.0
    if np.count_nonzero(A) < _SPARSE_DENSITY * A.size:
        # Typical for max(U U^T, 0)^alpha of separated clusters: matrix-vector products are then
        # several times cheaper in CSR form.
        return sp.csr_matrix(A)
    return A


def _components(A):
    """Connected components of the (clean) affinity's graph."""
    return connected_components(A if sp.issparse(A) else sp.csr_matrix(A), directed=False)


def normalized_adjacency(A):
    """Return (D^{-1/2} A D^{-1/2}, degrees) for a symmetric non-negative affinity A.

    A is used as given (call :func:`clean_affinity` first to drop self-loops). Isolated nodes (degree 0)
    get a zero row. Sparse input gives a sparse CSR result, dense input a dense array.
    """
    deg = np.asarray(A.sum(axis=1), dtype=np.float64).ravel()
    inv_sqrt = np.zeros_like(deg)
    pos = deg > 0
    inv_sqrt[pos] = 1.0 / np.sqrt(deg[pos])
    if sp.issparse(A):
        Dm = sp.diags(inv_sqrt)
        return (Dm @ A @ Dm).tocsr(), deg
    return A * inv_sqrt[:, None] * inv_sqrt[None, :], deg


def _component_vectors(deg, comp, n_comp):
    """Unit eigenvectors of D^{-1/2} A D^{-1/2} for eigenvalue 1: sqrt(degree) on each component."""
    norms = np.sqrt(np.bincount(comp, weights=deg, minlength=n_comp))
    vals = np.sqrt(deg) / np.maximum(norms[comp], 1e-300)
    return sp.csc_matrix((vals, (np.arange(comp.size), comp)), shape=(comp.size, n_comp))


def spectral_embedding(A, n_components: int, *, random_state=None, tol: float = 1e-8,
                       maxiter: int | None = None, clean: bool = True,
                       components: tuple | None = None) -> np.ndarray:
    """Top ``n_components`` eigenvectors of the normalised adjacency of A, rows scaled to unit length.

    A is a symmetric non-negative affinity (dense array or scipy sparse matrix; no dense n x n array is
    formed for sparse A). The eigenvectors of the largest eigenvalues of D^{-1/2} A D^{-1/2} are those of
    the smallest eigenvalues of the normalised Laplacian.

    Every connected component contributes an eigenvalue exactly 1 with eigenvector sqrt(degree) on the
    component. Lanczos (ARPACK) resolves repeated eigenvalues unreliably, so these vectors are written
    down directly and deflated from the operator; ARPACK then finds the remaining ones from a start
    vector drawn from ``random_state`` (reproducible), with LOBPCG as the fallback when it does not
    converge. With at least ``n_components`` components the embedding is the indicators of the largest.
    ``clean=False`` skips :func:`clean_affinity` (for an already cleaned A); ``components`` passes
    ``scipy.sparse.csgraph.connected_components`` of the cleaned A when already known.
    """
    if clean:
        A = clean_affinity(A)
    n = A.shape[0]
    k = int(n_components)
    if not 1 <= k <= n:
        raise ValueError(f"n_components={k} must be in [1, {n}]")
    rs = check_random_state(random_state)
    n_comp, comp = _components(A) if components is None else components
    N, deg = normalized_adjacency(A)
    # The dense algebra here is on (n, k) panels: too small to gain from BLAS threads, while threaded
    # OpenBLAS next to torch/faiss OpenMP pools on a busy 2-core machine ran ~10x slower (measured).
    with threadpool_limits(limits=1, user_api="blas"):
        return _embedding(N, deg, comp, n_comp, k, rs, tol, maxiter)


def _embedding(N, deg, comp, n_comp, k, rs, tol, maxiter):
    """Body of spectral_embedding on the normalised adjacency N and its components."""
    n = N.shape[0]
    Q = _component_vectors(deg, comp, n_comp)
    if n_comp >= k:
        keep = np.argsort(-np.bincount(comp, minlength=n_comp), kind="stable")[:k]
        V = Q[:, keep].toarray()
    else:
        m = k - n_comp
        if n <= _DENSE_EIG_MAX_N:
            Nd = N.toarray() if sp.issparse(N) else N
            Qd = Q.toarray()
            _, vecs = np.linalg.eigh(Nd - _DEFLATE * (Qd @ Qd.T))
            W = vecs[:, ::-1][:, :m]
        else:
            QT = Q.T.tocsr()

            def apply(x):
                return N @ x - _DEFLATE * (Q @ (QT @ x))

            op = LinearOperator((n, n), matvec=apply, matmat=apply, dtype=np.float64)
            v0 = rs.uniform(-1.0, 1.0, n)
            ncv = min(n, max(2 * m + 1, 20))
            try:
                _, W = eigsh(op, k=m, which="LA", v0=v0, ncv=ncv, tol=tol, maxiter=maxiter)
            except ArpackNoConvergence:
                X0 = rs.standard_normal((n, m))
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", UserWarning)
                    _, W = lobpcg(op, X0, largest=True, tol=max(tol, 1e-6), maxiter=500)
        V = np.hstack([Q.toarray(), W])
    norms = np.linalg.norm(V, axis=1, keepdims=True)
    return V / np.maximum(norms, 1e-12)


def _nearest(features, ref_idx, query_idx):
    """For each query node, the position in ``ref_idx`` of its largest-inner-product node (FAISS)."""
    import faiss

    X = np.ascontiguousarray(features, dtype=np.float32)
    index = faiss.IndexFlatIP(X.shape[1])
    index.add(X[ref_idx])
    _, nn = index.search(X[query_idx], 1)
    return nn[:, 0]


def fit_kmeans(X, n_clusters, n_init, seed, sample_weight=None) -> KMeans:
    """Seeded, fitted scikit-learn k-means (``n_init`` restarts)."""
    from sklearn.exceptions import ConvergenceWarning

    km = KMeans(n_clusters=n_clusters, n_init=n_init, random_state=seed)
    # On at most a few hundred thousand points of dimension K one thread is enough, and OpenMP
    # threads busy-waiting on an oversubscribed 2-core machine made k-means ~10x slower (measured).
    with threadpool_limits(limits=1), warnings.catch_warnings():
        # "Number of distinct clusters found smaller than n_clusters" names scikit-learn's internals; the
        # callers check the final labels and say it in the library's words (check_clusters_used below)
        warnings.simplefilter("ignore", ConvergenceWarning)
        return km.fit(X, sample_weight=sample_weight)


def _kmeans(X, n_clusters, n_init, seed, sample_weight=None):
    """Seeded k-means labels (scikit-learn, ``n_init`` restarts)."""
    return fit_kmeans(X, n_clusters, n_init, seed, sample_weight).labels_.astype(np.int64)


def spectral_clustering(A, n_clusters: int, *, random_state=None, n_init: int = 10, features=None,
                        min_component_size: int | None = None, tol: float = 1e-8) -> np.ndarray:
    """Normalised spectral clustering (NJW) of a symmetric non-negative affinity, dense or sparse.

    Steps: :func:`clean_affinity` (no self-loops, no numerically-zero edges), D^{-1/2} A D^{-1/2},
    top-``n_clusters`` eigenvectors (:func:`spectral_embedding`), rows normalised, k-means with ``n_init``
    restarts. Reproducible for an integer ``random_state``. No dense n x n array is formed for sparse A.

    Disconnected graphs: components smaller than ``min_component_size`` (default
    ``max(2, n // (20 * n_clusters))``) are left out of the eigenproblem (unless the sizeable ones hold fewer
    than ``n_clusters`` nodes, when the ``n_clusters`` largest are kept) - an isolated node must not take a
    cluster from the data, which the eigenproblem would give it; their nodes take the label of their most similar clustered node by inner product of
    ``features`` (an (n, d) array aligned with A) when given, else of the largest cluster. If more than
    ``n_clusters`` large components remain they are grouped by k-means on their mean ``features``
    (weighted by size) when given, else the extra ones join the largest cluster; a warning says so.
    ``n_clusters = n`` gives every node its own cluster; when fewer than ``n_clusters`` labels end up used
    (duplicated points), :func:`check_clusters_used` warns.

    Returns int64 labels in ``[0, n_clusters)``.
    """
    if A.ndim != 2 or A.shape[0] != A.shape[1]:
        raise ValueError(f"affinity must be square, got {A.shape}")
    n = A.shape[0]
    K = int(n_clusters)
    if not 1 <= K <= n:
        raise ValueError(f"n_clusters={K} must be in [1, {n}]")
    rs = check_random_state(random_state)
    seed_eig, seed_km = (int(x) for x in rs.randint(0, 2**31 - 1, size=2))
    labels = np.zeros(n, dtype=np.int64)
    if K == 1:
        return labels
    if K == n:  # the only partition into n non-empty clusters; k-means on n points can leave some empty
        return np.arange(n, dtype=np.int64)

    A = clean_affinity(A)
    n_comp, comp = _components(A)
    sizes = np.bincount(comp, minlength=n_comp)
    min_size = max(2, n // (20 * K)) if min_component_size is None else int(min_component_size)
    by_size = np.argsort(-sizes, kind="stable")
    large = sizes >= min_size
    if sizes[large].sum() < K:  # too few nodes left to form K clusters
        large[by_size[:K]] = True

    if large.sum() > K:
        # More sizeable components than clusters: NJW's answer is arbitrary here, so group components.
        warn_user(f"affinity graph has {int(large.sum())} components of >= {min_size} nodes for {K} clusters; "
                  "grouping components", RuntimeWarning)
        big = np.flatnonzero(large)
        comp_label = np.full(n_comp, -1, dtype=np.int64)
        if features is not None:
            F = np.asarray(features, dtype=np.float64)
            cent = np.zeros((n_comp, F.shape[1]))
            np.add.at(cent, comp, F)
            cent = cent[big] / sizes[big, None]
            comp_label[big] = _kmeans(cent, K, n_init, seed_km, sample_weight=sizes[big])
        else:
            top = by_size[:K]
            comp_label[top] = np.arange(K)
            comp_label[np.setdiff1d(big, top)] = 0
        core = large[comp]
        labels[core] = comp_label[comp[core]]
    else:
        core = large[comp]
        core_idx = np.flatnonzero(core)
        if core_idx.size == n:
            A_core, comps = A, (n_comp, comp)
        else:
            A_core = A[core_idx][:, core_idx] if sp.issparse(A) else A[np.ix_(core_idx, core_idx)]
            comps = None
        emb = spectral_embedding(A_core, K, random_state=seed_eig, tol=tol, clean=False,
                                 components=comps)
        labels[core_idx] = _kmeans(emb, K, n_init, seed_km)

    out_idx = np.flatnonzero(~core)
    if out_idx.size:
        core_idx = np.flatnonzero(core)
        if features is not None:
            labels[out_idx] = labels[core_idx][_nearest(features, core_idx, out_idx)]
        else:
            labels[out_idx] = np.bincount(labels[core_idx], minlength=K).argmax()

    check_clusters_used(labels, K)
    return labels


def check_clusters_used(labels, n_clusters: int, what: str = "the points") -> int:
    """The number of distinct labels; when it is smaller than ``n_clusters`` (empty clusters: duplicated or
    nearly identical points, or more clusters than the data can separate), a warning in the library's
    words saying how many and which are empty - never silently fewer clusters than asked."""
    labels = np.asarray(labels)
    sizes = np.bincount(labels.ravel(), minlength=int(n_clusters)) if labels.size else np.zeros(int(n_clusters), int)
    return check_cluster_sizes(sizes, n_clusters, what)


def check_cluster_sizes(sizes, n_clusters: int, what: str = "the points") -> int:
    """:func:`check_clusters_used` from the cluster sizes (``np.bincount`` of the labels), for labels that are
    counted where they lie (chunks of a dask array) rather than gathered."""
    sizes = np.asarray(sizes)
    found = int(np.count_nonzero(sizes))
    if found < int(n_clusters):
        empty = np.flatnonzero(sizes == 0)
        warn_user(f"only {found} of the {n_clusters} clusters asked for hold any of {what} (cluster sizes "
                  f"{sizes.tolist()}; label{'s' if empty.size > 1 else ''} {', '.join(map(str, empty[:10]))}"
                  f"{', ...' if empty.size > 10 else ''} unused): the data does not separate into {n_clusters} "
                  "groups here - duplicated or nearly identical rows, or more clusters than points can support; "
                  "ask for fewer clusters")
    return found
