"""fit_large / LargePSSC: anchors, streaming input, FAISS assignment, out-of-sample prediction."""
import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

import pssc_fast
import pssc_fast.models
from pssc_fast.datasets import make_subspaces
from pssc_fast.large import LargePSSC, fit_large, nearest_anchor_labels, pretrain_stream
from pssc_fast.nearest import build_index
from pssc_fast.metrics import acc

# the fits here use tiny pre-training budgets on purpose; the warning about them is tested on its own
pytestmark = [pytest.mark.filterwarnings("ignore:the pre-trained auto-encoder explains:UserWarning"),
              pytest.mark.usefixtures("one_torch_thread")]

# Small and fast: a linear auto-encoder keeps linear subspaces linear (as in test_estimator.py), a short
# pre-training budget in samples, and few anchors.
FAST = dict(hidden_dims=(), latent_dim=20, coef_l2=0.1, pretrain_samples=12_000, batch_size=64, epochs=60,
            q=3, encode_batch_size=97)


@pytest.fixture(scope="module")
def data():
    return make_subspaces(1000, 4, 3, 30, noise=0.01, random_state=0)


@pytest.fixture(scope="module")
def fitted(data):
    X, _ = data
    return fit_large(X, 4, anchors=200, random_state=0, **FAST)


def test_end_to_end_with_fewer_anchors_than_points(data, fitted):
    X, y = data
    assert fitted.anchor_indices_.shape == (200,)
    assert len(np.unique(fitted.anchor_indices_)) == 200
    assert np.all(np.diff(fitted.anchor_indices_) > 0) and fitted.anchor_indices_.max() < X.shape[0]
    assert fitted.labels_.shape == (1000,) and fitted.labels_.dtype == np.int64
    assert acc(y, fitted.labels_) >= 0.9
    # anchors keep the label the self-expression clustering gave them (their own nearest anchor)
    np.testing.assert_array_equal(fitted.labels_[fitted.anchor_indices_], fitted.anchor_labels_)


def test_learned_attributes(fitted):
    assert fitted.coef_.shape == (200, 200) and np.all(np.diag(fitted.coef_) == 0)
    assert fitted.anchor_embedding_.shape == (200, 20) and fitted.anchor_embedding_.dtype == np.float32
    assert fitted.n_features_in_ == 30
    assert {"scan", "pretrain", "finetune", "cluster", "encode", "assign", "total"} == set(fitted.timings_)
    assert all(v >= 0 for v in fitted.timings_.values())
    # 12,000 samples in batches of 64 -> 187 steps, logged every 100 steps and at the end
    assert len(fitted.pretrain_history_) == 2
    assert len(fitted.history_) == FAST["epochs"]


def test_predict_on_training_rows_reproduces_labels(data, fitted):
    X, _ = data
    np.testing.assert_array_equal(fitted.predict(X), fitted.labels_)
    # and for a subset in another order (out-of-sample code path, other batch boundaries)
    rows = np.random.default_rng(1).permutation(X.shape[0])[:333]
    np.testing.assert_array_equal(fitted.predict(X[rows]), fitted.labels_[rows])


def test_predict_out_of_sample(fitted):
    # new points from the same subspaces (same seed -> same bases), never seen in training
    X_new, y_new = make_subspaces(1000, 4, 3, 30, noise=0.01, random_state=0)
    X_new = X_new + 0.003 * np.random.default_rng(5).standard_normal(X_new.shape).astype(np.float32)
    assert acc(y_new, fitted.predict(X_new)) >= 0.9


def test_transform_matches_anchor_embedding(data, fitted):
    X, _ = data
    Z = fitted.transform(X)
    assert Z.shape == (1000, 20) and Z.dtype == np.float32
    np.testing.assert_allclose(Z[fitted.anchor_indices_], fitted.anchor_embedding_, rtol=1e-5, atol=1e-5)


def test_memmap_and_tensor_input_give_same_labels(data, fitted, tmp_path):
    """A memmap fit with the same seed reproduces the in-memory fit exactly; predict reads memmaps and tensors."""
    X, _ = data
    path = tmp_path / "X.npy"
    np.save(path, X)
    X_mm = np.load(path, mmap_mode="r")
    from_mm = fit_large(X_mm, 4, anchors=200, random_state=0, **FAST)
    np.testing.assert_array_equal(from_mm.labels_, fitted.labels_)
    np.testing.assert_array_equal(from_mm.anchor_indices_, fitted.anchor_indices_)
    np.testing.assert_array_equal(fitted.predict(torch.from_numpy(X)), fitted.labels_)
    raw = np.memmap(tmp_path / "X.f32", dtype=np.float32, mode="w+", shape=X.shape)
    raw[:] = X
    raw.flush()
    np.testing.assert_array_equal(fitted.predict(np.memmap(tmp_path / "X.f32", dtype=np.float32, mode="r",
                                                           shape=X.shape)), fitted.labels_)


