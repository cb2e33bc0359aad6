"""Diagnostic: pseudo-supervision from a SCAN partition, whose entropy term keeps clusters from merging.

The default's pseudo-supervision takes its confident groups from the ridge self-expression partition of the base
features, and on ORL and MNIST-10k that partition merges classes and splits others (ORL seed 0: clusters of 30 and
21 images where every class has 10; purity above ACC). SCAN (Van Gansbeke et al., 2020) clusters contrastive
features by training a K-way softmax head so that each image and its k nearest neighbours (cosine) fall in the same
cluster, minus ``--entropy`` times the entropy of the mean assignment, which keeps every cluster in use. Here the
head is linear on the frozen base features (SCAN also trains the backbone), trained full-batch with Adam from
``--heads`` random starts, the lowest total loss kept (SCAN's label-free choice among its heads); its argmax
partition names the confident groups (``confident_groups``, the default half) and the default pseudo-supervised
steps follow; the refined features' candidate is scored the library's way (ridge self-expression, default
post-processing). The base encoder is the library's CPU budget for the seed (cached in --cache). SCAN's published
values: 20 neighbours, entropy weight 5. Labels only score; one JSON line to --out.

    python bench/diagnostics/contrastive_scan.py orl --seed 0 --neighbours 20
"""
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
from pssc_fast.metrics import acc, purity  # noqa: E402


def add_arguments(parser):
    parser.add_argument("--neighbours", type=int, default=20)
    parser.add_argument("--entropy", type=float, default=5.0)
    parser.add_argument("--heads", type=int, default=5)
    parser.add_argument("--head-steps", type=int, default=500)
    parser.add_argument("--cache", default="/tmp/enc")


args, images, y, K = _rows.image_diagnostic(__doc__.splitlines()[0], add_arguments)
t0 = time.time()
base, _, pseudo = _rows.base_and_pseudo_steps(args, images)


def features(model):
    return _rows.unit_features(model, images)


def sizes(labels):
    return sorted(np.bincount(labels, minlength=K).tolist())


H = features(base)
lsr_labels, _ = _rows.cluster_features(H.numpy(), K, args.seed)
similarity = H @ H.T
similarity.fill_diagonal_(-2.0)
neighbours = similarity.topk(args.neighbours, dim=1).indices  # (n, k)


def scan_loss(head):
    """(SCAN's loss of ``head`` on H: neighbours' disagreement minus ``--entropy`` times the mean assignment's
    entropy, the assignment probabilities)."""
    p = head(H).softmax(1)
    consistency = -torch.log((p[:, None, :] * p[neighbours]).sum(-1).clamp_min(1e-12)).mean()
    mean = p.mean(0)
    return consistency + args.entropy * (mean * torch.log(mean.clamp_min(1e-12))).sum(), p


def scan_head(seed):
    """(total loss, argmax labels) of one linear head trained on the frozen features H."""
    torch.manual_seed(seed)
    head = torch.nn.Linear(H.shape[1], K).double()
    opt = torch.optim.Adam(head.parameters(), lr=1e-2)
    for _ in range(args.head_steps):
        loss, _ = scan_loss(head)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        loss, p = scan_loss(head)
    return float(loss), p.argmax(1).numpy()


heads = [scan_head(args.seed * 100 + h) for h in range(args.heads)]
loss, scan_labels = min(heads, key=lambda pair: pair[0])
groups = contrastive.confident_groups(H, scan_labels, contrastive.PSEUDO_KEEP)
mask = (groups >= 0).numpy()
generator = torch.Generator().manual_seed(args.seed + contrastive.PSEUDO_SEED_OFFSET)
model = contrastive._train_on_views(copy.deepcopy(base), contrastive._shrunk(images), pseudo, generator,
                                   min(256, len(images)), 1e-3, lambda z, batch: contrastive.supcon(z, groups[batch], 0.5))
final, cut = _rows.cluster_features(features(model).numpy(), K, args.seed)
record = {"dataset": args.dataset, "seed": args.seed, "neighbours": args.neighbours, "entropy": args.entropy,
          "pseudo_steps": pseudo, "base_lsr": float(acc(y, lsr_labels)), "base_lsr_sizes": sizes(lsr_labels),
          "scan_losses": [h[0] for h in heads], "scan_head": float(acc(y, scan_labels)),
          "scan_head_sizes": sizes(scan_labels), "scan_head_accs": [float(acc(y, h[1])) for h in heads],
          "confident_purity": float(purity(y[mask], groups.numpy()[mask])),
          "acc": float(acc(y, final)), "final_sizes": sizes(final), "cut": cut, "seconds": time.time() - t0}
_rows.write_record(args.out, record)
