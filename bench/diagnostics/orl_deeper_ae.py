"""Diagnostic: PSSC's defaults on ORL with DSC-Net's three-layer ORL encoder shape (channels 3-3-5, 3x3 kernels)
instead of the default one-layer 15-channel one: each candidate's ACC and normalized cut, and the one kept
(labels only score).

    python bench/diagnostics/orl_deeper_ae.py 0        # seed
"""
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _rows import image_set  # noqa: E402  (puts the repository on the path)

from pssc_fast import PSSC  # noqa: E402
from pssc_fast.metrics import acc  # noqa: E402

torch.set_num_threads(1)
seed = int(sys.argv[1])
pixels, y, K = image_set("orl")
t0 = time.perf_counter()
est = PSSC(K, channels=(3, 3, 5), kernel_sizes=(3, 3, 3), random_state=seed).fit(pixels.numpy())
print(json.dumps({"seed": seed, "chosen": est.chosen_, "acc": round(acc(y, est.labels_), 4),
                  "candidates": {k: round(acc(y, v), 4) for k, v in est.candidate_labels_.items()},
                  "cuts": {k: round(v, 5) for k, v in est.normalized_cuts_.items()},
                  "pretrain_epochs_run": est.pretrain_epochs_run_, "seconds": round(time.perf_counter() - t0)}),
      flush=True)
