"""Contrastive image features for one more candidate (SimCLR: Chen, Kornblith, Norouzi & Hinton, 2020).

A small convolutional encoder learns, without labels, to map two randomly perturbed views of the same image
close together and views of different images apart (the NT-Xent loss; with neighbour positives, from half way on,
an image's nearest neighbours count as further views of it). The perturbations are generic for
images - a small rotation, scaling and shift, a brightness change and pixel noise - so the features ignore
them while the auto-encoder's codes must reproduce every pixel. The estimators cluster the ridge
self-expression of these features as one more candidate next to the network's C and the input's own
(:func:`pssc_fast.affinity.cluster_best_of` keeps one by the normalized cut).
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm.auto import tqdm

__all__ = ["ContrastiveEncoder", "augment", "nt_xent", "supcon", "confident_groups", "neighbour_groups", "DEFAULT_BUDGET",
           "default_budget", "planned_steps", "train_encoder", "refine_encoder", "encode", "contrastive_features"]

#: Largest rotation (radians), relative scale change and shift (fraction of the image's half-width) of a view.
MAX_ROTATION = math.radians(15)
MAX_SCALE = 0.15
MAX_SHIFT = 0.15
#: Brightness factor range (1 +- this) and the standard deviation of the added pixel noise (images in [0, 1]).
MAX_BRIGHTNESS = 0.2
NOISE_STD = 0.05
#: Larger images are shrunk (area averaging) to this longer side first: the encoder's cost grows with the pixel
#: count while three stride-2 layers and global pooling see little more in a larger image (the sets it was
#: measured on are 8 to 32 pixels wide).
MAX_SIDE = 64
#: What the estimators' ``contrastive_steps="auto"`` and ``contrastive_max_epochs="auto"`` stand for, by device:
#: (steps, cap in passes over the images or None). The loss on fixed views still falls past 2000 steps on every set
#: measured (bench/diagnostics/contrastive_budget.py), but a CPU thread takes 4-8 minutes per 2000 steps; an H200
#: shared by 8 runs took 2.5 minutes per 10000. 10000 steps, uncapped, scored higher than 2000 (700 for ORL) on all
#: 7 label-scored runs: ORL, COIL20 2 seeds each and MNIST-1k on an H200, MNIST-10k 2 seeds on the CPU
#: (bench/results/diagnostics/contrastive_budget_{h200,mnist10k_cpu}.md): labels informed it.
DEFAULT_BUDGET = {"cpu": (2000, 700), "cuda": (10000, None)}
#: :func:`refine_encoder`'s confident share of each cluster, and the offset of its generator's seed from the
#: encoder's (so that its batches and views are not the first steps' again).
PSEUDO_KEEP = 0.5
PSEUDO_SEED_OFFSET = 10_000
#: With neighbour positives (:func:`train_encoder`'s ``neighbours``) the plain steps add them from this fraction of
#: their steps on: the random encoder's nearest neighbours mean little, and by half way a face's nearest neighbour is
#: of the same face for 95-96% of ORL's images (seventeenth session; the one value tried).
NEIGHBOUR_START = 0.5


class ContrastiveEncoder(nn.Module):
    """Three stride-2 3x3 convolutions (32, 64, 128 channels) with batch norm and ReLU, global average
    pooling to 128 features; a two-layer projection head (to 64) that only the loss sees."""

    def __init__(self, in_channels: int = 1, width: int = 32, out_dim: int = 64):
        super().__init__()
        layers, c = [], in_channels
        for w in (width, 2 * width, 4 * width):
            layers += [nn.Conv2d(c, w, 3, 2, 1), nn.BatchNorm2d(w), nn.ReLU()]
            c = w
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Sequential(nn.Linear(c, c), nn.ReLU(), nn.Linear(c, out_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)


def augment(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """A random view of each image of x (n, C, H, W), values in [0, 1]: rotation, scale and shift by one
    affine resampling (border pixels repeat), a brightness factor and Gaussian pixel noise."""
    n = x.shape[0]

    def uniform(scale):  # in [-scale, scale]
        return (torch.rand(n, generator=generator) * 2 - 1) * scale

    angle, scale = uniform(MAX_ROTATION), 1 + uniform(MAX_SCALE)
    cos, sin = scale * torch.cos(angle), scale * torch.sin(angle)
    theta = torch.stack([torch.stack([cos, -sin, uniform(MAX_SHIFT)], 1),
                         torch.stack([sin, cos, uniform(MAX_SHIFT)], 1)], 1).to(x)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    views = F.grid_sample(x, grid, align_corners=False, padding_mode="border")
    brightness = (1 + uniform(MAX_BRIGHTNESS)).to(x).view(n, 1, 1, 1)
    noise = torch.randn(x.shape, generator=generator).to(x) * NOISE_STD
    return views * brightness + noise


def nt_xent(z: torch.Tensor, temperature: float) -> torch.Tensor:
    """SimCLR's loss for 2b projections z: rows i and i + b are two views of one image. Mean over the 2b
    rows of the cross-entropy of picking the other view among the 2b - 1 other rows, by cosine similarity
    over ``temperature``."""
    b = z.shape[0] // 2
    z = F.normalize(z, dim=1)
    logits = z @ z.T / temperature
    logits = logits.masked_fill(torch.eye(2 * b, dtype=torch.bool, device=z.device), float("-inf"))
    target = torch.cat([torch.arange(b, 2 * b), torch.arange(b)]).to(z.device)
    return F.cross_entropy(logits, target)


def _shrunk(images: torch.Tensor) -> torch.Tensor:
    """``images`` as float32, shrunk (area averaging, aspect kept) to a longer side of :data:`MAX_SIDE` when larger."""
    images = images.float()
    side = max(images.shape[-2:])
    if side > MAX_SIDE:
        size = [max(1, round(d * MAX_SIDE / side)) for d in images.shape[-2:]]
        images = F.interpolate(images, size=size, mode="area")
    return images


def default_budget(device) -> tuple:
    """(steps, max_epochs) of :data:`DEFAULT_BUDGET` for a torch ``device`` (or its name): CUDA's on CUDA, the
    CPU's elsewhere."""
    return DEFAULT_BUDGET["cuda" if torch.device(device).type == "cuda" else "cpu"]


