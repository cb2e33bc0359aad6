"""Diagnostic: fit_large's contrastive encoder trained on fewer rows (more passes over each) on MNIST-10k.

As contrastive_large.py (ANCHORS rows drawn uniformly, LSR of their features with the default post-processing,
every row labelled by its nearest anchor in feature space), but the encoder trains on TRAIN_ROWS rows only: the
first TRAIN_ROWS of the anchors (a uniform draw too), so that the same steps make more passes over each image.
Encoder weights are cached in /tmp/cf/enc. Labels only score.

    python bench/diagnostics/contrastive_train_rows.py 0 2000 2000 2000   # seed, steps, anchors, train rows
"""
import pathlib
import sys
import time

import numpy as np
import torch

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from pssc_fast.affinity import cluster_best_of  # noqa: E402
from pssc_fast.contrastive import ContrastiveEncoder, encode, train_encoder  # noqa: E402
from pssc_fast.datasets import load_mnist  # noqa: E402
from pssc_fast.metrics import acc  # noqa: E402
from pssc_fast.nearest import build_index, nearest_anchor_labels  # noqa: E402
from pssc_fast.train import shallow_coefficients  # noqa: E402

torch.set_num_threads(1)
seed, steps, m, train_rows = (int(a) for a in sys.argv[1:5])
X, y = load_mnist(ROOT.parent / "shared" / "data")
X = (X - X.min()) / (X.max() - X.min())
images = torch.from_numpy(X.reshape(-1, 1, 28, 28)).float()
idx = np.random.default_rng(seed).choice(len(X), m, replace=False)  # a uniform draw, in drawn order
train_idx, idx = np.sort(idx[:train_rows]), np.sort(idx)
cache = pathlib.Path(f"/tmp/cf/enc/mnist10k_{seed}_{steps}_{m}_{train_rows}.pt")
t0 = time.time()
if cache.exists():
    model = ContrastiveEncoder(1); model.load_state_dict(torch.load(cache)); model.eval()
else:
    model = train_encoder(images[train_idx], steps=steps, seed=seed)
    torch.save(model.state_dict(), cache)
t_train = time.time() - t0
H = encode(model, images).double().numpy()
C = shallow_coefficients(torch.from_numpy(H[idx]), 10).numpy()
_, r = cluster_best_of({"c": C}, 10, random_state=seed)
lab, _, cut = r["c"]
full = nearest_anchor_labels(build_index(H[idx].astype(np.float32), "flat", 0, None), H.astype(np.float32), lab, 10)
print("mnist10k seed", seed, "steps", steps, "anchors", m, "train rows", train_rows,
      f"cut {cut:.4f} anchors ACC {acc(y[idx], lab):.3f} all rows ACC {acc(y, full):.3f}",
      np.sort(np.bincount(lab, minlength=10)), f"train {t_train:.0f}s", flush=True)
