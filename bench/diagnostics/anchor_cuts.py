"""Diagnostic: is MNIST-10k's merged-and-split anchor partition the normalized cut's, or the embedding's labelling?

Every fit_large seed on MNIST-10k's images keeps a partition of the anchors that merges two digits into one cluster of
about twice the others' size and splits another (purity above ACC). This fits ``LargePSSC`` once with the defaults
(cached auto-encoder of bench/fit_large_scaling.py, 2000 anchors, rows as 28x28 images) and clusters the kept
candidate's coefficients (``coef_``) again, on the library's own affinity, in other ways:

    library       cluster_coefficients as the fit did (the anchors' labels)
    cluster_qr    scikit-learn's spectral clustering of the same affinity, labels by column-pivoted QR
    discretize    the same, labels by Yu & Shi's discretization
    ratio_cut     the unnormalized Laplacian's K smallest eigenvectors, k-means on them (ratio cut: balances sizes
                  in points instead of in degree)

Labels only score: ACC and the sorted cluster sizes of the anchors. One JSON line to --out.

    python bench/diagnostics/anchor_cuts.py --seed 0
"""
import argparse
import copy
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import laplacian
from scipy.sparse.linalg import eigsh
from sklearn.cluster import KMeans, SpectralClustering

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "bench" / "diagnostics"))

import _rows  # noqa: E402
from fit_large_scaling import mnist_autoencoder  # noqa: E402

from pssc_fast.affinity import cluster_coefficients  # noqa: E402
from pssc_fast.datasets import load_mnist  # noqa: E402
from pssc_fast.large import LargePSSC  # noqa: E402
from pssc_fast.metrics import acc  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--anchors", type=int, default=2000)
parser.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data"))
parser.add_argument("--out", default=None)
args = parser.parse_args()

t0 = time.time()
X, y = load_mnist(args.data_dir)
ae, _, _ = mnist_autoencoder(args.seed, 1_000_000)
est = LargePSSC(10, anchors=args.anchors, random_state=args.seed, autoencoder=copy.deepcopy(ae), pretrain_samples=0,
                image_shape=(1, 28, 28)).fit(X)
ya = y[est.anchor_indices_]
C = np.asarray(est.coef_, dtype=np.float64)
labels, A = cluster_coefficients(C, 10, random_state=args.seed, return_affinity=True)
A = sp.csr_matrix(A) if not sp.issparse(A) else A.tocsr()


def summary(lab):
    return {"acc": float(acc(ya, lab)), "sizes": sorted(np.bincount(lab, minlength=10).tolist())}


record = {"seed": args.seed, "anchors": args.anchors, "chosen": est.chosen_, "fit": summary(est.anchor_labels_),
          "library": summary(labels)}
for how in ("cluster_qr", "discretize"):
    record[how] = summary(SpectralClustering(10, affinity="precomputed", assign_labels=how,
                                             random_state=args.seed).fit_predict(A))
L = laplacian(A.astype(np.float64), normed=False)
_, vectors = eigsh(L, k=10, sigma=-1e-6, which="LM")
record["ratio_cut"] = summary(KMeans(10, n_init=10, random_state=args.seed).fit_predict(vectors))
record["seconds"] = time.time() - t0
_rows.write_record(args.out, record)
