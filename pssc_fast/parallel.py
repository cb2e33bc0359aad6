"""LargePSSC on a dask array of rows: everything after the anchors' fit, run chunk by chunk on the active
Dask scheduler (a ``distributed.Client`` - a LocalCluster or a real cluster - or the local threaded one).

What runs where (docs/notes.md, "Beyond one machine"):

* **workers**, per chunk of rows: the scan for the min-max scaling, encoding, the FAISS nearest-anchor search
  and labels, the landmark neighbour lists, their sums (lambda and B^T B) and the landmark embedding;
* **the client**: pre-training (chunks are streamed to it one at a time, :class:`ChunkStream`), the anchors
  (``anchors`` rows gathered once), fine-tuning and clustering them, the m x m eigenproblem of the landmark
  labeling, and the final k-means on the embedding (scikit-learn's ``MiniBatchKMeans.partial_fit`` over the
  chunks, started from k-means on a seeded sample).

No step gathers all rows on the client. The fitted state the workers need (encoder, FAISS index, anchor
labels, scaling; :func:`worker_state`) enters the task graph as one key, on which every chunk's task
depends: the distributed scheduler sends it to each worker once, and a worker that dies takes nothing with
it that the graph cannot rebuild (its chunks are recomputed elsewhere).

Dask is an optional dependency (``pip install "pssc_fast[dask]"``): this module imports it only inside its
functions, so the rest of the library imports without it.
"""
from __future__ import annotations

import copy
import functools
import glob
import operator
import pickle
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from .landmark import LandmarkSpectral, bandwidth, distance_sums, nearest_center
from .params import InputTypeError, InputValueError, MissingExtraError
from .scaling import block_extremes, combine_extremes, sample_rows, scaling_from_scan

__all__ = ["EXTRA", "ChunkStream", "check_rows", "is_dask_array", "open_rows", "persist", "predict", "shipped_bytes",
           "transform", "worker_state"]

#: the pip extra that installs what this module needs
EXTRA = 'pip install "pssc_fast[dask]"'

#: the final k-means of the landmark labeling starts from k-means (10 restarts) on this many seeded rows of
#: the embedding; at or below it, that k-means is the whole answer, as on the in-memory path
KMEANS_SAMPLE = 50_000
#: rows per MiniBatchKMeans.partial_fit step over the chunks (scikit-learn's default batch is 1024; a K-wide
#: embedding is cheap, and larger batches mean fewer Python calls)
KMEANS_BATCH = 4096
#: partial sums (lambda, B^T B) of this many chunks are added in one task of the tree reduction
SUM_WIDTH = 8


# -- input ------------------------------------------------------------------------------------------

def is_dask_array(X) -> bool:
    """Whether X is a ``dask.array.Array``; asked of its type's module, so that numpy input never imports dask."""
    return any(c.__name__ == "Array" and c.__module__.startswith("dask.array") for c in type(X).__mro__)


def require_dask():
    """``dask.array``, or a :class:`pssc_fast.params.MissingExtraError` naming the extra that installs it."""
    try:
        import dask  # noqa: F401
        import dask.array as da
    except ImportError as exc:
        raise MissingExtraError(f"dask input needs the optional dask dependencies: {EXTRA} ({exc})") from exc
    return da


def check_rows(X, min_rows: int = 1):
    """X (a dask array) as rows with one chunk along the columns, checked as :func:`pssc_fast.large._as_rows`
    checks in-memory rows; the values themselves are checked chunk by chunk where they are read."""
    require_dask()
    if X.ndim < 2:
        raise InputValueError(f"X must be 2-D (samples, features) or image-shaped, got shape {X.shape}")
    if any(np.isnan(c) for c in X.chunks[0]):
        raise InputValueError("X has unknown chunk sizes along its rows; call X.compute_chunk_sizes() first")
    if X.dtype.kind not in "biuf":
        raise InputTypeError(f"X must hold real numbers, got a dask array of dtype {X.dtype}")
    if X.ndim > 2 or X.numblocks[1] != 1:
        # each chunk must hold whole rows: the encoder reads all of a row's features at once
        X = X.rechunk({i: -1 for i in range(1, X.ndim)}).reshape(X.shape[0], -1)
    if X.shape[0] < min_rows or X.shape[1] == 0:
        raise InputValueError(f"X needs at least {min_rows} sample{'s' if min_rows > 1 else ''} and 1 feature, "
                              f"got shape {X.shape}")
    return X


def gather_rows(X, index) -> np.ndarray:
    """Rows ``index`` (sorted) of a dask array, brought to the client: the anchors, or a sample."""
    return np.asarray(X[np.asarray(index)].compute())


# -- running: progress and reductions ------------------------------------------------------------------

