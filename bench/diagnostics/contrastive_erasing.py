"""Diagnostic: random erasing (Zhong, Zheng, Kang, Li & Yang, AAAI 2020) added to the contrastive views.

ORL's default partitions split some faces into two groups of about five images and merge others
(partition_anatomy.py); the database's faces vary by expression and glasses, local changes that the views do not
make, so the features need not treat them as views of the same face. Each
view (:func:`pssc_fast.contrastive.augment`, both stages) here also has, with probability 1/2, one rectangle of 2% to
25% of its area (aspect 0.3 to 3.3) replaced by that view's mean pixel. One default PSSC fit (CPU budget,
pseudo-supervision and the consensus as the defaults have them); its final features are saved:

    PSSC_DATA_DIR=../shared/data OMP_NUM_THREADS=1 python bench/diagnostics/contrastive_erasing.py orl 0 \
        --features /tmp/F.npy --out bench/results/diagnostics/contrastive_erasing.jsonl

Labels only score; compare with ``ro_consensus.py fit`` of the same set and seed (the default's figure).
"""
import math
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench" / "diagnostics"))
import _rows  # noqa: E402

PROBABILITY, AREA, ASPECT = 0.5, (0.02, 0.25), (0.3, 1 / 0.3)


def erase(views: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """``views`` (n, C, H, W) with one random rectangle of about half of them set to the view's mean."""
    n, _, h, w = views.shape
    u = torch.rand(n, 5, generator=generator)
    area = (AREA[0] + u[:, 0] * (AREA[1] - AREA[0])) * h * w
    aspect = torch.exp(math.log(ASPECT[0]) + u[:, 1] * (math.log(ASPECT[1]) - math.log(ASPECT[0])))
    eh = torch.sqrt(area * aspect).round().clamp(1, h).long()
    ew = torch.sqrt(area / aspect).round().clamp(1, w).long()
    top = (u[:, 2] * (h - eh + 1).float()).long()
    left = (u[:, 3] * (w - ew + 1).float()).long()
    rows, cols = torch.arange(h).view(1, h, 1), torch.arange(w).view(1, 1, w)
    mask = ((rows >= top.view(n, 1, 1)) & (rows < (top + eh).view(n, 1, 1))
            & (cols >= left.view(n, 1, 1)) & (cols < (left + ew).view(n, 1, 1)) & (u[:, 4] < PROBABILITY).view(n, 1, 1))
    mask = mask.unsqueeze(1).to(views.device)
    return torch.where(mask, views.mean(dim=(1, 2, 3), keepdim=True), views)


def main() -> None:
    import pssc_fast.contrastive as contrastive

    args, X, y, K = _rows.fit_diagnostic(__doc__.splitlines()[0])
    plain_augment = contrastive.augment
    contrastive.augment = lambda x, generator=None: erase(plain_augment(x, generator), generator)
    est, seconds = _rows.saved_fit(X, K, args.seed, args.features)
    _rows.write_record(args.out, {"dataset": args.name, "seed": args.seed,
                                  "erasing": {"probability": PROBABILITY, "area": AREA, "aspect": ASPECT},
                                  **_rows.fit_record(est, y, seconds, args.features)})


if __name__ == "__main__":
    main()
