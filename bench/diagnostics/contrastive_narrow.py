"""Diagnostic: a narrower contrastive encoder trained for more steps at about the same CPU cost.

CUDA's 10000 steps scored higher than the CPU's 2000 (ORL's 700) on every run measured (sixth session), and ORL's
figure rose late; a CPU thread cannot afford them with the default encoder. Halving every width (16-32-64 channels,
64 features) cuts a step's convolutions to about a quarter, so ``--scale`` times the steps and the cap in passes
(default 3) cost about what the defaults cost. One default PSSC fit otherwise (pseudo-supervision at half the plain
steps, the consensus); its final features are saved:

    PSSC_DATA_DIR=../shared/data OMP_NUM_THREADS=1 python bench/diagnostics/contrastive_narrow.py orl 0 \
        --features /tmp/F.npy --out bench/results/diagnostics/contrastive_narrow.jsonl

Labels only score; compare with ``ro_consensus.py fit`` of the same set and seed (the default's figure and seconds).
"""
import argparse
import functools
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench" / "diagnostics"))
import _rows  # noqa: E402

from pssc_fast.metrics import acc  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", choices=["digits", "orl", "coil20", "mnist1k"])
    parser.add_argument("seed", type=int)
    parser.add_argument("--width", type=int, default=16, help="the first block's channels (default encoder: 32)")
    parser.add_argument("--scale", type=float, default=3.0, help="times the CPU budget's steps and cap in passes")
    parser.add_argument("--features", type=Path, required=True)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)

    import pssc_fast.contrastive as contrastive
    from pssc_fast import PSSC

    X, y, K = _rows.rows(args.name)  # as ro_consensus.py fit: rows as square images
    X = X.reshape(len(X), 1, *(2 * [int(round(np.sqrt(X.shape[1])))]))
    contrastive.ContrastiveEncoder = functools.partial(contrastive.ContrastiveEncoder, width=args.width)
    steps, max_epochs = contrastive.default_budget("cpu")
    steps, max_epochs = round(args.scale * steps), round(args.scale * max_epochs)
    plain_features = contrastive.contrastive_features

    def saving(*a, **k):
        features = plain_features(*a, **k)
        np.save(args.features, features)
        return features

    contrastive.contrastive_features = saving
    t0 = time.perf_counter()
    est = PSSC(K, random_state=args.seed, contrastive_steps=steps, contrastive_max_epochs=max_epochs).fit(X)
    _rows.write_record(args.out, {
        "dataset": args.name, "seed": args.seed, "width": args.width, "scale": args.scale,
        "contrastive_steps": est.contrastive_steps_, "contrastive_pseudo_steps": est.contrastive_pseudo_steps_,
        "acc": round(acc(y, est.labels_), 4), "chosen": est.chosen_,
        "at_ro": round(acc(y, est.candidate_labels_[est.chosen_]), 4),
        "candidates": {c: round(acc(y, lab), 4) for c, lab in est.candidate_labels_.items()},
        "seconds": round(time.perf_counter() - t0, 1), "contrastive_seconds": round(est.timings_["contrastive"], 1),
        "features": str(args.features)})


if __name__ == "__main__":
    main()
