"""Tests for pssc_fast.affinity and pssc_fast.spectral (Algorithm 2 at scale)."""
from __future__ import annotations

import zlib

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.linalg import subspace_angles
from sklearn.metrics import adjusted_rand_score
from threadpoolctl import threadpool_limits

from pssc_fast import affinity as af
from pssc_fast.metrics import acc
from pssc_fast.spectral import spectral_clustering, spectral_embedding


@pytest.fixture(autouse=True)
def _single_thread_blas():
    # The matrices here are small; threaded BLAS on a busy shared 2-core machine was up to 50x slower.
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def threshold_reference(C, ro):
    """Straightforward per-column thresholding: sort |column| (stable), keep while prior mass <= ro*mass.

    Where the prior mass equals ro * mass up to rounding, the kept set depends on summation order;
    the tests use random reals (no such coincidences) or small integers (exact sums).
    """
    C = np.asarray(C, dtype=np.float64)
    out = np.zeros_like(C)
    if ro >= 1:
        return C.copy()
    for j in range(C.shape[1]):
        a = np.abs(C[:, j])
        order = np.argsort(-a, kind="stable")
        s = a[order]
        before = np.cumsum(s) - s
        keep = order[before <= ro * a.sum()]
        out[keep, j] = C[keep, j]
    return out


def block_coefficients(n_per=50, k=10, noise=0.05, seed=0):
    """Noisy block-diagonal C (zero diagonal) with rows shuffled; returns (C float32, labels)."""
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.repeat(np.arange(k), n_per))
    same = y[:, None] == y[None, :]
    C = np.where(same, rng.uniform(0.0, 1.0, same.shape), 0.0)
    C += noise * rng.standard_normal(C.shape)
    np.fill_diagonal(C, 0.0)
    return C.astype(np.float32), y


# ---------------------------------------------------------------- thresholding


