"""Diagnostic: wider consensus ensembles than ``ro_consensus``'s six thresholds, on saved contrastive features.

Two steps, each paired on features saved by ``ro_consensus.py fit NAME SEED --features F`` (a default fit's final
contrastive features; MNIST-10k's from the tenth session's ``pseudo_merge.py`` route with its anchors):

    # the default consensus (6 thresholds) against 18-partition ones that also vary the ridge's lambda (1/3, 1, 3
    # times the default), q (3, 4, 6), alpha (3, 5, 8) or k-means' seed (3 seeds), and lambda with q
    PSSC_DATA_DIR=../shared/data OMP_NUM_THREADS=1 python bench/diagnostics/consensus_variants.py variants \
        --features 'orl:0=/tmp/F_orl_0.npy' 'mnist10k:0=/tmp/H_0.npy@/tmp/anchors_0.npy' ... --out FILE
    # an ensemble of contrastive encoders: the partitions of three fits' features (seeds S1, S2, S3), joined by
    # the consensus of all their 18 partitions ("flat") or of the three fits' own consensus labels ("nested");
    # each with five random states of the final consensus, against the three fits' own labels
    PSSC_DATA_DIR=../shared/data OMP_NUM_THREADS=1 python bench/diagnostics/consensus_variants.py ensemble orl \
        /tmp/F_orl_0.npy:0 /tmp/F_orl_1.npy:1 /tmp/F_orl_2.npy:2 --out FILE

Each fit's own labels are recomputed as ``PSSC`` computes them (``consensus_labels`` on the ridge C of the
features, seeded by the fit's seed). Labels only score.
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
from pssc_fast.train import auto_coef_l2, ridge_coefficients  # noqa: E402


def features_and_labels(name: str, spec: str):
    """(features, labels) of ``spec``: a .npy path, or for mnist10k 'FEATURES@ANCHORS' (features of every row or
    of the anchors, and the anchors' row indices)."""
    if name == "mnist10k":
        from pssc_fast.datasets import load_mnist

        path, anchors = spec.split("@")
        F, a = np.load(path), np.load(anchors)
        return (F[a] if len(F) != len(a) else F), np.asarray(load_mnist(_rows.DATA)[1])[a]
    return np.load(spec), np.asarray(_rows.rows(name)[1])


def ridges(F: np.ndarray, K: int, multiples) -> dict:
    """The ridge C of unit rows at each multiple of the default lambda (``shallow_coefficients`` at 1)."""
    U = torch.from_numpy(F).double()
    U = U / U.norm(dim=1, keepdim=True).clamp_min(1e-12)
    lam = auto_coef_l2(U, K, 1.0)
    return {m: ridge_coefficients(U, 1.0, m * lam).numpy() for m in multiples}


def variants(args) -> None:
    for item in args.features:
        key, spec = item.split("=", 1)
        name, seed = key.split(":")
        seed = int(seed)
        F, y = features_and_labels(name, spec)
        K = len(np.unique(y))
        t0 = time.perf_counter()
        C = ridges(F, K, (1 / 3, 1.0, 3.0))

        def at(C, s=seed, **kwargs):  # the six thresholds' partitions, as consensus_labels draws them
            return affinity.threshold_partitions(C, K, random_state=s, **kwargs)

        base = at(C[1.0])
        lam = base + at(C[1 / 3]) + at(C[3.0])
        q = base + at(C[1.0], q=3) + at(C[1.0], q=6)
        alpha = base + at(C[1.0], alpha=3) + at(C[1.0], alpha=8)
        seeds = base + at(C[1.0], seed + 1000) + at(C[1.0], seed + 2000)

        def score(partitions):
            return round(acc(y, affinity.consensus_of(partitions, K, random_state=affinity._consensus_seed(seed))), 4)

        _rows.write_record(args.out, {
            "step": "variants", "dataset": name, "seed": seed, "at_ro": round(acc(y, base[2]), 4),
            "consensus": score(base), "lambda": score(lam), "q": score(q), "alpha": score(alpha),
            "kmeans_seeds": score(seeds), "lambda_and_q": score(lam + q[6:]),
            "seconds": round(time.perf_counter() - t0, 1), "features": spec})


def ensemble(args) -> None:
    partitions, own = [], []
    y = None
    for item in args.fits:
        path, seed = item.rsplit(":", 1)
        F, y = features_and_labels(args.name, path)
        K = len(np.unique(y))
        ps = affinity.threshold_partitions(ridges(F, K, (1.0,))[1.0], K, random_state=int(seed))
        partitions += ps
        own.append(affinity.consensus_of(ps, K, random_state=affinity._consensus_seed(int(seed))))
    states = range(5)
    record = {"step": "ensemble", "dataset": args.name, "fits": args.fits,
              "each": [round(acc(y, p), 4) for p in own],
              "flat": [round(acc(y, affinity.consensus_of(partitions, K, random_state=t)), 4) for t in states],
              "nested": [round(acc(y, affinity.consensus_of(own, K, random_state=t)), 4) for t in states]}
    for k in ("each", "flat", "nested"):
        record[f"{k}_mean"] = round(float(np.mean(record[k])), 4)
    _rows.write_record(args.out, record)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="step", required=True)
    p = sub.add_parser("variants", help="the default consensus against 18-partition variants, per saved features")
    p.add_argument("--features", nargs="+", required=True, help="NAME:SEED=PATH (mnist10k: PATH@ANCHORS)")
    p = sub.add_parser("ensemble", help="three (or more) fits' partitions joined by one consensus")
    p.add_argument("name", choices=["digits", "orl", "coil20", "mnist1k"])
    p.add_argument("fits", nargs="+", help="PATH:SEED, the saved features of a fit and its seed")
    for p in sub.choices.values():
        p.add_argument("--out", default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    {"variants": variants, "ensemble": ensemble}[args.step](args)


if __name__ == "__main__":
    main()
