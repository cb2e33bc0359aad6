"""Diagnostic: repairing many merges at once (the twenty-first session), against the one-pair move of ``rebalance_labels``.

ORL's partitions hold several errors at once: faces split into two pure groups of about half the class size, and
clusters holding two faces (sizes 4-29). The twentieth session's move (one merge and one split at a time, kept only if
the sizes' coefficient of variation ends at most 0.2) never fires there. The repair of many (``affinity._repair_many``)
differs in three ways: the merged pair's sizes sum to at most 1.5 times the median size (two small groups, not two
whole clusters), the largest cluster is bisected spectrally on its block of the affinity, and moves go on while the
sizes' coefficient of variation falls, with no gate at the end; ``rebalance_labels`` runs it when at least half of the
clusters hold n / K rows to within 10%. For saved fits and for uneven subsets of the digits, MNIST and COIL20 fits
(``rebalance.uneven``) it records the labels' ACC, the share of clusters at n / K, ACC after the repair of many alone,
after the one-pair move alone and after ``rebalance_labels`` as the library calls it. Labels only score:

    PSSC_DATA_DIR=../shared/data OMP_NUM_THREADS=1 python bench/diagnostics/rebalance_many.py /tmp/cand/*.npz \
        --out bench/results/diagnostics/rebalance_many.jsonl
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
from join_tolerance import POST  # noqa: E402
from rebalance import UNEVEN, consensus, saved_fits, uneven  # noqa: E402

from pssc_fast import affinity  # noqa: E402
from pssc_fast.metrics import acc  # noqa: E402


def record(name: str, seed: int, spread, y, labels, K: int, A, C) -> dict:
    """ACC of the labels, of the repair of many merges alone (``rebalance_labels`` with the one-pair move never kept
    and no gate on n / K), of the one-pair move alone (as in the twentieth session) and as the library calls it now."""
    def rebalanced(**gates):
        return affinity.rebalance_labels(C, labels, K, A, random_state=seed, **gates, **POST)

    many, one_pair, now = rebalanced(max_cv=-1.0, even_share=0.0), rebalanced(even_share=np.inf), rebalanced()
    return {"dataset": name, "seed": seed, "uneven": spread, "acc": round(acc(y, labels), 4),
            "even_share": round(affinity.share_at_mean_size(labels, K), 3), "many": round(acc(y, many), 4),
            "one_pair": round(acc(y, one_pair), 4), "rebalanced": round(acc(y, now), 4),
            "cv": round(affinity._size_cv(labels, K), 3), "cv_many": round(affinity._size_cv(many, K), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("candidates", nargs="+", type=Path, help="NAME_SEED.npz files from default_fit.py --candidates")
    parser.add_argument("--out", default=None, help="a JSON-lines file the records are appended to")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    for name, seed, saved, y, K, C in saved_fits(args.candidates):
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
