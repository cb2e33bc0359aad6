"""The contrastive candidate (``PSSC``'s default ``contrastive_steps``) against the fit without it, from the same fits.

A fit with ``contrastive_steps`` > 0 clusters three candidates (network, input, contrastive) and keeps the one
with the lowest normalized cut; the network's and the input's candidates are exactly those of the default fit
(tests/test_contrastive.py checks it), so one fit gives both rows: the defaults' labels are the lower-cut of the
first two, the contrastive option's the lowest of all three. Per dataset and seed it records every candidate's
ACC and cut, both choices and the seconds of the contrastive stage. Labels only score; ``--steps`` (default: the
library's default) is the encoder's budget. Writes bench/results/contrastive_check[_TAG].{json,md}.

    python bench/contrastive_check.py --data-dir ../shared/data --datasets digits orl mnist1k --jobs 2
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

def run_task(name: str, seed: int, data_dir: Path, steps, max_epochs="auto", pseudo=None) -> dict:
    import torch

    from pssc_fast import PSSC
    from pssc_fast.metrics import acc

    torch.set_num_threads(1)
    X, y, shape = load(name, data_dir)
    X = X.reshape(-1, *(shape or (1, 8, 8)))  # digits as 8x8 images: the contrastive encoder needs images
    K = int(len(np.unique(y)))
    t0 = time.perf_counter()
    extra = {} if pseudo is None else {"contrastive_pseudo": pseudo}
    est = PSSC(K, random_state=seed, contrastive_steps=steps, contrastive_max_epochs=max_epochs, **extra).fit(X)
    cuts = est.normalized_cuts_
    default = min(("network", "input"), key=cuts.get)
    row = {"dataset": name, "seed": seed, "candidates": {c: acc(y, l) for c, l in est.candidate_labels_.items()},
           "cuts": cuts, "default_choice": default, "default_acc": acc(y, est.candidate_labels_[default]),
           "contrastive_choice": est.chosen_, "contrastive_acc": acc(y, est.labels_),
           "contrastive_seconds": est.timings_["contrastive"], "contrastive_steps_run": est.contrastive_steps_,
           "contrastive_pseudo_steps_run": est.contrastive_pseudo_steps_,
           "seconds": time.perf_counter() - t0}
    print(json.dumps(row), flush=True)
    return row


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--datasets", nargs="+", default=["digits", "orl", "mnist1k"])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--jobs", type=int, default=1, help="processes at a time, one thread each")
    ap.add_argument("--tasks", nargs="+", default=None, metavar="NAME:SEED",
                    help="run these (dataset, seed) pairs instead of every dataset x seed, in this order")
    ap.add_argument("--tag", default="")
    ap.add_argument("--steps", type=int, default=None, help="contrastive_steps (default: PSSC's default)")
    ap.add_argument("--pseudo", type=float, default=None, help="contrastive_pseudo (default: PSSC's default)")
    ap.add_argument("--max-epochs", default="auto",
                    help="contrastive_max_epochs: an integer, 'none' for no cap, or 'auto' (PSSC's default)")
    args = ap.parse_args(argv)
    os.environ["OMP_NUM_THREADS"] = "1"
    from pssc_fast.params import PSSC_DEFAULTS

    args.steps = PSSC_DEFAULTS["contrastive_steps"] if args.steps is None else args.steps
    args.max_epochs = {"auto": "auto", "none": None}.get(args.max_epochs.lower(), args.max_epochs)
    args.max_epochs = args.max_epochs if args.max_epochs in ("auto", None) else int(args.max_epochs)
    started = provenance()
    tasks = [(name, seed) for name in args.datasets for seed in args.seeds]
    if args.tasks:
        tasks = [(t.split(":")[0], int(t.split(":")[1])) for t in args.tasks]
        args.datasets = list(dict.fromkeys(name for name, _ in tasks))
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        runs = list(pool.map(run_task, *zip(*tasks), [args.data_dir] * len(tasks), [args.steps] * len(tasks),
                              [args.max_epochs] * len(tasks), [args.pseudo] * len(tasks)))
    pseudo_shown = "default" if args.pseudo is None else args.pseudo
    lines = ["| dataset | defaults (network / input by cut) | with the contrastive candidate | contrastive candidate alone | "
             "contrastive kept | seconds of the contrastive stage |", "|---|---|---|---|---|---|"]
    for name in args.datasets:
        sel = [r for r in runs if r["dataset"] == name]
        ms = lambda v: f"{np.mean(v):.3f} ± {np.std(v):.3f}"  # noqa: E731
        lines.append(f"| {name} | {ms([r['default_acc'] for r in sel])} | {ms([r['contrastive_acc'] for r in sel])} | "
                     f"{ms([r['candidates']['contrastive'] for r in sel])} | "
                     f"{sum(r['contrastive_choice'] == 'contrastive' for r in sel)} of {len(sel)} | "
                     f"{np.mean([r['contrastive_seconds'] for r in sel]):.0f} |")
    lines.append(f"\nACC mean ± std over the seeds run ({', '.join(f'{n}:{s}' for n, s in tasks)}), contrastive_steps={args.steps}, "
                 f"contrastive_max_epochs={args.max_epochs}, contrastive_pseudo={pseudo_shown}; "
                 f"`python {' '.join(sys.argv)}` at {started['git_commit']}, one thread per process.")
    stem = ROOT / "bench" / "results" / ("contrastive_check" + (f"_{args.tag}" if args.tag else ""))
    stem.with_suffix(".json").write_text(json.dumps({"provenance": started, "steps": args.steps,
                                                         "max_epochs": args.max_epochs, "runs": runs}, indent=1))
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
