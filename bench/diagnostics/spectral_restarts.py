"""Diagnostic: is fit_large's merged 4/9 cluster on MNIST-10k a k-means local optimum of the spectral step?

Reads the features contrastive_large.py cached (/tmp/cf/mnist10k_0_STEPS.npy), draws 2000 anchors eight times
as contrastive_anchor_draws.py does, clusters each draw's LSR with the default post-processing, then reruns the
spectral step's k-means on the same spectral embedding with 10 and 300 restarts and prints each partition's
k-means inertia, ACC (labels only score), normalized cut and largest cluster.

    python bench/diagnostics/spectral_restarts.py 6000      # contrastive steps of the cached features
"""
import pathlib
import sys

import numpy as np
import torch
from sklearn.cluster import KMeans

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))
from pssc_fast.affinity import cluster_best_of, normalized_cut  # noqa: E402
from pssc_fast.datasets import load_mnist  # noqa: E402
from pssc_fast.metrics import acc  # noqa: E402
from pssc_fast.spectral import clean_affinity, spectral_embedding  # noqa: E402
from pssc_fast.train import shallow_coefficients  # noqa: E402

torch.set_num_threads(1)
X, y = load_mnist(pathlib.Path(__file__).resolve().parents[3] / "shared" / "data")
steps = int(sys.argv[1])
H = np.load(f"/tmp/cf/mnist10k_0_{steps}.npy").astype(np.float32)
m = 2000
for s in range(8):
    idx = np.sort(np.random.default_rng([s, m]).choice(len(X), m, replace=False))
    C = shallow_coefficients(torch.from_numpy(H[idx]).double(), 10).numpy()
    _, r = cluster_best_of({"c": C}, 10, random_state=0)
    lab, A, cut = r["c"]
    emb = spectral_embedding(clean_affinity(A), 10, random_state=0)
    out = [f"lib acc {acc(y[idx], lab):.3f} cut {cut:.4f}"]
    for n_init in (10, 300):
        km = KMeans(10, n_init=n_init, random_state=0).fit(emb)
        out.append(f"n_init {n_init}: inertia {km.inertia_:.3f} acc {acc(y[idx], km.labels_):.3f} "
                   f"cut {normalized_cut(A, km.labels_):.4f} max {np.bincount(km.labels_).max()}")
    print(steps, s, " | ".join(out), flush=True)
