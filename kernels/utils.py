"""What the Triton launchers and kernels share: device checks, dot precision, tile configurations and
autotuning, index blocks."""
from __future__ import annotations

import inspect
import os
import statistics
import time

import torch
import triton
import triton.language as tl


# triton.jit picks the interpreter or the compiler when a kernel is decorated, i.e. when the
# kernel modules are imported; reading the variable once here keeps the checks consistent with it.
INTERPRET = os.environ.get("TRITON_INTERPRET", "0") == "1"
_INTERPRETED: tl.constexpr = tl.constexpr(INTERPRET)


def check_device(C: torch.Tensor) -> None:
    """Raise a clear error where Triton cannot run on ``C``'s device."""
    if C.device.type == "cuda" or (INTERPRET and C.device.type == "cpu"):
        return
    raise RuntimeError(
        f"the triton backend needs CUDA tensors (got {C.device}); on CPU it runs only under the "
        "interpreter, with TRITON_INTERPRET=1 set before pssc_fast.kernels is imported"
    )


def check_dtype(C: torch.Tensor) -> None:
    """The kernels accumulate in C's dtype; only float32 and float64 are supported."""
    if C.dtype not in (torch.float32, torch.float64):
        raise ValueError(f"the triton backend supports float32 and float64, got {C.dtype}")


def check_launch(C: torch.Tensor) -> None:
    """What every launcher checks before it starts a kernel on ``C``: device, then dtype."""
    check_device(C)
    check_dtype(C)


def chunk(width: int, cap: int) -> int:
    """Power-of-two chunk (16 <= chunk <= cap) for a dimension of ``width`` columns.

    tl.dot needs every dimension >= 16; the cap bounds register use. (Every tl.dot in these
    kernels passes ``out_dtype`` explicitly: Triton 3.6 defaults it to float32 and then rejects
    a float64 accumulator.)
    """
    return max(16, min(cap, triton.next_power_of_2(max(1, width))))


# -- tile configurations and autotuning ----------------------------------------------------------

def configs(space, *, float64, interpreted):
    """``triton.Config`` list for ``@autotune``: ``space`` rows are (tile kwargs, num_warps, num_stages).

    Under the interpreter one small config (``interpreted``: every tile is a few numpy calls, so small tiles
    keep tests fast and make modest shapes span several tiles; nothing is timed). Compiled, the float32
    space plus the float64 configs (``float64``: half the tile side, half the registers of a float64 tile),
    which :func:`prune` keeps apart by C's dtype; ``PSSC_TRITON_CONFIG=i`` keeps only the i-th of each.
    """
    if INTERPRET:
        return [triton.Config(interpreted, num_warps=1)]
    forced = os.environ.get("PSSC_TRITON_CONFIG")
    if forced:
        # One config, untimed: the i-th of each space (cyclically), so that tests can check every config on a
        # GPU, one process each (bench/gpu_all.sh); read when the kernels are imported.
        i = int(forced)
        space, float64 = [space[i % len(space)]], [float64[i % len(float64)]]
    out = []
    for rows, f64 in ((space, False), (float64, True)):
        for kw, w, s in rows:
            config = triton.Config(dict(kw), num_warps=w, num_stages=s)
            config.float64 = f64  # read by prune(), not a kernel argument
            out.append(config)
    return out


def prune(widths):
    """``early_config_prune`` keeping the configs of C's dtype, with every chunk named in ``widths``
    (config key -> kernel argument giving the width it chunks) capped at that width's power of two
    (a 128-wide chunk of 10 columns only wastes registers); duplicates dropped."""
    def keep(configs_, named_args, **kwargs):
        f64 = named_args["C"].dtype == torch.float64
        out, seen = [], set()
        for c in configs_:
            if getattr(c, "float64", False) != f64:
                continue
            kw = dict(c.kwargs)
            for key, arg in widths.items():
                kw[key] = chunk(int({**named_args, **kwargs}[arg]), kw[key])
            sig = (tuple(sorted(kw.items())), c.num_warps, c.num_stages)
            if sig not in seen:
                seen.add(sig)
                out.append(triton.Config(kw, num_warps=c.num_warps, num_stages=c.num_stages))
        return out or [configs_[0]]
    return keep


