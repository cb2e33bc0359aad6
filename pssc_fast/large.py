"""PSSC for data far larger than an n x n layer allows (paper Algorithm 3, docs/DESIGN.md section 6).

Pipeline of :class:`LargePSSC` / :func:`fit_large`:

1. one streaming pass over X for the global [0, 1] scale (and a finiteness check);
2. a fully-connected auto-encoder d-500-500-2000-m pre-trained in mini-batches drawn from all rows, for a
   budget counted in *samples seen* (``pretrain_samples``), so its cost does not grow with N;
3. ``anchors`` rows drawn uniformly at random (seeded; labels are never looked at);
4. PSSC fine-tuned on the anchors (full batch, the fused n x n operators of :func:`pssc_fast.train.finetune`);
5. the anchors clustered from their self-expression coefficients (:func:`pssc_fast.affinity.cluster_coefficients`);
6. every row encoded in batches and given the label of its nearest anchor in latent space with FAISS
   (exact ``IndexFlatL2``; an IVF index for very large problems; a k-NN majority vote as an option) -
   or, with ``labeling="landmark"``, all rows clustered together by landmark spectral clustering through
   their nearest anchors (:mod:`pssc_fast.landmark`).

Stages 1, 2 and 6 read X in batches of rows, so a ``np.memmap`` larger than memory works: apart from X
itself, at most one batch of raw rows is held at a time (plus the anchors' rows and N labels).
"""
from __future__ import annotations

import contextlib
import math
import time

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, ClusterMixin, TransformerMixin
from sklearn.exceptions import NotFittedError
from tqdm.auto import tqdm

from . import affinity, memory
from .spectral import check_clusters_used
from .losses import LossWeights
from .models import FCAutoEncoder
from .budget import MAX_PRETRAIN_EPOCHS, EarlyStop, say, stream_epochs
from .scaling import SAMPLE_VALUES, MinMaxScale, fit_minmax
from .train import check_finite, finetune, resolve_device, shallow_coefficients
from .validation import (as_numpy_input, check_backend_device, check_integer, check_number, check_real_input,
                         check_distinct_rows, check_seed, check_shared_params, refit_or_restore, warn_user)

__all__ = ["LargePSSC", "fit_large", "nearest_anchor_labels", "pretrain_stream"]

#: Below this fraction of the anchors' variance explained by the pre-trained auto-encoder, fit warns: its
#: codes hold little beyond the mean row (seen with 5e4 pre-training samples on warped subspaces: 0%,
#: code spread 1e-4, labels at chance; MNIST-10k after the default budget: 82%).
LOW_EXPLAINED_VARIANCE = 0.2

#: ``index="auto"`` switches from the exact flat index to IVF when queries x anchors exceeds this many
#: distance evaluations (and there are at least 1000 anchors). Below it the exact search is already cheap next to encoding (measured in
#: bench/fit_large_scaling.py: 5000 anchors x 65,000 queries in 10-D take a few hundredths of a second).
IVF_MIN_WORK = 5e10


