"""Diagnostic: does a diag_shift relative to the spectrum help the default post-processing?

diag_shift embeds S + shift * I instead of S (it flattens the Sigma^1/2 weighting; 1.0 absolute is the
dscnet-coil20 preset's label-chosen line). Here shift = t * (S's largest eigenvalue), t from 0 (the default)
to 100 (U unweighted), on the input's LSR and on DSC-Net's released codes ("codes"). Labels only score.

    python bench/diagnostics/diag_shift.py orl codes     # also: digits, orl, mnist1k, coil20, coil20 codes
Output of the session run: bench/results/diagnostics/diag_shift.log
"""
import sys, numpy as np, torch
from _rows import rows
from scipy.sparse.linalg import eigsh
from pssc_fast.affinity import cluster_coefficients, threshold_columns, symmetrize_abs
from pssc_fast.train import shallow_coefficients
from pssc_fast.metrics import acc
torch.set_num_threads(1)
name = sys.argv[1]; codes = len(sys.argv) > 2
X, y, K = rows(name, codes)
C = shallow_coefficients(torch.from_numpy(X), K).numpy()
S = symmetrize_abs(threshold_columns(C, 0.12, sparse=True))
smax = eigsh(S, 1, which="LA")[0][0]
out = []
for t in [0, 0.03, 0.1, 0.3, 1, 100]:
    out.append(f"t={t}: {acc(y, cluster_coefficients(C, K, diag_shift=t * smax, random_state=0)):.3f}")
print(name, "codes" if codes else "", " ".join(out), flush=True)