def _client():
    """The active ``distributed.Client``, or None (the local scheduler runs the graph)."""
    try:
        from distributed import default_client
    except ImportError:
        return None
    try:
        return default_client()
    except ValueError:
        return None


def persist(x, verbose: bool = False):
    """``x.persist()`` on the active scheduler, with Dask's progress bar when ``verbose``: the chunks stay
    where they were computed (on the workers with a distributed client)."""
    client = _client()
    if client is None:
        if not verbose:
            return x.persist()
        from dask.diagnostics import ProgressBar

        with ProgressBar():
            return x.persist()
    x = x.persist()
    if verbose:
        from distributed import progress

        progress(x)
    return x


def _compute(items, verbose: bool) -> list:
    """The values of a list of delayed objects (small ones: they come to the client), with progress."""
    import dask

    client = _client()
    if client is None:
        if not verbose:
            return list(dask.compute(*items))
        from dask.diagnostics import ProgressBar

        with ProgressBar():
            return list(dask.compute(*items))
    futures = client.compute(items)
    if verbose:
        from distributed import progress

        progress(futures)
    return client.gather(futures)


def _add(*parts):
    """The element-wise sum of tuples of arrays (dense or scipy.sparse)."""
    return tuple(functools.reduce(operator.add, values) for values in zip(*parts))


def _tree_sum(parts):
    """One delayed sum of many delayed tuples, added :data:`SUM_WIDTH` at a time, so that no single task
    receives every chunk's part."""
    import dask

    while len(parts) > 1:
        parts = [dask.delayed(_add)(*parts[i:i + SUM_WIDTH]) for i in range(0, len(parts), SUM_WIDTH)]
    return parts[0]


# -- the fitted state the workers need ------------------------------------------------------------------

#: fitted attributes a worker reads to encode, search and label rows (all others stay on the client)
_WORKER_ATTRIBUTES = ("model_", "index_", "assign_space_", "anchor_labels_", "landmark_", "landmark_centers_",
                      "data_min_", "data_range_", "data_scaling_", "n_features_in_", "contrastive_encoder_",
                      "image_shape_")


def worker_state(model):
    """A shallow copy of a fitted :class:`pssc_fast.LargePSSC` with what a worker needs to label rows: the
    parameters and :data:`_WORKER_ATTRIBUTES` (not the N labels, the anchors' m x m coefficients, a starting
    auto-encoder or, for the library's fully-connected auto-encoder, the decoder)."""
    state = copy.copy(model)
    state.__dict__ = {k: v for k, v in model.__dict__.items()
                      if k in _WORKER_ATTRIBUTES or not k.endswith("_")}
    state.autoencoder, state.verbose = None, False
    state.code_dim_ = model.anchor_embedding_.shape[1]  # the codes' width, for an empty chunk
    if hasattr(state.model_, "without_decoder"):  # workers only encode: the decoder is half the weights
        state.model_ = state.model_.without_decoder()
    return state


def shipped_bytes(model) -> int:
    """Bytes of the pickled :func:`worker_state`: what each worker receives once per call."""
    return len(pickle.dumps(worker_state(model), protocol=pickle.HIGHEST_PROTOCOL))


def _shipped(model):
    """The worker state as one key of the task graph (a Delayed), so that it is sent once per worker."""
    import uuid

    import dask

    return dask.delayed(worker_state(model), pure=False, traverse=False,
                        name=f"pssc-state-{uuid.uuid4().hex}")


# -- what runs on one chunk of rows (module functions, so workers import them by name) --------------------

def _stacked(batches, width: int) -> np.ndarray:
    """The (start, vectors) batches of one chunk as one array ((0, width) for an empty chunk)."""
    parts = [V for _, V in batches]
    return np.concatenate(parts) if parts else np.empty((0, width), np.float32)


def _codes(block, state) -> np.ndarray:
    return _stacked(state._encode_batches(block, ""), state.code_dim_)


def _label_block(block, state) -> np.ndarray:
    return state._label_rows(block, desc="")[0]


def _neighbours_block(block, state) -> np.ndarray:
    # squared distances and anchor indices side by side, in float64 (exact for both), as one array
    sq_dist, nbrs = state._nearest_anchors(_stacked(state._assignment_batches(block, ""), state.index_.d))
    return np.hstack([sq_dist.astype(np.float64), nbrs.astype(np.float64)])


def _split(block, s: int):
    return block[:, s:].astype(np.int64), block[:, :s].astype(np.float32)


def _distance_block(block, s: int) -> tuple:
    return distance_sums(_split(block, s)[1])


def _gram_block(block, landmark, s: int, sigma: float) -> tuple:
    return landmark.gram_part(*_split(block, s), sigma)


def _embed_block(block, landmark, s: int) -> np.ndarray:
    return landmark.embed(*_split(block, s))