def test_scaling_uses_training_range(data, fitted):
    # predict applies the *training* min-max map: rescaling the input changes the codes
    X, _ = data
    assert not np.allclose(fitted.transform(X * 3.0), fitted.transform(X))


def test_a_large_offset_survives_the_scaling(data, fitted):
    # the min-max map runs in float64: in float32, 1e8 + x keeps nothing of x at this scale (spacing 8)
    import copy

    X, _ = data
    shifted = copy.deepcopy(fitted)
    shifted.data_min_ = fitted.data_min_ + 1e8
    np.testing.assert_allclose(shifted.transform(X.astype(np.float64) + 1e8), fitted.transform(X),
                               rtol=1e-4, atol=1e-4)


def test_neighbour_counts_bind_only_the_labeling_in_use():
    # 4 anchors: landmark_neighbors=5 (its default) is no reason to refuse labeling="anchors"
    X = np.random.default_rng(0).random((30, 5)).astype(np.float32)
    model = LargePSSC(2, anchors=4, pretrain_samples=0, epochs=1, q=1, random_state=0).fit(X)
    assert model.labels_.shape == (30,)
    with pytest.raises(ValueError, match="landmark_neighbors=5 is more than the 4 anchors there are: use more anchors"):
        LargePSSC(2, anchors=4, pretrain_samples=0, epochs=1, labeling="landmark").fit(X)


def test_too_many_clusters_names_what_binds():
    # fewer rows than anchors: the rows bind, and more anchors would not help; otherwise the anchors do
    X = np.random.default_rng(0).random((5, 3)).astype(np.float32)
    with pytest.raises(ValueError, match=r"n_clusters=10 must be <= the number of rows \(5\)"):
        fit_large(X, 10, anchors=60)
    X = np.random.default_rng(0).random((30, 3)).astype(np.float32)
    with pytest.raises(ValueError, match=r"n_clusters=10 must be <= the number of anchors \(8\); raise anchors"):
        fit_large(X, 10, anchors=8)


def test_feature_names_out_name_the_latent_columns(fitted):
    names = fitted.get_feature_names_out()
    assert list(names) == [f"largepssc{i}" for i in range(fitted.anchor_embedding_.shape[1])]
    assert fitted.set_output(transform="default") is fitted
    with pytest.raises(NotFittedError):
        LargePSSC(2).get_feature_names_out()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal of a device this machine lacks")
def test_predict_and_transform_encode_on_the_device_parameter(data, fitted):
    import copy

    X, _ = data
    model = copy.deepcopy(fitted).set_params(device="cuda")
    for method in (model.predict, model.transform):
        with pytest.raises(ValueError, match="CUDA"):
            method(X[:5])
    assert next(model.model_.parameters()).device.type == "cpu"
    np.testing.assert_array_equal(model.set_params(device="cpu").predict(X[:50]), fitted.labels_[:50])


def test_triton_backend_without_cuda_is_refused_before_pretraining(monkeypatch):
    monkeypatch.setenv("TRITON_INTERPRET", "0")

    def no_pretraining(*args, **kwargs):
        raise AssertionError("pre-training ran")

    monkeypatch.setattr("pssc_fast.large.pretrain_stream", no_pretraining)
    X = np.random.default_rng(0).random((40, 5)).astype(np.float32)
    with pytest.raises(ValueError, match="needs a CUDA device"):
        LargePSSC(2, anchors=20, backend="triton", device="cpu").fit(X)


@pytest.mark.parametrize("kind", ["flat", "ivf"])
def test_assignment_equals_brute_force_nearest_neighbour(kind):
    rng = np.random.default_rng(0)
    anchors = rng.standard_normal((300, 10)).astype(np.float32)
    queries = rng.standard_normal((2000, 10)).astype(np.float32)
    labels = rng.integers(0, 7, 300)
    index = build_index(anchors, kind, seed=0, nprobe=10_000)  # IVF visiting every list is exact
    got = nearest_anchor_labels(index, queries, labels, 7)
    d2 = ((queries[:, None, :] - anchors[None, :, :]) ** 2).sum(-1)
    np.testing.assert_array_equal(got, labels[d2.argmin(axis=1)])


