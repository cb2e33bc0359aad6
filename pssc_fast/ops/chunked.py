"""Row-block chunked torch backend: the tile primitives of ``ops.primitives`` in plain torch.

No n x n temporary exists besides C and its gradient: |C0|, S and S_hat only ever exist as row
blocks of a few tens of megabytes (``block_rows``), and the gradient of C is written once, block by
block, from O(n) vectors and the O(n x d) inputs. Works on CPU and CUDA tensors alike.

The module is the three primitives (``se_forward``, ``shat_offdiag``, ``write_grad_c``) and the sizing
of their row blocks; ``TORCH`` bundles them for the backend-neutral autograd of ``ops.autograd``
(docs/DESIGN.md section 4; notation in ``ops.primitives``).
"""
from __future__ import annotations

import functools

import torch

from .primitives import Primitives, PrimitiveSet, SEForward, TraceGrad, torch_matmul_precision

# Row blocks must be tall: every block's GEMM re-packs its whole n-row right-hand side, so on
# CPU (MKL, 2 threads) blocks of 64 rows ran the trace's GEMMs 3x slower than one big GEMM and
# 512-1024 rows within 10%. A few such blocks are the only temporaries: each is capped by a byte
# budget and by a fraction of n, so that none is ever as large as an n x n matrix (on an H200 a
# 256 MiB budget alone made single blocks of n = 8000 and 3.5 n x n of peak memory).
CPU_BLOCK_BYTES = 32 << 20
CUDA_BLOCK_BYTES = 256 << 20
CPU_MIN_BLOCKS = 4
CUDA_MIN_BLOCKS = 8
# Below this many bytes of C (n <= 2048 in float32) one block spans the whole matrix on CPU: its one
# n x n temporary is small, and whole GEMMs ran a COIL20 step (n = 1440) 16 % faster than 4 blocks
# (ORL, n = 400: 10 %; 2 threads, bench/finetune_speed.py's setting).
CPU_WHOLE_MATRIX_BYTES = 16 << 20


def block_rows(C: torch.Tensor) -> int:
    """Rows per block for an n x n matrix like ``C`` (at least 1, at most n)."""
    return rows_per_block(C.shape[0], C.element_size(), cuda=C.device.type == "cuda")


