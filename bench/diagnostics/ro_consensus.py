"""Diagnostic: the chosen candidate's labels at ro against the consensus of its partitions over a range of thresholds
(``PSSC(ro_consensus=True)``, :func:`pssc_fast.affinity.consensus_labels`), on the same C.

The consensus acts after everything else (candidates, their cuts, the choice), so one C gives both figures. Two steps,
so that a slow fit is run once and scored as often as needed:

    # a default fit of a board set (images: the contrastive candidate), saving its final contrastive features
    PSSC_DATA_DIR=../shared/data OMP_NUM_THREADS=1 python bench/diagnostics/ro_consensus.py fit orl 0 --features /tmp/F_orl_0.npy
    # the same with CUDA's contrastive budget (10000 steps, no cap in passes), on the CPU: what a CUDA fit computes
    ... ro_consensus.py fit orl 0 --features /tmp/F_orl_0_cuda.npy --budget cuda
    # the ridge C of saved features (what the fit clusters), labelled at ro and by the consensus; labels only score
    PSSC_DATA_DIR=../shared/data OMP_NUM_THREADS=1 python bench/diagnostics/ro_consensus.py score orl 0 /tmp/F_orl_0.npy --out FILE

``score`` also takes features of MNIST-10k's anchors (``mnist10k``, with ``--anchors`` the saved anchor indices).
Vectors (no contrastive candidate), one ``PSSC(ro_consensus=True)`` fit each, both labels from it:

    OMP_NUM_THREADS=1 python bench/diagnostics/ro_consensus.py vectors --seeds 0 1 2 --out FILE

``fit_large`` on MNIST-10k as ``bench/fit_large_scaling.py mnist --anchors 2000 --no-baselines`` fits it (its cached
auto-encoder for the seed, images, nearest-anchor labels), once, with ``ro_consensus=True``: the anchors' labels at ro
and by the consensus from the one fit, every row's by the consensus (at ro: fit_large_scaling.py's own figure):

    OMP_NUM_THREADS=1 python bench/diagnostics/ro_consensus.py large 0 --out FILE
"""
import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench" / "diagnostics"))
import _rows  # noqa: E402

from pssc_fast import affinity  # noqa: E402
from pssc_fast.metrics import acc  # noqa: E402
from pssc_fast.train import shallow_coefficients  # noqa: E402


def labels_of(name: str, anchors=None):
    if name == "mnist10k":
        from pssc_fast.datasets import load_mnist

        return np.asarray(load_mnist(_rows.DATA)[1])[np.load(anchors)]
    return _rows.rows(name)[1]


def fit(args) -> dict:
    import pssc_fast.contrastive as contrastive

    X, y, K = _rows.square_images(args.name)
    steps, max_epochs = contrastive.default_budget(args.budget)  # "cpu": what "auto" gives here; "cuda": CUDA's
    est, seconds = _rows.saved_fit(X, K, args.seed, args.features, contrastive_steps=steps,
                                   contrastive_max_epochs=max_epochs)
    return {"step": "fit", "dataset": args.name, "seed": args.seed, "budget": args.budget,
            "contrastive_steps": est.contrastive_steps_, "contrastive_pseudo_steps": est.contrastive_pseudo_steps_,
            "acc": acc(y, est.labels_), "chosen": est.chosen_,
            "candidates": {c: acc(y, lab) for c, lab in est.candidate_labels_.items()},
            "seconds": seconds, "features": str(args.features)}


def score(args) -> dict:
    F = np.load(args.features_in)
    if args.anchors is not None and len(F) != len(np.load(args.anchors)):  # features of every row: keep the anchors'
        F = F[np.load(args.anchors)]
    y = labels_of(args.name, args.anchors)
    K = len(np.unique(y))
    C = shallow_coefficients(torch.from_numpy(F), K).numpy()
    t0 = time.perf_counter()
    at_ro = affinity.cluster_coefficients(C, K, random_state=args.seed)
    t1 = time.perf_counter()
    consensus = affinity.consensus_labels(C, K, given=at_ro, random_state=args.seed)
    return {"step": "score", "dataset": args.name, "seed": args.seed, "n": len(y), "at_ro": round(acc(y, at_ro), 4),
            "consensus": round(acc(y, consensus), 4), "seconds_at_ro": round(t1 - t0, 2),
            "seconds_consensus": round(time.perf_counter() - t1, 2), "features": str(args.features_in)}


