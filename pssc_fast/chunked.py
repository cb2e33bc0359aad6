"""Row-block chunked torch backend for the two n x n operators (docs/DESIGN.md section 4).

No n x n temporary exists besides C and its gradient: |C0|, S and S_hat only ever exist as row
blocks of a few tens of megabytes (``block_rows``), and the gradient of C is written once, block by
block, from O(n) vectors and the O(n x d) inputs. Works on CPU and CUDA tensors alike.

The module has three layers:

* primitives (``se_forward``, ``shat_offdiag``, ``write_grad_c``): the only code that touches n x n
  memory. The Triton backend implements the same three functions as kernels
  (``pssc_fast.kernels``), so everything below them is shared;
* the O(n x d) algebra of the Laplacian trace around those primitives (``trace_forward``,
  ``trace_backward``), and the standalone autograd Functions behind ``ops.self_expression`` and
  ``ops.laplacian_trace``;
* ``GraphStep``: both operators of one training step over the same C, sharing the degree pass
  and writing dC once (the trace's gradient in C is deferred into the self-expression backward).

Notation: A = |C0|, S = (A + A^T)/2 + I, deg = row sums of S, a = deg^-1/2,
S_hat = diag(a) S diag(a), and S0_hat = diag(a) (A + A^T)/2 diag(a) = S_hat - diag(a^2), its
off-diagonal part. The trace is computed from S0_hat and the diagonal 1 - a^2 = r / deg
(r = deg - 1, the row sums of (A + A^T)/2, known without subtracting): when C is small, S_hat is
close to I and I - S_hat would cancel in floating point (float32, C ~ 1e-6: 3e-3 relative error).
"""
from __future__ import annotations

from types import SimpleNamespace
from typing import NamedTuple

