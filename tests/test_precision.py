"""``precision=`` of the fused operators against the float64 oracle, per precision, on shapes that are not
multiples of any tile.

Oracle: ``pssc_fast.ops.reference`` in float64 on CPU, differentiated by autograd (tests/test_ops.py's coupled
training loss: self-expression, decoder stand-in, Laplacian trace, self-expression error, ||C0||^2).
Error measure: relative Frobenius error of the loss and of every gradient. Stated tolerances:

    ieee  1e-5   full fp32 products
    tf32  2e-3   TF32 products (10-bit mantissa, unit roundoff 2^-11 = 4.9e-4), fp32 accumulation
    bf16  2e-2   bfloat16 operands (8-bit mantissa, 2^-9 = 2.0e-3), fp32 accumulation

Under Triton's interpreter (CPU) the kernels' dot (kernels/utils.py ``mma``) drops the 13 low mantissa bits
of "tf32" operands, as tensor cores do, and rounds "bf16" operands to bfloat16, so both bounds are checked
here too, on CUDA with the hardware's products; each is also checked to be really coarser than fp32 (an error
above 1e-6: a kernel that ignored the precision would pass the bound and fail that). The torch backend runs its GEMMs under the torch matmul
precision each value maps to; on CPU that is fp32 throughout, so only its bound is checked.
"""
from __future__ import annotations

import pytest
import torch
from test_ops import DEVICE, FUSED_BACKENDS, ON_CUDA, _reference_step, grads, leaf, make_inputs

from pssc_fast import ops
from pssc_fast.ops import choice
from pssc_fast.ops.primitives import resolve_precision

TOL = {"ieee": 1e-5, "tf32": 2e-3, "bf16": 2e-2}
NAMES = ["loss", "dC", "dZ", "dX", "dW", "db"]
# n, m, d: none a multiple of 16 (the interpreter's tiles) or of 32/64/128 (compiled tiles); m and d wider
# than one column chunk under the interpreter.
SHAPES = [(37, 13, 23), (70, 5, 40)] + ([(333, 10, 200)] if ON_CUDA else [])


def frobenius_err(a: torch.Tensor, b: torch.Tensor) -> float:
    a = a.detach().to("cpu", torch.float64)
    b = b.detach().to("cpu", torch.float64)
    return float((a - b).norm() / b.norm()) if b.norm() > 0 else float((a - b).norm())


def fused_step_errors(backend: str, precision: str, n: int, m: int, d: int) -> dict:
    """Relative errors of the fused training step at ``precision`` against the float64 oracle."""
    lam = 0.3
    data = make_inputs(n, m=m, d=d, seed=500 + n)
    want = _reference_step(data, with_l2=lam)
    names = ("C", "Z", "X", "W", "b")
    inp = {k: leaf(data[k], torch.float32) for k in names}
    step = ops.graph_step(inp["C"], backend=backend, precision=precision)
    Zc = step.self_expression(inp["Z"])
    X_hat = torch.tanh(Zc @ inp["W"] + inp["b"])
    L = (((inp["X"] - X_hat) ** 2).sum() + 2.0 * step.laplacian_trace(inp["X"], X_hat)
         + 0.7 * ((inp["Z"] - Zc) ** 2).sum() + lam * step.c0_sq_norm)
    got = [L, *grads(L, [inp[k] for k in names])]
    return {name: frobenius_err(g, w) for name, g, w in zip(NAMES, got, want)}


@pytest.mark.parametrize("n,m,d", SHAPES)
@pytest.mark.parametrize("precision", ["ieee", "tf32", "bf16"])
@pytest.mark.parametrize("backend", FUSED_BACKENDS)
def test_fused_step_within_the_precision_bound(backend, precision, n, m, d):
    errs = fused_step_errors(backend, precision, n, m, d)
    assert max(errs.values()) <= TOL[precision], f"{backend}/{precision}: relative errors {errs}"
    if backend == "triton" and precision != "ieee":
        # The operands really are rounded: full fp32 products are ~1e-7 off.
        assert max(errs.values()) > 1e-6, f"{precision} as accurate as fp32 {errs}: operands not rounded?"


