"""Diagnostic: the debiased contrastive loss (Chuang, Robinson, Lin, Torralba & Jegelka, NeurIPS 2020) in the
contrastive stage's plain steps, with the class prior tau+ = 1 / K from the number of clusters asked for.

NT-Xent counts every other image of a batch as a negative, the same class's included (with K balanced classes, a
fraction 1/K of them): it pushes a face away from the other images of the same person. The debiased loss subtracts
the positives' expected share from the negatives' sum, ``(sum(neg) - N tau+ pos) / (1 - tau+)``, clamped below at
``N exp(-1 / t)``. Only K is used, which every fit is given. One default PSSC fit (CPU budget, pseudo-supervision and
the consensus as the defaults have them), with only the plain steps' loss replaced; its final features are saved:

    PSSC_DATA_DIR=../shared/data OMP_NUM_THREADS=1 python bench/diagnostics/contrastive_debiased.py orl 0 \
        --features /tmp/F.npy --out bench/results/diagnostics/contrastive_debiased.jsonl

Labels only score; compare with ``ro_consensus.py fit`` of the same set and seed (the default's figure).
"""
import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench" / "diagnostics"))
import _rows  # noqa: E402

from pssc_fast.metrics import acc  # noqa: E402


def debiased_nt_xent(z: torch.Tensor, temperature: float, class_prior: float) -> torch.Tensor:
    """Chuang et al.'s debiased NT-Xent for 2b projections z (rows i and i + b two views of one image)."""
    b = z.shape[0] // 2
    z = F.normalize(z, dim=1)
    sim = torch.exp(z @ z.T / temperature)
    pair = torch.cat([torch.arange(b, 2 * b), torch.arange(b)]).to(z.device)
    pos = sim[torch.arange(2 * b, device=z.device), pair]
    n_neg = 2 * b - 2
    neg = sim.sum(1) - sim.diagonal() - pos
    neg = ((neg - n_neg * class_prior * pos) / (1 - class_prior)).clamp(min=n_neg * math.exp(-1 / temperature))
    return -torch.log(pos / (pos + neg)).mean()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", choices=["digits", "orl", "coil20", "mnist1k"])
    parser.add_argument("seed", type=int)
    parser.add_argument("--features", type=Path, required=True)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)

    import pssc_fast.contrastive as contrastive
    from pssc_fast import PSSC

    X, y, K = _rows.rows(args.name)  # as ro_consensus.py fit: rows as square images
    X = X.reshape(len(X), 1, *(2 * [int(round(np.sqrt(X.shape[1])))]))
    contrastive.nt_xent = lambda z, temperature: debiased_nt_xent(z, temperature, 1.0 / K)
    unwrapped = contrastive.contrastive_features

    def saving(*a, **k):
        features = unwrapped(*a, **k)
        np.save(args.features, features)
        return features

    contrastive.contrastive_features = saving
    t0 = time.perf_counter()
    est = PSSC(K, random_state=args.seed).fit(X)
    _rows.write_record(args.out, {
        "dataset": args.name, "seed": args.seed, "class_prior": 1.0 / K, "acc": round(acc(y, est.labels_), 4),
        "chosen": est.chosen_, "at_ro": round(acc(y, est.candidate_labels_[est.chosen_]), 4),
        "candidates": {c: round(acc(y, lab), 4) for c, lab in est.candidate_labels_.items()},
        "seconds": round(time.perf_counter() - t0, 1), "features": str(args.features)})


if __name__ == "__main__":
    main()
