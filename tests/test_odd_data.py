"""Small, odd and hostile data (issue 21): budgets that follow the data, outlier-proof scaling, empty clusters
said aloud, readable errors for broken files, and a hypothesis battery over odd inputs for PSSC, LargePSSC
and the CLI.

The battery's bound: every example trains for a handful of steps (pretrain_epochs=2 / pretrain_samples
of a few batches, epochs=3), so each fit takes well under a second; the battery as a whole stays under
about 60 s on one thread. No test asserts a time."""
import gc
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pssc_fast import LargePSSC, PSSC, cli
from pssc_fast.budget import EarlyStop, MAX_PRETRAIN_EPOCHS, PLATEAU_MIN_STEPS, stream_epochs
from pssc_fast.datasets import load_digits, load_npy, load_npz
from pssc_fast.scaling import OUTLIER_RATIO, fit_minmax_array

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from odd_data import KINDS, make  # noqa: E402 - the data kinds bench/odd_data.py runs with default settings

# tiny training budgets on purpose: the warning about a weak auto-encoder is tested in test_large.py
pytestmark = pytest.mark.filterwarnings("ignore:the pre-trained auto-encoder explains:UserWarning")

TINY_PSSC = dict(hidden_dims=(16,), latent_dim=4, pretrain_epochs=2, epochs=3, batch_size=32)
TINY_LARGE = dict(hidden_dims=(16,), latent_dim=4, pretrain_samples=64, batch_size=32, epochs=3)


# -- budgets ---------------------------------------------------------------------------------------

def test_the_pass_cap_binds_only_on_few_rows():
    # the 60 rows: 1e6 samples were 16,666 steps (3 h); now 200 passes of one batch
    steps, per_pass, why = stream_epochs(1_000_000, 60, 256)
    assert (steps, per_pass) == (MAX_PRETRAIN_EPOCHS, 1) and "capped" in why
    # MNIST-10k and larger: exactly the 10^6 // 256 steps they always ran
    assert stream_epochs(1_000_000, 10_000, 256)[0] == 1_000_000 // 256
    assert stream_epochs(1_000_000, 70_000, 256)[0] == 1_000_000 // 256


def test_early_stop_floor_and_plateau():
    floor = EarlyStop(variance=0.1)
    assert not floor.update(0.05) and floor.update(1e-8) and floor.stopped == "floor"
    flat = EarlyStop(patience=3, min_steps=0)
    stops = [flat.update(x) for x in [1.0, 0.5, 0.4999, 0.4999, 0.4999]]
    assert stops == [False, False, False, False, True] and flat.stopped == "plateau" and "0.1%" in flat.reason
    falling = EarlyStop(patience=3, min_steps=0)
    assert not any(falling.update(0.9 ** i) for i in range(100)) and falling.stopped is None


def test_the_plateau_window_spans_min_steps():
    # one-step epochs (a few rows): 20 epochs at the mean row's error are not a plateau yet
    stop = EarlyStop(patience=20)
    stop.steps_per_epoch = 1
    assert not any(stop.update(0.06) for _ in range(PLATEAU_MIN_STEPS))
    assert stop.update(0.06)


def test_fit_large_on_three_rows_uses_a_budget_of_passes():
    """The issue's 3 rows ran 6666+ steps (hours); the budget is now at most 200 passes, stopped early
    once the rows are reproduced. (The old code has no budget_ and never stops.)"""
    X = np.random.default_rng(0).random((3, 5))
    model = LargePSSC(2, anchors=3, hidden_dims=(32,), random_state=0).fit(X)
    assert model.budget_["pretrain_steps"] == MAX_PRETRAIN_EPOCHS
    assert model.budget_["pretrain_steps_run"] <= MAX_PRETRAIN_EPOCHS
    assert model.pretrain_epochs_run_ == model.budget_["pretrain_epochs_run"]
    assert model.labels_.shape == (3,) and len(np.unique(model.labels_)) == 2


def test_pssc_records_its_pretraining_budget():
    X = np.random.default_rng(1).random((3, 4))
    model = PSSC(3, hidden_dims=(16,), latent_dim=4, epochs=5, random_state=0).fit(X)
    assert model.budget_["pretrain_epochs"] == 200 and model.pretrain_epochs_run_ <= 200
    assert model.budget_["finetune_epochs"] == 5 and model.budget_["pretrain_why"]


