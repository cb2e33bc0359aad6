"""Every backend of the fused n x n operators against the float64 autograd reference.

Oracle: ``pssc_fast.ops.reference`` evaluated in float64 on CPU and differentiated by autograd.
Error measure: the larger of the relative error in the Frobenius norm and the largest entry-wise error
relative to the largest entry (so one wrong entry of an n x n gradient is not diluted by n^2 right ones).
Tolerances: 1e-10 for float64 (observed: 1e-14); 5e-5 for float32 at torch's default "highest" matmul
precision (observed: 4e-6 on the trace; C ~ 1e-6 included, see the small-C tests);
2e-2 when float32 products may use TF32 (torch's "high"/"medium" precision, which precision="auto", the
default, follows; tests/test_precision.py checks each precision explicitly).

Shapes include n = 1 and 2 and sizes that are not multiples of any tile (16 under the
interpreter, 64/32 compiled) or of the torch backend's row blocks. C has exact zeros off the
diagonal (where |.| has the subgradient 0, as in torch) and a non-zero diagonal (which must get
no gradient). Without CUDA the Triton backend runs under TRITON_INTERPRET=1 (tests/conftest.py);
with CUDA every backend runs on CUDA tensors.
"""
from __future__ import annotations


import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from pssc_fast import ops
from pssc_fast.ops import chunked, reference
from pssc_fast.ops.autograd import GraphStep

DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")

try:
    import triton  # noqa: F401

    HAVE_TRITON = True
except Exception:  # pragma: no cover - depends on the machine
    HAVE_TRITON = False

needs_triton = pytest.mark.skipif(not HAVE_TRITON, reason="triton cannot be imported")
TRITON = pytest.param("triton", marks=needs_triton)
BACKENDS = ["reference", "torch", TRITON]
FUSED_BACKENDS = ["torch", TRITON]
FULL_FP32 = torch.get_float32_matmul_precision() == "highest"
TOL = {torch.float64: 1e-10, torch.float32: 5e-5 if FULL_FP32 else 2e-2}
# Compiled tiles are 64 (float32) / 32 (float64) wide, 16 under the interpreter: on CUDA one size
# spans several float32 tiles, so the fused backward's mirrored tiles are exercised there too.
ON_CUDA = DEVICE.type == "cuda"
SIZES = [1, 2, 17, 70] + ([130] if ON_CUDA else [])


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    """max(||a - b|| / ||b||, max|a - b| / max|b|) in float64 (absolute errors where b is exactly zero)."""
    a = a.detach().to("cpu", torch.float64)
    b = b.detach().to("cpu", torch.float64)
    assert a.shape == b.shape
    if b.numel() == 0:
        return 0.0
    diff = a - b
    errs = []
    for num, den in ((diff.norm(), b.norm()), (diff.abs().max(), b.abs().max())):
        errs.append(float(num / den) if den > 0 else float(num))
    return max(errs)


def make_inputs(n: int, m: int, d: int, seed: int = 0) -> dict:
    """Float64 CPU tensors: C with ~20% exact zeros off its (non-zero) diagonal, Z, X, decoder."""
    g = torch.Generator().manual_seed(seed)
    C = torch.randn(n, n, generator=g, dtype=torch.float64) / max(1.0, n ** 0.5)
    zeros = torch.rand(n, n, generator=g) < 0.2
    zeros.fill_diagonal_(False)
    C[zeros] = 0.0
    C.diagonal().copy_(torch.rand(n, generator=g, dtype=torch.float64) + 0.5)
    return {
        "C": C,
        "Z": torch.randn(n, m, generator=g, dtype=torch.float64),
        "X": torch.randn(n, d, generator=g, dtype=torch.float64),
        "X_hat": torch.randn(n, d, generator=g, dtype=torch.float64),
        "G": torch.randn(n, m, generator=g, dtype=torch.float64),  # upstream gradient of C0 Z
        "W": torch.randn(m, d, generator=g, dtype=torch.float64) / m ** 0.5,
        "b": torch.randn(d, generator=g, dtype=torch.float64) * 0.1,
    }


def leaf(t: torch.Tensor, dtype: torch.dtype, device=DEVICE, grad: bool = True) -> torch.Tensor:
    return t.detach().to(device=device, dtype=dtype).requires_grad_(grad)


