"""Diagnostic: does pseudo-supervision make MNIST-10k's merged partition, or inherit it?

fit_large's contrastive candidate on MNIST-10k (2000 anchors) lands on a partition that merges two digits and splits
another in all three seeds (0.78-0.80 ACC), yet the same base encoder's partition escapes it for some seeds
(contrastive_budget.py: seed 1, 0.890 at 2000 steps). This script follows fit_large's route on fixed, seeded anchors:
the base encoder of the CPU budget on all 10,000 images (cached in --cache), ridge self-expression of the anchors'
features with the default post-processing, then the default pseudo-supervised steps on the anchors
(``refine_encoder``, the confident half of each cluster) scored every 250 steps: ACC on the anchors and on every row
(nearest anchor), cluster sizes, the partition's normalized cut on its own graph and the true classes' cut on the
same graph. Labels only score (the confident groups' purity and the classes' cut are diagnostics). One JSON line
per checkpoint to --out.

    python bench/diagnostics/pseudo_merge.py --seed 1 [--rows all]
"""
import argparse
import copy
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
from pssc_fast.affinity import normalized_cut  # noqa: E402
from pssc_fast.metrics import acc, purity  # noqa: E402
from pssc_fast.params import PSSC_DEFAULTS  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--anchors", type=int, default=2000)
parser.add_argument("--every", type=int, default=250)
parser.add_argument("--rows", choices=["anchors", "all"], default="anchors",
                    help="what the pseudo-supervised steps train on: the anchors (fit_large's) or all 10,000 images, "
                         "each labelled by its nearest anchor")
parser.add_argument("--mixed", action="store_true",
                    help="the loss the mean of NT-Xent and the library's SupCon (contrastive_pseudo_rules.py mixed)")
parser.add_argument("--cache", default="/tmp/enc")
parser.add_argument("--out", default=None)
args = parser.parse_args()
torch.set_num_threads(1)
t0 = time.time()
images, y, K = _rows.image_set("mnist10k")
anchors = _rows.seeded_anchors(len(images), args.seed, args.anchors)
base = _rows.base_encoder("mnist10k", args.seed, images, args.cache)


def evaluate(model, step):
    """The anchors' partition of ``model``'s features and its record."""
    H = _rows.unit_features(model, images)
    labels, every_row, A = _rows.anchor_partition(H.numpy(), anchors, K, args.seed)
    _rows.write_record(args.out, {
        "seed": args.seed, "rows": args.rows, "mixed": args.mixed, "pseudo_step": step, "acc_anchors": float(acc(y[anchors], labels)),
        "acc": float(acc(y, every_row)), "sizes": sorted(np.bincount(labels, minlength=K).tolist()),
        "cut": float(normalized_cut(A, labels)), "classes_cut": float(normalized_cut(A, y[anchors])),
        "seconds": time.time() - t0})
    return labels, every_row, H


labels, every_row, H = evaluate(base, 0)
trained = anchors if args.rows == "anchors" else np.arange(len(images))
trained_labels = labels if args.rows == "anchors" else every_row
groups = contrastive.confident_groups(H[trained], trained_labels, contrastive.PSEUDO_KEEP).numpy()
confident = groups >= 0
print({"confident_purity": float(purity(y[trained][confident], groups[confident]))}, flush=True)
steps = round(PSSC_DEFAULTS["contrastive_pseudo"] * contrastive.planned_steps(len(images), *contrastive.default_budget("cpu")))
library_train_on_views = contrastive._train_on_views


def scored_train_on_views(model, images_, steps_, generator, batch_size, lr, loss_of, on_step=None):
    def score(step, m):
        if step % args.every == 0:
            evaluate(m, step)
            m.train()

    return library_train_on_views(model, images_, steps_, generator, batch_size, lr, loss_of, score)


contrastive._train_on_views = scored_train_on_views
if args.mixed:
    library_supcon = contrastive.supcon
    contrastive.supcon = lambda z, g, t: (library_supcon(z, g, t) + contrastive.nt_xent(z, t)) / 2
contrastive.refine_encoder(copy.deepcopy(base), images[trained], trained_labels, steps=steps, seed=args.seed)
