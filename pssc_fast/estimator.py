"""``PSSC``: the scikit-learn style estimator for data of up to a few thousand points."""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch

from .budget import EarlyStop, describe_epochs, say
from .core import SubspaceClusteringBase, seeded_torch
from .models import ConvAutoEncoder, FCAutoEncoder
from .params import PSSC_PARAMETERS, InputValueError, check_integer, describe, make_init, validate
from .scaling import fit_minmax_array
from .train import pretrain
from .validation import as_numpy_input, check_distinct_rows, check_real_input, square_image_shape, warn_user

# One setting apart (paper Table III's ablation): DSC-L2 drops the Laplacian trace and the
# pseudo-supervision, PSSC_l keeps the trace but no pseudo-supervision, PSSC has everything.
VARIANTS = {
    "dsc-l2": {"trace_weight": 0.0, "gamma2": 0.0, "gamma3": 0.0, "balance_weight": 0.0},
    "pssc-l": {"trace_weight": 1.0, "gamma2": 0.0, "gamma3": 0.0, "balance_weight": 0.0},
    "pssc": {"trace_weight": 1.0, "gamma2": 0.1, "gamma3": 0.1, "balance_weight": 0.1},
}


class PSSC(SubspaceClusteringBase):
    __doc__ = """Pseudo-supervised Deep Subspace Clustering (Lv, Kang, Lu, Xu, IEEE TIP).

    An auto-encoder is pre-trained on reconstruction, then fine-tuned with an n x n self-expression
    layer C (Z ~ C0 Z); ``PSSC.variant("pssc")`` adds the paper's reconstruction weighted by the graph C
    induces (the Laplacian trace) and pseudo-supervision of a classifier head by that graph (off by default:
    they lowered accuracy on the quality board). C is finally cut by spectral clustering
    (paper Algorithm 2). Memory grows as n^2: for more than a few thousand points use
    :func:`pssc_fast.fit_large`.

    PSSC is transductive, like scikit-learn's SpectralClustering: it labels the rows it is fitted on
    (``fit_predict``, ``labels_``) and has no ``predict`` for new rows; :class:`pssc_fast.LargePSSC` does.

    Parameters (defaults and checks: :data:`pssc_fast.params.PSSC_PARAMETERS`)
    ----------
""" + describe(PSSC_PARAMETERS) + """

    Attributes
    ----------
    labels_ : (n,) int64 cluster labels.
    coef_ : (n, n) float32 self-expression coefficients C0 (zero diagonal) that gave ``labels_``: the network's,
        the input's own when ``chosen_ == "input"``, that of the contrastive features when ``chosen_ == "contrastive"``.
    chosen_ : "network", "input" or "contrastive", the candidate whose partition was kept.
    normalized_cuts_ : each candidate's normalized cut on its own affinity (lower separates better).
    candidate_labels_ : each candidate's labels ("network", "input" with ``shallow_candidate``, "contrastive" with
        ``contrastive_steps``).
    consensus_of_ : the candidates whose threshold partitions the labels are the consensus of (``ro_consensus``): the
        chosen one, and the network's next to a chosen contrastive one whose cut is at most ``join_tolerance``
        times the contrastive one's and whose partition it agrees with (``join_agreement``; then the partitions of
        their summed C join too, :func:`pssc_fast.affinity.summed_coefficients`); [] when
        ``ro_consensus=False``.
    rebalanced_ : whether :func:`pssc_fast.affinity.rebalance_labels` changed the labels (``rebalance``).
    affinity_ : the affinity that spectral clustering cut (dense (n, n) array, or CSR for large n).
    embedding_ : (n, m) latent codes of the fine-tuned encoder.
    model_ : the fine-tuned auto-encoder (on CPU).
    head_ : the classifier head of the pseudo-supervision (on CPU), or None when gamma2 = gamma3 = 0.
    history_ : list of per-step dicts of the fine-tuning loss terms.
    coef_l2_, coef_lr_ : the ||C||^2 weight and C's learning rate used ("auto" resolved).
    backend_, precision_ : the n x n backend and float32 product precision fine-tuning ran with ("auto" resolved;
        ``verbose=True`` prints why that backend).
    timings_ : seconds spent in each stage.
    image_shape_ : (channels, height, width) the rows were read as (X's own, ``image_shape``'s, or recognised with
        "auto"), or None for vectors.
    contrastive_steps_ : the steps the contrastive encoder trained ("auto" and the pass cap resolved; 0 when off or
        for vectors).
    contrastive_pseudo_steps_ : the pseudo-supervised steps that followed (``contrastive_pseudo``; 0 when none).
    budget_ : the training budget used: "pretrain_epochs" (asked), "pretrain_epochs_run", "pretrain_stop"
        ("plateau", "floor" or None) and "pretrain_why" (in words; :mod:`pssc_fast.budget` has the rule), and
        "finetune_epochs".
    pretrain_epochs_run_ : pre-training epochs actually run (fewer than ``pretrain_epochs`` when the
        reconstruction error stopped improving or reached the noise floor, see :mod:`pssc_fast.budget`).
    n_features_in_ : number of input features.
    """

    parameters = PSSC_PARAMETERS
    __init__ = make_init(PSSC_PARAMETERS)

    @classmethod
    def variant(cls, name: str, **params) -> "PSSC":
        """An estimator for one of the paper's ablation settings: "dsc-l2", "pssc-l" or "pssc"."""
        if name not in VARIANTS:
            raise InputValueError(f"unknown variant {name!r}; choose one of {sorted(VARIANTS)}")
        clash = {k: v for k, v in params.items() if k in VARIANTS[name] and v != VARIANTS[name][k]}
        if clash:
            # silently letting these win would turn DSC-L2 or PSSC_l back into full PSSC
            raise InputValueError(f"variant {name!r} fixes {sorted(clash)}; drop them from the parameters")
        return cls(**{**params, **VARIANTS[name]})

    @classmethod
    def from_config(cls, config, **params) -> "PSSC":
        """An estimator from a configuration: the name of a built-in one (``pssc_fast/configs/NAME.json``,
        see :func:`list_configs`) or a path to a JSON file ``{"origin": "...", "params": {...}}``.
        Keyword arguments override the file's parameters."""
        return cls(**{**load_config(config)["params"], **params})

    def prepare(self, X):
        """X as :meth:`fit` trains on it: ``(rows, image_shape)``, ``rows`` the validated float32 array of
        shape (n, features) (images flattened, min-max scaled with ``scale="minmax"``) and ``image_shape``
        (channels, height, width) or None. For baselines and diagnostics that need exactly PSSC's input."""
        X = as_numpy_input(X)
        check_real_input(X)
        if X.ndim not in (2, 3, 4):
            raise InputValueError(f"X must be 2-D (samples, features) or image-shaped (samples, [channels,] height, "
                             f"width), got shape {X.shape}")
        if X.shape[0] < 2 or X[0].size == 0:
            raise InputValueError(f"X needs at least 2 samples and 1 feature, got shape {X.shape}")
        # Scaled in float64 and only then cast: in float32 an offset such as 1e8 would swallow the
        # variation around it before the scaling could remove the offset.
        X = X.astype(np.float64)
        if not np.isfinite(X).all():
            raise InputValueError("X contains NaN or infinite values; remove or impute them first")
        image_shape, detect = self._asked_image_shape()
        if X.ndim > 2:
            shape = (1, *X.shape[1:]) if X.ndim == 3 else tuple(X.shape[1:])
            if image_shape is not None and image_shape != shape:
                raise InputValueError(f"image_shape={image_shape} disagrees with X's images, {shape} (channels, "
                                 "height, width); drop image_shape or pass 2-D rows")
            if X.ndim == 4 and X.shape[3] in (1, 3, 4) and X.shape[1] not in (1, 3, 4):
                warn_user(f"X has shape {X.shape}, which looks channels-last; PSSC reads (samples, channels, "
                          "height, width): pass X.transpose(0, 3, 1, 2) if the last axis holds the channels")
            image_shape = shape
        X = X.reshape(X.shape[0], -1)
        if detect and image_shape is None:  # rows of pixels read as the images they are
            image_shape = square_image_shape(X)
        if image_shape is not None and int(np.prod(image_shape)) != X.shape[1]:
            raise InputValueError(f"image_shape={image_shape} must be (channels, height, width) with "
                             f"{X.shape[1]} values in all")
        if self.scale == "minmax":  # pssc_fast.scaling: shared with LargePSSC, warns about outliers
            X = fit_minmax_array(X).apply(X)
        with np.errstate(over="ignore"):  # reported below, in words
            X = X.astype(np.float32)
        if not np.isfinite(X).all():
            raise InputValueError("X has values beyond float32's range (about 3.4e38): rescale it, or keep "
                             "scale='minmax'")
        return X, image_shape

    def _build_model(self, n_features: int, image_shape):
        use_conv = self.architecture == "conv" or (self.architecture == "auto" and image_shape is not None)
        if use_conv:
            if image_shape is None:
                raise InputValueError("architecture='conv' needs image input or image_shape=(channels, height, width)")
            return ConvAutoEncoder(image_shape, self.channels, self.kernel_sizes)
        latent = self.latent_dim if self.latent_dim is not None else max(int(self.n_clusters), 10)
        return FCAutoEncoder(n_features, self.hidden_dims, latent)

    def pretrained_autoencoder(self, X, *, early_stop=None):
        """The auto-encoder :meth:`fit` would fine-tune on X, pre-trained as fit pre-trains it (same seeding)
        and returned on the CPU without fine-tuning. Pass it back as ``autoencoder=`` with
        ``pretrain_epochs=0`` to fit several settings from one pre-training. ``early_stop``: a
        :class:`pssc_fast.budget.EarlyStop` to use instead of fit's default one (it records every epoch's
        loss; ``EarlyStop(tol=0, floor=0)`` never stops, to see the whole curve)."""
        validate(self)
        X, image_shape, device, seed = self._setup(X)
        with seeded_torch(seed, device):
            model, _ = self._pretrained_model(torch.from_numpy(X).to(device), image_shape, seed, early_stop)
        return model.cpu()

    def _pretrained_model(self, Xt, image_shape, seed: int, early_stop=None):
        """Build (or start from ``autoencoder``) and pre-train; torch's global seed is set by the caller.
        Returns the model and the ``budget_`` entries of its pre-training (pssc_fast.budget's early stop)."""
        model = self._start_model(self._build_model(Xt.shape[1], image_shape), Xt.shape[1], Xt.device)
        stopper = EarlyStop() if early_stop is None else early_stop
        pretrain(model, Xt, epochs=self.pretrain_epochs, lr=self.pretrain_lr, batch_size=self.batch_size,
                 generator=torch.Generator().manual_seed(seed), verbose=self.verbose, early_stop=stopper)
        budget = describe_epochs(int(self.pretrain_epochs), stopper)
        say(f"pre-training ran {budget['pretrain_epochs_run']} of {self.pretrain_epochs} epochs on {Xt.shape[0]} "
            f"rows: {budget['pretrain_why']}", self.verbose)
        return model, budget

    def _contrastive_candidate(self, Xt, image_shape, seed: int, timings: dict) -> dict:
        """{"contrastive": C}: the ridge self-expression of the rows' contrastive features
        (:func:`pssc_fast.contrastive.contrastive_features`, for the budget of :meth:`_contrastive_budget`), or {}
        when off or when X is not images. Sets ``contrastive_steps_``, the steps it ran (0 when off)."""
        steps, max_epochs = self._contrastive_budget(Xt.device)
        self.contrastive_steps_ = self.contrastive_pseudo_steps_ = 0
        if not steps or image_shape is None:  # its views are image operations
            return {}
        from .contrastive import contrastive_features, planned_steps

        t0 = time.perf_counter()
        self.contrastive_steps_ = planned_steps(Xt.shape[0], steps, max_epochs)
        self.contrastive_pseudo_steps_ = round(float(self.contrastive_pseudo) * self.contrastive_steps_)
        features = contrastive_features(Xt.reshape(-1, *image_shape), steps=steps, seed=seed, max_epochs=max_epochs,
                                        pseudo_steps=self.contrastive_pseudo_steps_,
                                        partition=lambda H: self._partition(self._ridge_of(H), seed),
                                        neighbours=bool(self.contrastive_neighbours),
                                        verbose=bool(self.verbose))
        C = self._ridge_of(features)
        timings["contrastive"] = time.perf_counter() - t0
        return {"contrastive": C}

    def _setup(self, X):
        """X prepared (:meth:`prepare`), its image shape, the device and the seed; n_clusters checked against
        X's rows."""
        X, image_shape = self.prepare(X)
        check_integer("n_clusters", self.n_clusters, 2, X.shape[0])
        return (X, image_shape, *self._device_and_seed(X.shape[0]))

    def _fit(self, X):
        X, image_shape, device, seed = self._setup(X)
        self.image_shape_ = image_shape
        check_distinct_rows(X, self.n_clusters)
        timings = {}
        with seeded_torch(seed, device):
            Xt = torch.from_numpy(X).to(device)
            t0 = time.perf_counter()
            model, budget = self._pretrained_model(Xt, image_shape, seed)
            timings["pretrain"] = time.perf_counter() - t0
            extra = self._contrastive_candidate(Xt, image_shape, seed, timings)
            labels, self.affinity_, self.embedding_ = self._finetune_and_cluster(model, Xt, seed, timings, extra)
        self.labels_ = labels
        self.timings_ = timings
        self.budget_ = {**budget, "finetune_epochs": int(self.epochs)}
        self.pretrain_epochs_run_ = budget["pretrain_epochs_run"]
        self.n_features_in_ = X.shape[1]


CONFIG_DIR = Path(__file__).resolve().parent / "configs"


def list_configs() -> list:
    """Names of the built-in configurations."""
    return sorted(p.stem for p in CONFIG_DIR.glob("*.json"))


def load_config(config) -> dict:
    """Read a configuration (built-in name or JSON path); checks that its params are PSSC parameters."""
    path = Path(config)
    if not path.is_file() and not path.suffix:  # a built-in's name; a file of that name comes first
        path = CONFIG_DIR / f"{config}.json"
    if not path.is_file():
        raise InputValueError(f"no configuration {config!r}: not a file, and not one of {list_configs()}")
    try:
        data = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
        raise InputValueError(f"{path}: not a JSON configuration ({exc})") from exc
    params = data.get("params") if isinstance(data, dict) else None
    if not isinstance(params, dict):
        raise InputValueError(f"{path}: a configuration needs a 'params' object")
    unknown = sorted(set(params) - set(PSSC().get_params()))
    if unknown:
        raise InputValueError(f"{path}: unknown PSSC parameters {unknown}")
    for key in ("hidden_dims", "channels", "kernel_sizes", "image_shape"):
        if isinstance(params.get(key), list):
            params[key] = tuple(params[key])
    return data
