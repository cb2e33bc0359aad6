"""How sensitive is PSSC to its pseudo-supervision weights? A small γ2 × γ3 grid on one dataset, as a heat map.

This is a robustness study, not a selection: the defaults (γ1 = 1, γ2 = γ3 = 0.1, from scikit-learn digits)
were fixed before it ran and are not changed by it. Everything else is ``pssc_fast/configs/orl.json``; one
seed; each cell runs through ``bench/paper_tables.py``'s child process (shared pre-trained auto-encoder,
linear decoder output).

    python bench/paper_grid.py --data-dir ../shared/data [--dataset orl] [--values 0.01 0.1 1] [--max-epochs 100]

Writes bench/results/paper_grid_<dataset>.json and .png; one JSON per finished cell under
bench/results/paper_runs_grid/ (a rerun skips finished cells).
"""
from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from _common import DATASETS, RESULTS, estimator_params, run_in_child
from provenance import provenance


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=str(Path(__file__).resolve().parents[1] / ".." / "shared" / "data"))
    parser.add_argument("--dataset", default="orl", choices=DATASETS)
    parser.add_argument("--values", type=float, nargs="+", default=[0.01, 0.1, 1.0])
    parser.add_argument("--gamma1", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-epochs", type=int, default=100)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    cache_dir = RESULTS / "paper_runs_grid"
    t0 = time.perf_counter()
    cells = [(g2, g3) for g2 in args.values for g3 in args.values]

    def work(cell):
        g2, g3 = cell
        spec = {"dataset": args.dataset, "variant": "pssc", "seed": args.seed, "data_dir": str(args.data_dir),
                "threads": args.threads, "max_epochs": args.max_epochs,
                "overrides": {"gamma1": args.gamma1, "gamma2": g2, "gamma3": g3}}
        cache = cache_dir / f"{args.dataset}_g1{args.gamma1:g}_g2{g2:g}_g3{g3:g}_s{args.seed}_e{args.max_epochs}.json"
        r = run_in_child(spec, cache)
        print(f"gamma2 {g2:g} gamma3 {g3:g}: ACC {r['acc']:.4f} NMI {r['nmi']:.4f} [{time.perf_counter() - t0:.0f} s]",
              flush=True)
        return r

    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        runs = list(pool.map(work, cells))
    k = len(args.values)
    acc = np.array([r["acc"] for r in runs]).reshape(k, k)
    nmi = np.array([r["nmi"] for r in runs]).reshape(k, k)
    default = estimator_params(args.dataset, "pssc", args.seed)
    out = RESULTS / f"paper_grid_{args.dataset}"
    out.with_suffix(".json").write_text(json.dumps({
        "dataset": args.dataset, "seed": args.seed, "gamma1": args.gamma1, "values": args.values,
        "max_epochs": args.max_epochs, "acc": acc.tolist(), "nmi": nmi.tolist(),
        "default": {"gamma2": default["gamma2"], "gamma3": default["gamma3"]},
        "acc_range": [float(acc.min()), float(acc.max())], "provenance": provenance(), "runs": runs}, indent=1))

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.6, 4), dpi=120)
    im = ax.imshow(acc, cmap="viridis", origin="lower", vmin=min(acc.min(), 0.5), vmax=1.0)
    for i in range(k):
        for j in range(k):
            mark = "*" if (args.values[i] == default["gamma2"] and args.values[j] == default["gamma3"]) else ""
            ax.text(j, i, f"{acc[i, j]:.3f}{mark}", ha="center", va="center", color="white", fontsize=9)
    ax.set_xticks(range(k), [f"{v:g}" for v in args.values])
    ax.set_yticks(range(k), [f"{v:g}" for v in args.values])
    ax.set_xlabel("γ3 (pseudo-label)")
    ax.set_ylabel("γ2 (pseudo-graph)")
    ax.set_title(f"{args.dataset.upper()} ACC, γ1 = {args.gamma1:g}, seed {args.seed}\n(* = default; not selected by this)",
                 fontsize=9)
    fig.colorbar(im, ax=ax, shrink=0.8)
    fig.tight_layout()
    fig.savefig(out.with_suffix(".png"))
    print(f"ACC range {acc.min():.4f} .. {acc.max():.4f}; written {out.with_suffix('.png')}")


if __name__ == "__main__":
    main()
