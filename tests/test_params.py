"""One table of parameters (pssc_fast/params.py): every default the package states comes from it, the
estimators validate against it, and both estimators pass scikit-learn's estimator checks."""
import inspect
import warnings

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.utils.estimator_checks import parametrize_with_checks

from pssc_fast import LargePSSC, PSSC, cli, fit_large
from pssc_fast.affinity import cluster_coefficients
from pssc_fast.datasets import make_subspaces
from pssc_fast.estimator import list_configs, load_config
from pssc_fast.losses import LossWeights
from pssc_fast.params import (LARGE_DEFAULTS, LARGE_PARAMETERS, PSSC_DEFAULTS, PSSC_PARAMETERS, SHARED, OneOf,
                              param)
from pssc_fast.train import finetune


def _defaults(function) -> dict:
    return {name: p.default for name, p in inspect.signature(function).parameters.items()
            if p.default is not inspect.Parameter.empty}


@pytest.mark.parametrize("estimator, table", [(PSSC, PSSC_PARAMETERS), (LargePSSC, LARGE_PARAMETERS)])
def test_the_estimators_signatures_are_their_tables(estimator, table):
    assert _defaults(estimator.__init__) == {p.name: p.default for p in table}
    assert estimator().get_params() == {p.name: p.default for p in table}
    assert list(inspect.signature(estimator).parameters)[0] == "n_clusters"  # the one positional parameter
    for p in table:  # the docstring documents every parameter
        assert f"    {p.name} : default {p.default!r}." in estimator.__doc__


def test_shared_parameters_have_one_default_and_the_defaults_pass_their_checks():
    for p in SHARED:
        assert PSSC_DEFAULTS[p.name] == LARGE_DEFAULTS[p.name], p.name
    for p in PSSC_PARAMETERS + LARGE_PARAMETERS:
        if p.check is not None:
            p.check(p.name, p.default)


def test_the_functions_below_the_estimators_take_their_defaults_from_the_table():
    weights = LossWeights()
    assert (weights.trace, weights.self_expression, weights.coef_l2, weights.graph, weights.label,
            weights.balance) == tuple(PSSC_DEFAULTS[k] for k in ("trace_weight", "gamma1", "coef_l2", "gamma2",
                                                                  "gamma3", "balance_weight"))
    assert LossWeights.from_params(PSSC().get_params()) == weights
    tuned = {"epochs", "lr", "c_init", "backend", "precision", "tau", "head_lr"}  # coef_lr=None: train C as DSC-Net does
    assert {k: v for k, v in _defaults(finetune).items() if k in tuned} == {k: PSSC_DEFAULTS[k] for k in tuned}
    post = _defaults(cluster_coefficients)
    assert {k: post[k] for k in ("q", "alpha", "ro", "diag_shift")} == {
        k: PSSC_DEFAULTS[k] for k in ("q", "alpha", "ro", "diag_shift")}
    assert post["method"] == PSSC_DEFAULTS["affinity_method"]
    fit_large_defaults = _defaults(fit_large)
    assert fit_large_defaults == {k: LARGE_DEFAULTS[k] for k in fit_large_defaults}


def test_the_command_line_takes_its_defaults_from_the_table():
    parser = cli.build_parser()
    fit = parser.parse_args(["fit", "x.npy", "--k", "2"])
    predict = parser.parse_args(["predict", "model", "x.npy"])
    assert fit.device == predict.device == LARGE_DEFAULTS["device"]
    assert fit.labeling == LARGE_DEFAULTS["labeling"]
    labeling = param(LARGE_PARAMETERS, "labeling")
    assert isinstance(labeling.check, OneOf)
    choices = next(a.choices for a in parser._subparsers._group_actions[0].choices["fit"]._actions
                   if a.dest == "labeling")
    assert tuple(choices) == labeling.check.choices
    # --seed 0 on purpose: a command run twice gives the same labels (the table's random_state is None)
    assert fit.seed == 0


def test_the_command_line_uses_the_tables_anchors(tmp_path, monkeypatch):
    seen = {}

    def fake_fit_large(X, k, anchors, **kw):
        seen["anchors"] = anchors
        from types import SimpleNamespace

        return SimpleNamespace(labels_=np.zeros(len(X), dtype=np.int64))

    monkeypatch.setattr("pssc_fast.large.fit_large", fake_fit_large)
    np.save(tmp_path / "x.npy", np.random.rand(20, 3))
    cli.main(["fit", str(tmp_path / "x.npy"), "--k", "2", "--max-dense", "10", "--out", str(tmp_path / "l.npy"),
              "--quiet"])
    assert seen["anchors"] == min(LARGE_DEFAULTS["anchors"], 20)


