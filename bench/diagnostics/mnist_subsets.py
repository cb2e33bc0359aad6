"""Diagnostic: does the contrastive candidate's MNIST-1k accuracy carry to other MNIST test rows?

Encodes all 10,000 MNIST test images with the encoder contrastive_readout.py cached for MNIST-1k (seed 0,
/tmp/cf/enc/mnist1k_0_2000.pt; trained on MNIST-1k only) and with the features contrastive_large.py cached for
MNIST-10k (/tmp/cf/mnist10k_0_2000.npy), then clusters the LSR of the features (default post-processing) on
MNIST-1k's rows (the first 100 of each digit in file order), on 2000 uniformly drawn anchors (with every row
labelled by its nearest anchor) and on random subsets, uniform and balanced. Prints ACC (labels only score), the
normalized cut and the sorted cluster sizes.

    python bench/diagnostics/mnist_subsets.py
"""
import pathlib
import sys

import numpy as np
import torch

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from pssc_fast.affinity import cluster_best_of  # noqa: E402
from pssc_fast.contrastive import ContrastiveEncoder, encode  # noqa: E402
from pssc_fast.datasets import load_mnist  # noqa: E402
from pssc_fast.metrics import acc  # noqa: E402
from pssc_fast.nearest import build_index, nearest_anchor_labels  # noqa: E402
from pssc_fast.train import shallow_coefficients  # noqa: E402

torch.set_num_threads(1)
X, y = load_mnist(ROOT.parent / "shared" / "data")
first100 = np.sort(np.concatenate([np.flatnonzero(y == c)[:100] for c in range(10)]))


def lsr(H):
    C = shallow_coefficients(torch.from_numpy(H).double(), 10).numpy()
    _, r = cluster_best_of({"c": C}, 10, random_state=0)
    return r["c"][0], r["c"][2]


def show(what, H, rows):
    lab, cut = lsr(H[rows])
    print(f"{what}: ACC {acc(y[rows], lab):.3f} cut {cut:.4f}", np.sort(np.bincount(lab, minlength=10)), flush=True)
    return lab


H10 = np.load("/tmp/cf/mnist10k_0_2000.npy")
show("MNIST-10k encoder, MNIST-1k rows", H10, first100)
model = ContrastiveEncoder(1)
model.load_state_dict(torch.load("/tmp/cf/enc/mnist1k_0_2000.pt"))
Xs = (X - X.min()) / (X.max() - X.min())
H1 = encode(model.eval(), torch.from_numpy(Xs.reshape(-1, 1, 28, 28)).float()).double().numpy()
show("MNIST-1k encoder, MNIST-1k rows", H1, first100)
idx = np.sort(np.random.default_rng(0).choice(len(X), 2000, replace=False))
lab = show("MNIST-1k encoder, 2000 uniform anchors of MNIST-10k", H1, idx)
full = nearest_anchor_labels(build_index(H1[idx].astype(np.float32), "flat", 0, None), H1.astype(np.float32), lab, 10)
print(f"  every row by its nearest anchor: ACC {acc(y, full):.3f}")
for trial in range(2):
    rng = np.random.default_rng(100 + trial)
    show("MNIST-1k encoder, uniform 1000 of MNIST-10k", H1, np.sort(rng.choice(len(X), 1000, replace=False)))
    for per_class in (200, 100):
        rows = np.sort(np.concatenate([rng.choice(np.flatnonzero(y == c), per_class, replace=False) for c in range(10)]))
        show(f"MNIST-1k encoder, {per_class} random rows of each digit", H1, rows)
for half, rows in (("first", np.arange(5000)), ("second", np.arange(5000, 10000))):
    rng = np.random.default_rng(7)
    show(f"MNIST-1k encoder, 1000 uniform of the test set's {half} 5000", H1, np.sort(rng.choice(rows, 1000, replace=False)))
