"""What the Triton launchers and kernels share: device checks, dot precision, block sizes, index blocks."""
from __future__ import annotations

import os

import torch
import triton
import triton.language as tl

# triton.jit picks the interpreter or the compiler when a kernel is decorated, i.e. when the
# kernel modules are imported; reading the variable once here keeps the checks consistent with it.
INTERPRET = os.environ.get("TRITON_INTERPRET", "0") == "1"

_PRECISION_FROM_TORCH = {"highest": "ieee", "high": "tf32x3", "medium": "tf32"}


def check_device(C: torch.Tensor) -> None:
    """Raise a clear error where Triton cannot run on ``C``'s device."""
    if C.device.type == "cuda" or (INTERPRET and C.device.type == "cpu"):
        return
    raise RuntimeError(
        f"the triton backend needs CUDA tensors (got {C.device}); on CPU it runs only under the "
        "interpreter, with TRITON_INTERPRET=1 set before pssc_fast.kernels is imported"
    )


def dot_precision(dtype: torch.dtype) -> str:
    """``input_precision`` for tl.dot on float32 operands.

    Follows ``torch.get_float32_matmul_precision()`` so that the kernels and cuBLAS make the same
    trade-off: "highest" -> full fp32 ("ieee"), "high" -> three TF32 products ("tf32x3", close to
    fp32), "medium" -> one TF32 product. ``PSSC_TRITON_PRECISION`` overrides it. float64 is always
    exact.
    """
    if dtype == torch.float64:
        return "ieee"
    override = os.environ.get("PSSC_TRITON_PRECISION")
    if override:
        return override
    return _PRECISION_FROM_TORCH.get(torch.get_float32_matmul_precision(), "ieee")


def check_dtype(C: torch.Tensor) -> None:
    """The kernels accumulate in C's dtype; only float32 and float64 are supported."""
    if C.dtype not in (torch.float32, torch.float64):
        raise ValueError(f"the triton backend supports float32 and float64, got {C.dtype}")


def check_launch(C: torch.Tensor) -> None:
    """What every launcher checks before it starts a kernel on ``C``: device, then dtype."""
    check_device(C)
    check_dtype(C)


def tile(dtype: torch.dtype) -> int:
    """Side of the square tiles of C.

    Under the interpreter every tile is a few numpy calls, so small tiles keep tests fast and
    make modest shapes span several tiles; float64 on GPU uses smaller tiles to halve register
    pressure.
    """
    if INTERPRET:
        return 16
    return 32 if dtype == torch.float64 else 64


def chunk(width: int, cap: int) -> int:
    """Power-of-two chunk (16 <= chunk <= cap) for a dimension of ``width`` columns.

    tl.dot needs every dimension >= 16; the cap bounds register use. (Every tl.dot in these
    kernels passes ``out_dtype`` explicitly: Triton 3.6 defaults it to float32 and then rejects
    a float64 accumulator.)
    """
    return max(16, min(cap, triton.next_power_of_2(max(1, width))))


@triton.jit
def block_of(pid, BLOCK: tl.constexpr, size):
    """The indices of block ``pid`` (BLOCK wide) along an axis of ``size`` entries, and their mask."""
    offsets = pid * BLOCK + tl.arange(0, BLOCK)
    return offsets, offsets < size
