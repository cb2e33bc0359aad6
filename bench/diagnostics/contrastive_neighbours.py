"""Diagnostic: nearest-neighbour positives in the pseudo-supervised steps, beside the partition's confident groups.

On ORL a default fit's features put each face's nearest neighbour in the same face 97-98% of the time, yet the
partition splits 8-11 faces into two groups (partition_anatomy.py). The refinement's positives are the confident
images of each cluster of that partition (:func:`pssc_fast.contrastive.confident_groups`), so a split face stays
split. Here the refinement's loss is the mean of the default's SupCon over those groups and SupCon over the
connected components of the base features' 1-nearest-neighbour graph (FINCH's first partition, Sarfraz et al., CVPR
2019: each image joined to its nearest neighbour, no K, no threshold; 97.5% pure on ORL seed 0, about 3 images a
component). One default PSSC fit otherwise; its final features are saved:

    PSSC_DATA_DIR=../shared/data OMP_NUM_THREADS=1 python bench/diagnostics/contrastive_neighbours.py orl 0 \
        --features /tmp/F.npy --out bench/results/diagnostics/contrastive_neighbours.jsonl

Labels only score; compare with ``candidate_consensus.py`` or ``ro_consensus.py fit`` of the same set and seed.
"""
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench" / "diagnostics"))
import _rows  # noqa: E402

from pssc_fast import affinity  # noqa: E402
from pssc_fast.metrics import acc  # noqa: E402
from sklearn.metrics import adjusted_mutual_info_score  # noqa: E402


def main() -> None:
    import pssc_fast.contrastive as contrastive

    args, X, y, K = _rows.fit_diagnostic(__doc__.splitlines()[0])
    plain_refine = contrastive.refine_encoder
    plain_supcon = contrastive.supcon
    record = {}

    def refine_encoder(model, images, labels, **kwargs):
        neighbours = contrastive.neighbour_groups(contrastive._raw_features(model, contrastive._shrunk(images)))
        record["components"] = int(neighbours.max()) + 1
        record["component_purity"] = round(float(sum(np.bincount(y[neighbours.numpy() == c]).max()
                                                     for c in range(record["components"])) / len(y)), 4)
        seen = {}

        def supcon(z, groups, temperature):  # groups[batch] of the confident groups; the batch found by identity
            batch = seen["batch"]
            return 0.5 * (plain_supcon(z, groups, temperature) + plain_supcon(z, neighbours[batch], temperature))

        plain_train = contrastive._train_on_views

        def train_on_views(model, images, steps, generator, batch_size, lr, loss_of, *a, **k):
            def loss_with_batch(z, batch):
                seen["batch"] = batch
                return loss_of(z, batch)
            return plain_train(model, images, steps, generator, batch_size, lr, loss_with_batch, *a, **k)

        contrastive.supcon, contrastive._train_on_views = supcon, train_on_views
        try:
            return plain_refine(model, images, labels, **kwargs)
        finally:
            contrastive.supcon, contrastive._train_on_views = plain_supcon, plain_train

    contrastive.refine_encoder = refine_encoder
    kept = _rows.keep_candidates()
    # the library's own neighbour positives off: this script adds them, as it did before they were the default
    est, seconds = _rows.saved_fit(X, K, args.seed, args.features, contrastive_neighbours=False)
    # the AMI gate (join_agreement = 0.75) applied to this fit: the network's partitions join when it is close and agrees
    cuts, at_ro = est.normalized_cuts_, est.candidate_labels_
    record["agreement_ami"] = round(adjusted_mutual_info_score(at_ro["contrastive"], at_ro["network"]), 4)
    joins = (est.chosen_ == "contrastive" and record["agreement_ami"] >= 0.75
             and cuts["network"] <= (1.0 + est.contrastive_tolerance) * cuts["contrastive"])
    record["network_joins"] = bool(joins)
    labels = est.labels_
    if joins:
        partitions = [p for name in ("contrastive", "network") for p in affinity.threshold_partitions(
            kept[name], K, given=at_ro[name], random_state=args.seed)]
        labels = affinity.consensus_of(partitions, K, random_state=affinity._consensus_seed(args.seed))
    record["gated"] = round(acc(y, labels), 4)
    _rows.write_record(args.out, {"dataset": args.name, "seed": args.seed, **record,
                                  **_rows.fit_record(est, y, seconds, args.features)})


if __name__ == "__main__":
    main()
