"""Diagnostic: PSSC's defaults on MNIST test subsets other than MNIST-1k (data the defaults were not set on).

MNIST-1k is the first 100 images of each digit in the test file; contrastive_steps was raised to 2000 on its labels.
This fits ``PSSC(10, random_state=0)`` with every default on DRAW's own 1000 images: 100 drawn (seeded by DRAW) from
each digit's test images outside MNIST-1k, as 28x28 images, and prints each candidate's ACC and normalized cut and
the chosen one (labels only score).

    python bench/diagnostics/mnist_other_subsets.py 1        # draw
"""
import json
import pathlib
import sys
import time

import torch

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench" / "diagnostics"))
import _rows  # noqa: E402

from pssc_fast import PSSC  # noqa: E402
from pssc_fast.metrics import acc  # noqa: E402

torch.set_num_threads(1)
draw = int(sys.argv[1])
X, y = _rows.mnist_draw(draw)
t0 = time.perf_counter()
est = PSSC(10, random_state=0).fit(X)
print(json.dumps({"draw": draw, "chosen": est.chosen_, "acc": round(acc(y, est.labels_), 4),
                  "candidates": {k: round(acc(y, v), 4) for k, v in est.candidate_labels_.items()},
                  "cuts": {k: round(v, 4) for k, v in est.normalized_cuts_.items()},
                  "seconds": round(time.perf_counter() - t0)}), flush=True)
