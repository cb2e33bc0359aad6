"""The ``pssc-fast`` command line: ``demo`` and ``fit``."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np


class UserError(Exception):
    """A problem with what the user asked for: reported in one line, exit status 2."""


def _read_input(path: str, key: str | None):
    p = Path(path)
    if not p.is_file():
        raise UserError(f"input file not found: {path}")
    suffix = p.suffix.lower()
    try:
        if suffix == ".npy":
            return np.load(p, allow_pickle=False, mmap_mode="r")
        if suffix == ".csv":
            X = np.genfromtxt(p, delimiter=",", dtype=np.float64, ndmin=2)  # one column stays (n, 1)
            if X.shape[0] > 1 and np.isnan(X[0]).all():  # a header row of column names
                X = X[1:]
            return X
        if suffix == ".mat":
            from scipy.io import loadmat

            mat = loadmat(p)
            names = [k for k in mat if not k.startswith("__")]
            name = key or ("fea" if "fea" in mat else ("X" if "X" in mat else None))
            if name is None or name not in mat:
                raise UserError(f"{path}: say which variable holds the data with --key (found {names})")
            data = mat[name]
            return np.asarray(data.toarray() if hasattr(data, "toarray") else data)  # sparse: densify
    except UserError:
        raise
    except Exception as exc:
        raise UserError(f"could not read {path}: {exc}") from exc
    raise UserError(f"{path}: unsupported file type {suffix!r}; use .npy, .csv or .mat")


def _output_path(path: str, suffix: str, option: str) -> Path:
    """Where ``option`` will write, checked before any work is done so that a long fit is not lost to a
    typo in a folder name. ``suffix`` is added as numpy's save does (to any other name) for ".npy", and
    as matplotlib does (to a name without one) for ".png"."""
    given = p = Path(path)
    if p.suffix != suffix and (suffix == ".npy" or not p.suffix):
        p = p.with_name(p.name + suffix)
    if given.is_dir() or p.is_dir():
        raise UserError(f"{option} {path} is a folder; give a file name")
    if not p.parent.is_dir():
        raise UserError(f"{option} {path}: folder {p.parent} does not exist")
    return p


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def cmd_demo(args) -> int:
    from .datasets import load_digits
    from .estimator import PSSC
    from .metrics import scores
    from .plotting import plot_affinity

    X, y = load_digits()
    print(f"pssc-fast demo: scikit-learn digits, {X.shape[0]} samples x {X.shape[1]} features, 10 clusters")
    start = time.perf_counter()
    model = PSSC(n_clusters=10, random_state=args.seed, device=args.device, verbose=not args.quiet)
    labels = model.fit_predict(X)
    seconds = time.perf_counter() - start
    s = scores(y, labels)
    print(f"ACC {s['acc']:.4f}  NMI {s['nmi']:.4f}  purity {s['purity']:.4f}  ({seconds:.1f} s; "
          + ", ".join(f"{k} {v:.1f} s" for k, v in model.timings_.items()) + ")")
    path = plot_affinity(model.affinity_, labels, args.plot, title=f"PSSC on digits, ACC {s['acc']:.3f}")
    print(f"affinity ordered by cluster written to {path}")
    return 0


def cmd_fit(args) -> int:
    out = _output_path(args.out, ".npy", "--out")
    plot = _output_path(args.plot, ".png", "--plot") if args.plot else None
    X = _read_input(args.input, args.key)
    if X.ndim != 2:
        X = np.asarray(X).reshape(X.shape[0], -1) if X.ndim > 2 else X
    if X.ndim != 2 or X.shape[0] < 2:
        raise UserError(f"{args.input}: expected a 2-D array of samples x features, got shape {X.shape}")
    n = X.shape[0]
    if args.k > n:
        raise UserError(f"--k {args.k} is larger than the number of samples ({n})")
    start = time.perf_counter()
    use_large = args.anchors is not None or n > args.max_dense
    if use_large:
        from .large import fit_large

        anchors = args.anchors if args.anchors is not None else min(n, 5000)
        model = fit_large(X, args.k, anchors=anchors, random_state=args.seed, device=args.device,
                          labeling=args.labeling, verbose=not args.quiet)
        labels = model.labels_
    else:
        from .estimator import PSSC

        model = PSSC(n_clusters=args.k, random_state=args.seed, device=args.device, verbose=not args.quiet)
        labels = model.fit_predict(np.asarray(X))
    seconds = time.perf_counter() - start
    np.save(out, labels)
    sizes = np.bincount(labels, minlength=args.k)
    print(f"{n} samples -> {args.k} clusters in {seconds:.1f} s; sizes {sizes.tolist()}; labels written to {out}")
    if plot:
        if use_large:
            print("--plot draws the n x n affinity and is only available for the small-data path", file=sys.stderr)
        else:
            from .plotting import plot_affinity

            print(f"affinity plot written to {plot_affinity(model.affinity_, labels, plot)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pssc-fast",
                                     description="Pseudo-supervised deep subspace clustering (PSSC), fast and at scale.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    common.add_argument("--device", default="auto", help="'auto' (CUDA when available), 'cpu' or 'cuda'")
    common.add_argument("--quiet", action="store_true", help="no progress bars")

    demo = sub.add_parser("demo", parents=[common], help="cluster scikit-learn's digits and plot the affinity",
                          description="Cluster scikit-learn's 1797 handwritten digits with the default PSSC, "
                                      "print ACC/NMI/purity and seconds, and save the block-ordered affinity.")
    demo.add_argument("--plot", default="pssc_demo_affinity.png", help="PNG to write (default %(default)s)")
    demo.set_defaults(func=cmd_demo)

    fit = sub.add_parser("fit", parents=[common], help="cluster the rows of a .npy, .csv or .mat file",
                         description="Cluster the rows of INPUT (.npy, .csv, or .mat with a 'fea' variable) into "
                                     "K clusters and save the labels.")
    fit.add_argument("input", help="data file: .npy, .csv (rows = samples) or .mat; an array of more than 2 "
                     "dimensions is flattened to one row per sample (use the Python API for the conv net)")
    fit.add_argument("--k", type=_positive_int, required=True, help="number of clusters")
    fit.add_argument("--out", default="labels.npy", help="where to save the labels (default %(default)s)")
    fit.add_argument("--plot", default=None, help="PNG of the affinity ordered by cluster (small-data path)")
    fit.add_argument("--anchors", type=_positive_int, default=None,
                     help="use fit_large with this many anchors (default: automatic above --max-dense samples)")
    fit.add_argument("--labeling", choices=("anchors", "landmark"), default="anchors",
                     help="fit_large: label rows by their nearest anchor (paper Algorithm 3, default) or by "
                          "landmark spectral clustering of all rows through the anchors")
    fit.add_argument("--max-dense", type=_positive_int, default=5000,
                     help="largest input clustered with the n x n layer on all points (default %(default)s)")
    fit.add_argument("--key", default=None, help="variable name in a .mat file (default 'fea' or 'X')")
    fit.set_defaults(func=cmd_fit)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except UserError as exc:
        print(f"pssc-fast: error: {exc}", file=sys.stderr)
        return 2
    except (ValueError, TypeError, MemoryError, FileNotFoundError) as exc:
        print(f"pssc-fast: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("pssc-fast: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
