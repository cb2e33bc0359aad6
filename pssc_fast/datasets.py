"""Data: scikit-learn's digits (built in), a union-of-subspaces maker, loaders for the paper's files, and
:func:`load_rows`, which reads a user's data file (.npy, .npz, .csv, .mat) for the command line.

Every function returns ``(X, y)`` with ``X`` float32 of shape (n, features) — images flattened row-major —
and ``y`` int64 of shape (n,). Files are never shipped with the package: loaders take a path.
"""
from __future__ import annotations

import gzip
import os
import re
import sys
import warnings
from pathlib import Path

import numpy as np


def load_digits():
    """scikit-learn's 8x8 handwritten digits: 1797 x 64, values 0..16 as they come, 10 classes."""
    from sklearn.datasets import load_digits as _load

    data = _load()
    return data.data.astype(np.float32), data.target.astype(np.int64)


def make_subspaces(n_samples: int = 600, n_clusters: int = 6, dim: int = 5, ambient_dim: int = 30, *,
                   noise: float = 0.01, warp: bool = False, warp_dim: int | None = None, random_state=None):
    """Points drawn from a union of ``n_clusters`` random ``dim``-dimensional linear subspaces.

    Parameters
    ----------
    n_samples : total number of points, split as evenly as possible over the clusters.
    n_clusters : number of subspaces.
    dim : dimension of each subspace.
    ambient_dim : dimension of the space the subspaces live in.
    noise : standard deviation of isotropic Gaussian noise added to every coordinate.
    warp : if True, pass the points through a fixed random two-layer network (tanh) into ``warp_dim``
        dimensions, so that the subspaces become non-linear manifolds.
    warp_dim : output dimension of the warp (default ``ambient_dim``).
    random_state : seed or ``numpy.random.Generator``.

    Returns ``(X, y)``; X is rescaled to [0, 1] when warped.
    """
    if n_clusters < 1 or n_samples < n_clusters:
        raise ValueError(f"need 1 <= n_clusters <= n_samples, got n_clusters={n_clusters}, n_samples={n_samples}")
    if not 1 <= dim <= ambient_dim:
        raise ValueError(f"need 1 <= dim <= ambient_dim, got dim={dim}, ambient_dim={ambient_dim}")
    rng = np.random.default_rng(random_state)
    sizes = np.full(n_clusters, n_samples // n_clusters)
    sizes[: n_samples % n_clusters] += 1
    X, y = [], []
    for k, size in enumerate(sizes):
        basis, _ = np.linalg.qr(rng.standard_normal((ambient_dim, dim)))
        X.append(rng.standard_normal((size, dim)) @ basis.T)
        y.append(np.full(size, k))
    X = np.concatenate(X) + noise * rng.standard_normal((n_samples, ambient_dim))
    y = np.concatenate(y)
    if warp:
        out = warp_dim or ambient_dim
        hidden = max(2 * out, 64)
        W1 = rng.standard_normal((ambient_dim, hidden)) / np.sqrt(ambient_dim)
        W2 = rng.standard_normal((hidden, out)) / np.sqrt(hidden)
        X = np.tanh(X @ W1) @ W2
        X = (X - X.min()) / (X.max() - X.min())
    perm = rng.permutation(n_samples)
    return X[perm].astype(np.float32), y[perm].astype(np.int64)


def _existing(path) -> Path:
    path = Path(os.fspath(path)).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"no such file or folder: {path}")
    return path