def grads(out: torch.Tensor, inputs: list[torch.Tensor]) -> list[torch.Tensor]:
    return list(torch.autograd.grad(out, inputs, allow_unused=False))


def assert_close_all(got: list, want: list, tol: float, names: list[str]) -> None:
    errs = {name: rel_err(a, b) for name, a, b in zip(names, got, want)}
    assert all(e <= tol for e in errs.values()), f"relative errors {errs} exceed {tol}"


def coupled_loss(se, tr, C, Z, X, W, b):
    """The training objective's n x n part: self-expression, decoder stand-in, trace, SE error."""
    Zc = se(C, Z)
    X_hat = torch.tanh(Zc @ W + b)
    return ((X - X_hat) ** 2).sum() + 2.0 * tr(C, X, X_hat) + 0.7 * ((Z - Zc) ** 2).sum()


# ---------------------------------------------------------------------------------------------
# Single operators
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("backend", BACKENDS)
def test_self_expression_matches_float64_autograd(backend, n, dtype):
    data = make_inputs(n, m=5, d=3, seed=n)
    C0, Z0 = leaf(data["C"], torch.float64, "cpu"), leaf(data["Z"], torch.float64, "cpu")
    want_out = reference.self_expression(C0, Z0)
    want = [want_out, *grads((want_out * data["G"]).sum(), [C0, Z0])]

    C, Z = leaf(data["C"], dtype), leaf(data["Z"], dtype)
    out = ops.self_expression(C, Z, backend=backend)
    got = [out, *grads((out * data["G"].to(DEVICE, dtype)).sum(), [C, Z])]
    assert_close_all(got, want, TOL[dtype], ["C0Z", "dC", "dZ"])
    assert torch.all(got[1].diagonal() == 0)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("backend", BACKENDS)
def test_laplacian_trace_matches_float64_autograd(backend, n, dtype):
    data = make_inputs(n, m=2, d=11, seed=100 + n)
    scale = -1.7  # a non-unit upstream gradient, so that gT is really threaded through
    ref_in = [leaf(data[k], torch.float64, "cpu") for k in ("C", "X", "X_hat")]
    want_T = reference.laplacian_trace(*ref_in)
    want = [want_T, *grads(scale * want_T, ref_in)]

    inp = [leaf(data[k], dtype) for k in ("C", "X", "X_hat")]
    T = ops.laplacian_trace(*inp, backend=backend)
    got = [T, *grads(scale * T, inp)]
    assert_close_all(got, want, TOL[dtype], ["T", "dC", "dX", "dX_hat"])
    assert torch.all(got[1].diagonal() == 0)


def small_c_inputs(n: int, d: int, scale: float, seed: int) -> dict:
    """C of entries ~scale (non-negative, with a diagonal) and X_hat near X: S_hat is close to I and the
    trace is small against each of Tr(X^T X_hat) and Tr(X^T S_hat X_hat)."""
    g = torch.Generator().manual_seed(seed)
    X = torch.rand(n, d, generator=g, dtype=torch.float64)
    return {"C": torch.rand(n, n, generator=g, dtype=torch.float64) * scale, "X": X,
            "X_hat": X + 0.1 * torch.randn(n, d, generator=g, dtype=torch.float64)}


@pytest.mark.parametrize("scale", [1e-4, 1e-6])
@pytest.mark.parametrize("backend", BACKENDS)
def test_laplacian_trace_keeps_float32_precision_when_c_is_small(backend, scale):
    """The paper's start (C ~ 1e-5 everywhere): computed as I - S_hat, float32 lost three digits at C ~ 1e-6
    (relative error 3e-3 on T, dX, dX_hat, by the then-current code), so each is held to TOL."""
    data = small_c_inputs(70, 13, scale, seed=int(-torch.log10(torch.tensor(scale))))
    ref_in = [leaf(data[k], torch.float64, "cpu") for k in ("C", "X", "X_hat")]
    want_T = reference.laplacian_trace(*ref_in)
    want = [want_T, *grads(want_T, ref_in)]
    inp = [leaf(data[k], torch.float32) for k in ("C", "X", "X_hat")]
    T = ops.laplacian_trace(*inp, backend=backend)
    assert_close_all([T, *grads(T, inp)], want, TOL[torch.float32], ["T", "dC", "dX", "dX_hat"])


