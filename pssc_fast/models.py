"""Networks: convolutional and fully-connected auto-encoders, the self-expression layer, the classifier head."""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from . import ops


class FCAutoEncoder(nn.Module):
    """Fully-connected auto-encoder ``in_dim - hidden... - latent_dim`` with a mirrored decoder.

    ReLU between layers; the latent code and the reconstruction are linear (as in DEC-style
    auto-encoders, e.g. the paper's d-500-500-2000-K for large data).
    """

    def __init__(self, in_dim: int, hidden_dims: Sequence[int] = (500, 500, 2000), latent_dim: int = 10):
        super().__init__()
        dims = [int(in_dim), *[int(h) for h in hidden_dims], int(latent_dim)]
        self.encoder = _mlp(dims)
        self.decoder = _mlp(dims[::-1])
        self.latent_dim = int(latent_dim)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(n, latent_dim) codes of the rows of x (flattened to in_dim)."""
        return self.encoder(x.flatten(1))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """(n, in_dim) reconstructions of the codes z."""
        return self.decoder(z)


def _mlp(dims: Sequence[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(dims) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class ConvAutoEncoder(nn.Module):
    """Stride-2 convolutional encoder with a mirrored transposed-convolution decoder, ReLU after every
    layer but the output (the DSC-Net / PSSC small-data architecture, paper Table II).

    ``in_shape`` is (channels, height, width); ``channels`` and ``kernel_sizes`` list the encoder layers.
    The latent code of a sample is its flattened last feature map.
    """

    def __init__(self, in_shape: Sequence[int], channels: Sequence[int] = (15,), kernel_sizes: Sequence[int] = (3,)):
        super().__init__()
        if len(channels) != len(kernel_sizes) or not channels:
            raise ValueError(f"channels {tuple(channels)} and kernel_sizes {tuple(kernel_sizes)} must be "
                             "non-empty and of equal length")
        self.in_shape = tuple(int(s) for s in in_shape)
        c_in = self.in_shape[0]
        enc, dec = [], []
        for c_out, k in zip(channels, kernel_sizes):
            # padding k//2 with stride 2 gives ceil(H/2), like TensorFlow's 'SAME' in the released code
            enc.append(nn.Conv2d(c_in, int(c_out), int(k), stride=2, padding=int(k) // 2))
            dec.insert(0, nn.ConvTranspose2d(int(c_out), c_in, int(k), stride=2, padding=int(k) // 2))
            c_in = int(c_out)
        self.enc_layers = nn.ModuleList(enc)
        self.dec_layers = nn.ModuleList(dec)
        shapes = [self.in_shape]
        with torch.no_grad():
            h = torch.zeros(1, *self.in_shape)
            for conv in self.enc_layers:
                h = conv(h)
                shapes.append(tuple(h.shape[1:]))
        self._shapes = shapes
        self.latent_dim = int(torch.tensor(shapes[-1]).prod())

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(n, latent_dim) codes: the last feature map of each image in x (rows reshaped to in_shape)."""
        h = x.reshape(x.shape[0], *self.in_shape)
        for conv in self.enc_layers:
            h = torch.relu(conv(h))
        return h.flatten(1)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """(n, channels, height, width) reconstructions of the codes z."""
        h = z.reshape(z.shape[0], *self._shapes[-1])
        last = len(self.dec_layers) - 1
        for i, deconv in enumerate(self.dec_layers):
            target = self._shapes[-2 - i]
            h = deconv(h, output_size=target[1:])
            # The output layer stays linear: with small initial codes a ReLU there outputs relu(bias),
            # often 0 for every pixel, and the auto-encoder never leaves the all-zero image (seen on ORL).
            if i < last:
                h = torch.relu(h)
        return h.flatten(1)


class SelfExpression(nn.Module):
    """The n x n self-expression layer: Z -> C0 Z with C0 = C with zero diagonal.

    C starts at the constant ``init`` (the released code uses 1e-5 everywhere); the estimators then overwrite
    it with the ridge solution on the pre-trained codes (:func:`pssc_fast.train.ridge_coefficients` says why).
    """

    def __init__(self, n_samples: int, init: float = 1e-4, backend: str = "auto"):
        super().__init__()
        self.C = nn.Parameter(torch.full((int(n_samples), int(n_samples)), float(init)))
        self.backend = backend

    def forward(self, Z: torch.Tensor) -> torch.Tensor:
        return ops.self_expression(self.C, Z, backend=self.backend)

    @torch.no_grad()
    def coefficients(self) -> torch.Tensor:
        """C0, detached."""
        C0 = self.C.detach().clone()
        C0.fill_diagonal_(0)
        return C0


class ClassifierHead(nn.Module):
    """Linear head p_i = softmax(W z_i + b) over the K clusters; returns logits."""

    def __init__(self, latent_dim: int, n_clusters: int):
        super().__init__()
        self.linear = nn.Linear(int(latent_dim), int(n_clusters))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.linear(z)