class LargePSSC(ClusterMixin, ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """PSSC on anchors with FAISS assignment of every other point (paper Algorithm 3).

    The n x n self-expression layer is trained on ``anchors`` uniformly drawn rows only; all rows are
    then labelled by their nearest anchor in the fine-tuned latent space, so memory and time grow
    linearly in the number of rows once the anchors are fixed. ``predict`` labels new rows the same way.

    Parameters
    ----------
    n_clusters : int, number of clusters K (2 <= K <= anchors).
    anchors : int, number of uniformly drawn anchor rows (capped at the number of rows).
    hidden_dims : hidden widths of the fully-connected auto-encoder (paper: 500, 500, 2000).
    latent_dim : latent width (default max(n_clusters, 10); the paper uses K).
    pretrain_samples : pre-training budget in samples seen (mini-batch Adam); independent of N, except
        that it is capped at ``pretrain_max_epochs`` passes over the rows, and that pre-training ends early
        when the reconstruction error stops improving (:mod:`pssc_fast.budget`; ``budget_`` says which).
    pretrain_max_epochs : the cap, in passes over the rows (200: it binds only below
        ``pretrain_samples / 200`` rows, 5000 with the defaults, so that a few rows are not pre-trained on
        for thousands of passes - hours on 60 rows).
    pretrain_lr : initial Adam learning rate of pre-training; decayed to 0 by a cosine schedule over the
        budget when ``pretrain_schedule="cosine"``, constant with ``"constant"``.
    pretrain_noise : fraction of input values masked to 0 in each pre-training batch (a denoising
        auto-encoder; DEC pre-trains this architecture with 0.2), 0 for plain reconstruction.
    batch_size : pre-training mini-batch size.
    epochs, lr : full-batch fine-tuning steps on the anchors and their Adam learning rate (1e-4, the paper's
        fine-tuning rate; PSSC's 1e-3 wrecked the MNIST-10k codes in a label-scored comparison that kept this
        value, see docs/notes.md).
    head_lr : Adam learning rate of the freshly initialised classifier head (None uses ``lr``). 1e-2 as in
        :class:`pssc_fast.PSSC`: at ``lr`` the head stayed near uniform through the 30 steps (mean
        max-probability 0.25 on MNIST-10k's anchors, none above ``tau``), so the self-labelling term was
        0 after step 10 and the pseudo-graph term rose instead of falling.
    gamma1, gamma2, gamma3, trace_weight, balance_weight, tau, c_init : the PSSC objective, as in
        :class:`pssc_fast.PSSC`.
    coef_l2, coef_lr : weight of ||C||_F^2 and Adam's learning rate on C, "auto" by default, as in
        :class:`pssc_fast.PSSC`.
    q, alpha, ro, diag_shift, affinity_method : clustering of the anchors' coefficients (paper Algorithm 2).
    shallow_candidate : also cluster the anchors' own ridge self-expression (LSR on their input rows) and keep
        the anchor partition with the lower normalized cut, as in :class:`pssc_fast.PSSC`.
    labeling : how every row gets its cluster.
        ``"anchors"`` (paper Algorithm 3): the anchors are clustered from their self-expression
        coefficients and each row takes its nearest anchor's label (or the vote of ``n_neighbors``);
        ``"landmark"``: landmark spectral clustering of all rows (:mod:`pssc_fast.landmark`): each row is
        linked to its ``landmark_neighbors`` nearest anchors in the fine-tuned latent space, the graph
        this induces on all N rows is cut spectrally (an m x m eigenproblem) and k-means labels the
        rows' embedding. The clustering then sees every row, not only the anchors, at a cost still
        linear in N; the anchors' coefficients are not used for the labels (``anchor_labels_`` still
        holds their clustering).
    landmark_neighbors : anchors per row in the landmark graph (5, as in Chen & Cai's LSC).
    n_neighbors : 1 gives each point its nearest anchor's label; k > 1 a majority vote of the k nearest
        anchors (ties go to the nearest anchor's label). ``labeling="anchors"`` only.
    index : "flat" (exact FAISS IndexFlatL2), "ivf" (FAISS IndexIVFFlat, approximate) or "auto" (IVF
        when rows x anchors exceeds :data:`IVF_MIN_WORK` and there are at least 1000 anchors).
    nprobe : IVF lists visited per query (None: a quarter of the lists, at least 8).
    encode_batch_size : rows read, scaled and encoded at a time when encoding and predicting.
    scale : "minmax" rescales X globally to [0, 1] with the training data's min and max (the same affine
        map is applied in ``predict``/``transform``); None uses X as given. When a few extreme values
        dominate the range, fit warns naming them and clips them to the range of the bulk first
        (:mod:`pssc_fast.scaling`, shared with :class:`pssc_fast.PSSC`).
    autoencoder : None, or an :class:`~pssc_fast.models.FCAutoEncoder` of the same shape, already
        pre-trained on this scaling of the data, whose weights are the starting point (it is not
        modified); set ``pretrain_samples=0`` to skip pre-training. Lets several anchor settings share
        one pre-training.
    backend, device, random_state, verbose : as in :class:`pssc_fast.PSSC`.

    Attributes
    ----------
    labels_ : (N,) int64 cluster of every training row.
    anchor_indices_ : (anchors,) sorted row indices of the anchors.
    anchor_labels_ : (anchors,) int64 cluster of every anchor (from the self-expression coefficients).
    anchor_embedding_ : (anchors, latent_dim) float32 latent codes of the anchors (fine-tuned encoder).
    coef_ : (anchors, anchors) float32 self-expression coefficients C0 of the anchors that gave
        ``anchor_labels_`` (the network's, or the anchors' own input LSR when ``chosen_ == "input"``).
    chosen_, normalized_cuts_ : which candidate's anchor partition was kept, and each one's normalized cut.
    model_ : the fine-tuned auto-encoder (kept on CPU; ``predict``/``transform`` encode on ``device``).
    head_ : the classifier head of the pseudo-supervision (on CPU), or None when gamma2 = gamma3 = 0.
    index_ : the FAISS index over ``anchor_embedding_``.
    landmark_, landmark_centers_ : with ``labeling="landmark"``, the fitted
        :class:`~pssc_fast.landmark.LandmarkSpectral` and the k-means centres of the rows' embedding.
    pretrain_history_ : mean reconstruction error per 100 pre-training steps.
    pretrain_explained_variance_ : 1 - reconstruction error / variance of the anchors' rows after
        pre-training; fit warns below :data:`LOW_EXPLAINED_VARIANCE`. NaN when the anchors' rows are all
        identical (fit warns about that instead).
    history_ : per-step loss terms of the fine-tuning.
    timings_ : seconds per stage: "scan", "pretrain", "finetune", "cluster", "encode", "assign", "total".
    budget_ : the pre-training budget used and why: "pretrain_samples" (asked), "pretrain_steps" (after the
        cap), "pretrain_steps_run", "pretrain_epochs_run" (passes), "pretrain_stop" ("plateau", "floor" or
        None), "pretrain_why" (in words), and "finetune_epochs".
    pretrain_epochs_run_ : passes over the rows that pre-training ran (the last one may be partial).
    coef_l2_, coef_lr_ : the ||C||^2 weight and C's learning rate used ("auto" resolved).
    data_min_, data_range_ : the global min-max scaling (X - data_min_) / data_range_ of the training data,
        applied to new rows too (0.0 and None when ``scale=None``).
    data_scaling_ : that scaling as a :class:`pssc_fast.scaling.MinMaxScale` (None when ``scale=None``): its
        ``low`` and ``span`` are data_min_ and data_range_, its ``clip`` the (low, high) the values are clipped
        to first when a few extreme values dominated the training data's range (fit warns naming them;
        :mod:`pssc_fast.scaling`), else None.
    n_features_in_ : number of input features.
    """

    def __init__(self, n_clusters=8, *, anchors=5000, hidden_dims=(500, 500, 2000), latent_dim=None,
                 pretrain_samples=1_000_000, pretrain_lr=1e-3, pretrain_schedule="cosine", pretrain_noise=0.0,
                 pretrain_max_epochs=MAX_PRETRAIN_EPOCHS, batch_size=256,
                 epochs=30, lr=1e-4, head_lr=1e-2, gamma1=1.0, gamma2=0.0, gamma3=0.0, trace_weight=0.0, coef_l2="auto",
                 coef_lr="auto", balance_weight=0.1, tau=0.8, c_init="ridge", q=4, alpha=5.0, ro=0.12, diag_shift=0.0,
                 shallow_candidate=True, affinity_method="auto",
                 labeling="anchors", landmark_neighbors=5, n_neighbors=1, index="auto", nprobe=None,
                 encode_batch_size=8192, scale="minmax",
                 autoencoder=None, backend="auto", device="auto", random_state=None, verbose=False):
        self.n_clusters = n_clusters
        self.anchors = anchors
        self.hidden_dims = hidden_dims
        self.latent_dim = latent_dim
        self.pretrain_samples = pretrain_samples
        self.pretrain_lr = pretrain_lr
        self.pretrain_schedule = pretrain_schedule
        self.pretrain_noise = pretrain_noise
        self.pretrain_max_epochs = pretrain_max_epochs
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
        self.c_init = c_init
        self.q = q
        self.alpha = alpha
        self.ro = ro
        self.diag_shift = diag_shift
        self.shallow_candidate = shallow_candidate
        self.affinity_method = affinity_method
        self.labeling = labeling
        self.landmark_neighbors = landmark_neighbors
        self.n_neighbors = n_neighbors
        self.index = index
        self.nprobe = nprobe
        self.encode_batch_size = encode_batch_size
        self.scale = scale
        self.autoencoder = autoencoder
        self.backend = backend
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    # -- validation -------------------------------------------------------------------------
    def _validate_params(self, n_rows: int) -> int:
        """Check every parameter; returns the number of anchors actually used."""
        check_integer("anchors", self.anchors, 2)
        m = min(int(self.anchors), n_rows)
        check_integer("n_clusters", self.n_clusters, 2)
        if self.n_clusters > m:
            raise ValueError(f"n_clusters={self.n_clusters} must be <= the number of anchors used ({m})")
        check_integer("pretrain_samples", self.pretrain_samples, 0)
        check_integer("pretrain_max_epochs", self.pretrain_max_epochs, 1)
        # the upper bound only binds the labeling in use: 4 anchors must not fail on landmark_neighbors=5
        check_integer("n_neighbors", self.n_neighbors, 1, m if self.labeling == "anchors" else None)
        check_integer("landmark_neighbors", self.landmark_neighbors, 1, m if self.labeling == "landmark" else None)
        check_integer("encode_batch_size", self.encode_batch_size, 1)
        if self.nprobe is not None:
            check_integer("nprobe", self.nprobe, 1)
        check_shared_params(self)
        batch = min(int(self.batch_size), n_rows)
        if 0 < self.pretrain_samples < batch:
            raise ValueError(f"pretrain_samples={self.pretrain_samples} is less than one pre-training batch "
                             f"({batch} rows), so no step would run; give 0 to skip pre-training or at least {batch}")
        if self.labeling not in ("anchors", "landmark"):
            raise ValueError(f"labeling={self.labeling!r} must be 'anchors' or 'landmark'")
        check_number("pretrain_noise", self.pretrain_noise, low=0.0)
        if self.pretrain_noise >= 1:
            raise ValueError(f"pretrain_noise={self.pretrain_noise} must be < 1 (the fraction of inputs masked)")
        if self.pretrain_schedule not in ("cosine", "constant"):
            raise ValueError(f"pretrain_schedule={self.pretrain_schedule!r} must be 'cosine' or 'constant'")
        if self.autoencoder is not None and not (hasattr(self.autoencoder, "state_dict")
                                                 and hasattr(self.autoencoder, "encode")):
            raise TypeError(f"autoencoder must be None or an FCAutoEncoder, got {type(self.autoencoder).__name__}")
        if self.index not in ("auto", "flat", "ivf"):
            raise ValueError(f"index={self.index!r} must be 'auto', 'flat' or 'ivf'")
        return m

    # -- fitting ----------------------------------------------------------------------------
    def fit(self, X, y=None):
        """Cluster the rows of X (array, torch tensor or ``np.memmap``; rows = samples). ``y`` is ignored.

        If fitting raises, a previously fitted estimator keeps its earlier fitted state."""
        with refit_or_restore(self):
            self._fit(X)
        return self

    def _fit(self, X):
        t_start = time.perf_counter()
        X = _as_rows(X)
        n, d = X.shape
        m = self._validate_params(n)
        device = resolve_device(self.device)
        check_backend_device(self.backend, device)
        memory.check_self_expression_fits(m, backend=self.backend, device=device)
        seed = check_seed(self.random_state)
        rng = np.random.default_rng(seed)
        timings = {}
        bs = int(self.encode_batch_size)
        verbose = bool(self.verbose)

        t0 = time.perf_counter()
        scaling, variance = _scan(X, bs, self.scale, verbose)
        self.data_scaling_ = scaling
        self.data_min_, self.data_range_ = (0.0, None) if scaling is None else (scaling.low, scaling.span)
        timings["scan"] = time.perf_counter() - t0
        self.n_features_in_ = d

        latent = self.latent_dim if self.latent_dim is not None else max(int(self.n_clusters), 10)
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(seed)
            generator = torch.Generator().manual_seed(seed)
            model = FCAutoEncoder(d, tuple(int(h) for h in self.hidden_dims), int(latent)).to(device)

            t0 = time.perf_counter()
            if self.autoencoder is not None:
                try:
                    model.load_state_dict(self.autoencoder.state_dict())
                except RuntimeError as exc:
                    raise ValueError(f"autoencoder does not match a {d}-{'-'.join(map(str, self.hidden_dims))}-"
                                     f"{latent} FCAutoEncoder: {exc}") from exc
            stopper = EarlyStop(variance=variance)
            self.pretrain_history_ = pretrain_stream(
                model, X, samples=int(self.pretrain_samples), lr=float(self.pretrain_lr),
                schedule=self.pretrain_schedule, batch_size=int(self.batch_size),
                noise=float(self.pretrain_noise), rng=rng, rows=self._rows,
                device=device, verbose=verbose, max_epochs=int(self.pretrain_max_epochs), early_stop=stopper)
            timings["pretrain"] = time.perf_counter() - t0
            self.budget_ = self._describe_budget(n, stopper)
            say(f"pre-training: {self.budget_['pretrain_why']}", verbose)

            t0 = time.perf_counter()
            # Uniform, seeded anchors: the only choice Algorithm 3 makes about them, and label-free.
            anchor_idx = np.sort(rng.choice(n, size=m, replace=False))
            Xa = torch.from_numpy(self._rows(X, anchor_idx)).to(device)
            check_distinct_rows(Xa, self.n_clusters, "the anchors' data")
            self.pretrain_explained_variance_ = _explained_variance(model, Xa)
            # (identical anchors have no variance to explain: the warning above said what is wrong)
            if self.pretrain_explained_variance_ < LOW_EXPLAINED_VARIANCE:
                warn_user(
                    f"the pre-trained auto-encoder explains {max(self.pretrain_explained_variance_, 0.0):.0%} of the variance of "
                    f"the anchors' rows (its reconstructions are little better than the mean row), so its codes "
                    f"carry little to cluster; {self._more_pretraining_advice()}")
            coef_l2 = self.coef_l2 if self.coef_l2 == "auto" else float(self.coef_l2)
            weights = LossWeights(trace=float(self.trace_weight), self_expression=float(self.gamma1),
                                  coef_l2=coef_l2, graph=float(self.gamma2), label=float(self.gamma3),
                                  balance=float(self.balance_weight))
            result = finetune(model, Xa, int(self.n_clusters), weights=weights, epochs=int(self.epochs),
                              lr=float(self.lr), head_lr=self.head_lr, coef_lr=self.coef_lr, c_init=self.c_init, backend=self.backend,
                              tau=float(self.tau), generator=generator, verbose=verbose)
            timings["finetune"] = time.perf_counter() - t0
            model.eval()
            with torch.no_grad():
                anchor_codes = model.encode(Xa).float().cpu().numpy()
            del Xa

        t0 = time.perf_counter()
        candidates = {"network": result.coef.cpu().numpy()}
        if self.shallow_candidate:
            candidates["input"] = shallow_coefficients(torch.from_numpy(self._rows(X, anchor_idx)),
                                                       int(self.n_clusters)).numpy()
        chosen, results = affinity.cluster_best_of(
            candidates, int(self.n_clusters), q=int(self.q), alpha=float(self.alpha), ro=float(self.ro),
            diag_shift=float(self.diag_shift), method=self.affinity_method, random_state=seed)
        coef, anchor_labels = candidates[chosen], results[chosen][0]
        timings["cluster"] = time.perf_counter() - t0

        self.model_ = model.cpu()
        self.coef_ = coef
        self.chosen_ = chosen
        self.normalized_cuts_ = {name: r[2] for name, r in results.items()}
        self.coef_l2_ = result.coef_l2
        self.coef_lr_ = result.coef_lr
        self.head_ = None if result.head is None else result.head.cpu()
        self.history_ = result.history
        self.anchor_indices_ = anchor_idx
        self.anchor_labels_ = np.asarray(anchor_labels, dtype=np.int64)
        self.anchor_embedding_ = np.ascontiguousarray(anchor_codes, dtype=np.float32)
        self.index_ = _build_index(self.anchor_embedding_, self._index_kind(n, m), seed, self.nprobe)
        with self._model_on_device(device):
            if self.labeling == "landmark":
                labels, enc_s, asg_s = self._fit_landmark(X, seed)
            else:
                labels, enc_s, asg_s = self._label_rows(X, desc="encode + assign")
        timings["encode"], timings["assign"] = enc_s, asg_s
        timings["total"] = time.perf_counter() - t_start
        if len(np.unique(self.anchor_labels_)) == int(self.n_clusters) or self.labeling == "landmark":
            # (with fewer clusters among the anchors the spectral step has said so already)
            check_clusters_used(labels, int(self.n_clusters), "the rows")
        self.labels_ = labels
        self.timings_ = timings
        self.pretrain_epochs_run_ = self.budget_["pretrain_epochs_run"]

    def fit_predict(self, X, y=None):
        """Fit and return ``labels_``."""
        return self.fit(X).labels_

    # -- out of sample ----------------------------------------------------------------------
    def predict(self, X):
        """Cluster of each row of X: the label of its nearest anchor (or the vote of ``n_neighbors``)
        in the fine-tuned latent space; with ``labeling="landmark"`` the nearest k-means centre of its
        landmark embedding. X is scaled with the training data's min and max."""
        self._check_fitted()
        X = self._check_new(X)
        with self._model_on_device():
            return self._label_rows(X, desc="predict")[0]

    def transform(self, X):
        """(n, latent_dim) float32 latent codes of the rows of X under the fine-tuned encoder."""
        self._check_fitted()
        X = self._check_new(X)
        out = np.empty((X.shape[0], self.anchor_embedding_.shape[1]), dtype=np.float32)
        with self._model_on_device():
            for start, Z in self._encode_batches(X, "transform"):
                out[start:start + Z.shape[0]] = Z
        return out

    @property
    def _n_features_out(self):  # for get_feature_names_out / set_output: one column per latent dimension
        return self.anchor_embedding_.shape[1]

    # -- pickling: FAISS indexes are SWIG objects, stored as their serialised bytes ------------
    def __getstate__(self):
        state = super().__getstate__()
        if "index_" in state:
            import faiss

            state = dict(state, index_=faiss.serialize_index(state["index_"]))
        return state

    def __setstate__(self, state):
        if isinstance(state.get("index_"), np.ndarray):
            import faiss

            state = dict(state, index_=faiss.deserialize_index(state["index_"]))
        super().__setstate__(state)

    # -- internals --------------------------------------------------------------------------
    def _describe_budget(self, n_rows: int, stopper: EarlyStop) -> dict:
        """``budget_``: what pre-training was asked, what the cap and the early stop made of it."""
        samples = int(self.pretrain_samples)
        if samples == 0:
            steps, per_pass, why, run = 0, 1, "skipped (pretrain_samples=0)", 0
        else:
            steps, per_pass, why = stream_epochs(samples, n_rows, int(self.batch_size), int(self.pretrain_max_epochs))
            run = stopper.epochs_run * per_pass if stopper.stopped else steps
            if stopper.stopped:
                why += f"; stopped early ({stopper.stopped}): {stopper.reason}"
        return {"pretrain_samples": samples, "pretrain_steps": steps, "pretrain_steps_run": run,
                "pretrain_epochs_run": run / per_pass, "pretrain_stop": stopper.stopped, "pretrain_why": why,
                "finetune_epochs": int(self.epochs)}

    def _more_pretraining_advice(self) -> str:
        """What to change when the pre-trained codes explain little: the binding limit of the budget."""
        budget = getattr(self, "budget_", None) or {}
        if budget.get("pretrain_stop"):
            return ("pre-training stopped early, its reconstruction error no longer falling; check the input's "
                    "scaling, or try another pretrain_lr")
        if "capped" in budget.get("pretrain_why", ""):
            return f"raise pretrain_max_epochs (now {self.pretrain_max_epochs})"
        return f"raise pretrain_samples (now {self.pretrain_samples})"

    def _check_fitted(self):
        if not hasattr(self, "labels_"):
            raise NotFittedError(f"This {type(self).__name__} instance is not fitted yet; call fit(X) first")

    @contextlib.contextmanager
    def _model_on_device(self, device=None):
        """Encode on ``device`` (default: the ``device`` parameter) and keep ``model_`` on the CPU between
        calls, so that a fitted model pickles and loads on machines without a GPU."""
        self.model_.to(resolve_device(self.device) if device is None else device)
        try:
            yield
        finally:
            self.model_.cpu()

    def _check_new(self, X):
        X = _as_rows(X, min_rows=1)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {X.shape[1]} features, but {type(self).__name__} was fitted with "
                             f"{self.n_features_in_}")
        return X

    def _rows(self, X, index) -> np.ndarray:
        """Rows ``index`` (sorted, or a slice) of X as scaled float32 - the only raw rows held at a time."""
        rows = np.asarray(X[index])
        # predict-time input is checked here, before the scaling's clipping could hide an infinity
        if rows.dtype.kind == "f" and not np.isfinite(rows).all():
            raise ValueError("X contains NaN or infinite values; remove or impute them first")
        if self.data_range_ is not None:
            # in float64, then cast: float32 would lose the variation around a large offset (e.g. 1e8).
            # data_min_ / data_range_ are the map; data_scaling_ adds the clip and the overflow factor (a
            # model pickled before it existed has neither)
            extra = getattr(self, "data_scaling_", None)
            rows = MinMaxScale(float(self.data_min_), float(self.data_range_), *(
                () if extra is None else (extra.clip, extra.factor))).apply(rows)
        with np.errstate(over="ignore"):  # reported below, in words
            rows = np.ascontiguousarray(rows, dtype=np.float32)
        if not np.isfinite(rows).all():
            raise ValueError("X has values beyond float32's range (about 3.4e38): rescale it, or keep "
                             "scale='minmax'")
        return rows

    def _index_kind(self, n_queries: int, n_anchors: int) -> str:
        if self.index != "auto":
            return self.index
        return "ivf" if float(n_queries) * n_anchors > IVF_MIN_WORK and n_anchors >= 1000 else "flat"

    def _encode_batches(self, X, desc):
        model = self.model_
        device = next(model.parameters()).device
        model.eval()
        bs = int(self.encode_batch_size)
        n = X.shape[0]
        with torch.no_grad():
            for start in tqdm(range(0, n, bs), desc=desc, disable=not self.verbose, leave=False):
                xb = torch.from_numpy(self._rows(X, slice(start, min(start + bs, n)))).to(device)
                yield start, model.encode(xb).float().cpu().numpy()

    def _label_rows(self, X, desc):
        """Labels of all rows (streamed); returns (labels, encode seconds, assign seconds)."""
        labels = np.empty(X.shape[0], dtype=np.int64)
        enc_s = asg_s = 0.0
        t = time.perf_counter()
        for start, Z in self._encode_batches(X, desc):
            t1 = time.perf_counter()
            enc_s += t1 - t
            if self.labeling == "landmark":
                sq_dist, nbrs = self._nearest_anchors(Z)
                U = self.landmark_.embed(nbrs, sq_dist)
                labels[start:start + Z.shape[0]] = _nearest_center(U, self.landmark_centers_)
            else:
                labels[start:start + Z.shape[0]] = nearest_anchor_labels(
                    self.index_, Z, self.anchor_labels_, int(self.n_clusters), int(self.n_neighbors))
            t = time.perf_counter()
            asg_s += t - t1
        return labels, enc_s, asg_s

    def _nearest_anchors(self, Z):
        return _search(self.index_, Z, int(self.landmark_neighbors))

    def _fit_landmark(self, X, seed):
        """labeling="landmark": every row's nearest anchors (streamed; N x s kept), the landmark spectral
        embedding and k-means on it. Returns (labels, encode seconds, assign seconds)."""
        from .landmark import LandmarkSpectral
        from .spectral import fit_kmeans

        n, s = X.shape[0], int(self.landmark_neighbors)
        nbrs = np.empty((n, s), dtype=np.int64)
        sq_dist = np.empty((n, s), dtype=np.float32)
        enc_s = asg_s = 0.0
        t = time.perf_counter()
        for start, Z in self._encode_batches(X, "encode + nearest anchors"):
            t1 = time.perf_counter()
            enc_s += t1 - t
            sq_dist[start:start + Z.shape[0]], nbrs[start:start + Z.shape[0]] = self._nearest_anchors(Z)
            t = time.perf_counter()
            asg_s += t - t1
        landmark = LandmarkSpectral(len(self.anchor_indices_), int(self.n_clusters), random_state=seed)
        U = landmark.fit(nbrs, sq_dist)
        del nbrs, sq_dist
        km = fit_kmeans(U, int(self.n_clusters), 10, seed)
        self.landmark_, self.landmark_centers_ = landmark, km.cluster_centers_.astype(np.float32)
        # nearest centre, exactly as predict labels a row (k-means' own labels_ can differ on ties)
        labels = _nearest_center(U, self.landmark_centers_)
        asg_s += time.perf_counter() - t
        return labels, enc_s, asg_s


def fit_large(X, k, anchors=5000, *, random_state=None, device="auto", verbose=False, **params) -> LargePSSC:
    """Cluster the rows of X into ``k`` clusters with PSSC trained on ``anchors`` uniformly drawn rows and
    FAISS nearest-anchor assignment of every row (paper Algorithm 3).

    X may be a numpy array, a torch tensor or an ``np.memmap`` (read in batches). Further keyword
    arguments are :class:`LargePSSC` parameters. Returns the fitted :class:`LargePSSC`: ``labels_`` for
    every row, ``anchor_indices_``, ``predict(X_new)``, ``transform(X_new)``, ``timings_``.
    """
    return LargePSSC(k, anchors=anchors, random_state=random_state, device=device, verbose=verbose,
                     **params).fit(X)


def pretrain_stream(model, X, *, samples: int, lr: float = 1e-3, schedule: str = "cosine", batch_size: int = 256,
                    noise: float = 0.0, rng=None, rows=None, device="cpu", verbose: bool = False,
                    max_epochs: int = MAX_PRETRAIN_EPOCHS, early_stop: EarlyStop | bool = True) -> list:
    """Mini-batch Adam on mean squared reconstruction for a budget of ``samples`` samples seen, capped at
    ``max_epochs`` passes over the rows (:func:`pssc_fast.budget.stream_epochs`: on a few rows a budget in
    samples would be thousands of passes, hours spent memorising them).

    With ``noise`` > 0 the auto-encoder is a denoising one: each input value of a batch is set to 0 with
    probability ``noise`` and the clean batch is the target (masking noise, as the input dropout with which
    DEC pre-trains the d-500-500-2000-K auto-encoder that the paper's Algorithm 3 takes from it).

    X is read in batches (any array or ``np.memmap``): each pass over the rows follows a fresh random
    permutation (its last partial batch is dropped), and each batch's indices are sorted so a memmap is
    read in file order. ``rows(X, index)`` returns the batch as float32 (default: ``X[index]`` as is),
    which is where scaling goes. With ``schedule="cosine"`` the learning rate decays from ``lr`` to 0 over
    the budget, so that the last steps settle instead of jittering at ``lr``.

    ``early_stop``: True ends the pre-training after a pass when :class:`pssc_fast.budget.EarlyStop`'s
    label-free rule says the reconstruction error has stopped improving (its loss floor needs the data's
    variance: pass an EarlyStop with ``variance`` set, as LargePSSC does), False runs the whole budget; an
    EarlyStop instance is used as given and afterwards says why it stopped. Returns the mean
    reconstruction error of every 100 steps.
    """
    rng = np.random.default_rng(rng)
    rows = rows or (lambda A, idx: np.ascontiguousarray(A[idx], dtype=np.float32))
    n = X.shape[0]
    bs = min(int(batch_size), n)
    steps, per_pass, _ = stream_epochs(samples, n, bs, max_epochs)
    stopper = EarlyStop() if early_stop is True else (early_stop or None)
    if stopper is not None:
        stopper.steps_per_epoch = per_pass
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    history, running, pass_loss = [], 0.0, 0.0
    perm, pos = rng.permutation(n), 0
    masks = torch.Generator(device=device).manual_seed(int(rng.integers(2**31))) if noise > 0 else None
    bar = tqdm(range(steps), desc="pre-train", disable=not verbose, leave=False)
    model.train()
    for step in bar:
        if pos + bs > n:
            perm, pos = rng.permutation(n), 0
        xb = torch.from_numpy(rows(X, np.sort(perm[pos:pos + bs]))).to(device)
        pos += bs
        if schedule == "cosine":
            for group in opt.param_groups:
                group["lr"] = lr * 0.5 * (1.0 + math.cos(math.pi * step / steps))
        x_in = xb if masks is None else xb * (torch.rand(xb.shape, generator=masks, device=xb.device) >= noise)
        loss = ((model.decode(model.encode(x_in)) - xb) ** 2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        value = loss.item()
        running += value
        pass_loss += value
        if (step + 1) % 100 == 0 or step == steps - 1:
            history.append(running / ((step % 100) + 1))
            running = 0.0
            check_finite(step, "pre-train", {"reconstruction": history[-1]}, lr)
            bar.set_postfix(loss=f"{history[-1]:.4g}")
        if (step + 1) % per_pass == 0:  # a pass over the rows ends here
            if stopper is not None and stopper.update(pass_loss / per_pass):
                if running:  # the steps since the last entry of the history
                    history.append(running / ((step % 100) + 1))
                break
            pass_loss = 0.0
    return history


def nearest_anchor_labels(index, Z, anchor_labels, n_clusters: int, n_neighbors: int = 1) -> np.ndarray:
    """Labels of the query codes Z from a FAISS ``index`` over the anchors' codes: the nearest anchor's
    label, or with ``n_neighbors > 1`` the majority label of the nearest anchors (ties to the nearest's)."""
    _, nn = _search(index, Z, int(n_neighbors))
    votes_of = anchor_labels[nn]
    if n_neighbors == 1:
        return votes_of[:, 0].astype(np.int64)
    votes = np.zeros((Z.shape[0], n_clusters), dtype=np.float64)
    np.add.at(votes, (np.arange(Z.shape[0])[:, None], votes_of), 1.0)
    votes[np.arange(Z.shape[0]), votes_of[:, 0]] += 0.5  # a tie goes to the nearest anchor's label
    return votes.argmax(axis=1).astype(np.int64)


# -- helpers -------------------------------------------------------------------------------------

def _search(index, Z, k: int):
    """(squared distances, indices) of the k nearest anchors of each row of Z. IVF with too few probes can
    come back short (index -1): those slots repeat the nearest anchor found."""
    sq_dist, nbrs = index.search(np.ascontiguousarray(Z, dtype=np.float32), k)
    missing = nbrs < 0
    if missing.any():
        nbrs = np.where(missing, nbrs[:, :1], nbrs)
        sq_dist = np.where(missing, sq_dist[:, :1], sq_dist)
    return sq_dist, nbrs


@torch.no_grad()
def _explained_variance(model, X: torch.Tensor) -> float:
    """1 - reconstruction error / variance around the mean row, on the rows X (label-free)."""
    model.eval()
    mse = float(((model.decode(model.encode(X)) - X) ** 2).mean())
    var = float(((X - X.mean(dim=0)) ** 2).mean())
    # identical rows leave a variance of float32 rounding (their mean is not exactly any of them)
    spread = var > 1e-10 * float((X * X).mean())
    return 1.0 - mse / var if spread else float("nan")


def _nearest_center(U: np.ndarray, centers: np.ndarray) -> np.ndarray:
    d = (U * U).sum(1, keepdims=True) - 2.0 * U @ centers.T + (centers * centers).sum(1)
    return d.argmin(axis=1).astype(np.int64)


def _as_rows(X, min_rows: int = 2):
    """X as a 2-D numeric numpy array without copying (memmaps stay memmaps; torch tensors are viewed);
    at least ``min_rows`` rows (2 to fit, 1 to predict or transform)."""
    X = as_numpy_input(X)
    check_real_input(X)
    if X.ndim < 2:
        raise ValueError(f"X must be 2-D (samples, features) or image-shaped, got shape {X.shape}")
    if X.ndim > 2:
        X = X.reshape(X.shape[0], -1)  # a view for C-contiguous input (memmaps included)
    if X.shape[0] < min_rows or X.shape[1] == 0:
        raise ValueError(f"X needs at least {min_rows} sample{'s' if min_rows > 1 else ''} and 1 feature, "
                         f"got shape {X.shape}")
    return X


def _scan(X, batch: int, scale, verbose: bool):
    """One streaming pass: checks finiteness and finds the extremes. Returns (the scaling, or None when
    ``scale`` is None; the variance of the scaled values around the mean row, for the early stop's loss
    floor). Both the outlier check of :func:`pssc_fast.scaling.fit_minmax` and the variance read evenly
    spaced rows holding at most :data:`pssc_fast.scaling.SAMPLE_VALUES` values, so X is read in full once."""
    low, high, low_at, high_at = np.inf, -np.inf, None, None
    n, d = X.shape
    for start in tqdm(range(0, n, batch), desc="scan", disable=not verbose, leave=False):
        rows = np.asarray(X[start:start + batch])
        if rows.dtype.kind == "f" and not np.isfinite(rows).all():
            raise ValueError("X contains NaN or infinite values; remove or impute them first")
        i_low, i_high = int(np.argmin(rows)), int(np.argmax(rows))
        if float(rows.flat[i_low]) < low:
            low, low_at = float(rows.flat[i_low]), (start + i_low // d, i_low % d)
        if float(rows.flat[i_high]) > high:
            high, high_at = float(rows.flat[i_high]), (start + i_high // d, i_high % d)
    sample_rows = np.unique(np.linspace(0, n - 1, min(n, max(2, SAMPLE_VALUES // d))).round().astype(np.int64))
    sample = np.asarray(X[sample_rows], dtype=np.float64)
    scaling = None
    if scale is not None:
        scaling = fit_minmax(low, high, sample, low_at=low_at, high_at=high_at, sampled=sample_rows.size < n)
        sample = scaling.apply(sample)
    with np.errstate(over="ignore", invalid="ignore"):  # scale=None on huge values: no floor, no harm
        variance = float(((sample - sample.mean(axis=0)) ** 2).mean())
    return scaling, variance if np.isfinite(variance) else None


def _build_index(codes: np.ndarray, kind: str, seed: int, nprobe):
    import faiss

    m, dim = codes.shape
    if kind == "flat":
        index = faiss.IndexFlatL2(dim)
    else:
        nlist = max(1, int(round(math.sqrt(m))))
        index = faiss.IndexIVFFlat(faiss.IndexFlatL2(dim), dim, nlist)
        index.cp.seed = int(seed) % (2**31)
        # faiss prints a warning to stdout below 39 training points per list; a coarse quantiser of a few
        # thousand anchors is fine with fewer, and a library should not write to stdout
        index.cp.min_points_per_centroid = 1
        index.train(codes)
        index.nprobe = int(nprobe) if nprobe is not None else min(nlist, max(8, nlist // 4))
    index.add(codes)
    return index
