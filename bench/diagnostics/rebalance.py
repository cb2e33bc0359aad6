"""Diagnostic: the twentieth session's test of ``affinity.rebalance_labels`` on saved fits, and on uneven subsets of them.

Reads the candidates ``default_fit.py NAME S --candidates NAME_S.npz`` saved (every candidate's C, each one's labels at
ro, the fit's labels), checks with ``--reproduce`` that the fit's labels come back from its saved C (the join rule of
git 9ddd618 on: ``join_tolerance.py``'s relabelling), and records the fit's ACC and the ACC after
``rebalance_labels`` on the kept candidate's C and affinity, as the estimator would call it. For digits, MNIST and
COIL20 also on two uneven subsets of the same C (class sizes falling geometrically from the whole class to 1/2 and to
1/4 of it, classes in a seeded order, C restricted to the subset and clustered at one threshold): data whose clusters
are not of one size. Labels only score; one JSON line per case:

    PSSC_DATA_DIR=../shared/data OMP_NUM_THREADS=1 python bench/diagnostics/rebalance.py /tmp/cand/*.npz --reproduce \
        --out bench/results/diagnostics/rebalance.jsonl
"""
import argparse
import sys
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench" / "diagnostics"))
import _rows  # noqa: E402
from join_tolerance import POST, cut_at_ro, relabel  # noqa: E402

from sklearn.metrics import adjusted_mutual_info_score  # noqa: E402

from pssc_fast import affinity  # noqa: E402
from pssc_fast.metrics import acc  # noqa: E402
from pssc_fast.params import PSSC_DEFAULTS  # noqa: E402

UNEVEN = (2.0, 4.0)


def consensus(saved, K: int, seed: int) -> np.ndarray:
    """The fit's labels before ``rebalance``, from its saved C by today's join rule (summed C where the network joins)."""
    if str(saved["chosen"]) != "contrastive":
        return saved[f"at_ro_{saved['chosen']}"]
    ratio = cut_at_ro(saved, "network", K, seed) / cut_at_ro(saved, "contrastive", K, seed)
    join = (adjusted_mutual_info_score(saved["at_ro_contrastive"], saved["at_ro_network"])
            >= PSSC_DEFAULTS["join_agreement"] and ratio <= PSSC_DEFAULTS["join_tolerance"])
    return relabel(saved, K, seed, join, summed=join)


def reproduced(saved, K: int, seed: int) -> bool:
    """Whether the fit's labels (saved before ``rebalance`` was the default) come back from its saved C."""
    if str(saved["chosen"]) != "contrastive":
        return bool(np.array_equal(saved[f"at_ro_{saved['chosen']}"], saved["labels"])) or None
    return bool(np.array_equal(consensus(saved, K, seed), saved["labels"]))


def uneven(y, K: int, spread: float, seed: int) -> np.ndarray:
    """Sorted rows of a subset whose class sizes fall geometrically from the whole class to 1/``spread`` of it."""
    rng = np.random.default_rng(seed)
    share = np.geomspace(1.0, 1.0 / spread, K)[rng.permutation(K)]
    return np.sort(np.concatenate([
        rng.choice(np.flatnonzero(y == c), max(2, int(round(share[c] * (y == c).sum()))), replace=False)
        for c in range(K)]))


def rebalanced(C, K: int, seed: int, labels=None):
    """(the labels, the labels after rebalance_labels) as the estimator calls it on the kept candidate's C and
    affinity; ``labels`` default to C's own partition at ro."""
    at_ro, A = affinity.cluster_coefficients(C, K, random_state=seed, return_affinity=True, **POST)
    labels = at_ro if labels is None else labels
    return labels, affinity.rebalance_labels(C, labels, K, A, random_state=seed, **POST)


def saved_fits(paths):
    """(name, seed, saved arrays, true labels, number of clusters, the kept candidate's C) of each NAME_SEED.npz."""
    for path in paths:
        name, seed = path.stem.rsplit("_", 1)
        saved = dict(np.load(path))
        y = saved["y"]
        yield name, int(seed), saved, y, len(np.unique(y)), saved[f"C_{saved['chosen']}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("candidates", nargs="+", type=Path, help="NAME_SEED.npz files from default_fit.py --candidates")
    parser.add_argument("--reproduce", action="store_true", help="check that each fit's labels come back first")
    parser.add_argument("--out", default=None, help="a JSON-lines file the records are appended to")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    for name, seed, saved, y, K, C in saved_fits(args.candidates):
        labels, after = rebalanced(C, K, seed, saved["labels"])
        record = {"dataset": name, "seed": seed, "uneven": None, "acc": round(acc(y, labels), 4),
                  "rebalanced": round(acc(y, after), 4), "moved": int((after != labels).sum())}
        if args.reproduce:
            record["reproduced"] = reproduced(saved, K, seed)
        _rows.write_record(args.out, record)
        if name.startswith(("digits", "mnist", "coil20")):
            for spread in UNEVEN:
                keep = uneven(y, K, spread, seed)
                at_ro, after = rebalanced(C[np.ix_(keep, keep)], K, seed)
                _rows.write_record(args.out, {"dataset": name, "seed": seed, "uneven": spread,
                                              "acc": round(acc(y[keep], at_ro), 4),
                                              "rebalanced": round(acc(y[keep], after), 4),
                                              "moved": int((after != at_ro).sum())})


if __name__ == "__main__":
    main()