def load_mat(path, *, features: str = "fea", labels: str = "gnd"):
    """A MATLAB .mat file holding a feature matrix (``fea``, samples as rows) and labels (``gnd``).

    This is the format of ORL_32x32.mat and COIL20.mat. Labels are renumbered 0..K-1 in increasing order of
    the stored ones (1..40 -> 0..39; gaps such as {1, 2, 5} close up to {0, 1, 2}).
    """
    from scipy.io import loadmat

    path = _existing(path)
    if path.is_dir():
        raise ValueError(f"{path} is a folder; give the .mat file inside it")
    try:
        mat = loadmat(path)
    except Exception as exc:  # scipy's messages do not say which file
        raise ValueError(f"could not read {path} as a MATLAB .mat file: {exc}") from exc
    for key in (features, labels):
        if key not in mat:
            found = sorted(k for k in mat if not k.startswith("__"))
            raise ValueError(f"{path}: no variable {key!r} in the .mat file (found {found})")
    X = mat[features]
    X = np.asarray(X.toarray() if hasattr(X, "toarray") else X, dtype=np.float32)  # sparse fea: densify
    X = X.reshape(X.shape[0], -1)
    y = np.asarray(mat[labels]).ravel().astype(np.int64)
    if y.shape[0] != X.shape[0]:
        raise ValueError(f"{path}: {X.shape[0]} samples but {y.shape[0]} labels")
    return X, np.unique(y, return_inverse=True)[1].astype(np.int64)


def _npy_dtype_problem(dtype: np.dtype) -> str | None:
    """Why an array of this dtype cannot be clustered (None when it can)."""
    if dtype.hasobject:
        return ("it holds Python objects (dtype object), and loading those would run pickled code, which "
                "pssc_fast refuses; save a numeric array instead, e.g. np.save(path, X.astype(np.float32))")
    if dtype.names:
        return (f"it holds a structured array (fields {', '.join(dtype.names)}); save a plain numeric array, "
                "e.g. numpy.lib.recfunctions.structured_to_unstructured(X)")
    if not (np.issubdtype(dtype, np.number) or dtype == bool):
        return f"it holds {dtype} values, not numbers"
    if np.issubdtype(dtype, np.complexfloating):
        return f"it holds complex numbers ({dtype}); pssc_fast clusters real values"
    return None


def load_npy(path, *, mmap: bool = True) -> np.ndarray:
    """A numeric array from a ``.npy`` file, memory-mapped (read-only) when ``mmap``, so that a file larger
    than memory can be streamed by :func:`pssc_fast.fit_large`.

    Raises FileNotFoundError, or ValueError saying what is wrong with the file in words: not a .npy file
    at all, a corrupt header, a truncated file (fewer bytes than its header promises), or an array that is
    not numeric (object arrays are refused rather than unpickled)."""
    path = _existing(path)
    if path.is_dir():
        raise ValueError(f"{path} is a folder; give a .npy file")
    size = path.stat().st_size
    if size == 0:
        raise ValueError(f"{path}: the file is empty (0 bytes), not a .npy array")
    fmt = np.lib.format
    with open(path, "rb") as f:
        try:
            version = fmt.read_magic(f)
        except ValueError as exc:
            head = path.read_bytes()[:6]
            raise ValueError(f"{path}: not a .npy file (it does not start with numpy's signature \\x93NUMPY but "
                             f"with {head!r}); a text or .csv file needs the .csv extension") from exc
        try:
            if version == (1, 0):
                shape, fortran, dtype = fmt.read_array_header_1_0(f)
            elif version == (2, 0):
                shape, fortran, dtype = fmt.read_array_header_2_0(f)
            elif version == (3, 0):  # differs from 2.0 only in its encoding: numpy reads it below
                shape, dtype = None, None
            else:
                raise ValueError(f"{path}: .npy format version {version[0]}.{version[1]}, which this numpy "
                                 f"({np.__version__}) does not know: a corrupt header, or a file from a newer "
                                 "numpy")
        except (ValueError, SyntaxError, TypeError, EOFError) as exc:
            if str(exc).startswith(f"{path}:"):
                raise
            raise ValueError(f"{path}: the .npy header is corrupt or cut short, so the array's shape and type "
                             "cannot be read; re-save or re-copy the file") from exc
        offset = f.tell()
    if dtype is None:  # format 3.0 (rare): numpy checks it, the dtype is checked here
        try:
            array = np.load(path, allow_pickle=False, mmap_mode="r" if mmap else None)
        except (ValueError, OSError) as exc:
            raise ValueError(f"{path}: could not read the .npy array ({exc})") from exc
        problem = _npy_dtype_problem(array.dtype)
        if problem:
            raise ValueError(f"{path}: {problem}")
        return array
    problem = _npy_dtype_problem(dtype)
    if problem:
        raise ValueError(f"{path}: {problem}")
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if size - offset < expected:
        raise ValueError(f"{path}: the file is truncated: its header promises a {'x'.join(map(str, shape))} "
                         f"{dtype} array ({expected:,} bytes of data) but only {size - offset:,} bytes follow "
                         "(an interrupted copy, download or save?)")
    try:
        # an array without data cannot be memory-mapped; read it (nothing to read) instead
        return np.load(path, allow_pickle=False, mmap_mode="r" if mmap and expected > 0 else None)
    except (ValueError, OSError) as exc:
        raise ValueError(f"{path}: could not read the .npy array ({exc})") from exc