def _quick_bench(kernel_call, quantiles=None, **_):
    """The autotuner's timer: one launch to compile and warm, then two timed (one when a launch takes
    over half a second). Triton's default runs every config >= 10 times, minutes at n = 65536. (Wall
    clock off CUDA: the interpreter, where the tests run the autotuner itself.)"""
    cuda = torch.cuda.is_available() and not INTERPRET

    def once():
        if not cuda:
            t0 = time.perf_counter()
            kernel_call()
            return (time.perf_counter() - t0) * 1e3
        start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        kernel_call()
        stop.record()
        torch.cuda.synchronize()
        return start.elapsed_time(stop)

    once()
    times = []
    for _ in range(2):
        times.append(once())
        if times[-1] > 500:
            break
    t = statistics.median(times)
    return [t, min(times), max(times)] if quantiles else t


def autotune(configs_, key, *, prune_by=None, reset_to_zero=None):
    """``triton.autotune`` with the quick timer and an on-disk cache of the choice, where this Triton has
    them (``do_bench``, ``cache_results``); a single config (the interpreter) is never timed."""
    have = inspect.signature(triton.autotune).parameters
    extra = {}
    if "do_bench" in have:
        extra["do_bench"] = _quick_bench
    if "cache_results" in have:
        extra["cache_results"] = True
    return triton.autotune(configs=configs_, key=key, reset_to_zero=reset_to_zero,
                           prune_configs_by={"early_config_prune": prune_by} if prune_by else None, **extra)


def best_config(kernel) -> dict | None:
    """The config an autotuned kernel ran with last (tile kwargs, warps, stages), for the benchmarks."""
    c = getattr(kernel, "best_config", None)
    if c is None:
        return None
    return {**c.kwargs, "num_warps": c.num_warps, "num_stages": c.num_stages}


# -- device code shared by the kernels -----------------------------------------------------------

@triton.jit
def mma(a, b, acc, PREC: tl.constexpr):
    """acc + a @ b with products at ``PREC``: "ieee" (fp32 FMA), "tf32" (tensor cores, fp32 accumulation) or
    "bf16" (operands rounded to bfloat16, tensor cores, fp32 accumulation); float64 passes "ieee"."""
    if PREC == "bf16":
        if _INTERPRETED:
            # Triton's interpreter misreads bfloat16 dot operands (3.9: errors of 1e9); the rounded operands
            # in float32 give the same products (a bf16 x bf16 product is exact in fp32), so the same sums.
            out = tl.dot(a.to(tl.bfloat16).to(tl.float32), b.to(tl.bfloat16).to(tl.float32), acc,
                         input_precision="ieee", out_dtype=tl.float32)
        else:
            out = tl.dot(a.to(tl.bfloat16), b.to(tl.bfloat16), acc, out_dtype=tl.float32)
    elif PREC == "tf32" and _INTERPRETED:
        # The interpreter computes a "tf32" dot in full fp32. Tensor cores read TF32 operands as fp32 with the
        # low 13 mantissa bits ignored: dropping them here lets the CPU tests check the TF32 error bound.
        a = (a.to(tl.int32, bitcast=True) & -8192).to(tl.float32, bitcast=True)
        b = (b.to(tl.int32, bitcast=True) & -8192).to(tl.float32, bitcast=True)
        out = tl.dot(a, b, acc, input_precision="ieee", out_dtype=acc.dtype)
    else:
        out = tl.dot(a, b, acc, input_precision=PREC, out_dtype=acc.dtype)
    return out


@triton.jit
def block_of(pid, BLOCK: tl.constexpr, size):
    """The indices of block ``pid`` (BLOCK wide) along an axis of ``size`` entries, and their mask."""
    offsets = pid * BLOCK + tl.arange(0, BLOCK)
    return offsets, offsets < size


# -- the passes that read and write pairs of n x n tiles -------------------------------------------

def pair_tile(C: torch.Tensor) -> tuple[int, int]:
    """(tile side, warps) of the kernels that visit C by pairs of mirrored tiles (``tile_pair``).

    These passes are bound by memory and some run in place (dC overwrites the GEMM result it reads), so they
    have one config and are never autotuned: an autotuner runs a kernel several times on the same buffers.
    64 x 64 float32 tiles are 256-byte rows, whole memory transactions; float64 halves the side to keep the
    registers of a tile. Under the interpreter 16, so that modest shapes span several tiles.
    """
    if INTERPRET:
        return 16, 1
    return (32, 4) if C.dtype == torch.float64 else (64, 4)


@triton.jit
def tile_pair(pid, BLOCK: tl.constexpr, n):
    """Program ``pid`` of a grid of cdiv(n, BLOCK)^2 as the tile pair (I, J); programs with I > J have nothing
    to do (the pair (J, I) owns both tiles) and return at once."""
    tiles = tl.cdiv(n, BLOCK)
    return pid // tiles, pid % tiles
