"""Diagnostic: does averaging the self-expression C over several pre-training seeds cluster better?

Fits ``PSSC(n_clusters=K, random_state=s, shallow_candidate=False)`` (the network candidate alone, defaults
otherwise) for each seed given, scales each C to unit l1 mass, averages them and clusters the mean with the
default post-processing (a bagging of the network's C; label-free, at the cost of one fit per seed). Prints
each seed's ACC and the mean-C ACC. Labels only score.

    python bench/diagnostics/seed_ensemble.py orl 0,1,2        # also digits, mnist1k, coil20
Data from $PSSC_DATA_DIR (default ../shared/data). Output of the session run: bench/results/diagnostics/seed_ensemble.log
"""
import sys, numpy as np, torch
ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]
DATA = __import__("pathlib").Path(__import__("os").environ.get("PSSC_DATA_DIR", ROOT.parent / "shared" / "data"))
sys.path.insert(0, str(ROOT)); sys.path.insert(0, str(ROOT / "bench"))
torch.set_num_threads(1)
from pathlib import Path
from quality import load
from pssc_fast import PSSC
from pssc_fast.affinity import cluster_coefficients
from pssc_fast.metrics import acc
ds = sys.argv[1]; seeds = [int(s) for s in sys.argv[2].split(",")]
X, y, shape = load(ds, DATA)
X = X if shape is None else X.reshape(-1, *shape)
K = len(np.unique(y))
Cs = []
for s in seeds:
    est = PSSC(n_clusters=K, random_state=s, shallow_candidate=False).fit(X)
    C = est.coef_.astype(np.float64); Cs.append(C / np.abs(C).sum())
    print(ds, s, "network %.3f" % acc(y, est.labels_), flush=True)
C = np.mean(Cs, axis=0)
print(ds, seeds, "mean-C %.3f" % acc(y, cluster_coefficients(C, K, random_state=0)), flush=True)
