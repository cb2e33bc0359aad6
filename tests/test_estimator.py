"""The PSSC estimator: scikit-learn API, validation, end-to-end accuracy on a union of subspaces."""
import numpy as np
import pytest
import torch
from sklearn.base import clone

from pssc_fast import PSSC
from pssc_fast.datasets import make_subspaces
from pssc_fast.estimator import list_configs, load_config
from pssc_fast.metrics import acc

# A small configuration that trains in seconds: a linear auto-encoder keeps linear subspaces linear,
# so the self-expression layer has a structure to find.
FAST = dict(hidden_dims=(), latent_dim=20, coef_l2=0.1, pretrain_epochs=100, epochs=100, q=3)


@pytest.fixture(scope="module")
def subspaces():
    return make_subspaces(300, 5, 3, 30, noise=0.01, random_state=0)


@pytest.fixture(scope="module")
def fitted(subspaces):
    X, _ = subspaces
    return PSSC(5, random_state=0, **FAST).fit(X)


def test_end_to_end_recovers_subspaces(subspaces, fitted):
    _, y = subspaces
    assert acc(y, fitted.labels_) >= 0.95


def test_learned_attributes(subspaces, fitted):
    X, _ = subspaces
    n = X.shape[0]
    assert fitted.labels_.shape == (n,) and fitted.labels_.dtype == np.int64
    assert set(np.unique(fitted.labels_)) <= set(range(5))
    assert fitted.coef_.shape == (n, n) and np.all(np.diag(fitted.coef_) == 0)
    assert np.asarray(fitted.affinity_.todense() if hasattr(fitted.affinity_, "todense") else fitted.affinity_).shape == (n, n)
    assert fitted.embedding_.shape == (n, 20)
    assert fitted.n_features_in_ == 30
    assert set(fitted.timings_) == {"pretrain", "finetune", "cluster"}
    # backend="auto", precision="auto" resolved (on CPU: the chunked torch backend, torch's "highest" -> ieee)
    expected = ("triton", "torch") if torch.cuda.is_available() else ("torch",)
    assert fitted.backend_ in expected and fitted.precision_ == "ieee"
    assert len(fitted.history_) == FAST["epochs"] and {"reconstruction", "self_expression", "coef_l2"} == set(fitted.history_[0])


def test_precision_is_checked_and_used(subspaces, capsys):
    X, _ = subspaces
    with pytest.raises(ValueError, match="precision"):
        PSSC(5, precision="fp16", **FAST).fit(X)
    model = PSSC(5, random_state=0, precision="bf16", verbose=True, **dict(FAST, pretrain_epochs=1, epochs=2)).fit(X)
    assert model.precision_ == "bf16"
    assert f"n x n backend: {model.backend_} (bf16)" in "".join(capsys.readouterr())


def test_same_seed_same_labels(subspaces, fitted):
    X, _ = subspaces
    again = PSSC(5, random_state=0, **FAST).fit_predict(X)
    np.testing.assert_array_equal(again, fitted.labels_)


def test_get_set_params_and_clone():
    model = PSSC(4, gamma2=0.5, random_state=3)
    params = model.get_params()
    assert params["n_clusters"] == 4 and params["gamma2"] == 0.5 and params["random_state"] == 3
    model.set_params(n_clusters=6, epochs=10)
    assert model.n_clusters == 6 and model.epochs == 10
    copy = clone(model)
    assert copy.get_params() == model.get_params() and copy is not model


def test_variants_are_one_setting_apart():
    dsc = PSSC.variant("dsc-l2", n_clusters=3)
    pssc_l = PSSC.variant("pssc-l", n_clusters=3)
    full = PSSC.variant("pssc", n_clusters=3)
    assert dsc.trace_weight == 0 and dsc.gamma2 == dsc.gamma3 == 0
    assert pssc_l.trace_weight > 0 and pssc_l.gamma2 == pssc_l.gamma3 == 0
    assert full.trace_weight > 0 and full.gamma2 > 0 and full.gamma3 > 0
    with pytest.raises(ValueError, match="unknown variant"):
        PSSC.variant("dsc")
    with pytest.raises(ValueError, match="fixes"):
        PSSC.variant("dsc-l2", n_clusters=3, gamma2=0.1)


