"""``backend="auto"``: which fused backend runs a training step of n rows, from a measured table.

On CUDA the rule is: the faster of "torch" and "triton" at this n and precision, by the table below, among those
whose own workspace fits the free memory (the chunked torch backend holds a few row blocks beyond dC; the
kernels hold only O(n x d)). Off CUDA it is "torch" (the kernels need CUDA). The table is measured, not
guessed: seconds per fused step (forward + backward of the coupled loss of bench/kernel_bench.py /
bench/kernel_scaling.py, m = 10, d = 784) on one NVIDIA H200. ``bench/kernel_bench.py`` writes a new one into its
JSON ("auto_rule") from the run on the GPU; paste it here.

Source of the numbers now in it: bench/results/cuda_h200/kernel_scaling_cuda.json ("ieee": torch's default
"highest") and kernel_scaling_cuda_tf32.json ("tf32"), measured before the kernels got tensor-core tiles and
autotuning, when the chunked torch step was 2.6x faster from n = 16000: with them the rule picks "torch" on
CUDA (Triton only where memory leaves no room for the torch workspace) until a new run refills the table.
"bf16" uses the "tf32" row until it has its own.
"""
from __future__ import annotations

import bisect
import math
from typing import NamedTuple

import torch

from . import chunked

#: precision -> backend -> {n: seconds per fused step}; see the module docstring for the source.
STEP_SECONDS = {
    "ieee": {
        "torch": {1000: 0.00234, 2000: 0.00237, 4000: 0.00376, 8000: 0.01173, 16000: 0.03989, 32000: 0.15316,
                  65536: 0.59295, 100000: 1.54923},
        "triton": {1000: 0.00214, 2000: 0.0025, 4000: 0.00771, 8000: 0.02728, 16000: 0.10426, 32000: 0.41373,
                   65536: 1.71628, 100000: 4.0071},
    },
    "tf32": {
        "torch": {2000: 0.00263, 8000: 0.0045, 16000: 0.01888, 32000: 0.07049, 65536: 0.23677},
        "triton": {2000: 0.00181, 8000: 0.01381, 16000: 0.05155, 32000: 0.2023, 65536: 0.83243},
    },
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
    kernels, whose temporaries are O(n x d)."""
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
