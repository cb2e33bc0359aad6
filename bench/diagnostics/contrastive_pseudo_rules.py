"""Diagnostic: pseudo-supervision from confident_selection.py's rules, trained in full.

From the base encoder of the library's CPU budget and the seed (cached in --cache, trained there when missing), one
copy per rule trains the default pseudo-supervised steps (``refine_encoder``'s loss, batches and views: only the
confident set differs) and its features' candidate is scored (ridge self-expression, default post-processing):

    mean    the default: the half of each cluster closest to its mean feature
    agree   those of them that the input's own partition (ridge self-expression of the unit pixel rows) also puts
            in the matching cluster (Hungarian matching on the two partitions' overlap)
    over    the half of each cluster of a partition into twice as many clusters (the same ridge coefficients,
            2K clusters): finer groups are purer, and a cluster that merges two classes is split, so that the
            refinement pushes its parts apart instead of together (overclustering, as IIC's auxiliary heads)
    all     every image of each cluster (keep = 1): the most coverage, the least purity
    swa     the default's groups, the features read from the mean of the weights (and batch-norm statistics) over
            the second half of the steps, every 10th step (stochastic weight averaging, Izmailov et al., 2018):
            the candidate's ACC moves by points between nearby steps, and an average of the weights should not
    nn      the default's groups, and each batch half drawn images, half their nearest neighbours (cosine, base
            features), each pair positives of each other (NNCLR's idea, Dwibedi et al., 2021): the images no group
            names learn more than their own other view
    mixed   the default's groups, the loss the mean of NT-Xent and SupCon: purer groups scored lower after training
            (agree, over) and the refinement turned MNIST-10k seed 1's good partition into the merged one
            (pseudo_merge.py), so the groups' pull is halved by the plain instance loss

Labels only score. One JSON line per run to --out.
"""
import copy
import json
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench" / "diagnostics"))
import _rows  # noqa: E402

from pssc_fast import contrastive  # noqa: E402
from pssc_fast.metrics import acc, purity  # noqa: E402


def add_arguments(parser):
    parser.add_argument("--rules", nargs="+", default=["mean", "over"])
    parser.add_argument("--cache", default="/tmp/enc")


args, images, y, K = _rows.image_diagnostic(__doc__.splitlines()[0], add_arguments)
t0 = time.time()
base, steps, pseudo = _rows.base_and_pseudo_steps(args, images)


def features(model):
    return _rows.unit_features(model, images)


def cluster(U, k=K):
    return _rows.cluster_features(U, K, args.seed, k)


H = features(base)
labels, _ = cluster(H.numpy())
fine, _ = cluster(H.numpy(), 2 * K)
mean_groups = contrastive.confident_groups(H, labels, contrastive.PSEUDO_KEEP)
input_labels, _ = cluster(F.normalize(images.flatten(1).double(), dim=1).numpy())
agree = torch.from_numpy(_rows.agreeing(labels, input_labels, K))
groups = {"mean": mean_groups, "agree": torch.where(agree, mean_groups, -1 - torch.arange(len(labels))),
          "over": contrastive.confident_groups(H, fine, contrastive.PSEUDO_KEEP),
          "all": torch.as_tensor(labels, dtype=torch.int64), "swa": mean_groups, "nn": mean_groups,
          "mixed": mean_groups}

record = {"dataset": args.dataset, "seed": args.seed, "steps": steps, "pseudo_steps": pseudo,
          "base": float(acc(y, labels))}
shrunk = contrastive._shrunk(images)
similarity = H @ H.T
similarity.fill_diagonal_(-2.0)
nearest = similarity.argmax(1)


def train_nearest(model, g, generator):
    """``refine_encoder``'s steps (Adam, views, SupCon at temperature 0.5) on batches of b/2 drawn images and their
    nearest neighbours, a pair's two images positives of each other besides the groups' positives."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    half = min(256, len(images)) // 2
    position = torch.arange(2 * half)
    partner = (position + half) % (2 * half)
    for _ in range(pseudo):
        first = torch.randperm(len(images), generator=generator)[:half]
        idx = torch.cat([first, nearest[first]])
        views = torch.cat([contrastive.augment(shrunk[idx], generator), contrastive.augment(shrunk[idx], generator)])
        z = F.normalize(model.head(model(views)), dim=1)
        image, group, slot = torch.cat([idx, idx]), torch.cat([g[idx], g[idx]]), torch.cat([position, position])
        eye = torch.eye(len(image), dtype=torch.bool)
        positive = ((image[:, None] == image[None, :]) | ((group[:, None] == group[None, :]) & (group[:, None] >= 0))
                    | (partner[slot][:, None] == slot[None, :])) & ~eye
        log_prob = (z @ z.T / 0.5).masked_fill(eye, float("-inf")).log_softmax(dim=1).masked_fill(eye, 0.0)
        loss = -((log_prob * positive).sum(1) / positive.sum(1)).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return model.eval()


for rule in args.rules:
    g = groups[rule]
    mask = (g >= 0).numpy()
    generator = torch.Generator().manual_seed(args.seed + contrastive.PSEUDO_SEED_OFFSET)
    model = copy.deepcopy(base)
    if rule == "nn":
        model = train_nearest(model, g, generator)
    else:
        averaged = torch.optim.swa_utils.AveragedModel(model, use_buffers=True) if rule == "swa" else None

        def on_step(step, m):
            if averaged is not None and step > pseudo // 2 and step % 10 == 0:
                averaged.update_parameters(m)

        def loss_of(z, batch, g=g, mixed=rule == "mixed"):
            pseudo_loss = contrastive.supcon(z, g[batch], 0.5)
            return (pseudo_loss + contrastive.nt_xent(z, 0.5)) / 2 if mixed else pseudo_loss

        model = contrastive._train_on_views(model, shrunk, pseudo, generator, min(256, len(images)), 1e-3, loss_of,
                                            on_step)
        if averaged is not None:
            model = averaged.module.eval()
    final, cut = cluster(features(model).numpy())
    record[rule] = {"acc": float(acc(y, final)), "cut": cut, "confident_purity": float(purity(y[mask], g.numpy()[mask])),
                    "coverage": float(mask.mean())}
    print(json.dumps({rule: record[rule]}), flush=True)
record["seconds"] = time.time() - t0
_rows.write_record(args.out, record)