def test_accepts_raw_digits_scale_and_images_with_conv():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(24, 9, 11)).astype(np.uint8)  # odd sizes, uint8 as loaded
    model = PSSC(3, channels=(4, 3), kernel_sizes=(3, 3), pretrain_epochs=2, epochs=3, random_state=0).fit(images)
    assert model.labels_.shape == (24,) and model.embedding_.shape[0] == 24
    assert model.model_.__class__.__name__ == "ConvAutoEncoder"
    vectors = rng.integers(0, 17, size=(30, 64)).astype(float)  # digits-like 0..16 features
    model = PSSC(3, hidden_dims=(16,), pretrain_epochs=2, epochs=3, random_state=0).fit(vectors)
    assert model.labels_.shape == (30,) and model.model_.__class__.__name__ == "FCAutoEncoder"


def test_torch_tensor_input():
    X, _ = make_subspaces(40, 2, 2, 6, random_state=1)
    params = dict(hidden_dims=(8,), pretrain_epochs=2, epochs=2, random_state=0)
    labels = PSSC(2, **params).fit_predict(torch.from_numpy(X))
    np.testing.assert_array_equal(labels, PSSC(2, **params).fit_predict(X))


def test_a_large_offset_survives_the_scaling():
    # scaled in float64: cast first, 1e8 + x would keep nothing of x (float32 spacing at 1e8 is 8)
    X, _ = make_subspaces(40, 2, 2, 6, random_state=1)
    # the scaled input itself: equal up to float64's rounding of 1e8 + x (~1e-8) and the float32 cast
    np.testing.assert_allclose(PSSC(2).prepare(X.astype(np.float64) + 1e8)[0], PSSC(2).prepare(X)[0],
                               rtol=0, atol=1e-7)
    # and a short fit, where rounding differences grow a little over the steps
    params = dict(hidden_dims=(8,), pretrain_epochs=2, epochs=2, random_state=0)
    plain = PSSC(2, **params).fit(X)
    shifted = PSSC(2, **params).fit(X.astype(np.float64) + 1e8)
    np.testing.assert_allclose(shifted.embedding_, plain.embedding_, rtol=1e-3, atol=1e-4)


def test_image_shape_is_checked_against_the_input():
    X = np.random.default_rng(0).random((12, 1, 4, 5))
    base = dict(pretrain_epochs=1, epochs=1)
    with pytest.raises(TypeError, match="image_shape"):
        PSSC(2, image_shape=20, **base).fit(X.reshape(12, -1))
    with pytest.raises(ValueError, match="disagrees with X's images"):
        PSSC(2, image_shape=(1, 5, 4), **base).fit(X)
    with pytest.warns(UserWarning, match="channels-last"):
        PSSC(2, channels=(2,), kernel_sizes=(3,), **base).fit(np.random.default_rng(0).random((12, 6, 6, 3)))


def test_triton_backend_without_cuda_is_refused_before_pretraining(monkeypatch):
    monkeypatch.setenv("TRITON_INTERPRET", "0")

    def no_pretraining(*args, **kwargs):
        raise AssertionError("pre-training ran")

    monkeypatch.setattr("pssc_fast.estimator.pretrain", no_pretraining)
    with pytest.raises(ValueError, match="needs a CUDA device"):
        PSSC(2, backend="triton", device="cpu").fit(np.random.default_rng(0).random((20, 4)))


