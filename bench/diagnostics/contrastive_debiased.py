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
import math
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench" / "diagnostics"))
import _rows  # noqa: E402


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
    import pssc_fast.contrastive as contrastive

    args, X, y, K = _rows.fit_diagnostic(__doc__.splitlines()[0])
    contrastive.nt_xent = lambda z, temperature: debiased_nt_xent(z, temperature, 1.0 / K)
    est, seconds = _rows.saved_fit(X, K, args.seed, args.features)
    _rows.write_record(args.out, {"dataset": args.name, "seed": args.seed, "class_prior": 1.0 / K,
                                  **_rows.fit_record(est, y, seconds, args.features)})


if __name__ == "__main__":
    main()
