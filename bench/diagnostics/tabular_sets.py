"""Diagnostic: the defaults on small tabular sets nobody tuned them on (scikit-learn's bundled iris, wine, breast cancer).

These are not unions of subspaces: their classes are blobs in 4-30 features. The script reports what a user would
compare PSSC with (k-means, 10 restarts; 10-NN spectral clustering, scikit-learn's), on the rows as given and
standardised per column, and ``PSSC(n_clusters=K, random_state=seed)`` with every default, its two candidates' ACC and
normalized cuts. Labels only score. One JSON line per set, scaling and seed to --out.

    python bench/diagnostics/tabular_sets.py --seeds 0 1 2 --out bench/results/diagnostics/tabular_sets.jsonl
"""
import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench" / "diagnostics"))
import _rows  # noqa: E402

from pssc_fast import PSSC  # noqa: E402
from pssc_fast.metrics import acc  # noqa: E402
from sklearn import datasets  # noqa: E402
from sklearn.cluster import KMeans, SpectralClustering  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

SETS = {"iris": datasets.load_iris, "wine": datasets.load_wine, "breast_cancer": datasets.load_breast_cancer}

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--sets", nargs="+", default=list(SETS), choices=list(SETS))
parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
parser.add_argument("--threads", type=int, default=1)
parser.add_argument("--out", default=None)
args = parser.parse_args()
torch.set_num_threads(args.threads)

for name in args.sets:
    X, y = SETS[name](return_X_y=True)
    K = len(np.unique(y))
    for scaling in ("as given", "standardised"):
        Xs = X if scaling == "as given" else StandardScaler().fit_transform(X)
        for seed in args.seeds:
            kmeans = acc(y, KMeans(K, n_init=10, random_state=seed).fit_predict(Xs))
            knn = acc(y, SpectralClustering(K, affinity="nearest_neighbors", n_neighbors=10,
                                            random_state=seed).fit_predict(Xs))
            t0 = time.perf_counter()
            model = PSSC(n_clusters=K, random_state=seed).fit(Xs)
            _rows.write_record(args.out, {
                "set": name, "scaling": scaling, "shape": list(Xs.shape), "seed": seed,
                "kmeans": round(kmeans, 4), "knn_spectral": round(knn, 4), "pssc": round(acc(y, model.labels_), 4),
                "chosen": model.chosen_,
                "candidates": {c: round(acc(y, lab), 4) for c, lab in model.candidate_labels_.items()},
                "cuts": {c: round(v, 5) for c, v in model.normalized_cuts_.items()},
                "seconds": round(time.perf_counter() - t0, 1)})
