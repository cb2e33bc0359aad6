"""Diagnostic: top-k per column instead of the l1-mass threshold ro, with k from the data's shape.

A sample's true neighbours are at most its cluster's other members, n / K on average; keeping the k =
beta * n / K largest |entries| of each column of C (beta = 0.25, 0.5, 1) replaces ro's fraction of l1 mass.
On the input's LSR and on DSC-Net's released codes ("codes"), default post-processing otherwise; prints the
default's mean kept entries per column too. Labels only score.

    python bench/diagnostics/topk_columns.py orl codes    # also: digits, orl, mnist1k, coil20, coil20 codes
Output of the session run: bench/results/diagnostics/topk_columns.log
"""
import sys, numpy as np, torch, scipy.sparse as sp
from _rows import rows
import pssc_fast.affinity as A
from pssc_fast.train import shallow_coefficients
from pssc_fast.metrics import acc
torch.set_num_threads(1)
name = sys.argv[1]; codes = len(sys.argv) > 2
X, y, K = rows(name, codes)
n = len(y)
C = shallow_coefficients(torch.from_numpy(X), K).numpy()
orig = A.threshold_columns
kept = {}
def spy(C, ro, sparse=False):
    out = orig(C, ro, sparse=sparse)
    kept["nnz"] = (out.nnz if sp.issparse(out) else np.count_nonzero(out)) / C.shape[1]
    return out
A.threshold_columns = spy
res = [f"default {acc(y, A.cluster_coefficients(C, K, random_state=0)):.3f} (kept/col {kept['nnz']:.1f})"]
for beta in [0.25, 0.5, 1.0]:
    k = max(1, int(round(beta * n / K)))
    def topk(C, ro, sparse=False, k=k):
        Cn = np.abs(np.asarray(C))
        idx = np.argpartition(-Cn, k - 1, axis=0)[:k]
        cols = np.broadcast_to(np.arange(Cn.shape[1]), idx.shape)
        vals = np.asarray(C)[idx, cols]
        M = sp.csc_matrix((vals.ravel(), (idx.ravel(), cols.ravel())), shape=Cn.shape)
        return M if sparse else M.toarray()
    A.threshold_columns = topk
    res.append(f"top{k} {acc(y, A.cluster_coefficients(C, K, random_state=0)):.3f}")
print(name, "codes" if codes else "", " ".join(res), flush=True)