@pytest.mark.parametrize("shape,ro,kind,dtype", [
    ((600, 300), 0.12, "normal", np.float32),      # group-max filter path (m >= 4g, n > pilot)
    ((600, 300), 0.5, "ties", np.float64),         # many exact ties straddling the cut
    ((600, 300), 0.25, "ties", np.float32),
    ((1100, 200), 0.12, "class_ordered", np.float32),  # large entries contiguous in each column
    ((700, 150), 0.9, "heavy", np.float64),        # Cauchy entries, mostly zeros
    ((300, 260), 0.3, "constant", np.float32),     # all ties: falls back to full sorts
    ((50, 40), 0.12, "normal", np.float64),        # small: top-k path only
    ((257, 1), 0.0, "normal", np.float32),         # ro = 0 keeps the single largest entry
])
def test_threshold_matches_reference(shape, ro, kind, dtype):
    rng = np.random.default_rng(zlib.crc32(repr((shape, kind)).encode()))  # hash() of a str varies per process
    m, n = shape
    if kind == "ties":
        # Small integers: ties everywhere, and every sum is exact, so the kept set does not depend on
        # summation order even where the prior mass equals ro * mass exactly.
        C = rng.integers(-6, 7, shape)
    elif kind == "class_ordered":
        C = 0.01 * rng.standard_normal(shape)
        C[: m // 3] += rng.uniform(0.5, 1.0, (m // 3, n))
    elif kind == "heavy":
        C = rng.standard_cauchy(shape) * (rng.random(shape) < 0.3)
    elif kind == "constant":
        C = np.full(shape, 0.25)
    else:
        C = rng.standard_normal(shape)
    C = C.astype(dtype)
    C[:, : min(3, n - 1)] = 0.0 if n > 3 else C[:, : min(3, n - 1)]  # a few all-zero columns
    expected = threshold_reference(C, ro)
    dense = af.threshold_columns(C, ro)
    assert dense.dtype == np.float64 and dense.shape == shape
    np.testing.assert_array_equal(dense, expected)
    sparse = af.threshold_columns(C, ro, sparse=True)
    assert sp.issparse(sparse) and sparse.dtype == C.dtype
    np.testing.assert_array_equal(sparse.toarray().astype(np.float64), expected)


@settings(max_examples=40, deadline=None)
@given(m=st.integers(1, 40), n=st.integers(1, 12), ro=st.floats(0.0, 1.2),
       seed=st.integers(0, 2**31 - 1), integer=st.booleans())
def test_threshold_matches_reference_small(m, n, ro, seed, integer):
    C = np.random.default_rng(seed).standard_normal((m, n))
    if integer:
        C = np.round(3 * C)  # ties, including zeros, with exact sums
    np.testing.assert_array_equal(af.threshold_columns(C, ro), threshold_reference(C, ro))


def test_threshold_accepts_torch_and_keeps_all_when_ro_ge_1():
    C = torch.randn(80, 70)
    np.testing.assert_array_equal(af.threshold_columns(C, 0.2), threshold_reference(C.numpy(), 0.2))
    np.testing.assert_array_equal(af.threshold_columns(C, 1.0), C.numpy().astype(np.float64))
    assert af.threshold_columns(C.numpy(), 1.5, sparse=True).nnz == np.count_nonzero(C.numpy())


# ---------------------------------------------------------------- SVD


@pytest.mark.parametrize("sparse_input", [False, True])
@pytest.mark.parametrize("n, r", [(240, 13), (37, 25)])  # Lanczos, and LAPACK when r is most of n
def test_top_eigenvectors_match_float64_eigh(sparse_input, n, r):
    rng = np.random.default_rng(1)
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    # symmetric, a gap after the r-th largest eigenvalue, and negative eigenvalues larger in magnitude
    # than the top ones: an SVD would rank those first, the algebraic order must not
    lam = np.concatenate([np.linspace(10.0, 5.0, r), np.linspace(0.5, 0.0, n - r - 3), [-20.0, -30.0, -40.0]])
    S = (Q * lam) @ Q.T
    S = 0.5 * (S + S.T)
    U, top = af.top_eigenvectors(sp.csr_matrix(S) if sparse_input else S, r, random_state=0)
    assert U.shape == (n, r)
    np.testing.assert_allclose(top, lam[:r], rtol=1e-10)
    assert np.max(subspace_angles(U, Q[:, :r])) < 1e-8


# ---------------------------------------------------------------- affinity and spectral


def test_knn_affinity_entries_equal_dense_affinity():
    rng = np.random.default_rng(2)
    E = af.embed_rows(rng.standard_normal((300, 9)), np.ones(9))
    A_dense = af.dense_affinity(E, 3.0)
    A = af.knn_affinity(E, 3.0, n_neighbors=12)
    assert sp.isspmatrix_csr(A) and A.shape == (300, 300)
    assert abs(A - A.T).max() == 0.0
    assert A.diagonal().max() == 0.0
    rows, cols = A.nonzero()
    np.testing.assert_allclose(A[rows, cols].A1, A_dense[rows, cols], rtol=1e-5, atol=1e-12)
    # Each row holds at least its own 12 largest off-diagonal entries of the dense affinity.
    D = A_dense.copy()
    np.fill_diagonal(D, -1.0)
    top = np.argsort(-D, axis=1)[:, :12]
    held = np.asarray(A[np.repeat(np.arange(300), 12), top.ravel()]).ravel()
    assert np.mean(held > 0) > 0.99  # ties in float32 search may swap a few equal neighbours


def test_spectral_clustering_disconnected_graph_with_isolated_nodes():
    rng = np.random.default_rng(3)
    k, n_per = 4, 40
    blocks = [sp.random(n_per, n_per, density=0.3, random_state=i) for i in range(k)]
    A = sp.block_diag(blocks + [sp.csr_matrix((3, 3))]).tocsr()  # 3 isolated nodes at the end
    A = A + A.T
    y = np.concatenate([np.repeat(np.arange(k), n_per), [0, 1, 2]])
    features = np.zeros((A.shape[0], k))
    features[np.arange(A.shape[0]), y] = 1.0
    features += 0.01 * rng.standard_normal(features.shape)
    labels = spectral_clustering(A, k, random_state=0, features=features)
    assert acc(y, labels) == 1.0
    # Without features the isolated nodes join one cluster; the blocks are still exact.
    labels = spectral_clustering(A, k, random_state=0)
    assert acc(y[: k * n_per], labels[: k * n_per]) == 1.0


def test_spectral_embedding_spans_component_indicators():
    A = sp.block_diag([np.ones((30, 30)), np.ones((20, 20)), np.ones((25, 25))]).tocsr()
    V = spectral_embedding(A, 3, random_state=0)
    # Rows of a component coincide; different components are orthogonal.
    G = V @ V.T
    comp = np.repeat([0, 1, 2], [30, 20, 25])
    np.testing.assert_allclose(G, (comp[:, None] == comp[None, :]).astype(float), atol=1e-10)


@pytest.mark.parametrize("n", [120, 360])  # dense eigh branch / deflated ARPACK branch
def test_spectral_embedding_matches_dense_eigendecomposition(n):
    rng = np.random.default_rng(6)
    half = n // 2
    # Two components, each a random graph with a planted 3-way structure, so that eigenvalues
    # other than the two 1's matter too.
    blocks = []
    for size in (half, n - half):
        z = rng.integers(0, 3, size)
        P = np.where(z[:, None] == z[None, :], 0.5, 0.05)
        W = np.triu(rng.random((size, size)) < P, 1) * rng.uniform(0.5, 1.0, (size, size))
        blocks.append(W + W.T)
    A = sp.block_diag(blocks).tocsr()
    k = 6  # 1, 1 and two eigenvalues ~0.75 per component, then a gap
    V = spectral_embedding(A, k, random_state=0)
    d = np.asarray(A.sum(axis=1)).ravel()
    N = A.toarray() / np.sqrt(np.outer(d, d))
    vals, vecs = np.linalg.eigh(N)
    assert vals[-k - 1] < vals[-k] - 0.1  # a gap, so the top-k subspace is well defined
    ref = vecs[:, -k:]
    ref /= np.linalg.norm(ref, axis=1, keepdims=True)
    # Row normalisation commutes with a rotation of the basis: V = ref @ R for an orthogonal R.
    R, *_ = np.linalg.lstsq(ref, V, rcond=None)
    np.testing.assert_allclose(ref @ R, V, atol=1e-9)
    np.testing.assert_allclose(R.T @ R, np.eye(k), atol=1e-9)


def test_spectral_clustering_groups_surplus_components_by_features():
    # Six separate cliques for three clusters: cliques 2j and 2j+1 have nearby features.
    sizes = [30, 25, 30, 25, 30, 25]
    A = sp.block_diag([np.ones((s, s)) for s in sizes]).tocsr()
    comp = np.repeat(np.arange(6), sizes)
    y = comp // 2
    centers = np.eye(3)[y] + 0.05 * np.eye(6)[comp][:, :3]
    with pytest.warns(RuntimeWarning, match="components") as record:
        labels = spectral_clustering(A, 3, random_state=0, features=centers)
    assert acc(y, labels) == 1.0
    assert [w.filename for w in record] == [__file__]  # the caller's line, not the library's


@pytest.mark.parametrize("method", ["exact", "dense", "sparse", "auto"])
def test_cluster_coefficients_recovers_blocks(method):
    C, y = block_coefficients()
    labels = af.cluster_coefficients(C, 10, q=4, alpha=5.0, ro=0.12, method=method, random_state=0)
    assert labels.dtype == np.int64 and labels.shape == y.shape
    assert set(np.unique(labels)) <= set(range(10))
    assert acc(y, labels) == 1.0


def test_cluster_coefficients_sparse_with_torch_input_and_returned_affinity():
    C, y = block_coefficients(n_per=60, seed=4)
    labels, A = af.cluster_coefficients(torch.from_numpy(C), 10, method="sparse", random_state=1,
                                        return_affinity=True)
    assert acc(y, labels) == 1.0
    assert sp.isspmatrix_csr(A) and A.shape == (600, 600) and abs(A - A.T).max() == 0.0
    labels_d, A_d = af.cluster_coefficients(C, 10, method="dense", random_state=1,
                                            return_affinity=True)
    assert isinstance(A_d, np.ndarray) and A_d.shape == (600, 600)
    np.testing.assert_allclose(A_d, A_d.T)
    assert acc(labels, labels_d) == 1.0


@pytest.mark.parametrize("method", ["dense", "sparse"])
def test_cluster_coefficients_is_deterministic(method):
    C, _ = block_coefficients(n_per=30, noise=0.3, seed=5)  # noisy enough that labels are not trivial
    a = af.cluster_coefficients(C, 10, method=method, random_state=7)
    b = af.cluster_coefficients(C, 10, method=method, random_state=7)
    np.testing.assert_array_equal(a, b)


def test_cluster_coefficients_timings_and_validation():
    C, _ = block_coefficients(n_per=20, k=5)
    t = {}
    af.cluster_coefficients(C, 5, method="sparse", random_state=0, timings=t)
    assert set(t) == {"threshold", "svd", "affinity", "spectral"} and min(t.values()) >= 0
    with pytest.raises(ValueError):
        af.cluster_coefficients(C, 5, method="nope")
    with pytest.raises(ValueError):
        af.cluster_coefficients(C[:, :50], 5)


def _blocks(sizes, eps):
    n = sum(sizes)
    A = np.full((n, n), eps)
    start = 0
    for k in sizes:
        A[start:start + k, start:start + k] = 1.0
        start += k
    return A


@pytest.mark.parametrize("isolated", [1, 2])
def test_isolated_nodes_do_not_take_clusters_from_the_data(isolated):
    # three weakly linked blocks in one component, plus isolated nodes: the blocks are the clusters
    A = np.zeros((60 + isolated, 60 + isolated))
    A[:60, :60] = _blocks([20, 20, 20], 1e-3)
    labels = spectral_clustering(A, 3, random_state=0)
    truth = np.repeat(np.arange(3), 20)
    assert acc(truth, labels[:60]) == 1.0
    assert set(labels[60:].tolist()) <= {0, 1, 2}


def test_a_small_separate_component_joins_a_cluster():
    # n = 1000: a 10-node component is below the default minimum size (1000 // 60 = 16)
    A = np.zeros((1000, 1000))
    A[:990, :990] = _blocks([330, 330, 330], 1e-3)
    A[990:, 990:] = 1.0
    labels = spectral_clustering(A, 3, random_state=0)
    assert acc(np.repeat(np.arange(3), 330), labels[:990]) == 1.0


def test_cluster_coefficients_ignores_the_diagonal_and_checks_its_parameters():
    rng = np.random.default_rng(0)
    C = np.zeros((60, 60))
    for b in range(3):
        C[20 * b:20 * b + 20, 20 * b:20 * b + 20] = rng.random((20, 20))
    np.fill_diagonal(C, 0.0)
    C_diag = C + 5.0 * np.eye(60)
    kw = dict(q=2, alpha=2.0, ro=0.5, random_state=0)
    np.testing.assert_array_equal(af.cluster_coefficients(C_diag, 3, **kw), af.cluster_coefficients(C, 3, **kw))
    assert np.all(np.diagonal(C_diag) == 5.0)  # the caller's array is not modified
    for bad, word in ((dict(ro=-0.1), "ro"), (dict(ro=float("nan")), "ro"), (dict(alpha=0.0), "alpha")):
        with pytest.raises(ValueError, match=word):
            af.cluster_coefficients(C, 3, **{**kw, **bad})


@pytest.mark.filterwarnings("error::sklearn.exceptions.ConvergenceWarning")  # scikit-learn's wording must not leak
@pytest.mark.parametrize("method", ["dense", "sparse", "exact"])
def test_an_all_zero_c_gives_labels_on_every_path(method):  # every point is the same: one cluster, said so
    with pytest.warns(UserWarning, match=r"only 1 of the 2 clusters asked for"):
        labels = af.cluster_coefficients(np.zeros((30, 30)), 2, q=2, method=method, random_state=0)
    assert labels.shape == (30,) and set(labels.tolist()) <= {0, 1}


def test_top_eigenvectors_fall_back_to_lapack_when_arpack_fails(monkeypatch):
    # ARPACK gives up on some near-degenerate S (a C barely moved from a tiny start); the dense solver takes over
    from scipy.sparse import linalg as sla

    def failing(*args, **kwargs):
        raise sla.ArpackError(3)

    monkeypatch.setattr(sla, "eigsh", failing)
    n, r = 203, 11
    rng = np.random.default_rng(4)
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    lam = np.concatenate([np.linspace(9.0, 4.0, r), np.linspace(0.5, 0.0, n - r)])
    S = 0.5 * ((Q * lam) @ Q.T + ((Q * lam) @ Q.T).T)
    U, top = af.top_eigenvectors(sp.csr_matrix(S), r, random_state=0)
    np.testing.assert_allclose(top, lam[:r], rtol=1e-10)
    assert np.max(subspace_angles(U, Q[:, :r])) < 1e-8
    monkeypatch.setattr(af, "EIGH_FALLBACK_MAX_N", n - 1)  # too large for a dense copy: a named error
    with pytest.raises(RuntimeError, match="ARPACK"):
        af.top_eigenvectors(S, r, random_state=0)


def test_consensus_of_follows_the_majority_of_partitions():
    truth = np.repeat([0, 1, 2], 30)
    wrong = truth.copy()
    wrong[truth == 1] = 0            # blocks 0 and 1 joined ...
    wrong[60:75] = 1                 # ... and block 2 split
    relabelled = (truth + 1) % 3     # the same partition under other names
    labels = af.consensus_of([truth, relabelled, truth, wrong, wrong], 3, random_state=0)
    assert adjusted_rand_score(truth, labels) == 1.0
    labels = af.consensus_of([wrong, wrong, wrong, truth, relabelled], 3, random_state=0)
    assert adjusted_rand_score(wrong, labels) == 1.0
    assert labels.dtype == np.int64 and labels.shape == (90,)


def test_consensus_labels_on_block_coefficients():
    # three blocks of unequal size (not multiples of anything), weak noise between them
    rng = np.random.default_rng(5)
    sizes = (23, 31, 17)
    truth = np.repeat(np.arange(3), sizes)
    C = np.where(truth[:, None] == truth[None, :], rng.uniform(0.5, 1.0, (71, 71)), rng.uniform(0.0, 0.05, (71, 71)))
    np.fill_diagonal(C, 0.0)
    labels = af.consensus_labels(C, 3, q=2, random_state=1)
    assert adjusted_rand_score(truth, labels) == 1.0
    # the labels at ro itself, when given, are those a plain call computes: the same consensus
    given = af.cluster_coefficients(C, 3, q=2, random_state=1)
    np.testing.assert_array_equal(af.consensus_labels(C, 3, q=2, random_state=1, given=given), labels)
    assert len(af.CONSENSUS_FACTORS) > 1 and 1.0 in af.CONSENSUS_FACTORS
    # the partitions it joins: one per threshold, the one at ro itself a plain call's
    parts = af.threshold_partitions(C, 3, q=2, random_state=1)
    assert len(parts) == len(af.CONSENSUS_FACTORS)
    np.testing.assert_array_equal(parts[af.CONSENSUS_FACTORS.index(1.0)], given)


def test_consensus_labels_joins_other_representations_partitions():
    # a second C of the same points (another representation) whose threshold partitions join the first's
    rng = np.random.default_rng(7)
    truth = np.repeat(np.arange(3), (23, 31, 17))
    same = truth[:, None] == truth[None, :]
    C1 = np.where(same, rng.uniform(0.5, 1.0, (71, 71)), rng.uniform(0.0, 0.05, (71, 71)))
    C2 = np.where(same | (truth[:, None] + truth[None, :] == 1), rng.uniform(0.5, 1.0, (71, 71)), 0.01)  # 0, 1 joined
    for C in (C1, C2):
        np.fill_diagonal(C, 0.0)
    both = af.threshold_partitions(C1, 3, q=2, random_state=1) + af.threshold_partitions(C2, 3, q=2, random_state=1)
    assert len(both) == 2 * len(af.CONSENSUS_FACTORS)
    expected = af.consensus_of(both, 3, random_state=af._consensus_seed(1))
    labels = af.consensus_labels(C1, 3, q=2, random_state=1, joined=[(C2, None)])
    np.testing.assert_array_equal(labels, expected)
    given2 = af.cluster_coefficients(C2, 3, q=2, random_state=1)  # its labels at ro, when given: the same consensus
    np.testing.assert_array_equal(af.consensus_labels(C1, 3, q=2, random_state=1, joined=[(C2, given2)]), labels)
    # nothing joined: the plain consensus
    np.testing.assert_array_equal(af.consensus_labels(C1, 3, q=2, random_state=1, joined=()),
                                  af.consensus_labels(C1, 3, q=2, random_state=1))


def test_summed_coefficients_scales_each_column_to_unit_mass_before_adding():
    rng = np.random.default_rng(0)
    A, B = rng.standard_normal((37, 37)), rng.standard_normal((37, 37)).astype(np.float32)
    A[:, 5] = 0.0  # a zero column stays zero instead of dividing by zero
    expected = np.zeros((37, 37))
    for M in (A.astype(np.float64), B.astype(np.float64)):
        mass = np.abs(M).sum(axis=0)
        expected += np.divide(M, mass, out=np.zeros_like(M), where=mass > 0)
    got = af.summed_coefficients(A, B)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-12)  # B enters as float32
    # neither representation outweighs the other by its scale: scaling one changes nothing
    np.testing.assert_allclose(af.summed_coefficients(1e3 * A, B), got, rtol=1e-10, atol=1e-12)


