"""Formulas pinned to their definitions (float64 references, explicit sums, closed forms): each test here
failed on a small realistic bug (a wrong factor, a transposed or unsymmetrised matrix, a dropped normalisation,
a code path never reached) that the rest of the suite let through in a mutation review."""
import copy
import math
import numpy as np
import pytest
import scipy.sparse as sp
import torch

from pssc_fast import affinity as af
from pssc_fast import losses as L
from pssc_fast.ops import reference
from pssc_fast.landmark import LandmarkSpectral, anchor_weights
from pssc_fast.metrics import nmi
import pssc_fast.spectral as S
from test_affinity import threshold_reference  # the per-column loop the thresholding tests use


def affinity_reference(C, K, q, alpha, ro):
    """Algorithm 2 affinity in float64 from the definition (the r algebraically largest eigenpairs of S)."""
    Ct = np.abs(threshold_reference(C, ro))
    Sm = 0.5 * (Ct + Ct.T)
    s, U = np.linalg.eigh(Sm)
    s, U = s[::-1], U[:, ::-1]
    r = K * q + 1
    E = U[:, :r] * np.sqrt(np.maximum(s[:r], 0.0))
    E /= np.linalg.norm(E, axis=1, keepdims=True)
    G = np.maximum(E @ E.T, 0.0) ** alpha
    G /= G.max()
    return 0.5 * (G + G.T), s


@pytest.mark.parametrize("alpha", [4.0, 5.0, 2.5])
def test_exact_affinity_matches_float64_pipeline(alpha):
    rng = np.random.default_rng(11)
    n, K, q = 157, 4, 3
    y = rng.integers(0, K, n)
    C = np.where(y[:, None] == y[None, :], rng.uniform(0, 1, (n, n)), 0) + 0.05 * rng.standard_normal((n, n))
    np.fill_diagonal(C, 0)
    _, A = af.cluster_coefficients(C, K, q=q, alpha=alpha, ro=0.3, method="exact", random_state=0,
                                   return_affinity=True)
    ref, s = affinity_reference(C, K, q, alpha, 0.3)
    assert s[K * q] > s[K * q + 1] * (1 + 1e-6)  # rank-r subspace well defined
    np.testing.assert_allclose(A, ref, rtol=0, atol=1e-9)


def test_symmetrize_abs_dense_and_sparse():
    rng = np.random.default_rng(3)
    C = rng.standard_normal((37, 37)) * (rng.random((37, 37)) < 0.2)
    want = 0.5 * (np.abs(C) + np.abs(C).T)
    np.testing.assert_array_equal(af.symmetrize_abs(C), want)
    np.testing.assert_array_equal(af.symmetrize_abs(sp.csc_matrix(C)).toarray(), want)


def test_threshold_topk_path_ties_at_the_cut():
    """m > 64 and n <= 128: the top-k (argpartition + _stable_desc) path, ties straddling the cut."""
    rng = np.random.default_rng(5)
    m, n = 203, 57
    C = (rng.random((m, n)) < 0.3).astype(float) * rng.choice([-1.0, 1.0], (m, n))
    for j in range(n):
        C[rng.choice(m, 6, replace=False), j] = 5.0 * rng.choice([-1, 1])
    np.testing.assert_array_equal(af.threshold_columns(C, 0.15), threshold_reference(C, 0.15))


@pytest.mark.parametrize("sigma", [0.37, 2.9])
def test_anchor_weights_bandwidth_not_one(sigma):
    d = np.random.default_rng(0).uniform(0, 5, (9, 4))
    w = np.exp(-d / (2 * sigma ** 2)); w /= w.sum(1, keepdims=True)
    np.testing.assert_allclose(anchor_weights(d, sigma), w, rtol=1e-12)


def test_landmark_sigma_and_connected_graph():
    rng = np.random.default_rng(1)
    n, m, s, k = 173, 29, 5, 4
    rows = rng.normal(size=(n, 3)); anchors = rows[rng.choice(n, m, replace=False)]
    sq = ((rows[:, None] - anchors[None]) ** 2).sum(-1)
    nbrs = np.argsort(sq, 1)[:, :s]; d = np.take_along_axis(sq, nbrs, 1)
    lsc = LandmarkSpectral(m, k)
    lsc.fit(nbrs, d)
    assert lsc.sigma_ == pytest.approx(np.sqrt(d).mean(), rel=1e-12)
    B = np.zeros((n, m)); np.put_along_axis(B, nbrs, anchor_weights(d, lsc.sigma_), axis=1)
    Bh = B / np.sqrt(B.sum(0))
    vals = np.linalg.eigvalsh(Bh @ Bh.T)
    assert vals[-2] < 0.99  # connected: leading eigenvalues clearly below 1, so Sigma^-1 matters
    raw = Bh @ lsc.projection_
    np.testing.assert_allclose(raw.T @ raw, np.eye(k), atol=1e-9)


