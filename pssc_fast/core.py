"""What PSSC and LargePSSC share: the fit skeleton and the "start the auto-encoder, fine-tune, cluster C"
stage (paper Algorithms 1-2) on the rows they train the n x n layer on - all rows for :class:`PSSC`,
the anchors for :class:`LargePSSC`. The estimators differ only in how they read X, pre-train, and label
rows (:mod:`pssc_fast.estimator`, :mod:`pssc_fast.large`).
"""
from __future__ import annotations

import contextlib
import copy
import time

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.metrics import adjusted_mutual_info_score
from sklearn.utils.validation import _check_feature_names  # scikit-learn's own feature-name bookkeeping

from . import affinity, memory
from .losses import LossWeights
from .params import InputValueError, validate
from .train import finetune, resolve_device, shallow_coefficients
from .validation import check_backend_device, check_seed, refit_or_restore


@contextlib.contextmanager
def seeded_torch(seed: int, device: torch.device):
    """torch's global generator seeded with ``seed`` inside, and the caller's state restored after."""
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        yield


class SubspaceClusteringBase(ClusterMixin, BaseEstimator):
    """Base of :class:`pssc_fast.PSSC` and :class:`pssc_fast.LargePSSC`.

    A subclass sets ``parameters`` (its table from :mod:`pssc_fast.params`, which also gives its
    ``__init__``) and implements ``_fit(X)``. ``fit`` validates the parameters once, then runs ``_fit``; a fit
    that raises leaves an earlier fitted state as it was.
    """

    parameters: tuple = ()

    def fit(self, X, y=None):
        """Cluster X (see the class docstring for what X may be). ``y`` is ignored.

        If fitting raises, a previously fitted estimator keeps its earlier fitted state."""
        validate(self)
        with refit_or_restore(self):
            # a data frame's column names, kept (feature_names_in_) so that new rows in another order are refused
            _check_feature_names(self, X, reset=True)
            self._fit(X)
        return self

    def fit_predict(self, X, y=None):
        """Fit and return ``labels_``."""
        return self.fit(X).labels_

    def _fit(self, X):  # pragma: no cover - each estimator has its own
        raise NotImplementedError

    # -- pieces of _fit ---------------------------------------------------------------------
    def _device_and_seed(self, n_layer: int):
        """(torch device, int seed) for a fit whose n x n layer has ``n_layer`` rows, checked to fit in memory
        and on the backend."""
        device = resolve_device(self.device)
        check_backend_device(self.backend, device)
        memory.check_self_expression_fits(n_layer, backend=self.backend, device=device)
        return device, check_seed(self.random_state)

    def _asked_image_shape(self) -> tuple:
        """(the (channels, height, width) ``image_shape`` gives or None, whether it is "auto": rows that look like
        square images are to be read as images)."""
        if isinstance(self.image_shape, str):  # "auto", the only string validate() lets through
            return None, True
        return (None if self.image_shape is None else tuple(int(v) for v in self.image_shape)), False

    def _contrastive_budget(self, device) -> tuple:
        """(steps, max_epochs or None) the contrastive encoder trains for on ``device``: ``contrastive_steps`` and
        ``contrastive_max_epochs``, each "auto" resolved by :func:`pssc_fast.contrastive.default_budget`."""
        from .contrastive import default_budget

        steps, max_epochs = default_budget(device)
        if self.contrastive_steps != "auto":
            steps = int(self.contrastive_steps)
        if self.contrastive_max_epochs != "auto":
            max_epochs = None if self.contrastive_max_epochs is None else int(self.contrastive_max_epochs)
        return steps, max_epochs

    def _start_model(self, fresh, n_features: int, device):
        """The auto-encoder a fit starts from: a float32 copy of ``autoencoder`` (its own architecture, e.g. the
        TensorFlow-padded nets of :func:`pssc_fast.models.load_dscnet_autoencoder`), checked to read rows of
        ``n_features`` values, else ``fresh``. The caller builds ``fresh`` even when it is replaced: its
        initialisation draws from torch's global generator, and the draws that follow (the classifier head's)
        must not depend on whether pre-training was shared."""
        if self.autoencoder is None:
            return fresh.to(device)
        model = copy.deepcopy(self.autoencoder).float().cpu()  # probed on the CPU below, moved after
        try:
            with torch.no_grad():
                model.decode(model.encode(torch.zeros(1, n_features)))
        except (RuntimeError, ValueError) as exc:
            raise InputValueError(f"autoencoder does not match X's rows of {n_features} values: {exc}") from exc
        return model.to(device)

    def _post_processing(self, seed: int) -> dict:
        """The keyword arguments of :func:`pssc_fast.affinity.cluster_coefficients` these parameters set."""
        return dict(q=int(self.q), alpha=float(self.alpha), ro=float(self.ro), diag_shift=float(self.diag_shift),
                    method=self.affinity_method, random_state=seed)

    def _ridge_of(self, features) -> np.ndarray:
        """The ridge self-expression (:func:`pssc_fast.train.shallow_coefficients`) of feature rows (numpy)."""
        return shallow_coefficients(torch.as_tensor(features), int(self.n_clusters)).cpu().numpy()

    def _partition(self, C, seed: int) -> np.ndarray:
        """Labels of coefficients C by the post-processing these parameters set (what the candidates get)."""
        return affinity.cluster_coefficients(C, int(self.n_clusters), **self._post_processing(seed))

    def _finetune_and_cluster(self, model, X: torch.Tensor, seed: int, timings: dict, extra_candidates=None):
        """Fine-tune ``model`` with the self-expression layer on the rows X (float32, scaled, on the device;
        inside :func:`seeded_torch`), then cluster the learned C, and with ``shallow_candidate`` also the rows'
        own ridge self-expression, keeping the partition with the lower normalized cut. ``extra_candidates``:
        further name -> C to compare alike (the "contrastive" one is kept while its cut is within
        ``contrastive_tolerance`` of the lowest).

        Sets ``model_``, ``head_``, ``coef_``, ``chosen_``, ``normalized_cuts_``, ``candidate_labels_``,
        ``consensus_of_``, ``rebalanced_``, ``history_``, ``coef_l2_``, ``coef_lr_``, ``backend_``, ``precision_`` and the "finetune" and "cluster"
        ``timings``. Returns
        (labels of the rows, the affinity cut, the rows' latent codes as float32 numpy)."""
        t0 = time.perf_counter()
        # Fine-tuning draws from a generator of its own, so that a fit from a shared pre-training
        # (autoencoder=..., no pre-training) fine-tunes exactly as the fit that pre-trains itself.
        generator = torch.Generator().manual_seed(seed)
        result = finetune(model, X, int(self.n_clusters), weights=LossWeights.from_params(self.get_params()),
                          epochs=int(self.epochs), lr=float(self.lr), head_lr=self.head_lr, coef_lr=self.coef_lr,
                          c_init=self.c_init, backend=self.backend, precision=self.precision, tau=float(self.tau), generator=generator,
                          verbose=bool(self.verbose))
        model.eval()
        with torch.no_grad():
            codes = model.encode(X).float().cpu().numpy()
        timings["finetune"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        candidates = {"network": result.coef.cpu().numpy()}
        if self.shallow_candidate:
            candidates["input"] = shallow_coefficients(X, int(self.n_clusters)).cpu().numpy()
        candidates.update(extra_candidates or {})
        preferred = "contrastive" if "contrastive" in candidates else None
        chosen, results = affinity.cluster_best_of(
            candidates, int(self.n_clusters), preferred=preferred, tolerance=float(self.contrastive_tolerance),
            **self._post_processing(seed))
        timings["cluster"] = time.perf_counter() - t0

        self.model_ = model.cpu()
        self.head_ = None if result.head is None else result.head.cpu()
        self.coef_ = candidates[chosen]
        self.chosen_ = chosen
        self.normalized_cuts_ = {name: r[2] for name, r in results.items()}
        self.candidate_labels_ = {name: np.asarray(r[0], dtype=np.int64) for name, r in results.items()}
        self.history_ = result.history
        self.coef_l2_ = result.coef_l2
        self.coef_lr_ = result.coef_lr
        self.backend_ = result.backend
        self.precision_ = result.precision
        labels, A, _ = results[chosen]
        self.consensus_of_ = [chosen] if self.ro_consensus else []
        if self.ro_consensus:
            t0 = time.perf_counter()
            # The network's codes and the contrastive features split and join different groups, so the network's
            # partitions join the consensus when its graph is not far less separated than the contrastive one
            # (join_tolerance) and its partition largely agrees with it: a well separated graph can still be
            # partitioned wrongly, and then the two disagree. The input's own never joins: it is the fallback when
            # learning fails.
            if (chosen == "contrastive" and "network" in results
                    and results["network"][2] <= float(self.join_tolerance) * results[chosen][2]
                    and adjusted_mutual_info_score(results[chosen][0], results["network"][0])
                    >= float(self.join_agreement)):
                self.consensus_of_.append("network")
            joined = [(candidates[name], results[name][0]) for name in self.consensus_of_[1:]]
            if joined:  # and the graph both vote in: each representation's C, columns at unit mass, added
                joined.append((affinity.summed_coefficients(*(candidates[name] for name in self.consensus_of_)), None))
            labels = affinity.consensus_labels(candidates[chosen], int(self.n_clusters), given=labels, joined=joined,
                                               **self._post_processing(seed))
            timings["cluster"] += time.perf_counter() - t0
        self.rebalanced_ = False
        if self.rebalance:
            t0 = time.perf_counter()
            # One cluster of two groups and one group split in two: no graph criterion undoes it, only sizes show it
            # (affinity.rebalance_labels; it keeps the labels unless the sizes say the clusters are of one size).
            repaired = affinity.rebalance_labels(candidates[chosen], labels, int(self.n_clusters), A,
                                                 **self._post_processing(seed))
            self.rebalanced_ = bool(np.any(repaired != np.asarray(labels)))
            labels = repaired
            timings["cluster"] += time.perf_counter() - t0
        return np.asarray(labels, dtype=np.int64), A, codes
