"""Diagnostic: signed features, without the encoder's last ReLU.

The library's encoder pools its last map after a ReLU, so every feature is non-negative and the unit feature rows share
one dominant direction (on MNIST-10k's anchors the Gram matrix's top eigenvalue is 82% of its trace; pseudo_merge.py,
the tenth session). Leaving out that last ReLU (batch norm, then global average pooling) gives signed features; the
projection head is unchanged. The encoder trains the library's way (``contrastive_features``: the CPU budget, then the
default pseudo-supervised steps on its own partition, same seeds) and the features' candidate is scored (ridge
self-expression, default post-processing), with the share of the top eigenvalue in the Gram matrix's trace. For
``mnist10k`` the route is fit_large's on seeded anchors (pseudo_merge.py's): the encoder on all 10,000 images, the
partition and the refinement on 2000 anchors, every row labelled by its nearest anchor. Labels only score; one JSON
line to --out.

    python bench/diagnostics/contrastive_signed.py orl --seed 0
"""
import sys
import time
from pathlib import Path

import numpy as np
import torch.nn as nn

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench" / "diagnostics"))
import _rows  # noqa: E402

from pssc_fast import contrastive  # noqa: E402
from pssc_fast.affinity import normalized_cut  # noqa: E402
from pssc_fast.metrics import acc  # noqa: E402
from pssc_fast.params import PSSC_DEFAULTS  # noqa: E402


def add_arguments(parser):
    parser.add_argument("--relu", action="store_true", help="keep the last ReLU (the library's encoder)")


args, images, y, K = _rows.image_diagnostic(__doc__.splitlines()[0], add_arguments)


class SignedEncoder(contrastive.ContrastiveEncoder):
    """The library's encoder without the ReLU before its global pooling."""

    def __init__(self, in_channels: int = 1, width: int = 32, out_dim: int = 64):
        super().__init__(in_channels, width, out_dim)
        layers = list(self.features)
        assert isinstance(layers[-3], nn.ReLU)
        self.features = nn.Sequential(*layers[:-3], *layers[-2:])


if not args.relu:
    contrastive.ContrastiveEncoder = SignedEncoder


def top_share(H):
    eig = np.linalg.eigvalsh(H @ H.T)
    return float(eig[-1] / eig.sum())


t0 = time.time()
record = {"dataset": args.dataset, "seed": args.seed, "last_relu": args.relu}
if args.dataset == "mnist10k":
    steps, max_epochs = contrastive.default_budget("cpu")
    anchors = _rows.seeded_anchors(len(images), args.seed)
    model = contrastive.train_encoder(images, steps=steps, seed=args.seed, max_epochs=max_epochs)

    def score(model, tag):
        H = _rows.unit_features(model, images).numpy()
        labels, every_row, A = _rows.anchor_partition(H, anchors, K, args.seed)
        record[tag] = {"acc_anchors": float(acc(y[anchors], labels)), "acc": float(acc(y, every_row)),
                       "cut": float(normalized_cut(A, labels)), "top_share": top_share(H[anchors]),
                       "sizes": sorted(np.bincount(labels, minlength=K).tolist())}
        return labels

    labels = score(model, "base")
    pseudo = round(PSSC_DEFAULTS["contrastive_pseudo"] * contrastive.planned_steps(len(images), steps, max_epochs))
    model = contrastive.refine_encoder(model, images[anchors], labels, steps=pseudo, seed=args.seed)
    score(model, "refined")
else:
    labels, cut, pseudo, H = _rows.default_candidate(images, K, args.seed)
    record.update({"acc": float(acc(y, labels)), "cut": cut, "top_share": top_share(H)})
record["pseudo_steps"], record["seconds"] = pseudo, time.time() - t0
_rows.write_record(args.out, record)
