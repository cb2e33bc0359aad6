"""Diagnostic: pseudo-supervision from the consensus partition. The contrastive encoder's refinement takes its
confident groups from the features' partition at ``ro`` (``SubspaceClusteringBase._partition``); since
``ro_consensus=True`` the final labels come from the consensus over thresholds, so this run takes the groups from
that consensus too. Otherwise exactly ``ro_consensus.py fit`` (a default fit, its final features saved):

    PSSC_DATA_DIR=../shared/data OMP_NUM_THREADS=1 python bench/diagnostics/pseudo_consensus.py fit orl 0 \
        --features /tmp/P_orl_0.npy --out bench/results/diagnostics/pseudo_consensus.jsonl

Compare with ``ro_consensus.py fit`` of the same seed (the default). Labels only score.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from pssc_fast import affinity, core  # noqa: E402


def consensus_partition(self, C, seed: int):
    """The refinement's partition by the consensus over thresholds, as the final labels are drawn."""
    return affinity.consensus_labels(C, int(self.n_clusters), **self._post_processing(seed))


core.SubspaceClusteringBase._partition = consensus_partition

if __name__ == "__main__":
    import ro_consensus

    ro_consensus.main()