def _center_block(block, centers) -> np.ndarray:
    return nearest_center(block, centers)


# -- the estimator's steps ----------------------------------------------------------------------------

def predict(model, X):
    """Labels of the rows of a dask array X (checked by the caller) as a lazy int64 dask array with X's row
    chunks (:meth:`pssc_fast.LargePSSC.predict`)."""
    return X.map_blocks(_label_block, _shipped(model), drop_axis=1, dtype=np.int64,
                        meta=np.empty((0,), np.int64))


def transform(model, X):
    """Latent codes of the rows of a dask array X as a lazy float32 dask array with X's row chunks."""
    dim = model.anchor_embedding_.shape[1]
    return X.map_blocks(_codes, _shipped(model), chunks=(X.chunks[0], (dim,)), dtype=np.float32,
                        meta=np.empty((0, 0), np.float32))


def scan(X, batch: int, scale, verbose: bool) -> tuple:
    """:func:`pssc_fast.large._scan` over the chunks of a dask array: the extremes of each chunk on the
    workers, combined in row order on the client; the sampled rows gathered."""
    import dask

    offsets = np.concatenate([[0], np.cumsum(X.chunks[0])[:-1]]).astype(np.int64)
    parts = [dask.delayed(block_extremes, pure=True)(b, int(o)) for b, o in zip(X.to_delayed().ravel(), offsets)]
    extremes = combine_extremes(_compute(parts, verbose))
    sample = gather_rows(X, sample_rows(*X.shape)).astype(np.float64)
    return scaling_from_scan(extremes, sample, X.shape[0], scale)


class ChunkStream:
    """Pre-training batches of ``batch_size`` rows from a dask array, read a chunk at a time: each pass visits
    the chunks in a fresh seeded order and a chunk's rows in a random order, batches run on across chunk
    boundaries, and the next chunk is computed (on the active scheduler) while the current one trains.
    ``rows`` maps a chunk to scaled float32 rows. The client holds about two chunks of rows at a time.

    Random batches over all rows, as the in-memory path draws them, would need every chunk for every batch;
    this reads only as many rows as the pre-training budget sees."""

    def __init__(self, X, batch_size: int, rng, rows):
        self.blocks = X.to_delayed().ravel()
        self.batch_size = int(batch_size)
        self.rng = rng
        self.rows = rows
        self.n_features = X.shape[1]
        self._batches = self._generate()

    def __iter__(self):
        return self

    def __next__(self) -> np.ndarray:
        return next(self._batches)

    def close(self) -> None:
        """Stop reading (the chunk being read ahead is finished, then dropped)."""
        self._batches.close()

    def _order(self):
        while True:
            yield from self.rng.permutation(len(self.blocks))

    def _generate(self):
        order = self._order()
        carry = np.empty((0, self.n_features), np.float32)
        with ThreadPoolExecutor(1) as pool:
            ahead = pool.submit(self.blocks[next(order)].compute)
            while True:
                block = ahead.result()
                ahead = pool.submit(self.blocks[next(order)].compute)
                if block.shape[0] == 0:
                    continue
                block = self.rows(block)
                carry = np.concatenate([carry, block[self.rng.permutation(block.shape[0])]])
                while carry.shape[0] >= self.batch_size:
                    batch, carry = carry[:self.batch_size], carry[self.batch_size:]
                    yield np.ascontiguousarray(batch)


def fit_labels(model, X, seed: int) -> tuple:
    """The training rows' labels of a :class:`pssc_fast.LargePSSC` being fitted on a dask array X (anchors
    fitted, ``index_`` built), persisted on the scheduler as a dask array, and the cluster sizes. With
    ``labeling="landmark"`` it also sets ``landmark_`` and ``landmark_centers_``."""
    verbose = bool(model.verbose)
    k = int(model.n_clusters)
    if model.labeling == "anchors":
        labels = persist(predict(model, X), verbose)
    else:
        labels = _fit_landmark(model, X, seed, verbose)
    da = require_dask()
    return labels, da.bincount(labels, minlength=k).compute()