def rows_per_block(n: int, itemsize: int, *, cuda: bool) -> int:
    """``block_rows`` of an n x n matrix of ``itemsize``-byte entries, on CUDA or not."""
    if not cuda and n * n * itemsize <= CPU_WHOLE_MATRIX_BYTES:
        return int(max(1, n))
    budget = CUDA_BLOCK_BYTES if cuda else CPU_BLOCK_BYTES
    fraction = -(-n // (CUDA_MIN_BLOCKS if cuda else CPU_MIN_BLOCKS))
    return int(max(1, min(n, fraction, budget // max(1, n * itemsize))))


def _at_precision(fn):
    """``fn`` with a ``precision=`` keyword: its GEMMs run under the torch matmul precision it maps to
    (``ops.primitives.torch_matmul_precision``); the torch backend has no other way to honour it."""
    @functools.wraps(fn)
    def run(*args, precision: str = "ieee", **kwargs):
        with torch_matmul_precision(precision):
            return fn(*args, **kwargs)
    return run


def _blocks(n: int, rows: int):
    for s in range(0, n, rows):
        yield s, min(n, s + rows)


def _flat_buffer(rows: int, cols: int, like: torch.Tensor) -> torch.Tensor:
    """Storage reused by every block; ``view`` of its head gives a contiguous block of any height."""
    return torch.empty(rows * cols, dtype=like.dtype, device=like.device)


@_at_precision
def se_forward(C: torch.Tensor, Z: torch.Tensor | None = None, *, with_degrees: bool = False,
               with_sq: bool = False) -> SEForward:
    """``Primitives.se_forward``: C0 @ Z and the row statistics of C0, one row block of C at a time.

    Without degrees or squares this is one GEMM.
    """
    n = C.shape[0]
    zc = None
    if not (with_degrees or with_sq):
        if Z is not None:
            # C0 Z = C Z - diag(C) Z: no copy of C with its diagonal zeroed is ever made.
            zc = torch.mm(C, Z).addcmul_(C.diagonal()[:, None], Z, value=-1)
        return SEForward(zc, None, None, None)
    if Z is not None:
        zc = torch.empty(n, Z.shape[1], dtype=C.dtype, device=C.device)
    row = torch.empty(n, dtype=C.dtype, device=C.device)
    col = torch.zeros(n, dtype=C.dtype, device=C.device)
    sq = torch.empty(n, dtype=C.dtype, device=C.device) if with_sq else None
    rows = block_rows(C)
    buf = _flat_buffer(min(rows, n), n, C)
    for s, e in _blocks(n, rows):
        Cb = C[s:e]
        if zc is not None:
            torch.mm(Cb, Z, out=zc[s:e])
        # |C0| of the block in the same sweep over C as the GEMM.
        b = torch.abs(Cb, out=buf[: (e - s) * n].view(e - s, n))
        b.diagonal(s).zero_()  # entries (k, s + k) are C's diagonal
        torch.sum(b, dim=1, out=row[s:e])
        col += b.sum(dim=0)
        if sq is not None:
            torch.linalg.vector_norm(b, 2, dim=1, out=sq[s:e])
    if zc is not None:
        zc.addcmul_(C.diagonal()[:, None], Z, value=-1)
    if sq is not None:
        sq.square_()
    return SEForward(zc, row if with_degrees else None, col if with_degrees else None, sq)


@_at_precision
def shat_offdiag(C: torch.Tensor, a: torch.Tensor, Y1: torch.Tensor, Y2: torch.Tensor | None = None):
    """``Primitives.shat_offdiag``: (S0_hat @ Y1, S0_hat @ Y2), S0_hat built one row block at a time
    from C and C^T.

    One pass over C (rows and columns of each block); both right-hand sides share it.
    """
    n = C.shape[0]
    d1 = Y1.shape[1]
    # One right-hand side of width d1 (+ d2) makes one GEMM per block; a is folded in up front.
    Y = Y1 * a[:, None] if Y2 is None else torch.cat([Y1, Y2], dim=1).mul_(a[:, None])
    out = torch.empty_like(Y)
    rows = block_rows(C)
    w_buf, c_buf, t_buf = (_flat_buffer(min(rows, n), n, C) for _ in range(3))
    for s, e in _blocks(n, rows):
        b = e - s
        W = torch.abs(C[s:e], out=w_buf[: b * n].view(b, n))
        # The block's rows of |C0|^T are a column block of C. Reading that block row by row and
        # transposing it as a whole (a blocked copy) is far cheaper than reading C with a
        # stride of n, which misses cache and TLB on every element.
        cols = torch.abs(C[:, s:e], out=c_buf[: n * b].view(n, b))
        W.add_(t_buf[: b * n].view(b, n).copy_(cols.t()))
        W.diagonal(s).zero_()
        # Rows of (|C0| + |C0|^T)/2: the 1/2 acts on the b x d result.
        torch.mm(W, Y, out=out[s:e]).mul_(0.5)
    out.mul_(a[:, None])
    if Y2 is None:
        return out, None
    return out[:, :d1], out[:, d1:]


@_at_precision
def write_grad_c(C: torch.Tensor, *, se=None, trace: TraceGrad | None = None, l2=None,
                 need_dc: bool = True, need_dz: bool = True):
    """``Primitives.write_grad_c``: dC (all terms, zero diagonal) and dZ = C0^T dZc, by row slabs.

    dC is the only n x n tensor allocated; it is written in one pass.
    """
    n = C.shape[0]
    dZc, Z = se if se is not None else (None, None)
    want_dz = need_dz and dZc is not None
    if not need_dc:
        return None, _c0t_times(C, dZc) if want_dz else None
    dC = torch.empty(n, n, dtype=C.dtype, device=C.device)
    dz = None
    if trace is None:
        # Without the trace the outer product is a single GEMM straight into dC.
        if dZc is not None:
            torch.mm(dZc, Z.t(), out=dC)
        else:
            dC.zero_()
        if l2 is not None:
            dC.addcmul_(C, l2)
        dC.diagonal().zero_()
        return dC, _c0t_times(C, dZc) if want_dz else None

    h, u, a, X, Xh = trace
    if want_dz:
        dzt = torch.zeros(Z.shape[1], n, dtype=C.dtype, device=C.device)
    neg_a = -a
    rows = block_rows(C)

    def core(s, e, lo, hi, Lx, Lxh):
        # u_i N_ij by two GEMMs with row-scaled (block-sized) left operands, then
        # K = h_i + h_j - a_j (u_i N_ij) in two passes over the block: scaling the columns of the
        # output instead of the right operands avoids two n x d copies of X and X_hat.
        K = torch.mm(Lx, Xh[lo:hi].t()).addmm_(Lxh, X[lo:hi].t())
        torch.addcmul(h[None, lo:hi], K, neg_a[None, lo:hi], out=K)
        return K.add_(h[s:e, None])

    def finish(blk, Cblk, dzc_rows, z_cols):
        if dzc_rows is not None:
            blk.addmm_(dzc_rows, z_cols.t())
        if l2 is not None:
            blk.addcmul_(Cblk, l2)

    # The core K_ij = h_i + h_j - u_i a_j N_ij, N = X Xh^T + Xh X^T, is symmetric, so each block
    # of K is computed once (upper triangle, by row slabs) and used for both dC[I, J] and
    # dC[J, I]: the trace's outer products cost 2 n^2 d flops instead of 4 n^2 d.
    for s, e in _blocks(n, rows):
        b = e - s
        Lx, Lxh = X[s:e] * u[s:e, None], Xh[s:e] * u[s:e, None]
        Kd = core(s, e, s, e, Lx, Lxh)
        row = torch.sign(C[s:e, s:], out=dC[s:e, s:])
        row[:, :b].mul_(Kd)
        if e < n:
            Kr = core(s, e, e, n, Lx, Lxh)
            row[:, b:].mul_(Kr)
            col = torch.sign(C[e:, s:e], out=dC[e:, s:e]).mul_(Kr.t())
            finish(col, C[e:, s:e], dZc[e:] if dZc is not None else None, Z[s:e] if dZc is not None else None)
        finish(row, C[s:e, s:], dZc[s:e] if dZc is not None else None, Z[s:] if dZc is not None else None)
        if want_dz:
            # dZ^T = dZc^T C, accumulated from the same blocks of C while they are in cache.
            dzt[:, s:].addmm_(dZc[s:e].t(), C[s:e, s:])
            if e < n:
                dzt[:, s:e].addmm_(dZc[e:].t(), C[e:, s:e])
    dC.diagonal().zero_()
    if want_dz:
        # Row and column slabs cover every entry of C exactly once, the diagonal included.
        dz = dzt.t().contiguous().addcmul_(C.diagonal()[:, None], dZc, value=-1)
    return dC, dz


def _c0t_times(C: torch.Tensor, dZc: torch.Tensor) -> torch.Tensor:
    """C0^T dZc as (dZc^T C)^T: MKL streams C far faster this way than as a transposed operand."""
    return torch.mm(dZc.t(), C).t().contiguous().addcmul_(C.diagonal()[:, None], dZc, value=-1)


TORCH: Primitives = PrimitiveSet("torch", se_forward, shat_offdiag, write_grad_c)
"""The primitives above, for the shared autograd code of ``ops.autograd``."""
