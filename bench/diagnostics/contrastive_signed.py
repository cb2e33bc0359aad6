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
from pssc_fast.metrics import acc  # noqa: E402
from pssc_fast.params import PSSC_DEFAULTS  # noqa: E402


def add_arguments(parser):
    parser.add_argument("--relu", action="store_true", help="keep the last ReLU (the library's encoder)")


if "mnist10k" in sys.argv[1:2]:  # image_diagnostic knows the board's sets; MNIST-10k is read here
    import argparse
    import os

    import torch

    from pssc_fast.datasets import load_mnist

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None)
    add_arguments(parser)
    args = parser.parse_args()
    torch.set_num_threads(1)
    X, y = load_mnist(Path(os.environ.get("PSSC_DATA_DIR", ROOT.parent / "shared" / "data")))
    X = (X - X.min()) / (X.max() - X.min())
    images, K = torch.from_numpy(np.asarray(X).reshape(-1, 1, 28, 28)).float(), 10
else:
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


def cluster(H):
    return _rows.cluster_features(H, K, args.seed)


def top_share(H):
    eig = np.linalg.eigvalsh(H @ H.T)
    return float(eig[-1] / eig.sum())


t0 = time.time()
steps, max_epochs = contrastive.default_budget("cpu")
record = {"dataset": args.dataset, "seed": args.seed, "last_relu": args.relu}
if args.dataset == "mnist10k":
    import torch.nn.functional as F

    from pssc_fast.nearest import build_index, nearest_anchor_labels

    anchors = np.sort(np.random.default_rng(args.seed).choice(len(images), 2000, replace=False))
    model = contrastive.train_encoder(images, steps=steps, seed=args.seed, max_epochs=max_epochs)

    def score(model, tag):
        H = F.normalize(contrastive._raw_features(model, images).double(), dim=1).numpy()
        labels, cut = cluster(H[anchors])
        every_row = nearest_anchor_labels(build_index(H[anchors].astype(np.float32), "flat", 0, None),
                                          H.astype(np.float32), labels, K)
        record[tag] = {"acc_anchors": float(acc(y[anchors], labels)), "acc": float(acc(y, every_row)), "cut": cut,
                       "top_share": top_share(H[anchors]),
                       "sizes": sorted(np.bincount(labels, minlength=K).tolist())}
        return labels

    labels = score(model, "base")
    pseudo = round(PSSC_DEFAULTS["contrastive_pseudo"] * contrastive.planned_steps(len(images), steps, max_epochs))
    model = contrastive.refine_encoder(model, images[anchors], labels, steps=pseudo, seed=args.seed)
    score(model, "refined")
else:
    pseudo = round(PSSC_DEFAULTS["contrastive_pseudo"] * contrastive.planned_steps(len(images), steps, max_epochs))
    H = contrastive.contrastive_features(images, steps=steps, seed=args.seed, max_epochs=max_epochs,
                                         pseudo_steps=pseudo, partition=lambda U: cluster(U)[0])
    labels, cut = cluster(H)
    record.update({"acc": float(acc(y, labels)), "cut": cut, "top_share": top_share(H)})
record["pseudo_steps"], record["seconds"] = pseudo, time.time() - t0
_rows.write_record(args.out, record)