def _block_coefficients(sizes, seed=0, noise=0.02):
    """Block coefficients of clusters of ``sizes`` (a block's columns express its own rows) and their labels."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(len(sizes)), sizes)
    C = (y[:, None] == y[None, :]) * rng.uniform(0.5, 1.0, (y.size, y.size)) + noise * rng.random((y.size, y.size))
    np.fill_diagonal(C, 0.0)
    return C, y


def _merged_and_split(sizes, seed=0, noise=0.02):
    """:func:`_block_coefficients`, and labels that hold clusters 0 and 1 in one and cluster 2 split in halves: the
    error :func:`rebalance_labels` repairs."""
    C, y = _block_coefficients(sizes, seed, noise)
    wrong = y.copy()
    wrong[y == 1] = 0
    two = np.flatnonzero(y == 2)
    wrong[two[: two.size // 2]] = 1
    return C, y, wrong


@pytest.mark.parametrize("sizes", [(23, 23, 23, 23, 23, 23), (19, 21, 20, 22, 18, 21, 20)])
def test_rebalance_repairs_a_merged_pair_and_a_split_cluster(sizes):
    C, y, wrong = _merged_and_split(sizes)
    K = len(sizes)
    labels, A = af.cluster_coefficients(C, K, q=2, random_state=0, return_affinity=True)
    assert acc(y, labels) == 1.0  # the blocks themselves are found ...
    assert acc(y, wrong) < 0.9  # ... and the error costs about one cluster
    repaired = af.rebalance_labels(C, wrong, K, A, q=2, random_state=0)
    assert repaired.dtype == np.int64 and acc(y, repaired) == 1.0


def test_rebalance_leaves_uneven_and_even_partitions_alone():
    # uneven clusters (the largest 8 times the smallest): a move would not leave them even, so nothing moves
    C, y, _ = _merged_and_split((100, 12, 14, 60, 30, 45))
    labels, A = af.cluster_coefficients(C, 6, q=2, random_state=0, return_affinity=True)
    np.testing.assert_array_equal(af.rebalance_labels(C, y, 6, A, q=2, random_state=0), y)
    # the same error as above, but repaired sizes would stay uneven (CV > REBALANCE_MAX_CV): left alone
    C, y, wrong = _merged_and_split((23, 23, 23, 60, 10, 23))
    A = af.cluster_coefficients(C, 6, q=2, random_state=0, return_affinity=True)[1]
    np.testing.assert_array_equal(af.rebalance_labels(C, wrong, 6, A, q=2, random_state=0), wrong)
    # even labels: nothing to do
    C, y, _ = _merged_and_split((23,) * 5)
    A = af.cluster_coefficients(C, 5, q=2, random_state=0, return_affinity=True)[1]
    np.testing.assert_array_equal(af.rebalance_labels(C, y, 5, A, q=2, random_state=0), y)


def test_rebalance_repairs_many_merges_when_most_clusters_are_of_one_size():
    # twelve classes of 11: two clusters hold two classes each and two classes are split in halves; the other eight
    # clusters hold n / K rows, so the sizes say the classes are of one size and all four errors are undone at once
    C, y = _block_coefficients((11,) * 12)
    wrong = y.copy()
    wrong[y == 1], wrong[y == 3] = 0, 2
    for cls, freed in ((4, 1), (5, 3)):
        rows = np.flatnonzero(y == cls)
        wrong[rows[:5]] = freed
    A = af.cluster_coefficients(C, 12, q=2, random_state=0, return_affinity=True)[1]
    assert acc(y, wrong) < 0.85
    repaired = af.rebalance_labels(C, wrong, 12, A, q=2, random_state=0)
    assert repaired.dtype == np.int64 and acc(y, repaired) == 1.0
    # the one-pair move alone (the gate on n / K switched off) does not get there
    one_pair = af.rebalance_labels(C, wrong, 12, A, q=2, random_state=0, even_share=np.inf)
    assert acc(y, one_pair) < 1.0


def test_rebalance_leaves_uneven_classes_to_the_one_pair_move():
    # classes of many sizes, found exactly: few clusters hold n / K rows, so the repair of many (which would split the
    # largest classes and merge small ones) is not run, and the one-pair move's gate keeps the labels
    C, y = _block_coefficients((40, 40, 20, 20, 10, 10, 30, 30, 15, 15, 25, 25))
    A = af.cluster_coefficients(C, 12, q=2, random_state=0, return_affinity=True)[1]
    assert af.share_at_mean_size(y, 12) < af.REBALANCE_EVEN_SHARE
    # the repair of many alone (one-pair move never kept, no gate on n / K) would move them
    assert acc(y, af.rebalance_labels(C, y, 12, A, q=2, random_state=0, max_cv=-1.0, even_share=0.0)) < 1.0
    np.testing.assert_array_equal(af.rebalance_labels(C, y, 12, A, q=2, random_state=0), y)


def test_rebalance_is_the_estimators_last_step(monkeypatch):
    from pssc_fast import PSSC

    calls = []
    plain = af.rebalance_labels

    def spy(C, labels, n_clusters, A, **kw):
        calls.append(np.asarray(labels).copy())
        return plain(C, labels, n_clusters, A, **kw)

    monkeypatch.setattr(af, "rebalance_labels", spy)
    X = np.random.default_rng(0).normal(size=(60, 5)) + np.repeat(np.eye(5)[:3] * 8, 20, axis=0)
    on = PSSC(3, pretrain_epochs=5, epochs=5, random_state=0).fit(X)
    assert len(calls) == 1 and on.rebalanced_ == bool(np.any(calls[0] != on.labels_))
    off = PSSC(3, pretrain_epochs=5, epochs=5, random_state=0, rebalance=False).fit(X)
    assert len(calls) == 1 and off.rebalanced_ is False
