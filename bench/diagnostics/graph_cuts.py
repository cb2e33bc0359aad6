"""Diagnostic: is there a graph on MNIST-10k's contrastive features on which the digits cut less than the merge?

On the library's graph (ridge self-expression of the anchors' features, the default post-processing) the true classes'
normalized cut is about twice the found partition's at every checkpoint (pseudo_merge.py), so the spectral step is
right to find the merged partition. This script builds other graphs on the same base features (the CPU budget's
encoder, cached in --cache; 2000 seeded anchors as pseudo_merge.py) and reports, per graph, the spectral partition's
ACC and normalized cut and the classes' cut on it (their ratio: below 1 the classes are the better cut):

    default   the library's post-processing of the ridge C (q = 4, alpha = 5, ro = 0.12)
    alpha1    the same with alpha = 1 (no sharpening of the embedding's cosines)
    ro1       the same with ro = 1 (no thresholding of C's columns)
    q1 / q8   the same with q = 1 / 8 (K q + 1 embedding directions)
    lam0.1 / lam10   the ridge's lambda a tenth / ten times the library's (sigma_K squared)
    absC      |C| + |C|^T itself, no embedding
    knn10     the 10-nearest-neighbour cosine graph of the features (symmetrised, binary)

Labels only score (this asks what a label-free rule would have to find; choosing among these by MNIST's labels would be
tuning to it). One JSON line per graph to --out.

    python bench/diagnostics/graph_cuts.py --seed 0
"""
import argparse
import sys
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench" / "diagnostics"))
import _rows  # noqa: E402

from pssc_fast.affinity import cluster_coefficients, normalized_cut, symmetrize_abs  # noqa: E402
from pssc_fast.metrics import acc  # noqa: E402
from sklearn.cluster import spectral_clustering  # noqa: E402
from sklearn.neighbors import kneighbors_graph  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--cache", default="/tmp/enc")
parser.add_argument("--out", default=None)
args = parser.parse_args()
torch.set_num_threads(1)
images, y, K = _rows.image_set("mnist10k")
anchors = _rows.seeded_anchors(len(images), args.seed)
base = _rows.base_encoder("mnist10k", args.seed, images, args.cache)
H = _rows.unit_features(base, images[anchors]).numpy()
ya = y[anchors]
G = H @ H.T
sigma_k = np.sort(np.linalg.eigvalsh(G))[::-1][K - 1]


def ridge(lam):
    C = np.linalg.solve(G + lam * np.eye(len(G)), G)
    np.fill_diagonal(C, 0.0)
    return C


def report(name, labels, A):
    _rows.write_record(args.out, {"seed": args.seed, "graph": name, "acc": float(acc(ya, labels)),
                                  "cut": float(normalized_cut(A, labels)), "classes_cut": float(normalized_cut(A, ya)),
                                  "sizes": sorted(np.bincount(labels, minlength=K).tolist())})


C = ridge(sigma_k)
for name, kw in [("default", {}), ("alpha1", {"alpha": 1.0}), ("ro1", {"ro": 1.0}), ("q1", {"q": 1}), ("q8", {"q": 8})]:
    report(name, *cluster_coefficients(C, K, random_state=args.seed, return_affinity=True, **kw))
for name, lam in [("lam0.1", 0.1 * sigma_k), ("lam10", 10 * sigma_k)]:
    report(name, *cluster_coefficients(ridge(lam), K, random_state=args.seed, return_affinity=True))
for name, A in [("absC", sp.csr_matrix(np.asarray(symmetrize_abs(C)))),
                ("knn10", (lambda W: ((W + W.T) > 0).astype(np.float64))(kneighbors_graph(H, 10, metric="cosine")))]:
    report(name, spectral_clustering(A, n_clusters=K, random_state=args.seed), A)
