"""Checks of what the estimators are given: the input X, the backend on the device, the seed; and a fit
that raises restores the earlier fitted state. The checks of single parameter values live with the
parameter table (:mod:`pssc_fast.params`) and are re-exported here."""
from __future__ import annotations

import contextlib
import numbers

import numpy as np

# Re-exported: the estimators import it from here; it lives in _warnings, below every module, so that
# spectral.py and the like can use it without importing this one.
from ._warnings import warn_user  # noqa: F401
from .params import InputTypeError, InputValueError, check_integer, check_number, check_widths  # noqa: F401


def check_distinct_rows(X, n_clusters: int, what: str = "X") -> int:
    """The number of distinct rows of the 2-D array X; a warning when there are fewer than ``n_clusters``:
    identical rows get identical codes, so any split of them into clusters is arbitrary. X may be a torch
    tensor on any device (read through a CPU copy)."""
    if hasattr(X, "detach"):  # numpy cannot read a CUDA tensor or one that requires grad
        X = X.detach().cpu().numpy()
    distinct = len(np.unique(np.asarray(X).reshape(len(X), -1), axis=0))
    if distinct < int(n_clusters):
        warn_user(f"{what} has only {distinct} distinct row{'s' if distinct != 1 else ''} for {n_clusters} "
                  "clusters: identical rows cannot be told apart, so how they are split between clusters is "
                  "arbitrary; remove the duplicates or ask for fewer clusters")
    return distinct


#: Rows of a square number of features, at least this wide a side, are tested for pixels (:func:`square_image_shape`).
MIN_IMAGE_SIDE = 8
#: How many standard errors above unrelated features' correlation neighbouring features must correlate, in both
#: directions, for rows to be read as images: far beyond chance (a normal tail of 1e-9), so that only a real
#: grid passes. Measured: the rows of digits, ORL, COIL20 and MNIST at 27-173; the same rows with their features
#: shuffled, Gaussian noise, a random low-rank mix and scikit-learn's make_classification at |z| < 2.2.
IMAGE_Z = 6.0
#: Rows sampled (evenly spaced, no randomness) to measure the correlations.
IMAGE_PROBE_ROWS = 512