@pytest.mark.parametrize("X,params,error,match", [
    (np.zeros((10, 3)), {}, ValueError, "constant"),
    (np.array([[1.0, np.nan], [0.0, 1.0], [2.0, 3.0]]), {}, ValueError, "NaN"),
    (np.array([["a", "b"], ["c", "d"]]), {}, TypeError, "numeric"),
    (np.ones(5), {}, ValueError, "2-D"),
    (np.random.rand(1, 4), {}, ValueError, "at least 2 samples"),
    (np.random.rand(10, 4), {"n_clusters": 11}, ValueError, "n_clusters"),
    (np.random.rand(10, 4), {"n_clusters": 2.5}, TypeError, "n_clusters"),
    (np.random.rand(10, 4), {"n_clusters": 2, "lr": 0}, ValueError, "lr"),
    (np.random.rand(10, 4), {"n_clusters": 2, "head_lr": -1.0}, ValueError, "head_lr"),
    (np.random.rand(10, 4), {"n_clusters": 2, "epochs": 0}, ValueError, "epochs"),
    (np.random.rand(10, 4), {"n_clusters": 2, "backend": "cuda-magic"}, ValueError, "backend"),
    (np.random.rand(10, 4), {"n_clusters": 2, "architecture": "conv"}, ValueError, "image"),
    (np.random.rand(10, 4) + 1j, {}, TypeError, "real numbers"),
    (np.random.rand(10, 4), {"latent_dim": 0}, ValueError, "latent_dim"),
    (np.random.rand(10, 4), {"latent_dim": 1.5}, TypeError, "latent_dim"),
    (np.random.rand(10, 4), {"hidden_dims": (8, 0)}, ValueError, "hidden_dims"),
    (np.random.rand(10, 4), {"hidden_dims": 16}, TypeError, "hidden_dims"),
    (np.random.rand(10, 4), {"channels": (0,)}, ValueError, "channels"),
    (np.random.rand(10, 4), {"kernel_sizes": (3, 3)}, ValueError, "same length"),
    (np.random.rand(10, 4), {"affinity_method": "sparce"}, ValueError, "affinity_method"),
    (np.random.rand(10, 4), {"device": "meta"}, ValueError, "'cpu' or 'cuda'"),
    (np.random.rand(10, 4), {"verbose": "yes"}, TypeError, "verbose"),
    (np.random.rand(10, 4), {"verbose": -1}, ValueError, "verbose"),
    (np.random.rand(10, 4), {"random_state": 2**32}, ValueError, "random_state"),  # not wrapped onto seed 0
    (np.random.rand(10, 4), {"random_state": -1}, ValueError, "random_state"),
])
def test_bad_input_is_rejected_with_a_named_reason(X, params, error, match):
    with pytest.raises(error, match=match):
        PSSC(**{"n_clusters": 2, "pretrain_epochs": 1, "epochs": 1, **params}).fit(X)


@pytest.mark.parametrize("head_lr", [1e-2, 3e-4])
def test_head_takes_its_own_learning_rate(head_lr):
    from pssc_fast.losses import LossWeights
    from pssc_fast.models import ClassifierHead, FCAutoEncoder
    from pssc_fast.train import finetune

    torch.manual_seed(1)
    X = torch.rand(37, 9)
    model = FCAutoEncoder(9, (8,), 5)
    torch.manual_seed(0)  # the head is the first thing finetune draws at random
    result = finetune(model, X, 3, weights=LossWeights(graph=1.0, label=0.0), epochs=1, lr=1e-5,
                      head_lr=head_lr, c_init="ridge", verbose=False)
    torch.manual_seed(0)
    start = ClassifierHead(5, 3)
    step = (result.head.linear.weight - start.linear.weight).abs().max().item()
    # Adam's first step moves every parameter with a gradient by about its learning rate
    assert step == pytest.approx(head_lr, rel=0.05)


def test_a_failed_refit_keeps_the_earlier_fit(monkeypatch):
    X, _ = make_subspaces(40, 2, 2, 6, random_state=1)
    model = PSSC(2, hidden_dims=(8,), pretrain_epochs=2, epochs=2, random_state=0).fit(X)
    before = {k: v for k, v in vars(model).items() if k.endswith("_")}

    def fail(*args, **kwargs):  # clustering fails after pre-training and fine-tuning ran
        raise RuntimeError("clustering failed")

    monkeypatch.setattr("pssc_fast.affinity.cluster_coefficients", fail)
    with pytest.raises(RuntimeError, match="clustering failed"):
        model.fit(np.vstack([X, X[:10]]))
    assert set(k for k in vars(model) if k.endswith("_")) == set(before)
    for k, v in before.items():
        assert getattr(model, k) is v, k  # the earlier objects, not the half-made new ones
    assert model.embedding_.shape[0] == model.labels_.shape[0] == 40


