"""Backend-neutral autograd for the two n x n operators, run on any backend's ``Primitives``.

* the O(n x d) algebra of the Laplacian trace around the primitives (``trace_forward``,
  ``trace_backward``);
* the standalone autograd Functions behind ``ops.self_expression`` and ``ops.laplacian_trace``;
* ``GraphStep``: both operators of one training step over the same C, sharing the degree pass
  and writing dC once (the trace's gradient in C is deferred into the self-expression backward).

The trace is computed from S0_hat and the diagonal 1 - a^2 = r / deg (r = deg - 1, the row sums of
(A + A^T)/2, known without subtracting; notation in ``ops.primitives``): when C is small, S_hat is
close to I and I - S_hat would cancel in floating point (float32, C ~ 1e-6: 3e-3 relative error).

With ``ops.primitives`` this is the bottom of ``pssc_fast.ops``: it imports nothing else from
pssc_fast.
"""
from __future__ import annotations

from typing import NamedTuple

import torch

from .primitives import Primitives, TraceGrad


def check_operands(C: torch.Tensor, *others: torch.Tensor) -> None:
    """Raise ValueError unless ``others`` share C's dtype and device (the primitives assume it)."""
    if not C.is_floating_point():
        raise ValueError(f"C must be a floating-point tensor, got {C.dtype}")
    for t in others:
        if t.dtype != C.dtype or t.device != C.device:
            raise ValueError(
                f"operands must share C's dtype and device ({C.dtype}, {C.device}); got {t.dtype}, {t.device}"
            )


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


def trace_forward(ctx, primitives: Primitives, C, X, X_hat, row_abs, col_abs) -> torch.Tensor:
    """T = sum <x_i, xh_i> - sum <x_i, (S_hat X_hat)_i>; saves on ``ctx`` what ``trace_backward`` needs.

    Computed as T = sum (1 - a_i^2) <x_i, xh_i> - sum <x_i, (S0_hat X_hat)_i> with 1 - a_i^2 = r_i / deg_i,
    which has no cancellation of the order-one identity part (module docstring). ``ctx`` is that of an
    autograd Function whose first three inputs are C, X, X_hat; ``row_abs``/``col_abs`` are the
    row/column sums of |C0| (from the backend's ``se_forward``).
    """
    need_c, need_x, need_xh = ctx.needs_input_grad[:3]
    r = 0.5 * (row_abs + col_abs)
    deg = r + 1.0
    a = deg.rsqrt()
    keep = r / deg  # 1 - a^2, the diagonal of L_n
    need_q = need_xh or need_c
    P, Q = primitives.shat_offdiag(C, a, X_hat, X if need_q else None)
    x_xh = torch.linalg.vecdot(X, X_hat)
    xp = torch.linalg.vecdot(X, P)
    T = torch.dot(keep, x_xh) - xp.sum()
    # <x_i, (S_hat X_hat)_i> + <xh_i, (S_hat X)_i>, the diagonal a^2 added back (a sum: no cancellation)
    rho = (xp + torch.linalg.vecdot(X_hat, Q)).addcmul_(a.square(), x_xh, value=2.0) if need_c else None
    # The residuals overwrite S0_hat X_hat and S0_hat X in place: they are all backward keeps.
    r_x = P.neg_().addcmul_(keep[:, None], X_hat) if need_x else None
    r_xh = Q.neg_().addcmul_(keep[:, None], X) if need_xh else None
    ctx.save_for_backward(C, *TraceSaved(X, X_hat, a, deg, r_x, r_xh, rho))
    return T


def trace_backward(ctx, gT: torch.Tensor):
    """(C, dX, dX_hat, TraceGrad or None) for upstream gradient ``gT`` (a 0-d tensor), from what
    ``trace_forward`` saved on ``ctx``."""
    C, *rest = ctx.saved_tensors
    saved = TraceSaved(*rest)
    need_c, need_x, need_xh = ctx.needs_input_grad[:3]
    dX = saved.r_x * gT if need_x else None
    dXh = saved.r_xh * gT if need_xh else None
    tg = None
    if need_c:
        g = saved.rho / (2.0 * saved.deg)
        tg = TraceGrad(0.5 * gT * g, 0.5 * gT * saved.a, saved.a, saved.X, saved.X_hat)
    return C, dX, dXh, tg


