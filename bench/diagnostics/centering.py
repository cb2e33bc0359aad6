"""Diagnostic: centre the rows (and remove top principal components) before the LSR candidate?

Classic for faces: the mean and the first principal components carry illumination. LSR (the library's
shallow candidate, unit rows after the transform) on X, X minus its mean row, and the centred X without its
top 1 or 3 principal components; default post-processing. On the input and on DSC-Net's released codes
("codes"). Labels only score.

    python bench/diagnostics/centering.py orl codes     # also: digits, orl, mnist1k, coil20, coil20 codes
Output of the session run: bench/results/diagnostics/centering.log
"""
import sys, numpy as np, torch
from _rows import rows
from pssc_fast.affinity import cluster_coefficients
from pssc_fast.train import shallow_coefficients
from pssc_fast.metrics import acc
torch.set_num_threads(1)
name = sys.argv[1]; codes = len(sys.argv) > 2
X, y, K = rows(name, codes)
def run(Z): return acc(y, cluster_coefficients(shallow_coefficients(torch.from_numpy(Z), K).numpy(), K, random_state=0))
res = {"raw": run(X), "centered": run(X - X.mean(0))}
Xc = X - X.mean(0)
U, s, Vt = np.linalg.svd(Xc, full_matrices=False)
for r in (1, 3):
    res[f"centered-top{r}PC"] = run(Xc - (U[:, :r] * s[:r]) @ Vt[:r])
print(name, "codes" if codes else "", {k: round(v, 3) for k, v in res.items()}, flush=True)
