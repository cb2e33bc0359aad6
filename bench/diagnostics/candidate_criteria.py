"""Diagnostic: which label-free criterion picks the better of PSSC's two candidates (network C, input LSR)?

Fits ``PSSC(n_clusters=K)`` (defaults, or the JSON of parameters given) and, for the two candidate
partitions, prints: each partition's normalized cut on each candidate's affinity (own-graph choice = the
library's rule; "sum" and "prod" compare both partitions on both graphs), the ACC of clustering the sum of the
two normalized affinities, and each graph's spectrum around K (eigengap, relative eigengap, K - sum of the
top K eigenvalues). Labels only score.

    python bench/diagnostics/candidate_criteria.py orl 1      # dataset of bench/quality.py, seed
Output of the session run: bench/results/diagnostics/candidate_criteria.log
"""
import sys, time, json, numpy as np, torch
ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]
DATA = __import__("pathlib").Path(__import__("os").environ.get("PSSC_DATA_DIR", ROOT.parent / "shared" / "data"))
sys.path.insert(0, str(ROOT)); sys.path.insert(0, str(ROOT / "bench"))
torch.set_num_threads(1)
from pathlib import Path
from quality import load
from pssc_fast import PSSC, affinity
from pssc_fast import core
from pssc_fast.metrics import acc
stash = {}
orig = affinity.cluster_best_of
def spy(c, k, **kw):
    out = orig(c, k, **kw); stash["r"] = out[1]; return out
core.affinity.cluster_best_of = spy
ds = sys.argv[1]; seed = int(sys.argv[2]); kw = json.loads(sys.argv[3]) if len(sys.argv) > 3 else {}
X, y, shape = load(ds, DATA)
X = X if shape is None else X.reshape(-1, *shape)
K = len(np.unique(y))
est = PSSC(n_clusters=K, random_state=seed, **{k: tuple(v) if isinstance(v, list) else v for k, v in kw.items()}).fit(X)
r = stash["r"]; names = list(r)
cut = {(p, g): affinity.normalized_cut(r[g][1], r[p][0]) for p in names for g in names}
line = f"{ds} s{seed} {kw}: " + " ".join(f"{p}={acc(y, r[p][0]):.3f}" for p in names)
for p in names:
    line += f" | {p}: " + " ".join(f"on {g} {cut[(p, g)]:.4f}" for g in names)
own = min(names, key=lambda p: cut[(p, p)]); sm = min(names, key=lambda p: sum(cut[(p, g)] for g in names))
pr = min(names, key=lambda p: np.prod([cut[(p, g)] for g in names]))
line += f" || own->{own} sum->{sm} prod->{pr}"
print(line, flush=True)
import scipy.sparse as sp
from pssc_fast.spectral import spectral_clustering
def norm(A):
    A = np.asarray(A.todense()) if sp.issparse(A) else np.array(A, dtype=np.float64)
    np.fill_diagonal(A, 0); d = A.sum(1); d[d <= 0] = 1; s = 1 / np.sqrt(d)
    return A * s[:, None] * s[None, :]
comb = sum(norm(r[g][1]) for g in names)
lab = spectral_clustering(comb, K, random_state=seed)
print("   combined graph acc %.3f  cut on comb: " % acc(y, lab) + " ".join(f"{p} {affinity.normalized_cut(comb, r[p][0]):.4f}" for p in names) + f" comb {affinity.normalized_cut(comb, lab):.4f}", flush=True)
from scipy.sparse.linalg import eigsh
for g in names:
    N = norm(r[g][1]); ev = np.sort(np.linalg.eigvalsh(N))[::-1]
    print(f"   {g}: eig K-1..K+1 {ev[K-1]:.4f} {ev[K]:.4f}  gap {ev[K-1]-ev[K]:.4f}  rel gap {(ev[K-1]-ev[K])/(1-ev[K]+1e-12):.4f} sumtopK {K-ev[:K].sum():.4f}", flush=True)