@pytest.mark.parametrize("precision", ["ieee", "tf32", "bf16"])
@pytest.mark.parametrize("backend", FUSED_BACKENDS)
def test_separate_operators_take_the_precision(backend, precision):
    """ops.self_expression / ops.laplacian_trace (not the fused step) honour precision= too."""
    data = make_inputs(29, m=6, d=19, seed=7)
    C64, Z64, X64, Xh64 = (leaf(data[k], torch.float64, "cpu") for k in ("C", "Z", "X", "X_hat"))
    want = [ops.self_expression(C64, Z64, backend="reference"), ops.laplacian_trace(C64, X64, Xh64, backend="reference")]
    C, Z, X, Xh = (leaf(data[k], torch.float32) for k in ("C", "Z", "X", "X_hat"))
    got = [ops.self_expression(C, Z, backend=backend, precision=precision),
           ops.laplacian_trace(C, X, Xh, backend=backend, precision=precision)]
    want_g = grads(want[0].sum() + want[1], [C64, Z64, X64, Xh64])
    got_g = grads(got[0].sum() + got[1], [C, Z, X, Xh])
    errs = [frobenius_err(g, w) for g, w in zip(got + got_g, want + want_g)]
    assert max(errs) <= TOL[precision], errs


def test_torch_backend_restores_the_global_matmul_precision():
    before = torch.get_float32_matmul_precision()
    data = make_inputs(20, m=3, d=5, seed=1)
    C, Z = leaf(data["C"], torch.float32), leaf(data["Z"], torch.float32)
    out = ops.self_expression(C, Z, backend="torch", precision="tf32")
    assert torch.get_float32_matmul_precision() == before
    out.sum().backward()
    assert torch.get_float32_matmul_precision() == before


def test_precision_values():
    assert resolve_precision("bf16", torch.float64) == "ieee"  # float64 is always exact
    assert resolve_precision("tf32") == "tf32"
    before = torch.get_float32_matmul_precision()
    try:
        for torch_value, ours in (("highest", "ieee"), ("high", "tf32"), ("medium", "bf16")):
            torch.set_float32_matmul_precision(torch_value)
            assert resolve_precision("auto") == ours
    finally:
        torch.set_float32_matmul_precision(before)
    C = torch.zeros(3, 3, device=DEVICE)
    with pytest.raises(ValueError, match="precision"):
        ops.self_expression(C, torch.zeros(3, 2, device=DEVICE), backend="torch", precision="fp16")


# ---------------------------------------------------------------------------------------------
# backend="auto": the measured rule
# ---------------------------------------------------------------------------------------------


def test_step_seconds_interpolates_the_table(monkeypatch):
    t = {8000: 0.01, 16000: 0.04, 100_000: 1.5}
    monkeypatch.setattr(choice, "STEP_SECONDS", {"ieee": {"torch": t}, "tf32": {"torch": {8000: 0.005}}})
    assert choice.step_seconds("torch", 8000, "ieee") == pytest.approx(t[8000])
    mid = choice.step_seconds("torch", 11314, "ieee")  # ~ the geometric mean of 8000 and 16000
    assert mid == pytest.approx((t[8000] * t[16000]) ** 0.5, rel=1e-3)
    assert choice.step_seconds("torch", 200_000, "ieee") == pytest.approx(t[100_000] * 4)
    assert choice.step_seconds("torch", 4000, "ieee") == pytest.approx(t[8000] / 4)
    assert choice.step_seconds("torch", 8000, "bf16") == pytest.approx(0.005)  # bf16 without a row: tf32's
    assert choice.step_seconds("triton", 8000, "ieee") is None


def test_the_measured_table_has_every_precision_and_backend():
    for precision in ("ieee", "tf32", "bf16"):
        for backend in ("torch", "triton"):
            table = choice.STEP_SECONDS[precision][backend]
            assert len(table) >= 2 and all(v > 0 for v in table.values())


def test_auto_picks_the_fastest_backend_that_fits(monkeypatch):
    cuda = torch.device("cuda")
    n = 32000
    free = {"bytes": 100 << 30}
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (free["bytes"], 140 << 30))
    table = {"torch": {1000: 1.0, 100_000: 1.0}, "triton": {1000: 2.0, 100_000: 2.0}}
    monkeypatch.setattr(choice, "STEP_SECONDS", {"tf32": table})
    assert choice.choose(n, cuda, "tf32").name == "torch"
    table["triton"] = {1000: 0.5, 100_000: 0.5}
    picked = choice.choose(n, cuda, "tf32")
    assert picked.name == "triton" and "triton 0.5 s" in picked.reason
    # torch faster, but its row blocks do not fit the free memory: the lean kernels
    table["triton"] = {1000: 2.0, 100_000: 2.0}
    reserve = 4 * n * n * 4
    free["bytes"] = int((reserve + choice.workspace_bytes("torch", n, cuda) // 2) / 0.9)
    picked = choice.choose(n, cuda, "tf32", reserve_bytes=reserve)
    assert picked.name == "triton" and "do not fit" in picked.reason
    assert choice.choose(n, cuda, "tf32", triton_ok=False).name == "torch"
    assert ops.backend_choice("auto", torch.device("cpu"), n=n).name == "torch"
    assert ops.backend_choice("triton", torch.device("cpu"), n=n) == ("triton", "asked for")
