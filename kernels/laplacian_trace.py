"""Normalized-Laplacian trace Tr(X^T L_n X_hat), flash-style: S_hat never exists as a matrix.

Forward: one pass for the degrees (``self_expression.se_forward`` without Z), then ``shat_offdiag``:
each program owns rows I and a chunk of columns of the right-hand sides and streams over J,
building S0_hat_IJ = a_I a_J (|C0_IJ| + |C0_JI|^T)/2 (S_hat without its diagonal, which the shared
algebra adds as a vector without cancellation; pssc_fast.ops.autograd) in registers from the tiles C_IJ
and C_JI, and multiplying it into S0_hat X_hat (and S0_hat X, which backward needs, from the same
tile). Backward: dX = gT (X_hat - S_hat X_hat), dX_hat = gT (X - S_hat X), O(n) vectors rho and
g, and one pass of ``grad_c`` that writes dC (docs/DESIGN.md section 4).
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

from pssc_fast.ops.primitives import resolve_precision

from . import utils
from .utils import block_of, mma

# (tiles, warps, stages). This pass carries 2 n^2 d of the step's ~6 n^2 d flops. Wider column chunks
# (BLOCK_D) rebuild the S tile and re-read C fewer times (d / BLOCK_D programs per row block) and give the
# tensor cores longer products; two BLOCK_M x BLOCK_D accumulators bound them. The first row is the tile
# the kernel had before autotuning (the "ieee" path can only get faster).
_SPACE = [
    (dict(BLOCK_M=64, BLOCK_N=64, BLOCK_D=64), 8, 3),
    (dict(BLOCK_M=64, BLOCK_N=32, BLOCK_D=128), 4, 3),
    (dict(BLOCK_M=64, BLOCK_N=64, BLOCK_D=128), 8, 2),
    (dict(BLOCK_M=128, BLOCK_N=32, BLOCK_D=128), 8, 3),
    (dict(BLOCK_M=128, BLOCK_N=64, BLOCK_D=64), 8, 2),
]
_FLOAT64 = [(dict(BLOCK_M=32, BLOCK_N=32, BLOCK_D=64), 8, 3), (dict(BLOCK_M=32, BLOCK_N=32, BLOCK_D=32), 4, 3)]


# Sizes only bound loops and masks: specialising on them (== 1, multiple of 16) would only
# multiply compilations; strides keep their specialisation, which enables vector loads.
@utils.autotune(utils.configs(_SPACE, float64=_FLOAT64, interpreted=dict(BLOCK_M=16, BLOCK_N=16, BLOCK_D=16)),
                key=["n", "d", "TWO", "PREC"], prune_by=utils.prune({"BLOCK_D": "d"}))
@triton.jit(do_not_specialize=["n", "d"])
def _shat_offdiag_kernel(
    C, A, Y1, Y2, P, Q,
    n, d,
    stride_cm, stride_cn, stride_y1, stride_y2, stride_p, stride_q,
    TWO: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr,
    PREC: tl.constexpr,
):
    # Column chunks vary fastest, so the programs of one row block run side by side and read the
    # same tiles of C: C is fetched from DRAM about twice per pass, not twice per chunk.
    rd, mask_d = block_of(tl.program_id(0), BLOCK_D, d)
    rm, mask_m = block_of(tl.program_id(1), BLOCK_M, n)
    dt = C.dtype.element_ty
    acc1 = tl.zeros((BLOCK_M, BLOCK_D), dtype=dt)
    acc2 = tl.zeros((BLOCK_M, BLOCK_D), dtype=dt)
    for start in range(0, n, BLOCK_N):
        rn = start + tl.arange(0, BLOCK_N)
        mask_n = rn < n
        tile_mask = mask_m[:, None] & mask_n[None, :]
        # 64-bit offsets: beyond n = 46341 an n x n offset overflows int32.
        rm64 = rm.to(tl.int64)
        rn64 = rn.to(tl.int64)
        c_ij = tl.load(C + rm64[:, None] * stride_cm + rn64[None, :] * stride_cn, mask=tile_mask, other=0.0)
        # The tile of C^T: C[J, I] read along its rows (coalesced) and transposed in registers.
        c_ji = tl.trans(tl.load(C + rn64[:, None] * stride_cm + rm64[None, :] * stride_cn,
                                mask=mask_n[:, None] & mask_m[None, :], other=0.0))
        s = 0.5 * (tl.abs(c_ij) + tl.abs(c_ji))
        # C0 has a zero diagonal, whatever C holds there.
        s = tl.where(rm[:, None] == rn[None, :], 0.0, s)
        a_n = tl.load(A + rn, mask=mask_n, other=0.0)
        s = s * a_n[None, :]
        y1 = tl.load(Y1 + rn[:, None] * stride_y1 + rd[None, :], mask=mask_n[:, None] & mask_d[None, :], other=0.0)
        acc1 = mma(s, y1, acc1, PREC)
        if TWO:
            y2 = tl.load(Y2 + rn[:, None] * stride_y2 + rd[None, :], mask=mask_n[:, None] & mask_d[None, :], other=0.0)
            acc2 = mma(s, y2, acc2, PREC)
    a_m = tl.load(A + rm, mask=mask_m, other=0.0)
    out_mask = mask_m[:, None] & mask_d[None, :]
    tl.store(P + rm[:, None] * stride_p + rd[None, :], acc1 * a_m[:, None], mask=out_mask)
    if TWO:
        tl.store(Q + rm[:, None] * stride_q + rd[None, :], acc2 * a_m[:, None], mask=out_mask)


def shat_offdiag(C: torch.Tensor, a: torch.Tensor, Y1: torch.Tensor, Y2: torch.Tensor | None = None, *,
                 precision: str = "ieee"):
    """``Primitives.shat_offdiag`` (pssc_fast.ops.primitives): (S0_hat @ Y1, S0_hat @ Y2) from tiles
    of C, C^T and ``a``, products at ``precision``; Y2 may be None."""
    utils.check_launch(C)
    n = C.shape[0]
    Y1 = Y1.contiguous()
    Y2 = Y2.contiguous() if Y2 is not None else None
    a = a.contiguous()
    d = Y1.shape[1]
    P = torch.empty_like(Y1)
    Q = torch.empty_like(Y2) if Y2 is not None else None
    if n == 0 or d == 0:
        return P, Q
    grid = lambda meta: (triton.cdiv(d, meta["BLOCK_D"]), triton.cdiv(n, meta["BLOCK_M"]))  # noqa: E731
    _shat_offdiag_kernel[grid](
        C, a, Y1, Y2 if Y2 is not None else Y1, P, Q if Q is not None else P,
        n, d,
        C.stride(0), C.stride(1), Y1.stride(0), (Y2 if Y2 is not None else Y1).stride(0),
        P.stride(0), (Q if Q is not None else P).stride(0),
        TWO=Y2 is not None, PREC=resolve_precision(precision, C.dtype),
    )
    return P, Q
