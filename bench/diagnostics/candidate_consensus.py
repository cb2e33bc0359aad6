"""Diagnostic: the consensus over the candidates' thresholds, not only the chosen one's.

The default labels are the consensus of the chosen candidate's partitions at six thresholds
(:func:`pssc_fast.affinity.consensus_labels`). The network's candidate learns from the auto-encoder's codes, the
contrastive one from views: two representations that may split and join different groups (partition_anatomy.py).
Here one default PSSC fit (its candidates' C kept) is labelled three ways, on the same C: the default; the consensus
of the contrastive and the network candidates' twelve partitions; of all three candidates' eighteen; and
("admissible") of the partitions of every candidate whose normalized cut is within ``contrastive_tolerance`` of the
lowest, the rule by which the default already keeps the contrastive candidate (each candidate's cut is recorded, and
the agreement of the contrastive and the network candidates' partitions at ro as NMI, "agreement", and chance-adjusted
as AMI and ARI). Each
consensus is seeded as the default's. Labels only score:

    PSSC_DATA_DIR=../shared/data OMP_NUM_THREADS=1 python bench/diagnostics/candidate_consensus.py orl 0 \
        --features /tmp/F.npy --out bench/results/diagnostics/candidate_consensus.jsonl
"""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench" / "diagnostics"))
import _rows  # noqa: E402

from pssc_fast import affinity  # noqa: E402
from sklearn.metrics import adjusted_mutual_info_score, adjusted_rand_score, normalized_mutual_info_score  # noqa: E402

from pssc_fast.metrics import acc  # noqa: E402


def main() -> None:
    args, X, y, K = _rows.fit_diagnostic(__doc__.splitlines()[0])
    kept = _rows.keep_candidates()
    est, seconds = _rows.saved_fit(X, K, args.seed, args.features)
    partitions = {name: affinity.threshold_partitions(C, K, given=est.candidate_labels_[name], random_state=args.seed)
                  for name, C in kept.items()}
    seed = affinity._consensus_seed(args.seed)
    record = {"dataset": args.name, "seed": args.seed, **_rows.fit_record(est, y, seconds, args.features)}
    for names in (("contrastive", "network"), ("contrastive", "network", "input")):
        labels = affinity.consensus_of([p for n in names for p in partitions[n]], K, random_state=seed)
        record["+".join(names)] = round(acc(y, labels), 4)
    cuts = {name: float(cut) for name, cut in est.normalized_cuts_.items()}
    admissible = [n for n in partitions if cuts[n] <= (1.0 + est.contrastive_tolerance) * min(cuts.values())]
    record["cuts"] = {n: round(c, 5) for n, c in cuts.items()}
    labels_at_ro = est.candidate_labels_
    record["agreement"] = round(normalized_mutual_info_score(labels_at_ro["contrastive"], labels_at_ro["network"]), 4)
    record["agreement_ami"] = round(adjusted_mutual_info_score(labels_at_ro["contrastive"], labels_at_ro["network"]), 4)
    record["agreement_ari"] = round(adjusted_rand_score(labels_at_ro["contrastive"], labels_at_ro["network"]), 4)
    record["admissible"] = admissible
    record["admissible_consensus"] = round(acc(y, affinity.consensus_of([p for n in admissible for p in partitions[n]],
                                                                        K, random_state=seed)), 4)
    record["each_consensus"] = {n: round(acc(y, affinity.consensus_of(p, K, random_state=seed)), 4)
                                for n, p in partitions.items()}
    _rows.write_record(args.out, record)


if __name__ == "__main__":
    main()
