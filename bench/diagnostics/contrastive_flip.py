"""Diagnostic: do the contrastive views gain from a random horizontal flip, SimCLR's standard view?

The library's views rotate, scale, shift, brighten and add noise; SimCLR (Chen et al., 2020) also mirrors half of
them left to right. A mirrored face or object is the same face or object, so the features could learn that a
subject turned left and the same subject turned right belong together; a mirrored digit is not always a digit,
which is why the library left flips out. The encoder trains the library's way (``contrastive_features``: the CPU
budget, then the default pseudo-supervised steps on its own partition, same seeds) with or without flips (p = 0.5,
each view drawn independently), and the features' candidate is scored (ridge self-expression, default
post-processing). Labels only score; one JSON line to --out.

    python bench/diagnostics/contrastive_flip.py orl --seed 0 --flip 0.5
"""
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench" / "diagnostics"))
import _rows  # noqa: E402

from pssc_fast import contrastive  # noqa: E402
from pssc_fast.metrics import acc  # noqa: E402

args, images, y, K = _rows.image_diagnostic(__doc__.splitlines()[0], lambda parser: parser.add_argument(
    "--flip", type=float, default=0.5, help="probability that a view is mirrored left to right (0: the library's)"))

library_augment = contrastive.augment


def flipped_augment(x, generator=None):
    views = library_augment(x, generator)
    mirror = torch.rand(x.shape[0], generator=generator) < args.flip
    return torch.where(mirror.view(-1, 1, 1, 1).to(views.device), views.flip(-1), views)


if args.flip > 0:
    contrastive.augment = flipped_augment


t0 = time.time()
labels, cut, pseudo, _ = _rows.default_candidate(images, K, args.seed)
record = {"dataset": args.dataset, "seed": args.seed, "flip": args.flip, "pseudo_steps": pseudo,
          "acc": float(acc(y, labels)), "cut": cut, "seconds": time.time() - t0}
_rows.write_record(args.out, record)
