"""Diagnostic: does the contrastive encoder lose what it needs by pooling its last map to one vector?

The encoder ends in global average pooling: 128 channels, no layout. Faces (ORL) differ by where things are as much as
by what is there, so a 2 x 2 grid of pooled cells (512 features, the projection head widened to match) keeps the
coarse layout a face or an object has. The encoder trains the library's way (``contrastive_features``: the CPU budget,
then the default pseudo-supervised steps on its own partition, same seeds) with either pooling, and the features'
candidate is scored (ridge self-expression, default post-processing). Labels only score; one JSON line to --out.

    python bench/diagnostics/contrastive_pooling.py orl --seed 0 --grid 2
"""
import sys
import time
from pathlib import Path

import torch.nn as nn

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench" / "diagnostics"))
import _rows  # noqa: E402

from pssc_fast import contrastive  # noqa: E402
from pssc_fast.metrics import acc  # noqa: E402

args, images, y, K = _rows.image_diagnostic(__doc__.splitlines()[0], lambda parser: parser.add_argument(
    "--grid", type=int, default=2, help="cells per side of the last pooling (1: the library's)"))


class GridEncoder(contrastive.ContrastiveEncoder):
    """The library's encoder with its last pooling to a grid x grid map, flattened."""

    def __init__(self, in_channels: int = 1, width: int = 32, out_dim: int = 64):
        super().__init__(in_channels, width, out_dim)
        layers = list(self.features)[:-2]
        c = 4 * width * args.grid ** 2
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(args.grid), nn.Flatten())
        self.head = nn.Sequential(nn.Linear(c, c), nn.ReLU(), nn.Linear(c, out_dim))


contrastive.ContrastiveEncoder = GridEncoder


t0 = time.time()
labels, cut, pseudo, _ = _rows.default_candidate(images, K, args.seed)
record = {"dataset": args.dataset, "seed": args.seed, "grid": args.grid, "features": GridEncoder().head[0].in_features,
          "pseudo_steps": pseudo, "acc": float(acc(y, labels)), "cut": cut, "seconds": time.time() - t0}
_rows.write_record(args.out, record)
