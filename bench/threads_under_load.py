"""How many torch threads should a CPU fit use when the machine is busy?

PyTorch uses one intra-op thread per core by default. On an idle machine a second thread speeds a PSSC fit
up a little; when other processes keep the cores busy, the extra threads wait on each other (OpenMP
barriers) and the fit can become many times slower. This script measures it: a ``PSSC`` fit (random data,
``pretrain_epochs=20``, ``epochs=30``) in a fresh process with 1 and with 2 torch threads, while 0, 1 or 2
other processes spin on the CPU beside it; rounds interleave the settings and the median is reported.

    python bench/threads_under_load.py [--sizes 40x5 1797x64] [--rounds 3]

Writes bench/results/threads_under_load.{json,csv,png}.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from provenance import provenance

RESULTS = Path(__file__).resolve().parent / "results"


def child(n: int, d: int, threads: int) -> None:
    import numpy as np
    import torch

    torch.set_num_threads(threads)
    from pssc_fast import PSSC

    X = np.random.default_rng(0).random((n, d)).astype(np.float32)
    model = PSSC(5, pretrain_epochs=20, epochs=30, random_state=0)
    start = time.perf_counter()
    model.fit(X)
    print(json.dumps({"seconds": time.perf_counter() - start, **model.timings_}))


def spin() -> None:
    while True:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["40x5", "1797x64"], help="rows x features")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--loads", type=int, nargs="+", default=[0, 1, 2], help="busy processes beside the fit")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child", nargs=3, type=int, help=argparse.SUPPRESS)
    parser.add_argument("--spin", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(*args.child)
    if args.spin:
        return spin()

    sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes]
    runs = []
    for load in args.loads:
        busy = [subprocess.Popen([sys.executable, __file__, "--spin"]) for _ in range(load)]
        try:
            for rnd in range(args.rounds):
                for n, d in sizes:
                    for threads in args.threads:
                        env = dict(os.environ, OMP_NUM_THREADS=str(threads))
                        out = subprocess.run([sys.executable, __file__, "--child", str(n), str(d), str(threads)],
                                             capture_output=True, text=True, env=env, check=True)
                        r = json.loads(out.stdout.strip().splitlines()[-1])
                        runs.append({"load": load, "rows": n, "features": d, "threads": threads, "round": rnd, **r})
                        print(f"load {load} {n}x{d} threads {threads}: {r['seconds']:.2f} s", flush=True)
        finally:
            for p in busy:
                p.kill()
    summary = []
    for load in args.loads:
        for n, d in sizes:
            for threads in args.threads:
                sel = [r["seconds"] for r in runs if (r["load"], r["rows"], r["features"], r["threads"]) ==
                       (load, n, d, threads)]
                summary.append({"load": load, "size": f"{n}x{d}", "threads": threads,
                                "median_s": statistics.median(sel)})
    for row in summary:
        one = next(r for r in summary if (r["load"], r["size"], r["threads"]) == (row["load"], row["size"], 1))
        row["ratio_to_1_thread"] = row["median_s"] / one["median_s"]
        print(f"load {row['load']}  {row['size']:>9}  {row['threads']} threads  {row['median_s']:7.2f} s  "
              f"{row['ratio_to_1_thread']:.2f}x one thread")

    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "threads_under_load.json").write_text(json.dumps(
        {"machine": platform.platform(), "cpus": os.cpu_count(), "command": " ".join(sys.argv),
         "date": time.strftime("%Y-%m-%d %H:%M"), "provenance": provenance(), "summary": summary, "runs": runs},
        indent=1))
    with open(RESULTS / "threads_under_load.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(summary[0]))
        writer.writeheader()
        writer.writerows(summary)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(sizes), figsize=(5 * len(sizes), 3.6), squeeze=False)
    width = 0.8 / len(args.threads)
    for ax, (n, d) in zip(axes[0], sizes):
        for j, threads in enumerate(args.threads):
            vals = [next(r["median_s"] for r in summary if (r["load"], r["size"], r["threads"]) ==
                         (load, f"{n}x{d}", threads)) for load in args.loads]
            ax.bar([i + j * width for i in range(len(args.loads))], vals, width, label=f"{threads} torch threads")
        ax.set_xticks([i + width * (len(args.threads) - 1) / 2 for i in range(len(args.loads))])
        ax.set_xticklabels([f"{load} busy" for load in args.loads])
        ax.set_yscale("log")
        ax.set_ylabel("seconds per fit (median)")
        ax.set_title(f"PSSC fit, {n} x {d}")
        ax.legend()
    fig.suptitle(f"Threads on a busy {os.cpu_count()}-CPU machine (pretrain 20 epochs, fine-tune 30 steps)")
    fig.tight_layout()
    fig.savefig(RESULTS / "threads_under_load.png", dpi=110)
    print(f"written {RESULTS / 'threads_under_load.json'}, .csv, .png")


if __name__ == "__main__":
    main()
