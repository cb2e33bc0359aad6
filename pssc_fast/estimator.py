"""``PSSC``: the scikit-learn style estimator for data of up to a few thousand points."""
from __future__ import annotations

import copy
import json
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClusterMixin

from . import affinity, memory
from .losses import LossWeights
from .validation import (as_numpy_input, check_backend_device, check_integer, check_real_input, check_seed,
                         check_shared_params, check_widths, refit_or_restore, warn_user)
from .models import ConvAutoEncoder, FCAutoEncoder
from .train import finetune, pretrain, resolve_device, shallow_coefficients
from .budget import EarlyStop, describe_epochs, say
from .scaling import fit_minmax_array
from .validation import check_distinct_rows

# One setting apart (paper Table III's ablation): DSC-L2 drops the Laplacian trace and the
# pseudo-supervision, PSSC_l keeps the trace but no pseudo-supervision, PSSC has everything.
VARIANTS = {
    "dsc-l2": {"trace_weight": 0.0, "gamma2": 0.0, "gamma3": 0.0, "balance_weight": 0.0},
    "pssc-l": {"trace_weight": 1.0, "gamma2": 0.0, "gamma3": 0.0, "balance_weight": 0.0},
    "pssc": {"trace_weight": 1.0, "gamma2": 0.1, "gamma3": 0.1, "balance_weight": 0.1},
}


