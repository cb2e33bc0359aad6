"""Clustering quality board: pssc_fast's defaults against what a user would otherwise pick, on the same input.

    OMP_NUM_THREADS=1 python bench/quality.py --data-dir ../shared/data [--seeds 0 1 2] [--jobs 2]
        [--datasets digits orl coil20 mnist1k subspaces blobs] [--epochs N] [--out bench/results]

One (dataset, seed) is one task: a child process with one thread, its result written to
``<out>/quality_runs/<dataset>_s<seed>.json`` as soon as it ends (a rerun skips finished tasks unless
``--fresh``). The board (``quality.json``, ``quality.md``, ``quality.png``) is rebuilt from those files.

Rows, each ACC / NMI / purity mean +- std over the seeds and seconds per run:
  k-means          scikit-learn KMeans (10 restarts) on the input as PSSC scales it;
  k-NN spectral    scikit-learn SpectralClustering, 10-NN connectivity graph;
  LSR              ridge self-expression on the input's unit-norm rows, C = G (G + lam I)^-1 with lam the K-th
                   eigenvalue of G (``pssc_fast.train.shallow_coefficients``, the estimators' input candidate), then
                   ``cluster_coefficients`` with the library's default post-processing;
  AE + k-means     KMeans on the codes of the auto-encoder PSSC pre-trains (the same pre-training);
  LSR on codes     LSR as above on those codes;
  DSC-L2 / PSSC_l / PSSC   ``PSSC.variant(...)`` with every other parameter at its default (DSC-L2 is the
                   default objective: ``PSSC(n_clusters=K)`` fits exactly that row), fine-tuned
                   from that one pre-training; "(network only)" is the same fit's network candidate, before
                   the normalized cut chooses between it and the input's LSR (``shallow_candidate``);
  DSC-Net preset   (ORL, COIL20) DSC-Net's released auto-encoder with the released DSC-L2 settings
                   (``PSSC.from_config("dscnet-orl" | "dscnet-coil20")``): the fidelity check (``--check``
                   exits 1 when its mean ACC is under ``FIDELITY``). Those settings were chosen by their authors
                   against labels; the row is for reproduction;
  same C: ...      that preset's C clustered by ``cluster_coefficients`` at the released q / alpha / ro (and
                   no diagonal shift) and by the DSC-Net port's own post-processing (bench/_common.py).

Images (ORL, COIL20, MNIST-1k) go to PSSC as (n, 1, H, W) arrays, so PSSC uses its convolutional
auto-encoder; digits, the synthetic warped subspaces and the blobs are vectors. Labels only score.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from _common import released_pipeline
from provenance import ROOT, provenance

DATASETS = ("digits", "orl", "coil20", "mnist1k", "subspaces", "blobs")
IMAGE_SHAPES = {"orl": (1, 32, 32), "coil20": (1, 32, 32), "mnist1k": (1, 28, 28)}
DSCNET = {"orl": "dscnet-orl", "coil20": "dscnet-coil20"}
ROWS = ("k-means", "k-NN spectral", "LSR", "AE + k-means", "LSR on codes", "DSC-L2 (network only)",
        "PSSC_l (network only)", "PSSC (network only)", "DSC-L2", "PSSC_l", "PSSC", "DSC-Net preset",
        "same C: cluster_coefficients", "same C: released post-processing")
#: fidelity floors (mean ACC of the DSC-Net preset rows) that ``--check`` enforces: the issue's targets, a
#: little under what DSC-Net's port reports (ORL 0.855, COIL20 0.91)
FIDELITY = {"orl": 0.83, "coil20": 0.88}
BASELINES = ROWS[:5]
VARIANTS = {"DSC-L2": "dsc-l2", "PSSC_l": "pssc-l", "PSSC": "pssc"}


def load(name: str, data_dir: Path):
    """(X, y, image_shape or None) of a board dataset; X as the files store it."""
    from pssc_fast import datasets as D

    if name == "digits":
        X, y = D.load_digits()
    elif name == "orl":
        X, y = D.load_mat(data_dir / "ORL_32x32.mat")
    elif name == "coil20":
        X, y = D.load_mat(data_dir / "COIL20.mat")
    elif name == "mnist1k":
        X, y = D.load_mnist(data_dir, 100)
    elif name == "subspaces":  # six 5-dimensional subspaces through a random 2-layer tanh network, 100-D
        X, y = D.make_subspaces(720, 6, 5, 30, warp=True, warp_dim=100, random_state=0)
    elif name == "blobs":  # three well-separated Gaussian blobs, 60 points in 5-D
        from sklearn.datasets import make_blobs

        X, y = make_blobs(60, n_features=5, centers=3, random_state=0)
    else:
        raise ValueError(f"unknown dataset {name!r}")
    return np.asarray(X, dtype=np.float32), np.asarray(y), IMAGE_SHAPES.get(name)


def run_task(name: str, seed: int, data_dir: Path, epochs: int | None) -> dict:
    """Every row of the board for one dataset and seed."""
    import torch
    from sklearn.cluster import KMeans, SpectralClustering

    from pssc_fast import PSSC
    from pssc_fast.affinity import cluster_coefficients
    from pssc_fast.estimator import VARIANTS as VARIANT_TERMS
    from pssc_fast.metrics import scores
    from pssc_fast.train import shallow_coefficients
    from pssc_fast.models import load_dscnet_autoencoder

    started = provenance()  # the code this run imports is the code at its start
    X, y, shape = load(name, data_dir)
    K = int(len(np.unique(y)))
    X_in = X if shape is None else X.reshape(-1, *shape)
    rows = {}

    def timed(row, fn):
        t0 = time.perf_counter()
        labels = fn()
        rows[row] = {**scores(y, labels), "seconds": time.perf_counter() - t0}

    base = PSSC(n_clusters=K, random_state=seed, **({} if epochs is None else {"epochs": epochs}))
    X_scaled, _ = base.prepare(X_in)  # the input exactly as PSSC sees it
    timed("k-means", lambda: KMeans(K, n_init=10, random_state=seed).fit_predict(X_scaled))
    timed("k-NN spectral", lambda: SpectralClustering(K, affinity="nearest_neighbors", n_neighbors=10,
                                                      random_state=seed).fit_predict(X_scaled))
    timed("LSR", lambda: cluster_coefficients(shallow_coefficients(torch.from_numpy(X_scaled), K).numpy(), K,
                                                    random_state=seed))

    t0 = time.perf_counter()
    ae = base.pretrained_autoencoder(X_in)
    pretrain_seconds = time.perf_counter() - t0
    with torch.no_grad():
        Xt = torch.from_numpy(X_scaled)
        codes = ae.encode(Xt).double().numpy()
        residual = float(((ae.decode(ae.encode(Xt)) - Xt) ** 2).sum())
    explained = 1.0 - residual / float(((X_scaled - X_scaled.mean(0)) ** 2).sum())
    timed("AE + k-means", lambda: KMeans(K, n_init=10, random_state=seed).fit_predict(codes))
    timed("LSR on codes", lambda: cluster_coefficients(shallow_coefficients(torch.from_numpy(codes), K).numpy(), K,
                                                                    random_state=seed))
    for row in ("AE + k-means", "LSR on codes"):
        rows[row]["seconds"] += pretrain_seconds

    params = base.get_params()
    params.update(autoencoder=ae, pretrain_epochs=0)
    for row, variant in VARIANTS.items():
        est = PSSC.variant(variant, **{k: v for k, v in params.items() if k not in VARIANT_TERMS[variant]})
        t0 = time.perf_counter()
        est.fit(X_in)
        rows[row] = {**scores(y, est.labels_), "seconds": time.perf_counter() - t0 + pretrain_seconds,
                     "chosen": est.chosen_, "normalized_cuts": est.normalized_cuts_, "coef_l2": est.coef_l2_,
                     "coef_lr": est.coef_lr_, "final_loss": est.history_[-1]}
        # the same fit's network candidate alone (shallow_candidate=False would give exactly these labels)
        rows[row + " (network only)"] = {**scores(y, est.candidate_labels_["network"]), "seconds": rows[row]["seconds"]}

    if name in DSCNET:
        weights = data_dir / "dscnet_pretrained" / f"{name}.npz"
        if weights.is_file():
            X_raw = X.reshape(-1, *shape)  # as the .mat stores it: the released nets were trained on that
            est = PSSC.from_config(DSCNET[name], n_clusters=K, random_state=seed,
                                   autoencoder=load_dscnet_autoencoder(weights, shape))
            t0 = time.perf_counter()
            est.fit(X_raw)
            rows["DSC-Net preset"] = {**scores(y, est.labels_), "seconds": time.perf_counter() - t0}
            # the post-processing alone, on this same C with the released settings: the library's default
            # (no diagonal shift) against the DSC-Net port's own post-processing
            post = {"q": est.q, "alpha": est.alpha, "ro": est.ro}
            timed("same C: cluster_coefficients", lambda: cluster_coefficients(est.coef_, K, random_state=seed, **post))
            timed("same C: released post-processing",
                  lambda: released_pipeline(est.coef_.astype(np.float64), K, seed=seed, signed=True, **post))
    return {"dataset": name, "seed": seed, "n": int(X.shape[0]), "k": K, "rows": rows,
            "pretrain_explained_variance": explained, "provenance": started}


def summarise(runs: list) -> dict:
    board = {}
    for run in runs:
        for row, r in run["rows"].items():
            board.setdefault(run["dataset"], {}).setdefault(row, []).append(r)
    out = {}
    for ds, rows in board.items():
        out[ds] = {}
        for row, rs in rows.items():
            out[ds][row] = {"seeds": len(rs), **{f"{m}_mean": float(np.mean([r[m] for r in rs])) for m in
                                                  ("acc", "nmi", "purity", "seconds")},
                            **{f"{m}_std": float(np.std([r[m] for r in rs])) for m in ("acc", "nmi", "purity")}}
            if "chosen" in rs[0]:
                out[ds][row]["input_chosen"] = sum(r["chosen"] == "input" for r in rs)
    return out


def markdown(summary: dict) -> str:
    datasets = [d for d in DATASETS if d in summary]
    lines = ["| method | " + " | ".join(datasets) + " |", "|---|" + "---|" * len(datasets)]
    for row in ROWS:
        cells = []
        for ds in datasets:
            r = summary[ds].get(row)
            cells.append("" if r is None else f"{r['acc_mean']:.3f} ± {r['acc_std']:.3f} ({r['seconds_mean']:.0f} s)")
        if any(cells):
            lines.append(f"| {row} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("ACC mean ± std over seeds (seconds per run). The library's default objective is the DSC-L2 row "
                 "(the paper's terms are off by default); best baseline per dataset and each variant's margin over it:")
    lines.append("")
    for ds in datasets:
        best = max((r for r in BASELINES if r in summary[ds]), key=lambda r: summary[ds][r]["acc_mean"])
        margins = "; ".join(f"{row} − best = {summary[ds][row]['acc_mean'] - summary[ds][best]['acc_mean']:+.3f} "
                            f"(input's LSR chosen in {summary[ds][row]['input_chosen']} of {summary[ds][row]['seeds']})"
                            for row in VARIANTS if row in summary[ds])
        lines.append(f"- {ds}: {best} {summary[ds][best]['acc_mean']:.3f}; {margins}")
    return "\n".join(lines) + "\n"


def plot(summary: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = [d for d in DATASETS if d in summary]
    rows = [r for r in ROWS if any(r in summary[d] for d in datasets)]
    fig, ax = plt.subplots(figsize=(1.6 * len(datasets) + 3, 4))
    width = 0.8 / len(rows)
    for i, row in enumerate(rows):
        xs = [j + i * width for j, d in enumerate(datasets) if row in summary[d]]
        ys = [summary[d][row]["acc_mean"] for d in datasets if row in summary[d]]
        es = [summary[d][row]["acc_std"] for d in datasets if row in summary[d]]
        ax.bar(xs, ys, width, yerr=es, label=row, hatch="//" if row in VARIANTS else None,
               alpha=0.5 if "network only" in row else 1.0)
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(datasets))], datasets)
    ax.set_ylabel("ACC (mean ± std over seeds)")
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=7, ncol=3, loc="lower left")
    ax.set_title("pssc_fast quality board (bench/quality.py)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    ap.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--jobs", type=int, default=1, help="tasks at once, each a one-thread child process")
    ap.add_argument("--epochs", type=int, default=None, help="fine-tuning steps (default: PSSC's default)")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    ap.add_argument("--fresh", action="store_true", help="recompute finished tasks")
    ap.add_argument("--check", action="store_true", help="exit 1 if the DSC-Net preset misses its fidelity floor")
    ap.add_argument("--task", nargs=2, metavar=("DATASET", "SEED"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    run_dir = args.out / "quality_runs"
    if args.task:  # child: one task, one thread
        name, seed = args.task[0], int(args.task[1])
        result = run_task(name, seed, args.data_dir, args.epochs)
        (run_dir / f"{name}_s{seed}.json").write_text(json.dumps(result, indent=1, default=str))
        return
    run_dir.mkdir(parents=True, exist_ok=True)
    needs_files = {"orl", "coil20", "mnist1k"}
    tasks = [(d, s) for d in args.datasets for s in args.seeds
             if (args.fresh or not (run_dir / f"{d}_s{s}.json").exists())
             and (d not in needs_files or args.data_dir.is_dir())]

    def child(task):
        name, seed = task
        cmd = [sys.executable, __file__, "--task", name, str(seed), "--data-dir", str(args.data_dir),
               "--out", str(args.out)] + ([] if args.epochs is None else ["--epochs", str(args.epochs)])
        t0 = time.perf_counter()
        env = {**os.environ, "OMP_NUM_THREADS": "1",  # the checkout's library, installed or not
               "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        out = subprocess.run(cmd, env=env, capture_output=True, text=True)
        status = "ok" if out.returncode == 0 else "FAILED: " + out.stderr.strip().splitlines()[-1]
        print(f"{name} seed {seed}: {status} ({time.perf_counter() - t0:.0f} s)", flush=True)

    with ThreadPoolExecutor(max(1, args.jobs)) as pool:
        list(pool.map(child, tasks))
    runs = [json.loads(p.read_text()) for p in sorted(run_dir.glob("*.json"))]
    if not runs:
        sys.exit("no finished runs to summarise")
    summary = summarise(runs)
    (args.out / "quality.json").write_text(json.dumps({"summary": summary, "provenance": provenance(),
                                                       "runs": [r["dataset"] + f"_s{r['seed']}" for r in runs]},
                                                      indent=1))
    (args.out / "quality.md").write_text(markdown(summary))
    plot(summary, args.out / "quality.png")
    print(markdown(summary))
    missed = {ds: summary[ds]["DSC-Net preset"]["acc_mean"] for ds, floor in FIDELITY.items()
              if "DSC-Net preset" in summary.get(ds, {}) and summary[ds]["DSC-Net preset"]["acc_mean"] < floor}
    print("fidelity:", "MISSED " + str(missed) if missed else "ok")
    if args.check and missed:
        sys.exit(1)


if __name__ == "__main__":
    main()