def square_image_shape(X) -> tuple | None:
    """(1, side, side) when the 2-D rows X look like flattened one-channel square images, else None (label-free).

    Pixels next to each other correlate; features in an arbitrary order do not. With d = side^2 features
    (side >= :data:`MIN_IMAGE_SIDE`), the mean correlation of horizontally and of vertically neighbouring features
    of the grid must each exceed that of far-apart features (offset by half the side both ways) by
    :data:`IMAGE_Z` standard errors (the far pairs' spread over the square root of the neighbour pairs' count).
    Constant features (an image's empty border) are left out. Rows of a smooth 1-D signal (a time series or a
    spectrum of side^2 samples) pass as well, since their reshaped grid correlates both ways; the estimators'
    ``image_shape=None`` is the way to keep such rows vectors."""
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[0] < 3:
        return None
    n, d = X.shape
    side = int(round(np.sqrt(d)))
    if side * side != d or side < MIN_IMAGE_SIDE:
        return None
    rows = X[np.unique(np.linspace(0, n - 1, min(n, IMAGE_PROBE_ROWS)).astype(int))].astype(np.float64)
    rows -= rows.mean(axis=0)
    std = rows.std(axis=0)
    varies = std > 1e-12 * max(1.0, float(np.abs(rows).max()))
    rows = np.where(varies, rows / np.where(varies, std, 1.0), 0.0)
    grid = np.arange(d).reshape(side, side)

    def correlations(a, b):
        keep = varies[a] & varies[b]
        return (rows[:, a[keep]] * rows[:, b[keep]]).mean(axis=0)

    far = correlations(grid.ravel(), np.roll(grid, (side // 2, side // 2), axis=(0, 1)).ravel())
    if far.size < 2:
        return None
    for a, b in ((grid[:, :-1], grid[:, 1:]), (grid[:-1, :], grid[1:, :])):
        near = correlations(a.ravel(), b.ravel())
        if near.size < 2:
            return None
        z = (near.mean() - far.mean()) / (max(far.std(), 1e-6) / np.sqrt(near.size))
        if not z >= IMAGE_Z:
            return None
    return (1, side, side)


def as_numpy_input(X):
    """X (numpy array, np.memmap, torch tensor, nested lists, a data frame) as a numpy array without copying where
    it can; numbers held as objects (pandas' nullable dtypes) become float64. TypeError naming the problem for
    scipy.sparse matrices, tensors numpy cannot hold, ragged lists and objects that are not numbers."""
    import scipy.sparse

    if scipy.sparse.issparse(X):
        raise InputTypeError(f"X is a scipy.sparse {type(X).__name__}; pass a dense array (X.toarray()): the "
                        "auto-encoder reads dense rows")
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        torch = None
    if torch is not None and isinstance(X, torch.Tensor):
        X = X.detach()
        if X.device.type != "cpu":
            X = X.cpu()
        if X.dtype == torch.bfloat16:  # numpy has no bfloat16; float32 holds every value exactly
            X = X.float()
        try:
            return X.numpy()
        except TypeError as exc:
            raise InputTypeError(f"X is a torch tensor of dtype {X.dtype}, which numpy cannot hold: {exc}") from exc
    if not isinstance(X, np.ndarray):
        try:
            X = np.asarray(X)
        except Exception as exc:  # ragged lists and the like
            raise InputTypeError(f"X could not be read as an array: {exc}") from exc
    if X.dtype == object:  # numbers held as objects (pandas' nullable "Float64", a mixed list): read as float64
        try:
            X = X.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise InputTypeError(f"X holds values that are not numbers (dtype object): {exc}") from exc
    return X


def check_backend_device(backend, device) -> None:
    """ValueError before any training when the n x n backend cannot run on ``device``: the Triton kernels
    need CUDA, or the interpreter on CPU (``TRITON_INTERPRET=1`` set before they are imported)."""
    import os

    from .ops import resolve_backend, triton_available

    if resolve_backend(backend, device) != "triton":
        return
    if not triton_available():
        raise InputValueError("backend='triton' needs the triton package (pip install triton); "
                         "backend='torch' runs anywhere")
    if device.type != "cuda" and os.environ.get("TRITON_INTERPRET", "0") != "1":
        raise InputValueError(f"backend='triton' needs a CUDA device (got {device}); on CPU use backend='torch' "
                         "(or run the kernels in Triton's interpreter: TRITON_INTERPRET=1 set before import)")


def check_real_input(X: np.ndarray) -> None:
    """TypeError unless X holds real numbers (complex values would lose their imaginary part)."""
    if X.dtype == object or not (np.issubdtype(X.dtype, np.number) or X.dtype == bool):
        raise InputTypeError(f"X must be numeric, got dtype {X.dtype}")
    if np.issubdtype(X.dtype, np.complexfloating):
        raise InputTypeError(f"X must hold real numbers, got dtype {X.dtype}")


@contextlib.contextmanager
def refit_or_restore(estimator):
    """A fit that raises leaves the estimator as it was before: its earlier fitted attributes (names
    ending in ``_``, and private ones starting with ``_``) are put back and any new ones removed, so that
    a failed refit can never mix the old model with the new data's scaling."""
    before = {k: v for k, v in vars(estimator).items() if k.endswith("_") or k.startswith("_")}
    try:
        yield
    except BaseException:
        for k in [k for k in vars(estimator) if k.endswith("_") or k.startswith("_")]:
            if k not in before:
                delattr(estimator, k)
        for k, v in before.items():
            setattr(estimator, k, v)
        raise


def check_seed(random_state) -> int:
    """An int seed from None, an int or a numpy Generator/RandomState (scikit-learn conventions)."""
    if random_state is None:
        return int(np.random.SeedSequence().generate_state(1)[0])
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        if not 0 <= random_state < 2**32:  # numpy's own bound: a wrapped seed would collide with a smaller one
            raise InputValueError(f"random_state={random_state} must be an integer in [0, 2**32 - 1]")
        return int(random_state)
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(2**31))
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(2**31))
    raise InputTypeError(f"random_state must be None, an int or a numpy random generator, got {random_state!r}")
