"""What several bench scripts share: the released post-processing, ported as a baseline (not library code),
and the paper runs' datasets, parameters and one-run-per-process machinery (paper_tables, paper_grid,
paper_figures, finetune_speed).

The scripts run with ``bench/`` on ``sys.path`` and import it as ``_common``; no script imports another."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

#: the stages every post-processing pipeline is timed by
STAGES = ("threshold", "svd", "affinity", "spectral")


def released_thrC(C, ro):
    """The released DSC/PSSC ``thrC``: per column, sort, then a Python loop accumulating the mass."""
    if ro < 1:
        N = C.shape[1]
        Cp = np.zeros((N, N))
        S = np.abs(np.sort(-np.abs(C), axis=0))
        Ind = np.argsort(-np.abs(C), axis=0)
        for i in range(N):
            cL1 = np.sum(S[:, i]).astype(float)
            stop = False
            csum = 0
            t = 0
            while not stop:
                csum = csum + S[t, i]
                if csum > ro * cL1:
                    stop = True
                    Cp[Ind[0:t + 1, i], i] = C[Ind[0:t + 1, i], i]
                t = t + 1
    else:
        Cp = C
    return Cp


def released_pipeline(C, K, *, q, alpha, ro, seed, timings=None, signed=False):
    """The released post-processing (thrC + post_proC), one SpectralClustering call, timed per stage
    (``STAGES``) into ``timings`` when given. ``signed``: S = (C + C^T)/2 as the DSC-Net port's post_proC
    does, instead of (|C| + |C|^T)/2 (the PSSC release)."""
    from scipy.sparse.linalg import svds
    from sklearn.cluster import SpectralClustering
    from sklearn.preprocessing import normalize

    t0 = time.perf_counter()
    Cp = released_thrC(C, ro)
    S = 0.5 * (Cp + Cp.T) if signed else 0.5 * (np.abs(Cp) + np.abs(Cp.T))
    del Cp
    t1 = time.perf_counter()
    r = q * K + 1
    U, s, _ = svds(S, r, v0=np.ones(S.shape[0]))
    del S
    t2 = time.perf_counter()
    U = U[:, ::-1]
    s = np.sqrt(s[::-1])
    U = U.dot(np.diag(s))
    U = normalize(U, norm="l2", axis=1)
    Z = U.dot(U.T)
    Z = Z * (Z > 0)
    L = np.abs(Z ** alpha)
    del Z
    L = L / L.max()
    L = 0.5 * (L + L.T)
    t3 = time.perf_counter()
    spectral = SpectralClustering(n_clusters=K, eigen_solver="arpack", affinity="precomputed",
                                  assign_labels="discretize", random_state=seed)
    labels = spectral.fit_predict(L)
    t4 = time.perf_counter()
    for name, dt in zip(STAGES, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
        if timings is not None:
            timings[name] = dt
    return np.asarray(labels)


# -- the paper runs: datasets, parameters, one run per process ---------------------------------------
RESULTS = Path(__file__).resolve().parent / "results"
PAPER_TABLES = Path(__file__).resolve().parent / "paper_tables.py"
DATASETS = ("orl", "coil20", "mnist1k")
VARIANT_NAMES = {"dsc-l2": "DSC-L2", "pssc-l": "PSSC_l", "pssc": "PSSC"}
# Figures the issue quotes for a public PyTorch port of DSC-Net (conv nets as Table II, 2 threads, full batch):
# seconds per fine-tuning epoch and peak resident memory. Quoted in the table's text only; the comparison is
# measured side by side by bench/finetune_speed.py.
DSCNET_PORT = {"orl": {"s_per_epoch": 0.0151, "peak_rss_mib": 522},
               "coil20": {"s_per_epoch": 0.297, "peak_rss_mib": 872}}

def load_dataset(name: str, data_dir):
    """(X images (n, 1, H, W) float32 as stored, y) for one of DATASETS."""
    from pssc_fast.datasets import load_mat, load_mnist

    data_dir = Path(data_dir)
    if name == "orl":
        X, y = load_mat(data_dir / "ORL_32x32.mat")
        side = 32
    elif name == "coil20":
        X, y = load_mat(data_dir / "COIL20.mat")
        side = 32
    elif name == "mnist1k":
        X, y = load_mnist(data_dir, n_per_class=100)
        side = 28
    else:
        raise ValueError(name)
    # The .mat files store each 32x32 image column-major (MATLAB); transposing makes it upright. The
    # conv net does not care, but figures do, and it is the natural orientation.
    X = X.reshape(-1, 1, side, side)
    if name in ("orl", "coil20"):
        X = X.transpose(0, 1, 3, 2)
    return np.ascontiguousarray(X), y


def autoencoder_from_state(params: dict, X, state: dict):
    """The auto-encoder ``PSSC(**params)`` builds for X, with the weights ``state`` (a cached pre-training)."""
    from pssc_fast import PSSC

    shape_only = PSSC(**{**params, "pretrain_epochs": 0, "autoencoder": None})
    model = shape_only.pretrained_autoencoder(X)  # a fresh net of the right shape: 0 epochs
    model.load_state_dict(state)
    return model


def estimator_params(dataset: str, variant: str, seed: int, overrides: dict | None = None) -> dict:
    """The parameters of one run: the dataset's configuration, the variant's switches, the seed."""
    from pssc_fast.estimator import VARIANTS, load_config

    params = dict(load_config(dataset)["params"])
    params.update(VARIANTS[variant])
    params.update(overrides or {})
    params["random_state"] = int(seed)
    return params


# -- one run of the paper's protocol, in a child process ------------------------------------------------------------------
def run_one(spec: dict) -> dict:
    """Fit one estimator (called in a fresh process); returns scores, timings and peak RSS."""
    import resource

    import torch

    torch.set_num_threads(int(spec.get("threads", 2)))
    from pssc_fast.metrics import scores

    X, y = load_dataset(spec["dataset"], spec["data_dir"])
    params = estimator_params(spec["dataset"], spec["variant"], spec["seed"], spec.get("overrides"))
    params["n_clusters"] = int(len(np.unique(y)))
    if spec.get("max_epochs"):
        params["epochs"] = min(int(params["epochs"]), int(spec["max_epochs"]))
    from pssc_fast import PSSC

    est = PSSC(**params)
    # The three variants share the pre-trained auto-encoder of a (dataset, seed): pre-train once
    # (PSSC.pretrained_autoencoder: what fit does, same seeding) and hand it to the estimator with
    # pretrain_epochs=0. Its pre-training seconds are added to every run's time.
    pretrain_seconds = 0.0
    if spec.get("share_pretrain", True):
        state, pretrain_seconds = pretrained(est, X, params, spec)
        est.set_params(autoencoder=autoencoder_from_state(params, X, state), pretrain_epochs=0)
    start, cpu_start = time.perf_counter(), time.process_time()
    est.fit(X)
    cpu_fit = time.process_time() - cpu_start  # fine-tuning + clustering (pre-training is shared, outside)
    seconds = time.perf_counter() - start + pretrain_seconds
    est.timings_["pretrain"] += pretrain_seconds
    out = {**{k: spec[k] for k in ("dataset", "variant", "seed")}, "overrides": spec.get("overrides") or {},
           **scores(y, est.labels_), "seconds": seconds, "timings": est.timings_,
           "epochs": int(params["epochs"]), "s_per_epoch": est.timings_["finetune"] / int(params["epochs"]),
           "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
           "cpu_seconds_fit": cpu_fit, "cpu_s_per_epoch": cpu_fit / int(params["epochs"]),
           "n_clusters_found": int(len(np.unique(est.labels_))),
           "final_loss": est.history_[-1] if est.history_ else None}
    if spec.get("save_state"):
        path = Path(spec["save_state"])
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"model": est.model_.state_dict(), "affinity": est.affinity_, "labels": est.labels_,
                    "coef": est.coef_, "embedding": est.embedding_, "params": params}, path)
    return out


def pretrained(est, X, params: dict, spec: dict):
    """(state_dict, seconds) of the auto-encoder pre-trained for this dataset and seed, cached on disk."""
    key = "_".join(str(v) for v in (spec["dataset"], spec["seed"], params["channels"], params["kernel_sizes"],
                                    params["pretrain_epochs"], params["pretrain_lr"], params["batch_size"],
                                    True))  # True: linear decoder output (kept so older caches stay valid)
    key = "".join(c if c.isalnum() or c in "_-." else "" for c in key)
    path = RESULTS / "paper_cache" / f"{key}.pt"
    path.parent.mkdir(parents=True, exist_ok=True)
    import fcntl

    with open(path.with_suffix(".lock"), "w") as lock:  # parallel runs of one (dataset, seed) pre-train once
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _pretrained_locked(est, X, params, path)


def _pretrained_locked(est, X, params: dict, path: Path):
    import torch

    if path.is_file():
        saved = torch.load(path, weights_only=False)
        return saved["state"], saved["seconds"]
    start = time.perf_counter()
    model = est.pretrained_autoencoder(X)
    seconds = time.perf_counter() - start
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    torch.save({"state": model.state_dict(), "seconds": seconds}, tmp)
    os.replace(tmp, path)
    return model.state_dict(), seconds


def run_in_child(spec: dict, cache: Path | None) -> dict:
    """One run (:func:`run_one`, or paper_tables' large-data run for ``spec["large"]``) in a fresh process;
    its result is read from, or written to, the JSON file ``cache`` when given."""
    from provenance import provenance

    if cache is not None and cache.is_file():
        return json.loads(cache.read_text())
    # the child is paper_tables.py --child: run by path in a fresh process (its peak RSS is the run's own)
    proc = subprocess.run([sys.executable, str(PAPER_TABLES), "--child", json.dumps(spec)], capture_output=True,
                          text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"run {spec} failed:\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["provenance"] = provenance()
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps(result, indent=1))
    return result
