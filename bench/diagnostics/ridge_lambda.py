"""Diagnostic: can generalized / leave-one-out cross-validation choose the LSR ridge lambda without labels?

Self-expression with a zero diagonal is leave-one-out ridge regression of each sample on the others, so the
classical label-free choice of a ridge's lambda (GCV, exact LOO error) applies. For lambda = f * sigma_K (the
library's rule is f = 1), prints ACC of the default post-processing on C0 (the ridge hat matrix, diagonal
zeroed) and on the exact LOO coefficients, with the LOO and GCV errors. Labels only score.

    python bench/diagnostics/ridge_lambda.py orl digits mnist1k coil20
Output of the session run: bench/results/diagnostics/ridge_lambda.log
"""
import sys, numpy as np, torch
ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data"
sys.path.insert(0, str(ROOT)); sys.path.insert(0, str(ROOT / "bench"))
from quality import load
from pssc_fast.affinity import cluster_coefficients
from pssc_fast.metrics import acc
torch.set_num_threads(1)
for name in sys.argv[1:]:
    X, y, _ = load(name, DATA)
    X = X.reshape(len(X), -1).astype(np.float64)
    X = (X - X.min()) / (X.max() - X.min())
    U = X / np.linalg.norm(X, axis=1, keepdims=True)
    K = len(np.unique(y)); n = len(y)
    G = U @ U.T
    w, V = np.linalg.eigh(G); w = np.clip(w[::-1], 0, None); V = V[:, ::-1]
    sK = w[K - 1]
    out = []
    for f in [0.003, 0.01, 0.03, 0.1, 0.3, 1, 3, 10, 100]:
        lam = f * sK
        H = (V * (w / (w + lam))) @ V.T
        h = np.diag(H).copy()
        R = U - H @ U
        loo = np.sum(np.sum(R ** 2, 1) / (1 - h) ** 2) / n
        gcv = np.sum(R ** 2) / n / (1 - h.mean()) ** 2
        C = (H - np.diag(h)) / (1 - h)[None, :]   # LOO coefficients (columns); zero diagonal
        C0 = H.copy(); np.fill_diagonal(C0, 0)
        a = acc(y, cluster_coefficients(C0.astype(np.float32), K, random_state=0))
        b = acc(y, cluster_coefficients(C.T.astype(np.float32), K, random_state=0))
        out.append((f, round(a, 3), round(b, 3), round(loo, 4), round(gcv, 4)))
    print(name, "sK", round(sK, 2), flush=True)
    for o in out: print("   f=%g acc(H0)=%.3f acc(LOO C)=%.3f loo=%.4f gcv=%.4f" % o, flush=True)