def planned_steps(n: int, steps: int, max_epochs: int | None = None, batch_size: int = 256) -> int:
    """The steps :func:`train_encoder` takes on n images: ``steps``, or fewer when ``max_epochs`` passes (of
    n // batch_size steps each, at least one) come first."""
    if max_epochs is None:
        return int(steps)
    return min(int(steps), int(max_epochs) * max(1, int(n) // min(int(batch_size), int(n))))


def train_encoder(images: torch.Tensor, *, steps: int, seed: int, max_epochs: int | None = None,
                  batch_size: int = 256, temperature: float = 0.5, lr: float = 1e-3, neighbours: bool = False,
                  on_step=None, verbose: bool = False) -> ContrastiveEncoder:
    """Train a :class:`ContrastiveEncoder` on ``images`` (n, C, H, W) in [0, 1] (shrunk to a longer side of
    :data:`MAX_SIDE` when larger) for ``steps`` Adam steps of ``batch_size`` images (each step two views of
    each; the batch is all images when there are fewer), or fewer: at most ``max_epochs`` passes over the
    images when given (:func:`planned_steps`). With ``neighbours``, from :data:`NEIGHBOUR_START` of the steps on the
    loss is the mean of NT-Xent and :func:`supcon` over :func:`neighbour_groups` of the encoder's features at that
    step (NNCLR's idea, Dwibedi et al., 2021: an image's nearest neighbour counts as another view of it; the groups
    are computed once). Seeded by ``seed`` alone (its own generators; torch's global one is
    left as it was). ``on_step(step, model)``, if given, is called after every step (the model in train mode; a
    caller that switches it to eval mode switches it back). ``verbose``: a progress bar. Returns the encoder in eval
    mode, on the images' device."""
    images = _shrunk(images)
    n = images.shape[0]
    bs = min(int(batch_size), n)
    steps = planned_steps(n, steps, max_epochs, bs)
    generator = torch.Generator().manual_seed(int(seed))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        model = ContrastiveEncoder(images.shape[1]).to(images.device)
    switch = round(NEIGHBOUR_START * steps) if neighbours else None
    near = []  # the neighbour groups, once they are computed

    def loss_of(z, batch):
        if not near:
            return nt_xent(z, temperature)
        return 0.5 * (nt_xent(z, temperature) + supcon(z, near[0][batch], temperature))

    def after_step(step, model):
        if step == switch:
            near.append(neighbour_groups(_raw_features(model, images)))
            model.train()  # _raw_features leaves it in eval mode
        if on_step is not None:
            on_step(step, model)

    return _train_on_views(model, images, steps, generator, bs, lr, loss_of, after_step, verbose, "contrastive")


def _train_on_views(model, images, steps: int, generator, batch_size: int, lr: float, loss_of, on_step=None,
                    verbose: bool = False, desc: str = "contrastive"):
    """``steps`` Adam steps of ``model`` on two views of each image of shuffled batches of ``images`` (already
    shrunk); ``loss_of(projections, batch indices)`` is the loss; ``verbose``: a progress bar named ``desc``.
    Returns the model in eval mode."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    n, step = images.shape[0], 0
    bar = tqdm(total=steps, desc=desc, disable=not verbose, leave=False)
    while step < steps:
        order = torch.randperm(n, generator=generator)
        for start in range(0, n - batch_size + 1, batch_size):  # the last partial batch waits for the next pass
            idx = order[start:start + batch_size]
            batch = images[idx.to(images.device)]
            views = torch.cat([augment(batch, generator), augment(batch, generator)])
            loss = loss_of(model.head(model(views)), idx)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            bar.update()
            if on_step is not None:
                on_step(step, model)
            if step == steps:
                break
    bar.close()
    return model.eval()


def supcon(z: torch.Tensor, groups: torch.Tensor, temperature: float) -> torch.Tensor:
    """The supervised contrastive loss (Khosla et al., 2020) for 2b projections z, rows i and i + b two views of
    one image: every other row of the same group is a positive of a row. ``groups`` (b,) are the images' groups;
    an image alone in its group (a unique id) has only its own other view, which is :func:`nt_xent`'s loss."""
    b = z.shape[0] // 2
    z = F.normalize(z, dim=1)
    eye = torch.eye(2 * b, dtype=torch.bool, device=z.device)
    log_prob = (z @ z.T / temperature).masked_fill(eye, float("-inf")).log_softmax(dim=1).masked_fill(eye, 0.0)
    g = torch.cat([groups, groups]).to(z.device)
    positive = (g[:, None] == g[None, :]) & ~eye
    return -((log_prob * positive).sum(1) / positive.sum(1)).mean()


def confident_groups(features: torch.Tensor, labels, keep: float) -> torch.Tensor:
    """(n,) int64 groups for :func:`supcon`: the cluster of each image among the ``keep`` fraction of its cluster
    whose unit features lie closest (cosine) to the cluster's mean direction, a unique negative id for the others."""
    labels = torch.as_tensor(np.asarray(labels), dtype=torch.int64)
    features = F.normalize(features.double().cpu(), dim=1)
    groups = -1 - torch.arange(len(labels))
    for k in torch.unique(labels):
        members = torch.nonzero(labels == k).flatten()
        closeness = features[members] @ F.normalize(features[members].mean(0), dim=0)
        top = members[torch.argsort(closeness, descending=True)[:max(1, round(keep * len(members)))]]
        groups[top] = int(k)
    return groups


def neighbour_groups(features: torch.Tensor, chunk: int = 2048) -> torch.Tensor:
    """(n,) int64 groups for :func:`supcon`: the connected components of the graph that joins each row of
    ``features`` to its nearest other row by cosine similarity (FINCH's first partition, Sarfraz, Sharma &
    Stiefelhagen, CVPR 2019: no number of clusters, no threshold). Rows are compared ``chunk`` at a time."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    H = F.normalize(features.double().cpu(), dim=1)
    n = H.shape[0]
    if n < 2:
        return torch.zeros(n, dtype=torch.int64)
    nearest = torch.empty(n, dtype=torch.int64)
    for start in range(0, n, chunk):
        S = H[start:start + chunk] @ H.T
        S[torch.arange(S.shape[0]), torch.arange(start, start + S.shape[0])] = -math.inf  # not itself
        nearest[start:start + chunk] = S.argmax(1)
    graph = coo_matrix((np.ones(n), (np.arange(n), nearest.numpy())), shape=(n, n))
    return torch.as_tensor(connected_components(graph, directed=False)[1], dtype=torch.int64)


@torch.no_grad()
def _raw_features(model: ContrastiveEncoder, images: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    device = next(model.parameters()).device
    images = _shrunk(images)
    model.eval()
    return torch.cat([model(images[i:i + batch_size].to(device)) for i in range(0, images.shape[0], batch_size)])


def encode(model: ContrastiveEncoder, images: torch.Tensor) -> torch.Tensor:
    """The (n, 128) unit-length float32 features of ``images`` (n, C, H, W) in [0, 1] under a trained encoder
    (computed on the encoder's device; images shrunk as in training)."""
    return F.normalize(_raw_features(model, images).float(), dim=1)


def refine_encoder(model: ContrastiveEncoder, images: torch.Tensor, labels, *, steps: int, seed: int,
                   keep: float = PSEUDO_KEEP, neighbours: bool = True, batch_size: int = 256,
                   temperature: float = 0.5, lr: float = 1e-3, verbose: bool = False) -> ContrastiveEncoder:
    """Pseudo-supervision of a trained encoder: ``steps`` more Adam steps (a fresh optimizer) on ``images`` with
    :func:`supcon`, the confident images of each cluster of ``labels`` (:func:`confident_groups`, the ``keep``
    fraction closest to their cluster's mean feature) counted as positives of each other. With ``neighbours`` the
    loss is the mean of that and :func:`supcon` over :func:`neighbour_groups` of the encoder's features (each image
    and its nearest neighbour positives), so that a class the partition split keeps being pulled together where its
    images are each other's nearest. ``verbose``: a progress bar. Returns it in eval mode."""
    images = _shrunk(images)
    raw = _raw_features(model, images)
    groups = confident_groups(raw, labels, keep)
    near = neighbour_groups(raw) if neighbours else None

    def loss_of(z, batch):
        if near is None:
            return supcon(z, groups[batch], temperature)
        return 0.5 * (supcon(z, groups[batch], temperature) + supcon(z, near[batch], temperature))

    generator = torch.Generator().manual_seed(int(seed) + PSEUDO_SEED_OFFSET)
    return _train_on_views(model, images, int(steps), generator, min(int(batch_size), images.shape[0]), lr,
                           loss_of, None, verbose, "contrastive, pseudo-supervised")


def contrastive_features(images: torch.Tensor, *, steps: int, seed: int, max_epochs: int | None = None,
                         batch_size: int = 256, temperature: float = 0.5, lr: float = 1e-3,
                         pseudo_steps: int = 0, partition=None, neighbours: bool = True,
                         verbose: bool = False) -> np.ndarray:
    """:func:`train_encoder` on ``images``, then the (n, 128) unit-length features of the un-augmented images
    (as :func:`encode`, normalised in float64), float64 numpy. With ``pseudo_steps`` > 0, ``partition`` (features
    (n, 128) float64 numpy -> labels) clusters those features and :func:`refine_encoder` trains the encoder on for
    ``pseudo_steps`` steps with that partition's confident images as positives before the final features.
    ``neighbours``: each image's nearest-neighbour component counts as positives too, in the plain steps' second half
    and in the pseudo-supervised steps. ``verbose``: progress bars."""
    def unit_features(model):
        return F.normalize(_raw_features(model, images).double(), dim=1).cpu().numpy()

    model = train_encoder(images, steps=steps, seed=seed, max_epochs=max_epochs, batch_size=batch_size,
                          temperature=temperature, lr=lr, neighbours=neighbours, verbose=verbose)
    if pseudo_steps > 0:
        model = refine_encoder(model, images, partition(unit_features(model)), steps=pseudo_steps, seed=seed,
                               neighbours=neighbours, batch_size=batch_size, temperature=temperature, lr=lr,
                               verbose=verbose)
    return unit_features(model)
