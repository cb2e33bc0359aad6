"""The fused training step on Triton: both operators over one C, one write of dC.

The bookkeeping (reusing the degrees of the self-expression pass, handing the trace's dC terms
to the self-expression backward) is backend-independent and lives in
``pssc_fast.chunked.GraphStep``; this module supplies the Triton primitives it runs on:

    forward   se_forward  1 pass over C  -> C0 Z, degrees, ||C0||^2
              shat_offdiag 1 pass over C and C^T -> S0_hat X_hat, S0_hat X
    backward  write_grad_c 1 pass over C, 1 write of dC -> dC (all terms), dZ
"""
from __future__ import annotations

import torch

from pssc_fast.chunked import GraphStep

from .laplacian_trace import TRITON_IMPL


def graph_step(C: torch.Tensor) -> GraphStep:
    """A ``GraphStep`` over ``C`` that runs on the Triton kernels (see ``pssc_fast.ops.graph_step``)."""
    return GraphStep(C, TRITON_IMPL)
