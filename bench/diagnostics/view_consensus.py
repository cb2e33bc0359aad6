"""Diagnostic: the consensus of a default fit's own partitions (six thresholds) and those of eight augmented views of
its images under the same final encoder (test-time augmentation at the partition level). One default fit (as
``ro_consensus.py fit``), then the views; labels only score:

    PSSC_DATA_DIR=../shared/data OMP_NUM_THREADS=1 python bench/diagnostics/view_consensus.py orl 0 \
        bench/results/diagnostics/view_consensus.jsonl
"""
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import _rows  # noqa: E402
import pssc_fast.contrastive as contrastive  # noqa: E402
from pssc_fast import PSSC, affinity  # noqa: E402
from pssc_fast.metrics import acc  # noqa: E402
from pssc_fast.train import shallow_coefficients  # noqa: E402
torch.set_num_threads(1)
name, seed, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
X, y, K = _rows.rows(name)
X = X.reshape(len(X), 1, *(2 * [int(round(np.sqrt(X.shape[1])))]))
store = {}
orig = contrastive.refine_encoder
def keep(*a, **k):
    m = orig(*a, **k); store["model"] = m; return m
contrastive.refine_encoder = keep
t0 = time.time()
est = PSSC(K, random_state=seed).fit(X)
rows, shape = est.prepare(X)
images = contrastive._shrunk(torch.from_numpy(rows).reshape(-1, *shape))
model = store["model"]
gen = torch.Generator().manual_seed(seed + 777)
def parts_of(F, s):
    return affinity.threshold_partitions(shallow_coefficients(F.double(), K).numpy(), K, random_state=s)
clean = parts_of(contrastive.encode(model, images), seed)
views = []
with torch.no_grad():
    for v in range(8):
        views += parts_of(contrastive.encode(model, contrastive.augment(images, gen)), seed)
fs = affinity._consensus_seed(seed)  # as consensus_labels seeds its final step
r = {"dataset": name, "seed": seed, "default": round(acc(y, est.labels_), 4), "chosen": est.chosen_,
     "clean_consensus": round(acc(y, affinity.consensus_of(clean, K, random_state=fs)), 4),
     "views_at_ro": [round(acc(y, views[6 * v + 2]), 4) for v in range(8)],
     "clean_and_views": round(acc(y, affinity.consensus_of(clean + views, K, random_state=fs)), 4),
     "seconds": round(time.time() - t0)}
_rows.write_record(out, r)
