"""LargePSSC.predict through Dask: a 2-worker LocalCluster against the single-process path, and 1M / 3M / 10M rows.

Synthetic 784-D rows (a union of 10 five-dimensional subspaces, each spanned by a fixed random basis, mapped
into [0, 1]) are generated chunk by chunk by Dask (``da.map_blocks``: never all in memory). A model is fitted on
20,000 such rows in memory with 2000 anchors (a short pre-training: the question here is throughput, not
quality), then in fresh processes:

* ``single``: the single-process path on the first 1M rows: each chunk generated, then ``model.predict`` on
  it, in one process with torch on both cores (no Dask);
* ``dask N``: ``model.predict`` of N rows on a LocalCluster of 2 worker processes x 1 thread (3 GiB each),
  the labels written by the workers to a Zarr store; the client's peak RSS (it also runs the scheduler) and
  each worker's peak RSS (``ru_maxrss``) are recorded. The 1M labels are compared with the single-process
  labels (they must be identical).

Both paths generate their rows (the same function), so both timings include generation. Cluster start-up
(and the workers' import of torch and pssc_fast) is timed apart. Bytes shipped per worker: the pickled worker state (pssc_fast.parallel.shipped_bytes).

    python bench/distributed_scaling.py            # writes bench/results/distributed_scaling.{json,png}

The machine is a shared 2-core CPU with other people's processes running: the load average is recorded
before each part; compare numbers from one run.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
D, K, SUB = 784, 10, 5
CHUNK = 50_000


def _bases():
    # remade per chunk (0.04 M values; no cache: a worker unpickles this module's functions by value)
    return np.random.default_rng(12345).standard_normal((K, SUB, D)).astype(np.float32) / np.sqrt(SUB)


def rows_block(start: int, stop: int) -> np.ndarray:
    """Rows start..stop of the synthetic data, the same wherever they are made (chunks start at multiples of
    CHUNK, each with its own random stream): row i lies in subspace i mod K, mapped into [0, 1]."""
    rng = np.random.default_rng(start)
    coef = rng.standard_normal((stop - start, SUB), dtype=np.float32)
    X = np.empty((stop - start, D), np.float32)
    first = start % K
    for c, basis in enumerate(_bases()):
        X[(c - first) % K::K] = coef[(c - first) % K::K] @ basis
    X *= 0.15
    X += 0.5
    return np.clip(X, 0.0, 1.0, out=X)


def _block(block_info=None):
    (start, stop), = block_info[None]["array-location"][:1]
    return rows_block(start, stop)


def dask_rows(n: int):
    import dask.array as da

    chunks = ((CHUNK,) * (n // CHUNK) + ((n % CHUNK,) if n % CHUNK else ()), (D,))
    return da.map_blocks(_block, chunks=chunks, dtype=np.float32, meta=np.empty((0, 0), np.float32))


def _peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def child_fit(model_path: str, anchors: int):
    import joblib

    from pssc_fast.large import fit_large

    t0 = time.perf_counter()
    model = fit_large(rows_block(0, 20_000), K, anchors=anchors, random_state=0, pretrain_samples=20_000,
                      device="cpu")
    joblib.dump(model, model_path)
    from pssc_fast.parallel import shipped_bytes

    return {"seconds": time.perf_counter() - t0, "anchors": anchors, "fit_rows": 20_000,
            "shipped_bytes_per_worker": shipped_bytes(model), "timings": model.timings_}


def child_single(model_path: str, n: int, labels_path: str):
    import joblib

    model = joblib.load(model_path)
    labels = np.empty(n, np.int64)
    t0 = time.perf_counter()
    for start in range(0, n, CHUNK):
        stop = min(start + CHUNK, n)
        labels[start:stop] = model.predict(rows_block(start, stop))
    seconds = time.perf_counter() - t0
    np.save(labels_path, labels)
    import torch

    return {"rows": n, "seconds": seconds, "rows_per_s": n / seconds, "peak_rss_gib": _peak_rss_gib(),
            "torch_threads": torch.get_num_threads()}


def child_dask(model_path: str, n: int, store: str):
    import dask.array as da
    import joblib
    from distributed import Client, LocalCluster

    model = joblib.load(model_path)
    t0 = time.perf_counter()
    env = {"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, memory_limit="3GiB",
                      dashboard_address=None, env=env) as cluster, Client(cluster) as client:
        # the workers import torch and pssc_fast before the clock starts (a fixed cost, timed with the start-up)
        client.run(lambda: __import__("pssc_fast.large"))
        start_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        model.predict(dask_rows(n)).to_zarr(store, overwrite=True)
        seconds = time.perf_counter() - t0
        workers = client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20)
    sizes = da.bincount(da.from_zarr(store), minlength=K).compute()
    return {"rows": n, "seconds": seconds, "rows_per_s": n / seconds, "cluster_start_s": start_s,
            "client_peak_rss_gib": _peak_rss_gib(), "worker_peak_rss_gib": sorted(workers.values()),
            "chunks": -(-n // CHUNK), "cluster_sizes": sizes.tolist()}


def run_child(*args, threads: int) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS=str(threads))
    out = subprocess.run([sys.executable, __file__, "--child", *map(str, args)], capture_output=True, text=True,
                         env=env)
    if out.returncode != 0:
        raise SystemExit(f"child {args} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 3_000_000, 10_000_000])
    parser.add_argument("--anchors", type=int, default=2000)
    parser.add_argument("--tag", default="")
    parser.add_argument("--child", nargs="+", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        result = {"fit": lambda: child_fit(rest[0], int(rest[1])),
                  "single": lambda: child_single(rest[0], int(rest[1]), rest[2]),
                  "dask": lambda: child_dask(rest[0], int(rest[1]), rest[2])}[kind]()
        print(json.dumps(result, default=float))
        return

    sys.path.insert(0, str(HERE))
    from provenance import provenance

    meta = {**provenance(), "note": "shared 2-core CPU, other people's processes running: compare within this run"}
    settings = {"dims": D, "clusters": K, "chunk_rows": CHUNK, "anchors": args.anchors, "workers": 2,
                "threads_per_worker": 1, "worker_memory_limit": "3GiB", "single_process_torch_threads": 2,
                "architecture": "default LargePSSC: 784-500-500-2000-10, pretrain_samples=20000"}
    with tempfile.TemporaryDirectory() as tmp:
        model = os.path.join(tmp, "model.joblib")
        print("fit ...", flush=True)
        fit = run_child("fit", model, args.anchors, threads=2)
        print(json.dumps(fit, default=float), flush=True)
        n1 = args.sizes[0]
        load = os.getloadavg()
        single = run_child("single", model, n1, os.path.join(tmp, "single.npy"), threads=2)
        single["loadavg_before"] = list(load)
        print("single", json.dumps(single), flush=True)
        runs = []
        payload = {"meta": meta, "settings": settings, "fit": fit, "single_process": single, "dask": runs}
        for n in args.sizes:
            load = os.getloadavg()
            store = os.path.join(tmp, f"labels_{n}.zarr")
            run = run_child("dask", model, n, store, threads=1)
            run["loadavg_before"] = list(load)
            if n == n1:
                import dask.array as da

                run["identical_to_single_process"] = bool(
                    np.array_equal(da.from_zarr(store).compute(), np.load(os.path.join(tmp, "single.npy"))))
            runs.append(run)
            print("dask", json.dumps(run), flush=True)
            save(payload, args.tag)  # after each size: a run cut short keeps what it measured


def save(payload, tag):
    RESULTS.mkdir(exist_ok=True)
    stem = "distributed_scaling" + (f"_{tag}" if tag else "")
    (RESULTS / f"{stem}.json").write_text(json.dumps(payload, indent=1, default=float))
    plot(payload, RESULTS / f"{stem}.png")
    print(f"wrote {RESULTS / (stem + '.json')} and .png", flush=True)


def plot(payload, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs, single = payload["dask"], payload["single_process"]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    first = runs[0]
    a.bar(["single process\n(torch, 2 threads)", "LocalCluster\n2 workers x 1 thread"],
          [single["rows_per_s"], first["rows_per_s"]], color=["tab:gray", "tab:blue"])
    a.set_ylabel("rows / s (generate + encode + assign)")
    a.set_title(f"predict, {first['rows']:,} rows x {payload['settings']['dims']}")
    n = np.array([r["rows"] for r in runs], float)
    t = np.array([r["seconds"] for r in runs])
    b.plot(n / 1e6, t, "o-", label="2-worker LocalCluster")
    b.plot(n / 1e6, t[0] * n / n[0], "--", color="gray", label="linear from the first size")
    for r in runs:
        b.annotate(f"client {r['client_peak_rss_gib']:.2f} GiB\nworkers "
                   + "/".join(f"{w:.2f}" for w in r["worker_peak_rss_gib"]) + " GiB",
                   (r["rows"] / 1e6, r["seconds"]), fontsize=7, textcoords="offset points", xytext=(4, -22))
    b.set_xlabel("rows (millions)")
    b.set_ylabel("seconds")
    b.set_title("time vs rows (peak RSS annotated)")
    b.legend(fontsize=8)
    fig.suptitle("shared 2-core CPU, other processes running: " + payload["meta"]["date_utc"], fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
