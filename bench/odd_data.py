"""Small, odd and hostile data through PSSC, fit_large and the CLI with their DEFAULT settings (issue 21).

Each case is run three ways - ``PSSC(k)``, ``fit_large(X, k, anchors)`` and ``pssc-fast fit FILE --k k``
(a subprocess; ``--anchors`` where the case names anchors) - and timed. The outcome is one of

* ``labels``: n labels in [0, k), all k used;
* ``labels, warned: ...``: labels, with the library's warning(s) (fewer clusters than asked, an outlier
  clipped, ...), abbreviated;
* ``error: ...``: a ValueError / TypeError with a message (CLI: exit 2 and one ``pssc-fast: error:`` line);
* ``BAD: ...``: anything else (a traceback, fewer clusters without a warning, labels out of range, a
  scikit-learn warning leaking). The script exits 1 if any case is BAD.

Writes bench/results/odd_data.json and bench/results/odd_data.md. The same data kinds (:func:`make`) feed
the hypothesis battery in tests/test_odd_data.py, which runs them with tiny training settings.

    OMP_NUM_THREADS=1 python bench/odd_data.py            # about 5-10 minutes on one thread
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
sys.path.insert(0, str(ROOT))  # pssc_fast from this checkout

#: the kinds of odd data :func:`make` builds
KINDS = ("uniform", "duplicated_rows", "identical_rows", "huge", "tiny", "one_outlier", "integer", "uint8",
         "bool", "constant_column", "near_float_max", "big_offset")


def make(kind: str, n: int, d: int, seed: int = 0) -> np.ndarray:
    """An (n, d) array of the odd ``kind`` (see :data:`KINDS`), deterministic in ``seed``."""
    rng = np.random.default_rng(seed)
    base = rng.random((n, d))
    if kind == "uniform":
        return base
    if kind == "duplicated_rows":  # two distinct rows, repeated
        return base[rng.integers(0, min(2, n), size=n)] if n > 2 else base[[0] * (n - 1) + [1]]
    if kind == "identical_rows":  # every row the same (constant only when d = 1 or the row is flat)
        return np.repeat(base[:1], n, axis=0)
    if kind == "huge":
        return base * 1e300
    if kind == "tiny":
        return base * 1e-300
    if kind == "one_outlier":
        X = base.copy()
        X[rng.integers(n), rng.integers(d)] = 1e300
        return X
    if kind == "integer":
        return rng.integers(-1000, 1000, size=(n, d), dtype=np.int64)
    if kind == "uint8":
        return rng.integers(0, 256, size=(n, d), dtype=np.uint8)
    if kind == "bool":
        return rng.random((n, d)) < 0.5
    if kind == "constant_column":
        X = base.copy()
        X[:, rng.integers(d)] = 7.0
        return X
    if kind == "near_float_max":  # the range itself overflows float64
        return (base * 2 - 1) * 1.7e308
    if kind == "big_offset":
        return 1e8 + base
    raise ValueError(f"unknown kind {kind!r}")


#: (name, kind, n, d, k, anchors for fit_large / the CLI or None for the defaults)
CASES = [
    ("2 rows, k = 2", "uniform", 2, 4, 2, None),
    ("3 rows, k = 3 (k = n)", "uniform", 3, 5, 3, None),
    ("3 rows, k = 2", "uniform", 3, 5, 2, None),
    ("10 rows, k = 10 (k = n)", "uniform", 10, 4, 10, None),
    ("60 rows, --anchors 30", "uniform", 60, 10, 3, 30),
    ("30 rows, 2 distinct, k = 3", "duplicated_rows", 30, 5, 3, None),
    ("20 identical rows", "identical_rows", 20, 5, 2, None),
    ("values ~1e300", "huge", 60, 10, 3, None),
    ("values ~1e-300", "tiny", 60, 10, 3, None),
    ("one 1e300 among 600 values", "one_outlier", 60, 10, 3, None),
    ("int64 in [-1000, 1000)", "integer", 60, 8, 3, None),
    ("uint8 0..255", "uint8", 60, 16, 3, None),
    ("bool", "bool", 60, 8, 3, None),
    ("one constant column", "constant_column", 60, 6, 3, None),
    ("values near +-1.7e308", "near_float_max", 40, 4, 2, None),
    ("1e8 + uniform", "big_offset", 60, 6, 3, None),
    ("one feature", "uniform", 40, 1, 2, None),
]


def judge(labels, n: int, k: int, messages: list) -> str:
    """The outcome of a run that returned labels (see the module docstring)."""
    labels = np.asarray(labels)
    if labels.shape != (n,) or labels.min() < 0 or labels.max() >= k:
        return f"BAD: labels of shape {labels.shape} in [{labels.min()}, {labels.max()}]"
    leaked = [m for m in messages if m.startswith("sklearn") or "Number of distinct clusters" in m]
    if leaked:
        return f"BAD: leaked {leaked[0][:80]}"
    used = len(np.unique(labels))
    if used < k and not any("clusters asked for" in m for m in messages):
        return f"BAD: {used} of {k} clusters used, no warning"
    return "labels" + (f", warned: {'; '.join(_short(m) for m in messages)}" if messages else "")


def _short(message: str) -> str:
    message = message[len("pssc-fast: warning: "):] if message.startswith("pssc-fast: warning: ") else message
    return message if len(message) <= 110 else message[:107] + "..."


def run_api(name: str, X, k: int, anchors):
    """(outcome, seconds) of PSSC (name "PSSC") or fit_large (name "fit_large") with default settings."""
    from pssc_fast import PSSC, fit_large

    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            if name == "PSSC":
                labels = PSSC(k, random_state=0).fit_predict(X)
            else:
                labels = fit_large(X, k, anchors=anchors or 5000, random_state=0).labels_
        except (ValueError, TypeError) as exc:
            return f"error: {exc}", time.perf_counter() - t0
        except Exception as exc:  # noqa: BLE001 - anything else is what this script looks for
            return f"BAD: {type(exc).__name__}: {exc}", time.perf_counter() - t0
    seconds = time.perf_counter() - t0
    messages = [(("sklearn " if "sklearn" in w.category.__module__ else "") + str(w.message)) for w in caught
                if not issubclass(w.category, (DeprecationWarning, PendingDeprecationWarning))]
    return judge(labels, X.shape[0], k, messages), seconds


def run_cli(X, k: int, anchors, folder: Path):
    """(outcome, seconds) of ``pssc-fast fit`` on X saved as .npy (a fresh process, default settings)."""
    data, out = folder / "x.npy", folder / "labels.npy"
    np.save(data, X)
    if out.exists():
        out.unlink()
    cmd = [sys.executable, "-m", "pssc_fast.cli", "fit", str(data), "--k", str(k), "--out", str(out)]
    if anchors:
        cmd += ["--anchors", str(anchors)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=1800,
                          env={**os.environ, "PYTHONWARNINGS": "default"})
    seconds = time.perf_counter() - t0
    err = [line for line in proc.stderr.splitlines() if line.strip()]
    if proc.returncode == 2:
        ok = len(err) == 1 and err[0].startswith("pssc-fast: error:")
        return (f"error: {err[0][len('pssc-fast: error: '):]}" if ok else f"BAD: exit 2 with {err!r}"), seconds
    if proc.returncode != 0:
        return f"BAD: exit {proc.returncode}: {err[-1] if err else ''}", seconds
    stray = [line for line in err if not line.startswith("pssc-fast: ")]
    if stray:
        return f"BAD: stderr {stray[0][:100]!r}", seconds
    return judge(np.load(out), X.shape[0], k, err), seconds


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="*", default=None, help="run the cases whose names contain these words")
    args = parser.parse_args(argv)
    from provenance import provenance

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, kind, n, d, k, anchors in CASES:
            if args.only and not any(w in name for w in args.only):
                continue
            X = make(kind, n, d)
            for runner in ("PSSC", "fit_large", "CLI"):
                if runner == "CLI":
                    outcome, seconds = run_cli(X, k, anchors, Path(tmp))
                else:
                    outcome, seconds = run_api(runner, X, k, anchors)
                row = {"case": name, "kind": kind, "shape": [n, d], "dtype": str(X.dtype), "k": k,
                       "anchors": anchors, "runner": runner, "outcome": outcome, "seconds": round(seconds, 2)}
                rows.append(row)
                print(f"{name:32s} {runner:9s} {seconds:7.1f} s  {outcome[:150]}", flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    result = {"machine": provenance(), "settings": "library defaults (PSSC(k, random_state=0); fit_large(X, k, "
              "anchors, random_state=0), anchors 5000 capped at n unless the case names them; pssc-fast fit "
              "FILE --k k [--anchors a])", "rows": rows}
    (RESULTS / "odd_data.json").write_text(json.dumps(result, indent=1) + "\n")
    lines = ["# Odd data with default settings (bench/odd_data.py)", "",
             f"git {result['machine'].get('git_commit')}, {result['machine'].get('torch_threads')} torch thread(s), "
             f"{result['machine'].get('date_utc')}. Seconds are wall time on a shared 2-core machine (load "
             f"average {result['machine'].get('loadavg', [None])[0]:.1f} at the end of the run); the CLI's include "
             "starting Python (about 3 s).", "",
             "| case | X | k | runner | outcome | seconds |", "|---|---|---|---|---|---:|"]
    for r in rows:
        outcome = r["outcome"].replace("|", "/")
        lines.append(f"| {r['case']} | {r['shape'][0]}x{r['shape'][1]} {r['dtype']} | {r['k']} | {r['runner']} | "
                     f"{outcome} | {r['seconds']:.1f} |")
    (RESULTS / "odd_data.md").write_text("\n".join(lines) + "\n")
    bad = [r for r in rows if r["outcome"].startswith("BAD")]
    print(f"{len(rows)} runs, {len(bad)} BAD; written to {RESULTS / 'odd_data.md'}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