def vectors(args) -> list:
    from sklearn import datasets
    from sklearn.preprocessing import StandardScaler

    from pssc_fast import PSSC

    sets = {"subspaces": _rows.rows("subspaces")[:2], "blobs": _rows.rows("blobs")[:2]}
    for name in ("iris", "wine", "breast_cancer"):
        X, y = getattr(datasets, f"load_{name}")(return_X_y=True)
        sets[name] = (X, y)
        sets[f"{name} standardised"] = (StandardScaler().fit_transform(X), y)
    records = []
    for name, (X, y) in sets.items():
        for seed in args.seeds:
            t0 = time.perf_counter()
            est = PSSC(len(np.unique(y)), random_state=seed, ro_consensus=True).fit(X)
            records.append({"step": "vectors", "dataset": name, "seed": seed, "chosen": est.chosen_,
                            "at_ro": round(acc(y, est.candidate_labels_[est.chosen_]), 4),
                            "consensus": round(acc(y, est.labels_), 4), "seconds": round(time.perf_counter() - t0, 1)})
            _rows.write_record(args.out, records[-1])
    return records


def large(args) -> dict:
    import copy

    sys.path.insert(0, str(ROOT / "bench"))
    from fit_large_scaling import mnist_autoencoder

    from pssc_fast.datasets import load_mnist
    from pssc_fast.large import LargePSSC

    X, y = load_mnist(_rows.DATA)
    ae, _, source = mnist_autoencoder(args.seed, 1_000_000)  # the cached one (an error when missing)
    t0 = time.perf_counter()
    est = LargePSSC(10, anchors=2000, random_state=args.seed, autoencoder=copy.deepcopy(ae), pretrain_samples=0,
                    epochs=30, image_shape=(1, 28, 28), ro_consensus=True).fit(X)
    ya = np.asarray(y)[est.anchor_indices_]
    return {"step": "large", "dataset": "mnist10k", "seed": args.seed, "anchors": 2000, "chosen": est.chosen_,
            "anchors_at_ro": round(acc(ya, est.candidate_labels_[est.chosen_]), 4),
            "anchors_consensus": round(acc(ya, est.anchor_labels_), 4), "consensus": round(acc(y, est.labels_), 4),
            "autoencoder": source.get("file"), "seconds": round(time.perf_counter() - t0, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="step", required=True)
    p = sub.add_parser("fit", help="a default PSSC fit that saves its final contrastive features")
    p.add_argument("name", choices=["digits", "orl", "coil20", "mnist1k"])
    p.add_argument("seed", type=int)
    p.add_argument("--features", type=Path, required=True)
    p.add_argument("--budget", choices=["cpu", "cuda"], default="cpu",
                   help="the contrastive budget of this device kind (contrastive.DEFAULT_BUDGET), run here on the CPU")
    p = sub.add_parser("score", help="labels at ro and by the consensus on the ridge C of saved features")
    p.add_argument("name", choices=["digits", "orl", "coil20", "mnist1k", "mnist10k"])
    p.add_argument("seed", type=int)
    p.add_argument("features_in", type=Path)
    p.add_argument("--anchors", type=Path, default=None, help="mnist10k: the anchors' row indices (.npy), "
                   "for features of the anchors or of every row")
    p = sub.add_parser("large", help="fit_large on MNIST-10k (2000 anchors, images) with ro_consensus=True")
    p.add_argument("seed", type=int)
    p = sub.add_parser("vectors", help="PSSC(ro_consensus=True) on the board's vector sets and three tabular ones")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    for p in sub.choices.values():
        p.add_argument("--out", default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.step == "vectors":
        vectors(args)
    else:
        _rows.write_record(args.out, {"fit": fit, "score": score, "large": large}[args.step](args))


if __name__ == "__main__":
    main()
