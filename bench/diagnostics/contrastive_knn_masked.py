"""Diagnostic: the LSR affinity of the contrastive features kept only on k-nearest-neighbour edges.

A graph between contrastive_knn_selector.py's two (LSR, where MNIST-1k and ORL do well; k-NN, where COIL20 does):
the dense affinity cluster_coefficients builds from the features' LSR, multiplied by the symmetric k-NN mask of the
features (k = 5, 10, 20), then spectral clustering. Same cached feature sets and encoders as
contrastive_knn_selector.py; labels only score.

    python bench/diagnostics/contrastive_knn_masked.py
"""
import glob
import os
import sys

import numpy as np
import scipy.sparse as sp
import torch
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _rows import rows  # noqa: E402  (puts the repository on the path)

import pssc_fast.contrastive as pc
from pssc_fast.train import shallow_coefficients
from pssc_fast.affinity import cluster_best_of
from pssc_fast.spectral import spectral_clustering
from pssc_fast.metrics import acc
from sklearn.neighbors import kneighbors_graph
from sklearn.datasets import load_digits
torch.set_num_threads(1)


def data(name):
    if name == "digits":
        b = load_digits(); X = b.images.reshape(len(b.images), -1).astype(np.float64); y = b.target; K = 10; side = 8
    else:
        X, y, K = rows(name); side = int(round(np.sqrt(X.shape[1])))
    X = (X - X.min()) / (X.max() - X.min())
    return torch.from_numpy(X).float().reshape(-1, 1, side, side), y, K


cases = []
for f in sorted(glob.glob("/tmp/cf/*_base.npy") + glob.glob("/tmp/cf/*_strong.npy")):
    b = os.path.basename(f)[:-4]
    if b.startswith("mnist10k"): continue
    cases.append((b.split("_")[0], b, lambda f=f: np.load(f)))
for f in sorted(glob.glob("/tmp/cf/enc/*.pt")):
    b = os.path.basename(f)[:-3]
    if b.startswith("mnist10k"): continue
    name = b.split("_")[0]
    def feats(f=f, name=name):
        m = pc.ContrastiveEncoder(1); m.load_state_dict(torch.load(f)); imgs, _, _ = data(name)
        return pc.encode(m.eval(), imgs).double().numpy()
    cases.append((name, "enc:" + b, feats))
for name, tag, get in cases:
    _, y, K = data(name)
    H = get()
    C = shallow_coefficients(torch.from_numpy(H).double(), K).numpy()
    _, r = cluster_best_of({"c": C}, K, random_state=0)
    PL, AL = r["c"][0], r["c"][1]
    out = [f"LSR {acc(y, PL):.3f}"]
    for k in (5, 10, 20):
        M = kneighbors_graph(H, k, include_self=False); M = ((M + M.T) > 0).astype(float)
        AM = sp.csr_matrix(M.multiply(sp.csr_matrix(AL)))
        P = spectral_clustering(AM, K, random_state=0, features=H)
        out.append(f"LSR*knn{k} {acc(y, P):.3f}")
    print(f"{tag:28s}", " | ".join(out), flush=True)