@pytest.mark.parametrize("backend", FUSED_BACKENDS)
def test_graph_step_keeps_float32_precision_when_c_is_small(backend):
    data = small_c_inputs(45, 9, 1e-6, seed=5)
    ref_in = [leaf(data[k], torch.float64, "cpu") for k in ("C", "X", "X_hat")]
    want_T = reference.laplacian_trace(*ref_in)
    want = [want_T, *grads(want_T, ref_in)]
    inp = [leaf(data[k], torch.float32) for k in ("C", "X", "X_hat")]
    T = GraphStep(inp[0], _impl(backend)).laplacian_trace(inp[1], inp[2])
    assert_close_all([T, *grads(T, inp)], want, TOL[torch.float32], ["T", "dC", "dX", "dX_hat"])


@pytest.mark.parametrize("which", ["C", "X", "X_hat", "X+X_hat"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_laplacian_trace_partial_requires_grad(backend, which):
    """Backward computes only what is asked; each partial gradient is still exact."""
    data = make_inputs(19, m=2, d=7, seed=7)
    keys = ("C", "X", "X_hat")
    wanted = which.split("+")
    ref_in = [leaf(data[k], torch.float64, "cpu", grad=k in wanted) for k in keys]
    want = grads(reference.laplacian_trace(*ref_in), [t for t in ref_in if t.requires_grad])
    inp = [leaf(data[k], torch.float64, grad=k in wanted) for k in keys]
    got = grads(ops.laplacian_trace(*inp, backend=backend), [t for t in inp if t.requires_grad])
    assert_close_all(got, want, TOL[torch.float64], wanted)


@pytest.mark.parametrize("which", ["C", "Z"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_self_expression_partial_requires_grad(backend, which):
    """A frozen C (dZ = C0^T dZc alone) or frozen codes (dC alone); each partial gradient still exact."""
    data = make_inputs(21, m=3, d=2, seed=13)
    ref_in = [leaf(data[k], torch.float64, "cpu", grad=k == which) for k in ("C", "Z")]
    want = grads((reference.self_expression(*ref_in) * data["G"]).sum(), [t for t in ref_in if t.requires_grad])
    inp = [leaf(data[k], torch.float64, grad=k == which) for k in ("C", "Z")]
    out = ops.self_expression(*inp, backend=backend)
    got = grads((out * data["G"].to(DEVICE)).sum(), [t for t in inp if t.requires_grad])
    assert_close_all(got, want, TOL[torch.float64], [which])


@pytest.mark.parametrize("backend", BACKENDS)
def test_no_grad_forward(backend):
    data = make_inputs(23, m=3, d=5, seed=3)
    with torch.no_grad():
        zc = ops.self_expression(data["C"].to(DEVICE), data["Z"].to(DEVICE), backend=backend)
        T = ops.laplacian_trace(*(data[k].to(DEVICE) for k in ("C", "X", "X_hat")), backend=backend)
    assert rel_err(zc, reference.self_expression(data["C"], data["Z"])) <= 1e-12
    assert rel_err(T, reference.laplacian_trace(data["C"], data["X"], data["X_hat"])) <= 1e-12


@pytest.mark.parametrize("backend", ["torch", TRITON])
def test_strided_c_and_wide_operands(backend):
    """C as a transposed view spanning several tiles, and m, d wider than one Triton chunk."""
    data = make_inputs(130 if ON_CUDA else 21, m=70, d=70, seed=5)
    base = data["C"].t().contiguous()
    ref_in = [leaf(data["C"], torch.float64, "cpu"), leaf(data["Z"], torch.float64, "cpu")]
    ref_w = [leaf(data[k], torch.float64, "cpu") for k in ("W", "b")]
    X = data["X"]
    want_L = coupled_loss(reference.self_expression, reference.laplacian_trace, ref_in[0], ref_in[1], X, *ref_w)
    want = [want_L, *grads(want_L, ref_in + ref_w)]

    Cb = leaf(base, torch.float64)
    C = Cb.t()  # non-contiguous view with strides (1, n)
    Z = leaf(data["Z"], torch.float64)
    Wb = [leaf(data[k], torch.float64) for k in ("W", "b")]
    L = coupled_loss(lambda c, z: ops.self_expression(c, z, backend=backend),
                     lambda c, x, xh: ops.laplacian_trace(c, x, xh, backend=backend), C, Z, X.to(DEVICE), *Wb)
    got = [L, *grads(L, [Cb, Z] + Wb)]
    got[1] = got[1].t()
    assert_close_all(got, want, TOL[torch.float64], ["loss", "dC", "dZ", "dW", "db"])


# ---------------------------------------------------------------------------------------------
# The coupled loss of a training step, separate operators and fused step
# ---------------------------------------------------------------------------------------------


def _reference_step(data, with_l2: float = 0.0):
    names = ("C", "Z", "X", "W", "b")
    ref = {k: leaf(data[k], torch.float64, "cpu") for k in names}
    L = coupled_loss(reference.self_expression, reference.laplacian_trace, *(ref[k] for k in names))
    if with_l2:
        L = L + with_l2 * (reference.zero_diagonal(ref["C"]) ** 2).sum()
    return [L, *grads(L, [ref[k] for k in names])]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("backend", BACKENDS)
def test_coupled_loss_matches_float64_autograd(backend, n, dtype):
    data = make_inputs(n, m=4, d=9, seed=200 + n)
    want = _reference_step(data)
    names = ("C", "Z", "X", "W", "b")
    inp = {k: leaf(data[k], dtype) for k in names}
    L = coupled_loss(lambda c, z: ops.self_expression(c, z, backend=backend),
                     lambda c, x, xh: ops.laplacian_trace(c, x, xh, backend=backend), *(inp[k] for k in names))
    got = [L, *grads(L, [inp[k] for k in names])]
    assert_close_all(got, want, TOL[dtype], ["loss", "dC", "dZ", "dX", "dW", "db"])


class _Counting:
    """Wraps a backend's primitives and records how each was called."""

    def __init__(self, impl):
        self.impl = impl
        self.name = impl.name
        self.calls = []

    def se_forward(self, *args, **kw):
        self.calls.append(("se_forward", args[1] is not None))
        return self.impl.se_forward(*args, **kw)

    def shat_offdiag(self, *args, **kw):
        self.calls.append(("shat_offdiag",))
        return self.impl.shat_offdiag(*args, **kw)

    def write_grad_c(self, C, **kw):
        self.calls.append(("write_grad_c", kw.get("se") is not None, kw.get("trace") is not None,
                           kw.get("l2") is not None, kw.get("need_dc", True)))
        return self.impl.write_grad_c(C, **kw)


def _impl(backend):
    if backend == "torch":
        return chunked.TORCH
    from pssc_fast.ops.triton_backend import TRITON

    return TRITON


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("n,m,d", [(1, 4, 9), (2, 4, 9), (45, 4, 9), (37, 70, 40)]
                         + ([(130, 4, 9), (130, 70, 40)] if ON_CUDA else []))
@pytest.mark.parametrize("backend", FUSED_BACKENDS)
def test_graph_step_writes_dc_once_and_matches(backend, n, m, d, dtype):
    """The fused training step, including codes wider than one column chunk of the kernels (m = 70 >
    64, d = 40 > 32: the chunk loops, and the terms written only by the first chunk)."""
    lam = 0.3
    data = make_inputs(n, m=m, d=d, seed=300 + n + m)
    want = _reference_step(data, with_l2=lam)
    names = ("C", "Z", "X", "W", "b")
    inp = {k: leaf(data[k], dtype) for k in names}
    impl = _Counting(_impl(backend))
    step = GraphStep(inp["C"], impl)
    Zc = step.self_expression(inp["Z"])
    X_hat = torch.tanh(Zc @ inp["W"] + inp["b"])
    L = (((inp["X"] - X_hat) ** 2).sum() + 2.0 * step.laplacian_trace(inp["X"], X_hat)
         + 0.7 * ((inp["Z"] - Zc) ** 2).sum() + lam * step.c0_sq_norm)
    got = [L, *grads(L, [inp[k] for k in names])]
    assert_close_all(got, want, TOL[dtype], ["loss", "dC", "dZ", "dX", "dW", "db"])
    # One pass over C per forward operator (the degrees come with C0 Z), one dC write in all.
    assert impl.calls == [("se_forward", True), ("shat_offdiag",), ("write_grad_c", True, True, True, True)]


@pytest.mark.parametrize("backend", FUSED_BACKENDS)
def test_graph_step_through_ops_with_unrelated_x_hat(backend):
    """When X_hat does not come from the step's C0 Z the trace writes its own dC; still exact."""
    data = make_inputs(33, m=3, d=6, seed=9)
    ref = [leaf(data[k], torch.float64, "cpu") for k in ("C", "Z", "X_hat")]
    L_ref = (reference.self_expression(ref[0], ref[1]) * data["G"]).sum() + reference.laplacian_trace(
        ref[0], data["X"], ref[2])
    want = [L_ref, *grads(L_ref, ref)]
    inp = [leaf(data[k], torch.float64) for k in ("C", "Z", "X_hat")]
    step = ops.graph_step(inp[0], backend=backend)
    L = (step.self_expression(inp[1]) * data["G"].to(DEVICE)).sum() + step.laplacian_trace(
        data["X"].to(DEVICE), inp[2])
    assert not step._trace_deferred
    got = [L, *grads(L, inp)]
    assert_close_all(got, want, TOL[torch.float64], ["loss", "dC", "dZ", "dX_hat"])


@pytest.mark.parametrize("backend", FUSED_BACKENDS)
def test_graph_step_trace_alone(backend):
    """A step used only for the trace computes the degrees itself."""
    data = make_inputs(18, m=2, d=5, seed=11)
    ref = [leaf(data[k], torch.float64, "cpu") for k in ("C", "X", "X_hat")]
    T_ref = reference.laplacian_trace(*ref)
    want = [T_ref, *grads(T_ref, ref)]
    inp = [leaf(data[k], torch.float64) for k in ("C", "X", "X_hat")]
    T = ops.graph_step(inp[0], backend=backend).laplacian_trace(inp[1], inp[2])
    got = [T, *grads(T, inp)]
    assert_close_all(got, want, TOL[torch.float64], ["T", "dC", "dX", "dX_hat"])


@pytest.mark.parametrize("terms", ["se+l2", "se", "l2", "se+trace"])
@pytest.mark.parametrize("frozen", [None, "C", "Z"])
@pytest.mark.parametrize("backend", FUSED_BACKENDS)
def test_graph_step_term_subsets(backend, terms, frozen):
    """The fused step with terms switched off, as the ablations train it (DSC-L2: self-expression and
    ||C0||^2 without the trace; coef_l2 = 0: no l2 term), and with C or the codes frozen."""
    lam = 0.3
    data = make_inputs(27, m=5, d=6, seed=17)
    names = ("C", "Z", "W", "b")

    def loss(C, Z, W, b, se, tr, c0_sq):
        Zc = se(C, Z)
        X_hat = torch.tanh(Zc @ W + b)
        X = data["X"].to(C.device, C.dtype)
        L = 0.0 * X_hat.sum()  # every input in the graph, whichever terms are on
        if "se" in terms:
            L = L + ((X - X_hat) ** 2).sum() + 0.7 * ((Z - Zc) ** 2).sum()
        if "trace" in terms:
            L = L + 2.0 * tr(C, X, X_hat)
        if "l2" in terms:
            L = L + lam * c0_sq(C)
        return L

    ref = {k: leaf(data[k], torch.float64, "cpu", grad=k != frozen) for k in names}
    L_ref = loss(*(ref[k] for k in names), reference.self_expression, reference.laplacian_trace,
                 lambda C: (reference.zero_diagonal(C) ** 2).sum())
    want = [L_ref, *grads(L_ref, [ref[k] for k in names if k != frozen])]
    inp = {k: leaf(data[k], torch.float64, grad=k != frozen) for k in names}
    step = ops.graph_step(inp["C"], backend=backend)
    L = loss(*(inp[k] for k in names), lambda C, Z: step.self_expression(Z),
             lambda C, X, X_hat: step.laplacian_trace(X, X_hat), lambda C: step.c0_sq_norm)
    got = [L, *grads(L, [inp[k] for k in names if k != frozen])]
    assert_close_all(got, want, TOL[torch.float64], ["loss", *(f"d{k}" for k in names if k != frozen)])


def test_graph_step_rejects_misuse():
    data = make_inputs(5, m=2, d=3)
    step = ops.graph_step(data["C"], backend="torch")
    step.self_expression(data["Z"])
    with pytest.raises(RuntimeError):
        step.self_expression(data["Z"])
    with pytest.raises(ValueError):
        step.laplacian_trace(data["X"], data["X_hat"][:, :2])
    with pytest.raises(ValueError):
        ops.graph_step(data["C"], backend="reference")


# ---------------------------------------------------------------------------------------------
# Torch backend internals: many row blocks, random shapes
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("rows", [1, 3, 8])
def test_torch_backend_with_many_row_blocks(monkeypatch, rows):
    """Row blocks of a few rows exercise the slab bookkeeping of the chunked dC writer."""
    n = 29
    itemsize = 8
    monkeypatch.setattr(chunked, "CPU_BLOCK_BYTES", rows * n * itemsize)
    monkeypatch.setattr(chunked, "CUDA_BLOCK_BYTES", rows * n * itemsize)
    monkeypatch.setattr(chunked, "CPU_MIN_BLOCKS", 1)
    monkeypatch.setattr(chunked, "CUDA_MIN_BLOCKS", 1)
    monkeypatch.setattr(chunked, "CPU_WHOLE_MATRIX_BYTES", 0)
    data = make_inputs(n, m=4, d=9, seed=400 + rows)
    want = _reference_step(data, with_l2=0.5)
    names = ("C", "Z", "X", "W", "b")
    inp = {k: leaf(data[k], torch.float64) for k in names}
    assert chunked.block_rows(inp["C"]) == rows
    step = ops.graph_step(inp["C"], backend="torch")
    Zc = step.self_expression(inp["Z"])
    X_hat = torch.tanh(Zc @ inp["W"] + inp["b"])
    L = (((inp["X"] - X_hat) ** 2).sum() + 2.0 * step.laplacian_trace(inp["X"], X_hat)
         + 0.7 * ((inp["Z"] - Zc) ** 2).sum() + 0.5 * step.c0_sq_norm)
    got = [L, *grads(L, [inp[k] for k in names])]
    assert_close_all(got, want, TOL[torch.float64], ["loss", "dC", "dZ", "dX", "dW", "db"])


@settings(max_examples=20, deadline=None)
@given(n=st.integers(1, 40), m=st.integers(1, 6), d=st.integers(1, 12), rows=st.integers(1, 16),
       seed=st.integers(0, 2 ** 16))
def test_torch_backend_random_shapes(n, m, d, rows, seed):
    old = chunked.CPU_BLOCK_BYTES, chunked.CUDA_BLOCK_BYTES, chunked.CPU_WHOLE_MATRIX_BYTES
    chunked.CPU_BLOCK_BYTES = chunked.CUDA_BLOCK_BYTES = rows * n * 8
    chunked.CPU_WHOLE_MATRIX_BYTES = 0
    try:
        data = make_inputs(n, m, d, seed)
        want = _reference_step(data)
        names = ("C", "Z", "X", "W", "b")
        inp = {k: leaf(data[k], torch.float64) for k in names}
        L = coupled_loss(lambda c, z: ops.self_expression(c, z, backend="torch"),
                         lambda c, x, xh: ops.laplacian_trace(c, x, xh, backend="torch"), *(inp[k] for k in names))
        got = [L, *grads(L, [inp[k] for k in names])]
    finally:
        chunked.CPU_BLOCK_BYTES, chunked.CUDA_BLOCK_BYTES, chunked.CPU_WHOLE_MATRIX_BYTES = old
    assert_close_all(got, want, TOL[torch.float64], ["loss", "dC", "dZ", "dX", "dW", "db"])


@needs_triton
@settings(max_examples=12, deadline=None)
@given(n=st.integers(1, 40), m=st.integers(1, 20), d=st.integers(1, 20), lam=st.sampled_from([0.0, 0.4]),
       seed=st.integers(0, 2 ** 16))
def test_triton_fused_step_random_shapes(n, m, d, lam, seed):
    """The Triton fused step on random shapes (on CPU under the interpreter: tiles of 16, so most n
    span a ragged last tile), against the float64 reference."""
    data = make_inputs(n, m, d, seed)
    want = _reference_step(data, with_l2=lam)
    names = ("C", "Z", "X", "W", "b")
    inp = {k: leaf(data[k], torch.float64) for k in names}
    step = GraphStep(inp["C"], _impl("triton"))
    Zc = step.self_expression(inp["Z"])
    X_hat = torch.tanh(Zc @ inp["W"] + inp["b"])
    L = (((inp["X"] - X_hat) ** 2).sum() + 2.0 * step.laplacian_trace(inp["X"], X_hat)
         + 0.7 * ((inp["Z"] - Zc) ** 2).sum() + lam * step.c0_sq_norm)
    got = [L, *grads(L, [inp[k] for k in names])]
    assert_close_all(got, want, TOL[torch.float64], ["loss", "dC", "dZ", "dX", "dW", "db"])


# ---------------------------------------------------------------------------------------------
# Dispatch
# ---------------------------------------------------------------------------------------------


def test_auto_backend_choice():
    assert ops.resolve_backend("auto", torch.device("cpu")) == "torch"
    expected = "triton" if HAVE_TRITON else "torch"
    assert ops.resolve_backend("auto", torch.device("cuda")) == expected
    with pytest.raises(ValueError):
        ops.resolve_backend("fast")


@pytest.mark.parametrize("backend", ["torch", TRITON])
def test_mismatched_operands_are_rejected(backend):
    C = torch.randn(4, 4, device=DEVICE)
    with pytest.raises(ValueError):
        ops.self_expression(C, torch.randn(4, 2, dtype=torch.float64, device=DEVICE), backend=backend)
    with pytest.raises(ValueError):
        ops.laplacian_trace(C, torch.randn(4, 3, device=DEVICE), torch.randn(4, 2, device=DEVICE), backend=backend)


@needs_triton
def test_triton_rejects_half_precision():
    C = torch.randn(4, 4, device=DEVICE, dtype=torch.float16)
    with pytest.raises(ValueError):
        ops.self_expression(C, torch.randn(4, 2, device=DEVICE, dtype=torch.float16), backend="triton")


@pytest.mark.parametrize("backend", FUSED_BACKENDS)
def test_graph_step_repeated_and_partial_backward(backend):
    """retain_graph replays and a pass that stops short of C0 Z leave every gradient exact."""
    data = make_inputs(21, m=3, d=6, seed=13)
    want = _reference_step(data)
    names = ("C", "Z", "X", "W", "b")
    inp = {k: leaf(data[k], torch.float64) for k in names}
    step = ops.graph_step(inp["C"], backend=backend)
    Zc = step.self_expression(inp["Z"])
    X_hat = torch.tanh(Zc @ inp["W"] + inp["b"])
    L = (((inp["X"] - X_hat) ** 2).sum() + 2.0 * step.laplacian_trace(inp["X"], X_hat)
         + 0.7 * ((inp["Z"] - Zc) ** 2).sum())
    # Reaches the trace but not C0 Z: the trace's deferred terms must not leak into the next pass.
    db = torch.autograd.grad(L, [inp["b"]], retain_graph=True)[0]
    assert rel_err(db, want[5]) <= TOL[torch.float64]
    first = torch.autograd.grad(L, [inp[k] for k in names], retain_graph=True)
    second = torch.autograd.grad(L, [inp[k] for k in names])
    for got in (first, second):
        assert_close_all([L, *got], want, TOL[torch.float64], ["loss", "dC", "dZ", "dX", "dW", "db"])


@pytest.mark.parametrize("device", ["cpu", "cuda"])
@pytest.mark.parametrize("n", [1, 7, 1000, 8000, 100_000])
def test_row_blocks_stay_below_n_by_n(n, device):
    """Blocks respect the byte budget and never span the whole matrix once n is non-trivial (on CPU: once
    C is larger than CPU_WHOLE_MATRIX_BYTES; below that one block spans it)."""
    from types import SimpleNamespace

    # block_rows reads only the shape, device type and element size: no n x n allocation needed.
    C = SimpleNamespace(shape=(n, n), device=torch.device(device), element_size=lambda: 4)
    budget, parts = ((chunked.CUDA_BLOCK_BYTES, chunked.CUDA_MIN_BLOCKS) if device == "cuda"
                     else (chunked.CPU_BLOCK_BYTES, chunked.CPU_MIN_BLOCKS))
    rows = chunked.block_rows(C)
    if device == "cpu" and n * n * 4 <= chunked.CPU_WHOLE_MATRIX_BYTES:
        assert rows == n
        return
    assert 1 <= rows <= -(-n // parts)
    assert rows == 1 or rows * n * 4 <= budget
