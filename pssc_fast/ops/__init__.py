"""The two n x n operators of PSSC behind one backend switch.

``self_expression(C, Z)`` returns C0 @ Z and ``laplacian_trace(C, X, X_hat)`` returns
Tr(X^T L_n X_hat) (docs/DESIGN.md sections 2 and 4). Backends:

* ``"reference"``: plain torch that builds the n x n matrices (test oracle, small n);
* ``"torch"``: row-block chunked torch with hand-written autograd (CPU fallback, also on CUDA);
* ``"triton"``: fused Triton kernels (CUDA; on CPU only under ``TRITON_INTERPRET=1``);
* ``"auto"``: on CUDA the faster of torch and triton at this n and precision that fits the free memory, by a
  measured table (``ops.choice``); torch otherwise.

``precision=`` (``PRECISIONS``) sets how float32 products are formed: "ieee" (full fp32), "tf32" (TF32 tensor
cores, fp32 accumulation), "bf16" (bfloat16 operands, fp32 accumulation) or "auto" (torch's
``torch.get_float32_matmul_precision()``: "highest" -> ieee, "high" -> tf32, "medium" -> bf16). The kernels honour
it tile by tile; the torch backend runs its GEMMs under the torch matmul precision it maps to (on CUDA, tf32 and
bf16 both mean cuBLAS TF32; on most CPUs every value is full fp32); the reference ignores it. float64 is exact.

``graph_step(C)`` runs both operators of one training step over the same C with the fused
backends: the degrees come out of the self-expression pass and dC is written once per step.

The package imports only downward: at the bottom ``primitives`` (the ``Primitives`` interface each
fused backend implements) and ``autograd`` (the backend-neutral autograd Functions and
``GraphStep``); above them the backends ``reference``, ``chunked`` and ``triton_backend`` (which
imports the top-level ``kernels/`` folder, installed as ``pssc_fast.kernels``); this dispatch on top.
"""
from __future__ import annotations

import torch

from . import choice, chunked, reference
from .autograd import GraphStep, LaplacianTraceFunction, SelfExpressionFunction, check_operands
from .primitives import PRECISIONS, Primitives, resolve_precision

BACKENDS = ("auto", "reference", "torch", "triton")


def triton_available() -> bool:
    """Whether the triton package can be imported here."""
    try:
        import triton  # noqa: F401
    except Exception:
        return False
    return True


def backend_choice(backend: str, device: torch.device | None = None, *, n: int | None = None,
                   precision: str = "auto", reserve_bytes: int | None = None) -> choice.Choice:
    """The concrete backend ``backend`` stands for at a step of ``n`` rows on ``device``, and why.

    "auto" on CUDA follows ``ops.choice.choose`` (``reserve_bytes``: memory the caller will still need besides
    the step's workspace, by default one n x n gradient); without ``n`` it is "triton", the lean one.
    """
    if not isinstance(backend, str) or backend not in BACKENDS:
        raise ValueError(f"backend={backend!r} is not one of {BACKENDS}")
    precision = resolve_precision(precision)
    if backend != "auto":
        return choice.Choice(backend, "asked for")
    device = torch.device(device) if device is not None else torch.device("cpu")
    if device.type == "cuda" and n is None:
        return choice.Choice("triton" if triton_available() else "torch", "auto on cuda, size unknown")
    if device.type != "cuda":
        return choice.choose(n or 0, device, "ieee")
    reserve = n * n * 4 if reserve_bytes is None else reserve_bytes
    return choice.choose(n, device, precision, reserve_bytes=reserve, triton_ok=triton_available())


def resolve_backend(backend: str, device: torch.device | None = None, *, n: int | None = None,
                    precision: str = "auto") -> str:
    """Map ``backend`` (possibly "auto") to a concrete backend name (``backend_choice`` without the why)."""
    return backend_choice(backend, device, n=n, precision=precision).name


