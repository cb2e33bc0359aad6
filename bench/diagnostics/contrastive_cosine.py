"""Diagnostic: does a cosine learning-rate decay settle the contrastive encoder where a constant rate leaves it?

The library trains both contrastive stages (NT-Xent, then the pseudo-supervised steps) with Adam at a constant
1e-3, so the features it reads out are one point of a noisy path: the candidate's ACC moves by several points
between nearby steps (the ninth session). SimCLR (Chen et al., 2020) decays its rate along a cosine to zero; here
each stage's rate follows a cosine from 1e-3 to 0 over its own steps, all else the library's
(``contrastive_features``: the CPU budget, then the default pseudo-supervised steps on its own partition, same seeds),
and the features' candidate is scored (ridge self-expression, default post-processing). Labels only score; one
JSON line to --out.

    python bench/diagnostics/contrastive_cosine.py orl --seed 0
"""
import math
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

args, images, y, K = _rows.image_diagnostic(__doc__.splitlines()[0])

library_train_on_views = contrastive._train_on_views


def cosine_train_on_views(model, images, steps, generator, batch_size, lr, loss_of, on_step=None):
    """The library's loop; after each step the rate of the optimizer it made is set on the cosine."""
    made = []
    adam = torch.optim.Adam

    def recording_adam(*a, **kw):
        made.append(adam(*a, **kw))
        return made[-1]

    def decay(step, model):
        for group in made[-1].param_groups:
            group["lr"] = lr * 0.5 * (1 + math.cos(math.pi * step / steps))
        if on_step is not None:
            on_step(step, model)

    torch.optim.Adam = recording_adam
    try:
        return library_train_on_views(model, images, steps, generator, batch_size, lr, loss_of, decay)
    finally:
        torch.optim.Adam = adam


contrastive._train_on_views = cosine_train_on_views


t0 = time.time()
labels, cut, pseudo, _ = _rows.default_candidate(images, K, args.seed)
record = {"dataset": args.dataset, "seed": args.seed, "schedule": "cosine", "pseudo_steps": pseudo,
          "acc": float(acc(y, labels)), "cut": cut, "seconds": time.time() - t0}
_rows.write_record(args.out, record)