def test_knn_vote_is_majority_with_ties_to_nearest():
    import faiss

    anchors = np.array([[0.0], [1.0], [2.0], [10.0], [11.0]], dtype=np.float32)
    labels = np.array([0, 1, 1, 2, 2])
    index = faiss.IndexFlatL2(1)
    index.add(anchors)
    q = np.array([[0.1], [10.2], [1.4]], dtype=np.float32)
    # 3 nearest of 0.1: anchors 0,1,2 -> labels 0,1,1 -> majority 1 although the nearest says 0
    np.testing.assert_array_equal(nearest_anchor_labels(index, q, labels, 3, 3), [1, 2, 1])
    # 2 nearest of 0.1: labels 0 and 1 tie -> the nearest anchor's label 0
    np.testing.assert_array_equal(nearest_anchor_labels(index, q[:1], labels, 3, 2), [0])


def test_seed_changes_anchors(data, fitted):
    # (the same seed giving the same anchors and labels is checked by the memmap test's second fit)
    X, _ = data
    other = LargePSSC(4, anchors=200, random_state=1, **{**FAST, "pretrain_samples": 0, "epochs": 1}).fit(X)
    assert not np.array_equal(other.anchor_indices_, fitted.anchor_indices_)


def test_anchors_capped_at_rows_and_pretrained_autoencoder_reused(data, fitted):
    X, y = data
    small = X[:150]
    model = LargePSSC(4, anchors=5000, random_state=0,
                      **{**FAST, "pretrain_samples": 0, "epochs": 2, "autoencoder": fitted.model_}).fit(small)
    assert model.anchor_indices_.shape == (150,)
    assert model.labels_.shape == (150,)
    # the given auto-encoder is the starting point and is left untouched
    assert model.model_ is not fitted.model_
    np.testing.assert_allclose(fitted.transform(X[:5]), fitted.model_.encode(
        torch.from_numpy(fitted._rows(X, slice(0, 5)))).detach().numpy(), rtol=1e-5, atol=1e-6)


def test_exported_and_sklearn_api():
    assert pssc_fast.fit_large is fit_large and pssc_fast.LargePSSC is LargePSSC
    model = LargePSSC(5, anchors=300, gamma2=0.5)
    params = model.get_params()
    assert params["n_clusters"] == 5 and params["anchors"] == 300 and params["gamma2"] == 0.5
    assert clone(model).get_params() == params
    with pytest.raises(NotFittedError):
        model.predict(np.zeros((3, 4)))
    with pytest.raises(NotFittedError):
        model.transform(np.zeros((3, 4)))


@pytest.mark.parametrize("params, error, words", [
    (dict(anchors=1), ValueError, "anchors"),
    (dict(anchors=2.5), TypeError, "anchors"),
    (dict(n_clusters=60, anchors=50), ValueError, "n_clusters"),
    (dict(pretrain_samples=-1), ValueError, "pretrain_samples"),
    (dict(pretrain_samples=5), ValueError, "less than one pre-training batch"),
    (dict(labeling="landmark", landmark_neighbors=51), ValueError, "landmark_neighbors"),
    (dict(n_neighbors=51), ValueError, "n_neighbors"),
    (dict(n_neighbors=0), ValueError, "n_neighbors"),
    (dict(labeling="spectral"), ValueError, "labeling"),
    (dict(landmark_neighbors=0), ValueError, "landmark_neighbors"),
    (dict(index="hnsw"), ValueError, "index"),
    (dict(pretrain_schedule="step"), ValueError, "pretrain_schedule"),
    (dict(coef_l2="big"), TypeError, "coef_l2"),
    (dict(coef_l2=-1.0), ValueError, "coef_l2"),
    (dict(lr=0.0), ValueError, "lr"),
    (dict(head_lr=0.0), ValueError, "head_lr"),
    (dict(scale="standard"), ValueError, "scale"),
    (dict(autoencoder="ae.pt"), TypeError, "autoencoder"),
    (dict(autoencoder=pssc_fast.models.FCAutoEncoder(5, (), 10)), ValueError, "autoencoder"),
    (dict(device="tpu"), ValueError, "device"),
    (dict(affinity_method="sparce"), ValueError, "affinity_method"),
    (dict(pretrain_noise=1.0), ValueError, "pretrain_noise"),
    (dict(pretrain_noise=-0.1), ValueError, "pretrain_noise"),
    (dict(hidden_dims=(8, 2.5)), TypeError, "hidden_dims"),
])
def test_invalid_parameters_are_named(params, error, words):
    X = np.random.default_rng(0).random((100, 6)).astype(np.float32)
    base = dict(n_clusters=3, anchors=50, pretrain_samples=0, epochs=1)
    with pytest.raises(error, match=words):
        LargePSSC(**{**base, **params}).fit(X)


