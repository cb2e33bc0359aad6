"""Diagnostic: how one fit's labels change when the network's partitions may join the consensus at another cut ratio.

Reads the candidates ``default_fit.py NAME S --candidates NAME_S.npz`` saved (every candidate's C, each one's labels at
ro, the fit's labels) and labels the fit again on the same C, seeded as the estimator seeds it: by the join rule the
fit was made with (the network's cut at most ``--fit-tolerance`` times the contrastive one's, default
``join_tolerance``; the labels must equal the fit's own: checked), with ``--tolerance`` instead, and with the network
always joined (for information); both rules also ask the two partitions' AMI to reach ``join_agreement``. Labels only
score. With ``--summed`` also the labels with the two candidates' summed C joined where the network joins (the
session's second test, ``--fit-tolerance 2.0 --tolerance 2.0 --summed``); with ``--weighted`` also, where it does not
join, the labels with the summed C joined, the network's columns weighted by (cut_c / cut_n)^2 at most 1 (the
nineteenth session's test, which failed: ``--fit-summed --fit-tolerance 2.0 --tolerance 2.0 --summed --weighted``,
``--fit-summed`` for fits made with the summed C, git 9ddd618 on). The eighteenth session's first test (fits made
before ``join_tolerance`` existed, at 1 + ``contrastive_tolerance``):

    PSSC_DATA_DIR=../shared/data python bench/diagnostics/join_tolerance.py /tmp/cand/orl_17.npz ... \
        --fit-tolerance 1.25 --tolerance 2.0 --out bench/results/diagnostics/join_tolerance.jsonl
"""
import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench" / "diagnostics"))
import _rows  # noqa: E402

from sklearn.metrics import adjusted_mutual_info_score  # noqa: E402

from pssc_fast import affinity  # noqa: E402
from pssc_fast.metrics import acc  # noqa: E402
from pssc_fast.params import PSSC_DEFAULTS  # noqa: E402


#: the post-processing the estimator's defaults give (each call adds the fit's random state)
POST = {key: PSSC_DEFAULTS[key] for key in ("q", "alpha", "ro", "diag_shift")}
POST["method"] = PSSC_DEFAULTS["affinity_method"]


def relabel(saved, K: int, seed: int, join: bool, summed: bool = False, weight: float | None = None) -> np.ndarray:
    """The fit's consensus labels with or without the network's partitions joined, and with ``summed`` also the
    partitions of the two candidates' summed C (:func:`pssc_fast.affinity.summed_coefficients`, as core.py builds
    them since the eighteenth session's second test), or with ``weight`` (not joined) the partitions of the summed C
    with the network at that weight (the nineteenth session's test)."""
    joined = [(saved["C_network"], saved["at_ro_network"])] if join else []
    if join and summed:
        joined.append((affinity.summed_coefficients(saved["C_contrastive"], saved["C_network"]), None))
    elif weight is not None:  # each C at unit column mass (summed_coefficients of one C), the network's times weight
        joined.append((affinity.summed_coefficients(saved["C_contrastive"])
                       + weight * affinity.summed_coefficients(saved["C_network"]), None))
    return affinity.consensus_labels(saved["C_contrastive"], K, given=saved["at_ro_contrastive"], joined=joined,
                                     random_state=seed, **POST)


def cut_at_ro(saved, name: str, K: int, seed: int) -> float:
    """A candidate's normalized cut on its own affinity, as ``normalized_cuts_`` holds it."""
    A = affinity.cluster_coefficients(saved[f"C_{name}"], K, random_state=seed, return_affinity=True, **POST)[1]
    return affinity.normalized_cut(A, saved[f"at_ro_{name}"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("candidates", nargs="+", type=Path, help="NAME_SEED.npz files from default_fit.py --candidates")
    parser.add_argument("--tolerance", type=float, required=True, help="the network's cut over the contrastive one's")
    parser.add_argument("--fit-tolerance", type=float, default=PSSC_DEFAULTS["join_tolerance"],
                        help="the ratio the saved fits joined at")
    parser.add_argument("--fit-summed", action="store_true",
                        help="the saved fits joined the summed C where they joined (fits made at git 9ddd618 or later)")
    parser.add_argument("--summed", action="store_true",
                        help="also record the labels with the summed C's partitions joined where the network joins")
    parser.add_argument("--weighted", action="store_true",
                        help="also record the labels with the summed C, the network at (cut_c / cut_n)^2, joined "
                             "where the proposed rule does not join")
    parser.add_argument("--out", default=None, help="a JSON-lines file the records are appended to")
    args = parser.parse_args()
    for path in args.candidates:
        name, seed = path.stem.rsplit("_", 1)
        saved = dict(np.load(path))
        y, seed = saved["y"], int(seed)
        K = len(np.unique(y))
        record = {"dataset": name, "seed": seed, "chosen": str(saved["chosen"]),
                  "acc": round(acc(y, saved["labels"]), 4)}
        if record["chosen"] == "contrastive":
            ratio = cut_at_ro(saved, "network", K, seed) / cut_at_ro(saved, "contrastive", K, seed)
            ami = adjusted_mutual_info_score(saved["at_ro_contrastive"], saved["at_ro_network"])
            gate = ami >= PSSC_DEFAULTS["join_agreement"]
            fit_join = gate and ratio <= args.fit_tolerance
            proposed_join = gate and ratio <= args.tolerance
            labels = {"joined": relabel(saved, K, seed, True), "alone": relabel(saved, K, seed, False)}
            by_fit = relabel(saved, K, seed, True, summed=True) if fit_join and args.fit_summed else \
                labels["joined" if fit_join else "alone"]
            record.update(reproduced=bool(np.array_equal(by_fit, saved["labels"])), ratio=round(ratio, 3),
                          ami=round(ami, 4), fit_join=bool(fit_join), proposed_join=bool(proposed_join),
                          fit_rule=round(acc(y, by_fit), 4),
                          proposed=round(acc(y, labels["joined" if proposed_join else "alone"]), 4),
                          always_join=round(acc(y, labels["joined"]), 4))
            if args.summed:  # where the proposed rule joins: also the summed C's partitions
                record["summed"] = (round(acc(y, relabel(saved, K, seed, True, summed=True)), 4) if proposed_join
                                    else record["proposed"])
            if args.weighted:  # where the proposed rule does not join: the summed C with the network weighted
                weight = min(1.0, ratio ** -2.0)  # the rule's (cut_c / cut_n)^2, at most 1
                record["weight"] = round(weight, 4)
                record["weighted"] = (round(acc(y, relabel(saved, K, seed, False, weight=weight)), 4)
                                      if not proposed_join else record.get("summed", record["proposed"]))
        _rows.write_record(args.out, record)


if __name__ == "__main__":
    main()
