"""Diagnostic: what more can the pseudo-supervised contrastive features give, for the same training budget?

One encoder trains the library's way for its CPU budget (``train_encoder``), then two copies train on for the
default pseudo-supervised steps (``contrastive_pseudo`` x the budget):

    one   the default: one round of ``refine_encoder`` on the base features' partition
    two   the same steps in two halves, the partition refreshed from the features between them (the paper refreshes
          its pseudo-labels as training goes; the second half learns from the first half's better partition)

and each final encoder's features are read three ways, each clustered as the estimators cluster a candidate (ridge
self-expression, default post-processing; its normalized cut printed):

    plain   the un-augmented images' features (what the estimators use)
    tta     the mean unit feature over the image and --views random views of it (the encoder was trained to map views
            together; averaging them is a label-free denoising of the read-out)
    fused   the features side by side with the unit input rows, equal weight (ridge on the sum of the two Gram
            matrices: pixels and learned features make different mistakes)

Labels only score. One JSON line per run to --out.

    python bench/diagnostics/contrastive_rounds.py orl --seed 0 --out bench/results/diagnostics/contrastive_rounds.jsonl
"""
import copy
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench" / "diagnostics"))
import _rows  # noqa: E402

from pssc_fast import contrastive  # noqa: E402
from pssc_fast.metrics import acc  # noqa: E402
from pssc_fast.params import PSSC_DEFAULTS  # noqa: E402

args, images, y, K = _rows.image_diagnostic(__doc__.splitlines()[0], lambda parser: parser.add_argument(
    "--views", type=int, default=8, help="random views averaged for the tta read-out"))
U_input = F.normalize(images.flatten(1).double(), dim=1)


def cluster(H):
    """(labels, normalized cut) of feature rows H as the estimators cluster a candidate."""
    return _rows.cluster_features(H, K, args.seed)


def plain(model):
    return F.normalize(contrastive._raw_features(model, images).double(), dim=1)


def tta(model):
    generator = torch.Generator().manual_seed(20_000 + args.seed)
    shrunk = contrastive._shrunk(images)
    total = plain(model)
    for _ in range(args.views):
        with torch.no_grad():
            total += F.normalize(model(contrastive.augment(shrunk, generator)).double(), dim=1)
    return F.normalize(total, dim=1)


def read_outs(model):
    out = {}
    H = plain(model)
    for name, feats in (("plain", H), ("tta", tta(model)),
                        ("fused", torch.cat([H, U_input], 1) / np.sqrt(2.0))):
        labels, cut = cluster(feats.numpy())
        out[name] = {"acc": float(acc(y, labels)), "cut": cut}
    return out


t0 = time.time()
steps = contrastive.planned_steps(len(images), *contrastive.default_budget("cpu"))
pseudo = round(PSSC_DEFAULTS["contrastive_pseudo"] * steps)
base = contrastive.train_encoder(images, steps=steps, seed=args.seed)
base_labels, base_cut = cluster(plain(base).numpy())
input_labels, input_cut = cluster(U_input.numpy())
record = {"dataset": args.dataset, "seed": args.seed, "steps": steps, "pseudo_steps": pseudo,
          "input": {"acc": float(acc(y, input_labels)), "cut": input_cut},
          "base": {"acc": float(acc(y, base_labels)), "cut": base_cut}}
print(json.dumps(record), flush=True)

one = contrastive.refine_encoder(copy.deepcopy(base), images, base_labels, steps=pseudo, seed=args.seed)
record["one"] = read_outs(one)
print(json.dumps({"one": record["one"]}), flush=True)

half = contrastive.refine_encoder(copy.deepcopy(base), images, base_labels, steps=pseudo // 2, seed=args.seed)
mid_labels, mid_cut = cluster(plain(half).numpy())
record["two_mid"] = {"acc": float(acc(y, mid_labels)), "cut": mid_cut}
two = contrastive.refine_encoder(half, images, mid_labels, steps=pseudo - pseudo // 2, seed=args.seed + 1)
record["two"] = read_outs(two)
print(json.dumps({"two_mid": record["two_mid"], "two": record["two"]}), flush=True)
record["seconds"] = time.time() - t0
_rows.write_record(args.out, record)
