"""Diagnostic: how one fit's labels change when the network's partitions may join the consensus at another cut ratio.

Reads the candidates ``default_fit.py NAME S --candidates NAME_S.npz`` saved (every candidate's C, each one's labels at
ro, the fit's labels) and labels the fit again on the same C, seeded as the estimator seeds it: by the default join rule
(the labels must equal the fit's own: checked), with the network's cut tolerance ``--tolerance`` times the contrastive
one's instead of ``1 + contrastive_tolerance``, and with the network always joined (for information). Labels only
score:

    PSSC_DATA_DIR=../shared/data python bench/diagnostics/join_tolerance.py /tmp/cand/orl_17.npz ... --tolerance 2.0 \
        --out bench/results/diagnostics/join_tolerance.jsonl
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


def relabel(saved, K: int, seed: int, join: bool) -> np.ndarray:
    """The fit's consensus labels with or without the network's partitions joined (as core.py builds them)."""
    post = dict(q=PSSC_DEFAULTS["q"], alpha=PSSC_DEFAULTS["alpha"], ro=PSSC_DEFAULTS["ro"],
                diag_shift=PSSC_DEFAULTS["diag_shift"], method=PSSC_DEFAULTS["affinity_method"], random_state=seed)
    joined = [(saved["C_network"], saved["at_ro_network"])] if join else []
    return affinity.consensus_labels(saved["C_contrastive"], K, given=saved["at_ro_contrastive"], joined=joined, **post)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("candidates", nargs="+", type=Path, help="NAME_SEED.npz files from default_fit.py --candidates")
    parser.add_argument("--tolerance", type=float, required=True, help="the network's cut over the contrastive one's")
    parser.add_argument("--out", default=None, help="a JSON-lines file the records are appended to")
    args = parser.parse_args()
    for path in args.candidates:
        name, seed = path.stem.rsplit("_", 1)
        saved = dict(np.load(path))
        y, seed = saved["y"], int(seed)
        K = len(np.unique(y))
        record = {"dataset": name, "seed": seed, "chosen": str(saved["chosen"]), "acc": round(acc(y, saved["labels"]), 4)}
        if record["chosen"] == "contrastive":
            post = dict(q=PSSC_DEFAULTS["q"], alpha=PSSC_DEFAULTS["alpha"], ro=PSSC_DEFAULTS["ro"],
                        diag_shift=PSSC_DEFAULTS["diag_shift"], method=PSSC_DEFAULTS["affinity_method"])
            cut = {n: affinity.normalized_cut(affinity.cluster_coefficients(saved[f"C_{n}"], K, random_state=seed,
                                                                            return_affinity=True, **post)[1],
                                              saved[f"at_ro_{n}"]) for n in ("contrastive", "network")}
            ratio = cut["network"] / cut["contrastive"]
            ami = adjusted_mutual_info_score(saved["at_ro_contrastive"], saved["at_ro_network"])
            gate = ami >= PSSC_DEFAULTS["join_agreement"]
            default_join = gate and ratio <= 1.0 + PSSC_DEFAULTS["contrastive_tolerance"]
            proposed_join = gate and ratio <= args.tolerance
            labels = {"joined": relabel(saved, K, seed, True), "alone": relabel(saved, K, seed, False)}
            default = labels["joined" if default_join else "alone"]
            record.update(reproduced=bool(np.array_equal(default, saved["labels"])), ratio=round(ratio, 3),
                          ami=round(ami, 4), default_join=bool(default_join), proposed_join=bool(proposed_join),
                          default=round(acc(y, default), 4),
                          proposed=round(acc(y, labels["joined" if proposed_join else "alone"]), 4),
                          always_join=round(acc(y, labels["joined"]), 4))
        _rows.write_record(args.out, record)


if __name__ == "__main__":
    main()