@pytest.mark.parametrize("name", list_configs())
def test_configurations_hold_only_what_differs_from_the_table(name):
    """A configuration states only its departures from the defaults, so that a default changes in one place."""
    for key, value in load_config(name)["params"].items():
        assert not (value == PSSC_DEFAULTS[key] and type(value) is type(PSSC_DEFAULTS[key])), \
            f"{name}: {key}={value!r} is the table's default; drop it from the configuration"


def test_parameters_are_checked_in_fit_not_in_init():
    model = PSSC(n_clusters="three", lr=-1)  # scikit-learn: __init__ only stores
    assert model.n_clusters == "three" and model.lr == -1
    with pytest.raises(TypeError, match="n_clusters"):
        model.fit(np.random.rand(10, 3))


def test_large_pssc_pretrained_autoencoder_is_the_one_fit_fine_tunes(monkeypatch):
    import pssc_fast.core as core_module

    X, _ = make_subspaces(200, 3, 2, 12, noise=0.01, random_state=0)
    est = LargePSSC(3, anchors=80, hidden_dims=(16,), latent_dim=6, pretrain_samples=2000, batch_size=32, epochs=2,
                    random_state=0)
    started_from = {}
    real_finetune = core_module.finetune

    def spy_finetune(model, *args, **kwargs):
        started_from.update({k: v.detach().clone() for k, v in model.state_dict().items()})
        return real_finetune(model, *args, **kwargs)

    monkeypatch.setattr("pssc_fast.core.finetune", spy_finetune)
    clone(est).fit(X)
    torch.manual_seed(7)
    ae = est.pretrained_autoencoder(X)
    after = torch.rand(2)
    torch.manual_seed(7)
    assert torch.equal(after, torch.rand(2))  # the caller's random state is untouched
    assert not hasattr(est, "data_min_")  # a pre-training alone leaves no fitted state
    for k, v in ae.state_dict().items():
        assert torch.equal(v, started_from[k]), k
    # and it is a starting point: a fit from it skips pre-training (its anchors are drawn from the seed's
    # generator without the pre-training's draws before them, so they are other uniform anchors)
    shared = clone(est).set_params(autoencoder=ae, pretrain_samples=0).fit(X)
    assert shared.pretrain_history_ == [] and shared.labels_.shape == (200,)


# -- scikit-learn's estimator checks, on tiny settings ----------------------------------------------------------
TINY = dict(pretrain_epochs=1, epochs=1, hidden_dims=(4,), latent_dim=2, random_state=0)
TINY_LARGE = dict(anchors=20, pretrain_samples=0, epochs=1, hidden_dims=(4,), latent_dim=2, random_state=0)

_ONE_CLUSTER = "sets n_clusters=1; PSSC needs at least 2 clusters (a spectral cut of one cluster means nothing)"
EXPECTED_FAILURES = {
    "check_dont_overwrite_parameters": _ONE_CLUSTER,
    "check_methods_subset_invariance": _ONE_CLUSTER,
    "check_fit2d_1sample": _ONE_CLUSTER,
    "check_fit2d_1feature": _ONE_CLUSTER,
    "check_fit2d_predict1d": _ONE_CLUSTER,
    "check_complex_data": "complex X raises TypeError naming the dtype (a wrong type), not ValueError",
    "check_estimators_empty_data_messages": "0 features are refused in the library's words ('X needs at least 2 "
                                            "samples and 1 feature'), not scikit-learn's",
}
EXPECTED_FAILURES_LARGE = {
    **EXPECTED_FAILURES,
    "check_transformer_preserve_dtypes": "transform returns the float32 codes of the float32 network",
}


def _expected_failures(estimator):
    return EXPECTED_FAILURES_LARGE if isinstance(estimator, LargePSSC) else EXPECTED_FAILURES


@parametrize_with_checks([PSSC(2, **TINY), LargePSSC(2, **TINY_LARGE)], expected_failed_checks=_expected_failures)
def test_scikit_learn_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tiny fits warn about their tiny auto-encoders and graphs
        check(estimator)
