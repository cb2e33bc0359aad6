"""How Algorithm 2 (clustering the coefficients) scales: the released post-processing vs pssc_fast.

For each n, a synthetic block-structured coefficient matrix C (K = 10 blocks, float32, like the released
TensorFlow code's C) is clustered by

* ``released``: the released DSC/PSSC post-processing, ported here as a baseline (not library code):
  per-column Python loop thresholding (``thrC``), S = (|C| + |C|^T)/2, ``scipy.sparse.linalg.svds``,
  dense affinity, scikit-learn ``SpectralClustering(affinity='precomputed', eigen_solver='arpack',
  assign_labels='discretize')``, called once (the released code calls it twice; we compare one call);
* ``ours_sparse``: ``pssc_fast.affinity.cluster_coefficients(method="sparse")``;
* ``ours_dense``: the same with ``method="dense"`` (small n only; it picks ``DENSE_MAX_N``).

Every (pipeline, n) runs in a fresh subprocess, so peak memory is its own: the worker generates C, reads
its resident set size, resets the kernel's high-water mark (``/proc/self/clear_refs``), runs the pipeline
``--repeats`` times and reads the high-water mark again; "peak extra" is the difference, i.e. what the
pipeline needs on top of C. Per-stage times (threshold incl. symmetrising, SVD, affinity, spectral) are
medians over the repeats. Label agreement is ACC (Hungarian matching) between pipelines; ACC against
the generating blocks is reported too (labels are only used to score).

The released baseline is only run up to ``--released-max-n`` (default 10000): at n = 20000 it needs
~321 s and ~15 GiB on this 2-core machine. Machines here are shared and noisy: compare pipelines within
one run, and read ratios, not absolute seconds.

Usage::

    python bench/affinity_scaling.py                      # full run, ~10 min on 2 busy cores
    python bench/affinity_scaling.py --sizes 1000 2000 --repeats 1 --tag quick   # smoke test

Writes bench/results/affinity_scaling{_tag}.json, .csv and .png.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import STAGES, released_pipeline
from measure import proc_status_bytes, reset_peak_rss
from provenance import provenance

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PIPELINES = ("released", "ours_sparse", "ours_dense")


# ----------------------------------------------------------------------------- data


def make_block_coefficients(n, n_clusters=10, *, sub_dim=4, ambient_dim=30, noise=0.01,
                            wrong_frac=0.01, seed=0):
    """Synthetic self-expression coefficients with K blocks, as float32 (n, n); returns (C, labels).

    Points lie on K random ``sub_dim``-dimensional subspaces of R^ambient_dim (unit norm); inside a
    block C_ij = <x_i, x_j> |<x_i, x_j>| (large for nearly parallel points, like a learned
    self-expression), plus dense Gaussian noise of std ``noise`` everywhere, plus per column
    ``wrong_frac * n / K`` strong entries (0.3..1, random sign) at random rows, most of them across
    blocks (the errors thresholding should mostly remove). Zero diagonal; rows/labels in random order.
    Generated in row chunks so that the peak memory is C plus ~3 chunk buffers.
    """
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.arange(n) % n_clusters)
    bases = np.stack([np.linalg.qr(rng.standard_normal((ambient_dim, sub_dim)))[0]
                      for _ in range(n_clusters)])
    X = np.einsum("ndq,nq->nd", bases[y], rng.standard_normal((n, sub_dim)))
    X = (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)
    C = np.empty((n, n), dtype=np.float32)
    step = max(1, (32 << 20) // (4 * n))
    for i0 in range(0, n, step):
        i1 = min(n, i0 + step)
        G = X[i0:i1] @ X.T
        G *= np.abs(G)
        G[y[i0:i1, None] != y[None, :]] = 0.0
        G += noise * rng.standard_normal(G.shape, dtype=np.float32)
        C[i0:i1] = G
    n_wrong = max(1, int(round(wrong_frac * n / n_clusters)))
    cols = np.repeat(np.arange(n), n_wrong)
    rows = rng.integers(0, n, cols.size)
    C[rows, cols] = (rng.uniform(0.3, 1.0, cols.size) * rng.choice([-1.0, 1.0], cols.size)).astype(
        np.float32)
    np.fill_diagonal(C, 0.0)
    return C, y


# ----------------------------------------------------------------------------- released baseline


# ----------------------------------------------------------------------------- worker


def worker(args):
    """Run one (pipeline, n) in this (fresh) process; print a JSON record and save the labels."""
    import faiss  # noqa: F401  (imports before measuring, so they do not count as pipeline memory)
    import scipy.sparse.linalg  # noqa: F401
    import sklearn.cluster  # noqa: F401
    import torch

    from pssc_fast import affinity as af
    from pssc_fast.metrics import acc

    C, y = make_block_coefficients(args.n, args.k, seed=args.seed)
    rss_before = proc_status_bytes("VmRSS")
    reset = reset_peak_rss()
    maxrss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    runs = []
    labels = None
    for rep in range(args.repeats):
        t = {}
        ru0 = resource.getrusage(resource.RUSAGE_SELF)
        t0 = time.perf_counter()
        if args.pipeline == "released":
            labels = released_pipeline(C, args.k, q=args.q, alpha=args.alpha, ro=args.ro,
                                       seed=args.seed, timings=t)
        else:
            method = args.pipeline.split("_", 1)[1]
            labels = af.cluster_coefficients(C, args.k, q=args.q, alpha=args.alpha, ro=args.ro,
                                             method=method, random_state=args.seed, timings=t)
        t["total"] = time.perf_counter() - t0
        ru1 = resource.getrusage(resource.RUSAGE_SELF)
        # CPU seconds of all threads: less sensitive than wall time to other jobs on the machine
        # (with one thread it approximates the wall time on an idle machine).
        t["cpu"] = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
        runs.append(t)
    peak = proc_status_bytes("VmHWM")
    maxrss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    np.save(args.labels_out, np.asarray(labels))
    rec = {
        "pipeline": args.pipeline, "n": args.n, "repeats": args.repeats,
        "seconds": {s: float(np.median([r[s] for r in runs])) for s in STAGES + ("total", "cpu")},
        "seconds_all": runs,
        "rss_before_bytes": rss_before,
        "peak_extra_bytes": (peak - rss_before) if reset else (maxrss_after - rss_before),
        "peak_extra_method": "VmHWM after clear_refs reset" if reset else "ru_maxrss - rss (upper bound)",
        "ru_maxrss_bytes": maxrss_after, "ru_maxrss_before_run_bytes": maxrss_before,
        "acc_vs_blocks": acc(y, labels),
        "torch_threads": torch.get_num_threads(),
    }
    print("RESULT " + json.dumps(rec))


def run_one(pipeline, n, a, labels_path):
    cmd = [sys.executable, __file__, "--worker", "--pipeline", pipeline, "--n", str(n),
           "--k", str(a.k), "--q", str(a.q), "--alpha", str(a.alpha), "--ro", str(a.ro),
           "--seed", str(a.seed), "--repeats", str(a.repeats if pipeline != "released" or n < 10000
                                                      else a.released_big_repeats),
           "--labels-out", str(labels_path)]
    env = dict(os.environ)
    if a.threads:
        # Read by torch, faiss (OpenMP), numpy/scipy (OpenBLAS) and MKL when they load.
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            env[var] = str(a.threads)
    load0 = os.getloadavg()
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=a.timeout, env=env)
    wall = time.perf_counter() - t0
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not line:
        raise RuntimeError(f"{pipeline} n={n} failed:\n{proc.stdout}\n{proc.stderr}")
    rec = json.loads(line[-1][len("RESULT "):])
    rec["subprocess_wall_s"] = wall
    rec["loadavg_1min_before_after"] = [load0[0], os.getloadavg()[0]]
    return rec


# ----------------------------------------------------------------------------- driver


def plot(records, path, threads_note="library default threads"):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(16, 4.6))
    styles = {"released": ("tab:red", "o"), "ours_sparse": ("tab:blue", "s"),
              "ours_dense": ("tab:green", "^")}
    for p in PIPELINES:
        rs = sorted((r for r in records if r["pipeline"] == p), key=lambda r: r["n"])
        if not rs:
            continue
        ns = [r["n"] for r in rs]
        color, marker = styles[p]
        axes[0].plot(ns, [r["seconds"]["total"] for r in rs], marker=marker, color=color, label=p)
        axes[2].plot(ns, [r["peak_extra_bytes"] / 2**30 for r in rs], marker=marker, color=color,
                     label=p)
    for p, ls in (("released", "--"), ("ours_sparse", "-")):
        rs = sorted((r for r in records if r["pipeline"] == p), key=lambda r: r["n"])
        for stage, color in zip(STAGES, ("tab:purple", "tab:orange", "tab:olive", "tab:cyan")):
            axes[1].plot([r["n"] for r in rs], [max(r["seconds"][stage], 1e-4) for r in rs],
                         ls=ls, marker=".", color=color, label=f"{p}: {stage}")
    axes[0].set_title("end to end (median s)")
    axes[1].set_title("per stage (median s); dashed = released")
    axes[2].set_title("peak memory on top of C (GiB)")
    for ax in axes:
        ax.set_xscale("log")
        ax.set_xlabel("n")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_yscale("log")
    axes[1].set_yscale("log")
    axes[2].set_yscale("log")
    axes[0].legend()
    axes[1].legend(fontsize=6, ncol=2)
    axes[2].legend()
    load = np.median([r["loadavg_1min_before_after"][0] for r in records])
    fig.suptitle("Algorithm 2 post-processing, K=10, q=4, alpha=5, ro=0.12 "
                 f"({os.cpu_count()} CPU cores shared, median 1-min load {load:.1f}; {threads_note})")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 2000, 5000, 10000, 20000])
    ap.add_argument("--extra-dense-sizes", type=int, nargs="*", default=[500, 3000],
                    help="sizes where only ours_dense and ours_sparse run (to place DENSE_MAX_N)")
    ap.add_argument("--released-max-n", type=int, default=10000)
    ap.add_argument("--dense-max-n", type=int, default=5000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--released-big-repeats", type=int, default=1,
                    help="repeats of the released pipeline for n >= 10000 (~70 s each)")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--q", type=int, default=4)
    ap.add_argument("--alpha", type=float, default=5.0)
    ap.add_argument("--ro", type=float, default=0.12)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=1800.0)
    ap.add_argument("--threads", type=int, default=0,
                    help="threads per pipeline (OMP/OpenBLAS/MKL); 0 = library defaults (all cores)")
    ap.add_argument("--tag", default="")
    ap.add_argument("--out-dir", default=str(ROOT / "bench" / "results"))
    # worker mode (internal)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--pipeline", choices=PIPELINES, help=argparse.SUPPRESS)
    ap.add_argument("--n", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--labels-out", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        worker(a)
        return

    from pssc_fast import affinity as af
    from pssc_fast.metrics import acc

    out_dir = Path(a.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = "affinity_scaling" + (f"_{a.tag}" if a.tag else "")
    records, agreement = [], []
    tmp = Path(tempfile.mkdtemp(prefix="affinity_scaling_"))
    sizes = sorted(set(a.sizes) | set(a.extra_dense_sizes))
    for n in sizes:
        main_size = n in a.sizes
        todo = []
        if main_size and n <= a.released_max_n:
            todo.append("released")
        todo.append("ours_sparse")
        if n <= a.dense_max_n:
            todo.append("ours_dense")
        labels = {}
        for p in todo:
            path = tmp / f"{p}_{n}.npy"
            rec = run_one(p, n, a, path)
            labels[p] = np.load(path)
            records.append(rec)
            s = rec["seconds"]
            print(f"n={n:6d} {p:12s} total {s['total']:8.3f} s (cpu {s['cpu']:7.2f})  "
                  + "  ".join(f"{k} {s[k]:.3f}" for k in STAGES)
                  + f"  peak+ {rec['peak_extra_bytes'] / 2**30:.2f} GiB"
                  + f"  acc(blocks) {rec['acc_vs_blocks']:.4f}"
                  + f"  load {rec['loadavg_1min_before_after'][0]:.1f}", flush=True)
        ref = "released" if "released" in labels else None
        row = {"n": n}
        if ref:
            for p in labels:
                if p != ref:
                    row[f"acc_{p}_vs_released"] = acc(labels[ref], labels[p])
            by = {r["pipeline"]: r for r in records if r["n"] == n}
            row["speedup_ours_sparse"] = by["released"]["seconds"]["total"] / by["ours_sparse"][
                "seconds"]["total"]
            row["cpu_ratio_ours_sparse"] = by["released"]["seconds"]["cpu"] / by["ours_sparse"][
                "seconds"]["cpu"]
            if "ours_dense" in by:
                row["speedup_ours_dense"] = by["released"]["seconds"]["total"] / by["ours_dense"][
                    "seconds"]["total"]
        if "ours_dense" in labels:
            row["acc_ours_dense_vs_ours_sparse"] = acc(labels["ours_dense"], labels["ours_sparse"])
        agreement.append(row)
        print("       " + json.dumps(row), flush=True)

    meta = {
        "params": {"K": a.k, "q": a.q, "alpha": a.alpha, "ro": a.ro, "seed": a.seed,
                   "threads": a.threads or "default",
                   "repeats": a.repeats, "released_big_repeats": a.released_big_repeats},
        "dense_max_n_in_library": af.DENSE_MAX_N,
        "default_n_neighbors": af.DEFAULT_N_NEIGHBORS,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "python": platform.python_version()},
        "git_commit": subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"],
                                     capture_output=True, text=True).stdout.strip(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "note": "shared 2-core machine, other jobs running: compare within the run",
        "provenance": provenance(),
    }
    result = {"meta": meta, "records": records, "agreement": agreement}
    (out_dir / f"{stem}.json").write_text(json.dumps(result, indent=1))
    with open(out_dir / f"{stem}.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["pipeline", "n", *[f"{s}_s" for s in STAGES], "total_s", "cpu_s", "peak_extra_GiB",
                    "acc_vs_blocks", "load_1min"])
        for r in records:
            w.writerow([r["pipeline"], r["n"], *[f"{r['seconds'][s]:.4f}" for s in STAGES],
                        f"{r['seconds']['total']:.4f}", f"{r['seconds']['cpu']:.4f}",
                        f"{r['peak_extra_bytes'] / 2**30:.3f}",
                        f"{r['acc_vs_blocks']:.4f}", f"{r['loadavg_1min_before_after'][0]:.2f}"])
    plot(records, out_dir / f"{stem}.png",
         f"{a.threads} thread(s) per pipeline" if a.threads else "library default threads")
    print(f"wrote {out_dir / stem}.json/.csv/.png")


if __name__ == "__main__":
    main()
