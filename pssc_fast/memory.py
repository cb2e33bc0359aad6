"""Memory guard for the n x n state of the self-expression layer."""
from __future__ import annotations

import os

import torch

# n x n float32 buffers alive during a training step, per backend: C, its gradient and Adam's two
# moments are unavoidable (4); the reference backend's autograd graph keeps about eight more
# (|C0|, S, S_hat and their gradients), the fused backends at most one chunk of rows.
BUFFERS = {"reference": 12, "torch": 5, "triton": 5, "auto": 5}


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
    return BUFFERS.get(backend, 5) * int(n) * int(n) * itemsize


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


def _glibc_malloc_trim():
    """glibc's ``malloc_trim`` or None (other C libraries, other systems)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


_MALLOC_TRIM = _glibc_malloc_trim() if os.name == "posix" else None


def release_freed_memory(device: torch.device) -> bool:
    """Hand the C heap's free pages back to the system (glibc on CPU; a no-op elsewhere).

    A full-batch step frees many large temporaries; glibc keeps them in its heap, fragmented, so peak
    resident memory climbs over the steps. ``finetune`` calls this every few steps (``TRIM_EVERY``).
    Returns whether anything was called.
    """
    if _MALLOC_TRIM is None or torch.device(device).type != "cpu":
        return False
    _MALLOC_TRIM(0)
    return True
