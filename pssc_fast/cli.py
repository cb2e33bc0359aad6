"""The ``pssc-fast`` command line: ``demo``, ``fit`` and ``predict``."""
from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from .params import LARGE_DEFAULTS, LARGE_PARAMETERS, InputError, param


class UserError(Exception):
    """A problem with what the user asked for: reported in one line, exit status 2."""


def _read_input(path: str, key: str | None, header: str = "auto"):
    """The rows of the user's data file (:func:`pssc_fast.datasets.load_rows`); whatever is wrong with the
    file is the user's to fix: exit 2."""
    from .datasets import load_rows

    try:
        return load_rows(path, key, header)
    except (ValueError, OSError) as exc:
        raise UserError(str(exc)) from exc


#: values per block of rows that :func:`_check_finite` tests at once (a memory-mapped file is never read whole)
FINITE_BLOCK = 1 << 22


def _check_finite(path: str, X) -> None:
    """Refuse NaN or infinite values, naming the file and where the first one is (the estimators would refuse them
    too, but without the file's name or a place to look). Reads X in blocks of rows."""
    if X.dtype.kind not in "fc" or X.ndim == 0 or X.shape[0] == 0:
        return
    rows = X.reshape(X.shape[0], -1)
    step = max(1, FINITE_BLOCK // max(1, rows.shape[1]))
    for start in range(0, rows.shape[0], step):
        bad = ~np.isfinite(rows[start:start + step])
        if bad.any():
            row, col = np.argwhere(bad)[0]
            where = f"row {start + row}" + (f", column {col}" if X.ndim > 1 else "")
            raise UserError(f"{path}: NaN or infinite values, the first at {where} (counted from 0); remove or "
                            "impute them first")


TEXT_LABELS = (".csv", ".txt")
#: suffixes of pictures, refused for labels and codes (numpy would save "labels.png" as "labels.png.npy")
PICTURES = (".png", ".jpg", ".jpeg", ".pdf", ".svg", ".eps", ".ps", ".tif", ".tiff", ".webp", ".gif")


def _output_path(path: str, suffix: str, option: str) -> Path:
    """Where ``option`` will write, checked before any work is done so that a long fit is not lost to a
    typo in a folder name or a folder that cannot be written. ``suffix`` is added as numpy's save does
    (to any other name) for ".npy" (labels may also go to a .csv/.txt file), and as matplotlib does (to a
    name without one) for ".png"; other image formats must be ones matplotlib writes."""
    given = p = Path(path)
    if suffix == ".npy" and p.suffix.lower() in PICTURES:  # "labels.png.npy" would not be what was meant
        raise UserError(f"{option} {path}: values are saved as .npy, .csv or .txt, not as a picture"
                        + ("; --plot draws one" if option == "--out" else ""))
    if suffix == ".npy" and p.suffix.lower() not in TEXT_LABELS + (".npy",):
        p = p.with_name(p.name + suffix)
    elif suffix == ".png" and not p.suffix:
        p = p.with_name(p.name + suffix)
    if given.is_dir() or p.is_dir():
        raise UserError(f"{option} {path} is a folder; give a file name")
    if not p.parent.is_dir():
        raise UserError(f"{option} {path}: folder {p.parent} does not exist")
    if suffix == ".png":
        from matplotlib.figure import Figure

        formats = Figure().canvas.get_supported_filetypes()
        if p.suffix.lower().lstrip(".") not in formats:
            raise UserError(f"{option} {path}: matplotlib cannot write {p.suffix!r} files; use one of "
                            f"{', '.join('.' + f for f in sorted(formats))}")
    try:  # the only sure test that the folder (and file) can be written: write there
        with tempfile.NamedTemporaryFile(dir=p.parent, prefix=".pssc-fast-"):
            pass
        if p.exists() and not os.access(p, os.W_OK):
            raise PermissionError(f"Permission denied: '{p}'")
    except OSError as exc:
        raise UserError(f"{option} {path}: cannot write there ({exc.strerror or exc})") from exc
    return p


def _check_distinct(input_path: str, outputs: dict) -> None:
    """Refuse two outputs that name one file, or an output that is the input: either would destroy a result
    (or the data) while the command reports success."""
    seen = {Path(input_path).resolve(): "INPUT"}
    for option, path in outputs.items():
        if path is None:
            continue
        key = Path(path).resolve()
        if key in seen and option == "MODEL":  # two inputs, not an output over an input
            raise UserError(f"MODEL {path} is the same file as INPUT: MODEL is the file --save-model wrote, "
                            "INPUT the rows to label")
        if key in seen:
            raise UserError(f"{option} {path} is the same file as {seen[key]}; give each output its own file")
        seen[key] = option


def _save_values(out: Path, values: np.ndarray) -> None:
    """Labels (1-D) or latent codes (2-D) to ``out``, exactly that file (``out`` already has its suffix): a .csv/.txt
    file holds one label, or one row of comma-separated codes, per line; anything else is .npy."""
    if out.suffix.lower() in TEXT_LABELS:
        if values.ndim == 1:
            np.savetxt(out, values, fmt="%d")
        else:
            np.savetxt(out, values, fmt="%.8g", delimiter=",")
    else:
        with open(out, "wb") as f:  # np.save to a name would add ".npy" to one without it
            np.save(f, values)


#: seconds to wait for a --scheduler to answer before saying so in one line
CONNECT_TIMEOUT = "20s"


def _chunked(args) -> bool:
    """Whether the command reads chunked rows through Dask: a Zarr store or a glob of .npy shards. Asking for
    a cluster (--scheduler, --workers) with anything else is refused: the workers read the input themselves."""
    from .parallel import is_chunked_source

    chunked = is_chunked_source(args.input)
    if not chunked and (args.scheduler or args.workers):
        raise UserError("--scheduler and --workers read a Zarr store or a glob of .npy shards (files the workers "
                        f"can read), not {args.input}")
    return chunked


@contextlib.contextmanager
def _dask_scheduler(args):
    """The Dask scheduler the command runs on: a running cluster (--scheduler ADDRESS), a LocalCluster of
    --workers N one-thread processes (closed at the end), or Dask's local threaded scheduler."""
    if args.scheduler and args.workers:
        raise UserError("give --scheduler or --workers, not both")
    if not (args.scheduler or args.workers):
        yield
        return
    from .parallel import EXTRA
    from .params import MissingExtraError

    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:
        raise MissingExtraError(f"--scheduler and --workers need the optional dask dependencies: {EXTRA} ({exc})") from exc
    if args.scheduler:
        try:
            client = Client(args.scheduler, timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError, ValueError) as exc:
            raise UserError(f"--scheduler {args.scheduler}: no Dask scheduler answered ({_first_line(exc)})") from exc
        with client:
            yield
        return
    with LocalCluster(n_workers=args.workers, threads_per_worker=1, dashboard_address=None) as cluster, \
            Client(cluster):
        yield


def _store_path(path: str, option: str) -> Path:
    """A Zarr output (a folder): its parent must exist, and an existing folder is replaced only if it is a
    Zarr store already."""
    p = Path(path)
    if not p.parent.is_dir():
        raise UserError(f"{option} {path}: folder {p.parent} does not exist")
    if p.exists() and not (p / "zarr.json").exists() and not (p / ".zarray").exists():
        raise UserError(f"{option} {path} exists and is not a Zarr store; give another name")
    return p


def _out_path(path: str, option: str, chunked: bool) -> Path:
    """An output of labels or codes: a Zarr store (``.zarr``, chunked input only), else as :func:`_output_path`."""
    if Path(path).suffix.lower() == ".zarr":
        if not chunked:
            raise UserError(f"{option} {path}: Zarr output is for Zarr or .npy-shard input; give a .npy or .csv file")
        return _store_path(path, option)
    return _output_path(path, ".npy", option)


def _save_chunked(out: Path, values) -> None:
    """A dask array of labels or codes: written by the workers into a Zarr store, or brought to the client
    (N values or rows of codes, not N rows of features) and saved by :func:`_save_values`."""
    if out.suffix.lower() == ".zarr":
        # Zarr wants equal chunks (the last may be shorter); .npy shards may differ in length
        values.rechunk({0: max(values.chunks[0])}).to_zarr(str(out), overwrite=True)
    else:
        _save_values(out, np.asarray(values.compute()))


def _open_chunked(args):
    """The rows of a chunked input as a dask array; what is wrong with them is the user's to fix (exit 2)."""
    from .parallel import open_rows

    X = open_rows(args.input)
    if X.ndim < 2 or X.shape[0] == 0:
        raise UserError(f"{args.input}: expected rows of samples x features, got shape {X.shape}")
    return X


def _int_at_least(low: int):
    """argparse type: an integer >= low."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer >= {low}, got {text!r}")
        if value < low:
            raise argparse.ArgumentTypeError(f"expected an integer >= {low}, got {value}")
        return value

    parse.__name__ = f"integer >= {low}"
    return parse


_positive_int = _int_at_least(1)


MODEL_FORMAT = "pssc-fast model"


def _save_model(path: Path, model) -> None:
    import joblib

    from . import __version__

    joblib.dump({"format": MODEL_FORMAT, "version": __version__, "model": model}, path)


def _load_model(path: str):
    """The estimator saved by ``fit --save-model``; a one-line error for anything else."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"{path}: {'is a folder' if p.is_dir() else 'not found'}")
    import joblib

    try:
        saved = joblib.load(p)
    except Exception as exc:  # unpickling raises whatever the bytes provoke
        raise UserError(f"{path}: not a model saved by 'pssc-fast fit --save-model' ({type(exc).__name__}: "
                        f"{exc})") from exc
    if not (isinstance(saved, dict) and saved.get("format") == MODEL_FORMAT):
        raise UserError(f"{path}: not a model saved by 'pssc-fast fit --save-model'")
    from . import __version__

    if saved.get("version") != __version__:
        print(f"pssc-fast: warning: {path} was saved by pssc_fast {saved.get('version')}, this is {__version__}; "
              "if predict fails, refit with this version", file=sys.stderr)
    return saved["model"]


def _check_device(device: str) -> None:
    """A bad --device is reported before any data is read or any training runs."""
    from .train import resolve_device

    try:
        resolve_device(device)
    except ValueError as exc:
        raise UserError(str(exc).replace("device=", "--device ")) from exc


def cmd_demo(args) -> int:
    """``pssc-fast demo``: PSSC on scikit-learn's digits, scores, and the block-ordered affinity as a PNG."""
    from .datasets import load_digits
    from .estimator import PSSC
    from .metrics import scores
    from .plotting import plot_affinity

    plot = _output_path(args.plot, ".png", "--plot")
    _check_device(args.device)
    X, y = load_digits()
    print(f"pssc-fast demo: scikit-learn digits, {X.shape[0]} samples x {X.shape[1]} features, 10 clusters")
    start = time.perf_counter()
    model = PSSC(n_clusters=10, random_state=args.seed, device=args.device, verbose=_progress(args))
    labels = model.fit_predict(X)
    seconds = time.perf_counter() - start
    s = scores(y, labels)
    print(f"ACC {s['acc']:.4f}  NMI {s['nmi']:.4f}  purity {s['purity']:.4f}  ({seconds:.1f} s; "
          + ", ".join(f"{k} {v:.1f} s" for k, v in model.timings_.items()) + ")")
    path = plot_affinity(model.affinity_, labels, plot, title=f"PSSC on digits, ACC {s['acc']:.3f}")
    print(f"affinity ordered by cluster written to {Path(path).resolve()}")
    return 0


def _image_shape(args, X):
    """(channels, height, width) of the samples: None with --vectors (images of a 3-D or 4-D input are then
    flattened to vectors too), else --image-shape (H W, or C H W), else the shape of an input of 3 (one channel) or
    4 dimensions (channels first), else "auto" (the estimators read rows that look like square images as images)."""
    if getattr(args, "vectors", False):
        if args.image_shape is not None:
            raise UserError("--vectors reads the samples as vectors and --image-shape as images: give one of them")
        return None
    inferred = None
    if X.ndim == 3:
        inferred = (1, *(int(v) for v in X.shape[1:]))
    elif X.ndim == 4:
        inferred = tuple(int(v) for v in X.shape[1:])
    if args.image_shape is None:
        return inferred if inferred is not None else "auto"
    if len(args.image_shape) not in (2, 3):
        raise UserError(f"--image-shape takes HEIGHT WIDTH or CHANNELS HEIGHT WIDTH, got {len(args.image_shape)} "
                        "numbers")
    given = tuple(args.image_shape) if len(args.image_shape) == 3 else (1, *args.image_shape)
    if inferred is not None and inferred != given:
        raise UserError(f"--image-shape {' '.join(map(str, args.image_shape))} disagrees with {args.input}'s samples "
                        f"of shape {tuple(X.shape[1:])}")
    features = int(np.prod(X.shape[1:]))
    if int(np.prod(given)) != features:
        raise UserError(f"--image-shape {' '.join(map(str, args.image_shape))} holds {int(np.prod(given))} values; "
                        f"{args.input}'s samples have {features}")
    return given


def cmd_fit(args) -> int:
    """``pssc-fast fit``: read INPUT, cluster it (PSSC up to --max-dense rows, fit_large above or with
    --anchors), save the labels. Every check of what the user asked for runs before the fit."""
    chunked = _chunked(args)
    out = _out_path(args.out, "--out", chunked)
    plot = _output_path(args.plot, ".png", "--plot") if args.plot else None
    save_model = _output_path(args.save_model, "", "--save-model") if args.save_model else None
    _check_distinct(args.input, {"--out": out, "--plot": plot, "--save-model": save_model})
    _check_device(args.device)
    if chunked:
        if plot:
            raise UserError("--plot draws the n x n affinity, which chunked input (fit_large) never forms; drop --plot")
        with _dask_scheduler(args):
            return _fit_chunked(args, out, save_model)
    X = _read_input(args.input, args.key, args.header)
    _check_finite(args.input, X)
    image_shape = _image_shape(args, X)
    if X.ndim > 2:
        X = np.asarray(X).reshape(X.shape[0], -1)
    if X.ndim != 2:
        raise UserError(f"{args.input}: expected a 2-D array of samples x features, got shape {X.shape}")
    n = X.shape[0]
    if n < 2:
        raise UserError(f"{args.input}: {n} sample{'' if n == 1 else 's'}; clustering needs at least 2")
    if args.k > n:
        raise UserError(f"--k {args.k} is larger than the number of samples ({n})")
    use_large = args.anchors is not None or n > args.max_dense
    if use_large and plot:
        raise UserError("--plot draws the n x n affinity, which the large-data path (--anchors, or more than "
                        f"--max-dense {args.max_dense} samples) never forms; drop --plot")
    if not use_large and args.pretrain_samples is not None:
        raise UserError(f"--pretrain-samples sets the large-data path's pre-training; {n} samples take the "
                        "small-data path (give --anchors to use the large-data path)")
    batch = min(LARGE_DEFAULTS["batch_size"], n)
    if use_large and args.pretrain_samples is not None and 0 < args.pretrain_samples < batch:
        raise UserError(f"--pretrain-samples {args.pretrain_samples} is less than one pre-training batch ({batch} rows), "
                        f"so no step would run; give 0 to skip pre-training or at least {batch}")
    anchors = min(args.anchors if args.anchors is not None else LARGE_DEFAULTS["anchors"], n)
    if use_large and args.k > anchors:
        raise UserError(f"--k {args.k} is more than the {anchors} anchors the clusters are found among; "
                        "raise --anchors")
    start = time.perf_counter()
    if use_large:
        from .large import fit_large

        extra = {} if args.pretrain_samples is None else {"pretrain_samples": args.pretrain_samples}
        model = fit_large(X, args.k, anchors=anchors, random_state=args.seed, device=args.device,
                          labeling=args.labeling, verbose=_progress(args), image_shape=image_shape, **extra)
        labels = model.labels_
    else:
        from .estimator import PSSC

        model = PSSC(n_clusters=args.k, random_state=args.seed, device=args.device, verbose=_progress(args),
                     image_shape=image_shape)
        labels = model.fit_predict(np.asarray(X))
    seconds = time.perf_counter() - start
    _save_values(out, labels)
    sizes = np.bincount(labels, minlength=args.k)
    if image_shape == "auto" and getattr(model, "image_shape_", None) is not None:
        print(f"rows read as {'x'.join(map(str, model.image_shape_[1:]))} images (their neighbouring features "
              "correlate like pixels; --vectors keeps them as vectors)")
    print(f"{n} samples -> {args.k} clusters in {seconds:.1f} s; sizes {sizes.tolist()}; labels written to {out}")
    budget = getattr(model, "budget_", None)  # what the pre-training budget came to, and why
    if budget:
        print(f"pre-training: {budget['pretrain_why']}")
    if save_model:
        _save_model(save_model, model)
        print(f"fitted model written to {save_model}"
              + ("; 'pssc-fast predict' labels new rows with it" if use_large else ""))
    if plot:
        from .plotting import plot_affinity

        print(f"affinity plot written to {plot_affinity(model.affinity_, labels, plot)}")
    return 0


def _fit_chunked(args, out: Path, save_model: Path | None) -> int:
    """``fit`` on a Zarr store or .npy shards: fit_large on the dask array, on the scheduler in use."""
    from .large import fit_large

    X = _open_chunked(args)
    image_shape = _image_shape(args, X)
    n = X.shape[0]
    if args.k > n:
        raise UserError(f"--k {args.k} is larger than the number of samples ({n})")
    anchors = min(args.anchors if args.anchors is not None else LARGE_DEFAULTS["anchors"], n)
    if args.k > anchors:
        raise UserError(f"--k {args.k} is more than the {anchors} anchors the clusters are found among; raise --anchors")
    extra = {} if args.pretrain_samples is None else {"pretrain_samples": args.pretrain_samples}
    start = time.perf_counter()
    model = fit_large(X, args.k, anchors=anchors, random_state=args.seed, device=args.device,
                      labeling=args.labeling, verbose=_progress(args), image_shape=image_shape, **extra)
    _save_chunked(out, model.labels_)
    import dask.array as da

    sizes = da.bincount(model.labels_, minlength=args.k).compute()
    print(f"{n} samples -> {args.k} clusters in {time.perf_counter() - start:.1f} s; sizes {sizes.tolist()}; "
          f"labels written to {out}")
    print(f"pre-training: {model.budget_['pretrain_why']}")
    if save_model:
        _save_model(save_model, model)  # without labels_ (see LargePSSC.__getstate__): they are in --out
        print(f"fitted model written to {save_model}; 'pssc-fast predict' labels new rows with it")
    return 0


def cmd_predict(args) -> int:
    """``pssc-fast predict``: label (and optionally encode) the rows of INPUT with a model saved by
    ``fit --save-model`` on the large-data path."""
    from .large import LargePSSC

    chunked = _chunked(args)
    out = _out_path(args.out, "--out", chunked)
    codes_out = _out_path(args.codes, "--codes", chunked) if args.codes else None
    _check_distinct(args.input, {"MODEL": args.model, "--out": out, "--codes": codes_out})
    _check_device(args.device)
    model = _load_model(args.model)
    if not isinstance(model, LargePSSC):
        raise UserError(f"{args.model} holds a {type(model).__name__}, which labels only the rows it was fitted on "
                        "(the small-data path is transductive); refit with --anchors to get a model that predicts")
    if chunked:
        with _dask_scheduler(args):
            return _predict_chunked(args, model, out, codes_out)
    X = _read_input(args.input, args.key, args.header)
    _check_finite(args.input, X)
    if X.ndim > 2:
        X = np.asarray(X).reshape(X.shape[0], -1)
    if X.ndim != 2 or X.shape[0] == 0:
        raise UserError(f"{args.input}: expected a 2-D array of samples x features, got shape {X.shape}")
    if X.shape[1] != model.n_features_in_:
        raise UserError(f"{args.input}: rows of {X.shape[1]} features, but the model was fitted on "
                        f"{model.n_features_in_}")
    model.set_params(verbose=_progress(args), device=args.device)
    start = time.perf_counter()
    labels = model.predict(X)
    _save_values(out, labels)
    message = f"{X.shape[0]} samples labelled in {time.perf_counter() - start:.1f} s; labels written to {out}"
    if codes_out:
        _save_values(codes_out, model.transform(X))
        message += f", latent codes to {codes_out}"
    print(message)
    return 0


def _predict_chunked(args, model, out: Path, codes_out: Path | None) -> int:
    """``predict`` on a Zarr store or .npy shards: chunk by chunk on the scheduler in use."""
    X = _open_chunked(args)
    if int(np.prod(X.shape[1:])) != model.n_features_in_:
        raise UserError(f"{args.input}: rows of {int(np.prod(X.shape[1:]))} features, but the model was fitted on "
                        f"{model.n_features_in_}")
    model.set_params(verbose=_progress(args), device=args.device)
    start = time.perf_counter()
    _save_chunked(out, _with_progress(model.predict(X), _progress(args)))
    message = f"{X.shape[0]} samples labelled in {time.perf_counter() - start:.1f} s; labels written to {out}"
    if codes_out:
        _save_chunked(codes_out, _with_progress(model.transform(X), _progress(args)))
        message += f", latent codes to {codes_out}"
    print(message)
    return 0


def _with_progress(values, verbose: bool):
    """A lazy dask array computed (persisted) with Dask's progress bar when ``verbose``."""
    from .parallel import persist

    return persist(values, verbose) if verbose else values


def _add_dask_options(parser) -> None:
    parser.add_argument("--scheduler", default=None, metavar="ADDRESS",
                        help="run on this running Dask cluster (e.g. tcp://host:8786); the input must be a Zarr store "
                             "or a glob of .npy shards that the workers can read")
    parser.add_argument("--workers", type=_positive_int, default=None, metavar="N",
                        help="run on a local Dask cluster of N one-thread worker processes (closed at the end); "
                             "without --scheduler or --workers, chunked input runs on Dask's threaded scheduler")


def _add_progress_options(parser) -> None:
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                        help="progress bars on stderr (default: only when stderr is a terminal, so that logs "
                             "do not fill with redrawn lines)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars (the same as --no-progress)")