def test_predict_and_transform_take_a_single_row(data, fitted):
    X, _ = data
    assert fitted.predict(X[7:8]).tolist() == [fitted.labels_[7]]
    np.testing.assert_allclose(fitted.transform(X[7:8]), fitted.transform(X[:20])[7:8], rtol=1e-5, atol=1e-6)


def test_a_failed_refit_keeps_the_earlier_fit(data, fitted, monkeypatch):
    import copy

    X, _ = data
    model = copy.deepcopy(fitted)

    def fail(*args, **kwargs):  # the anchors' clustering fails after scaling and fine-tuning ran
        raise RuntimeError("clustering failed")

    monkeypatch.setattr("pssc_fast.affinity.cluster_coefficients", fail)
    with pytest.raises(RuntimeError, match="clustering failed"):
        model.set_params(pretrain_samples=0, epochs=1).fit(X[:300] * 100 - 50)
    # the earlier scaling and model are intact, so predictions still agree with the earlier labels
    assert model.data_min_ == fitted.data_min_ and model.data_range_ == fitted.data_range_
    np.testing.assert_array_equal(model.predict(X[:300]), fitted.labels_[:300])


def test_invalid_input(fitted):
    with pytest.raises(ValueError, match="NaN"):
        LargePSSC(2, anchors=10, pretrain_samples=0, epochs=1).fit(np.array([[0.0, np.nan]] * 20))
    with pytest.raises(TypeError, match="numeric"):
        LargePSSC(2, anchors=10).fit(np.array([["a", "b"]] * 20))
    with pytest.raises(ValueError, match="constant"):
        LargePSSC(2, anchors=10).fit(np.ones((20, 3)))
    with pytest.raises(ValueError, match="features"):
        fitted.predict(np.zeros((4, 7), dtype=np.float32))
    with pytest.raises(ValueError, match="at least 1 sample"):
        fitted.predict(np.zeros((0, 30), dtype=np.float32))
    with pytest.raises(TypeError, match="real numbers"):
        fitted.predict(np.zeros((2, 30), dtype=np.complex64))


def test_cli_fit_uses_fit_large_for_anchors(data, tmp_path, monkeypatch, capsys):
    import pssc_fast.large as large
    from pssc_fast.cli import main

    X, y = data
    path = tmp_path / "X.npy"
    np.save(path, X)
    seen = {}

    def small_fit_large(X_, k, anchors=5000, **kw):
        seen.update(kw, anchors=anchors, k=k, memmap=isinstance(X_, np.memmap))
        return fit_large(X_, k, anchors=anchors, **{**kw, **FAST})

    monkeypatch.setattr(large, "fit_large", small_fit_large)
    out = tmp_path / "labels.npy"
    assert main(["fit", str(path), "--k", "4", "--anchors", "200", "--out", str(out), "--quiet", "--seed", "3"]) == 0
    labels = np.load(out)
    assert seen["anchors"] == 200 and seen["k"] == 4 and seen["random_state"] == 3 and seen["memmap"]
    assert seen["labeling"] == "anchors"
    assert labels.shape == (1000,) and acc(y, labels) >= 0.9
    assert "1000 samples -> 4 clusters" in capsys.readouterr().out


def test_pickle_round_trip_predicts_the_same(data, fitted):
    import pickle

    X, _ = data
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(restored.predict(X[:300]), fitted.labels_[:300])
    assert restored.index_.ntotal == 200


def test_landmark_labeling_end_to_end_and_out_of_sample(data, fitted):
    X, y = data
    model = LargePSSC(4, anchors=200, random_state=0, labeling="landmark",
                      **{**FAST, "pretrain_samples": 0, "epochs": 2, "autoencoder": fitted.model_}).fit(X[:800])
    assert model.labels_.shape == (800,) and set(np.unique(model.labels_)) <= set(range(4))
    assert acc(y[:800], model.labels_) >= 0.9
    # predict on the training rows reproduces labels_, and labels rows it never saw
    np.testing.assert_array_equal(model.predict(X[:800]), model.labels_)
    assert acc(y[800:], model.predict(X[800:])) >= 0.9
    assert model.landmark_centers_.shape == (4, 4)
    import pickle

    np.testing.assert_array_equal(pickle.loads(pickle.dumps(model)).predict(X[800:]), model.predict(X[800:]))


