"""LargePSSC on dask arrays (pssc_fast.parallel): the same labels as the in-memory path, on a real
distributed.LocalCluster of two one-thread worker processes and on the threaded scheduler; a worker killed
mid-predict loses and duplicates nothing; the CLI on Zarr and .npy shards; a clear error without the extra."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cloudpickle
import dask
import dask.array as da
import numpy as np
import pytest
import torch
from distributed import Client, LocalCluster, futures_of

from pssc_fast import cli, parallel
from pssc_fast.datasets import make_subspaces
from pssc_fast.large import fit_large
from pssc_fast.metrics import acc
from pssc_fast.params import MissingExtraError

pytestmark = [pytest.mark.filterwarnings("ignore:the pre-trained auto-encoder explains:UserWarning"),
              pytest.mark.usefixtures("one_torch_thread")]

ROOT = Path(__file__).resolve().parents[1]
# as tests/test_large.py: a linear auto-encoder, a short pre-training, few anchors
FAST = dict(hidden_dims=(), latent_dim=20, coef_l2=0.1, pretrain_samples=12_000, batch_size=64, epochs=60,
            q=3, encode_batch_size=97)
# the helpers below run on the workers, which cannot import this test module by name
cloudpickle.register_pickle_by_value(sys.modules[__name__])


@pytest.fixture(scope="module")
def client():
    # the workers import pssc_fast from this checkout, as the test process does
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
           "OMP_NUM_THREADS": "1"}
    # distributed's nannies write MALLOC_TRIM_THRESHOLD_ and MKL_NUM_THREADS into this process's environment,
    # which later tests' subprocesses would inherit (tests/test_reliability.py measures glibc's defaults)
    saved = dict(os.environ)
    try:
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, memory_limit="1GiB",
                          dashboard_address=None, env=env) as cluster, Client(cluster) as c:
            yield c
    finally:
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture(scope="module")
def data():
    return make_subspaces(1000, 4, 3, 30, noise=0.01, random_state=0)


@pytest.fixture(scope="module", params=["anchors", "landmark"])
def fitted(request, data):
    """A model fitted in memory, with each labeling."""
    return fit_large(data[0], 4, anchors=200, random_state=0, labeling=request.param, **FAST)


def test_predict_and_transform_match_in_memory_on_a_local_cluster(client, data, fitted):
    X = data[0]
    Xd = da.from_array(X, chunks=(130, 10))  # uneven row chunks, and split columns (rechunked to one)
    labels, codes = fitted.predict(Xd), fitted.transform(Xd)
    assert isinstance(labels, da.Array) and labels.chunks == (Xd.chunks[0],) and labels.dtype == np.int64
    assert codes.chunks == (Xd.chunks[0], (20,))
    np.testing.assert_array_equal(labels.compute(), fitted.predict(X))
    np.testing.assert_array_equal(labels.compute(), fitted.labels_)
    np.testing.assert_array_equal(codes.compute(), fitted.transform(X))


def test_empty_chunks_give_empty_blocks(fitted, data):
    X = da.concatenate([da.from_array(data[0][:0], chunks=1), da.from_array(data[0][:50], chunks=50)])
    assert fitted.transform(X).compute().shape == (50, 20)
    np.testing.assert_array_equal(fitted.predict(X).compute(), fitted.predict(data[0][:50]))


def test_fitted_state_is_one_key_of_the_graph(fitted, data):
    labels = fitted.predict(da.from_array(data[0], chunks=100))
    (optimized,) = dask.optimize(labels)
    graph = dict(optimized.__dask_graph__())
    state_keys = [k for k in graph if str(k).startswith("pssc-state-")]
    assert len(state_keys) == 1  # one key every chunk's task depends on: sent once per worker, not per chunk
    assert 0 < parallel.shipped_bytes(fitted) < 200_000
    state = parallel.worker_state(fitted)
    assert not hasattr(state, "labels_")
    # workers only encode: the shipped auto-encoder has no decoder weights, the fitted one keeps its own
    assert not list(state.model_.decoder.parameters()) and list(fitted.model_.decoder.parameters())


@pytest.mark.parametrize("labeling", ["anchors", "landmark"])
def test_fit_on_a_local_cluster_labels_as_its_model_predicts_in_memory(client, data, labeling):
    X, y = data
    model = fit_large(da.from_array(X, chunks=150), 4, anchors=200, random_state=0, labeling=labeling, **FAST)
    assert isinstance(model.labels_, da.Array) and futures_of(model.labels_)  # persisted on the workers
    labels = model.labels_.compute()
    np.testing.assert_array_equal(labels, model.predict(X))
    assert acc(y, labels) >= 0.9
    assert model.anchor_indices_.shape == (200,) and model.n_features_in_ == 30


def test_landmark_fit_with_minibatch_kmeans_over_chunks(data, monkeypatch):
    # threaded scheduler; a sample below N, so the k-means runs on through MiniBatchKMeans.partial_fit
    monkeypatch.setattr(parallel, "KMEANS_SAMPLE", 300)
    monkeypatch.setattr(parallel, "KMEANS_BATCH", 100)
    X, y = data
    model = fit_large(da.from_array(X, chunks=200), 4, anchors=200, random_state=0, labeling="landmark", **FAST)
    labels = model.labels_.compute()
    np.testing.assert_array_equal(labels, model.predict(X))
    assert acc(y, labels) >= 0.9


def test_nan_in_a_chunk_is_the_users_error(data):
    X = data[0].copy()
    X[777, 3] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite"):
        fit_large(da.from_array(X, chunks=100), 4, anchors=50, **FAST)


def _slow_rows(block):
    time.sleep(0.1)  # long enough that a worker can be killed while chunks remain
    return block


def test_killed_worker_loses_and_duplicates_no_rows(client, data, fitted):
    X = data[0]
    clean = fitted.predict(X)
    Xd = da.from_array(X, chunks=25).map_blocks(_slow_rows, dtype=X.dtype)  # 40 chunks
    labels = client.persist(fitted.predict(Xd))
    futures = futures_of(labels)
    while sum(f.done() for f in futures) < 4:
        time.sleep(0.01)
    pid = next(iter(client.run(os.getpid).values()))
    done_at_kill = sum(f.done() for f in futures)
    os.kill(pid, signal.SIGKILL)
    result = labels.compute()
    assert done_at_kill < len(futures)  # the kill came mid-run
    assert result.shape == clean.shape
    np.testing.assert_array_equal(result, clean)


def test_dask_input_without_the_extra_names_it(fitted, data, monkeypatch):
    Xd = da.from_array(data[0], chunks=100)
    monkeypatch.setitem(sys.modules, "dask", None)  # what `import dask` meets when it is not installed
    monkeypatch.setitem(sys.modules, "dask.array", None)
    with pytest.raises(MissingExtraError, match=r'pip install "pssc_fast\[dask\]"'):
        fitted.predict(Xd)
    with pytest.raises(ImportError, match=r"pssc_fast\[dask\]"):
        fit_large(Xd, 4, anchors=50)


def test_library_imports_and_fits_without_dask():
    code = ("import sys\n"
            "for name in ('dask', 'dask.array', 'distributed', 'zarr'): sys.modules[name] = None\n"
            "import numpy as np, pssc_fast.cli\n"
            "from pssc_fast import fit_large\n"
            "X = np.random.default_rng(0).random((60, 5))\n"
            "m = fit_large(X, 2, anchors=30, pretrain_samples=0, epochs=2, hidden_dims=(), random_state=0)\n"
            "print(m.predict(X).shape)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT,
                         env=dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT)))
    assert out.returncode == 0, out.stderr
    assert "(60,)" in out.stdout


def test_cli_without_the_extra_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "dask", None)
    monkeypatch.setitem(sys.modules, "dask.array", None)
    code = cli.main(["fit", str(tmp_path / "rows.zarr"), "--k", "2", "--out", str(tmp_path / "l.npy")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and 'pip install "pssc_fast[dask]"' in err


def test_cli_fit_zarr_and_predict_shards_on_the_cluster(client, data, tmp_path, capsys):
    X, y = data
    da.from_array(X.astype(np.float32), chunks=(250, 30)).to_zarr(str(tmp_path / "rows.zarr"))
    for i, part in enumerate(np.array_split(X, 3)):
        np.save(tmp_path / f"shard{i}.npy", part)
    model = tmp_path / "m.joblib"
    assert cli.main(["fit", str(tmp_path / "rows.zarr"), "--k", "4", "--anchors", "200", "--pretrain-samples",
                     "12000", "--out", str(tmp_path / "fit.zarr"), "--save-model", str(model), "--quiet"]) == 0
    fit_labels = da.from_zarr(str(tmp_path / "fit.zarr")).compute()
    assert fit_labels.shape == (1000,)
    # the shards, on the running cluster by its address; labels to a .npy file, codes to Zarr
    assert cli.main(["predict", str(model), str(tmp_path / "shard*.npy"), "--scheduler", client.scheduler.address,
                     "--out", str(tmp_path / "p.npy"), "--codes", str(tmp_path / "codes.zarr"), "--quiet"]) == 0
    np.testing.assert_array_equal(np.load(tmp_path / "p.npy"), fit_labels)
    assert da.from_zarr(str(tmp_path / "codes.zarr")).shape[0] == 1000
    assert "1000 samples labelled" in capsys.readouterr().out


@pytest.mark.parametrize("args, message", [
    (["{tmp}/none*.npy"], "no file matches"),
    (["{tmp}/x.npy", "--workers", "2"], "--scheduler and --workers read a Zarr store or a glob"),
    (["{tmp}/*.npy", "--workers", "2", "--scheduler", "tcp://127.0.0.1:1"], "not both"),
    (["{tmp}/missing.zarr"], "not found"),
])
def test_cli_chunked_input_errors_are_one_line(tmp_path, capsys, args, message):
    np.save(tmp_path / "x.npy", np.zeros((10, 3)))
    argv = ["fit", *[a.format(tmp=tmp_path) for a in args], "--k", "2", "--out", str(tmp_path / "l.npy")]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("pssc-fast: error:") and err.count("\n") == 1 and message in err


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("labeling", ["anchors", "landmark"])
def test_rows_assigned_in_the_input_space_through_dask(client, labeling):
    from sklearn.datasets import make_blobs

    from pssc_fast.models import FCAutoEncoder

    X, _ = make_blobs(300, n_features=6, centers=4, random_state=3)
    torch.manual_seed(0)
    ae = FCAutoEncoder(6, (8,), 3)
    with torch.no_grad():
        ae.encoder[-1].weight.mul_(1e-4)  # codes that carry nothing: the input's LSR is kept
    model = fit_large(X, 4, anchors=60, hidden_dims=(8,), latent_dim=3, autoencoder=ae, pretrain_samples=0,
                      labeling=labeling, random_state=0)
    assert model.assign_space_ == "input"
    np.testing.assert_array_equal(model.predict(da.from_array(X, chunks=70)).compute(), model.labels_)
    dask_fit = fit_large(da.from_array(X, chunks=70), 4, anchors=60, hidden_dims=(8,), latent_dim=3, autoencoder=ae,
                         pretrain_samples=0, labeling=labeling, random_state=0)
    assert dask_fit.assign_space_ == "input"
    np.testing.assert_array_equal(dask_fit.labels_.compute(), dask_fit.predict(X))
