"""Diagnostic: what a contrastive candidate could give fit_large on MNIST-10k (all 10,000 test images).

Trains pssc_fast.contrastive.contrastive_features on all rows (as 28x28 images, seeded), clusters ANCHORS uniformly
drawn rows by the LSR of their features with the default post-processing, and labels every row by its nearest
anchor in feature space (FAISS, exact) - fit_large's nearest-anchor labelling, in the features' space. Labels only
score.

    python bench/diagnostics/contrastive_large.py 0 2000 2000      # seed, contrastive steps, anchors
"""
import sys, time, pathlib
import numpy as np, torch
ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from pssc_fast.datasets import load_mnist
from pssc_fast.contrastive import contrastive_features
from pssc_fast.train import shallow_coefficients
from pssc_fast.affinity import cluster_coefficients
from pssc_fast.metrics import acc
from pssc_fast.nearest import build_index, nearest_anchor_labels
torch.set_num_threads(1)
seed, steps, m = (int(a) for a in sys.argv[1:4])
X, y = load_mnist(ROOT.parent / "shared" / "data")
X = (X - X.min()) / (X.max() - X.min())
cache = pathlib.Path(f"/tmp/cf/mnist10k_{seed}_{steps}.npy")
t0 = time.time()
if cache.exists():
    H = np.load(cache)
else:
    H = contrastive_features(torch.from_numpy(X.reshape(-1, 1, 28, 28)).float(), steps=steps, seed=seed); np.save(cache, H)
t_train = time.time() - t0
idx = np.sort(np.random.default_rng(seed).choice(len(X), m, replace=False))
C = shallow_coefficients(torch.from_numpy(H[idx]), 10).numpy()
lab = cluster_coefficients(C, 10, random_state=seed)
full = nearest_anchor_labels(build_index(H[idx].astype(np.float32), "flat", 0, None), H, lab, 10)
print("mnist10k seed", seed, "steps", steps, "anchors", m, f"anchors ACC {acc(y[idx], lab):.3f}", f"all rows ACC {acc(y, full):.3f}", f"train {t_train:.0f}s", flush=True)