class _Recorder(torch.nn.Module):
    """A linear auto-encoder that keeps the inputs its encoder saw and the targets the loss compared with."""

    def __init__(self, d):
        super().__init__()
        self.lin = torch.nn.Linear(d, d)
        with torch.no_grad():  # the identity: the reconstruction error is then how far input and target differ
            self.lin.weight.copy_(torch.eye(d))
            self.lin.bias.zero_()
        self.inputs = []

    def encode(self, x):
        self.inputs.append(x.detach().clone())
        return self.lin(x)

    def decode(self, z):
        return z


@pytest.mark.parametrize("noise", [0.0, 0.3])
def test_denoising_pretraining_masks_inputs_not_targets(noise):
    X = np.ones((203, 17), dtype=np.float32)
    model = _Recorder(17)
    torch.manual_seed(0)
    history = pretrain_stream(model, X, samples=64 * 40, batch_size=64, noise=noise, rng=0, lr=1e-12)
    seen = torch.cat(model.inputs)
    assert seen.shape == (64 * 40, 17)
    masked = float((seen == 0).float().mean())
    assert abs(masked - noise) < 0.02  # 43,520 values: the binomial std is 0.002
    assert set(torch.unique(seen).tolist()) <= {0.0, 1.0}
    # the same seed gives the same masks; another seed other masks
    again = _Recorder(17)
    pretrain_stream(again, X, samples=64 * 40, batch_size=64, noise=noise, rng=0, lr=1e-12)
    assert torch.equal(torch.cat(again.inputs), seen)
    if noise:
        other = _Recorder(17)
        pretrain_stream(other, X, samples=64 * 40, batch_size=64, noise=noise, rng=1)
        assert not torch.equal(torch.cat(other.inputs), seen)
    # the target is the clean batch: an identity map is off by exactly the masked values
    assert len(history) == 1 and abs(history[0] - masked) < 1e-4


def test_denoising_is_a_fit_large_parameter(data):
    X, y = data
    model = fit_large(X, 4, anchors=200, random_state=0, **{**FAST, "pretrain_noise": 0.2})
    assert model.get_params()["pretrain_noise"] == 0.2
    assert acc(y, model.labels_) >= 0.9


def test_an_auto_encoder_that_learned_nothing_is_reported():
    """The explained variance of the anchors' rows is measured after pre-training; fit warns when the codes
    hold little beyond the mean row, and stays quiet for a trained auto-encoder."""
    import warnings

    rng = np.random.default_rng(0)
    centers = rng.normal(0, 5, (3, 20))
    X = (centers[rng.integers(0, 3, 300)] + rng.normal(0, 0.3, (300, 20))).astype(np.float32)
    params = dict(anchors=60, hidden_dims=(32,), batch_size=64, pretrain_lr=1e-2, epochs=1, random_state=0)
    with pytest.warns(UserWarning, match="explains 0% of the variance.*raise pretrain_samples") as record:
        untrained = LargePSSC(3, pretrain_samples=0, **params).fit(X)
    assert untrained.pretrain_explained_variance_ < 0.2
    # attributed to the caller's line, not to the library's internals
    assert [w.filename for w in record if "explains" in str(w.message)] == [__file__]
    with pytest.warns(UserWarning, match="explains 0%") as record:
        fit_large(X, 3, pretrain_samples=0, **params)
    assert [w.filename for w in record if "explains" in str(w.message)] == [__file__]
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        trained = LargePSSC(3, pretrain_samples=20000, **params).fit(X)
    assert trained.pretrain_explained_variance_ > 0.9


@pytest.mark.parametrize("schedule", ["cosine", "constant"])
def test_pretraining_learning_rate_follows_the_schedule(schedule, monkeypatch):
    rates = []
    real_step = torch.optim.Adam.step

    def recording_step(self, *args, **kwargs):
        rates.append(self.param_groups[0]["lr"])
        return real_step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.Adam, "step", recording_step)
    X = np.random.default_rng(0).random((50, 6)).astype(np.float32)
    model = pssc_fast.models.FCAutoEncoder(6, (), 3)
    pretrain_stream(model, X, samples=16 * 25, batch_size=16, lr=0.01, schedule=schedule, rng=0)
    steps = 25
    want = ([0.01 * 0.5 * (1 + np.cos(np.pi * t / steps)) for t in range(steps)] if schedule == "cosine"
            else [0.01] * steps)
    np.testing.assert_allclose(rates, want, rtol=1e-12)