#: the arrays an .npz file is read from when it holds several and no key is given, in this order
NPZ_DEFAULT_KEYS = ("X", "data", "fea")


def load_npz(path, key: str | None = None) -> np.ndarray:
    """The numeric array ``key`` of an ``.npz`` archive (np.savez): by default its only array, or the one
    named "X", "data" or "fea". ValueError in words for a file that is not a zip archive (or a truncated
    one), an empty archive, a missing key, an array that cannot be read, or a non-numeric one."""
    import zipfile

    path = _existing(path)
    if path.is_dir():
        raise ValueError(f"{path} is a folder; give a .npz file")
    with open(path, "rb") as f:
        head = f.read(6)
    if head.startswith(b"\x93NUMPY"):  # a .npy file under an .npz name
        return load_npy(path)
    if not head.startswith(b"PK"):
        raise ValueError(f"{path}: not an .npz archive (an .npz file is a zip archive written by numpy.savez, "
                         f"starting with PK; this one starts with {head!r})" if head else
                         f"{path}: the file is empty (0 bytes), not an .npz archive")
    # numpy is given an open handle: from a path it leaves its own file open when the archive is unreadable
    with open(path, "rb") as handle:
        try:
            archive = np.load(handle, allow_pickle=False)
        except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
            raise ValueError(f"{path}: not a readable .npz archive ({exc}); an .npz file is a zip archive "
                             "written by numpy.savez - the file may be truncated or corrupt") from exc
        with archive:
            names = list(archive.files)
            if not names:
                raise ValueError(f"{path}: the .npz archive holds no arrays")
            if key is None:
                key = names[0] if len(names) == 1 else next((k for k in NPZ_DEFAULT_KEYS if k in names), None)
                if key is None:
                    raise ValueError(f"{path}: the archive holds {len(names)} arrays ({', '.join(names)}); say which "
                                     "one holds the data (--key NAME on the command line)")
            elif key not in names:
                raise ValueError(f"{path}: no array {key!r} in the archive (it holds {', '.join(names)})")
            try:
                X = archive[key]
            except ValueError as exc:
                if "allow_pickle" in str(exc) or "Object arrays" in str(exc):
                    raise ValueError(f"{path}: array {key!r}: {_npy_dtype_problem(np.dtype(object))}") from exc
                raise ValueError(f"{path}: array {key!r} is corrupt or truncated ({exc})") from exc
            except (zipfile.BadZipFile, OSError, EOFError, KeyError) as exc:
                raise ValueError(f"{path}: array {key!r} is corrupt or truncated ({type(exc).__name__}: {exc})") from exc
    problem = _npy_dtype_problem(X.dtype)
    if problem:
        raise ValueError(f"{path}: array {key!r}: {problem}")
    return X



class DataFileError(ValueError):
    """A data file that cannot be read as rows of numbers; the message names the file and says what is wrong."""


