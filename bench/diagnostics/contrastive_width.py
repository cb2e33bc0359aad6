"""Diagnostic: the contrastive features' width against the post-processing's K*q embedding.

cluster_coefficients embeds by the top K*q + 1 eigenvectors (q = 4 directions per cluster), but the ridge C of
n points with d-dimensional features has rank at most d: with the encoder's 128 features, ORL's 40 clusters
(K*q + 1 = 161) cannot each get their q directions. This trains the encoder with its last block FEATURES wide
(the other blocks unchanged) and clusters the LSR of the features as PSSC's contrastive candidate does, printing
ACC and the normalized cut. Labels only score.

    python bench/diagnostics/contrastive_width.py orl 0 256        # dataset, seed, last block's channels
"""
import functools
import pathlib
import sys
import time

import torch
import torch.nn as nn

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from _rows import image_set  # noqa: E402

import pssc_fast.contrastive as pc  # noqa: E402
from pssc_fast.affinity import cluster_best_of  # noqa: E402
from pssc_fast.metrics import acc  # noqa: E402
from pssc_fast.params import PSSC_DEFAULTS  # noqa: E402
from pssc_fast.train import shallow_coefficients  # noqa: E402


class WideEncoder(pc.ContrastiveEncoder):
    """pc.ContrastiveEncoder with its last block ``last`` channels wide (and the head to match)."""

    def __init__(self, in_channels=1, width=32, out_dim=64, last=128):
        super().__init__(in_channels, width, out_dim)
        self.features[6] = nn.Conv2d(2 * width, last, 3, 2, 1)
        self.features[7] = nn.BatchNorm2d(last)
        self.head = nn.Sequential(nn.Linear(last, last), nn.ReLU(), nn.Linear(last, out_dim))


torch.set_num_threads(1)
name, seed, last = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
steps = PSSC_DEFAULTS["contrastive_steps"]
pixels, y, K = image_set(name)
pc.ContrastiveEncoder = functools.partial(WideEncoder, last=last)
t0 = time.time()
H = pc.contrastive_features(pixels, steps=steps, seed=seed)
t_train = time.time() - t0
C = shallow_coefficients(torch.from_numpy(H), K).numpy()
_, r = cluster_best_of({"c": C}, K, random_state=0)
print(name, seed, "last", last, "K*q+1", K * PSSC_DEFAULTS["q"] + 1, f"ACC {acc(y, r['c'][0]):.3f} cut {r['c'][2]:.4f}",
      f"train {t_train:.0f}s", flush=True)
