"""Diagnostic: where a default partition of saved contrastive features goes wrong, and whether the graph or a
subspace model of the features would prefer the true classes.

For features F saved by a default fit (``ro_consensus.py fit ... --features F``), each line gives
- ACC of the default labels (the consensus), the range of cluster sizes, the classes split (no cluster holds 80% of
  them) and the clusters that mix classes (none holds 80% of it);
- the normalized cut of the found partition and of the true classes on the affinity the partition was cut from
  (the one at ro): the spectral step minimises this cut, so when the classes' is the higher no better optimiser helps;
- K-subspaces started from the default labels (each row moved to the cluster whose top-d principal directions
  leave the least residual, to a fixed point), for d = 1, q and 2q: ACC, steps and the largest cluster;
- each row's nearest neighbour's class agreement (1-NN) and the share of its n/K - 1 nearest of its class.

Labels only score:

    PSSC_DATA_DIR=../shared/data OMP_NUM_THREADS=1 python bench/diagnostics/partition_anatomy.py orl F0.npy:0 F1.npy:1 \
        --out bench/results/diagnostics/partition_anatomy.jsonl
"""
import argparse
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench" / "diagnostics"))
import _rows  # noqa: E402

from pssc_fast import affinity  # noqa: E402
from pssc_fast.metrics import acc  # noqa: E402
from pssc_fast.params import PSSC_DEFAULTS  # noqa: E402
from pssc_fast.train import shallow_coefficients  # noqa: E402

PURE = 0.8  # a class is split, or a cluster mixed, when no cluster (class) holds this share of it


def k_subspaces(F: np.ndarray, labels: np.ndarray, n_clusters: int, dim: int, max_steps: int = 50):
    """(labels, steps) of K-subspaces from ``labels``: rows reassigned to the cluster whose top-``dim`` right
    singular vectors leave the least residual, until nothing moves."""
    labels = labels.copy()
    for step in range(max_steps):
        residual = np.full((len(F), n_clusters), np.inf)
        for k in range(n_clusters):
            members = F[labels == k]
            if len(members):
                V = np.linalg.svd(members, full_matrices=False)[2][:dim]
                residual[:, k] = (F ** 2).sum(1) - ((F @ V.T) ** 2).sum(1)
        moved = residual.argmin(1)
        if (moved == labels).all():
            return labels, step
        labels = moved
    return labels, max_steps


def anatomy(name: str, features: Path, seed: int) -> dict:
    y = _rows.rows(name)[1]
    K, q = len(np.unique(y)), PSSC_DEFAULTS["q"]
    F = np.load(features)
    C = shallow_coefficients(torch.from_numpy(F), K).numpy()
    at_ro, A = affinity.cluster_coefficients(C, K, random_state=seed, return_affinity=True)
    labels = affinity.consensus_labels(C, K, given=at_ro, random_state=seed)
    classes = np.unique(y, return_inverse=True)[1]  # 0..K-1
    counts = np.zeros((K, K), dtype=int)  # classes x clusters
    np.add.at(counts, (classes, labels), 1)
    sizes = counts.sum(0)
    U = F / np.linalg.norm(F, axis=1, keepdims=True)
    S = U @ U.T
    np.fill_diagonal(S, -np.inf)
    near = np.argsort(-S, axis=1)[:, :max(1, len(y) // K - 1)]
    record = {"dataset": name, "seed": seed, "features": str(features), "acc": round(acc(y, labels), 4),
              "sizes": [int(sizes.min()), int(sizes.max())],
              "classes_split": int((counts.max(1) < PURE * counts.sum(1)).sum()),
              "clusters_mixed": int(((counts.max(0) < PURE * sizes) & (sizes > 0)).sum()),
              "ncut_found_at_ro": round(affinity.normalized_cut(A, at_ro), 4),
              "ncut_classes": round(affinity.normalized_cut(A, classes), 4),
              "nn1": round(float((y[near[:, 0]] == y).mean()), 4),
              "nn_class_share": round(float((y[near] == y[:, None]).mean()), 4)}
    for dim in (1, q, 2 * q):
        moved, steps = k_subspaces(F, labels, K, dim)
        record[f"k_subspaces_{dim}"] = {"acc": round(acc(y, moved), 4), "steps": steps,
                                         "largest": int(np.bincount(moved, minlength=K).max())}
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", choices=["digits", "orl", "coil20", "mnist1k"])
    parser.add_argument("features", nargs="+", metavar="F:SEED", help="saved features and the fit's seed")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    for item in args.features:
        path, seed = item.rsplit(":", 1)
        _rows.write_record(args.out, anatomy(args.name, Path(path), int(seed)))


if __name__ == "__main__":
    main()
