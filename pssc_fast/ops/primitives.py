"""The tile primitives every fused backend supplies: the only code that reads C or writes dC.

``Primitives`` is the interface; ``ops.chunked.TORCH`` (row blocks of torch) and
``ops.triton_backend.TRITON`` (the kernels of the top-level ``kernels/`` folder) implement it with
the same contracts, and the autograd code of ``ops.autograd`` runs on either unchanged: the backward
formulas are shared, only the tiles differ (docs/DESIGN.md section 4). This module and
``ops.autograd`` are the bottom of ``pssc_fast.ops``: they import nothing else from pssc_fast, so
the kernels can import them.

Notation: A = |C0| (C with its diagonal zeroed), S = (A + A^T)/2 + I, deg = row sums of S,
a = deg^-1/2, S_hat = diag(a) S diag(a), and S0_hat = diag(a) (A + A^T)/2 diag(a) = S_hat - diag(a^2),
its off-diagonal part.
"""
from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass
from typing import Callable, NamedTuple, Protocol

import torch

#: ``precision=`` of the fused operators: how float32 products are formed (float64 is always exact).
#: "ieee" full fp32; "tf32" TF32 tensor-core products (10-bit mantissa), fp32 accumulation; "bf16" operands
#: rounded to bfloat16 (8-bit mantissa), fp32 accumulation; "auto" follows torch's
#: ``torch.get_float32_matmul_precision()``, as cuBLAS does ("highest" -> ieee, "high" -> tf32, "medium" -> bf16).
PRECISIONS = ("auto", "ieee", "tf32", "bf16")
_FROM_TORCH = {"highest": "ieee", "high": "tf32", "medium": "bf16"}
_TO_TORCH = {v: k for k, v in _FROM_TORCH.items()}


def resolve_precision(precision: str, dtype: torch.dtype = torch.float32) -> str:
    """``precision`` ("auto" resolved from torch's setting) as "ieee", "tf32" or "bf16"; "ieee" for float64."""
    if not isinstance(precision, str) or precision not in PRECISIONS:
        raise ValueError(f"precision={precision!r} is not one of {PRECISIONS}")
    if dtype == torch.float64:
        return "ieee"
    if precision == "auto":
        return _FROM_TORCH.get(torch.get_float32_matmul_precision(), "ieee")
    return precision


@contextlib.contextmanager
def torch_matmul_precision(precision: str):
    """torch's float32 matmul precision set to the one ``precision`` (resolved) maps to, restored after.

    How the torch backend honours ``precision``: its GEMMs are cuBLAS/MKL calls, which read this setting.
    On CUDA "tf32" and "bf16" both give cuBLAS TF32 products (torch's "high" and "medium" differ only on CPUs
    whose oneDNN can use bfloat16); on most CPUs every setting is full fp32.
    """
    want = _TO_TORCH[precision]
    before = torch.get_float32_matmul_precision()
    if want == before:
        yield
        return
    torch.set_float32_matmul_precision(want)
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(before)


class SEForward(NamedTuple):
    """Everything one pass over C yields: C0 Z and the row statistics of C0."""

    zc: torch.Tensor | None  # C0 @ Z, (n, m)
    row_abs: torch.Tensor | None  # row sums of |C0|, (n,)
    col_abs: torch.Tensor | None  # column sums of |C0|, (n,)
    sq: torch.Tensor | None  # row sums of C0**2, (n,)


class TraceGrad(NamedTuple):
    """The trace's gradient in C, in O(n x d) form.

    dC_ij = sgn(C_ij) * (h_i + h_j - u_i a_j (<x_i, xh_j> + <xh_i, x_j>)) for i != j, 0 on the
    diagonal, with h = gT g / 2 and u = gT a / 2 (docs/DESIGN.md section 4, upstream gradient gT).
    """

    h: torch.Tensor
    u: torch.Tensor
    a: torch.Tensor
    X: torch.Tensor
    X_hat: torch.Tensor


class Primitives(Protocol):
    """The three passes over n x n memory a backend implements; everything else is O(n x d)."""

    name: str  # the backend's name in ``ops.BACKENDS``

    def se_forward(self, C: torch.Tensor, Z: torch.Tensor | None = None, *, with_degrees: bool = False,
                   with_sq: bool = False) -> SEForward:
        """C0 @ Z and, in the same pass over C, the row/column sums of |C0| and the row sums of C0**2.

        Any part not asked for is ``None``.
        """
        ...

    def shat_offdiag(self, C: torch.Tensor, a: torch.Tensor, Y1: torch.Tensor,
                     Y2: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(S0_hat @ Y1, S0_hat @ Y2) from C and C^T; ``Y2`` may be None (so is its result).

        It may hold one n x n temporary (the triton backend's S0_hat) and must free it before returning: the
        backward's dC is allocated after it, so that a step's peak stays about one n x n.
        """
        ...

    def write_grad_c(self, C: torch.Tensor, *, se: tuple[torch.Tensor, torch.Tensor] | None = None,
                     trace: TraceGrad | None = None, l2: torch.Tensor | None = None, need_dc: bool = True,
                     need_dz: bool = True) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """Write dC = [dZc Z^T + trace terms + l2 * C] with a zero diagonal, and dZ = C0^T dZc.

        ``se`` is ``(dZc, Z)`` or None; ``trace`` the trace's ``TraceGrad`` or None; ``l2`` a 0-d
        tensor (the coefficient of C, i.e. twice the upstream gradient of ||C0||_F^2) or None.
        Returns ``(dC, dZ)``, either None when not asked for. dC is the only n x n tensor allocated
        (the triton backend first writes the trace's GEMM into it, then turns that into dC in place).
        """
        ...


@dataclass(frozen=True)
class PrimitiveSet:
    """A ``Primitives`` made of three plain functions: how both fused backends supply theirs.

    Each function takes ``precision=`` ("ieee", "tf32" or "bf16", already resolved); ``at(precision)``
    binds it, so the backend-neutral autograd code never sees it.
    """

    name: str
    se_forward: Callable[..., SEForward]
    shat_offdiag: Callable[..., tuple[torch.Tensor, torch.Tensor | None]]
    write_grad_c: Callable[..., tuple[torch.Tensor | None, torch.Tensor | None]]
    precision: str = "ieee"

    def at(self, precision: str) -> "PrimitiveSet":
        """These primitives with every pass run at ``precision`` (resolved: "ieee", "tf32" or "bf16")."""
        if precision == self.precision:
            return self
        base = [getattr(f, "func", f) for f in (self.se_forward, self.shat_offdiag, self.write_grad_c)]
        return PrimitiveSet(self.name, *(functools.partial(f, precision=precision) for f in base), precision)
