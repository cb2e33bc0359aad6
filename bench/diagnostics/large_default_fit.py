"""Diagnostic: one fit_large with the defaults on MNIST-10k's rows as 28x28 images, 2000 anchors, from scratch
(pre-training included): ACC of every row's and the anchors' labels, each candidate's anchor ACC and normalized cut,
the agreement (AMI) of the contrastive and the network candidates' anchor partitions, and whose partitions the anchor
labels are the consensus of (``consensus_of_``). Labels only score:

    PSSC_DATA_DIR=../shared/data OMP_NUM_THREADS=1 python bench/diagnostics/large_default_fit.py 0 \
        --out bench/results/diagnostics/large_default_fit.jsonl
"""
import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import adjusted_mutual_info_score

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench" / "diagnostics"))
import _rows  # noqa: E402

from pssc_fast.datasets import load_mnist  # noqa: E402
from pssc_fast.large import LargePSSC  # noqa: E402
from pssc_fast.metrics import acc  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("seed", type=int)
    parser.add_argument("--out", default=None, help="a JSON-lines file the record is appended to")
    args = parser.parse_args()
    torch.set_num_threads(1)
    X, y = load_mnist(_rows.DATA)
    t0 = time.perf_counter()
    est = LargePSSC(10, anchors=2000, random_state=args.seed, image_shape=(1, 28, 28)).fit(X)
    ya = np.asarray(y)[est.anchor_indices_]
    at_ro = est.candidate_labels_
    _rows.write_record(args.out, {
        "dataset": "mnist10k", "seed": args.seed, "anchors": 2000, "acc": round(acc(y, est.labels_), 4),
        "anchors_acc": round(acc(ya, est.anchor_labels_), 4), "chosen": est.chosen_, "consensus_of": est.consensus_of_,
        "rebalanced": getattr(est, "rebalanced_", None),
        "candidates": {c: round(acc(ya, lab), 4) for c, lab in at_ro.items()},
        "cuts": {c: round(float(v), 5) for c, v in est.normalized_cuts_.items()},
        "ami": round(adjusted_mutual_info_score(at_ro["contrastive"], at_ro["network"]), 4),
        "seconds": round(time.perf_counter() - t0, 1)})


if __name__ == "__main__":
    main()