def test_index_choice_and_assignment_parameters_take_effect(data, monkeypatch):
    import faiss

    import pssc_fast.core as core_module

    auto = LargePSSC(2)
    assert auto._index_kind(10**7 + 1, 5000) == "ivf"  # past IVF_MIN_WORK distance evaluations
    assert auto._index_kind(65_000, 5000) == "flat"
    assert auto._index_kind(10**9, 999) == "flat"  # too few anchors for a useful coarse quantiser
    assert LargePSSC(2, index="ivf")._index_kind(10, 10) == "ivf"
    seen = {}
    real_finetune = core_module.finetune

    def spy_finetune(model, X, k, **kw):
        seen.update(kw)
        return real_finetune(model, X, k, **kw)

    monkeypatch.setattr("pssc_fast.core.finetune", spy_finetune)
    X, _ = data
    model = LargePSSC(4, anchors=150, index="ivf", nprobe=3, n_neighbors=3, lr=2e-4, head_lr=3e-3, tau=0.7,
                      gamma2=0.2, gamma3=0.3, random_state=0, **{**FAST, "pretrain_samples": 640, "epochs": 4}).fit(X)
    assert isinstance(model.index_, faiss.IndexIVFFlat) and model.index_.nprobe == 3
    w = seen["weights"]
    assert (seen["epochs"], seen["lr"], seen["head_lr"], seen["tau"], w.graph, w.label) == (4, 2e-4, 3e-3, 0.7, 0.2, 0.3)
    # every row's label is the 3-anchor vote in that index
    np.testing.assert_array_equal(model.labels_, nearest_anchor_labels(
        model.index_, model.transform(X), model.anchor_labels_, 4, n_neighbors=3))
    assert not np.array_equal(model.labels_, nearest_anchor_labels(
        model.index_, model.transform(X), model.anchor_labels_, 4, n_neighbors=1))


def _uninformative_autoencoder():
    """A fully-connected auto-encoder whose codes carry almost nothing (as after a failed pre-training)."""
    torch.manual_seed(0)
    ae = pssc_fast.models.FCAutoEncoder(6, (8,), 3)
    with torch.no_grad():
        ae.encoder[-1].weight.mul_(1e-4)
    return ae


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_rows_are_assigned_in_the_space_of_the_kept_partition():
    # The input's own LSR wins on the anchors when the codes carry nothing; assigning rows by their nearest
    # anchor in those codes then scattered the right anchor partition at random (ARI 0.27 on these blobs).
    from sklearn.datasets import make_blobs
    from sklearn.metrics import adjusted_rand_score
    from sklearn.neighbors import NearestNeighbors

    X, y = make_blobs(300, n_features=6, centers=4, random_state=3)
    est = LargePSSC(n_clusters=4, anchors=60, hidden_dims=(8,), latent_dim=3, autoencoder=_uninformative_autoencoder(),
                    pretrain_samples=0, random_state=0).fit(X)
    assert est.chosen_ == "input" and est.assign_space_ == "input"
    assert adjusted_rand_score(y, est.labels_) > 0.99
    # exactly the nearest anchor in the scaled input space
    Xs = (X - est.data_min_) / est.data_range_
    nearest = NearestNeighbors(n_neighbors=1).fit(Xs[est.anchor_indices_]).kneighbors(Xs)[1][:, 0]
    np.testing.assert_array_equal(est.labels_, est.anchor_labels_[nearest])
    np.testing.assert_array_equal(est.predict(X[::7]), est.labels_[::7])
    assert est.transform(X[:5]).shape == (5, 3)  # codes are still the codes


def test_data_frame_columns_must_come_back_in_fit_order(data):
    pd = pytest.importorskip("pandas")
    X, _ = data
    frame = pd.DataFrame(X[:200], columns=[f"f{i}" for i in range(X.shape[1])])
    model = LargePSSC(5, anchors=100, pretrain_samples=0, epochs=2, random_state=0).fit(frame)
    np.testing.assert_array_equal(model.feature_names_in_, frame.columns)
    np.testing.assert_array_equal(model.predict(frame), model.predict(X[:200]))  # the same rows, named or not
    with pytest.raises(ValueError, match="feature names"):
        model.predict(frame[frame.columns[::-1]])  # reordered columns would be read as other features
