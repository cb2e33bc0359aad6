"""Diagnostic: does pseudo-supervision help the contrastive encoder? (the paper's idea, moved to the features)

One encoder trains the library's way for its CPU budget (``train_encoder``: 2000 steps, at most 700 passes); its
features give the LSR partition (the contrastive candidate, default post-processing). Then two copies train on for
``--extra`` more steps each, from the same weights and optimizer state and on the same batches and views:

    plain   NT-Xent, as before (the control: the same compute spent on more steps)
    pseudo  SupCon (Khosla et al., 2020) with the partition as labels: for a confident image, every view in the batch
            of a confident image of the same cluster is a positive besides its own other view; an image is
            confident when its feature's cosine to its cluster's mean is in the top --keep of its cluster

and each copy's features give a new partition. Labels only score (ACC of the three partitions); the normalized cut of
each partition on its own graph is printed too. One JSON line per run to --out.

    python bench/diagnostics/contrastive_pseudo.py orl --seed 0 --extra 300
"""
import argparse
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
from pssc_fast.affinity import cluster_best_of  # noqa: E402
from pssc_fast.metrics import acc  # noqa: E402
from pssc_fast.train import shallow_coefficients  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("dataset", help="orl, coil20, mnist1k or digits")
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--extra", type=int, default=500, help="steps each arm trains on")
parser.add_argument("--keep", type=float, default=0.5, help="fraction of each cluster counted confident")
parser.add_argument("--steps", type=int, default=None, help="the base encoder's steps (default: the CPU budget)")
parser.add_argument("--threads", type=int, default=1)
parser.add_argument("--out", default=None)
args = parser.parse_args()
torch.set_num_threads(args.threads)
images, y, K = _rows.image_set(args.dataset)
TEMPERATURE = 0.5


def partition(model):
    H = contrastive.encode(model, images).double()
    C = shallow_coefficients(H, K).numpy()
    _, result = cluster_best_of({"c": C}, K, random_state=args.seed)
    labels, _, cut = result["c"]
    return H, labels, float(cut)


def supcon(z, groups):
    """SupCon over 2b projections (rows i and i + b are views of one image); ``groups`` (b,) holds a pseudo-label
    for confident images and a unique negative id for the others, so that those only have their own other view."""
    b = z.shape[0] // 2
    z = F.normalize(z, dim=1)
    logits = z @ z.T / TEMPERATURE
    eye = torch.eye(2 * b, dtype=torch.bool)
    logits = logits.masked_fill(eye, float("-inf"))
    g = torch.cat([groups, groups])
    positive = (g[:, None] == g[None, :]) & ~eye
    log_prob = logits.log_softmax(dim=1).masked_fill(eye, 0.0)
    return -((log_prob * positive).sum(1) / positive.sum(1)).mean()


t0 = time.time()
steps = args.steps or contrastive.planned_steps(len(images), *contrastive.default_budget("cpu"))
base = contrastive.train_encoder(images, steps=steps, seed=args.seed)
H, labels, cut = partition(base)
record = {"dataset": args.dataset, "seed": args.seed, "steps": steps, "extra": args.extra, "keep": args.keep,
          "base": {"acc": float(acc(y, labels)), "cut": cut}}
print(json.dumps(record), flush=True)

# confident images: the top --keep of each cluster by cosine to the cluster's mean feature
groups = -1 - torch.arange(len(images))
for k in np.unique(labels):
    members = np.flatnonzero(labels == k)
    mean = F.normalize(H[members].mean(0), dim=0)
    cos = (H[members] @ mean).numpy()
    top = members[np.argsort(-cos)[:max(1, int(round(args.keep * len(members))))]]
    groups[top] = int(k)
record["confident_acc"] = float(acc(y[groups.numpy() >= 0], labels[groups.numpy() >= 0]))

shrunk = contrastive._shrunk(images)
bs = min(256, len(images))
for arm in ("plain", "pseudo"):
    model = copy.deepcopy(base).train()
    # a fresh Adam (train_encoder keeps its optimizer to itself), the same seed for both arms: same batches, views
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(10_000 + args.seed)
    step = 0
    while step < args.extra:
        order = torch.randperm(len(images), generator=gen)
        for start in range(0, len(images) - bs + 1, bs):
            idx = order[start:start + bs]
            batch = shrunk[idx]
            views = torch.cat([contrastive.augment(batch, gen), contrastive.augment(batch, gen)])
            z = model.head(model(views))
            loss = contrastive.nt_xent(z, TEMPERATURE) if arm == "plain" else supcon(z, groups[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            if step == args.extra:
                break
    model.eval()
    _, arm_labels, arm_cut = partition(model)
    record[arm] = {"acc": float(acc(y, arm_labels)), "cut": arm_cut}
    print(json.dumps({arm: record[arm]}), flush=True)
record["seconds"] = time.time() - t0
print(json.dumps(record), flush=True)
if args.out:
    with open(args.out, "a") as f:
        f.write(json.dumps(record) + "\n")
