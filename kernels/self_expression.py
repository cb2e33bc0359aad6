"""Self-expression C0 @ Z fused with the statistics of C0, in one pass over C.

Each program owns a block of rows of C (and a chunk of Z's columns) and streams across the row:
the same tiles yield C0 Z, the row sums of |C0| (plain stores) and the column sums of |C0|
(atomic adds), plus the row sums of C0**2 for ||C0||_F^2. The degrees of S are
1 + (row + column sums) / 2, so the Laplacian trace needs no extra pass over C after this one.

Backward (dZ = C0^T dZc, dC = dZc Z^T with a zero diagonal) is the dC writer in ``grad_c``; the
autograd around both is ``pssc_fast.ops.autograd``, shared with the torch backend.
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

from pssc_fast.ops.primitives import SEForward, resolve_precision

from . import utils
from .utils import block_of, mma

# (tiles, warps, stages). The pass reads C once and its products are n x n x m with m ~ 10: it is bound by
# memory, and larger tiles of C mostly mean fewer atomic adds of the column sums. The first row is the
# tile the kernel had before autotuning, so that the tuned kernel can be no slower than it.
_SPACE = [
    (dict(BLOCK_M=64, BLOCK_N=64), 4, 3),
    (dict(BLOCK_M=128, BLOCK_N=64), 4, 3),
    (dict(BLOCK_M=64, BLOCK_N=128), 4, 3),
    (dict(BLOCK_M=128, BLOCK_N=128), 8, 2),
]
_FLOAT64 = [(dict(BLOCK_M=32, BLOCK_N=32), 4, 3), (dict(BLOCK_M=64, BLOCK_N=32), 4, 3)]


# Sizes only bound loops and masks: specialising on them (== 1, multiple of 16) would only
# multiply compilations; strides keep their specialisation, which enables vector loads.
@utils.autotune(utils.configs(_SPACE, float64=_FLOAT64, interpreted=dict(BLOCK_M=16, BLOCK_N=16)),
                key=["n", "m", "HAS_Z", "STATS", "SQUARES", "PREC"], prune_by=utils.prune({}),
                reset_to_zero=["COL"])
@triton.jit(do_not_specialize=["n", "m"])
def _se_fwd_kernel(
    C, Z, ZC, ROW, COL, SQ,
    n, m,
    stride_cm, stride_cn, stride_z, stride_zc,
    HAS_Z: tl.constexpr, STATS: tl.constexpr, SQUARES: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr, PREC: tl.constexpr,
):
    pid_k = tl.program_id(1)
    rm, mask_m = block_of(tl.program_id(0), BLOCK_M, n)
    rk, mask_k = block_of(pid_k, BLOCK_K, m)
    dt = C.dtype.element_ty
    acc = tl.zeros((BLOCK_M, BLOCK_K), dtype=dt)
    row = tl.zeros((BLOCK_M,), dtype=dt)
    sq = tl.zeros((BLOCK_M,), dtype=dt)
    for start in range(0, n, BLOCK_N):
        rn = start + tl.arange(0, BLOCK_N)
        mask_n = rn < n
        # 64-bit offsets: beyond n = 46341 an n x n offset overflows int32.
        c = tl.load(C + rm[:, None].to(tl.int64) * stride_cm + rn[None, :].to(tl.int64) * stride_cn,
                    mask=mask_m[:, None] & mask_n[None, :], other=0.0)
        c = tl.where(rm[:, None] == rn[None, :], 0.0, c)
        if HAS_Z:
            z = tl.load(Z + rn[:, None] * stride_z + rk[None, :],
                        mask=mask_n[:, None] & mask_k[None, :], other=0.0)
            acc = mma(c, z, acc, PREC)
        if STATS:
            # When m spans several chunks, only the first chunk's programs count the statistics.
            if pid_k == 0:
                ab = tl.abs(c)
                row += tl.sum(ab, axis=1)
                tl.atomic_add(COL + rn, tl.sum(ab, axis=0), mask=mask_n)
                if SQUARES:
                    sq += tl.sum(c * c, axis=1)
    if HAS_Z:
        tl.store(ZC + rm[:, None] * stride_zc + rk[None, :], acc, mask=mask_m[:, None] & mask_k[None, :])
    if STATS:
        if pid_k == 0:
            tl.store(ROW + rm, row, mask=mask_m)
            if SQUARES:
                tl.store(SQ + rm, sq, mask=mask_m)


def se_forward(C: torch.Tensor, Z: torch.Tensor | None = None, *, with_degrees: bool = False,
               with_sq: bool = False, precision: str = "ieee") -> SEForward:
    """``Primitives.se_forward`` (pssc_fast.ops.primitives): C0 @ Z and the row statistics of C0 in
    one kernel, one pass over C; C0 @ Z's products at ``precision`` (the statistics are exact sums)."""
    utils.check_launch(C)
    n = C.shape[0]
    stats = with_degrees or with_sq
    if Z is None and not stats:
        return SEForward(None, None, None, None)
    kw = dict(dtype=C.dtype, device=C.device)
    m = 1
    zc = None
    if Z is not None:
        Z = Z.contiguous()
        m = Z.shape[1]
        zc = torch.empty(n, m, **kw)
    row = torch.empty(n, **kw) if stats else None
    col = torch.zeros(n, **kw) if stats else None
    sq = torch.empty(n, **kw) if with_sq else None
    if n == 0 or (Z is not None and m == 0 and not stats):
        return SEForward(zc, row, col, sq)
    has_z = Z is not None and m > 0
    block_k = utils.chunk(m, 64)
    grid = lambda meta: (triton.cdiv(n, meta["BLOCK_M"]), triton.cdiv(m, block_k) if has_z else 1)  # noqa: E731
    dummy = C  # pointer arguments a constexpr flag switches off are never dereferenced
    _se_fwd_kernel[grid](
        # COL is zeroed between autotuning runs: never let it point at C
        C, Z if Z is not None else dummy, zc if zc is not None else dummy,
        row if stats else dummy, col if stats else C.new_zeros(1), sq if with_sq else dummy,
        n, m,
        C.stride(0), C.stride(1), Z.stride(0) if Z is not None else 0, zc.stride(0) if zc is not None else 0,
        HAS_Z=has_z, STATS=stats, SQUARES=with_sq, BLOCK_K=block_k, PREC=resolve_precision(precision, C.dtype),
    )
    return SEForward(zc, row if with_degrees else None, col if with_degrees else None, sq)
