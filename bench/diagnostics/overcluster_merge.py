"""Diagnostic: over-cluster, then merge - a labelling that need not take the cut's merge-and-split.

On ORL, COIL20 and MNIST-10k the default partition joins two classes and splits a third, and on its affinity the
true classes cut 2-5 times more (partition_anatomy.py, pseudo_merge.py): the spectral step finds the lowest cut. An
agglomerative end does not optimise the cut: the affinity at ro (the default's graph) is first split into m = 1.5K,
2K or 3K clusters by the library's spectral step, then the two groups with the largest mean affinity between their
points (average linkage) are merged until K remain; "min-volume" merges by the summed affinity over the smaller
group's volume instead. Each default fit's saved final features, their ridge self-expression, one threshold (ro)
against these labellings. With ``--consensus``, also the default's consensus of the six threshold partitions against
the consensus of those six and, at each threshold, its 3K-group average-linkage merge (twelve partitions), seeded as
the default's. Labels only score:

    PSSC_DATA_DIR=../shared/data OMP_NUM_THREADS=1 python bench/diagnostics/overcluster_merge.py \
        orl:/tmp/F_orl_0.npy:0 orl:/tmp/F_orl_1.npy:1 --out bench/results/diagnostics/overcluster_merge.jsonl
"""
import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from sklearn.preprocessing import normalize

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench" / "diagnostics"))
import _rows  # noqa: E402

from pssc_fast import affinity  # noqa: E402
from pssc_fast.metrics import acc  # noqa: E402
from pssc_fast.params import PSSC_DEFAULTS  # noqa: E402
from pssc_fast.spectral import spectral_clustering  # noqa: E402
from pssc_fast.train import shallow_coefficients  # noqa: E402


def merge_to(A: np.ndarray, labels: np.ndarray, n_clusters: int, linkage: str) -> np.ndarray:
    """Greedy merging of the groups of ``labels`` on the dense affinity A until ``n_clusters`` remain: the pair with
    the largest mean affinity between their points ("average") or the largest summed affinity over the smaller
    volume ("min-volume")."""
    m = int(labels.max()) + 1
    Z = np.zeros((len(labels), m))
    Z[np.arange(len(labels)), labels] = 1
    A = np.array(A, dtype=np.float64)
    np.fill_diagonal(A, 0)
    W = Z.T @ A @ Z
    np.fill_diagonal(W, 0)
    size, vol = Z.sum(0), (Z.T @ A).sum(1)
    alive = list(range(m))
    parent = np.arange(m)
    while len(alive) > n_clusters:
        idx = np.array(alive)
        Wa = W[np.ix_(idx, idx)]
        score = Wa / np.outer(size[idx], size[idx]) if linkage == "average" else Wa / np.minimum.outer(vol[idx], vol[idx])
        np.fill_diagonal(score, -np.inf)
        a, b = np.unravel_index(np.argmax(score), score.shape)
        i, j = idx[a], idx[b]
        W[i, :] += W[j, :]
        W[:, i] += W[:, j]
        W[i, i] = 0
        size[i] += size[j]
        vol[i] += vol[j]
        parent[parent == j] = i
        alive.remove(j)
    return np.searchsorted(np.array(sorted(alive)), parent[labels])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cases", nargs="+", help="name:features.npy:seed (orl, coil20, mnist1k or digits)")
    parser.add_argument("--out", default=None)
    parser.add_argument("--consensus", action="store_true", help="also the consensus with the merged partitions")
    args = parser.parse_args()
    torch.set_num_threads(1)
    for case in args.cases:
        name, path, seed = case.split(":")
        seed = int(seed)
        _, y, K = _rows.image_set(name)
        y = np.asarray(y)
        C = shallow_coefficients(torch.as_tensor(normalize(np.load(path).astype(np.float64))), K).numpy()
        at_ro, A = affinity.cluster_coefficients(C, K, random_state=seed, return_affinity=True)
        record = {"dataset": name, "seed": seed, "features": path, "at_ro": round(acc(y, at_ro), 4)}
        merged_at_ro = {}
        for factor in (1.5, 2, 3):
            over = spectral_clustering(A, int(round(factor * K)), random_state=seed)
            for linkage in ("average", "min-volume"):
                merged_at_ro[factor, linkage] = merge_to(A, over, K, linkage)
                record[f"{linkage}_{factor}K"] = round(acc(y, merged_at_ro[factor, linkage]), 4)
        if args.consensus:
            direct, merged = [], []
            for factor in affinity.CONSENSUS_FACTORS:  # as affinity.threshold_partitions draws them
                if factor == 1.0:  # the partition at ro and its 3K merge, computed above
                    direct.append(at_ro)
                    merged.append(merged_at_ro[3, "average"])
                    continue
                labels, A_t = affinity.cluster_coefficients(C, K, ro=min(PSSC_DEFAULTS["ro"] * factor, 1.0),
                                                            random_state=seed, return_affinity=True)
                direct.append(labels)
                merged.append(merge_to(A_t, spectral_clustering(A_t, 3 * K, random_state=seed), K, "average"))
            final_seed = affinity._consensus_seed(seed)
            record["consensus"] = round(acc(y, affinity.consensus_of(direct, K, random_state=final_seed)), 4)
            record["consensus_with_merged"] = round(acc(y, affinity.consensus_of(direct + merged, K,
                                                                                  random_state=final_seed)), 4)
        _rows.write_record(args.out, record)


if __name__ == "__main__":
    main()
