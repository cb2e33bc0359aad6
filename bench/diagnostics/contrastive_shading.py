"""Diagnostic: do the contrastive views gain from a random directional shading, and do the features survive it?

The library's views change brightness uniformly (a factor in 1 +- 0.2). Lighting from one side changes it across the
image: the classic subspace-clustering data (faces under varying light, as Extended Yale B) vary mostly that way. With
``--shading S`` each view is also multiplied by exp(s (cos t x + sin t y)) over the image's [-1, 1] square, s uniform in
[0, S], t uniform (a smooth ramp from one side to the other). With ``--probe P`` the images themselves are first shaded
that way (fixed per image, s in [0, P], seed 100 + --seed) and rescaled to [0, 1]: a set the features have to see through,
made here (no such set is in ../shared/data), on which ridge self-expression of the pixels is reported too. The encoder
trains the library's way (``contrastive_features``: the CPU budget, the default pseudo-supervised steps, same seeds)
and its candidate is scored (ridge self-expression, default post-processing). With ``--full-fit`` (and no --shading)
``PSSC(n_clusters=K, random_state=seed)`` fits the (probe's) images instead, every default, and its three candidates are
reported: whether the cut still keeps a good one when the contrastive features fail. Labels only score; one JSON line
to --out.

    python bench/diagnostics/contrastive_shading.py orl --seed 0 --shading 0.5 --probe 1
    python bench/diagnostics/contrastive_shading.py orl --seed 0 --shading 0 --probe 1 --full-fit
"""
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench" / "diagnostics"))
import _rows  # noqa: E402

from pssc_fast import contrastive  # noqa: E402
from pssc_fast.metrics import acc  # noqa: E402


def add_arguments(parser):
    parser.add_argument("--shading", type=float, default=0.5, help="largest slope s of the views' shading (0: off)")
    parser.add_argument("--probe", type=float, default=0.0, help="shade the images themselves up to this slope first")
    parser.add_argument("--full-fit", action="store_true", help="fit PSSC's defaults instead of the candidate alone")


args, images, y, K = _rows.image_diagnostic(__doc__.splitlines()[0], add_arguments)


def shading(n, height, width, max_slope, generator=None, rng=None):
    """(n, 1, height, width) multiplicative fields exp(s (cos t x + sin t y)), s in [0, max_slope], t in [0, 2 pi)."""
    if rng is not None:
        slope, angle = (torch.from_numpy(rng.uniform(0, b, n)).float() for b in (max_slope, 2 * math.pi))
    else:
        slope, angle = torch.rand(n, generator=generator) * max_slope, torch.rand(n, generator=generator) * 2 * math.pi
    ys, xs = torch.meshgrid(torch.linspace(-1, 1, height), torch.linspace(-1, 1, width), indexing="ij")
    ramp = torch.cos(angle).view(-1, 1, 1) * xs + torch.sin(angle).view(-1, 1, 1) * ys
    return torch.exp(slope.view(-1, 1, 1) * ramp).unsqueeze(1)


record = {"dataset": args.dataset, "seed": args.seed, "shading": args.shading, "probe": args.probe}
if args.probe > 0:
    field = shading(len(images), *images.shape[-2:], args.probe, rng=np.random.default_rng(100 + args.seed))
    images = images * field
    images = (images - images.min()) / (images.max() - images.min())
    pixels, _ = _rows.cluster_features(images.flatten(1).double().numpy(), K, args.seed)
    record["pixels_acc"] = float(acc(y, pixels))

library_augment = contrastive.augment


def shaded_augment(x, generator=None):
    views = library_augment(x, generator)
    return views * shading(x.shape[0], *x.shape[-2:], args.shading, generator).to(views)


if args.shading > 0:
    contrastive.augment = shaded_augment

t0 = time.time()
if args.full_fit:
    if args.shading > 0:
        raise SystemExit("--full-fit fits the library as it is: leave --shading at 0")
    from pssc_fast import PSSC

    model = PSSC(n_clusters=K, random_state=args.seed).fit(images.numpy())
    record.update(full_fit=True, acc=float(acc(y, model.labels_)), chosen=model.chosen_,
                  candidates={c: float(acc(y, lab)) for c, lab in model.candidate_labels_.items()},
                  cuts=model.normalized_cuts_, seconds=time.time() - t0)
else:
    labels, cut, pseudo, _ = _rows.default_candidate(images, K, args.seed)
    record.update(pseudo_steps=pseudo, acc=float(acc(y, labels)), cut=cut, seconds=time.time() - t0)
_rows.write_record(args.out, record)
