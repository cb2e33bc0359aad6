"""``backend="auto"``: which fused backend runs a training step of n rows, from a measured table.

On CUDA the rule is: the faster of "torch" and "triton" at this n and precision, by the table below, among those
whose own workspace fits the free memory (the chunked torch backend holds a few row blocks beyond dC; the kernels'
one n x n temporary, S0_hat in the forward, is freed before dC exists). Off CUDA it is "torch" (the kernels need
CUDA). The table is measured, not guessed: seconds per fused step (forward + backward of the coupled loss of
bench/kernel_bench.py / bench/kernel_scaling.py, m = 10, d = 784) on one NVIDIA H200. ``bench/kernel_bench.py``
writes a new one into its JSON ("auto_rule") from the run on the GPU; paste it here.

Source of the numbers now in it: bench/results/cuda_h200/2026-12-04-split/kernel_bench.json ("auto_rule"), the
Triton step with cuBLAS's GEMMs inside fused tile-pair passes, n = 4000 to 32000 (beyond the table a step scales as
n^2). Triton is the faster step at every size and precision measured: 2.5x at n = 32000 in TF32, 1.3x in ieee.
"""
from __future__ import annotations

import bisect
import math
from typing import NamedTuple

import torch

from . import chunked

#: precision -> backend -> {n: seconds per fused step}; see the module docstring for the source.
STEP_SECONDS = {
    "ieee": {"torch": {4000: 0.00896, 8000: 0.01231, 16000: 0.04141, 32000: 0.15852},
             "triton": {4000: 0.00256, 8000: 0.00835, 16000: 0.03173, 32000: 0.12387}},
    "tf32": {"torch": {4000: 0.00867, 8000: 0.01044, 16000: 0.01752, 32000: 0.07569},
             "triton": {4000: 0.00257, 8000: 0.00266, 16000: 0.008, 32000: 0.03021}},
    "bf16": {"torch": {4000: 0.00744, 8000: 0.01058, 16000: 0.0175, 32000: 0.07573},
             "triton": {4000: 0.003, 8000: 0.00255, 16000: 0.00863, 32000: 0.03273}},
}


class Choice(NamedTuple):
    """The backend a step runs on and why, in words (for ``verbose`` and the estimators' ``backend_``)."""

    name: str
    reason: str


def step_seconds(backend: str, n: int, precision: str) -> float | None:
    """Seconds per fused step of ``backend`` at ``n`` from the table: log-log interpolation between the
    measured sizes, n^2 scaling beyond them; None where the table has no row."""
    rows = STEP_SECONDS.get(precision) or STEP_SECONDS.get("tf32" if precision == "bf16" else "ieee")
    table = rows.get(backend) if rows else None
    if not table:
        return None
    sizes = sorted(table)
    if n <= sizes[0] or n >= sizes[-1]:
        edge = sizes[0] if n <= sizes[0] else sizes[-1]
        return table[edge] * (n / edge) ** 2
    i = bisect.bisect_left(sizes, n)
    lo, hi = sizes[i - 1], sizes[i]
    w = math.log(n / lo) / math.log(hi / lo)
    return math.exp((1 - w) * math.log(table[lo]) + w * math.log(table[hi]))


def workspace_bytes(backend: str, n: int, device: torch.device, itemsize: int = 4) -> int:
    """Memory a fused step allocates beyond its inputs and dC: the torch backend's row blocks (a bound: four
    blocks of ``chunked.block_rows`` rows, what its write of dC and its S_hat pass hold at once); 0 for the
    kernels, whose one n x n temporary (S0_hat, forward only) never lives beside dC."""
    if backend != "torch":
        return 0
    return 4 * chunked.rows_per_block(n, itemsize, cuda=device.type == "cuda") * n * itemsize


def choose(n: int, device: torch.device, precision: str, *, reserve_bytes: int = 0,
           triton_ok: bool = True) -> Choice:
    """The backend "auto" stands for at a step of ``n`` rows on ``device`` (``precision`` resolved).

    ``reserve_bytes``: what the caller will still allocate besides the step's workspace (dC, Adam's moments).
    """
    if device.type != "cuda":
        return Choice("torch", f"auto on {device.type}: the Triton kernels need CUDA")
    if not triton_ok:
        return Choice("torch", "auto on cuda: triton cannot be imported")
    free, _ = torch.cuda.mem_get_info(device)
    times = {b: step_seconds(b, n, precision) for b in ("torch", "triton")}
    fits = {b: workspace_bytes(b, n, device) + reserve_bytes <= 0.9 * free for b in times}
    ranked = sorted(times, key=lambda b: (not fits[b], times[b] if times[b] is not None else math.inf))
    best = ranked[0]
    shown = ", ".join(f"{b} {times[b]:.3g} s" for b in times if times[b] is not None)
    why = f"auto at n={n}, {precision}: measured step {shown} (ops.choice.STEP_SECONDS)"
    if not fits["torch"]:
        why += f"; torch's row blocks do not fit the {free / 2**30:.1f} GiB free"
    return Choice(best, why)