def _progress(args) -> bool:
    """Whether to draw progress bars: --progress / --no-progress / --quiet, else only on a terminal."""
    if args.quiet:
        return False
    if args.progress is not None:
        return args.progress
    return sys.stderr.isatty()


def _add_read_options(parser) -> None:
    parser.add_argument("--key", default=None, help="variable name in a .mat file (default 'fea' or 'X'), or "
                        "array name in an .npz file (default: its only array, or 'X', 'data' or 'fea')")
    parser.add_argument("--header", choices=("auto", "yes", "no"), default="auto",
                        help=".csv: whether the first line holds column names; 'auto' (default) takes a line "
                             "with text, or the column numbers 0..d-1 that pandas writes, for a header")


class _Parser(argparse.ArgumentParser):
    """argparse's parser, but a wrong argument is one ``pssc-fast: error:`` line (exit status 2) like every other
    user error, pointing at ``--help`` instead of printing the usage block."""

    def error(self, message):
        self.exit(2, f"pssc-fast: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    """The ``pssc-fast`` argument parser with its ``demo``, ``fit`` and ``predict`` commands."""
    parser = _Parser(prog="pssc-fast",
                                     description="Pseudo-supervised deep subspace clustering (PSSC), fast and at scale.")
    from . import __version__

    parser.add_argument("--version", action="version", version=f"pssc-fast {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    common = _Parser(add_help=False)
    common.add_argument("--seed", type=_int_at_least(0), default=0, help="random seed (default 0)")
    common.add_argument("--device", default=LARGE_DEFAULTS["device"], help="'auto' (CUDA when available), 'cpu' or 'cuda'")
    _add_progress_options(common)

    demo = sub.add_parser("demo", parents=[common], help="cluster scikit-learn's digits and plot the affinity",
                          description="Cluster scikit-learn's 1797 handwritten digits with the default PSSC, "
                                      "print ACC/NMI/purity and seconds, and save the block-ordered affinity.")
    demo.add_argument("--plot", default="pssc_demo_affinity.png", metavar="PATH",
                      help="where to write the affinity picture (PNG; default %(default)s in the current folder)")
    demo.set_defaults(func=cmd_demo)

    fit = sub.add_parser("fit", parents=[common], help="cluster the rows of a .npy, .npz, .csv or .mat file",
                         description="Cluster the rows of INPUT (.npy, .npz, .csv, or .mat with a 'fea' variable) into "
                                     "K clusters and save the labels.")
    fit.add_argument("input", help="data file: .npy, .npz, .csv (rows = samples) or .mat; an array of more than 2 "
                     "dimensions holds images (samples, [channels,] height, width), as --image-shape says. "
                     "Chunked rows through Dask (fit_large): a Zarr array (a .zarr folder) or a quoted glob of .npy "
                     "shards ('rows/*.npy', one chunk per file, in name order); --out may then be a .zarr store")
    fit.add_argument("--k", type=_int_at_least(2), required=True, help="number of clusters (at least 2)")
    fit.add_argument("--image-shape", type=_int_at_least(1), nargs="+", default=None, metavar="N",
                     help="the samples are images of HEIGHT WIDTH (one channel) or CHANNELS HEIGHT WIDTH values, "
                          "stored as rows: the small-data path then uses the convolutional auto-encoder, and both "
                          "paths add the contrastive candidate. An input of 3 or 4 dimensions carries its own; rows "
                          "of a square number of features whose neighbours correlate like pixels are read as "
                          "square images without it")
    fit.add_argument("--vectors", action="store_true",
                     help="read the samples as vectors: rows that look like square images, and the images of a "
                     "3-D or 4-D input (flattened)")
    fit.add_argument("--out", default="labels.npy",
                     help="where to save the labels: .npy, or .csv/.txt for one label per line (default %(default)s)")
    fit.add_argument("--plot", default=None, help="PNG of the affinity ordered by cluster (small-data path)")
    fit.add_argument("--anchors", type=_int_at_least(2), default=None,
                     help="use fit_large with this many anchors (default: fit_large with "
                          f"{LARGE_DEFAULTS['anchors']} anchors above --max-dense samples)")
    labeling = param(LARGE_PARAMETERS, "labeling")
    fit.add_argument("--labeling", choices=labeling.check.choices, default=labeling.default,
                     help="fit_large: label rows by their nearest anchor (paper Algorithm 3) or by landmark "
                          "spectral clustering of all rows through the anchors (default %(default)s)")
    fit.add_argument("--max-dense", type=_positive_int, default=5000,
                     help="largest input clustered with the n x n layer on all points (default %(default)s)")
    fit.add_argument("--pretrain-samples", type=_int_at_least(0), default=None,
                     help="large-data path: auto-encoder pre-training budget in samples seen (default "
                          f"{LARGE_DEFAULTS['pretrain_samples']:,}, capped at {LARGE_DEFAULTS['pretrain_max_epochs']} "
                          "passes over the rows; it ends earlier when the reconstruction error stops improving)")
    fit.add_argument("--save-model", default=None, metavar="PATH",
                     help="also save the fitted estimator (joblib); on the large-data path 'pssc-fast predict' "
                          "labels new rows with it. A small-data model cannot predict (PSSC labels only the "
                          "rows it was fitted on) and holds the n x n coefficients: n^2 x 8 bytes and more")
    _add_read_options(fit)
    _add_dask_options(fit)
    fit.set_defaults(func=cmd_fit)

    predict = sub.add_parser("predict", help="label new rows with a model saved by 'fit --save-model'",
                             description="Give each row of INPUT the cluster of its nearest anchor (or its "
                                         "landmark label) under a large-data model saved by 'pssc-fast fit "
                                         "--anchors ... --save-model MODEL'. Load only model files you trust: "
                                         "they are pickles.")
    predict.add_argument("model", help="file written by 'pssc-fast fit --save-model'")
    predict.add_argument("input", help="data file (.npy, .npz, .csv or .mat) with the features the model was fitted "
                         "on, or chunked rows: a Zarr array or a quoted glob of .npy shards (--out, --codes may then "
                         "be .zarr stores)")
    predict.add_argument("--out", default="labels.npy",
                         help="where to save the labels: .npy, or .csv/.txt (default %(default)s)")
    predict.add_argument("--codes", default=None, help="also save the rows' latent codes: .npy, or .csv/.txt for one row of "
                         "comma-separated codes per line")
    predict.add_argument("--device", default=LARGE_DEFAULTS["device"], help="where to encode: 'auto' (CUDA when available), 'cpu' or "
                         "'cuda'")
    _add_progress_options(predict)
    _add_read_options(predict)
    _add_dask_options(predict)
    predict.set_defaults(func=cmd_predict)
    return parser


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings as one line, ``pssc-fast: warning: ...``, instead of Python's file:line and source line."""
    print(f"pssc-fast: warning: {message}", file=sys.stderr)


def _first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type's name when it has none)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def main(argv=None) -> int:
    """Entry point of ``pssc-fast``: 0 on success, 2 with a one-line message for a user error (what the
    command line checks, the data file, and pssc_fast's checks of X and the parameters:
    :class:`pssc_fast.params.InputError`), 1 with a one-line message when the run itself fails (training
    diverged, out of memory, a broken install, an unexpected error inside the run), 130 when interrupted.
    No traceback either way."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            return args.func(args)
    except (UserError, InputError) as exc:
        # InputError: pssc_fast's own checks of X and of the parameters, run at the start of fit, refused
        # what the user gave (NaN in the data, constant data, too few rows, ...)
        print(f"pssc-fast: error: {exc}", file=sys.stderr)
        return 2
    except MemoryError as exc:  # the machine is short of memory for the run: nothing in the input to fix
        print(f"pssc-fast: error: {_first_line(exc)}", file=sys.stderr)
        return 1
    except (ValueError, TypeError, OSError) as exc:
        # Every check of the user's input raises UserError or InputError above; any other of these comes
        # from inside the run (a bug, a library's surprise, a disk that failed): not the user's to fix.
        print(f"pssc-fast: error: {_first_line(exc)} ({type(exc).__name__} during the run, not a problem "
              "with the input; please report it)", file=sys.stderr)
        return 1
    except ArithmeticError as exc:  # training diverged (train.check_finite words it for users)
        print(f"pssc-fast: error: {exc}", file=sys.stderr)
        return 1
    except ImportError as exc:
        print(f"pssc-fast: error: a dependency is missing or broken ({exc}); reinstall pssc_fast with pip",
              file=sys.stderr)
        return 1
    except RuntimeError as exc:  # torch's, e.g. CUDA out of memory: one line, not a traceback
        print(f"pssc-fast: error: {_first_line(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("pssc-fast: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