def load_rows(path, key: str | None = None, header: str = "auto") -> np.ndarray:
    """The array in a user's data file, one sample per row: what ``pssc-fast fit`` and ``predict`` read.

    ``.npy`` (memory-mapped, :func:`load_npy`), ``.npz`` (:func:`load_npz`; ``key`` names the array),
    ``.csv`` (comma-separated numbers; ``header`` is "auto", "yes" or "no", see :func:`load_csv`) or
    ``.mat`` (``key`` names the variable; by default "fea", else "X", else the only one; a sparse matrix is densified).
    The array is returned as stored: it may have more than 2 dimensions.

    Raises FileNotFoundError for a missing file, and :class:`DataFileError` (a ValueError) saying in words
    what is wrong with any other: a folder, an unsupported extension, a ``key`` the file does not have or
    cannot take, a corrupt, truncated or non-numeric file.
    """
    p = Path(path)
    if p.is_dir():
        raise DataFileError(f"input {path} is a folder; give a data file")
    if not p.is_file():
        raise FileNotFoundError(f"input file not found: {path}")
    suffix = p.suffix.lower()
    if key is not None and suffix not in (".mat", ".npz"):
        raise DataFileError(f"--key names a variable of a .mat file or an array of an .npz file; {path} is a "
                            f"{suffix or 'extension-less'} file")
    try:
        # the loaders word what is wrong with a file (truncated, corrupt header, object arrays) themselves
        if suffix == ".npy":
            return load_npy(p)
        if suffix == ".npz":
            return load_npz(p, key)
        if suffix == ".csv":
            return load_csv(p, header)
        if suffix == ".mat":
            from scipy.io import loadmat

            mat = loadmat(p)
            names = [k for k in mat if not k.startswith("__")]
            if key is not None and key not in mat:
                raise DataFileError(f"{path}: no variable {key!r} (found {names})")
            name = key or ("fea" if "fea" in mat else ("X" if "X" in mat else (names[0] if len(names) == 1 else None)))
            if name is None:
                raise DataFileError(f"{path}: say which variable holds the data with --key (found {names})")
            data = mat[name]
            return np.asarray(data.toarray() if hasattr(data, "toarray") else data)  # sparse: densify
    except DataFileError:
        raise
    except ValueError as exc:
        if str(exc).startswith(str(p)):  # a loader's own message, which names the file
            raise DataFileError(str(exc)) from exc
        raise DataFileError(f"could not read {path}: {exc}") from exc
    except Exception as exc:  # scipy's and numpy's readers raise whatever the bytes provoke
        raise DataFileError(f"could not read {path}: {exc}") from exc
    raise DataFileError(f"{path}: unsupported file type {suffix!r}; use .npy, .npz, .csv or .mat")


