"""Diagnostic: how much fit_large's contrastive candidate on MNIST-10k depends on the anchors drawn.

Reads the features contrastive_large.py cached (/tmp/cf/mnist10k_0_STEPS.npy), draws ANCHORS rows eight times
(seeds [s, ANCHORS]), clusters each draw's LSR with the default post-processing, labels all rows by their nearest
anchor, and prints the partition's normalized cut, ACC (labels only score) and the sorted cluster sizes.

    python bench/diagnostics/contrastive_anchor_draws.py 2000 2000     # contrastive steps, anchors
"""
import pathlib
import sys, numpy as np, torch
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))
from pssc_fast.datasets import load_mnist
from pssc_fast.train import shallow_coefficients
from pssc_fast.affinity import cluster_best_of
from pssc_fast.metrics import acc
from pssc_fast.nearest import build_index, nearest_anchor_labels
torch.set_num_threads(1)
X, y = load_mnist(pathlib.Path(__file__).resolve().parents[3] / "shared" / "data")
steps = int(sys.argv[1]); m = int(sys.argv[2])
H = np.load(f"/tmp/cf/mnist10k_0_{steps}.npy").astype(np.float32)
for s in range(8):
    idx = np.sort(np.random.default_rng([s, m]).choice(len(X), m, replace=False))
    C = shallow_coefficients(torch.from_numpy(H[idx]).double(), 10).numpy()
    _, r = cluster_best_of({"c": C}, 10, random_state=0)
    lab, A, cut = r["c"]
    sizes = np.sort(np.bincount(lab, minlength=10))
    full = nearest_anchor_labels(build_index(H[idx], "flat", 0, None), H, lab, 10)  # exact search
    print(steps, m, s, f"cut {cut:.4f} anchors {acc(y[idx], lab):.3f} all {acc(y, full):.3f}", sizes, flush=True)