def test_locality_loss_value():
    g = torch.Generator().manual_seed(0)
    C, X, Xh = (torch.randn(*s, generator=g, dtype=torch.float64) for s in [(11, 11), (11, 3), (11, 3)])
    want = ((X - Xh) ** 2).sum() + 2 * 0.7 * reference.laplacian_trace(C, X, Xh)
    torch.testing.assert_close(L.locality_reconstruction_loss(C, X, Xh, backend="reference", trace_weight=0.7),
                               want, rtol=1e-12, atol=1e-12)


def test_graph_loss_against_explicit_sum_with_rows():
    g = torch.Generator().manual_seed(1)
    n, K = 13, 4
    P = torch.rand(n, K, generator=g, dtype=torch.float64).softmax(1)
    rows = torch.tensor([3, 0, 7, 12, 5])
    W = torch.rand(5, n, generator=g, dtype=torch.float64)
    want = 0.0
    for a, i in enumerate(rows.tolist()):
        for j in range(n):
            dd = float(((P[i] - P[j]) ** 2).sum())
            want += (W[a, j] * dd + (1 - W[a, j]) * max(0.0, 0.6 - math.sqrt(dd)) ** 2) / n
    assert float(L.graph_loss(P, W, margin=0.6, rows=rows)) == pytest.approx(float(want), rel=1e-5)  # 1e-12 sqrt smoothing: ~1e-6 per self-pair
    Wf = torch.rand(n, n, generator=g, dtype=torch.float64)  # not symmetric
    want = sum(float(Wf[i, j] * ((P[i] - P[j]) ** 2).sum() + (1 - Wf[i, j]) *
                     max(0.0, 0.6 - float(((P[i] - P[j]) ** 2).sum().sqrt())) ** 2) / n
               for i in range(n) for j in range(n))
    assert float(L.graph_loss(P, Wf, margin=0.6)) == pytest.approx(want, rel=1e-5)


