"""Diagnostic: do snapshots of the pseudo-supervised encoder, taken together, cluster better than its last one?

contrastive_rounds.py found the candidate's ACC moving by several points between nearby points of the
pseudo-supervised stage (COIL20 seed 0: 0.926 after half the steps, 0.867-0.906 at the end), with no trend a
label-free rule could stop on. Snapshots of the same run, taken together, should keep what is stable across them
and drop what one step's weights happen to do. The encoder trains the library's way (``train_encoder`` for the CPU
budget, then ``refine_encoder``'s pseudo-supervised steps on the base features' partition, same seeds: the
estimators' default candidate), and the features of the un-augmented images are taken after each quarter of the
pseudo-supervised steps. Read-outs, each clustered as the estimators cluster a candidate (ridge self-expression of
unit feature rows, default post-processing; normalized cut printed):

    last      the last snapshot's features (the default candidate)
    concat    the four snapshots' unit features side by side (ridge on the mean of their Gram matrices)
    mean_c    the mean of the four snapshots' ridge coefficient matrices

Labels only score. One JSON line per run to --out.

    python bench/diagnostics/contrastive_snapshots.py orl --seed 0 --out bench/results/diagnostics/contrastive_snapshots.jsonl
"""
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
from pssc_fast.train import shallow_coefficients  # noqa: E402

args, images, y, K = _rows.image_diagnostic(__doc__.splitlines()[0], lambda parser: parser.add_argument(
    "--snapshots", type=int, default=4))


def features(model):
    H = F.normalize(contrastive._raw_features(model, images).double(), dim=1)
    model.train()  # _raw_features leaves it in eval mode; training goes on
    return H


def ridge(H):
    return shallow_coefficients(torch.as_tensor(H), K).numpy()


def score(C):
    labels, cut = _rows.cluster_coefficients_cut(C, K, args.seed)
    return {"acc": float(acc(y, labels)), "cut": cut}, labels


t0 = time.time()
steps = contrastive.planned_steps(len(images), *contrastive.default_budget("cpu"))
pseudo = round(PSSC_DEFAULTS["contrastive_pseudo"] * steps)
base = contrastive.train_encoder(images, steps=steps, seed=args.seed)
base_score, base_labels = score(ridge(features(base).numpy()))
record = {"dataset": args.dataset, "seed": args.seed, "steps": steps, "pseudo_steps": pseudo, "base": base_score}
print(json.dumps(record), flush=True)

# refine_encoder, with a snapshot of the features after each of --snapshots equal parts of its steps
shrunk = contrastive._shrunk(images)
groups = contrastive.confident_groups(contrastive._raw_features(base, shrunk), base_labels, contrastive.PSEUDO_KEEP)
at = {round(pseudo * (i + 1) / args.snapshots) for i in range(args.snapshots)}
snapshots = []


def on_step(step, model):
    if step in at:
        snapshots.append(features(model).numpy())


generator = torch.Generator().manual_seed(args.seed + contrastive.PSEUDO_SEED_OFFSET)
contrastive._train_on_views(base, shrunk, pseudo, generator, min(256, len(images)), 1e-3,
                            lambda z, batch: contrastive.supcon(z, groups[batch], 0.5), on_step)
Cs = [ridge(H) for H in snapshots]
record["each"] = [score(C)[0] for C in Cs]
record["last"] = record["each"][-1]
record["concat"] = score(ridge(np.concatenate(snapshots, 1) / np.sqrt(len(snapshots))))[0]
record["mean_c"] = score(np.mean(Cs, 0))[0]
record["seconds"] = time.time() - t0
_rows.write_record(args.out, record)
