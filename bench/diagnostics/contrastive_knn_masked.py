"""Diagnostic: the LSR affinity of the contrastive features kept only on k-nearest-neighbour edges.

A graph between contrastive_knn_selector.py's two (LSR, where MNIST-1k and ORL do well; k-NN, where COIL20 does):
the dense affinity cluster_coefficients builds from the features' LSR, multiplied by the symmetric k-NN mask of the
features (k = 5, 10, 20), then spectral clustering. Same cached feature sets and encoders as
contrastive_knn_selector.py; labels only score.

    python bench/diagnostics/contrastive_knn_masked.py
"""
import os
import sys

import scipy.sparse as sp
import torch
from sklearn.neighbors import kneighbors_graph

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _rows import cached_contrastive_features, image_set  # noqa: E402  (puts the repository on the path)

from pssc_fast.affinity import cluster_best_of  # noqa: E402
from pssc_fast.metrics import acc  # noqa: E402
from pssc_fast.spectral import spectral_clustering  # noqa: E402
from pssc_fast.train import shallow_coefficients  # noqa: E402

torch.set_num_threads(1)
for name, tag, get in cached_contrastive_features():
    _, y, K = image_set(name)
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
