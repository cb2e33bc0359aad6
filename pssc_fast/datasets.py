"""Data: scikit-learn's digits (built in), a union-of-subspaces maker, and loaders for the paper's files.

Every function returns ``(X, y)`` with ``X`` float32 of shape (n, features) — images flattened row-major —
and ``y`` int64 of shape (n,). Files are never shipped with the package: loaders take a path.
"""
from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np


def load_digits():
    """scikit-learn's 8x8 handwritten digits: 1797 x 64, values 0..16 as they come, 10 classes."""
    from sklearn.datasets import load_digits as _load

    data = _load()
    return data.data.astype(np.float32), data.target.astype(np.int64)


def make_subspaces(n_samples: int = 600, n_clusters: int = 6, dim: int = 5, ambient_dim: int = 30, *,
                   noise: float = 0.01, warp: bool = False, warp_dim: int | None = None, random_state=None):
    """Points drawn from a union of ``n_clusters`` random ``dim``-dimensional linear subspaces.

    Parameters
    ----------
    n_samples : total number of points, split as evenly as possible over the clusters.
    n_clusters : number of subspaces.
    dim : dimension of each subspace.
    ambient_dim : dimension of the space the subspaces live in.
    noise : standard deviation of isotropic Gaussian noise added to every coordinate.
    warp : if True, pass the points through a fixed random two-layer network (tanh) into ``warp_dim``
        dimensions, so that the subspaces become non-linear manifolds.
    warp_dim : output dimension of the warp (default ``ambient_dim``).
    random_state : seed or ``numpy.random.Generator``.

    Returns ``(X, y)``; X is rescaled to [0, 1] when warped.
    """
    if n_clusters < 1 or n_samples < n_clusters:
        raise ValueError(f"need 1 <= n_clusters <= n_samples, got n_clusters={n_clusters}, n_samples={n_samples}")
    if not 1 <= dim <= ambient_dim:
        raise ValueError(f"need 1 <= dim <= ambient_dim, got dim={dim}, ambient_dim={ambient_dim}")
    rng = np.random.default_rng(random_state)
    sizes = np.full(n_clusters, n_samples // n_clusters)
    sizes[: n_samples % n_clusters] += 1
    X, y = [], []
    for k, size in enumerate(sizes):
        basis, _ = np.linalg.qr(rng.standard_normal((ambient_dim, dim)))
        X.append(rng.standard_normal((size, dim)) @ basis.T)
        y.append(np.full(size, k))
    X = np.concatenate(X) + noise * rng.standard_normal((n_samples, ambient_dim))
    y = np.concatenate(y)
    if warp:
        out = warp_dim or ambient_dim
        hidden = max(2 * out, 64)
        W1 = rng.standard_normal((ambient_dim, hidden)) / np.sqrt(ambient_dim)
        W2 = rng.standard_normal((hidden, out)) / np.sqrt(hidden)
        X = np.tanh(X @ W1) @ W2
        X = (X - X.min()) / (X.max() - X.min())
    perm = rng.permutation(n_samples)
    return X[perm].astype(np.float32), y[perm].astype(np.int64)


def _existing(path) -> Path:
    path = Path(os.fspath(path)).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"no such file or folder: {path}")
    return path


def load_mat(path, *, features: str = "fea", labels: str = "gnd"):
    """A MATLAB .mat file holding a feature matrix (``fea``, samples as rows) and labels (``gnd``).

    This is the format of ORL_32x32.mat and COIL20.mat. Labels are renumbered 0..K-1 in increasing order of
    the stored ones (1..40 -> 0..39; gaps such as {1, 2, 5} close up to {0, 1, 2}).
    """
    from scipy.io import loadmat

    path = _existing(path)
    if path.is_dir():
        raise ValueError(f"{path} is a folder; give the .mat file inside it")
    try:
        mat = loadmat(path)
    except Exception as exc:  # scipy's messages do not say which file
        raise ValueError(f"could not read {path} as a MATLAB .mat file: {exc}") from exc
    for key in (features, labels):
        if key not in mat:
            found = sorted(k for k in mat if not k.startswith("__"))
            raise ValueError(f"{path}: no variable {key!r} in the .mat file (found {found})")
    X = mat[features]
    X = np.asarray(X.toarray() if hasattr(X, "toarray") else X, dtype=np.float32)  # sparse fea: densify
    X = X.reshape(X.shape[0], -1)
    y = np.asarray(mat[labels]).ravel().astype(np.int64)
    if y.shape[0] != X.shape[0]:
        raise ValueError(f"{path}: {X.shape[0]} samples but {y.shape[0]} labels")
    return X, np.unique(y, return_inverse=True)[1].astype(np.int64)


def _read_idx(path: Path) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ValueError(f"{path}: not an IDX file of unsigned bytes")
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(shape)):
        raise ValueError(f"{path}: header says {shape} but holds {data.size} values")
    return data.reshape(shape)


def _find(folder: Path, stem: str) -> Path:
    for name in (stem, stem + ".gz"):
        if (folder / name).exists():
            return folder / name
    raise FileNotFoundError(f"{folder}: neither {stem} nor {stem}.gz found")


def load_mnist(folder, n_per_class: int | None = None, *, split: str = "t10k"):
    """MNIST from IDX files in ``folder`` (``t10k-images-idx3-ubyte[.gz]`` and labels; ``split="train"``
    reads the 60k training files). Pixels stay 0..255. ``n_per_class=100`` keeps the first 100 images of
    each digit in file order: the paper's MNIST-1k."""
    folder = _existing(folder)
    images = _read_idx(_find(folder, f"{split}-images-idx3-ubyte"))
    y = _read_idx(_find(folder, f"{split}-labels-idx1-ubyte")).astype(np.int64)
    X = images.reshape(images.shape[0], -1).astype(np.float32)
    if X.shape[0] != y.shape[0]:
        raise ValueError(f"{folder}: {X.shape[0]} images but {y.shape[0]} labels")
    if n_per_class is not None:
        if int(n_per_class) < 1:
            raise ValueError(f"n_per_class must be a positive integer, got {n_per_class!r}")
        short = {int(c): int((y == c).sum()) for c in np.unique(y) if (y == c).sum() < int(n_per_class)}
        if short:
            raise ValueError(f"{folder}: n_per_class={n_per_class} but some digits have fewer images {short}")
        keep = np.sort(np.concatenate([np.flatnonzero(y == c)[: int(n_per_class)] for c in np.unique(y)]))
        X, y = X[keep], y[keep]
    return X, y