def _primitives(name: str, precision: str, dtype: torch.dtype) -> Primitives:
    """The tile primitives of the fused backend ``name`` ("torch" or "triton") at ``precision``."""
    if name == "torch":
        base = chunked.TORCH
    else:
        # Imported on first use only: importing the kernels imports triton (see triton_backend).
        from .triton_backend import TRITON as base
    return base.at(resolve_precision(precision, dtype))


def _check_square(C: torch.Tensor, n: int, other: str) -> None:
    if not isinstance(C, torch.Tensor) or C.dim() != 2 or C.shape[0] != C.shape[1]:
        raise ValueError(f"C must be a square 2-D tensor, got shape {tuple(getattr(C, 'shape', ()))}")
    if C.shape[0] != n:
        raise ValueError(f"C is {C.shape[0]}x{C.shape[0]} but {other} has {n} rows")


def self_expression(C: torch.Tensor, Z: torch.Tensor, *, backend: str = "auto", precision: str = "auto") -> torch.Tensor:
    """C0 @ Z, where C0 is C with its diagonal zeroed. Differentiable in C and Z."""
    if not isinstance(Z, torch.Tensor) or Z.dim() != 2:
        raise ValueError(f"Z must be a 2-D tensor (n, m), got {type(Z).__name__} {tuple(getattr(Z, 'shape', ()))}")
    _check_square(C, Z.shape[0], "Z")
    name = resolve_backend(backend, C.device, n=C.shape[0], precision=precision)
    if name == "reference":
        return reference.self_expression(C, Z)
    primitives = _primitives(name, precision, C.dtype)
    check_operands(C, Z)
    return SelfExpressionFunction.apply(C, Z.contiguous(), primitives)


def laplacian_trace(C: torch.Tensor, X: torch.Tensor, X_hat: torch.Tensor, *, backend: str = "auto",
                    precision: str = "auto") -> torch.Tensor:
    """Tr(X^T L_n X_hat), L_n the normalized Laplacian of S = (|C0|+|C0|^T)/2 + I. A scalar."""
    for name_, t in (("X", X), ("X_hat", X_hat)):
        if not isinstance(t, torch.Tensor) or t.dim() != 2:
            raise ValueError(f"{name_} must be a 2-D tensor (n, d), got shape {tuple(getattr(t, 'shape', ()))}")
    if X.shape != X_hat.shape:
        raise ValueError(f"X and X_hat must have the same shape, got {tuple(X.shape)} and {tuple(X_hat.shape)}")
    _check_square(C, X.shape[0], "X")
    name = resolve_backend(backend, C.device, n=C.shape[0], precision=precision)
    if name == "reference":
        return reference.laplacian_trace(C, X, X_hat)
    primitives = _primitives(name, precision, C.dtype)
    check_operands(C, X, X_hat)
    return LaplacianTraceFunction.apply(C, X.contiguous(), X_hat.contiguous(), primitives)


def graph_step(C: torch.Tensor, *, backend: str = "auto", precision: str = "auto") -> GraphStep:
    """Both n x n operators of one training step over ``C``, writing dC once.

    Returns a ``pssc_fast.ops.autograd.GraphStep`` with ``self_expression(Z)``,
    ``laplacian_trace(X, X_hat)`` and ``c0_sq_norm`` (= ||C0||_F^2, from the same pass)::

        step = ops.graph_step(C)
        Zc = step.self_expression(Z)
        X_hat = decoder(Zc)
        loss = ... + 2 * step.laplacian_trace(X, X_hat) + lam * step.c0_sq_norm
        loss.backward()

    Values and gradients equal those of ``self_expression`` / ``laplacian_trace``; the
    difference is cost: one pass over C fewer in the forward and a single n x n gradient in
    the backward. Make a new step for every forward pass. Backends: "torch", "triton", or
    "auto" (module docstring); "reference" has no fused form and is rejected.
    """
    _check_square(C, C.shape[0] if isinstance(C, torch.Tensor) and C.dim() == 2 else -1, "C")
    name = resolve_backend(backend, C.device, n=C.shape[0], precision=precision)
    if name == "reference":
        raise ValueError("graph_step has no reference backend; use self_expression/laplacian_trace with it")
    return GraphStep(C, _primitives(name, precision, C.dtype))
