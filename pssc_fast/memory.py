"""Memory guard for the n x n state of the self-expression layer."""
from __future__ import annotations

import os

import torch

# n x n float32 buffers alive at the peak of a training step, per backend. C, its gradient and Adam's two
# moments are unavoidable (4); Adam adds its denominator, the pseudo-graph loss its n x n targets, the fused
# backends blocks of rows. Measured on CPU (peak RSS over a fresh process, torch backend): 6.7 at n = 8000,
# 7.4 with pseudo-supervision at n = 6000; the reference backend, whose autograd graph also keeps |C0|, S,
# S_hat, C0^2 and their gradients: 13.2 at n = 6000. The ridge warm start needs fewer (its n x n output)
# when the codes are narrower than n.
BUFFERS = {"reference": 15, "torch": 8, "triton": 8, "auto": 8}


def available_bytes(device: torch.device) -> int:
    """Free memory on ``device``: CUDA's free memory, or MemAvailable from /proc/meminfo on CPU."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES"))


def self_expression_bytes(n: int, backend: str = "auto", itemsize: int = 4) -> int:
    """Estimated bytes of the n x n state of one training step with ``backend``."""
    return BUFFERS.get(backend, BUFFERS["auto"]) * int(n) * int(n) * itemsize


def check_self_expression_fits(n: int, *, backend: str = "auto", device=torch.device("cpu")) -> None:
    """Raise MemoryError, before anything is allocated, when the n x n state cannot fit."""
    need = self_expression_bytes(n, backend)
    have = available_bytes(torch.device(device))
    if need > 0.9 * have:
        raise MemoryError(
            f"{n} samples need about {need / 2**30:.1f} GiB for the n x n self-expression state "
            f"(backend={backend!r}) but {torch.device(device).type} has {have / 2**30:.1f} GiB free; "
            f"use pssc_fast.fit_large(X, k, anchors=...) with fewer anchors"
            + (", or backend='torch'" if backend == "reference" else ""))


#: Blocks of this many bytes or more are mapped directly while fine-tuning on CPU (see map_large_blocks).
MMAP_THRESHOLD = 1 << 20
_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number
_large_blocks_mapped = False


def _glibc_mallopt():
    """glibc's ``mallopt`` or None (other C libraries, other systems)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
        libc.gnu_get_libc_version  # present in glibc only: musl and others have other malloc tunables
    except (OSError, AttributeError):
        return None
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return mallopt


_MALLOPT = _glibc_mallopt() if os.name == "posix" else None


def map_large_blocks(device) -> bool:
    """On CPU with glibc, fix malloc's mmap threshold at :data:`MMAP_THRESHOLD` (1 MiB) for this process.

    A full-batch step allocates and frees many large temporaries. glibc raises its mmap threshold each time
    a mapped block is freed, so later blocks of that size come from the heap, where they stay after being
    freed, fragmented: peak resident memory climbs step after step (COIL20, 10 DSC-L2 steps of
    bench/finetune_speed.py: 1.09 GiB with glibc's defaults, 0.70 GiB with the threshold fixed, 1 thread).
    With it fixed, every block of 1 MiB or more
    is mapped and unmapped directly and goes back to the system when freed. glibc cannot return to its
    dynamic threshold afterwards, so the setting stays for the rest of the process; set the environment
    variable ``PSSC_FAST_KEEP_MALLOC=1`` to leave malloc alone. Returns whether the setting is in force.
    """
    global _large_blocks_mapped
    if torch.device(device).type != "cpu":
        return False
    if _large_blocks_mapped:
        return True
    if _MALLOPT is None or os.environ.get("PSSC_FAST_KEEP_MALLOC", "") not in ("", "0"):
        return False
    _large_blocks_mapped = bool(_MALLOPT(_M_MMAP_THRESHOLD, MMAP_THRESHOLD))
    return _large_blocks_mapped