def test_a_shared_pretraining_gives_the_fit_of_a_plain_fit():
    # n > 512: fine-tuning samples the pseudo-graph's rows (train.finetune's max_pair_rows), so its random
    # draws must not depend on whether this fit pre-trained itself
    X, _ = make_subspaces(530, 5, 3, 30, noise=0.01, random_state=0)
    est = PSSC(5, random_state=0, **{**FAST, "pretrain_epochs": 20, "epochs": 20})
    plain = clone(est).fit(X)
    torch.manual_seed(123)
    ae = est.pretrained_autoencoder(X)
    after = torch.rand(3)
    torch.manual_seed(123)
    assert torch.equal(after, torch.rand(3))  # the caller's random state is untouched
    weights_before = {k: v.clone() for k, v in ae.state_dict().items()}
    shared = clone(est).set_params(autoencoder=ae, pretrain_epochs=0).fit(X)
    np.testing.assert_array_equal(shared.coef_, plain.coef_)
    np.testing.assert_array_equal(shared.labels_, plain.labels_)
    for k, v in ae.state_dict().items():  # the caller's auto-encoder is a starting point, not modified
        assert torch.equal(v, weights_before[k]), k


def test_a_mismatched_autoencoder_is_named():
    X, _ = make_subspaces(40, 2, 2, 6, random_state=1)
    other = PSSC(2, hidden_dims=(8,), pretrain_epochs=0).pretrained_autoencoder(X[:, :5])
    with pytest.raises(ValueError, match="autoencoder does not match"):
        PSSC(2, hidden_dims=(8,), pretrain_epochs=0, epochs=1, autoencoder=other).fit(X)
    with pytest.raises(TypeError, match="autoencoder must be"):
        PSSC(2, pretrain_epochs=0, epochs=1, autoencoder="weights.pt").fit(X)


def test_parameters_reach_the_code_they_control(monkeypatch):
    """Distinctive values of the objective's, fine-tuning's and post-processing's parameters arrive where they
    act (a swapped or dropped keyword would pass validation and change nothing)."""
    import pssc_fast.core as core_module
    from pssc_fast import affinity

    seen = {}
    real_finetune, real_cluster = core_module.finetune, affinity.cluster_coefficients

    def spy_finetune(model, X, k, **kw):
        seen["finetune"] = kw
        return real_finetune(model, X, k, **kw)

    def spy_cluster(coef, k, **kw):
        seen["cluster"] = kw
        return real_cluster(coef, k, **kw)

    monkeypatch.setattr("pssc_fast.core.finetune", spy_finetune)
    monkeypatch.setattr("pssc_fast.affinity.cluster_coefficients", spy_cluster)
    X, _ = make_subspaces(40, 2, 2, 6, random_state=1)
    model = PSSC(2, hidden_dims=(8,), pretrain_epochs=1, epochs=2, lr=2e-3, head_lr=5e-3, gamma1=1.5, gamma2=0.2,
                 gamma3=0.3, trace_weight=0.7, coef_l2=3.0, coef_lr=4e-4, balance_weight=0.05, tau=0.6, c_init=1e-4,
                 q=2, alpha=3.0, ro=0.2, diag_shift=0.5, affinity_method="dense", random_state=5,
                 ro_consensus=False).fit(X)  # the consensus's own calls: test_ro_consensus_labels_the_chosen_candidate
    w, ft = seen["finetune"]["weights"], seen["finetune"]
    assert (w.self_expression, w.graph, w.label, w.trace, w.coef_l2, w.balance) == (1.5, 0.2, 0.3, 0.7, 3.0, 0.05)
    assert (ft["epochs"], ft["lr"], ft["head_lr"], ft["tau"], ft["c_init"], ft["coef_lr"]) == (2, 2e-3, 5e-3, 0.6,
                                                                                                1e-4, 4e-4)
    assert seen["cluster"] == dict(q=2, alpha=3.0, ro=0.2, diag_shift=0.5, method="dense", random_state=5,
                                   return_affinity=True)
    assert (model.coef_l2_, model.coef_lr_) == (3.0, 4e-4)
    assert model.embedding_.shape == (40, 10)  # latent_dim default: max(n_clusters, 10)
    assert len(model.history_) == 2