import torch

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
    n = C.shape[0]
    cuda = C.device.type == "cuda"
    if not cuda and n * n * C.element_size() <= CPU_WHOLE_MATRIX_BYTES:
        return int(max(1, n))
    budget = CUDA_BLOCK_BYTES if cuda else CPU_BLOCK_BYTES
    fraction = -(-n // (CUDA_MIN_BLOCKS if cuda else CPU_MIN_BLOCKS))
    return int(max(1, min(n, fraction, budget // max(1, n * C.element_size()))))


def _blocks(n: int, rows: int):
    for s in range(0, n, rows):
        yield s, min(n, s + rows)


def check_operands(C: torch.Tensor, *others: torch.Tensor) -> None:
    """Raise ValueError unless ``others`` share C's dtype and device (the kernels assume it)."""
    if not C.is_floating_point():
        raise ValueError(f"C must be a floating-point tensor, got {C.dtype}")
    for t in others:
        if t.dtype != C.dtype or t.device != C.device:
            raise ValueError(
                f"operands must share C's dtype and device ({C.dtype}, {C.device}); got {t.dtype}, {t.device}"
            )


# --------------------------------------------------------------------------------------------
# Primitives: the only functions that read C or write dC.
# --------------------------------------------------------------------------------------------


class SEForward(NamedTuple):
    """Everything one pass over C yields: C0 Z and the row statistics of C0."""

    zc: torch.Tensor | None  # C0 @ Z, (n, m)
    row_abs: torch.Tensor | None  # row sums of |C0|, (n,)
    col_abs: torch.Tensor | None  # column sums of |C0|, (n,)
    sq: torch.Tensor | None  # row sums of C0**2, (n,)


def _flat_buffer(rows: int, cols: int, like: torch.Tensor) -> torch.Tensor:
    """Storage reused by every block; ``view`` of its head gives a contiguous block of any height."""
    return torch.empty(rows * cols, dtype=like.dtype, device=like.device)


def se_forward(C: torch.Tensor, Z: torch.Tensor | None = None, *, with_degrees: bool = False,
               with_sq: bool = False) -> SEForward:
    """C0 @ Z and, in the same pass over C, the row/column sums of |C0| and the row sums of C0**2.

    Any part not asked for is ``None``. Without degrees or squares this is one GEMM.
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


def shat_offdiag(C: torch.Tensor, a: torch.Tensor, Y1: torch.Tensor, Y2: torch.Tensor | None = None):
    """(S0_hat @ Y1, S0_hat @ Y2), S0_hat = S_hat without its diagonal, built one row block at a time
    from C and C^T.

    ``Y2`` may be None (then the second result is None). One pass over C (rows and columns of
    each block); both right-hand sides share it.
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


def write_grad_c(C: torch.Tensor, *, se=None, trace: TraceGrad | None = None, l2=None,
                 need_dc: bool = True, need_dz: bool = True):
    """Write dC = [dZc Z^T + trace terms + l2 * C] with a zero diagonal, and dZ = C0^T dZc.

    ``se`` is ``(dZc, Z)`` or None; ``l2`` is a 0-d tensor (the coefficient of C, i.e. twice
    the upstream gradient of ||C0||_F^2) or None. Returns ``(dC, dZ)``, either None when not
    asked for. dC is the only n x n tensor allocated; it is written in one pass.
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


TORCH_IMPL = SimpleNamespace(name="torch", se_forward=se_forward, shat_offdiag=shat_offdiag,
                            write_grad_c=write_grad_c)
"""The torch primitives, as the shared autograd code below expects them."""


# --------------------------------------------------------------------------------------------
# O(n x d) algebra of the trace, shared by every backend.
# --------------------------------------------------------------------------------------------


class TraceSaved(NamedTuple):
    """What the trace's backward needs: O(n) vectors and O(n x d) residuals."""

    X: torch.Tensor
    X_hat: torch.Tensor
    a: torch.Tensor
    deg: torch.Tensor
    r_x: torch.Tensor | None  # X_hat - S_hat X_hat = dX / gT
    r_xh: torch.Tensor | None  # X - S_hat X = dX_hat / gT
    rho: torch.Tensor | None  # <x_i, (S_hat X_hat)_i> + <xh_i, (S_hat X)_i>


def trace_forward(shat_offdiag_fn, C, X, X_hat, row_abs, col_abs, *, need_x: bool, need_xh: bool,
                  need_c: bool):
    """T = sum <x_i, xh_i> - sum <x_i, (S_hat X_hat)_i>, and what its backward needs.

    Computed as T = sum (1 - a_i^2) <x_i, xh_i> - sum <x_i, (S0_hat X_hat)_i> with 1 - a_i^2 = r_i / deg_i,
    which has no cancellation of the order-one identity part (module docstring).
    ``shat_offdiag_fn`` is a backend's ``shat_offdiag`` primitive; ``row_abs``/``col_abs`` are the
    row/column sums of |C0| (from that backend's ``se_forward``).
    """
    r = 0.5 * (row_abs + col_abs)
    deg = r + 1.0
    a = deg.rsqrt()
    keep = r / deg  # 1 - a^2, the diagonal of L_n
    need_q = need_xh or need_c
    P, Q = shat_offdiag_fn(C, a, X_hat, X if need_q else None)
    x_xh = torch.linalg.vecdot(X, X_hat)
    xp = torch.linalg.vecdot(X, P)
    T = torch.dot(keep, x_xh) - xp.sum()
    # <x_i, (S_hat X_hat)_i> + <xh_i, (S_hat X)_i>, the diagonal a^2 added back (a sum: no cancellation)
    rho = (xp + torch.linalg.vecdot(X_hat, Q)).addcmul_(a.square(), x_xh, value=2.0) if need_c else None
    # The residuals overwrite S0_hat X_hat and S0_hat X in place: they are all backward keeps.
    r_x = P.neg_().addcmul_(keep[:, None], X_hat) if need_x else None
    r_xh = Q.neg_().addcmul_(keep[:, None], X) if need_xh else None
    return T, TraceSaved(X, X_hat, a, deg, r_x, r_xh, rho)


def trace_backward(saved: TraceSaved, gT: torch.Tensor, *, need_x: bool, need_xh: bool, need_c: bool):
    """(dX, dX_hat, TraceGrad or None) for upstream gradient ``gT`` (a 0-d tensor)."""
    dX = saved.r_x * gT if need_x else None
    dXh = saved.r_xh * gT if need_xh else None
    tg = None
    if need_c:
        g = saved.rho / (2.0 * saved.deg)
        tg = TraceGrad(0.5 * gT * g, 0.5 * gT * saved.a, saved.a, saved.X, saved.X_hat)
    return dX, dXh, tg


# --------------------------------------------------------------------------------------------
# Standalone autograd Functions (``ops.self_expression`` / ``ops.laplacian_trace``).
# --------------------------------------------------------------------------------------------


class SelfExpressionFunction(torch.autograd.Function):
    """C0 @ Z; backward writes dC = dZc Z^T (zero diagonal) and dZ = C0^T dZc.

    ``impl`` is a namespace of primitives (``TORCH_IMPL`` or the Triton one).
    """

    @staticmethod
    def forward(ctx, C, Z, impl):
        ctx.impl = impl
        ctx.save_for_backward(C, Z)
        return impl.se_forward(C, Z).zc

    @staticmethod
    def backward(ctx, dZc):
        C, Z = ctx.saved_tensors
        dC, dZ = ctx.impl.write_grad_c(C, se=(dZc.contiguous(), Z), need_dc=ctx.needs_input_grad[0],
                                       need_dz=ctx.needs_input_grad[1])
        return dC, dZ, None


class LaplacianTraceFunction(torch.autograd.Function):
    """Tr(X^T L_n X_hat) computed without any n x n tensor; see docs/DESIGN.md section 4."""

    @staticmethod
    def forward(ctx, C, X, X_hat, impl):
        need_c, need_x, need_xh = ctx.needs_input_grad[:3]
        stats = impl.se_forward(C, None, with_degrees=True)
        T, saved = trace_forward(impl.shat_offdiag, C, X, X_hat, stats.row_abs, stats.col_abs,
                                 need_x=need_x, need_xh=need_xh, need_c=need_c)
        ctx.impl = impl
        ctx.save_for_backward(C, *saved)
        return T

    @staticmethod
    def backward(ctx, gT):
        C, *rest = ctx.saved_tensors
        need_c, need_x, need_xh = ctx.needs_input_grad[:3]
        dX, dXh, tg = trace_backward(TraceSaved(*rest), gT, need_x=need_x, need_xh=need_xh, need_c=need_c)
        dC = ctx.impl.write_grad_c(C, trace=tg, need_dz=False)[0] if tg is not None else None
        return dC, dX, dXh, None


def self_expression(C: torch.Tensor, Z: torch.Tensor) -> torch.Tensor:
    """C0 @ Z with the chunked torch backend; differentiable in C and Z."""
    check_operands(C, Z)
    return SelfExpressionFunction.apply(C, Z.contiguous(), TORCH_IMPL)


def laplacian_trace(C: torch.Tensor, X: torch.Tensor, X_hat: torch.Tensor) -> torch.Tensor:
    """Tr(X^T L_n X_hat) with the chunked torch backend; differentiable in C, X and X_hat."""
    check_operands(C, X, X_hat)
    return LaplacianTraceFunction.apply(C, X.contiguous(), X_hat.contiguous(), TORCH_IMPL)


# --------------------------------------------------------------------------------------------
# One training step: both operators over the same C, one write of dC.
# --------------------------------------------------------------------------------------------


_NEVER = object()


def _graph_task():
    """Id of the running backward pass (``torch.utils.checkpoint`` relies on the same call).

    Deferred gradient terms are tagged with it, so that a pass which stops short of the
    self-expression node (``autograd.grad`` of other inputs) cannot leak them into a later one.
    None where torch lacks the call.
    """
    fn = getattr(torch._C, "_current_graph_task_id", None)
    return fn() if fn is not None else None


def _depends_on(roots, token) -> bool:
    """True if a node tagged ``token`` is reachable from the autograd nodes ``roots``."""
    stack = [r for r in roots if r is not None]
    seen = set()
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if getattr(node, "pssc_step_token", None) is token:
            return True
        stack.extend(nxt for nxt, _ in node.next_functions if nxt is not None)
    return False


class _StepSelfExpression(torch.autograd.Function):
    @staticmethod
    def forward(ctx, C, Z, step):
        ctx.set_materialize_grads(False)
        out = step.impl.se_forward(C, Z, with_degrees=True, with_sq=True)
        step._stats = (out.row_abs, out.col_abs)
        ctx.step = step
        ctx.pssc_step_token = step._token
        ctx.save_for_backward(C, Z)
        return out.zc, out.sq.sum()

    @staticmethod
    def backward(ctx, dZc, dsq):
        C, Z = ctx.saved_tensors
        step = ctx.step
        task = _graph_task()
        pending, step._pending = step._pending, None
        # Terms left by a backward pass that never reached this node belong to no gradient.
        trace = pending[1] if pending is not None and pending[0] == task else None
        step._se_done_in = task
        se = (dZc.contiguous(), Z) if dZc is not None else None
        l2 = 2.0 * dsq if dsq is not None else None
        dC, dZ = step.impl.write_grad_c(C, se=se, trace=trace, l2=l2, need_dc=ctx.needs_input_grad[0],
                                        need_dz=ctx.needs_input_grad[1])
        return dC, dZ, None


class _StepTrace(torch.autograd.Function):
    @staticmethod
    def forward(ctx, C, X, X_hat, step, defer):
        need_c, need_x, need_xh = ctx.needs_input_grad[:3]
        row_abs, col_abs = step._stats if step._stats is not None else step.degrees()
        T, saved = trace_forward(step.impl.shat_offdiag, C, X, X_hat, row_abs, col_abs,
                                 need_x=need_x, need_xh=need_xh, need_c=need_c)
        ctx.step, ctx.defer = step, defer
        ctx.save_for_backward(C, *saved)
        return T

    @staticmethod
    def backward(ctx, gT):
        C, *rest = ctx.saved_tensors
        need_c, need_x, need_xh = ctx.needs_input_grad[:3]
        dX, dXh, tg = trace_backward(TraceSaved(*rest), gT, need_x=need_x, need_xh=need_xh, need_c=need_c)
        dC = None
        step = ctx.step
        if tg is not None:
            task = _graph_task()
            if ctx.defer and step._se_done_in != task:
                # The self-expression backward is certain to run after this one (X_hat depends on
                # its output); it will write these terms into the same dC as its own.
                step._pending = (task, tg)
            else:
                dC = step.impl.write_grad_c(C, trace=tg, need_dz=False)[0]
        return dC, dX, dXh, None, None


class GraphStep:
    """Both n x n operators of one training step over one C, with one write of dC.

    Usage (one instance per forward pass)::

        step = GraphStep(C, TORCH_IMPL)          # or pssc_fast.ops.graph_step(C)
        Zc = step.self_expression(Z)              # C0 Z; the same pass over C yields the degrees
        X_hat = decoder(Zc)
        T = step.laplacian_trace(X, X_hat)        # reuses the degrees: no extra pass over C
        loss = rec + 2 * T + g1 * se_err + lam * step.c0_sq_norm
        loss.backward()                           # dC written once: outer product + trace + l2

    The trace's gradient in C is handed to the self-expression backward instead of being
    written as a second n x n tensor. That is only done when the autograd graph guarantees the
    order (X or X_hat computed from this step's ``self_expression`` output); otherwise the trace
    writes its own dC and results are still exact. ``c0_sq_norm`` = ||C0||_F^2 comes out of the
    self-expression pass and its gradient (2 lam C0) joins the same write. Repeated backward
    passes (``retain_graph=True``) each write dC once.
    """

    def __init__(self, C: torch.Tensor, impl=TORCH_IMPL):
        if not isinstance(C, torch.Tensor) or C.dim() != 2 or C.shape[0] != C.shape[1]:
            raise ValueError(f"C must be a square 2-D tensor, got shape {tuple(getattr(C, 'shape', ()))}")
        self.C = C
        self.impl = impl
        self._token = object()
        self._stats = None
        self._pending = None  # (backward pass id, TraceGrad) deferred by the trace
        self._se_done_in = _NEVER  # backward pass in which the self-expression backward last ran
        self._se_called = False
        self._trace_deferred = False
        self.c0_sq_norm = None

    def degrees(self):
        """Row and column sums of |C0| (one pass over C, or none after ``self_expression``)."""
        if self._stats is None:
            with torch.no_grad():
                out = self.impl.se_forward(self.C.detach(), None, with_degrees=True)
            self._stats = (out.row_abs, out.col_abs)
        return self._stats

    def self_expression(self, Z: torch.Tensor) -> torch.Tensor:
        """C0 @ Z; also sets ``c0_sq_norm``. Call at most once per step."""
        if self._se_called:
            raise RuntimeError("GraphStep.self_expression may be called once per step; make a new step")
        if not isinstance(Z, torch.Tensor) or Z.dim() != 2 or Z.shape[0] != self.C.shape[0]:
            raise ValueError(f"Z must be (n, m) with n = {self.C.shape[0]}, got {tuple(getattr(Z, 'shape', ()))}")
        check_operands(self.C, Z)
        self._se_called = True
        Zc, sq = _StepSelfExpression.apply(self.C, Z.contiguous(), self)
        self.c0_sq_norm = sq
        return Zc

    def laplacian_trace(self, X: torch.Tensor, X_hat: torch.Tensor) -> torch.Tensor:
        """Tr(X^T L_n X_hat); its dC joins the self-expression backward when that is safe."""
        n = self.C.shape[0]
        for name, t in (("X", X), ("X_hat", X_hat)):
            if not isinstance(t, torch.Tensor) or t.dim() != 2 or t.shape[0] != n:
                raise ValueError(f"{name} must be (n, d) with n = {n}, got {tuple(getattr(t, 'shape', ()))}")
        if X.shape != X_hat.shape:
            raise ValueError(f"X and X_hat must have the same shape, got {tuple(X.shape)} and {tuple(X_hat.shape)}")
        check_operands(self.C, X, X_hat)
        defer = (self._se_called and not self._trace_deferred and self.C.requires_grad
                 and torch.is_grad_enabled()
                 and _depends_on([X.grad_fn, X_hat.grad_fn], self._token))
        self._trace_deferred |= defer
        return _StepTrace.apply(self.C, X.contiguous(), X_hat.contiguous(), self, defer)
