"""Diagnostic: a repair of many merges at once (the twenty-first session's ORL probe), against ``rebalance_labels``.

ORL's partitions hold several errors at once: faces split into two pure groups of about half the class size, and
clusters holding two faces (sizes 4-29). ``rebalance_labels`` (one merge and one split per move, kept only if the
sizes' coefficient of variation ends at most 0.2) never fires there. This variant differs in three ways: the merged
pair's sizes sum to at most 1.5 times the median size (two small groups, not two whole clusters), the largest cluster
is split by a spectral bisection of its block of the affinity, and moves go on while the sizes' coefficient of
variation falls, with no gate at the end. It records, for saved fits and for uneven subsets of the digits, MNIST and
COIL20 fits (``rebalance.uneven``), the labels' ACC before and after, the coefficient of variation before and after and
the moves made. Labels only score:

    PSSC_DATA_DIR=../shared/data OMP_NUM_THREADS=1 python bench/diagnostics/rebalance_many.py /tmp/cand/*.npz \
        --out bench/results/diagnostics/rebalance_many.jsonl
"""
import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from sklearn.cluster import SpectralClustering

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench" / "diagnostics"))
import _rows  # noqa: E402
from join_tolerance import POST  # noqa: E402
from rebalance import UNEVEN, consensus, uneven  # noqa: E402

from pssc_fast import affinity  # noqa: E402
from pssc_fast.metrics import acc  # noqa: E402

MERGE_LIMIT = 1.5  # the merged pair's sizes sum to at most this many times the median size


def size_cv(labels, K: int) -> float:
    sizes = np.bincount(labels, minlength=K)
    return float(sizes.std() / sizes.mean())


def best_merge(labels, K: int, A, allowed, limit: float):
    """The pair of allowed clusters (sizes summing to at most ``limit``) whose merge lowers the normalized cut most."""
    H = sp.csr_matrix((np.ones(labels.size), (np.arange(labels.size), labels)), shape=(labels.size, K))
    W = (H.T @ A @ H).toarray()
    volume = W.sum(axis=1)
    cut = volume - np.diag(W)
    share = np.where(volume > 0, cut / np.maximum(volume, 1e-300), 1.0)
    sizes = np.bincount(labels, minlength=K)
    best, pair = -np.inf, None
    for i in np.flatnonzero(allowed):
        for j in np.flatnonzero(allowed):
            if j <= i or sizes[i] + sizes[j] > limit:
                continue
            joined = volume[i] + volume[j]
            gain = share[i] + share[j] - ((cut[i] + cut[j] - 2 * W[i, j]) / joined if joined > 0 else 1.0)
            if gain > best:
                best, pair = gain, (i, j)
    return pair


def repair_many(labels, K: int, A, seed: int, ratio: float = 1.5):
    """(labels, moves): while the largest cluster holds ``ratio`` times the median size, merge the best small pair and
    bisect the largest spectrally on its block of A; each move is kept only while the sizes' spread falls."""
    A = sp.csr_matrix(A, dtype=np.float64, copy=True)
    A.setdiag(0.0)
    A.eliminate_zeros()
    moves = 0
    for _ in range(K):
        sizes = np.bincount(labels, minlength=K)
        median, big = float(np.median(sizes)), int(np.argmax(sizes))
        if sizes[big] < ratio * median:
            break
        allowed = np.ones(K, dtype=bool)
        allowed[big] = False
        pair = best_merge(labels, K, A, allowed, MERGE_LIMIT * median)
        if pair is None:
            break
        rows = np.flatnonzero(labels == big)
        block = A[rows][:, rows].toarray()
        halves = SpectralClustering(2, affinity="precomputed", random_state=seed).fit_predict((block + block.T) / 2 + 1e-12)
        moved = labels.copy()
        moved[labels == pair[1]] = pair[0]
        moved[rows[halves == 1]] = pair[1]
        if size_cv(moved, K) >= size_cv(labels, K):
            break
        labels, moves = moved, moves + 1
    return labels, moves


def record(name: str, seed: int, spread, y, labels, K: int, A, C) -> dict:
    after, moves = repair_many(labels, K, A, seed)
    return {"dataset": name, "seed": seed, "uneven": spread, "acc": round(acc(y, labels), 4),
            "repaired": round(acc(y, after), 4), "cv": round(size_cv(labels, K), 3),
            "cv_after": round(size_cv(after, K), 3), "moves": moves,
            "rebalance_labels": round(acc(y, affinity.rebalance_labels(C, labels, K, A, random_state=seed, **POST)), 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("candidates", nargs="+", type=Path, help="NAME_SEED.npz files from default_fit.py --candidates")
    parser.add_argument("--out", default=None, help="a JSON-lines file the records are appended to")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    for path in args.candidates:
        name, seed = path.stem.rsplit("_", 1)
        saved = dict(np.load(path))
        y, seed = saved["y"], int(seed)
        K = len(np.unique(y))
        C = saved[f"C_{saved['chosen']}"]
        A = affinity.cluster_coefficients(C, K, random_state=seed, return_affinity=True, **POST)[1]
        _rows.write_record(args.out, record(name, seed, None, y, consensus(saved, K, seed), K, A, C))
        if name.startswith(("digits", "mnist", "coil20")):
            for spread in UNEVEN:
                keep = uneven(y, K, spread, seed)
                labels, A = affinity.cluster_coefficients(C[np.ix_(keep, keep)], K, random_state=seed,
                                                          return_affinity=True, **POST)
                _rows.write_record(args.out, record(name, seed, spread, y[keep], labels, K, A, C[np.ix_(keep, keep)]))


if __name__ == "__main__":
    main()
