"""The pssc-fast command line: help on every command, a small fit, and one-line errors for user mistakes."""
import subprocess
import sys

import numpy as np
import pytest

from pssc_fast import cli
from pssc_fast.datasets import make_subspaces


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "pssc_fast.cli", *args], capture_output=True, text=True, timeout=300)


def test_help_as_a_program():
    out = run_cli("--help")
    assert out.returncode == 0 and "usage: pssc-fast" in out.stdout and "demo" in out.stdout


@pytest.mark.parametrize("args", [["demo", "--help"], ["fit", "--help"]])
def test_help_on_every_command(args, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(args)
    assert exit_.value.code == 0 and "usage: pssc-fast" in capsys.readouterr().out


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


@pytest.mark.parametrize("header", [False, True])
def test_fit_csv_with_one_column(tmp_path, header):
    values = np.r_[np.random.default_rng(0).normal(0, 0.1, 15), np.random.default_rng(1).normal(5, 0.1, 15)]
    path = tmp_path / "one.csv"
    path.write_text(("value\n" if header else "") + "\n".join(f"{v:.6f}" for v in values) + "\n")
    assert cli._read_input(str(path), None).shape == (30, 1)


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
    ("bad_npy", ["fit", "{path}", "--k", "2"], "could not read"),
    ("nan_npy", ["fit", "{path}", "--k", "2"], "NaN"),
    ("npy", ["fit", "{path}", "--k", "2", "--out", "{path}.missing/labels.npy"], "does not exist"),
    ("npy", ["fit", "{path}", "--k", "2", "--plot", "{path}.missing/a.png"], "does not exist"),
    ("npy", ["fit", "{path}", "--k", "2", "--out", "{tmp}"], "is a folder"),
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
    elif make == "nan_npy":
        path = path.with_suffix(".npy")
        X = np.random.rand(10, 3)
        X[3, 1] = np.nan
        np.save(path, X)
    assert cli.main([a.format(path=path, tmp=tmp_path) for a in args]) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0] and lines[0].startswith("pssc-fast: error:")


def test_errors_from_the_program_show_no_traceback(tmp_path):
    out = run_cli("fit", str(tmp_path / "missing.npy"), "--k", "2")
    assert out.returncode == 2 and "Traceback" not in out.stderr and "not found" in out.stderr
    out = run_cli("fit")
    assert out.returncode == 2 and "Traceback" not in out.stderr
