"""Plain-torch reference for the two n x n operators (docs/DESIGN.md section 4).

Builds every n x n matrix explicitly and lets autograd differentiate it. It is the oracle the
fused backends are tested against, and only meant for small n.
"""
from __future__ import annotations

import torch


def zero_diagonal(C: torch.Tensor) -> torch.Tensor:
    """C0: C with its diagonal set to zero (differentiably; the diagonal gets no gradient)."""
    return C - torch.diag_embed(torch.diagonal(C))


def self_expression(C: torch.Tensor, Z: torch.Tensor) -> torch.Tensor:
    """C0 @ Z."""
    return zero_diagonal(C) @ Z


def laplacian_trace(C: torch.Tensor, X: torch.Tensor, X_hat: torch.Tensor) -> torch.Tensor:
    """Tr(X^T L_n X_hat) with L_n = I - S_hat, S_hat = D^-1/2 S D^-1/2, S = (|C0| + |C0|^T)/2 + I (so every
    degree is at least 1).

    Written as L_n = diag(r / deg) - S0_hat (r = deg - 1; S0_hat = S_hat off its diagonal): for small C,
    S_hat is near I and forming I - S_hat would cancel in float32."""
    A = zero_diagonal(C).abs()
    S0 = 0.5 * (A + A.T)
    r = S0.sum(dim=1)
    deg = r + 1.0
    a = deg.rsqrt()
    S0_hat = a[:, None] * S0 * a[None, :]
    return ((r / deg)[:, None] * X * X_hat).sum() - (X * (S0_hat @ X_hat)).sum()
