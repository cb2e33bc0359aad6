"""Normalized-Laplacian trace Tr(X^T L_n X_hat): S0_hat built in one fused pass, multiplied by cuBLAS.

Forward: one pass for the degrees (``self_expression.se_forward`` without Z), then ``shat_offdiag``:
one kernel reads each pair of tiles C_IJ, C_JI once and writes S0_hat_IJ = a_I a_J (|C0_IJ| + |C0_JI|^T)/2
and its mirror S0_hat_JI = S0_hat_IJ^T (S_hat without its diagonal, which the shared algebra adds as a
vector without cancellation; pssc_fast.ops.autograd); then two vendor GEMMs give S0_hat X_hat and
S0_hat X (which backward needs), and S0_hat is freed.

Why a matrix and a GEMM, not S0_hat rebuilt in the tiles of a fused product: the product is 4 n^2 d of the step's ~6
n^2 d flops, and a kernel that rebuilds S from C inside the product's K-loop gives its tensor cores short products
between elementwise work: on an H200 that forward took 102 ms at n = 32000, d = 784 in TF32, against 33 ms for the
chunked torch step's forward (bench/results/cuda_h200/2026-12-04); this one takes 16.5 ms (2026-12-04-split/). S0_hat costs one n x n buffer, but only during the
forward: the backward's one n x n tensor (dC) is allocated after it is freed, so the step's peak stays ~1 n x n.
Backward: dX = gT (X_hat - S_hat X_hat), dX_hat = gT (X - S_hat X), O(n) vectors rho and g, and the
one dC pass of ``grad_c`` (docs/DESIGN.md section 4).
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

from pssc_fast.ops.primitives import torch_matmul_precision

from . import utils
from .utils import block_of, tile_pair


@triton.jit(do_not_specialize=["n"])
def _shat_build_kernel(C, A, S, n, stride_cm, stride_cn, stride_s, BLOCK: tl.constexpr):
    # One program per pair of tiles (I, J), I <= J: C_IJ and C_JI are each read once, S0_hat_IJ and
    # S0_hat_JI each written once (S is symmetric), so the pass moves 2 n^2 entries at DRAM speed.
    pid_i, pid_j = tile_pair(tl.program_id(0), BLOCK, n)
    if pid_i > pid_j:
        return
    ri, mi = block_of(pid_i, BLOCK, n)
    rj, mj = block_of(pid_j, BLOCK, n)
    # 64-bit offsets: beyond n = 46341 an n x n offset overflows int32.
    ri64 = ri.to(tl.int64)
    rj64 = rj.to(tl.int64)
    mask = mi[:, None] & mj[None, :]
    c_ij = tl.load(C + ri64[:, None] * stride_cm + rj64[None, :] * stride_cn, mask=mask, other=0.0)
    # C[J, I] read along its rows (coalesced) and transposed in registers.
    c_ji = tl.load(C + rj64[:, None] * stride_cm + ri64[None, :] * stride_cn, mask=mj[:, None] & mi[None, :],
                   other=0.0)
    a_i = tl.load(A + ri, mask=mi, other=0.0)
    a_j = tl.load(A + rj, mask=mj, other=0.0)
    s = (0.5 * (tl.abs(c_ij) + tl.abs(tl.trans(c_ji)))) * (a_i[:, None] * a_j[None, :])
    # C0 has a zero diagonal, whatever C holds there.
    s = tl.where(ri[:, None] == rj[None, :], 0.0, s)
    tl.store(S + ri64[:, None] * stride_s + rj64[None, :], s, mask=mask)
    if pid_i != pid_j:
        tl.store(S + rj64[:, None] * stride_s + ri64[None, :], tl.trans(s), mask=mj[:, None] & mi[None, :])


def build_shat_offdiag(C: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """S0_hat = diag(a) (|C0| + |C0|^T)/2 diag(a) as a new n x n matrix (zero diagonal), in one pass over C."""
    utils.check_launch(C)
    n = C.shape[0]
    S = torch.empty(n, n, dtype=C.dtype, device=C.device)
    if n == 0:
        return S
    a = a.contiguous()
    block, warps = utils.pair_tile(C)
    _shat_build_kernel[(triton.cdiv(n, block) ** 2,)](C, a, S, n, C.stride(0), C.stride(1), S.stride(0),
                                                       BLOCK=block, num_warps=warps)
    return S


def shat_offdiag(C: torch.Tensor, a: torch.Tensor, Y1: torch.Tensor, Y2: torch.Tensor | None = None, *,
                 precision: str = "ieee"):
    """``Primitives.shat_offdiag`` (pssc_fast.ops.primitives): (S0_hat @ Y1, S0_hat @ Y2), S0_hat built by
    one kernel pass over C and C^T and multiplied by the vendor GEMM at ``precision`` (torch's matmul
    precision it maps to, as the torch backend); Y2 may be None."""
    S = build_shat_offdiag(C, a)
    with torch_matmul_precision(precision):
        # Two GEMMs, not one of width 2d: a concatenated right-hand side and its result would add ~0.1 n x n
        # of memory at n = 32000, d = 784, and reading S twice costs one cheap pass.
        P = torch.mm(S, Y1)
        Q = torch.mm(S, Y2) if Y2 is not None else None
    return P, Q
