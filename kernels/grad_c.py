"""The one kernel that writes dC: self-expression outer product, trace terms and l2 in one pass.

For i != j (the diagonal of dC is 0):

    dC_ij = (dZc Z^T)_ij + sgn(C_ij) (h_i + h_j - u_i a_j N_ij) + l2 C_ij,
    N = X X_hat^T + X_hat X^T,

with h, u, a the trace's O(n) vectors (``pssc_fast.ops.primitives.TraceGrad``; docs/DESIGN.md section 4)
and l2 = 2 * d(loss)/d||C0||_F^2. The trace core K = h 1^T + 1 h^T - (u a^T) * N is symmetric, so
a program owns the tile pair (I, J), (J, I) with I <= J: it computes K_IJ once and writes both
dC tiles, which halves the 4 n^2 d flops of the N tiles. The same program reads C_IJ and C_JI
for the signs and, when asked, adds C0^T dZc to dZ with atomics, so the backward of a training
step reads C once and writes dC once.
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

from pssc_fast.ops.primitives import TraceGrad, resolve_precision, torch_matmul_precision

from . import utils
from .utils import block_of, mma

# (tiles, warps, stages). This pass carries 2 n^2 d of the step's ~6 n^2 d flops (the core tiles
# N = X X_hat^T + X_hat X^T on one triangle); a wider BLOCK reuses each loaded row of X / X_hat on more
# columns, a wider BLOCK_D gives the tensor cores longer products, and the core, C and dC tiles live at once.
# The first row is the tile the kernel had before autotuning (the "ieee" path can only get faster).
# (A 128 x 128 tile with 64-wide chunks needs 256 KiB of shared memory in TF32: more than sm_90 has.)
_SPACE = [
    (dict(BLOCK=64, BLOCK_D=32), 8, 3),
    (dict(BLOCK=64, BLOCK_D=64), 4, 3),
    (dict(BLOCK=64, BLOCK_D=64), 8, 3),
    (dict(BLOCK=128, BLOCK_D=32), 8, 3),
]
_FLOAT64 = [(dict(BLOCK=32, BLOCK_D=32), 8, 3), (dict(BLOCK=32, BLOCK_D=16), 4, 3)]
# Row blocks per group of the program order (below). Compiled: 8 row blocks and the ~30 column blocks a wave of
# programs reaches hold ~30 MB of X / X_hat rows at n = 32000, d = 784 - inside the H100/H200 L2 (50 MB), where
# row-major order would stream ~200 MB per wave from HBM. Under the interpreter 2, so that groups end unevenly.
_GROUP = 2 if utils.INTERPRET else 8


@triton.jit
def _sgn(x):
    # sgn(0) = 0, as torch's abs backward uses.
    return tl.where(x > 0, 1.0, tl.where(x < 0, -1.0, 0.0))


@triton.jit
def _write_tile(
    C, DC, DZC, Z, DZ, L2, rows, cols, m_rows, m_cols, core,
    m, stride_cm, stride_cn, stride_dc, stride_dzc, stride_z, stride_dz,
    HAS_SE: tl.constexpr, FUSE_DZ: tl.constexpr, HAS_TRACE: tl.constexpr, HAS_L2: tl.constexpr,
    BLOCK_MZ: tl.constexpr, PREC: tl.constexpr,
):
    # dC[rows, cols] and, with FUSE_DZ, dZ[cols] += C0[rows, cols]^T dZc[rows].
    mask = m_rows[:, None] & m_cols[None, :]
    # 64-bit offsets: beyond n = 46341 an n x n offset overflows int32.
    r64 = rows.to(tl.int64)
    c64 = cols.to(tl.int64)
    c = tl.load(C + r64[:, None] * stride_cm + c64[None, :] * stride_cn, mask=mask, other=0.0)
    diag = rows[:, None] == cols[None, :]
    c = tl.where(diag, 0.0, c)
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
            if FUSE_DZ:
                # C is already in registers: dZ = C0^T dZc costs no extra pass over C.
                # (tiles are square: C^T's rows number dZc's)
                dz = mma(tl.trans(c), dzc, tl.zeros(dzc.shape, dtype=c.dtype), PREC)
                tl.atomic_add(DZ + cols[:, None] * stride_dz + rk[None, :], dz, mask=m_cols[:, None] & mk[None, :])
    g = tl.where(diag, 0.0, g)
    tl.store(DC + r64[:, None] * stride_dc + c64[None, :], g, mask=mask)


# Sizes only bound loops and masks: specialising on them (== 1, multiple of 16) would only
# multiply compilations; strides keep their specialisation, which enables vector loads.
@utils.autotune(utils.configs(_SPACE, float64=_FLOAT64, interpreted=dict(BLOCK=16, BLOCK_D=16)),
                key=["n", "m", "d", "HAS_SE", "FUSE_DZ", "HAS_TRACE", "HAS_L2", "PREC"],
                prune_by=utils.prune({"BLOCK_D": "d"}), reset_to_zero=["DZ"])
@triton.jit(do_not_specialize=["n", "m", "d"])
def _grad_c_kernel(
    C, DC, DZC, Z, DZ, H, U, A, X, XH, L2,
    n, m, d,
    stride_cm, stride_cn, stride_dc, stride_dzc, stride_z, stride_dz, stride_x, stride_xh,
    HAS_SE: tl.constexpr, FUSE_DZ: tl.constexpr, HAS_TRACE: tl.constexpr, HAS_L2: tl.constexpr,
    BLOCK: tl.constexpr, BLOCK_MZ: tl.constexpr, BLOCK_D: tl.constexpr, PREC: tl.constexpr,
    GROUP: tl.constexpr,
):
    # Grouped order (Triton's matmul tutorial): consecutive programs take GROUP row blocks I and sweep the
    # column blocks J, so the X / X_hat rows of a wave of programs stay in L2.
    pid = tl.program_id(0)
    tiles = tl.cdiv(n, BLOCK)
    per_group = GROUP * tiles
    first = (pid // per_group) * GROUP
    rows_here = tl.minimum(tiles - first, GROUP)
    pid_i = first + (pid % per_group) % rows_here
    pid_j = (pid % per_group) // rows_here
    if pid_i > pid_j:
        return
    ri, mi = block_of(pid_i, BLOCK, n)
    rj, mj = block_of(pid_j, BLOCK, n)
    core = tl.zeros((BLOCK, BLOCK), dtype=C.dtype.element_ty)
    if HAS_TRACE:
        for k0 in range(0, d, BLOCK_D):
            rk = k0 + tl.arange(0, BLOCK_D)
            mk = rk < d
            # Rows of X and X_hat read along their rows (coalesced); the J operands transposed in registers.
            x_i = tl.load(X + ri[:, None] * stride_x + rk[None, :], mask=mi[:, None] & mk[None, :], other=0.0)
            xh_i = tl.load(XH + ri[:, None] * stride_xh + rk[None, :], mask=mi[:, None] & mk[None, :], other=0.0)
            xh_j = tl.load(XH + rj[:, None] * stride_xh + rk[None, :], mask=mj[:, None] & mk[None, :], other=0.0)
            x_j = tl.load(X + rj[:, None] * stride_x + rk[None, :], mask=mj[:, None] & mk[None, :], other=0.0)
            core = mma(x_i, tl.trans(xh_j), core, PREC)
            core = mma(xh_i, tl.trans(x_j), core, PREC)
        h_i = tl.load(H + ri, mask=mi, other=0.0)
        h_j = tl.load(H + rj, mask=mj, other=0.0)
        u_i = tl.load(U + ri, mask=mi, other=0.0)
        a_j = tl.load(A + rj, mask=mj, other=0.0)
        core = h_i[:, None] + h_j[None, :] - (u_i[:, None] * a_j[None, :]) * core
    _write_tile(C, DC, DZC, Z, DZ, L2, ri, rj, mi, mj, core,
                m, stride_cm, stride_cn, stride_dc, stride_dzc, stride_z, stride_dz,
                HAS_SE, FUSE_DZ, HAS_TRACE, HAS_L2, BLOCK_MZ, PREC)
    if pid_i != pid_j:
        # The mirror tile (J, I) reuses the symmetric core, transposed.
        _write_tile(C, DC, DZC, Z, DZ, L2, rj, ri, mj, mi, tl.trans(core),
                    m, stride_cm, stride_cn, stride_dc, stride_dzc, stride_z, stride_dz,
                    HAS_SE, FUSE_DZ, HAS_TRACE, HAS_L2, BLOCK_MZ, PREC)


def write_grad_c(C: torch.Tensor, *, se=None, trace: TraceGrad | None = None, l2=None, need_dc: bool = True,
                 need_dz: bool = True, precision: str = "ieee"):
    """``Primitives.write_grad_c`` (pssc_fast.ops.primitives): dC in one kernel (one pass, zero
    diagonal) and dZ = C0^T dZc, products at ``precision``.

    ``se`` = (dZc, Z) or None; ``trace`` = ``TraceGrad`` or None; ``l2`` = 0-d tensor or None.
    Returns ``(dC, dZ)``.
    """
    utils.check_launch(C)
    n = C.shape[0]
    dZc, Z = se if se is not None else (None, None)
    want_dz = need_dz and dZc is not None
    if not need_dc:
        # dZ alone is one skinny GEMM; no kernel of ours beats the vendor one at it.
        if not want_dz:
            return None, None
        with torch_matmul_precision(resolve_precision(precision, C.dtype)):
            return None, torch.mm(C.t(), dZc).addcmul_(C.diagonal()[:, None], dZc, value=-1)
    dC = torch.empty(n, n, dtype=C.dtype, device=C.device)
    dz = torch.zeros_like(Z) if want_dz else None
    if n == 0:
        return dC, dz
    dummy = C  # pointers behind a switched-off constexpr flag are never dereferenced (DZ's is zeroed: see below)
    if dZc is not None:
        dZc = dZc.contiguous()
        Z = Z.contiguous()
    m = Z.shape[1] if Z is not None else 1
    d = trace.X.shape[1] if trace is not None else 1
    if trace is not None:
        h, u, a = (v.contiguous() for v in (trace.h, trace.u, trace.a))
        X, XH = trace.X.contiguous(), trace.X_hat.contiguous()
    else:
        h = u = a = X = XH = dummy
    l2t = l2.reshape(1).to(C.dtype).contiguous() if l2 is not None else dummy
    grid = lambda meta: (triton.cdiv(n, meta["BLOCK"]) ** 2,)  # noqa: E731
    _grad_c_kernel[grid](
        # DZ is zeroed between autotuning runs: never let it point at C
        C, dC, dZc if dZc is not None else dummy, Z if Z is not None else dummy,
        dz if dz is not None else C.new_zeros(1),
        h, u, a, X, XH, l2t,
        n, m, d,
        C.stride(0), C.stride(1), dC.stride(0),
        dZc.stride(0) if dZc is not None else 0, Z.stride(0) if Z is not None else 0,
        dz.stride(0) if dz is not None else 0,
        X.stride(0) if trace is not None else 0, XH.stride(0) if trace is not None else 0,
        HAS_SE=dZc is not None and m > 0, FUSE_DZ=want_dz and m > 0, HAS_TRACE=trace is not None and d > 0,
        HAS_L2=l2 is not None,
        BLOCK_MZ=utils.chunk(m, 32), PREC=resolve_precision(precision, C.dtype), GROUP=_GROUP,
    )
    return dC, dz
