"""Diagnostic: other ways to cluster the defaults' final contrastive features than their ridge self-expression.

The partition anatomy (partition_anatomy.py) found ORL's features the limit: a face's nearest neighbour is the same
face 97% of the time, its nine nearest only 58-61%. This asks whether a clusterer that leans on the near neighbours
does better on the same features: agglomerative clustering (Ward on the unit rows, with and without a 5- or 10-NN
connectivity; average linkage on cosine distance), and sparse self-expression in place of the ridge (SSC-OMP with 3,
5 or 10 atoms, You, Robinson & Vidal 2016; SSC's lasso with Elhamifar & Vidal's lambda = a / mu, a = 20 or 100), each
sparse C labelled by the library's post-processing and by scikit-learn's spectral clustering of |C| + |C|^T. The
ridge's own partition under the library's post-processing comes first. Labels only score:

    PSSC_DATA_DIR=../shared/data OMP_NUM_THREADS=1 python bench/diagnostics/feature_clusterers.py \
        orl:/tmp/F_orl_0.npy digits:/tmp/F_digits_0.npy --out bench/results/diagnostics/feature_clusterers.jsonl
"""
import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from sklearn.cluster import AgglomerativeClustering, SpectralClustering
from sklearn.linear_model import Lasso, orthogonal_mp
from sklearn.neighbors import kneighbors_graph
from sklearn.preprocessing import normalize

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench" / "diagnostics"))
import _rows  # noqa: E402

from pssc_fast import affinity  # noqa: E402
from pssc_fast.metrics import acc  # noqa: E402
from pssc_fast.train import shallow_coefficients  # noqa: E402


def sparse_coefficients(U: np.ndarray, solve) -> np.ndarray:
    """C (n, n) with column i the code ``solve(dictionary, target)`` of unit row i over the other rows."""
    n = len(U)
    C = np.zeros((n, n))
    for i in range(n):
        others = np.r_[0:i, i + 1:n]
        C[others, i] = solve(U[others].T, U[i])
    return C


def lasso_solver(U: np.ndarray, a: float):
    """SSC's lasso min 0.5 ||x - D c||^2 + lambda ||c||_1 with lambda = a / mu, mu = min_i max_{j != i} |<u_i, u_j>|
    (scikit-learn's Lasso scales the squared loss by 1 / (2 d))."""
    G = np.abs(U @ U.T)
    np.fill_diagonal(G, 0)
    lam = a / G.max(0).min()
    model = Lasso(alpha=1.0 / (lam * U.shape[1]), fit_intercept=False, max_iter=5000)
    return lambda D, x: model.fit(D, x).coef_


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cases", nargs="+", help="name:features.npy (orl, coil20, mnist1k or digits)")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    for case in args.cases:
        name, path = case.split(":", 1)
        _, y, K = _rows.image_set(name)
        y = np.asarray(y)
        U = normalize(np.load(path).astype(np.float64))
        record = {"dataset": name, "features": path}

        def score(labels):
            return round(acc(y, labels), 4)

        def both(C):  # (library post-processing, scikit-learn spectral on |C| + |C|^T)
            W = np.abs(C) + np.abs(C).T
            return (score(affinity.cluster_coefficients(C, K, random_state=0)),
                    score(SpectralClustering(K, affinity="precomputed", random_state=0).fit_predict(W)))

        record["ridge"] = both(shallow_coefficients(torch.as_tensor(U), K).numpy())
        record["ward"] = score(AgglomerativeClustering(K, linkage="ward").fit_predict(U))
        for k in (5, 10):
            G = kneighbors_graph(U, k, include_self=False)
            record[f"ward_{k}nn"] = score(AgglomerativeClustering(K, linkage="ward", connectivity=G).fit_predict(U))
        record["average_cosine"] = score(AgglomerativeClustering(K, linkage="average", metric="cosine").fit_predict(U))
        for k in (3, 5, 10):
            record[f"ssc_omp_{k}"] = both(sparse_coefficients(U, lambda D, x, k=k: orthogonal_mp(D, x, n_nonzero_coefs=k)))
        for a in (20, 100):
            record[f"ssc_lasso_{a}"] = both(sparse_coefficients(U, lasso_solver(U, a)))
        _rows.write_record(args.out, record)


if __name__ == "__main__":
    main()