# --------------------------------------------------------------------------------------------
# Standalone autograd Functions (``ops.self_expression`` / ``ops.laplacian_trace``).
# --------------------------------------------------------------------------------------------


class SelfExpressionFunction(torch.autograd.Function):
    """C0 @ Z; backward writes dC = dZc Z^T (zero diagonal) and dZ = C0^T dZc."""

    @staticmethod
    def forward(ctx, C, Z, primitives: Primitives):
        ctx.primitives = primitives
        ctx.save_for_backward(C, Z)
        return primitives.se_forward(C, Z).zc

    @staticmethod
    def backward(ctx, dZc):
        C, Z = ctx.saved_tensors
        dC, dZ = ctx.primitives.write_grad_c(C, se=(dZc.contiguous(), Z), need_dc=ctx.needs_input_grad[0],
                                             need_dz=ctx.needs_input_grad[1])
        return dC, dZ, None


class LaplacianTraceFunction(torch.autograd.Function):
    """Tr(X^T L_n X_hat) computed without any n x n tensor; see docs/DESIGN.md section 4."""

    @staticmethod
    def forward(ctx, C, X, X_hat, primitives: Primitives):
        stats = primitives.se_forward(C, None, with_degrees=True)
        ctx.primitives = primitives
        return trace_forward(ctx, primitives, C, X, X_hat, stats.row_abs, stats.col_abs)

    @staticmethod
    def backward(ctx, gT):
        C, dX, dXh, tg = trace_backward(ctx, gT)
        dC = ctx.primitives.write_grad_c(C, trace=tg, need_dz=False)[0] if tg is not None else None
        return dC, dX, dXh, None


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
        out = step.primitives.se_forward(C, Z, with_degrees=True, with_sq=True)
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
        dC, dZ = step.primitives.write_grad_c(C, se=se, trace=trace, l2=l2, need_dc=ctx.needs_input_grad[0],
                                              need_dz=ctx.needs_input_grad[1])
        return dC, dZ, None


class _StepTrace(torch.autograd.Function):
    @staticmethod
    def forward(ctx, C, X, X_hat, step, defer):
        row_abs, col_abs = step._stats if step._stats is not None else step.degrees()
        ctx.step, ctx.defer = step, defer
        return trace_forward(ctx, step.primitives, C, X, X_hat, row_abs, col_abs)

    @staticmethod
    def backward(ctx, gT):
        C, dX, dXh, tg = trace_backward(ctx, gT)
        dC = None
        step = ctx.step
        if tg is not None:
            task = _graph_task()
            if ctx.defer and step._se_done_in != task:
                # The self-expression backward is certain to run after this one (X_hat depends on
                # its output); it will write these terms into the same dC as its own.
                step._pending = (task, tg)
            else:
                dC = step.primitives.write_grad_c(C, trace=tg, need_dz=False)[0]
        return dC, dX, dXh, None, None


class GraphStep:
    """Both n x n operators of one training step over one C, with one write of dC.

    Usage (one instance per forward pass)::

        step = GraphStep(C, chunked.TORCH)        # or pssc_fast.ops.graph_step(C)
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

    def __init__(self, C: torch.Tensor, primitives: Primitives):
        if not isinstance(C, torch.Tensor) or C.dim() != 2 or C.shape[0] != C.shape[1]:
            raise ValueError(f"C must be a square 2-D tensor, got shape {tuple(getattr(C, 'shape', ()))}")
        self.C = C
        self.primitives = primitives
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
                out = self.primitives.se_forward(self.C.detach(), None, with_degrees=True)
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