def _fit_landmark(model, X, seed: int, verbose: bool):
    import dask

    s, k = int(model.landmark_neighbors), int(model.n_clusters)
    nn = persist(X.map_blocks(_neighbours_block, _shipped(model), chunks=(X.chunks[0], (2 * s,)),
                               dtype=np.float64, meta=np.empty((0, 0), np.float64)), verbose)
    blocks = nn.to_delayed().ravel()
    sums = _compute([dask.delayed(_distance_block, pure=True)(b, s) for b in blocks], verbose)
    sigma = bandwidth(sum(t for t, _ in sums), sum(c for _, c in sums))
    landmark = LandmarkSpectral(len(model.anchor_indices_), k, random_state=seed)
    shared = dask.delayed(landmark, pure=False, traverse=False)
    lam, gram = _compute([_tree_sum([dask.delayed(_gram_block)(b, shared, s, sigma) for b in blocks])], verbose)[0]
    landmark.fit_sums(sigma, lam, gram)  # the m x m eigenproblem, on the client
    shared = dask.delayed(landmark, pure=False, traverse=False)
    dim = landmark.projection_.shape[1]
    U = persist(nn.map_blocks(_embed_block, shared, s, chunks=(nn.chunks[0], (dim,)), dtype=np.float32,
                               meta=np.empty((0, 0), np.float32)), verbose)
    del nn
    centers = _chunked_kmeans(U, k, seed).cluster_centers_.astype(np.float32)
    model.landmark_, model.landmark_centers_ = landmark, centers
    # nearest centre, exactly as predict labels a row
    return persist(U.map_blocks(_center_block, centers, drop_axis=1, dtype=np.int64,
                                 meta=np.empty((0,), np.int64)), verbose)


def _chunked_kmeans(U, k: int, seed: int):
    """k-means on the rows of a dask array: seeded k-means (10 restarts) on :data:`KMEANS_SAMPLE` of them,
    then one pass of scikit-learn's MiniBatchKMeans.partial_fit over the chunks (each brought to the client
    in turn) from those centres. Up to :data:`KMEANS_SAMPLE` rows the first k-means is the answer."""
    from sklearn.cluster import MiniBatchKMeans
    from threadpoolctl import threadpool_limits

    from .spectral import fit_kmeans

    n = U.shape[0]
    if n <= KMEANS_SAMPLE:
        return fit_kmeans(np.asarray(U.compute()), k, 10, seed)
    rng = np.random.default_rng(seed)
    start = fit_kmeans(gather_rows(U, np.sort(rng.choice(n, size=KMEANS_SAMPLE, replace=False))), k, 10, seed)
    km = MiniBatchKMeans(k, init=start.cluster_centers_, n_init=1, batch_size=KMEANS_BATCH, random_state=seed)
    with threadpool_limits(limits=1):  # as fit_kmeans: OpenMP threads only wait on each other here
        for block in U.to_delayed().ravel():
            rows = np.asarray(block.compute())
            for i in range(0, rows.shape[0], KMEANS_BATCH):
                km.partial_fit(rows[i:i + KMEANS_BATCH])
    return km


# -- files: a Zarr store or .npy shards -----------------------------------------------------------------

def is_chunked_source(path: str) -> bool:
    """Whether ``path`` names chunked rows: a glob of .npy shards or a Zarr store (``*.zarr`` or a folder
    holding Zarr metadata)."""
    p = Path(path)
    return (any(c in path for c in "*?[") or p.suffix.lower() == ".zarr"
            or (p.is_dir() and any((p / f).exists() for f in ("zarr.json", ".zarray", ".zgroup"))))


def open_rows(source: str):
    """The rows of a Zarr array (its chunks are the dask chunks) or of the .npy files a glob matches (one
    chunk per file, in sorted name order; each file must be readable by the workers) as a dask array.
    InputValueError in one line for anything unreadable."""
    da = require_dask()
    import dask

    if any(c in source for c in "*?["):
        files = sorted(glob.glob(source))
        if not files:
            raise InputValueError(f"{source}: no file matches")
        shards = []
        for f in files:
            if not f.lower().endswith(".npy"):
                raise InputValueError(f"{source}: {f} is not a .npy file; shards must be .npy files")
            try:
                head = np.load(f, mmap_mode="r")  # reads the header only
            except (OSError, ValueError) as exc:
                raise InputValueError(f"{f}: not a readable .npy file ({exc})") from exc
            if head.ndim < 2 or (shards and (head.shape[1:] != shards[0].shape[1:] or head.dtype != shards[0].dtype)):
                raise InputValueError(f"{f}: shape {head.shape}, dtype {head.dtype}; every shard must hold rows of "
                                      f"the same shape and dtype" + (f" as {files[0]} ({shards[0].shape[1:]}, "
                                      f"{shards[0].dtype})" if shards else " (2-D or more)"))
            shards.append(da.from_delayed(dask.delayed(np.load, pure=True)(f), head.shape, head.dtype))
        return da.concatenate(shards)
    try:
        import zarr  # noqa: F401
    except ImportError as exc:
        raise MissingExtraError(f"reading a Zarr store needs the optional dask dependencies: {EXTRA} ({exc})") from exc
    if not Path(source).exists():
        raise InputValueError(f"{source}: not found")
    try:
        return da.from_zarr(source)
    except Exception as exc:  # zarr raises its own types for a group, a broken store, ...
        raise InputValueError(f"{source}: not a readable Zarr array ({type(exc).__name__}: {exc})") from exc
