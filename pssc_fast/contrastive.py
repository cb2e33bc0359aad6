"""Contrastive image features for one more candidate (SimCLR: Chen, Kornblith, Norouzi & Hinton, 2020).

A small convolutional encoder learns, without labels, to map two randomly perturbed views of the same image
close together and views of different images apart (the NT-Xent loss). The perturbations are generic for
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

__all__ = ["ContrastiveEncoder", "augment", "nt_xent", "DEFAULT_BUDGET", "default_budget", "planned_steps",
           "train_encoder", "encode", "contrastive_features"]

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
                  batch_size: int = 256, temperature: float = 0.5, lr: float = 1e-3,
                  on_step=None) -> ContrastiveEncoder:
    """Train a :class:`ContrastiveEncoder` on ``images`` (n, C, H, W) in [0, 1] (shrunk to a longer side of
    :data:`MAX_SIDE` when larger) for ``steps`` Adam steps of ``batch_size`` images (each step two views of
    each; the batch is all images when there are fewer), or fewer: at most ``max_epochs`` passes over the
    images when given (:func:`planned_steps`). Seeded by ``seed`` alone (its own generators; torch's global one is
    left as it was). ``on_step(step, model)``, if given, is called after every step (the model in train mode; a
    caller that switches it to eval mode switches it back). Returns the encoder in eval mode, on the images'
    device."""
    images = _shrunk(images)
    n = images.shape[0]
    bs = min(int(batch_size), n)
    steps = planned_steps(n, steps, max_epochs, bs)
    generator = torch.Generator().manual_seed(int(seed))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        model = ContrastiveEncoder(images.shape[1]).to(images.device)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    step = 0
    while step < steps:
        order = torch.randperm(n, generator=generator)
        for start in range(0, n - bs + 1, bs):  # the last partial batch waits for the next pass
            batch = images[order[start:start + bs].to(images.device)]
            views = torch.cat([augment(batch, generator), augment(batch, generator)])
            loss = nt_xent(model.head(model(views)), temperature)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            if on_step is not None:
                on_step(step, model)
            if step == steps:
                break
    return model.eval()


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


def contrastive_features(images: torch.Tensor, *, steps: int, seed: int, max_epochs: int | None = None,
                         batch_size: int = 256, temperature: float = 0.5, lr: float = 1e-3) -> np.ndarray:
    """:func:`train_encoder` on ``images``, then the (n, 128) unit-length features of the un-augmented images
    (as :func:`encode`, normalised in float64), float64 numpy."""
    model = train_encoder(images, steps=steps, seed=seed, max_epochs=max_epochs, batch_size=batch_size,
                          temperature=temperature, lr=lr)
    return F.normalize(_raw_features(model, images).double(), dim=1).cpu().numpy()