def test_pair_weights_nonsymmetric_C_and_row_subset():
    from pssc_fast.train import _pair_weight_rows
    C = torch.randn(9, 9, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    C0 = C.clone().fill_diagonal_(0)
    Sm = 0.5 * (C0.abs() + C0.abs().T)
    want = Sm / Sm.max(1, keepdim=True).values
    torch.testing.assert_close(L.pair_weights(C0), want, rtol=1e-12, atol=0)
    rows = torch.tensor([4, 1, 7])
    torch.testing.assert_close(_pair_weight_rows(C, rows), want[rows], rtol=1e-12, atol=0)


def test_label_loss_keeps_rows_exactly_at_tau():
    z = torch.zeros(3, 2, dtype=torch.float64)  # p = (0.5, 0.5) exactly
    assert float(L.label_loss(z, tau=0.5)) == pytest.approx(3 * math.log(2), rel=1e-12)


def test_nmi_closed_form():
    y = np.array([0, 0, 0, 1, 1, 1]); p = np.array([0, 0, 1, 1, 1, 1])
    M = np.array([[2, 1], [0, 3]]) / 6.0
    py, pp = M.sum(1), M.sum(0)
    I = sum(M[i, j] * np.log(M[i, j] / (py[i] * pp[j])) for i in range(2) for j in range(2) if M[i, j] > 0)
    H = lambda v: -(v * np.log(v)).sum()
    assert nmi(y, p) == pytest.approx(I / (0.5 * (H(py) + H(pp))), rel=1e-12)


def test_clean_affinity_drops_sparse_self_loops_and_surplus_components_keep_largest():
    A = sp.block_diag([np.ones((5, 5)), np.ones((30, 30)), np.ones((10, 10)), np.ones((20, 20))]).tocsr()
    assert S.clean_affinity(A).diagonal().max() == 0.0
    V = S.spectral_embedding(A, 2, random_state=0)
    comp = np.repeat([0, 1, 2, 3], [5, 30, 10, 20])
    G = V @ V.T
    big = np.isin(comp, [1, 3])
    want = ((comp[:, None] == comp[None, :]) & big[:, None] & big[None, :]).astype(float)
    np.testing.assert_allclose(G, want, atol=1e-12)


def test_lobpcg_fallback_is_really_used(monkeypatch):
    rng = np.random.default_rng(7)
    z = rng.integers(0, 4, 360)
    W = np.triu(rng.random((360, 360)) < np.where(z[:, None] == z[None, :], 0.4, 0.02), 1) * 1.0
    A = sp.csr_matrix(W + W.T)
    def no_conv(*a, **k):
        raise S.ArpackNoConvergence("forced", np.zeros(0), np.zeros((360, 0)))
    monkeypatch.setattr(S, "eigsh", no_conv)
    V = S.spectral_embedding(A, 4, random_state=0)
    d = np.asarray(A.sum(1)).ravel(); N = A.toarray() / np.sqrt(np.outer(d, d))
    ref = np.linalg.eigh(N)[1][:, -4:]; ref /= np.linalg.norm(ref, axis=1, keepdims=True)
    R, *_ = np.linalg.lstsq(ref, V, rcond=None)
    np.testing.assert_allclose(ref @ R, V, atol=1e-4)


@pytest.mark.parametrize("backend", ["torch", "reference"])
def test_finetune_step0_terms_match_the_loss_functions(backend):
    from pssc_fast.models import ClassifierHead, FCAutoEncoder
    from pssc_fast.train import finetune, _pair_weight_rows
    torch.manual_seed(0)
    n, K, r = 23, 3, 7
    X = torch.rand(n, 6)
    model = FCAutoEncoder(6, (8,), 4)
    m0 = copy.deepcopy(model)
    w = L.LossWeights(trace=0.7, graph=0.3, label=0.2, balance=0.1, coef_l2=2.0)
    torch.manual_seed(5)
    res = finetune(model, X, K, weights=w, epochs=1, c_init=0.01, backend=backend, tau=0.4,
                   max_pair_rows=r, generator=torch.Generator().manual_seed(9), verbose=False)
    torch.manual_seed(5)
    head = ClassifierHead(4, K)
    C = torch.full((n, n), 0.01)
    with torch.no_grad():
        Z = m0.encode(X); C0 = reference.zero_diagonal(C); Zc = C0 @ Z; Xh = m0.decode(Zc)
        logits = head(Z); P = logits.softmax(1)
        rows = torch.randperm(n, generator=torch.Generator().manual_seed(9))[:r]
        want = {"reconstruction": L.reconstruction_loss(X, Xh),
                "trace": 2 * 0.7 * reference.laplacian_trace(C, X, Xh),
                "self_expression": L.self_expression_loss(Z, Zc),
                "graph": 0.3 * L.graph_loss(P, _pair_weight_rows(C, rows), rows=rows) * n / r,
                "label": 0.2 * L.label_loss(logits, tau=0.4),
                "balance": 0.1 * L.balance_loss(P)}
    got = res.history[0]
    for k, v in want.items():
        assert got[k] == pytest.approx(float(v), rel=1e-4, abs=1e-6), k


def test_surplus_components_grouped_by_mean_not_summed_features():
    sizes = [60, 6, 6, 6]
    A = sp.block_diag([np.ones((s, s)) for s in sizes]).tocsr()
    comp = np.repeat(np.arange(4), sizes)
    F = np.array([[1.0, 0.0], [0.8, 0.2], [0.0, 1.0], [0.2, 0.8]])[comp]
    with pytest.warns(RuntimeWarning, match="components"):
        labels = S.spectral_clustering(A, 2, random_state=0, features=F)
    from pssc_fast.metrics import acc
    assert acc(comp >= 2, labels) == 1.0


@pytest.mark.parametrize("backend", ["torch", "reference"])
def test_finetune_first_step_moves_C_against_the_self_expression_gradient(backend):
    from pssc_fast.models import FCAutoEncoder
    from pssc_fast.train import finetune
    torch.manual_seed(0)
    n, lr, c = 19, 1e-4, 0.01
    X = torch.rand(n, 5)
    model = FCAutoEncoder(5, (7,), 3)
    m0 = copy.deepcopy(model)
    w = L.LossWeights(reconstruction=0.0, trace=0.0, self_expression=1.0, coef_l2=0.0, graph=0.0, label=0.0, balance=0.0)
    res = finetune(model, X, 2, weights=w, epochs=1, lr=lr, c_init=c, backend=backend, verbose=False)
    C = torch.full((n, n), c, dtype=torch.float64, requires_grad=True)
    Z = m0.encode(X).detach().double()
    L.self_expression_loss(Z, reference.zero_diagonal(C) @ Z).backward()
    g = C.grad.clone().fill_diagonal_(0)
    big = g.abs() > 1e-3 * g.abs().max()
    delta = res.coef.double() - torch.full((n, n), c, dtype=torch.float64).fill_diagonal_(0)
    assert big.sum() > n  # Adam's first step: about -lr * sign(g) on every entry with a gradient
    torch.testing.assert_close(delta[big], -lr * g.sign()[big], rtol=1e-2, atol=lr * 1e-2)


@pytest.mark.parametrize("rows", [None, torch.tensor([4, 1, 7])])
def test_pair_weight_targets_are_detached_from_C(rows):
    """The pseudo-graph is a target (paper; docs/DESIGN.md section 2): no gradient may reach C through it.
    (Losing the no_grad here once moved the digits demo from ACC 0.870 to 0.797 on 2 threads.)"""
    from pssc_fast.train import _pair_weight_rows

    C = torch.randn(9, 9, dtype=torch.float64, generator=torch.Generator().manual_seed(2), requires_grad=True)
    assert not _pair_weight_rows(C, rows).requires_grad
