"""fit_large's two labelings side by side, on small data the MNIST-10k comparison never saw.

``labeling="landmark"`` beat the nearest-anchor labeling on MNIST-10k (bench/fit_large_scaling.py, 0.77
against 0.65-0.72). Before making it the default, this asks whether that holds elsewhere: digits (1797 rows,
500 anchors), COIL20 (1440 rows, 500 anchors) and ORL (400 rows, 200 anchors), all as rows of pixels, the
fully-connected auto-encoder and every other setting at its default. Each seed pre-trains once and fits both
labelings from that auto-encoder. It also records which candidate (network or input LSR) the anchors kept and
in which space rows were assigned (``assign_space_``). Writes bench/results/labeling_check.{json,md}.

    OMP_NUM_THREADS=1 python bench/labeling_check.py --data-dir ../shared/data     # ~5 minutes on one thread
"""
from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from provenance import provenance  # noqa: E402
from quality import load  # noqa: E402

CASES = {"digits": 500, "coil20": 500, "orl": 200}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = ap.parse_args(argv)

    import torch

    from pssc_fast import LargePSSC
    from pssc_fast.metrics import acc

    torch.set_num_threads(1)
    started = provenance()
    runs = []
    for name, anchors in CASES.items():
        X, y, _ = load(name, args.data_dir)
        X = X.reshape(len(X), -1)
        K = int(len(np.unique(y)))
        for seed in args.seeds:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                ae = LargePSSC(n_clusters=K, anchors=anchors, random_state=seed).pretrained_autoencoder(X)
                run = {"dataset": name, "seed": seed, "anchors": anchors}
                for labeling in ("anchors", "landmark"):
                    est = LargePSSC(n_clusters=K, anchors=anchors, random_state=seed, labeling=labeling,
                                    autoencoder=ae, pretrain_samples=0).fit(X)
                    run[labeling] = acc(y, est.labels_)
                run.update(chosen=est.chosen_, assign_space=est.assign_space_,
                           warnings=sorted({str(w.message)[:80] for w in caught}))
            print(f"{name} seed {seed}: anchors {run['anchors']:.3f}  landmark {run['landmark']:.3f}  "
                  f"(kept: {run['chosen']})", flush=True)
            runs.append(run)
    summary = {name: {lab: float(np.mean([r[lab] for r in runs if r["dataset"] == name]))
                      for lab in ("anchors", "landmark")} for name in CASES}
    out = ROOT / "bench" / "results"
    (out / "labeling_check.json").write_text(json.dumps({"provenance": started, "summary": summary, "runs": runs},
                                                        indent=1))
    lines = ["| data (anchors) | nearest anchor | landmark |", "|---|---|---|"]
    lines += [f"| {name} ({CASES[name]}) | {s['anchors']:.3f} | {s['landmark']:.3f} |" for name, s in summary.items()]
    lines.append(f"\nACC, mean over seeds {args.seeds}; `python bench/labeling_check.py` at {started['git_commit']}.")
    (out / "labeling_check.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
