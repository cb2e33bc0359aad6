"""``PSSC(ensemble=3)`` against the single run, side by side, defaults otherwise.

An ensemble averages the self-expression matrices of three runs that differ by their pre-training seed
(:class:`pssc_fast.PSSC`'s ``ensemble``). The last quality session's diagnostic (bench/diagnostics/seed_ensemble.py,
one ensemble per set) suggested +0.04 on ORL and nothing elsewhere; this measures it over seeds, with the
input's own candidate in play as in the defaults. For each dataset and seed: ACC of the final labels and of the
network's candidate alone, which candidate the normalized cut kept, and seconds. Labels only score; nothing
is chosen by them. COIL20 is left out of the default list for time (about 10 minutes per run on one core).
Writes bench/results/ensemble_check.{json,md,png}.

    python bench/ensemble_check.py --data-dir ../shared/data --jobs 2      # ~20 minutes on two cores
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from provenance import provenance  # noqa: E402
from quality import load  # noqa: E402

SIZES = (1, 3)


def run_task(name: str, seed: int, data_dir: Path) -> list:
    """Both ensemble sizes on one dataset and seed, one thread."""
    import torch

    from pssc_fast import PSSC
    from pssc_fast.metrics import acc

    torch.set_num_threads(1)
    X, y, shape = load(name, data_dir)
    X = X if shape is None else X.reshape(-1, *shape)
    K = int(len(np.unique(y)))
    rows = []
    for size in SIZES:
        t0 = time.perf_counter()
        est = PSSC(K, random_state=seed, ensemble=size).fit(X)
        rows.append({"dataset": name, "seed": seed, "ensemble": size, "acc": acc(y, est.labels_),
                     "network_acc": acc(y, est.candidate_labels_["network"]), "chosen": est.chosen_,
                     "seconds": time.perf_counter() - t0})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--datasets", nargs="+", default=["digits", "orl", "mnist1k"])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--jobs", type=int, default=1, help="processes at a time, one thread each")
    args = ap.parse_args(argv)
    os.environ["OMP_NUM_THREADS"] = "1"
    started = provenance()
    tasks = [(name, seed) for name in args.datasets for seed in args.seeds]
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        runs = [row for rows in pool.map(run_task, *zip(*tasks), [args.data_dir] * len(tasks)) for row in rows]

    summary = {}
    for name in args.datasets:
        for size in SIZES:
            sel = [r for r in runs if r["dataset"] == name and r["ensemble"] == size]
            summary[f"{name}/{size}"] = {
                key: {"mean": float(np.mean([r[key] for r in sel])), "std": float(np.std([r[key] for r in sel]))}
                for key in ("acc", "network_acc", "seconds")} | {"network_chosen": sum(r["chosen"] == "network" for r in sel)}
    out = ROOT / "bench" / "results"
    (out / "ensemble_check.json").write_text(json.dumps({"provenance": started, "runs": runs, "summary": summary}, indent=1))
    lines = ["| dataset | ACC, 1 run | ACC, ensemble=3 | network candidate, 1 run | network candidate, ensemble=3 | "
             "network kept (1 / 3) | seconds (1 / 3) |", "|---|---|---|---|---|---|---|"]
    for name in args.datasets:
        a, b = summary[f"{name}/1"], summary[f"{name}/3"]
        lines.append(f"| {name} | {a['acc']['mean']:.3f} ± {a['acc']['std']:.3f} | {b['acc']['mean']:.3f} ± {b['acc']['std']:.3f} "
                     f"| {a['network_acc']['mean']:.3f} | {b['network_acc']['mean']:.3f} | {a['network_chosen']} / "
                     f"{b['network_chosen']} of {len(args.seeds)} | {a['seconds']['mean']:.0f} / {b['seconds']['mean']:.0f} |")
    lines.append(f"\nACC mean ± std over seeds {args.seeds}; `python bench/ensemble_check.py --jobs {args.jobs}` at "
                 f"{started['git_commit']}, one thread per process.")
    (out / "ensemble_check.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.2))
    x = np.arange(len(args.datasets))
    for i, size in enumerate(SIZES):
        means = [summary[f"{n}/{size}"]["acc"]["mean"] for n in args.datasets]
        stds = [summary[f"{n}/{size}"]["acc"]["std"] for n in args.datasets]
        ax.bar(x + (i - 0.5) * 0.38, means, 0.38, yerr=stds, capsize=3, label=f"ensemble={size}")
    ax.set_xticks(x, args.datasets)
    ax.set_ylabel("ACC")
    ax.set_ylim(0, 1)
    ax.legend(loc="lower right")
    ax.set_title("PSSC defaults: one run against an ensemble of three")
    fig.savefig(out / "ensemble_check.png", dpi=110, bbox_inches="tight")
    print(f"wrote {out / 'ensemble_check.json'}, .md and .png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
