"""Loss terms: the eq. 3 identity and every term's gradient against float64 autograd."""
import pytest
import torch

from pssc_fast import losses as L
from pssc_fast.ops import reference

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.mark.parametrize("n,d", [(5, 3), (17, 11), (33, 2)])
def test_graph_weighted_reconstruction_equals_trace_form(n, d):
    """sum_ij S_ij ||x_i - xhat_j||^2 = Tr[(X - Xhat)^T D (X - Xhat)] + 2 Tr(X^T L Xhat), S symmetric."""
    g = torch.Generator().manual_seed(n * d)
    X = torch.randn(n, d, generator=g, dtype=torch.float64)
    Xh = torch.randn(n, d, generator=g, dtype=torch.float64)
    A = torch.rand(n, n, generator=g, dtype=torch.float64)
    S = 0.5 * (A + A.T)
    D = torch.diag(S.sum(1))
    pairwise = (S * torch.cdist(X, Xh).pow(2)).sum()
    trace_form = torch.trace((X - Xh).T @ D @ (X - Xh)) + 2 * torch.trace(X.T @ (D - S) @ Xh)
    torch.testing.assert_close(pairwise, trace_form, rtol=1e-10, atol=1e-10)
    # the library's trace on the same graph: S = (|C0| + |C0|^T) / 2 + I with L_n = I - D^-1/2 S D^-1/2
    C = A.clone().fill_diagonal_(0)
    Sg = 0.5 * (C.abs() + C.abs().T) + torch.eye(n, dtype=torch.float64)
    a = Sg.sum(1).rsqrt()
    Ln = torch.eye(n, dtype=torch.float64) - a[:, None] * Sg * a[None, :]
    torch.testing.assert_close(reference.laplacian_trace(C, X, Xh), torch.trace(X.T @ Ln @ Xh), rtol=1e-12, atol=1e-12)


def test_laplacian_trace_matches_normalized_laplacian_definition():
    g = torch.Generator().manual_seed(3)
    n, d = 13, 4
    C = torch.randn(n, n, generator=g, dtype=torch.float64)
    X = torch.randn(n, d, generator=g, dtype=torch.float64)
    Xh = torch.randn(n, d, generator=g, dtype=torch.float64)
    C0 = C.clone().fill_diagonal_(0)
    S = 0.5 * (C0.abs() + C0.abs().T) + torch.eye(n, dtype=torch.float64)
    a = S.sum(1).rsqrt()
    Ln = torch.eye(n, dtype=torch.float64) - a[:, None] * S * a[None, :]
    torch.testing.assert_close(reference.laplacian_trace(C, X, Xh), torch.trace(X.T @ Ln @ Xh), rtol=1e-12, atol=1e-12)


def _inputs(seed, n=9, k=4, d=6):
    g = torch.Generator().manual_seed(seed)
    mk = lambda *s: torch.randn(*s, generator=g, dtype=torch.float64, requires_grad=True)  # noqa: E731
    return mk(n, d), mk(n, d), mk(n, k)


def test_reconstruction_and_self_expression_gradients():
    X, Xh, _ = _inputs(0)
    assert torch.autograd.gradcheck(L.reconstruction_loss, (X, Xh))
    Z, Zc, _ = _inputs(1)
    assert torch.autograd.gradcheck(L.self_expression_loss, (Z, Zc))


def test_locality_reconstruction_gradient_in_C_X_Xhat():
    g = torch.Generator().manual_seed(2)
    n, d = 7, 5
    C = torch.randn(n, n, generator=g, dtype=torch.float64, requires_grad=True)
    X = torch.randn(n, d, generator=g, dtype=torch.float64, requires_grad=True)
    Xh = torch.randn(n, d, generator=g, dtype=torch.float64, requires_grad=True)
    fn = lambda C, X, Xh: L.locality_reconstruction_loss(C, X, Xh, backend="reference")  # noqa: E731
    assert torch.autograd.gradcheck(fn, (C, X, Xh))


def test_label_loss_gradient_and_threshold():
    _, _, logits = _inputs(3)
    with torch.no_grad():
        logits.mul_(4)  # some rows confident, some not
    conf = logits.softmax(1).max(1).values
    assert (conf >= 0.8).any() and (conf < 0.8).any()
    assert torch.autograd.gradcheck(lambda z: L.label_loss(z, tau=0.8), (logits,))
    # rows below the threshold contribute nothing
    value = L.label_loss(logits, tau=0.8)
    keep = conf >= 0.8
    expected = torch.nn.functional.cross_entropy(logits[keep], logits[keep].argmax(1), reduction="sum")
    torch.testing.assert_close(value, expected)
    # nothing confident -> exactly zero, still differentiable
    flat = torch.zeros(4, 3, dtype=torch.float64, requires_grad=True)
    out = L.label_loss(flat)
    out.backward()
    assert out.item() == 0.0 and torch.all(flat.grad == 0)


