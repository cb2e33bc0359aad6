"""Resident-memory readings the benchmarks share (Linux /proc; imported with ``bench/`` on ``sys.path``)."""
from __future__ import annotations


def proc_status_bytes(field: str) -> int | None:
    """A memory field of /proc/self/status ("VmRSS", "VmHWM", ...) in bytes; None where it is absent."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024  # kB -> bytes
    except OSError:
        pass
    return None


def reset_peak_rss() -> bool:
    """Reset the kernel's resident high-water mark (VmHWM) to the current RSS (Linux >= 4.0); False where
    not permitted. Without it a subprocess's peak would include the high-water mark of the process image
    before exec, a copy of its parent's."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False