class PSSC(ClusterMixin, BaseEstimator):
    """Pseudo-supervised Deep Subspace Clustering (Lv, Kang, Lu, Xu, IEEE TIP).

    An auto-encoder is pre-trained on reconstruction, then fine-tuned with an n x n self-expression
    layer C (Z ~ C0 Z), a reconstruction weighted by the graph C induces (the Laplacian trace) and
    pseudo-supervision of a classifier head by that graph; C is finally cut by spectral clustering
    (paper Algorithm 2). Memory grows as n^2: for more than a few thousand points use
    :func:`pssc_fast.fit_large`.

    PSSC is transductive, like scikit-learn's SpectralClustering: it labels the rows it is fitted on
    (``fit_predict``, ``labels_``) and has no ``predict`` for new rows; :class:`pssc_fast.LargePSSC` does.

    Parameters
    ----------
    n_clusters : int, number of clusters K (2 <= K <= n_samples).
    architecture : "auto", "fc" or "conv". "auto" uses the convolutional auto-encoder for image input
        (3-D or 4-D arrays, or ``image_shape`` given) and the fully-connected one for vectors.
    hidden_dims : hidden layer widths of the fully-connected auto-encoder.
    latent_dim : latent width of the fully-connected auto-encoder (default max(n_clusters, 10)).
    channels, kernel_sizes : encoder layers of the convolutional auto-encoder (paper Table II).
    image_shape : (channels, height, width) to read 2-D input rows as images. Image-shaped X carries its
        own: (n, H, W) is read as one channel, (n, C, H, W) channels first.
    pretrain_epochs, pretrain_lr, batch_size : auto-encoder pre-training (Adam, mini-batches). It stops
        earlier when the reconstruction error stops improving (:mod:`pssc_fast.budget`; not on digits).
        ``pretrain_epochs=0`` skips it: fine-tuning then starts from ``autoencoder``'s weights or, without
        one, from a randomly initialised auto-encoder.
    epochs, lr : full-batch fine-tuning steps and Adam learning rate (1e-3, as DSC-Net's public
        implementations fine-tune; the paper states 1e-4, which left C close to its ridge start in 300
        steps).
    head_lr : Adam learning rate of the classifier head (None: ``lr``). The head starts from random weights
        while the rest is pre-trained, so it gets a larger step; at ``lr`` it stayed near uniform predictions.
    gamma1 : weight of the self-expression error ||Z - C0 Z||^2.
    gamma2, gamma3 : weights of the pseudo-graph and pseudo-label losses (0, the default, switches them off).
    trace_weight : weight of the Laplacian-trace part of the locality-preserving reconstruction (default 0).
        The paper's PSSC terms are off by default: on the quality board (bench/quality.py) they lowered
        COIL20 (ACC 0.83 -> 0.70, 2 seeds) and ORL, and from DSC-Net's released ORL auto-encoder the trace
        term alone took ACC from 0.84 to 0.55. ``PSSC.variant("pssc")`` switches them on.
    coef_l2 : weight of ||C||_F^2, or "auto": gamma1 times the K-th largest eigenvalue of the pre-trained
        codes' Gram matrix Z Z^T (:func:`pssc_fast.train.auto_coef_l2`), which follows the codes' scale.
    coef_lr : Adam's learning rate on C: "auto" (a step of 1e-3 times the typical largest coefficient of the
        ridge start, so that steps follow C's scale), a number, or None for ``lr``.
    balance_weight : weight of the cluster-balance term of the pseudo-supervision. It acts on the
        classifier head, which exists only when gamma2 or gamma3 is > 0; without them it has no effect.
    tau : confidence threshold of the pseudo-labels.
    q, alpha, ro, diag_shift : post-processing (subspace dimension, affinity power, thresholding mass fraction,
        shift of the eigen-embedding's spectrum; see :func:`pssc_fast.affinity.cluster_coefficients`).
    shallow_candidate : also cluster the ridge self-expression of the input itself (LSR, no network:
        :func:`pssc_fast.train.shallow_coefficients`) and keep whichever partition separates its own affinity
        better, by the label-free normalized cut (:func:`pssc_fast.affinity.cluster_best_of`), so that the
        network can only add to what the input already shows (a warped union of subspaces: 0.38 -> 1.0).
        False keeps the network's partition always.
    c_init : "ridge" starts C at the closed-form minimiser of gamma1 ||Z - CZ||^2 + coef_l2 ||C||^2 on the
        pre-trained codes (measured better on digits than a constant start); a number starts every
        entry of C at that value (the paper's released code: 1e-5).
    scale : "minmax" rescales X globally to [0, 1] (what the defaults were measured with; standardising
        per feature hurt every dataset tried), or None to use X as given. When a few extreme values
        dominate X's range, fit warns naming them and clips them to the range of the bulk first
        (:mod:`pssc_fast.scaling`).
    affinity_method : passed to :func:`pssc_fast.affinity.cluster_coefficients`.
    autoencoder : None, or an auto-encoder (a torch module with ``encode``/``decode``, e.g. from
        :meth:`pretrained_autoencoder` or :func:`pssc_fast.models.load_dscnet_autoencoder`) to start from; a copy
        is trained, the caller's is not modified, and its own architecture replaces the one these parameters
        would build. With
        ``pretrain_epochs=0`` pre-training is skipped, so several fits (the ablation variants, a grid of
        loss weights) can share one pre-training.
    backend : n x n operator backend ("auto", "torch", "triton", "reference").
    device : "auto", "cpu", "cuda" or a torch device.
    random_state : int or None; seeds weight initialisation, batching and the spectral step.
    verbose : show tqdm progress bars.

    Attributes
    ----------
    labels_ : (n,) int64 cluster labels.
    coef_ : (n, n) float32 self-expression coefficients C0 (zero diagonal) that gave ``labels_``: the network's,
        or the input's own when ``chosen_ == "input"``.
    chosen_ : "network" or "input", the candidate whose partition was kept.
    normalized_cuts_ : each candidate's normalized cut on its own affinity (lower separates better).
    candidate_labels_ : each candidate's labels ("network", and "input" with ``shallow_candidate``).
    affinity_ : the affinity that spectral clustering cut (dense (n, n) array, or CSR for large n).
    embedding_ : (n, m) latent codes of the fine-tuned encoder.
    model_ : the fine-tuned auto-encoder (on CPU).
    head_ : the classifier head of the pseudo-supervision (on CPU), or None when gamma2 = gamma3 = 0.
    history_ : list of per-step dicts of the fine-tuning loss terms.
    coef_l2_, coef_lr_ : the ||C||^2 weight and C's learning rate used ("auto" resolved).
    timings_ : seconds spent in each stage.
    budget_ : the training budget used: "pretrain_epochs" (asked), "pretrain_epochs_run", "pretrain_stop"
        ("plateau", "floor" or None) and "pretrain_why" (in words; :mod:`pssc_fast.budget` has the rule), and
        "finetune_epochs".
    pretrain_epochs_run_ : pre-training epochs actually run (fewer than ``pretrain_epochs`` when the
        reconstruction error stopped improving or reached the noise floor, see :mod:`pssc_fast.budget`).
    n_features_in_ : number of input features.
    """

    def __init__(self, n_clusters=8, *, architecture="auto", hidden_dims=(256, 128), latent_dim=None,
                 channels=(15,), kernel_sizes=(3,), image_shape=None, pretrain_epochs=200,
                 pretrain_lr=1e-3, batch_size=128, epochs=300, lr=1e-3, head_lr=1e-2, gamma1=1.0, gamma2=0.0,
                 gamma3=0.0, trace_weight=0.0, coef_l2="auto", coef_lr="auto", balance_weight=0.1, tau=0.8, q=4,
                 alpha=5.0, ro=0.12, diag_shift=0.0, shallow_candidate=True, c_init="ridge", scale="minmax", affinity_method="auto",
                 autoencoder=None, backend="auto", device="auto", random_state=None, verbose=False):
        self.n_clusters = n_clusters
        self.architecture = architecture
        self.hidden_dims = hidden_dims
        self.latent_dim = latent_dim
        self.channels = channels
        self.kernel_sizes = kernel_sizes
        self.image_shape = image_shape
        self.pretrain_epochs = pretrain_epochs
        self.pretrain_lr = pretrain_lr
        self.batch_size = batch_size
        self.epochs = epochs
        self.lr = lr
        self.head_lr = head_lr
        self.gamma1 = gamma1
        self.gamma2 = gamma2
        self.gamma3 = gamma3
        self.trace_weight = trace_weight
        self.coef_l2 = coef_l2
        self.coef_lr = coef_lr
        self.balance_weight = balance_weight
        self.tau = tau
        self.q = q
        self.alpha = alpha
        self.ro = ro
        self.diag_shift = diag_shift
        self.shallow_candidate = shallow_candidate
        self.c_init = c_init
        self.scale = scale
        self.affinity_method = affinity_method
        self.autoencoder = autoencoder
        self.backend = backend
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    @classmethod
    def variant(cls, name: str, **params) -> "PSSC":
        """An estimator for one of the paper's ablation settings: "dsc-l2", "pssc-l" or "pssc"."""
        if name not in VARIANTS:
            raise ValueError(f"unknown variant {name!r}; choose one of {sorted(VARIANTS)}")
        clash = {k: v for k, v in params.items() if k in VARIANTS[name] and v != VARIANTS[name][k]}
        if clash:
            # silently letting these win would turn DSC-L2 or PSSC_l back into full PSSC
            raise ValueError(f"variant {name!r} fixes {sorted(clash)}; drop them from the parameters")
        return cls(**{**params, **VARIANTS[name]})

    @classmethod
    def from_config(cls, config, **params) -> "PSSC":
        """An estimator from a configuration: the name of a built-in one (``pssc_fast/configs/NAME.json``,
        see :func:`list_configs`) or a path to a JSON file ``{"origin": "...", "params": {...}}``.
        Keyword arguments override the file's parameters."""
        return cls(**{**load_config(config)["params"], **params})

    # -- validation -------------------------------------------------------------------------
    def _validate_params(self, n_samples: int) -> None:
        check_integer("n_clusters", self.n_clusters, 2, n_samples)
        check_integer("pretrain_epochs", self.pretrain_epochs, 0)
        check_shared_params(self)
        if self.architecture not in ("auto", "fc", "conv"):
            raise ValueError(f"architecture={self.architecture!r} must be 'auto', 'fc' or 'conv'")
        channels = check_widths("channels", self.channels)
        kernel_sizes = check_widths("kernel_sizes", self.kernel_sizes)
        if len(channels) != len(kernel_sizes):
            raise ValueError(f"channels={self.channels!r} and kernel_sizes={self.kernel_sizes!r} must have the "
                             "same length (one entry per convolutional layer)")

    def _prepare(self, X):
        """Validated float32 tensor of shape (n, features) and the image shape, if any."""
        X = as_numpy_input(X)
        check_real_input(X)
        if X.ndim not in (2, 3, 4):
            raise ValueError(f"X must be 2-D (samples, features) or image-shaped (samples, [channels,] height, "
                             f"width), got shape {X.shape}")
        if X.shape[0] < 2 or X[0].size == 0:
            raise ValueError(f"X needs at least 2 samples and 1 feature, got shape {X.shape}")
        # Scaled in float64 and only then cast: in float32 an offset such as 1e8 would swallow the
        # variation around it before the scaling could remove the offset.
        X = X.astype(np.float64)
        if not np.isfinite(X).all():
            raise ValueError("X contains NaN or infinite values; remove or impute them first")
        image_shape = None if self.image_shape is None else check_widths("image_shape", self.image_shape)
        if image_shape is not None and len(image_shape) != 3:
            raise ValueError(f"image_shape={self.image_shape!r} must be (channels, height, width)")
        if X.ndim > 2:
            shape = (1, *X.shape[1:]) if X.ndim == 3 else tuple(X.shape[1:])
            if image_shape is not None and image_shape != shape:
                raise ValueError(f"image_shape={image_shape} disagrees with X's images, {shape} (channels, "
                                 "height, width); drop image_shape or pass 2-D rows")
            if X.ndim == 4 and X.shape[3] in (1, 3, 4) and X.shape[1] not in (1, 3, 4):
                warn_user(f"X has shape {X.shape}, which looks channels-last; PSSC reads (samples, channels, "
                          "height, width): pass X.transpose(0, 3, 1, 2) if the last axis holds the channels")
            image_shape = shape
        X = X.reshape(X.shape[0], -1)
        if image_shape is not None and int(np.prod(image_shape)) != X.shape[1]:
            raise ValueError(f"image_shape={image_shape} must be (channels, height, width) with "
                             f"{X.shape[1]} values in all")
        if self.scale == "minmax":  # pssc_fast.scaling: shared with LargePSSC, warns about outliers
            X = fit_minmax_array(X).apply(X)
        with np.errstate(over="ignore"):  # reported below, in words
            X = X.astype(np.float32)
        if not np.isfinite(X).all():
            raise ValueError("X has values beyond float32's range (about 3.4e38): rescale it, or keep "
                             "scale='minmax'")
        return X, image_shape

    def _build_model(self, n_features: int, image_shape):
        use_conv = self.architecture == "conv" or (self.architecture == "auto" and image_shape is not None)
        if use_conv:
            if image_shape is None:
                raise ValueError("architecture='conv' needs image input or image_shape=(channels, height, width)")
            return ConvAutoEncoder(image_shape, self.channels, self.kernel_sizes)
        latent = self.latent_dim if self.latent_dim is not None else max(int(self.n_clusters), 10)
        return FCAutoEncoder(n_features, self.hidden_dims, latent)

    def _start_model(self, n_features: int, image_shape, device):
        """The auto-encoder a fit starts from: a copy of ``autoencoder`` (its own architecture, e.g. the
        TensorFlow-padded nets of :func:`pssc_fast.models.load_dscnet_autoencoder`), else a fresh one."""
        # Built even when replaced: its initialisation draws from torch's global generator, and the
        # draws that follow (the classifier head's) must not depend on whether pre-training was shared.
        fresh = self._build_model(n_features, image_shape)
        if self.autoencoder is None:
            return fresh.to(device)
        if not (hasattr(self.autoencoder, "state_dict") and hasattr(self.autoencoder, "encode")):
            raise TypeError(f"autoencoder must be None or a torch auto-encoder, got "
                            f"{type(self.autoencoder).__name__}")
        model = copy.deepcopy(self.autoencoder).float()
        try:
            with torch.no_grad():
                model.decode(model.encode(torch.zeros(1, n_features)))
        except (RuntimeError, ValueError) as exc:
            raise ValueError(f"autoencoder does not match X's rows of {n_features} values: {exc}") from exc
        return model.to(device)

    def pretrained_autoencoder(self, X):
        """The auto-encoder :meth:`fit` would fine-tune on X, pre-trained as fit pre-trains it (same seeding)
        and returned on the CPU without fine-tuning. Pass it back as ``autoencoder=`` with
        ``pretrain_epochs=0`` to fit several settings from one pre-training."""
        X, image_shape = self._prepare(X)
        self._validate_params(X.shape[0])
        device = resolve_device(self.device)
        seed = check_seed(self.random_state)
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(seed)
            model, _ = self._pretrained_model(torch.from_numpy(X).to(device), image_shape, seed)
        return model.cpu()

    def _pretrained_model(self, Xt, image_shape, seed: int):
        """Build (or start from ``autoencoder``) and pre-train; torch's global seed is set by the caller.
        Returns the model and the ``budget_`` entries of its pre-training (pssc_fast.budget's early stop)."""
        model = self._start_model(Xt.shape[1], image_shape, Xt.device)
        stopper = EarlyStop()
        pretrain(model, Xt, epochs=self.pretrain_epochs, lr=self.pretrain_lr, batch_size=self.batch_size,
                 generator=torch.Generator().manual_seed(seed), verbose=self.verbose, early_stop=stopper)
        budget = describe_epochs(int(self.pretrain_epochs), stopper)
        say(f"pre-training ran {budget['pretrain_epochs_run']} of {self.pretrain_epochs} epochs on {Xt.shape[0]} "
            f"rows: {budget['pretrain_why']}", self.verbose)
        return model, budget

    # -- fitting ----------------------------------------------------------------------------
    def fit(self, X, y=None):
        """Cluster X: (n, features) vectors, or (n, H, W) / (n, C, H, W) images. ``y`` is ignored.

        If fitting raises, a previously fitted estimator keeps its earlier fitted state."""
        with refit_or_restore(self):
            self._fit(X)
        return self

    def _fit(self, X):
        X, image_shape = self._prepare(X)
        n = X.shape[0]
        self._validate_params(n)
        check_distinct_rows(X, self.n_clusters)
        device = resolve_device(self.device)
        check_backend_device(self.backend, device)
        memory.check_self_expression_fits(n, backend=self.backend, device=device)
        seed = check_seed(self.random_state)
        timings = {}
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(seed)
            Xt = torch.from_numpy(X).to(device)
            t0 = time.perf_counter()
            model, budget = self._pretrained_model(Xt, image_shape, seed)
            # Fine-tuning draws from a generator of its own, so that a fit from a shared pre-training
            # (autoencoder=..., pretrain_epochs=0) fine-tunes exactly as the fit that pre-trains itself.
            generator = torch.Generator().manual_seed(seed)
            t1 = time.perf_counter()
            weights = LossWeights(trace=self.trace_weight, self_expression=self.gamma1, coef_l2=self.coef_l2,
                                  graph=self.gamma2, label=self.gamma3, balance=self.balance_weight)
            result = finetune(model, Xt, int(self.n_clusters), weights=weights, epochs=self.epochs, lr=self.lr,
                              head_lr=self.head_lr, coef_lr=self.coef_lr, c_init=self.c_init, backend=self.backend, tau=self.tau,
                              generator=generator, verbose=self.verbose)
            t2 = time.perf_counter()
            with torch.no_grad():
                self.embedding_ = model.encode(Xt).cpu().numpy()
        candidates = {"network": result.coef.cpu().numpy()}
        if self.shallow_candidate:
            candidates["input"] = shallow_coefficients(torch.from_numpy(X), int(self.n_clusters)).numpy()
        chosen, results = affinity.cluster_best_of(
            candidates, int(self.n_clusters), q=int(self.q), alpha=float(self.alpha), ro=float(self.ro),
            diag_shift=float(self.diag_shift), method=self.affinity_method, random_state=seed)
        coef, (labels, A, _) = candidates[chosen], results[chosen]
        timings.update(pretrain=t1 - t0, finetune=t2 - t1, cluster=time.perf_counter() - t2)
        self.model_ = model.cpu()
        self.head_ = None if result.head is None else result.head.cpu()
        self.coef_ = coef
        self.affinity_ = A
        self.labels_ = np.asarray(labels, dtype=np.int64)
        self.history_ = result.history
        self.chosen_ = chosen
        self.normalized_cuts_ = {name: r[2] for name, r in results.items()}
        self.candidate_labels_ = {name: np.asarray(r[0], dtype=np.int64) for name, r in results.items()}
        self.coef_l2_ = result.coef_l2
        self.coef_lr_ = result.coef_lr
        self.timings_ = timings
        self.budget_ = {**budget, "finetune_epochs": int(self.epochs)}
        self.pretrain_epochs_run_ = budget["pretrain_epochs_run"]
        self.n_features_in_ = X.shape[1]

    def fit_predict(self, X, y=None):
        """Fit and return ``labels_``."""
        return self.fit(X).labels_


CONFIG_DIR = Path(__file__).resolve().parent / "configs"


def list_configs() -> list:
    """Names of the built-in configurations."""
    return sorted(p.stem for p in CONFIG_DIR.glob("*.json"))


def load_config(config) -> dict:
    """Read a configuration (built-in name or JSON path); checks that its params are PSSC parameters."""
    path = Path(config)
    if not path.suffix:
        path = CONFIG_DIR / f"{config}.json"
    if not path.is_file():
        raise ValueError(f"no configuration {config!r}: not a file, and not one of {list_configs()}")
    data = json.loads(path.read_text())
    params = data.get("params")
    if not isinstance(params, dict):
        raise ValueError(f"{path}: a configuration needs a 'params' object")
    unknown = sorted(set(params) - set(PSSC().get_params()))
    if unknown:
        raise ValueError(f"{path}: unknown PSSC parameters {unknown}")
    for key in ("hidden_dims", "channels", "kernel_sizes", "image_shape"):
        if isinstance(params.get(key), list):
            params[key] = tuple(params[key])
    return data