def test_graph_loss_gradient_and_pull_push():
    _, _, logits = _inputs(4)
    probs = logits.softmax(1).detach().requires_grad_(True)
    W = torch.rand(probs.shape[0], probs.shape[0], dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    assert torch.autograd.gradcheck(lambda p: L.graph_loss(p, W, margin=1.0), (probs,))
    # identical predictions cost nothing when every pair is a full "pull"
    same = torch.full((5, 3), 1 / 3, dtype=torch.float64)
    assert L.graph_loss(same, torch.ones(5, 5, dtype=torch.float64)).item() == pytest.approx(0.0, abs=1e-10)
    # ... and the full margin when every pair should be pushed apart
    assert L.graph_loss(same, torch.zeros(5, 5, dtype=torch.float64)).item() == pytest.approx(5.0, rel=1e-4)


def test_balance_loss_gradient_and_values():
    _, _, logits = _inputs(6)
    assert torch.autograd.gradcheck(lambda z: L.balance_loss(z.softmax(1)), (logits,))
    uniform = torch.eye(4, dtype=torch.float64)
    assert L.balance_loss(uniform).item() == pytest.approx(0.0, abs=1e-12)
    collapsed = torch.tensor([[1.0, 0.0]] * 6, dtype=torch.float64)
    assert L.balance_loss(collapsed).item() == pytest.approx(6 * torch.log(torch.tensor(2.0)).item(), rel=1e-6)


def test_pair_weights_are_normalised_and_detached():
    C = torch.randn(8, 8, dtype=torch.float64, requires_grad=True)
    W = L.pair_weights(C.detach().clone().fill_diagonal_(0))
    assert not W.requires_grad
    assert torch.isfinite(W).all() and (W >= 0).all() and (W <= 1).all()
    assert torch.all(W.diagonal() == 0)
    torch.testing.assert_close(W.max(1).values, torch.ones(8, dtype=torch.float64))


@pytest.mark.parametrize("block_rows", [None, 5])  # one row block, or several with a partial last one
@pytest.mark.parametrize("n,m", [(37, 5), (130, 11), (23, 40)])  # narrow codes (push-through) and wide ones
def test_ridge_start_matches_the_float64_closed_form(n, m, block_rows, monkeypatch):
    """C = G (G + r I)^-1, G = Z Z^T, diagonal zeroed: the objective's minimiser, checked in float64 by its
    normal equations as well as against the formula; stored in float32 (relative error 1e-6)."""
    from pssc_fast import train
    from pssc_fast.train import ridge_coefficients

    if block_rows:
        monkeypatch.setattr(train, "RIDGE_BLOCK_ELEMENTS", block_rows * n)

    g = torch.Generator().manual_seed(n + m)
    Z = torch.randn(n, m, generator=g, dtype=torch.float64) + 0.3
    gamma1, lam = 2.0, 30.0
    C = ridge_coefficients(Z.float(), gamma1, lam)
    assert C.dtype == torch.float32 and C.shape == (n, n) and torch.all(C.diagonal() == 0)
    Zf = Z.float().double()  # what the function saw
    G = Zf @ Zf.T
    want = torch.linalg.solve(G + (lam / gamma1) * torch.eye(n, dtype=torch.float64), G).T
    # the minimiser satisfies C (G + r I) = G before its diagonal is zeroed
    assert torch.allclose(want @ (G + (lam / gamma1) * torch.eye(n, dtype=torch.float64)), G, atol=1e-8 * float(G.abs().max()))
    want.fill_diagonal_(0)
    assert float((C.double() - want).abs().max() / want.abs().max()) < 1e-6


@pytest.mark.parametrize("backend", ["torch", "reference"])
def test_finetune_counts_coef_l2_on_c0_as_a_loss_term(backend):
    """||C0||^2 (diagonal excluded) is part of the fine-tuning loss, recorded per step, on both paths."""
    from pssc_fast.losses import LossWeights
    from pssc_fast.models import FCAutoEncoder
    from pssc_fast.train import finetune

    torch.manual_seed(0)
    n, lam, c = 23, 7.0, 0.01
    result = finetune(FCAutoEncoder(6, (8,), 3), torch.rand(n, 6), 2, weights=LossWeights(coef_l2=lam), epochs=2,
                      c_init=c, backend=backend, verbose=False)
    first = result.history[0]["coef_l2"]
    assert first == pytest.approx(lam * n * (n - 1) * c * c, rel=1e-5)
    assert result.history[1]["coef_l2"] != first  # C moved, and the term with it
