"""Diagnostic: a subspace-residual criterion to choose between representations' partitions.

For a partition P and unit rows Z: the leave-one-out ridge residual of each row from its own cluster's other
rows, summed, over the same from all rows (lambda = sigma_K of Z Z^T for both): how much of Z's
self-expression the partition keeps, a scale-free number comparable across representations. The partitions
are those of LSR on the pixels and on kymatio scattering features (see scattering.py; ``pip install
kymatio``), each scored on every representation. Lower should be better. Labels only score.

    python bench/diagnostics/subspace_residual.py digits orl mnist1k coil20
Output of the session run: bench/results/diagnostics/subspace_residual.log
"""
import sys, numpy as np, torch
ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT)); sys.path.insert(0, str(ROOT / "bench"))
from _common import load_dataset
from pssc_fast.train import shallow_coefficients
from pssc_fast.affinity import cluster_coefficients
from pssc_fast.metrics import acc
from sklearn.datasets import load_digits
from kymatio.scattering2d.frontend.torch_frontend import ScatteringTorch2D as S2
torch.set_num_threads(1)

def unit(Z):
    Z = np.asarray(Z, dtype=np.float64).reshape(len(Z), -1)
    return Z / np.maximum(np.linalg.norm(Z, axis=1, keepdims=True), 1e-12)

def loo_err(Z, lam):
    G = Z @ Z.T
    w, V = np.linalg.eigh(G); w = np.clip(w, 0, None)
    H = (V * (w / (w + lam))) @ V.T
    h = np.clip(np.diag(H), None, 1 - 1e-9)
    R = Z - H @ Z
    return np.sum(R ** 2, 1) / (1 - h) ** 2

def ratio(Z, labels, K):
    G = Z @ Z.T
    sK = np.sort(np.linalg.eigvalsh(G))[::-1][K - 1]
    allerr = loo_err(Z, sK)
    within = np.empty(len(Z))
    for k in np.unique(labels):
        m = labels == k
        within[m] = loo_err(Z[m], sK) if m.sum() > 1 else np.sum(Z[m] ** 2, 1)
    return within.sum() / allerr.sum()

for name in sys.argv[1:]:
    if name == "digits":
        b = load_digits(); X, y = b.images[:, None].astype(np.float32), b.target
    else:
        X, y = load_dataset(name, ROOT.parent / "shared" / "data")
    K, side = len(np.unique(y)), X.shape[-1]
    X = torch.from_numpy((X - X.min()) / (X.max() - X.min())).float()
    reps = {"pixels": unit(X)}
    for J in (1, 2, 3):
        if 2 ** J <= side // 4:
            reps[f"J{J}"] = unit(S2(J=J, shape=(side, side), L=8)(X[:, 0]))
    parts = {r: cluster_coefficients(shallow_coefficients(torch.from_numpy(Z), K).numpy(), K, random_state=0) for r, Z in reps.items()}
    print(name, "ACC:", {p: round(acc(y, l), 3) for p, l in parts.items()}, flush=True)
    for r, Z in reps.items():
        print("   ratio on", r, {p: round(float(ratio(Z, l, K)), 4) for p, l in parts.items()}, flush=True)