@pytest.mark.parametrize("name", list_configs())
def test_builtin_configurations_build_the_estimator_they_describe(name):
    data = load_config(name)
    assert data["origin"].strip()  # every setting says where it comes from
    params = PSSC.from_config(name).get_params()
    for key, value in data["params"].items():
        assert params[key] == value, key
    assert PSSC.from_config(name, epochs=7, q=2).get_params()["epochs"] == 7  # keywords override the file


def test_bad_configurations_are_named(tmp_path):
    import json

    (tmp_path / "typo.json").write_text(json.dumps({"origin": "x", "params": {"gamma_1": 1.0}}))
    (tmp_path / "empty.json").write_text(json.dumps({"origin": "x"}))
    with pytest.raises(ValueError, match=r"unknown PSSC parameters \['gamma_1'\]"):
        PSSC.from_config(tmp_path / "typo.json")
    with pytest.raises(ValueError, match="'params' object"):
        PSSC.from_config(tmp_path / "empty.json")
    with pytest.raises(ValueError, match="no configuration 'orl2'"):
        PSSC.from_config("orl2")
    (tmp_path / "broken.json").write_text('{"params": {q: 3}}')
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match=r"broken\.json: not a JSON configuration \(Expecting property name"):
        PSSC.from_config(tmp_path / "broken.json")
    with pytest.raises(ValueError, match="'params' object"):
        PSSC.from_config(tmp_path / "list.json")
    # a file without a suffix is read as a file, not looked up among the built-in names
    (tmp_path / "mine").write_text(json.dumps({"origin": "x", "params": {"q": 3}}))
    assert PSSC.from_config(tmp_path / "mine").q == 3


def test_list_configs_is_public():
    import pssc_fast

    assert "list_configs" in pssc_fast.__all__ and pssc_fast.list_configs() == list_configs()
    assert {"images", "vectors", "dscnet-orl"} <= set(pssc_fast.list_configs())


@pytest.mark.parametrize("consensus", [False, True])
def test_ro_consensus_labels_the_chosen_candidate(subspaces, consensus):
    from pssc_fast import affinity

    X, _ = subspaces
    model = PSSC(5, random_state=3, ro_consensus=consensus, **{**FAST, "pretrain_epochs": 20, "epochs": 20}).fit(X)
    chosen = model.candidate_labels_[model.chosen_]
    if not consensus:
        np.testing.assert_array_equal(model.labels_, chosen)
    else:  # the consensus of the chosen candidate's C over the thresholds, seeded as the fit
        expected = affinity.consensus_labels(model.coef_, 5, given=chosen, q=FAST["q"], alpha=model.alpha,
                                             ro=model.ro, diag_shift=model.diag_shift,
                                             method=model.affinity_method, random_state=3)
        np.testing.assert_array_equal(model.labels_, expected)


def test_a_stalled_eigensolver_does_not_end_the_fit():
    # C started at 1e-5 (the paper's released value) and barely trained: ARPACK gave up on the network's graph
    from sklearn.datasets import load_iris

    model = PSSC(3, pretrain_epochs=20, epochs=50, random_state=0, c_init=1e-5).fit(load_iris().data)
    assert set(model.normalized_cuts_) == {"network", "input"} and model.labels_.shape == (150,)


def test_numbers_held_as_objects_are_read_and_other_objects_named():
    X, _ = make_subspaces(60, 2, 2, 5, random_state=1)
    est = PSSC(2, random_state=0)
    np.testing.assert_array_equal(est.prepare(X.astype(object))[0], est.prepare(X)[0])
    with pytest.raises(TypeError, match="not numbers"):
        est.prepare(np.array([[1.0, "a"], [2.0, 3.0]], dtype=object))


def test_the_vectors_configuration_keeps_rows_of_pixels_as_vectors():
    from sklearn.datasets import load_digits

    X = load_digits().data[:50]
    assert PSSC(10).prepare(X)[1] == (1, 8, 8)               # the default reads them as 8x8 images
    assert PSSC.from_config("vectors", n_clusters=10).prepare(X)[1] is None