# -- scaling ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["digits", "unit", "pixels", "negative"])
def test_ordinary_data_is_scaled_bit_for_bit_as_before(name):
    rng = np.random.default_rng(0)
    X = {"digits": load_digits()[0], "unit": rng.random((200, 30)),
         "pixels": rng.integers(0, 256, (100, 64)).astype(np.uint8), "negative": rng.normal(size=(500, 20))}[name]
    X64 = X.astype(np.float64)
    before = ((X64 - X64.min()) / (X64.max() - X64.min())).astype(np.float32)  # the scaling as it was
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # and no warning
        got, _ = PSSC(3).prepare(X)
        large = LargePSSC(3, anchors=10)
        scaling, _ = __import__("pssc_fast.large", fromlist=["_scan"])._scan(X, 64, "minmax", False)
    np.testing.assert_array_equal(got, before)
    large.data_scaling_, large.data_min_, large.data_range_ = scaling, scaling.low, scaling.span
    assert scaling.clip is None and scaling.factor == 1.0
    np.testing.assert_array_equal(large._rows(X, slice(None)), before)


def _with_outlier():
    X = np.random.default_rng(0).random((60, 10))
    X[17, 3] = 1e300
    return X


def test_one_huge_value_is_named_and_clipped_by_pssc():
    X = _with_outlier()
    with pytest.warns(UserWarning, match=r"1e\+300 at row 17, column 3.*clipped"):
        scaled, _ = PSSC(3).prepare(X)
    others = np.delete(scaled.ravel(), 17 * 10 + 3)
    assert others.max() - others.min() > 0.9  # the rest of the data spans [0, 1] instead of ~1e-300
    assert scaled[17, 3] == others.max()


def test_one_huge_value_is_named_and_clipped_by_fit_large():
    X = _with_outlier()
    with pytest.warns(UserWarning, match=r"1e\+300 at row 17, column 3"):
        model = LargePSSC(2, anchors=30, random_state=0, **TINY_LARGE).fit(X)
    assert model.data_scaling_.clip is not None and model.data_scaling_.clip[1] < 1.0
    rows = model._rows(X, slice(None))
    assert rows.max() <= 1.0 and np.ptp(np.delete(rows.ravel(), 173)) > 0.9
    assert model.predict(X[:5]).shape == (5,)  # new rows are clipped the same way


def test_a_heavy_tail_within_the_ratio_is_left_alone():
    X = np.random.default_rng(0).random((100, 10))
    X[0, 0] = 0.9 * OUTLIER_RATIO  # far out, but not OUTLIER_RATIO robust ranges
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert fit_minmax_array(X).clip is None


def test_range_beyond_float64_is_scaled():
    X = np.array([[-1.7e308, 0.0], [1.7e308, 1.0], [0.5, 1e307]])
    scaled, _ = PSSC(2).prepare(X)
    assert np.isfinite(scaled).all() and scaled.min() == 0.0 and scaled.max() == 1.0


# -- empty clusters ----------------------------------------------------------------------------------

@pytest.mark.filterwarnings("error::sklearn.exceptions.ConvergenceWarning")
def test_k_equal_to_n_gives_every_point_its_own_cluster():
    """The issue: 3 rows with k = 3 gave sizes [2, 1, 0] and only scikit-learn's warning."""
    X = np.random.default_rng(0).random((3, 5))
    labels = PSSC(3, random_state=0, **TINY_PSSC).fit_predict(X)
    assert sorted(labels.tolist()) == [0, 1, 2]


@pytest.mark.filterwarnings("error::sklearn.exceptions.ConvergenceWarning")
def test_duplicated_rows_fewer_clusters_are_said_in_our_words():
    X = np.repeat(np.random.default_rng(0).random((2, 5)), [15, 15], axis=0)
    with pytest.warns(UserWarning, match="only 2 distinct rows for 3 clusters"):
        PSSC(3, random_state=0, **TINY_PSSC).fit(X)
    with pytest.warns(UserWarning, match="only 2 distinct rows for 3 clusters"):
        LargePSSC(3, anchors=30, random_state=0, **TINY_LARGE).fit(X)


def test_distinct_rows_are_counted_on_tensors_numpy_cannot_read():
    """The H200 run of 2026-12-04: fit_large passed its anchors as a CUDA tensor and np.asarray raised. A
    tensor that requires grad fails np.asarray the same way on a CPU."""
    import torch

    from pssc_fast.validation import check_distinct_rows

    rows = np.repeat(np.random.default_rng(0).random((4, 3)), 2, axis=0)
    tensor = torch.from_numpy(rows).requires_grad_(True)
    with pytest.raises(RuntimeError):
        np.asarray(tensor)
    assert check_distinct_rows(tensor, 4) == check_distinct_rows(rows, 4) == 4
    with pytest.warns(UserWarning, match="only 4 distinct rows for 5 clusters"):
        check_distinct_rows(tensor, 5)


