"""Diagnostic: other clusterers on the contrastive features of MNIST-10k that contrastive_large.py cached.

Reads /tmp/cf/mnist10k_0_2000.npy (written by ``contrastive_large.py 0 2000 2000``) and scores k-means, k-NN
spectral clustering (10 and 30 neighbours) on all 10,000 feature rows, and LSR on 5000 anchors with
nearest-anchor labelling. Labels only score.

    python bench/diagnostics/contrastive_large_clusterers.py
"""
import sys, time, pathlib
import numpy as np, torch
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))
from pssc_fast.datasets import load_mnist
from pssc_fast.train import shallow_coefficients
from pssc_fast.affinity import cluster_coefficients
from pssc_fast.metrics import acc
from pssc_fast.nearest import build_index, nearest_anchor_labels
from sklearn.cluster import KMeans, SpectralClustering
torch.set_num_threads(1)
X, y = load_mnist(pathlib.Path(__file__).resolve().parents[3] / "shared" / "data")
H = np.load("/tmp/cf/mnist10k_0_2000.npy").astype(np.float32)
print("kmeans all", acc(y, KMeans(10, n_init=10, random_state=0).fit_predict(H)), flush=True)
for k in (10, 30):
    t=time.time(); lab = SpectralClustering(10, affinity="nearest_neighbors", n_neighbors=k, random_state=0).fit_predict(H)
    print("knn spectral", k, acc(y, lab), time.time()-t, flush=True)
for m in (5000,):
    idx = np.sort(np.random.default_rng(0).choice(len(X), m, replace=False))
    t=time.time(); C = shallow_coefficients(torch.from_numpy(H[idx]), 10).numpy()
    lab = cluster_coefficients(C, 10, random_state=0)
    full = nearest_anchor_labels(build_index(H[idx], "flat", 0, None), H, lab, 10)  # exact search
    print("anchors", m, acc(y[idx], lab), acc(y, full), time.time()-t, flush=True)
