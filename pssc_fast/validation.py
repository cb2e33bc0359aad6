"""Parameter checks shared by the estimators: errors that name the parameter and the bound."""
from __future__ import annotations

import contextlib
import numbers

import numpy as np

# Re-exported: the estimators import it from here; it lives in _warnings so that spectral.py can use it
# without importing this module (which imports affinity.py, which imports spectral.py).
from ._warnings import warn_user  # noqa: F401


def check_distinct_rows(X, n_clusters: int, what: str = "X") -> int:
    """The number of distinct rows of the 2-D array X; a warning when there are fewer than ``n_clusters``:
    identical rows get identical codes, so any split of them into clusters is arbitrary."""
    distinct = len(np.unique(np.asarray(X).reshape(len(X), -1), axis=0))
    if distinct < int(n_clusters):
        warn_user(f"{what} has only {distinct} distinct row{'s' if distinct != 1 else ''} for {n_clusters} "
                  "clusters: identical rows cannot be told apart, so how they are split between clusters is "
                  "arbitrary; remove the duplicates or ask for fewer clusters")
    return distinct


def check_integer(name: str, value, low: int, high: int | None = None) -> None:
    """TypeError unless ``value`` is an integer (bools excluded); ValueError unless low <= value <= high."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < low or (high is not None and value > high):
        bound = f"in [{low}, {high}]" if high is not None else f">= {low}"
        raise ValueError(f"{name}={value} must be {bound}")


def check_number(name: str, value, *, positive: bool = False, low=None, high=None) -> None:
    """TypeError unless ``value`` is a finite real number; ValueError when it is out of bounds."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value):
        raise TypeError(f"{name} must be a finite number, got {value!r}")
    if positive and value <= 0:
        raise ValueError(f"{name}={value} must be > 0")
    if low is not None and value < low:
        raise ValueError(f"{name}={value} must be >= {low}")
    if high is not None and value > high:
        raise ValueError(f"{name}={value} must be <= {high}")


def check_widths(name: str, value, *, allow_empty: bool = False) -> tuple:
    """The layer widths (or kernel sizes) ``value`` as a tuple of positive ints; TypeError / ValueError
    naming ``name`` otherwise."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise TypeError(f"{name} must be a sequence of integers, got {value!r}")
    widths = tuple(value)
    for w in widths:
        if isinstance(w, bool) or not isinstance(w, numbers.Integral):
            raise TypeError(f"{name} must be a sequence of integers, got {value!r}")
    if any(w < 1 for w in widths) or (not widths and not allow_empty):
        raise ValueError(f"{name}={value!r} must hold positive integers" + ("" if allow_empty else ", at least one"))
    return tuple(int(w) for w in widths)


def as_numpy_input(X):
    """X (numpy array, np.memmap, torch tensor, nested lists) as a numpy array without copying where it can;
    TypeError naming the problem for scipy.sparse matrices, tensors numpy cannot hold and ragged lists."""
    import scipy.sparse

    if scipy.sparse.issparse(X):
        raise TypeError(f"X is a scipy.sparse {type(X).__name__}; pass a dense array (X.toarray()): the "
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
            raise TypeError(f"X is a torch tensor of dtype {X.dtype}, which numpy cannot hold: {exc}") from exc
    if isinstance(X, np.ndarray):
        return X
    try:
        return np.asarray(X)
    except Exception as exc:  # ragged lists and the like
        raise TypeError(f"X could not be read as an array: {exc}") from exc


def check_shared_params(est) -> None:
    """The parameters PSSC and LargePSSC share: the auto-encoder's widths and training steps, the objective's
    weights, the clustering of the coefficients, the input scaling and the backend. ``head_lr`` may be None
    (the head then trains at ``lr``)."""
    def integer(name, low):
        check_integer(name, getattr(est, name), low)

    def number(name, **bounds):
        check_number(name, getattr(est, name), **bounds)

    integer("batch_size", 1)
    integer("epochs", 1)
    integer("q", 1)
    if est.latent_dim is not None:
        integer("latent_dim", 1)
    check_widths("hidden_dims", est.hidden_dims, allow_empty=True)
    for name in ("lr", "pretrain_lr", "alpha", "ro"):
        number(name, positive=True)
    if est.head_lr is not None:
        number("head_lr", positive=True)
    for name in ("gamma1", "gamma2", "gamma3", "trace_weight", "balance_weight", "diag_shift"):
        number(name, low=0.0)
    if not isinstance(est.shallow_candidate, (bool, np.bool_)):
        raise TypeError(f"shallow_candidate={est.shallow_candidate!r} must be True or False")
    if est.coef_l2 != "auto":
        number("coef_l2", low=0.0)
    if est.coef_lr not in ("auto", None):
        number("coef_lr", positive=True)
    number("tau", low=0.0, high=1.0)
    if est.c_init != "ridge":
        number("c_init", low=0.0)
    from .affinity import METHODS
    from .ops import BACKENDS

    if est.affinity_method not in METHODS:
        raise ValueError(f"affinity_method={est.affinity_method!r} must be one of {METHODS}")
    if est.scale not in ("minmax", None):
        raise ValueError(f"scale={est.scale!r} must be 'minmax' or None")
    if est.backend not in BACKENDS:
        raise ValueError(f"backend={est.backend!r} is not one of {BACKENDS}")


def check_backend_device(backend, device) -> None:
    """ValueError before any training when the n x n backend cannot run on ``device``: the Triton kernels
    need CUDA, or the interpreter on CPU (``TRITON_INTERPRET=1`` set before they are imported)."""
    import os

    from .ops import resolve_backend, triton_available

    if resolve_backend(backend, device) != "triton":
        return
    if not triton_available():
        raise ValueError("backend='triton' needs the triton package (pip install triton); "
                         "backend='torch' runs anywhere")
    if device.type != "cuda" and os.environ.get("TRITON_INTERPRET", "0") != "1":
        raise ValueError(f"backend='triton' needs a CUDA device (got {device}); on CPU use backend='torch' "
                         "(or run the kernels in Triton's interpreter: TRITON_INTERPRET=1 set before import)")


def check_real_input(X: np.ndarray) -> None:
    """TypeError unless X holds real numbers (complex values would lose their imaginary part)."""
    if X.dtype == object or not (np.issubdtype(X.dtype, np.number) or X.dtype == bool):
        raise TypeError(f"X must be numeric, got dtype {X.dtype}")
    if np.issubdtype(X.dtype, np.complexfloating):
        raise TypeError(f"X must hold real numbers, got dtype {X.dtype}")


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
        if random_state < 0:
            raise ValueError(f"random_state={random_state} must be a non-negative integer")
        return int(random_state) % (2**32)
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(2**31))
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(2**31))
    raise TypeError(f"random_state must be None, an int or a numpy random generator, got {random_state!r}")