def load_csv(path, header: str = "auto") -> np.ndarray:
    """Comma-separated numbers, one sample per line, as a float64 array of shape (n, d).

    With ``header="auto"`` a first line with text in it is taken for column names, and so is a first line
    of column numbers 0..d-1 (what pandas' ``to_csv`` writes for an unnamed DataFrame); when such a header
    starts with an empty cell, the first column is pandas' row index and is dropped. "yes" / "no" say
    whether the first line is a header. A BOM (Excel's "CSV UTF-8") and double quotes are accepted. Both
    guesses are reported as a note on stderr. Raises :class:`DataFileError` naming the line and column of
    a cell that is not a number, a ragged line, or another separator than the comma.
    """
    p = Path(path)
    with open(p, encoding="utf-8-sig") as f:
        first = f.readline().rstrip("\r\n")
    if not first.strip():
        raise DataFileError(f"{p}: {'the file is empty' if p.stat().st_size == 0 else 'the first line is empty'}; "
                            "expected numbers separated by commas, one sample per line")
    if "," not in first:
        for sep, name in ((";", "semicolons"), ("\t", "tabs")):
            if sep in first:
                raise DataFileError(f"{p}: values are separated by {name}; pssc-fast reads comma-separated files "
                                    "(or save the array as .npy)")
    cells = [c.strip().strip('"').strip() for c in first.split(",")]
    text = any(c and not _is_number(c) for c in cells)
    numbered = not text and _column_numbers(cells)
    skip = {"yes": 1, "no": 0}.get(header, int(text or numbered))
    if numbered and header == "auto":
        print(f"pssc-fast: note: the first line of {p} ({first[:40]}{'...' if len(first) > 40 else ''}) is read "
              "as column numbers, not data; pass --header no to keep it", file=sys.stderr)
    drop_index = bool(skip) and len(cells) > 1 and cells[0] == "" and any(cells[1:])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "input contained no data": reported below
            X = np.loadtxt(p, delimiter=",", skiprows=skip, dtype=np.float64, ndmin=2, encoding="utf-8-sig",
                           quotechar='"')
    except ValueError as exc:
        # numpy counts data rows from 0 after the skipped header; a user counts the file's lines from 1
        message = re.sub(r"at row (\d+), column (\d+)",
                         lambda m: f"on line {int(m.group(1)) + 1 + skip}, column {m.group(2)}", str(exc))
        # a ragged row: numpy's count is 1-based here, and its advice (usecols) is for numpy users
        message = re.sub(r"the number of columns changed from (\d+) to (\d+) at row (\d+);.*",
                         lambda m: f"line {int(m.group(3)) + skip} has {m.group(2)} values where the lines "
                                   f"before it have {m.group(1)}", message)
        raise DataFileError(f"{p}: {message.rstrip('.')} (expected numbers separated by commas, one sample per "
                            "line; an empty cell is a missing value: impute it first)") from exc
    if drop_index:
        print(f"pssc-fast: note: the first column of {p} has no name in the header and is read as a row "
              "index (pandas' to_csv), not as a feature", file=sys.stderr)
        X = X[:, 1:]
    return X


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _column_numbers(cells: list) -> bool:
    """True for the column numbers 0, 1, ..., d-1 that pandas writes for an unnamed DataFrame: after an
    empty first cell (its index column, which data cannot have), or alone when d >= 3 (a data row such as
    "0,1" is plausible for binary features, "0,1,2" hardly)."""
    indexed = bool(cells) and cells[0] == ""
    values = cells[1:] if indexed else cells
    if len(values) < (1 if indexed else 3) or not all(v.isdigit() for v in values):
        return False
    return [int(v) for v in values] == list(range(len(values)))


def _read_idx(path: Path) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ValueError(f"{path}: not an IDX file of unsigned bytes")
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(shape)):
        raise ValueError(f"{path}: header says {shape} but holds {data.size} values")
    return data.reshape(shape)


def _find(folder: Path, stem: str) -> Path:
    for name in (stem, stem + ".gz"):
        if (folder / name).exists():
            return folder / name
    raise FileNotFoundError(f"{folder}: neither {stem} nor {stem}.gz found")


def load_mnist(folder, n_per_class: int | None = None, *, split: str = "t10k"):
    """MNIST from IDX files in ``folder`` (``t10k-images-idx3-ubyte[.gz]`` and labels; ``split="train"``
    reads the 60k training files). Pixels stay 0..255. ``n_per_class=100`` keeps the first 100 images of
    each digit in file order: the paper's MNIST-1k."""
    folder = _existing(folder)
    images = _read_idx(_find(folder, f"{split}-images-idx3-ubyte"))
    y = _read_idx(_find(folder, f"{split}-labels-idx1-ubyte")).astype(np.int64)
    X = images.reshape(images.shape[0], -1).astype(np.float32)
    if X.shape[0] != y.shape[0]:
        raise ValueError(f"{folder}: {X.shape[0]} images but {y.shape[0]} labels")
    if n_per_class is not None:
        if int(n_per_class) < 1:
            raise ValueError(f"n_per_class must be a positive integer, got {n_per_class!r}")
        short = {int(c): int((y == c).sum()) for c in np.unique(y) if (y == c).sum() < int(n_per_class)}
        if short:
            raise ValueError(f"{folder}: n_per_class={n_per_class} but some digits have fewer images {short}")
        keep = np.sort(np.concatenate([np.flatnonzero(y == c)[: int(n_per_class)] for c in np.unique(y)]))
        X, y = X[keep], y[keep]
    return X, y