# -- files -----------------------------------------------------------------------------------------

def _bad_files(folder: Path) -> dict:
    X = np.random.default_rng(0).random((60, 10))
    np.save(folder / "good.npy", X)
    raw = (folder / "good.npy").read_bytes()
    files = {"truncated.npy": raw[:1000], "header.npy": raw[:10] + b"{garbage" + raw[18:],
             "version.npy": raw[:6] + b"\x07\x00" + raw[8:], "text.npy": b"1,2,3\n4,5,6\n", "empty.npy": b"",
             "notzip.npz": b"hello"}
    for name, data in files.items():
        (folder / name).write_bytes(data)
    np.save(folder / "object.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    np.save(folder / "strings.npy", np.array(["a", "b"]))
    np.savez(folder / "good.npz", X=X)
    np.savez(folder / "empty.npz")
    np.savez(folder / "two.npz", a=X, b=X)
    np.savez(folder / "object.npz", X=np.array([{"a": 1}, None], dtype=object))
    (folder / "truncated.npz").write_bytes((folder / "good.npz").read_bytes()[:800])
    return {"truncated.npy": "truncated: its header promises a 60x10 float64", "header.npy": "header is corrupt",
            "version.npy": "format version 7.0", "text.npy": "not a .npy file", "empty.npy": "empty (0 bytes)",
            "object.npy": "Python objects", "strings.npy": "not numbers", "notzip.npz": "not an .npz archive",
            "empty.npz": "holds no arrays", "two.npz": "holds 2 arrays (a, b)", "object.npz": "Python objects",
            "truncated.npz": "not a readable .npz archive"}


@pytest.mark.filterwarnings("error::ResourceWarning", "error::pytest.PytestUnraisableExceptionWarning")
def test_broken_files_are_described_in_words(tmp_path):
    # and leave no file open (numpy, given a path, kept the truncated archive open)
    for name, words in _bad_files(tmp_path).items():
        load = load_npy if name.endswith(".npy") else load_npz
        with pytest.raises(ValueError, match=words.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
            load(tmp_path / name)
    assert load_npy(tmp_path / "good.npy").shape == (60, 10)
    assert load_npz(tmp_path / "good.npz").shape == (60, 10) and load_npz(tmp_path / "two.npz", "b").shape == (60, 10)
    gc.collect()  # an unclosed handle warns when it is collected


def test_the_cli_reports_broken_files_in_one_line(tmp_path, capsys):
    for name, words in _bad_files(tmp_path).items():
        assert cli.main(["fit", str(tmp_path / name), "--k", "2", "--out", str(tmp_path / "l.npy")]) == 2, name
        err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
        assert len(err) == 1 and err[0].startswith("pssc-fast: error:") and words in err[0], (name, err)


def test_cli_version(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--version"])
    from pssc_fast import __version__

    assert exit_.value.code == 0 and capsys.readouterr().out.strip() == f"pssc-fast {__version__}"


@pytest.mark.parametrize("flags, tty, expected", [([], False, False), ([], True, True), (["--progress"], False, True),
                                                  (["--no-progress"], True, False), (["--quiet"], True, False)])
def test_progress_bars_only_on_a_terminal_unless_forced(flags, tty, expected, monkeypatch):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: tty)
    args = cli.build_parser().parse_args(["fit", "x.npy", "--k", "2", *flags])
    assert cli._progress(args) is expected


def test_the_cli_fit_log_has_no_redrawn_lines(tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.random.default_rng(0).random((30, 4)))
    # capsys' stderr is not a terminal: no progress bar, so no carriage returns in a log
    assert cli.main(["fit", str(tmp_path / "x.npy"), "--k", "2", "--out", str(tmp_path / "l.npy"),
                     "--anchors", "20", "--pretrain-samples", "64"]) == 0
    captured = capsys.readouterr()
    assert "\r" not in captured.err and "pre-training: " in captured.out


# -- the battery -------------------------------------------------------------------------------------

def _sane_or_clear(fit, X, k):
    """Run ``fit(X, k)`` -> labels; pass when it raises ValueError/TypeError with a message, or returns n
    labels in [0, k) that use all k or come with the library's warning saying otherwise. scikit-learn's
    warnings must not leak."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            labels = fit(X, k)
        except (ValueError, TypeError) as exc:
            assert str(exc).strip(), "an error without a message"
            return "error"
    messages = [str(w.message) for w in caught if not issubclass(w.category, DeprecationWarning)]
    leaked = [w for w in caught if w.category.__module__.startswith("sklearn")]
    assert not leaked, [str(w.message) for w in leaked]
    labels = np.asarray(labels)
    assert labels.shape == (len(X),) and labels.min() >= 0 and labels.max() < k
    if len(np.unique(labels)) < k:
        assert any("clusters asked for" in m or "distinct row" in m for m in messages), messages
    return "labels"


@st.composite
def odd_data(draw):
    kind = draw(st.sampled_from(KINDS))
    n = draw(st.integers(2, 12))
    d = draw(st.integers(1, 6))
    k = draw(st.integers(2, n))
    return make(kind, n, d, draw(st.integers(0, 2**16))), k


BATTERY = settings(max_examples=60, deadline=None, derandomize=True,
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@BATTERY
@given(case=odd_data())
def test_battery_pssc(case):
    X, k = case
    _sane_or_clear(lambda X, k: PSSC(k, random_state=0, **TINY_PSSC).fit_predict(X), X, k)


@BATTERY
@given(case=odd_data())
def test_battery_fit_large(case):
    X, k = case
    _sane_or_clear(lambda X, k: LargePSSC(k, anchors=len(X), random_state=0, **TINY_LARGE).fit(X).labels_, X, k)


@settings(max_examples=10, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(case=odd_data(), large=st.booleans())
def test_battery_cli(case, large, tmp_path_factory):
    X, k = case
    folder = tmp_path_factory.mktemp("odd")
    np.save(folder / "x.npy", X)
    args = ["fit", str(folder / "x.npy"), "--k", str(k), "--out", str(folder / "l.npy")]
    if large:
        args += ["--anchors", str(len(X)), "--pretrain-samples", "64"]
    import io
    from contextlib import redirect_stderr, redirect_stdout

    from unittest import mock

    err = io.StringIO()
    tiny = mock.patch("pssc_fast.estimator.PSSC",  # the small-data path with a fit of a fraction of a second
                      lambda n_clusters, **kw: PSSC(n_clusters, **{**TINY_PSSC, **kw}))
    with tiny, redirect_stderr(err), redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("always")
        code = cli.main(args)
    lines = [line for line in err.getvalue().splitlines() if line.strip()]
    assert all(line.startswith("pssc-fast: ") for line in lines), lines  # one-line messages, no traceback
    if code == 2:
        assert len(lines) == 1 and lines[0].startswith("pssc-fast: error:")
        return
    assert code == 0, lines
    labels = np.load(folder / "l.npy")
    assert labels.shape == (len(X),) and 0 <= labels.min() and labels.max() < k
    if len(np.unique(labels)) < k:
        assert any("clusters asked for" in line or "distinct row" in line for line in lines), lines


# -- rows of pixels ---------------------------------------------------------------------------------

def test_rows_of_square_images_are_recognised_and_nothing_else():
    """validation.square_image_shape: digits' rows are 8x8 images; the same rows with their features shuffled,
    Gaussian noise, a random low-rank mix and rows whose count of features is not a square (or is too small a
    square) are vectors. PSSC and LargePSSC read them so under image_shape="auto" (the default), not under None."""
    from pssc_fast.validation import MIN_IMAGE_SIDE, square_image_shape

    X, _ = load_digits()
    rng = np.random.default_rng(0)
    assert square_image_shape(X) == (1, 8, 8)
    assert square_image_shape(X[:, ::-1]) == (1, 8, 8)  # a flipped image is an image
    for seed in range(3):
        assert square_image_shape(X[:, np.random.default_rng(seed).permutation(64)]) is None
    assert square_image_shape(rng.normal(size=(300, 64))) is None
    assert square_image_shape(rng.normal(size=(300, 5)) @ rng.normal(size=(5, 100))) is None
    assert square_image_shape(X[:, :63]) is None
    small = (MIN_IMAGE_SIDE - 1) ** 2
    blurred = np.cumsum(np.cumsum(rng.normal(size=(300, small)).reshape(300, MIN_IMAGE_SIDE - 1, -1), 1), 2)
    assert square_image_shape(blurred.reshape(300, -1)) is None  # image-like, but below the smallest side
    assert square_image_shape(X[:2]) is None  # too few rows to measure a correlation

    assert PSSC(10).prepare(X)[1] == (1, 8, 8)
    assert PSSC(10, image_shape=None).prepare(X)[1] is None
    assert PSSC(10).prepare(rng.normal(size=(50, 64)))[1] is None
    assert LargePSSC(10)._check_image_shape(None, 64, rows=X) == (1, 8, 8)
    assert LargePSSC(10, image_shape=None)._check_image_shape(None, 64, rows=X) is None
    with pytest.raises(TypeError, match="image_shape"):
        PSSC(10, image_shape="pixels").fit(X)
