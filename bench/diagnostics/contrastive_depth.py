"""Diagnostic: is the contrastive encoder too shallow?

The library's encoder has three stride-2 3x3 convolutions: each output cell sees 15 pixels, and global pooling
averages those local views, so the features are close to a bag of local patterns. A second, stride-1 3x3
convolution in each stage (the same channels, batch norm and ReLU; receptive field 43 pixels) lets the features
combine parts into shapes at about twice the compute. The encoder trains the library's way
(``contrastive_features``: the CPU budget, then the default pseudo-supervised steps on its own partition, same seeds)
at either depth, and the features' candidate is scored (ridge self-expression, default post-processing). Labels
only score; one JSON line to --out.

    python bench/diagnostics/contrastive_depth.py orl --seed 0 --convs 2
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
    "--convs", type=int, default=2, help="3x3 convolutions per stage, the first of stride 2 (1: the library's)"))


class DeeperEncoder(contrastive.ContrastiveEncoder):
    """The library's encoder with ``--convs - 1`` more stride-1 convolutions after each stride-2 one."""

    def __init__(self, in_channels: int = 1, width: int = 32, out_dim: int = 64):
        super().__init__(in_channels, width, out_dim)
        layers, c = [], in_channels
        for w in (width, 2 * width, 4 * width):
            layers += [nn.Conv2d(c, w, 3, 2, 1), nn.BatchNorm2d(w), nn.ReLU()]
            for _ in range(args.convs - 1):
                layers += [nn.Conv2d(w, w, 3, 1, 1), nn.BatchNorm2d(w), nn.ReLU()]
            c = w
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())


contrastive.ContrastiveEncoder = DeeperEncoder


t0 = time.time()
labels, cut, pseudo, _ = _rows.default_candidate(images, K, args.seed)
record = {"dataset": args.dataset, "seed": args.seed, "convs": args.convs, "pseudo_steps": pseudo,
          "acc": float(acc(y, labels)), "cut": cut, "seconds": time.time() - t0}
_rows.write_record(args.out, record)
