"""What every results file records about the run that wrote it: code version, time, command, machine state.

Imported by the scripts in this folder (they run with ``bench/`` on ``sys.path``)."""
from __future__ import annotations

import datetime
import os
import platform
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _git(*args) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def provenance() -> dict:
    """Commit (and whether library code differed from it), UTC time, argv, threads, load and versions."""
    import torch

    dirty = _git("status", "--porcelain", "--", "pssc_fast", "kernels", ":(glob)bench/*.py")
    return {
        "git_commit": _git("rev-parse", "--short", "HEAD"),
        "git_dirty": None if dirty is None else bool(dirty),  # uncommitted changes to the code that ran
        "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "argv": sys.argv,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": str(torch.__version__),  # a TorchVersion would not load with torch.load(weights_only=True)
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "loadavg": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }
