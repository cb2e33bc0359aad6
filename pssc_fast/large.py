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
import time

import numpy as np
import torch
from sklearn.base import ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import _check_feature_names
from tqdm.auto import tqdm

from .budget import EarlyStop, say, stream_epochs
from .core import SubspaceClusteringBase, seeded_torch
from .landmark import nearest_center
from .models import FCAutoEncoder
from .nearest import build_index, index_kind, nearest_anchor_labels, search
from .params import (LARGE_DEFAULTS, LARGE_PARAMETERS, InputValueError, check_integer, describe, make_init,
                     validate)
from .parallel import is_dask_array
from .scaling import MinMaxScale, block_extremes, combine_extremes, sample_rows, scaling_from_scan
from .train import pretrain_stream, resolve_device
from .spectral import check_cluster_sizes
from .validation import as_numpy_input, check_distinct_rows, check_real_input, square_image_shape, warn_user

__all__ = ["LargePSSC", "fit_large", "nearest_anchor_labels", "pretrain_stream"]

#: Below this fraction of the anchors' variance explained by the pre-trained auto-encoder, fit warns: its
#: codes hold little beyond the mean row (seen with 5e4 pre-training samples on warped subspaces: 0%,
#: code spread 1e-4, labels at chance; MNIST-10k after the default budget: 82%).
LOW_EXPLAINED_VARIANCE = 0.2
#: The contrastive encoder trains on at most this many uniformly drawn rows (held in memory as float32): its cost
#: is set by ``contrastive_steps``, not by the rows, and 50,000 images give hundreds of distinct batches.
CONTRASTIVE_ROWS = 50_000


class LargePSSC(ClassNamePrefixFeaturesOutMixin, TransformerMixin, SubspaceClusteringBase):
    __doc__ = """PSSC on anchors with FAISS assignment of every other point (paper Algorithm 3).

    The n x n self-expression layer is trained on ``anchors`` uniformly drawn rows only; all rows are
    then labelled by their nearest anchor in the fine-tuned latent space (in the input space when the input's
    own LSR gave the anchors' partition, ``chosen_ == "input"``), so memory and time grow
    linearly in the number of rows once the anchors are fixed. ``predict`` labels new rows the same way.
    With ``labeling="landmark"`` every row is linked to its nearest anchors instead and the graph this
    induces on all rows is cut spectrally (an m x m eigenproblem; :mod:`pssc_fast.landmark`), so the
    clustering sees every row at a cost still linear in N (``anchor_labels_`` still holds the anchors'
    own clustering). ``fit``, ``predict`` and ``transform`` also take a ``dask.array.Array`` of rows and then
    run per chunk on the active Dask scheduler (:mod:`pssc_fast.parallel`).

    Parameters (defaults and checks: :data:`pssc_fast.params.LARGE_PARAMETERS`)
    ----------
""" + describe(LARGE_PARAMETERS) + """

    Attributes
    ----------
    labels_ : (N,) int64 cluster of every training row; for a dask array X, a dask array persisted on the
        active scheduler (``labels_.to_zarr(...)`` writes it from the workers; pickling drops it).
    anchor_indices_ : (anchors,) sorted row indices of the anchors.
    anchor_labels_ : (anchors,) int64 cluster of every anchor (from the self-expression coefficients).
    anchor_embedding_ : (anchors, latent_dim) float32 latent codes of the anchors (fine-tuned encoder).
    coef_ : (anchors, anchors) float32 self-expression coefficients C0 of the anchors that gave
        ``anchor_labels_`` (the network's, or the anchors' own input LSR when ``chosen_ == "input"``).
    chosen_, normalized_cuts_, candidate_labels_, consensus_of_, rebalanced_ : which candidate's anchor partition was
        kept, each one's normalized cut and anchor labels, the candidates whose partitions the anchor labels are the
        consensus of, and whether ``rebalance`` changed them (as :class:`pssc_fast.PSSC`'s).
    model_ : the fine-tuned auto-encoder (kept on CPU; ``predict``/``transform`` encode on ``device``).
    head_ : the classifier head of the pseudo-supervision (on CPU), or None when gamma2 = gamma3 = 0.
    index_ : the FAISS index rows are assigned through: over ``anchor_embedding_``, over the anchors' scaled
        input rows when ``chosen_ == "input"``, or over their contrastive features when ``chosen_ == "contrastive"``.
    assign_space_ : "codes", "input" or "contrastive", the space ``index_`` searches: the space of the partition
        that was kept.
    image_shape_ : (channels, height, width) the rows were read as for the contrastive candidate, or None.
    contrastive_encoder_ : the trained :class:`~pssc_fast.contrastive.ContrastiveEncoder` (on CPU) when rows are
        assigned in its feature space (``assign_space_ == "contrastive"``), else None.
    contrastive_steps_ : the steps the contrastive encoder trained ("auto" and the pass cap resolved; 0 when off).
    contrastive_pseudo_steps_ : the pseudo-supervised steps on the anchors that followed (``contrastive_pseudo``).
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
    backend_, precision_ : the n x n backend and float32 product precision fine-tuning ran with ("auto" resolved;
        ``verbose=True`` prints why that backend).
    data_min_, data_range_ : the global min-max scaling (X - data_min_) / data_range_ of the training data,
        applied to new rows too (0.0 and None when ``scale=None``).
    data_scaling_ : that scaling as a :class:`pssc_fast.scaling.MinMaxScale` (None when ``scale=None``): its
        ``low`` and ``span`` are data_min_ and data_range_, its ``clip`` the (low, high) the values are clipped
        to first when a few extreme values dominated the training data's range (fit warns naming them;
        :mod:`pssc_fast.scaling`), else None.
    n_features_in_ : number of input features.
    """

    parameters = LARGE_PARAMETERS
    __init__ = make_init(LARGE_PARAMETERS)

    def _anchors_used(self, n_rows: int) -> int:
        """The number of anchors for ``n_rows`` rows, with the parameters whose bounds depend on it checked."""
        m = min(int(self.anchors), n_rows)
        if self.n_clusters > m:
            bound = f"the number of rows ({n_rows})" if n_rows <= int(self.anchors) else \
                f"the number of anchors ({m}); raise anchors"
            raise InputValueError(f"n_clusters={self.n_clusters} must be <= {bound}")
        # the upper bound only binds the labeling in use: 4 anchors must not fail on landmark_neighbors=5
        name = "n_neighbors" if self.labeling == "anchors" else "landmark_neighbors"
        check_integer(name, getattr(self, name), 1)
        if getattr(self, name) > m:
            raise InputValueError(f"{name}={getattr(self, name)} is more than the {m} anchors there are: use more "
                                  f"anchors (at most the {n_rows} rows) or fewer {name}")
        batch = min(int(self.batch_size), n_rows)
        if 0 < self.pretrain_samples < batch:
            raise InputValueError(f"pretrain_samples={self.pretrain_samples} is less than one pre-training batch "
                             f"({batch} rows), so no step would run; give 0 to skip pre-training or at least {batch}")
        return m

    def pretrained_autoencoder(self, X):
        """The auto-encoder :meth:`fit` would fine-tune on X, pre-trained as fit pre-trains it (same seeding and
        scaling) and returned on the CPU without fine-tuning. Pass it back as ``autoencoder=`` with
        ``pretrain_samples=0`` to fit several settings (anchors, labeling) from one pre-training."""
        validate(self)
        X = _as_rows(X)
        device, seed = self._device_and_seed(self._anchors_used(X.shape[0]))
        scaling, variance = _scan(X, int(self.encode_batch_size), self.scale, bool(self.verbose))
        with seeded_torch(seed, device):
            model, _, _ = self._pretrained_model(X, np.random.default_rng(seed), device, variance,
                                                 lambda A, index: _scaled_rows(A, index, scaling))
        return model.cpu()

    def _pretrained_model(self, X, rng, device, variance, rows, stream=None):
        """Build (or start from ``autoencoder``) and pre-train on the rows of X read through ``rows``, drawing
        batches from ``rng``, or from ``stream`` (a dask array's chunks; :func:`pssc_fast.train.pretrain_stream`)
        (``variance``: the scaled data's, for the early stop's loss floor); torch's global seed is set by the
        caller. Returns (model, pre-training history, the EarlyStop that watched it)."""
        latent = self.latent_dim if self.latent_dim is not None else max(int(self.n_clusters), 10)
        fresh = FCAutoEncoder(X.shape[1], tuple(int(h) for h in self.hidden_dims), int(latent))
        model = self._start_model(fresh, X.shape[1], device)
        stopper = EarlyStop(variance=variance)
        history = pretrain_stream(model, X, samples=int(self.pretrain_samples), lr=float(self.pretrain_lr),
                                  schedule=self.pretrain_schedule, batch_size=int(self.batch_size),
                                  noise=float(self.pretrain_noise), rng=rng, rows=rows, device=device,
                                  verbose=bool(self.verbose), max_epochs=int(self.pretrain_max_epochs),
                                  early_stop=stopper, stream=stream)
        return model, history, stopper

    def _fit(self, X):
        t_start = time.perf_counter()
        # a dask array is read chunk by chunk where its chunks lie (pssc_fast.parallel); the rest in batches here
        chunked = is_dask_array(X)
        if chunked:
            from . import parallel

            X = parallel.check_rows(X, min_rows=2)
        else:
            X, image_shape = _as_rows(X), _image_shape_of(X)
        n, d = X.shape
        self.image_shape_ = self._check_image_shape(image_shape if not chunked else None, d,
                                                     rows=None if chunked else X)
        m = self._anchors_used(n)
        device, seed = self._device_and_seed(m)
        rng = np.random.default_rng(seed)
        timings = {}

        t0 = time.perf_counter()
        scan = parallel.scan if chunked else _scan
        scaling, variance = scan(X, int(self.encode_batch_size), self.scale, bool(self.verbose))
        self.data_scaling_ = scaling
        self.data_min_, self.data_range_ = (0.0, None) if scaling is None else (scaling.low, scaling.span)
        timings["scan"] = time.perf_counter() - t0
        self.n_features_in_ = d

        with seeded_torch(seed, device):
            t0 = time.perf_counter()
            # random batches would read every chunk for every batch: a dask array streams its chunks instead
            stream = (parallel.ChunkStream(X, min(int(self.batch_size), n), np.random.default_rng(seed),
                                           lambda A: self._rows(A, slice(None))) if chunked else None)
            model, self.pretrain_history_, stopper = self._pretrained_model(X, rng, device, variance, self._rows,
                                                                            stream=stream)
            if stream is not None:
                stream.close()  # and with it the chunk it was reading ahead
            timings["pretrain"] = time.perf_counter() - t0
            self.budget_ = self._describe_budget(n, stopper)
            say(f"pre-training: {self.budget_['pretrain_why']}", bool(self.verbose))
            # Uniform, seeded anchors: the only choice Algorithm 3 makes about them, and label-free.
            anchor_idx = np.sort(rng.choice(n, size=m, replace=False))
            rows = self._rows(parallel.gather_rows(X, anchor_idx), slice(None)) if chunked else self._rows(X, anchor_idx)
            check_distinct_rows(rows, self.n_clusters, "the anchors' data")  # the host copy
            Xa = torch.from_numpy(rows).to(device)
            self._check_explained_variance(model, Xa)
            extra, anchor_features = self._contrastive_candidate(X, n, anchor_idx, rows, seed, device, timings, chunked)
            anchor_labels, _, anchor_codes = self._finetune_and_cluster(model, Xa, seed, timings, extra)
            del Xa

        self.anchor_indices_ = anchor_idx
        self.anchor_labels_ = anchor_labels
        self.anchor_embedding_ = np.ascontiguousarray(anchor_codes, dtype=np.float32)
        # Rows are assigned in the space whose graph gave the anchors' partition: when the input's own LSR was
        # kept, the codes may not carry it (codes that explain none of the variance sent all 400 rows of ORL to
        # one anchor and one cluster while the anchors' input partition had all 40).
        self.assign_space_ = {"input": "input", "contrastive": "contrastive"}.get(self.chosen_, "codes")
        vectors = {"input": rows, "contrastive": anchor_features}.get(self.assign_space_, self.anchor_embedding_)
        if self.assign_space_ != "contrastive":
            self.contrastive_encoder_ = None  # only rows assigned in its space need it
        del rows, anchor_features
        self.index_ = build_index(np.ascontiguousarray(vectors, dtype=np.float32), index_kind(self.index, n, m), seed,
                                  self.nprobe)
        del vectors
        if chunked:
            # encode and assign run together on each chunk: their seconds are "encode", "assign" is 0
            t0 = time.perf_counter()
            labels, sizes = parallel.fit_labels(self, X, seed)
            enc_s, asg_s = time.perf_counter() - t0, 0.0
        else:
            with self._model_on_device(device):
                if self.labeling == "landmark":
                    labels, enc_s, asg_s = self._fit_landmark(X, seed)
                else:
                    labels, enc_s, asg_s = self._label_rows(X, desc="encode + assign")
            sizes = np.bincount(labels, minlength=int(self.n_clusters))
        timings["encode"], timings["assign"] = enc_s, asg_s
        timings["total"] = time.perf_counter() - t_start
        if len(np.unique(self.anchor_labels_)) == int(self.n_clusters) or self.labeling == "landmark":
            # (with fewer clusters among the anchors the spectral step has said so already)
            check_cluster_sizes(sizes, int(self.n_clusters), "the rows")
        self.labels_ = labels
        self.timings_ = timings
        self.pretrain_epochs_run_ = self.budget_["pretrain_epochs_run"]

    def _check_explained_variance(self, model, Xa):
        """Sets ``pretrain_explained_variance_`` on the anchors' rows and warns when it is low (identical
        anchors have no variance to explain: check_distinct_rows has said what is wrong)."""
        self.pretrain_explained_variance_ = _explained_variance(model, Xa)
        if self.pretrain_explained_variance_ < LOW_EXPLAINED_VARIANCE:
            warn_user(
                f"the pre-trained auto-encoder explains {max(self.pretrain_explained_variance_, 0.0):.0%} of the variance of "
                f"the anchors' rows (its reconstructions are little better than the mean row), so its codes "
                f"carry little to cluster; {self._more_pretraining_advice()}")

    def _check_image_shape(self, inferred, n_features: int, rows=None):
        """The (channels, height, width) X's rows are read as for the contrastive candidate, or None: the
        ``image_shape`` parameter, else the shape of image-shaped X, else with "auto" that of ``rows`` that look
        like square images (:func:`~pssc_fast.validation.square_image_shape`; not tried on a dask array)."""
        given, detect = self._asked_image_shape()
        if detect and inferred is None and rows is not None:
            inferred = square_image_shape(rows)
        if given is not None and inferred is not None and given != inferred:
            raise InputValueError(f"image_shape={given} disagrees with X's images, {inferred} (channels, height, "
                                  "width); drop image_shape or pass 2-D rows")
        shape = given or inferred
        if shape is not None and int(np.prod(shape)) != n_features:
            raise InputValueError(f"image_shape={shape} must be (channels, height, width) with {n_features} values "
                                  "in all")
        return shape

    def _contrastive_candidate(self, X, n: int, anchor_idx, anchor_rows, seed: int, device, timings: dict,
                               chunked: bool):
        """({"contrastive": the anchors' ridge self-expression of their contrastive features}, those features),
        or ({}, None) when ``contrastive_steps`` is 0 or the rows are not images. The encoder
        (``contrastive_encoder_``, kept on the CPU) trains on all rows, or :data:`CONTRASTIVE_ROWS` drawn
        uniformly (seeded) when there are more."""
        self.contrastive_encoder_ = None
        self.contrastive_steps_ = self.contrastive_pseudo_steps_ = 0
        budget, max_epochs = self._contrastive_budget(device)
        if not budget or self.image_shape_ is None:
            return {}, None
        from .contrastive import encode, planned_steps, refine_encoder, train_encoder

        t0 = time.perf_counter()
        if n <= CONTRASTIVE_ROWS:
            sample = np.arange(n)
        else:
            sample = np.sort(np.random.default_rng([seed, 1]).choice(n, size=CONTRASTIVE_ROWS, replace=False))
        if chunked:
            from . import parallel

            raw = parallel.gather_rows(X, sample)
        else:
            raw = X[sample]
        images = torch.from_numpy(self._rows(raw, slice(None))).reshape(-1, *self.image_shape_).to(device)
        encoder = train_encoder(images, steps=budget, seed=seed, max_epochs=max_epochs,
                                neighbours=bool(self.contrastive_neighbours), verbose=bool(self.verbose))
        del images
        anchors = torch.from_numpy(anchor_rows).reshape(-1, *self.image_shape_).to(device)
        features = encode(encoder, anchors).cpu()
        self.contrastive_steps_ = planned_steps(len(sample), budget, max_epochs)
        self.contrastive_pseudo_steps_ = round(float(self.contrastive_pseudo) * self.contrastive_steps_)
        if self.contrastive_pseudo_steps_:
            # pseudo-supervision on the anchors, the rows whose partition exists
            labels = self._partition(self._ridge_of(features.double()), seed)
            encoder = refine_encoder(encoder, anchors, labels, steps=self.contrastive_pseudo_steps_, seed=seed,
                                     neighbours=bool(self.contrastive_neighbours), verbose=bool(self.verbose))
            features = encode(encoder, anchors).cpu()
        C = self._ridge_of(features.double())
        self.contrastive_encoder_ = encoder.cpu()
        timings["contrastive"] = time.perf_counter() - t0
        say(f"contrastive features: {self.contrastive_steps_} steps on {len(sample):,} rows, "
            f"{self.contrastive_pseudo_steps_} pseudo-supervised on the anchors, {timings['contrastive']:.1f} s",
            bool(self.verbose))
        return {"contrastive": C}, features.numpy()

    # -- out of sample ----------------------------------------------------------------------
    def predict(self, X):
        """Cluster of each row of X: the label of its nearest anchor (or the vote of ``n_neighbors``)
        in the fine-tuned latent space (the input space when ``assign_space_ == "input"``); with
        ``labeling="landmark"`` the nearest k-means centre of its landmark embedding. X is scaled with the training data's min and max.

        A ``dask.array.Array`` X (one chunk along columns) gives a lazy dask array of int64 labels with X's
        row chunks, computed chunk by chunk on the active Dask scheduler (:mod:`pssc_fast.parallel`)."""
        self._check_fitted()
        if is_dask_array(X):
            from . import parallel

            return parallel.predict(self, self._check_new(X))
        X = self._check_new(X)
        with self._model_on_device():
            return self._label_rows(X, desc="predict")[0]

    def transform(self, X):
        """(n, latent_dim) float32 latent codes of the rows of X under the fine-tuned encoder; a lazy dask
        array with X's row chunks for a ``dask.array.Array`` X (as :meth:`predict`)."""
        self._check_fitted()
        if is_dask_array(X):
            from . import parallel

            return parallel.transform(self, self._check_new(X))
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
        if is_dask_array(state.get("labels_")):
            # labels of a fit on a dask array live on the cluster (persisted chunks) and go with it: write them
            # out (to_zarr) before pickling; the model predicts without them
            state = dict(state, labels_=None)
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
        _check_feature_names(self, X, reset=False)  # a data frame's columns in fit's order, or a warning without names
        if is_dask_array(X):
            from . import parallel

            X = parallel.check_rows(X, min_rows=1)
        else:
            X = _as_rows(X, min_rows=1)
        if X.shape[1] != self.n_features_in_:
            # scikit-learn's words, which its estimator checks look for
            raise InputValueError(f"X has {X.shape[1]} features, but {type(self).__name__} is expecting "
                             f"{self.n_features_in_} features as input")
        return X

    def _rows(self, X, index) -> np.ndarray:
        """Rows ``index`` (sorted, or a slice) of X as scaled float32 - the only raw rows held at a time."""
        scaling = None
        if self.data_range_ is not None:
            # data_min_ / data_range_ are the map; data_scaling_ adds the clip and the overflow factor (a
            # model pickled before it existed has neither)
            extra = getattr(self, "data_scaling_", None)
            scaling = MinMaxScale(float(self.data_min_), float(self.data_range_),
                                  *(() if extra is None else (extra.clip, extra.factor)))
        return _scaled_rows(X, index, scaling)

    def _index_kind(self, n_queries: int, n_anchors: int) -> str:
        return index_kind(self.index, n_queries, n_anchors)

    def _scaled_batches(self, X, desc):
        """(start, scaled float32 rows) of X, ``encode_batch_size`` rows at a time."""
        bs, n = int(self.encode_batch_size), X.shape[0]
        for start in tqdm(range(0, n, bs), desc=desc, disable=not self.verbose, leave=False):
            yield start, self._rows(X, slice(start, min(start + bs, n)))

    def _encode_batches(self, X, desc):
        """(start, latent codes) of X's rows, a batch at a time."""
        model = self.model_
        device = next(model.parameters()).device
        model.eval()
        with torch.no_grad():
            for start, rows in self._scaled_batches(X, desc):
                yield start, model.encode(torch.from_numpy(rows).to(device)).float().cpu().numpy()

    def _assignment_batches(self, X, desc):
        """(start, vectors) of the rows of X in the space ``index_`` searches (``assign_space_``): their latent
        codes, or their scaled input rows when the anchors' partition came from the input's own LSR."""
        space = getattr(self, "assign_space_", "codes")  # (a model pickled before it existed: codes)
        if space == "codes":
            return self._encode_batches(X, desc)
        if space == "contrastive":
            return self._contrastive_batches(X, desc)
        return self._scaled_batches(X, desc)

    def _contrastive_batches(self, X, desc):
        """(start, unit-length contrastive features) of X's rows, a batch at a time (on ``device``)."""
        from .contrastive import encode

        encoder = self.contrastive_encoder_.to(resolve_device(self.device))
        try:
            for start, rows in self._scaled_batches(X, desc):
                images = torch.from_numpy(rows).reshape(-1, *self.image_shape_)
                yield start, encode(encoder, images).cpu().numpy()
        finally:
            self.contrastive_encoder_ = encoder.cpu()

    def _label_rows(self, X, desc):
        """Labels of all rows (streamed); returns (labels, encode seconds, assign seconds)."""
        labels = np.empty(X.shape[0], dtype=np.int64)
        enc_s = asg_s = 0.0
        t = time.perf_counter()
        for start, Z in self._assignment_batches(X, desc):
            t1 = time.perf_counter()
            enc_s += t1 - t
            if self.labeling == "landmark":
                sq_dist, nbrs = self._nearest_anchors(Z)
                U = self.landmark_.embed(nbrs, sq_dist)
                labels[start:start + Z.shape[0]] = nearest_center(U, self.landmark_centers_)
            else:
                labels[start:start + Z.shape[0]] = nearest_anchor_labels(
                    self.index_, Z, self.anchor_labels_, int(self.n_clusters), int(self.n_neighbors))
            t = time.perf_counter()
            asg_s += t - t1
        return labels, enc_s, asg_s

    def _nearest_anchors(self, Z):
        return search(self.index_, Z, int(self.landmark_neighbors))

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
        for start, Z in self._assignment_batches(X, "encode + nearest anchors"):
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
        labels = nearest_center(U, self.landmark_centers_)
        asg_s += time.perf_counter() - t
        return labels, enc_s, asg_s


def fit_large(X, k, anchors=LARGE_DEFAULTS["anchors"], *, random_state=LARGE_DEFAULTS["random_state"],
              device=LARGE_DEFAULTS["device"], verbose=LARGE_DEFAULTS["verbose"], **params) -> LargePSSC:
    """Cluster the rows of X into ``k`` clusters with PSSC trained on ``anchors`` uniformly drawn rows and
    FAISS nearest-anchor assignment of every row (paper Algorithm 3).

    X may be a numpy array, a torch tensor or an ``np.memmap`` (read in batches), or a ``dask.array.Array``
    (read chunk by chunk on the active Dask scheduler; ``labels_`` is then a dask array: :mod:`pssc_fast.parallel`,
    ``pip install "pssc_fast[dask]"``). Further keyword
    arguments are :class:`LargePSSC` parameters. Returns the fitted :class:`LargePSSC`: ``labels_`` for
    every row, ``anchor_indices_``, ``predict(X_new)``, ``transform(X_new)``, ``timings_``.
    """
    return LargePSSC(k, anchors=anchors, random_state=random_state, device=device, verbose=verbose,
                     **params).fit(X)


# -- helpers -------------------------------------------------------------------------------------

@torch.no_grad()
def _explained_variance(model, X: torch.Tensor) -> float:
    """1 - reconstruction error / variance around the mean row, on the rows X (label-free)."""
    model.eval()
    with torch.no_grad():  # a float() of a tensor that requires grad warns
        mse = float(((model.decode(model.encode(X)) - X) ** 2).mean())
    var = float(((X - X.mean(dim=0)) ** 2).mean())
    # identical rows leave a variance of float32 rounding (their mean is not exactly any of them)
    spread = var > 1e-10 * float((X * X).mean())
    return 1.0 - mse / var if spread else float("nan")


def _image_shape_of(X):
    """(channels, height, width) of image-shaped X ((n, H, W) is one channel), None for rows."""
    ndim = getattr(X, "ndim", 2)
    if ndim == 3:
        return (1, *(int(v) for v in X.shape[1:]))
    if ndim == 4:
        return tuple(int(v) for v in X.shape[1:])
    return None


def _as_rows(X, min_rows: int = 2):
    """X as a 2-D numeric numpy array without copying (memmaps stay memmaps; torch tensors are viewed);
    at least ``min_rows`` rows (2 to fit, 1 to predict or transform)."""
    X = as_numpy_input(X)
    check_real_input(X)
    if X.ndim < 2:
        raise InputValueError(f"X must be 2-D (samples, features) or image-shaped, got shape {X.shape}")
    if X.ndim > 2:
        X = X.reshape(X.shape[0], -1)  # a view for C-contiguous input (memmaps included)
    if X.shape[0] < min_rows or X.shape[1] == 0:
        raise InputValueError(f"X needs at least {min_rows} sample{'s' if min_rows > 1 else ''} and 1 feature, "
                         f"got shape {X.shape}")
    return X


def _scan(X, batch: int, scale, verbose: bool):
    """One streaming pass: checks finiteness and finds the extremes. Returns (the scaling, or None when
    ``scale`` is None; the variance of the scaled values around the mean row, for the early stop's loss
    floor). Both the outlier check of :func:`pssc_fast.scaling.fit_minmax` and the variance read evenly
    spaced rows holding at most :data:`pssc_fast.scaling.SAMPLE_VALUES` values, so X is read in full once."""
    n, d = X.shape
    extremes = combine_extremes(block_extremes(X[start:start + batch], start)
                                for start in tqdm(range(0, n, batch), desc="scan", disable=not verbose, leave=False))
    sample = np.asarray(X[sample_rows(n, d)], dtype=np.float64)
    return scaling_from_scan(extremes, sample, n, scale)


def _scaled_rows(X, index, scaling) -> np.ndarray:
    """Rows ``index`` of X as float32, mapped by ``scaling`` (a :class:`pssc_fast.scaling.MinMaxScale`, or None
    for X as given); checked finite."""
    rows = np.asarray(X[index])
    # predict-time input is checked here, before the scaling's clipping could hide an infinity
    if rows.dtype.kind == "f" and not np.isfinite(rows).all():
        raise InputValueError("X contains NaN or infinite values; remove or impute them first")
    if scaling is not None:
        # in float64, then cast: float32 would lose the variation around a large offset (e.g. 1e8)
        rows = scaling.apply(rows)
    with np.errstate(over="ignore"):  # reported below, in words
        rows = np.ascontiguousarray(rows, dtype=np.float32)
    if not np.isfinite(rows).all():
        raise InputValueError("X has values beyond float32's range (about 3.4e38): rescale it, or keep "
                         "scale='minmax'")
    return rows
