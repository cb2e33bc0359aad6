"""The pass that writes dC: self-expression outer product, trace terms and l2, over a vendor GEMM's result.

For i != j (the diagonal of dC is 0):

    dC_ij = (dZc Z^T)_ij + sgn(C_ij) (h_i + h_j - u_i a_j N_ij) + l2 C_ij,
    N = M + M^T,  M = X X_hat^T,

with h, u, a the trace's O(n) vectors (``pssc_fast.ops.primitives.TraceGrad``; docs/DESIGN.md section 4)
and l2 = 2 * d(loss)/d||C0||_F^2. M, the trace's 2 n^2 d flops, is one vendor GEMM written straight into
dC's buffer; the kernel then turns it into dC in place. The trace core K = h 1^T + 1 h^T - (u a^T) * N is
symmetric and N_IJ needs both M_IJ and M_JI, so a program owns the tile pair (I, J), (J, I) with I <= J: it
reads both tiles of M (and of C, for the signs) before it writes either tile of dC, and no other program
touches them, which is what makes the pass safe in place. dZ = C0^T dZc is one skinny vendor GEMM.
So the backward of a training step allocates one n x n tensor (dC), as the torch backend's does.
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

from pssc_fast.ops.primitives import TraceGrad, resolve_precision, torch_matmul_precision

from . import utils
from .utils import block_of, mma, tile_pair


@triton.jit
def _sgn(x):
    # sgn(0) = 0, as torch's abs backward uses.
    return tl.where(x > 0, 1.0, tl.where(x < 0, -1.0, 0.0))


@triton.jit
def _write_tile(
    C, DC, DZC, Z, L2, rows, cols, m_rows, m_cols, core,
    m, stride_cm, stride_cn, stride_dc, stride_dzc, stride_z,
    HAS_SE: tl.constexpr, HAS_TRACE: tl.constexpr, HAS_L2: tl.constexpr, BLOCK_MZ: tl.constexpr,
    PREC: tl.constexpr,
):
    # dC[rows, cols] from the trace core of these rows and columns (when HAS_TRACE).
    mask = m_rows[:, None] & m_cols[None, :]
    # 64-bit offsets: beyond n = 46341 an n x n offset overflows int32.
    r64 = rows.to(tl.int64)
    c64 = cols.to(tl.int64)
    c = tl.load(C + r64[:, None] * stride_cm + c64[None, :] * stride_cn, mask=mask, other=0.0)
    g = tl.zeros(c.shape, dtype=c.dtype)
    if HAS_TRACE:
        g += _sgn(c) * core
    if HAS_L2:
        g += tl.load(L2) * c
    if HAS_SE:
        for k0 in range(0, m, BLOCK_MZ):
            rk = k0 + tl.arange(0, BLOCK_MZ)
            mk = rk < m
            dzc = tl.load(DZC + rows[:, None] * stride_dzc + rk[None, :], mask=m_rows[:, None] & mk[None, :], other=0.0)
            z = tl.load(Z + cols[:, None] * stride_z + rk[None, :], mask=m_cols[:, None] & mk[None, :], other=0.0)
            g = mma(dzc, tl.trans(z), g, PREC)
    g = tl.where(rows[:, None] == cols[None, :], 0.0, g)
    tl.store(DC + r64[:, None] * stride_dc + c64[None, :], g, mask=mask)


# Sizes only bound loops and masks: specialising on them (== 1, multiple of 16) would only
# multiply compilations; strides keep their specialisation, which enables vector loads.
@triton.jit(do_not_specialize=["n", "m"])
def _grad_c_kernel(
    C, DC, DZC, Z, H, U, A, L2,
    n, m,
    stride_cm, stride_cn, stride_dc, stride_dzc, stride_z,
    HAS_SE: tl.constexpr, HAS_TRACE: tl.constexpr, HAS_L2: tl.constexpr,
    BLOCK: tl.constexpr, BLOCK_MZ: tl.constexpr, PREC: tl.constexpr,
):
    pid_i, pid_j = tile_pair(tl.program_id(0), BLOCK, n)
    if pid_i > pid_j:
        return
    ri, mi = block_of(pid_i, BLOCK, n)
    rj, mj = block_of(pid_j, BLOCK, n)
    core = tl.zeros((BLOCK, BLOCK), dtype=C.dtype.element_ty)
    if HAS_TRACE:
        # DC holds M = X X_hat^T on entry: both tiles are read here, before either is overwritten below.
        ri64 = ri.to(tl.int64)
        rj64 = rj.to(tl.int64)
        m_ij = tl.load(DC + ri64[:, None] * stride_dc + rj64[None, :], mask=mi[:, None] & mj[None, :], other=0.0)
        m_ji = tl.load(DC + rj64[:, None] * stride_dc + ri64[None, :], mask=mj[:, None] & mi[None, :], other=0.0)
        h_i = tl.load(H + ri, mask=mi, other=0.0)
        h_j = tl.load(H + rj, mask=mj, other=0.0)
        u_i = tl.load(U + ri, mask=mi, other=0.0)
        a_j = tl.load(A + rj, mask=mj, other=0.0)
        core = h_i[:, None] + h_j[None, :] - (u_i[:, None] * a_j[None, :]) * (m_ij + tl.trans(m_ji))
    _write_tile(C, DC, DZC, Z, L2, ri, rj, mi, mj, core,
                m, stride_cm, stride_cn, stride_dc, stride_dzc, stride_z,
                HAS_SE, HAS_TRACE, HAS_L2, BLOCK_MZ, PREC)
    if pid_i != pid_j:
        # The mirror tile (J, I) reuses the symmetric core, transposed.
        _write_tile(C, DC, DZC, Z, L2, rj, ri, mj, mi, tl.trans(core),
                    m, stride_cm, stride_cn, stride_dc, stride_dzc, stride_z,
                    HAS_SE, HAS_TRACE, HAS_L2, BLOCK_MZ, PREC)


def write_grad_c(C: torch.Tensor, *, se=None, trace: TraceGrad | None = None, l2=None, need_dc: bool = True,
                 need_dz: bool = True, precision: str = "ieee"):
    """``Primitives.write_grad_c`` (pssc_fast.ops.primitives): dC (zero diagonal) by one vendor GEMM into its
    buffer and one kernel pass in place, and dZ = C0^T dZc; products at ``precision``.

    ``se`` = (dZc, Z) or None; ``trace`` = ``TraceGrad`` or None; ``l2`` = 0-d tensor or None.
    Returns ``(dC, dZ)``.
    """
    utils.check_launch(C)
    n = C.shape[0]
    dZc, Z = se if se is not None else (None, None)
    prec = resolve_precision(precision, C.dtype)
    dz = None
    if need_dz and dZc is not None:
        # One skinny GEMM; no kernel of ours beats the vendor one at it.
        with torch_matmul_precision(prec):
            dz = torch.mm(C.t(), dZc).addcmul_(C.diagonal()[:, None], dZc, value=-1)
    if not need_dc:
        return None, dz
    dC = torch.empty(n, n, dtype=C.dtype, device=C.device)
    if n == 0:
        return dC, dz
    dummy = C  # pointers behind a switched-off constexpr flag are never dereferenced
    if dZc is not None:
        dZc = dZc.contiguous()
        Z = Z.contiguous()
    m = Z.shape[1] if Z is not None else 1
    has_trace = trace is not None and trace.X.shape[1] > 0
    if has_trace:
        h, u, a = (v.contiguous() for v in (trace.h, trace.u, trace.a))
        with torch_matmul_precision(prec):
            torch.mm(trace.X, trace.X_hat.t(), out=dC)
    else:
        h = u = a = dummy
    l2t = l2.reshape(1).to(C.dtype).contiguous() if l2 is not None else dummy
    block, warps = utils.pair_tile(C)
    _grad_c_kernel[(triton.cdiv(n, block) ** 2,)](
        C, dC, dZc if dZc is not None else dummy, Z if Z is not None else dummy, h, u, a, l2t,
        n, m,
        C.stride(0), C.stride(1), dC.stride(0),
        dZc.stride(0) if dZc is not None else 0, Z.stride(0) if Z is not None else 0,
        HAS_SE=dZc is not None and m > 0, HAS_TRACE=has_trace, HAS_L2=l2 is not None,
        BLOCK=block, BLOCK_MZ=utils.chunk(m, 32), PREC=prec, num_warps=warps,
    )
    return dC, dz
