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
import sys
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


def add_arguments(parser):
    parser.add_argument("--k", type=int, default=3)
    parser.add_argument("--cache", default="/tmp/enc")


args, images, y, K = _rows.image_diagnostic(__doc__.splitlines()[0], add_arguments)
model = _rows.base_encoder(args.dataset, args.seed, images, args.cache)
H = F.normalize(contrastive._raw_features(model, images).double(), dim=1)


def partition(U):
    return _rows.cluster_features(U, K, args.seed)[0]


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
agree_mask = mean_mask & _rows.agreeing(labels, input_labels, K)

record = {"dataset": args.dataset, "seed": args.seed, "k": args.k, "acc": float(acc(y, labels)),
          "input_acc": float(acc(y, input_labels))}
for name, mask in (("mean", mean_mask), ("knn", knn_mask), ("agree", agree_mask)):
    record[name] = {"precision": float(acc(y[mask], labels[mask])), "coverage": float(mask.mean()),
                    "clusters": int(len(np.unique(labels[mask])))}
_rows.write_record(args.out, record)
