"""Diagnostic: can a label-free rule choose between LSR and k-NN spectral clustering of the contrastive features?

k-NN spectral clustering (5 neighbours) of the features beats their LSR on COIL20 (0.92 against 0.85) and loses on
MNIST-1k (0.55 against 0.86). Each partition has the lower normalized cut on its own graph, so this scores both
partitions on both graphs and keeps the one whose product of the two cuts is lower (it loses less, relatively, on
the other's graph). Runs over every feature set cached in /tmp/cf (contrastive_variants.py) and every encoder
cached in /tmp/cf/enc (contrastive_readout.py), MNIST-10k left out; "MISS" marks a pick worse by 0.005 or more
(labels only score).

    python bench/diagnostics/contrastive_knn_selector.py
"""
import os
import sys

import torch
from sklearn.neighbors import kneighbors_graph

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _rows import cached_contrastive_features, image_set  # noqa: E402  (puts the repository on the path)

from pssc_fast.affinity import cluster_best_of, normalized_cut  # noqa: E402
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
    A = kneighbors_graph(H, 5, include_self=False); A = 0.5 * (A + A.T)
    PK = spectral_clustering(A, K, random_state=0, features=H)
    (a, b_), (c, d) = [[normalized_cut(G, P) for G in (AL, A)] for P in (PL, PK)]
    pick = "knn" if c * d < a * b_ else "lsr"
    al, ak = acc(y, PL), acc(y, PK)
    right = (pick == "knn") == (ak > al) or abs(ak - al) < 0.005
    print(f"{tag:28s} LSR {al:.3f} knn5 {ak:.3f} pick {pick} {'ok' if right else 'MISS'} (r1 {c/a:.2f} r2 {b_/d:.2f})", flush=True)
