"""The pssc-fast command line: help on every command, a small fit, and one-line errors for user mistakes."""
import subprocess
import sys

import numpy as np
import pytest

from pssc_fast import cli
from pssc_fast.datasets import load_rows, make_subspaces

# the fits here use tiny pre-training budgets on purpose; the warning about them is tested on its own
pytestmark = pytest.mark.filterwarnings("ignore:the pre-trained auto-encoder explains:UserWarning")


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "pssc_fast.cli", *args], capture_output=True, text=True, timeout=300)


def test_help_as_a_program():
    out = run_cli("--help")
    assert out.returncode == 0 and "usage: pssc-fast" in out.stdout and "demo" in out.stdout


@pytest.mark.parametrize("args", [["demo", "--help"], ["fit", "--help"], ["predict", "--help"]])
def test_help_on_every_command(args, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(args)
    assert exit_.value.code == 0 and "usage: pssc-fast" in capsys.readouterr().out


@pytest.mark.parametrize("args, message", [(["fit", "x.npy", "--k", "1"], "argument --k: expected an integer >= 2"),
                                           (["fit", "x.npy"], "required: --k"),
                                           (["predict"], "required: model, input"),
                                           (["bogus"], "invalid choice: 'bogus'")])
def test_argument_errors_are_one_line_exit_2(args, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(args)
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert exit_.value.code == 2 and len(lines) == 1, lines
    assert lines[0].startswith("pssc-fast: error: ") and message in lines[0] and "--help'" in lines[0], lines


def test_fit_npy_writes_labels_and_plot(tmp_path, capsys):
    X, _ = make_subspaces(48, 3, 2, 8, random_state=0)
    np.save(tmp_path / "x.npy", X)
    code = cli.main(["fit", str(tmp_path / "x.npy"), "--k", "3", "--out", str(tmp_path / "lab.npy"),
                     "--plot", str(tmp_path / "a.png"), "--quiet"])
    assert code == 0
    labels = np.load(tmp_path / "lab.npy")
    assert labels.shape == (48,) and labels.max() < 3
    assert (tmp_path / "a.png").stat().st_size > 1000
    assert "labels written" in capsys.readouterr().out


def test_fit_adds_the_npy_suffix_it_reports(tmp_path, capsys):
    X, _ = make_subspaces(30, 2, 2, 5, random_state=2)
    np.save(tmp_path / "x.npy", X)
    assert cli.main(["fit", str(tmp_path / "x.npy"), "--k", "2", "--out", str(tmp_path / "labels"), "--quiet"]) == 0
    assert np.load(tmp_path / "labels.npy").shape == (30,)
    assert str(tmp_path / "labels.npy") in capsys.readouterr().out


@pytest.mark.parametrize("option", ["--out", "--codes"])
def test_a_picture_name_for_values_is_refused_before_the_fit(tmp_path, capsys, option):
    np.save(tmp_path / "x.npy", np.random.default_rng(0).random((30, 4)))
    args = ["fit", str(tmp_path / "x.npy"), "--k", "2", "--quiet", option, str(tmp_path / "labels.png")]
    if option == "--codes":  # predict's option: its MODEL is never read, the names are checked first
        args = ["predict", str(tmp_path / "model.pkl"), str(tmp_path / "x.npy"), "--quiet", option,
                str(tmp_path / "labels.png")]
    assert cli.main(args) != 0
    err = capsys.readouterr().err
    assert "not as a picture" in err and "Traceback" not in err
    assert not list(tmp_path.glob("labels*"))


@pytest.mark.parametrize("shape, at, where", [((50, 3), (37, 2), "row 37, column 2"), ((50,), (41,), "row 41"),
                                              ((9, 2, 2), (8, 1, 0), "row 8, column 2")])
def test_nan_is_found_block_by_block_and_named(monkeypatch, shape, at, where):
    monkeypatch.setattr(cli, "FINITE_BLOCK", 10)  # many blocks, the bad value past the first
    X = np.random.default_rng(0).random(shape)
    cli._check_finite("f.npy", X)
    X[at] = np.nan
    with pytest.raises(cli.UserError, match=f"f.npy: NaN or infinite values, the first at {where} "):
        cli._check_finite("f.npy", X)


def test_a_mat_file_variable_is_found_by_name_or_as_the_only_one(tmp_path):
    from scipy.io import savemat

    rows = np.random.default_rng(0).random((4, 3))
    savemat(tmp_path / "one.mat", {"A": rows})
    np.testing.assert_array_equal(load_rows(str(tmp_path / "one.mat"), None), rows)
    savemat(tmp_path / "two.mat", {"A": rows, "B": rows[:2]})
    with pytest.raises(ValueError, match=r"say which variable holds the data with --key \(found \['A', 'B'\]\)"):
        load_rows(str(tmp_path / "two.mat"), None)
    np.testing.assert_array_equal(load_rows(str(tmp_path / "two.mat"), "B"), rows[:2])
    savemat(tmp_path / "fea.mat", {"A": rows[:2], "fea": rows})
    np.testing.assert_array_equal(load_rows(str(tmp_path / "fea.mat"), None), rows)


@pytest.mark.parametrize("header", [False, True])
def test_fit_csv_with_one_column(tmp_path, header):
    values = np.r_[np.random.default_rng(0).normal(0, 0.1, 15), np.random.default_rng(1).normal(5, 0.1, 15)]
    path = tmp_path / "one.csv"
    path.write_text(("value\n" if header else "") + "\n".join(f"{v:.6f}" for v in values) + "\n")
    assert load_rows(str(path), None).shape == (30, 1)


def test_fit_csv_with_header(tmp_path):
    X, _ = make_subspaces(30, 2, 2, 5, random_state=1)
    path = tmp_path / "x.csv"
    np.savetxt(path, X, delimiter=",", header=",".join(f"f{i}" for i in range(5)), comments="")
    assert cli.main(["fit", str(path), "--k", "2", "--out", str(tmp_path / "l.npy"), "--quiet"]) == 0
    assert np.load(tmp_path / "l.npy").shape == (30,)


@pytest.mark.parametrize("make,args,message", [
    (None, ["fit", "missing.npy", "--k", "2"], "not found"),
    ("txt", ["fit", "{path}", "--k", "2"], "unsupported file type"),
    ("npy", ["fit", "{path}", "--k", "50"], "larger than the number of samples"),
    ("bad_npy", ["fit", "{path}", "--k", "2"], "not a .npy file"),
    ("nan_npy", ["fit", "{path}", "--k", "2"], "input.npy: NaN or infinite values, the first at row 3, column 1"),
    ("npy", ["fit", "{path}", "--k", "2", "--out", "{path}.missing/labels.npy"], "does not exist"),
    ("npy", ["fit", "{path}", "--k", "2", "--plot", "{path}.missing/a.png"], "does not exist"),
    ("npy", ["fit", "{path}", "--k", "2", "--out", "{tmp}"], "is a folder"),
    (None, ["fit", "{tmp}", "--k", "2"], "is a folder"),
    ("npy", ["fit", "{path}", "--k", "2", "--plot", "{tmp}/a.xyz"], "cannot write '.xyz'"),
    ("npy", ["fit", "{path}", "--k", "2", "--anchors", "5", "--plot", "{tmp}/a.png"], "never forms"),
    ("npy", ["fit", "{path}", "--k", "2", "--pretrain-samples", "100"], "small-data path"),
    ("npy", ["fit", "{path}", "--k", "2", "--key", "fea"], "--key names a variable of a .mat file"),
    ("mat", ["fit", "{path}", "--k", "2", "--key", "zz"], "no variable 'zz'"),
    ("csv:1,2,3\n", ["fit", "{path}", "--k", "2"], "1 sample; clustering needs at least 2"),
    ("csv:", ["fit", "{path}", "--k", "2"], "the file is empty"),
    ("csv:,,\n1,2,3\n4,5,6\n", ["fit", "{path}", "--k", "2"], "on line 1, column 1"),
    ("csv:a,b,c\n1,2,3\n4,,6\n", ["fit", "{path}", "--k", "2"], "'' to float64 on line 3, column 2"),
    ("csv:1,2,3\n4,5,x\n", ["fit", "{path}", "--k", "2"], "'x' to float64 on line 2, column 3"),
    ("csv:1;2;3\n4;5;6\n", ["fit", "{path}", "--k", "2"], "separated by semicolons"),
    ("csv:1,2,3\n4,5\n6,7,8\n", ["fit", "{path}", "--k", "2"], "line 2 has 2 values where the lines before it have 3"),
    ("csv:a,b,c\n1,2,3\n4,5,6\n6,7\n", ["fit", "{path}", "--k", "2"], "line 4 has 2 values"),
    ("npy", ["fit", "{path}", "--k", "2", "--device", "meta"], "--device 'meta': pssc_fast runs on 'cpu' or 'cuda'"),
    ("npy", ["fit", "{path}", "--k", "5", "--anchors", "3"], "--k 5 is more than the 3 anchors"),
    ("npy", ["fit", "{path}", "--k", "2", "--anchors", "5", "--pretrain-samples", "4"],
     "--pretrain-samples 4 is less than one pre-training batch (10 rows)"),
    ("npy", ["fit", "{path}", "--k", "2", "--out", "{path}"], "is the same file as INPUT"),
    ("npy", ["fit", "{path}", "--k", "2", "--image-shape", "2", "2"], "--image-shape 2 2 holds 4 values; "),
    ("npy", ["fit", "{path}", "--k", "2", "--image-shape", "3"], "HEIGHT WIDTH or CHANNELS HEIGHT WIDTH, got 1"),
    ("npy", ["fit", "{path}", "--k", "2", "--out", "{tmp}/a.npy", "--save-model", "{tmp}/a.npy"],
     "--save-model {tmp}/a.npy is the same file as --out"),
])
def test_user_errors_are_one_line_exit_2(tmp_path, capsys, make, args, message):
    path = tmp_path / "input"
    if make == "txt":
        path = path.with_suffix(".txt")
        path.write_text("1,2\n")
    elif make == "npy":
        path = path.with_suffix(".npy")
        np.save(path, np.random.rand(10, 3))
    elif make == "bad_npy":
        path = path.with_suffix(".npy")
        path.write_bytes(b"not a numpy file")
    elif make == "mat":
        from scipy.io import savemat

        path = path.with_suffix(".mat")
        savemat(path, {"fea": np.random.rand(10, 3)})
    elif make and make.startswith("csv:"):
        path = path.with_suffix(".csv")
        path.write_text(make[4:])
    elif make == "nan_npy":
        path = path.with_suffix(".npy")
        X = np.random.rand(10, 3)
        X[3, 1] = np.nan
        np.save(path, X)
    assert cli.main([a.format(path=path, tmp=tmp_path) for a in args]) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and message.format(tmp=tmp_path) in lines[0] and lines[0].startswith("pssc-fast: error:")
    if make == "npy":  # a refused command leaves its input as it was
        assert np.load(path).shape == (10, 3)


def test_errors_from_the_program_show_no_traceback(tmp_path):
    out = run_cli("fit", str(tmp_path / "missing.npy"), "--k", "2")
    assert out.returncode == 2 and "Traceback" not in out.stderr and "not found" in out.stderr
    out = run_cli("fit")
    assert out.returncode == 2 and "Traceback" not in out.stderr


@pytest.mark.parametrize("error, code", [
    (FloatingPointError("fine-tune: the trace loss became nan at step 3; try a smaller learning rate"), 1),
    (RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB\nmore detail on a second line"), 1),
    (ImportError("No module named 'faiss'"), 1),
    (MemoryError("100000 samples need about 75.0 GiB for the n x n self-expression state"), 1),
    (TypeError("unsupported operand type(s) for +: 'NoneType' and 'int'"), 1),  # a bug, not the user's
    (ValueError("array must not contain infs or NaNs"), 1),  # e.g. a library's surprise deep in the run
])
def test_failures_during_the_run_are_one_line(tmp_path, capsys, monkeypatch, error, code):
    np.save(tmp_path / "x.npy", np.random.rand(10, 3))

    def fail(self, X, y=None):
        raise error

    monkeypatch.setattr("pssc_fast.estimator.PSSC.fit", fail)
    assert cli.main(["fit", str(tmp_path / "x.npy"), "--k", "2", "--out", str(tmp_path / "l.npy")]) == code
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("pssc-fast: error:")
    assert str(error).splitlines()[0] in lines[0]
    assert not (tmp_path / "l.npy").exists()


def test_an_internal_error_is_exit_1_and_bad_input_exit_2(tmp_path, capsys, monkeypatch):
    """Only the user's mistakes are exit 2: what the library's own checks of X refuse, and a file that cannot
    be read; a TypeError from inside the run (past those checks) is a failure of the run: exit 1, one line."""
    X, _ = make_subspaces(30, 2, 2, 5, random_state=0)
    np.save(tmp_path / "x.npy", X)
    np.save(tmp_path / "constant.npy", np.ones((30, 5)))
    (tmp_path / "bad.npz").write_bytes(b"PK\x03\x04 cut short")
    out = ["--out", str(tmp_path / "l.npy"), "--quiet"]
    for name, words in [("constant.npy", "X is constant"), ("bad.npz", "not a readable .npz archive")]:
        assert cli.main(["fit", str(tmp_path / name), "--k", "2", *out]) == 2, name
        lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("pssc-fast: error:") and words in lines[0], lines

    def broken_finetune(*args, **kwargs):
        raise TypeError("finetune() got an unexpected keyword argument 'lr_schedule'")

    monkeypatch.setattr("pssc_fast.core.finetune", broken_finetune)  # past every check of the input
    assert cli.main(["fit", str(tmp_path / "x.npy"), "--k", "2", *out]) == 1
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("pssc-fast: error:") and "TypeError during the run" in lines[0]
    assert not (tmp_path / "l.npy").exists()


def _csv_variants(X):
    rows = ["," .join(f"{v:.6f}" for v in row) for row in X]
    d = X.shape[1]
    return {
        "pandas, no index": ",".join(map(str, range(d))) + "\n" + "\n".join(rows),
        "pandas with index": "," + ",".join(map(str, range(d))) + "\n"
                             + "\n".join(f"{i},{r}" for i, r in enumerate(rows)),
        "names with index": ",a,b,c,d\n" + "\n".join(f"{i},{r}" for i, r in enumerate(rows)),
        "quoted": "\n".join(",".join(f'"{v}"' for v in r.split(",")) for r in rows),
        "excel bom": "\ufeff" + "\n".join(rows),
    }


@pytest.mark.parametrize("variant", list(_csv_variants(np.zeros((1, 4)))))
def test_csv_headers_indexes_quotes_and_bom_are_read_as_users_mean(tmp_path, capsys, variant):
    X = np.random.default_rng(3).normal(size=(7, 4)).round(6)
    path = tmp_path / "x.csv"
    path.write_text(_csv_variants(X)[variant] + "\n", encoding="utf-8")
    got = load_rows(str(path), None)
    np.testing.assert_allclose(got, X, rtol=0, atol=1e-12)
    err = capsys.readouterr().err
    assert ("row index" in err) == variant.endswith("with index")
    assert ("column numbers" in err) == variant.startswith("pandas")


def test_csv_header_option_overrides_the_guess(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("0,1,2\n0.5,0.25,1\n2,3,4\n")
    assert load_rows(str(path), None).shape == (2, 3)
    assert load_rows(str(path), None, "no").shape == (3, 3)
    path.write_text("1,2,3\n0.5,0.25,1\n2,3,4\n")  # 1..d: not what pandas writes, so data
    assert load_rows(str(path), None).shape == (3, 3)
    assert load_rows(str(path), None, "yes").shape == (2, 3)


def test_unwritable_output_is_refused_before_the_fit(tmp_path, capsys, monkeypatch):
    np.save(tmp_path / "x.npy", np.random.rand(10, 3))

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(cli.tempfile, "NamedTemporaryFile", refuse)
    assert cli.main(["fit", str(tmp_path / "x.npy"), "--k", "2", "--out", str(tmp_path / "l.npy")]) == 2
    err = capsys.readouterr().err
    assert "cannot write there (Permission denied)" in err and "Traceback" not in err


def test_large_path_with_text_labels_and_pretrain_budget(tmp_path, capsys):
    X, _ = make_subspaces(40, 2, 2, 6, random_state=4)
    np.save(tmp_path / "x.npy", X)
    code = cli.main(["fit", str(tmp_path / "x.npy"), "--k", "2", "--anchors", "20", "--pretrain-samples", "400",
                     "--out", str(tmp_path / "labels.csv"), "--quiet"])
    assert code == 0
    labels = np.loadtxt(tmp_path / "labels.csv", dtype=np.int64)
    assert labels.shape == (40,) and set(labels.tolist()) <= {0, 1}
    assert (tmp_path / "labels.csv").read_text().splitlines()[0] in ("0", "1")


def test_a_saved_large_model_predicts_new_rows(tmp_path, capsys):
    X, _ = make_subspaces(60, 2, 2, 6, random_state=4)
    np.save(tmp_path / "x.npy", X)
    model_path = tmp_path / "model.joblib"
    assert cli.main(["fit", str(tmp_path / "x.npy"), "--k", "2", "--anchors", "25", "--pretrain-samples", "400",
                     "--out", str(tmp_path / "fit.npy"), "--save-model", str(model_path), "--quiet"]) == 0
    assert "pssc-fast predict" in capsys.readouterr().out
    np.savetxt(tmp_path / "new.csv", X[:17], delimiter=",", header="a,b,c,d,e,f", comments="")
    assert cli.main(["predict", str(model_path), str(tmp_path / "new.csv"), "--out", str(tmp_path / "new.txt"),
                     "--codes", str(tmp_path / "codes.npy"), "--quiet"]) == 0
    # the saved model labels the training rows as the fit did (the CSV's header read as one), and the codes
    # are the fitted encoder's
    np.testing.assert_array_equal(np.loadtxt(tmp_path / "new.txt", dtype=np.int64), np.load(tmp_path / "fit.npy")[:17])
    import joblib

    model = joblib.load(model_path)["model"]
    np.testing.assert_array_equal(np.load(tmp_path / "codes.npy"), model.transform(X[:17]))
    # codes to a text file: that very file, one row per line; a name without a suffix gets ".npy", as reported
    capsys.readouterr()
    assert cli.main(["predict", str(model_path), str(tmp_path / "new.csv"), "--out", str(tmp_path / "p.csv"),
                     "--codes", str(tmp_path / "codes.csv"), "--quiet"]) == 0
    assert f"latent codes to {tmp_path / 'codes.csv'}" in capsys.readouterr().out
    np.testing.assert_allclose(np.loadtxt(tmp_path / "codes.csv", delimiter=","), model.transform(X[:17]), rtol=1e-6)
    assert cli.main(["predict", str(model_path), str(tmp_path / "new.csv"), "--out", str(tmp_path / "p2.csv"),
                     "--codes", str(tmp_path / "bare"), "--quiet"]) == 0
    assert f"latent codes to {tmp_path / 'bare.npy'}" in capsys.readouterr().out
    np.testing.assert_array_equal(np.load(tmp_path / "bare.npy"), model.transform(X[:17]))
    # --header and --key reach predict's reader: a header line read as data would be a row of NaN
    assert cli.main(["predict", str(model_path), str(tmp_path / "new.csv"), "--header", "no",
                     "--out", str(tmp_path / "bad.npy"), "--quiet"]) == 2
    assert "line 1" in capsys.readouterr().err
    from scipy.io import savemat

    savemat(tmp_path / "new.mat", {"rows": X[:5]})
    assert cli.main(["predict", str(model_path), str(tmp_path / "new.mat"), "--key", "rows",
                     "--out", str(tmp_path / "mat.npy"), "--quiet"]) == 0
    np.testing.assert_array_equal(np.load(tmp_path / "mat.npy"), np.load(tmp_path / "fit.npy")[:5])
    # a model from another version is used, with a warning that names both versions
    saved = joblib.load(model_path)
    joblib.dump({**saved, "version": "0.0.1"}, tmp_path / "old.joblib")
    capsys.readouterr()
    assert cli.main(["predict", str(tmp_path / "old.joblib"), str(tmp_path / "x.npy"), "--out",
                     str(tmp_path / "old.npy"), "--quiet"]) == 0
    assert "saved by pssc_fast 0.0.1, this is" in capsys.readouterr().err
    np.testing.assert_array_equal(np.load(tmp_path / "old.npy"), np.load(tmp_path / "fit.npy"))


def test_predict_refuses_what_it_cannot_use(tmp_path, capsys):
    X, _ = make_subspaces(40, 2, 2, 6, random_state=1)
    np.save(tmp_path / "x.npy", X)
    small = tmp_path / "small.joblib"
    assert cli.main(["fit", str(tmp_path / "x.npy"), "--k", "2", "--out", str(tmp_path / "l.npy"),
                     "--save-model", str(small), "--quiet"]) == 0
    assert small.is_file()
    np.save(tmp_path / "wide.npy", np.random.rand(5, 7))
    (tmp_path / "junk.joblib").write_bytes(b"not a model")
    import joblib

    joblib.dump({"weights": 1}, tmp_path / "other.joblib")
    for args, message in (([str(small), str(tmp_path / "x.npy")], "transductive"),
                          ([str(tmp_path / "junk.joblib"), str(tmp_path / "x.npy")], "not a model saved by"),
                          ([str(tmp_path / "other.joblib"), str(tmp_path / "x.npy")], "not a model saved by"),
                          ([str(tmp_path / "none.joblib"), str(tmp_path / "x.npy")], "not found"),
                          ([str(small), str(tmp_path / "x.npy"), "--codes", str(tmp_path / "p.npy")],
                           "is the same file as --out"),
                          ([str(small), str(small)], "MODEL " + str(small) + " is the same file as INPUT: MODEL is the file --save-model wrote"),
                          ([str(small), str(tmp_path / "x.npy"), "--device", "meta"], "--device 'meta'")):
        capsys.readouterr()
        assert cli.main(["predict", *args, "--out", str(tmp_path / "p.npy")]) == 2
        lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
        assert len(lines) == 1 and message in lines[0], lines
    big = tmp_path / "big.joblib"
    assert cli.main(["fit", str(tmp_path / "x.npy"), "--k", "2", "--anchors", "20", "--pretrain-samples", "200",
                     "--out", str(tmp_path / "l.npy"), "--save-model", str(big), "--quiet"]) == 0
    capsys.readouterr()
    assert cli.main(["predict", str(big), str(tmp_path / "wide.npy"), "--out", str(tmp_path / "p.npy")]) == 2
    assert "rows of 7 features, but the model was fitted on 6" in capsys.readouterr().err


@pytest.mark.parametrize("max_dense, labeling, path", [("39", "landmark", "large"), ("40", "anchors", "small"),
                                                       ("40", None, "small")])
def test_max_dense_and_labeling_choose_the_path(tmp_path, monkeypatch, capsys, max_dense, labeling, path):
    from types import SimpleNamespace

    seen = {}

    def fake_fit_large(X, k, anchors=5000, **kw):
        seen.update(kw, path="large", anchors=anchors)
        return SimpleNamespace(labels_=np.zeros(len(X), dtype=np.int64))

    def fake_pssc(**kw):
        seen.update(kw, path="small")
        return SimpleNamespace(fit_predict=lambda X: np.zeros(len(X), dtype=np.int64))

    monkeypatch.setattr("pssc_fast.large.fit_large", fake_fit_large)
    monkeypatch.setattr("pssc_fast.estimator.PSSC", fake_pssc)
    np.save(tmp_path / "x.npy", np.random.rand(40, 3))
    args = ["fit", str(tmp_path / "x.npy"), "--k", "2", "--max-dense", max_dense, "--out", str(tmp_path / "l.npy"),
            "--quiet"] + (["--labeling", labeling] if labeling else [])
    assert cli.main(args) == 0
    assert seen["path"] == path
    if path == "large":
        assert seen["labeling"] == labeling and seen["anchors"] == 40  # every row an anchor candidate
    assert "40 samples -> 2 clusters" in capsys.readouterr().out


def test_demo_prints_scores_and_writes_the_affinity(tmp_path, monkeypatch, capsys):
    from pssc_fast import PSSC

    X, y = make_subspaces(100, 10, 2, 8, random_state=0)
    monkeypatch.setattr("pssc_fast.datasets.load_digits", lambda: (X, y))
    monkeypatch.setattr("pssc_fast.estimator.PSSC",  # the demo's code path with a fit of seconds
                        lambda n_clusters, **kw: PSSC(n_clusters, hidden_dims=(8,), pretrain_epochs=2, epochs=3, **kw))
    assert cli.main(["demo", "--plot", str(tmp_path / "demo.png"), "--quiet", "--seed", "1"]) == 0
    out = capsys.readouterr().out
    assert "100 samples x 8 features, 10 clusters" in out and "ACC " in out and "NMI " in out
    assert f"written to {(tmp_path / 'demo.png').resolve()}" in out  # where the picture went, in full
    assert (tmp_path / "demo.png").stat().st_size > 1000


@pytest.mark.parametrize("stored, option, shape", [((40, 6), ["--image-shape", "2", "3"], (1, 2, 3)),
                                                   ((40, 6), ["--image-shape", "2", "1", "3"], (2, 1, 3)),
                                                   ((40, 2, 3), [], (1, 2, 3)), ((40, 6), [], "auto"),
                                                   ((40, 6), ["--vectors"], None), ((40, 2, 3), ["--vectors"], None),
                                                   ((40, 2, 3), ["--image-shape", "3", "2"], "disagrees with"),
                                                   ((40, 6), ["--vectors", "--image-shape", "2", "3"],
                                                    "give one of them")])
@pytest.mark.parametrize("path", ["small", "large"])
def test_image_shape_reaches_both_paths(tmp_path, monkeypatch, capsys, stored, option, shape, path):
    # (rows with --image-shape, or images stored with their shape: both estimators are told; other rows go as
    # "auto", for the estimators to recognise rows of square images, or as vectors with --vectors)
    from types import SimpleNamespace

    seen = {}

    def fake_fit_large(X, k, anchors=5000, **kw):
        seen.update(kw, X=X)
        return SimpleNamespace(labels_=np.zeros(len(X), dtype=np.int64))

    def fake_pssc(**kw):
        seen.update(kw)
        return SimpleNamespace(fit_predict=lambda X: seen.update(X=X) or np.zeros(len(X), dtype=np.int64))

    monkeypatch.setattr("pssc_fast.large.fit_large", fake_fit_large)
    monkeypatch.setattr("pssc_fast.estimator.PSSC", fake_pssc)
    np.save(tmp_path / "x.npy", np.random.rand(*stored))
    args = ["fit", str(tmp_path / "x.npy"), "--k", "2", "--out", str(tmp_path / "l.npy"), "--quiet", *option]
    args += ["--anchors", "20"] if path == "large" else []
    if isinstance(shape, str) and shape != "auto":  # refused, in one line
        assert cli.main(args) == 2 and shape in capsys.readouterr().err
        return
    assert cli.main(args) == 0
    assert seen["image_shape"] == shape and seen["X"].shape == (40, 6)
