"""Diagnostic: which label-free rule names the most accurate confident images for pseudo-supervision?

After pseudo-supervision the contrastive candidate's ACC sits a few points under the ACC of the images it was told
were confident (contrastive_pseudo.jsonl: ORL 0.80 -> 0.78, MNIST-1k 0.94 -> 0.89), so a purer confident set could
lift what the refinement learns. One encoder trains the library's way for its CPU budget (cached in --cache for
contrastive_pseudo_rules.py); from its features' partition (the candidate, default post-processing) each rule picks a
confident set, and the rule's precision (ACC of the confident images under the partition's own cluster-to-class
matching on them) and coverage are printed:

    mean      the default: the half of each cluster closest (cosine) to the cluster's mean feature
    knn       images whose --k nearest neighbours (cosine, features) all share their cluster, at most half a cluster
              (the closest to the mean first)
    agree     the default's images whose cluster also holds them in the input's own partition (ridge self-expression
              of the unit pixel rows, clusters matched to the features' by the Hungarian method on their overlap)

Labels only score. One JSON line per run to --out.
"""
import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench" / "diagnostics"))
import _rows  # noqa: E402

from pssc_fast import contrastive  # noqa: E402
from pssc_fast.affinity import cluster_coefficients  # noqa: E402
from pssc_fast.metrics import acc  # noqa: E402
from pssc_fast.train import shallow_coefficients  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("dataset")
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--k", type=int, default=3)
parser.add_argument("--cache", default="/tmp/enc")
parser.add_argument("--threads", type=int, default=1)
parser.add_argument("--out", default=None)
args = parser.parse_args()
torch.set_num_threads(args.threads)
_rows.DATA = Path(os.environ.get("PSSC_DATA_DIR", _rows.DATA))
images, y, K = _rows.image_set(args.dataset)

path = Path(args.cache) / f"{args.dataset}_{args.seed}.pt"
if path.exists():
    model = contrastive.ContrastiveEncoder(images.shape[1])
    model.load_state_dict(torch.load(path))
    model.eval()
else:
    steps = contrastive.planned_steps(len(images), *contrastive.default_budget("cpu"))
    model = contrastive.train_encoder(images, steps=steps, seed=args.seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), path)

H = F.normalize(contrastive._raw_features(model, images).double(), dim=1)


def partition(U):
    return cluster_coefficients(shallow_coefficients(torch.as_tensor(U), K).numpy(), K, random_state=args.seed)


labels = partition(H.numpy())
mean_groups = contrastive.confident_groups(H, labels, contrastive.PSEUDO_KEEP).numpy()
mean_mask = mean_groups >= 0

# knn: all k nearest neighbours in the same cluster, then at most half of each cluster by closeness to the mean
S = H @ H.T
S.fill_diagonal_(-2)
nn = torch.topk(S, args.k, dim=1).indices.numpy()
pure = (labels[nn] == labels[:, None]).all(1)
knn_mask = np.zeros(len(labels), bool)
for c in np.unique(labels):
    members = np.flatnonzero(labels == c)
    closeness = (H[members] @ F.normalize(H[members].mean(0), dim=0)).numpy()
    ordered = members[np.argsort(-closeness)]
    chosen = ordered[pure[ordered]][:max(1, round(contrastive.PSEUDO_KEEP * len(members)))]
    knn_mask[chosen] = True

# agree: the input partition's clusters matched to the features' by overlap
input_labels = partition(F.normalize(images.flatten(1).double(), dim=1).numpy())
overlap = np.zeros((K, K))
np.add.at(overlap, (labels, input_labels), 1)
rows, cols = linear_sum_assignment(-overlap)
match = dict(zip(cols, rows))
agree_mask = mean_mask & (np.array([match.get(c, -1) for c in input_labels]) == labels)

record = {"dataset": args.dataset, "seed": args.seed, "k": args.k, "acc": float(acc(y, labels)),
          "input_acc": float(acc(y, input_labels))}
for name, mask in (("mean", mean_mask), ("knn", knn_mask), ("agree", agree_mask)):
    record[name] = {"precision": float(acc(y[mask], labels[mask])), "coverage": float(mask.mean()),
                    "clusters": int(len(np.unique(labels[mask])))}
print(json.dumps(record), flush=True)
if args.out:
    with open(args.out, "a") as f:
        f.write(json.dumps(record) + "\n")
