"""Networks: convolutional and fully-connected auto-encoders, the self-expression layer, the classifier head."""
from __future__ import annotations

import copy
from typing import Sequence

import torch
from torch import nn
from torch.nn import functional as F

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

    def without_decoder(self) -> "FCAutoEncoder":
        """A shallow copy that shares the encoder and has an empty decoder: all that encoding rows elsewhere
        needs (the state :mod:`pssc_fast.parallel` ships to Dask workers), at about half the bytes."""
        clone = copy.copy(self)
        clone._modules = dict(self._modules, decoder=nn.Sequential())
        return clone


def _mlp(dims: Sequence[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(dims) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class ConvAutoEncoder(nn.Module):
    """Stride-2 convolutional encoder with a mirrored transposed-convolution decoder, ReLU after every
    encoder layer (the DSC-Net / PSSC small-data architecture, paper Table II).

    ``in_shape`` is (channels, height, width); ``channels`` and ``kernel_sizes`` list the encoder layers.
    The latent code of a sample is its flattened last feature map.

    ``padding``: ``"symmetric"`` pads k//2 on every side (PyTorch's usual choice; ceil(H/2) outputs);
    ``"tf-same"`` reproduces TensorFlow's "SAME" padding of the released DSC-Net/PSSC code, which puts the
    odd pixel of padding after the image and crops the transposed convolutions' overhang at the end, so
    that TF-trained weights (:func:`load_dscnet_autoencoder`) compute what they computed in TensorFlow.
    ``output_relu``: ReLU on the reconstruction too, as the released nets have; off by default because with
    small initial codes a ReLU there outputs relu(bias), often 0 for every pixel, and a fresh auto-encoder
    never leaves the all-zero image (seen on ORL).
    """

    def __init__(self, in_shape: Sequence[int], channels: Sequence[int] = (15,), kernel_sizes: Sequence[int] = (3,),
                 *, padding: str = "symmetric", output_relu: bool = False):
        super().__init__()
        if len(channels) != len(kernel_sizes) or not channels:
            raise ValueError(f"channels {tuple(channels)} and kernel_sizes {tuple(kernel_sizes)} must be "
                             "non-empty and of equal length")
        if padding not in ("symmetric", "tf-same"):
            raise ValueError(f"padding={padding!r} must be 'symmetric' or 'tf-same'")
        self.in_shape = tuple(int(s) for s in in_shape)
        self.padding = padding
        self.output_relu = bool(output_relu)
        pad = 0 if padding == "tf-same" else None
        c_in = self.in_shape[0]
        enc, dec = [], []
        for c_out, k in zip(channels, kernel_sizes):
            k = int(k)
            enc.append(nn.Conv2d(c_in, int(c_out), k, stride=2, padding=k // 2 if pad is None else 0))
            dec.insert(0, nn.ConvTranspose2d(int(c_out), c_in, k, stride=2, padding=k // 2 if pad is None else 0))
            c_in = int(c_out)
        self.enc_layers = nn.ModuleList(enc)
        self.dec_layers = nn.ModuleList(dec)
        shapes = [self.in_shape]
        with torch.no_grad():
            h = torch.zeros(1, *self.in_shape)
            for conv in self.enc_layers:
                h = self._conv(conv, h)
                shapes.append(tuple(h.shape[1:]))
        self._shapes = shapes
        self.latent_dim = int(torch.tensor(shapes[-1]).prod())

    def _conv(self, conv: nn.Conv2d, h: torch.Tensor) -> torch.Tensor:
        if self.padding == "tf-same":
            # TensorFlow "SAME", stride 2: p = max((ceil(h/2) - 1)*2 + k - h, 0) in total per axis,
            # floor(p/2) before and the rest after
            k = conv.kernel_size[0]
            pads = []
            for size in (h.shape[-1], h.shape[-2]):  # F.pad takes the last axis first
                total = max((-(-size // 2) - 1) * 2 + k - size, 0)
                pads += [total // 2, total - total // 2]
            h = F.pad(h, pads)
        return conv(h)

    def _deconv(self, deconv: nn.ConvTranspose2d, h: torch.Tensor, target) -> torch.Tensor:
        if self.padding == "tf-same":
            # unpadded transposed conv, then crop the overhang: floor(extra/2) at the start, the rest at the end
            h = deconv(h)
            rows, cols = h.shape[-2] - target[0], h.shape[-1] - target[1]
            return h[..., rows // 2:rows // 2 + target[0], cols // 2:cols // 2 + target[1]]
        return deconv(h, output_size=target)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(n, latent_dim) codes: the last feature map of each image in x (rows reshaped to in_shape)."""
        h = x.reshape(x.shape[0], *self.in_shape)
        for conv in self.enc_layers:
            h = torch.relu(self._conv(conv, h))
        return h.flatten(1)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """(n, channels * height * width) reconstructions of the codes z."""
        h = z.reshape(z.shape[0], *self._shapes[-1])
        last = len(self.dec_layers) - 1
        for i, deconv in enumerate(self.dec_layers):
            h = self._deconv(deconv, h, self._shapes[-2 - i][1:])
            if i < last or self.output_relu:
                h = torch.relu(h)
        return h.flatten(1)


def load_dscnet_autoencoder(path, image_shape: Sequence[int] = (1, 32, 32)) -> ConvAutoEncoder:
    """A :class:`ConvAutoEncoder` holding one of DSC-Net's released pre-trained auto-encoders.

    ``path``: an ``.npz`` of the released weights in PyTorch layout (keys ``encoder.conv{i}.weight/bias``,
    ``decoder.deconv{i}.weight/bias``, as converted by the public DSC-Net PyTorch port; ORL and COIL20 are
    in the project's shared data, ``dscnet_pretrained/``). The layer widths and kernel sizes are read from
    the arrays; the net gets TensorFlow's "SAME" padding and a ReLU output, as it was trained with.
    The released nets expect the images as their ``.mat`` files store them (ORL 0-255, COIL20 in [0, 1]):
    fit with ``scale=None``.
    """
    import numpy as np

    arrays = dict(np.load(path))
    n_layers = sum(1 for k in arrays if k.startswith("encoder.conv") and k.endswith(".weight"))
    if n_layers == 0:
        raise ValueError(f"{path}: no 'encoder.conv1.weight' array; not a DSC-Net auto-encoder file")
    enc = [arrays[f"encoder.conv{i + 1}.weight"] for i in range(n_layers)]
    if enc[0].shape[1] != int(image_shape[0]):
        raise ValueError(f"{path}: the first layer takes {enc[0].shape[1]} channels, image_shape has {image_shape[0]}")
    model = ConvAutoEncoder(image_shape, [w.shape[0] for w in enc], [w.shape[2] for w in enc],
                            padding="tf-same", output_relu=True)
    state = {}
    for i in range(n_layers):
        state[f"enc_layers.{i}.weight"] = arrays[f"encoder.conv{i + 1}.weight"]
        state[f"enc_layers.{i}.bias"] = arrays[f"encoder.conv{i + 1}.bias"]
        state[f"dec_layers.{i}.weight"] = arrays[f"decoder.deconv{i + 1}.weight"]
        state[f"dec_layers.{i}.bias"] = arrays[f"decoder.deconv{i + 1}.bias"]
    model.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v)).float() for k, v in state.items()})
    return model


class SelfExpression(nn.Module):
    """The n x n self-expression layer: Z -> C0 Z with C0 = C with zero diagonal.

    C starts at the constant ``init`` (the released code uses 1e-5 everywhere); the estimators then overwrite
    it with the ridge solution on the pre-trained codes (:func:`pssc_fast.train.ridge_coefficients` says why).
    """

    def __init__(self, n_samples: int, init: float = 1e-4, backend: str = "auto", precision: str = "auto"):
        super().__init__()
        self.C = nn.Parameter(torch.full((int(n_samples), int(n_samples)), float(init)))
        self.backend = backend
        self.precision = precision

    def forward(self, Z: torch.Tensor) -> torch.Tensor:
        return ops.self_expression(self.C, Z, backend=self.backend, precision=self.precision)

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
