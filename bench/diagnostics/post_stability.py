"""Diagnostic: does subsample stability pick the post-processing (q, alpha, ro) better than the fixed default?

Stability (Ben-Hur, Elisseeff & Guyon 2002; Lange et al. 2004) is the classic label-free way to choose a
clustering's settings: a setting that recovers structure gives the same partition on overlapping subsamples.
For each (q, alpha, ro) of post_grid.py's 4 x 4 x 3 grid, one C (LSR on the input, or on DSC-Net's released
codes with "codes") is clustered on four random 80% subsets of its rows and columns (C[S, S]); stability is
the mean adjusted Rand index of the pairs of subset partitions on the rows they share. The most stable setting
is compared with the default (4, 5, 0.12). Labels only score.

    python bench/diagnostics/post_stability.py orl codes   # also: coil20 codes, digits, coil20, orl, mnist1k
Output of the session run: bench/results/diagnostics/post_stability.log
"""
import itertools
import sys

import numpy as np
import torch
from scipy.stats import spearmanr
from sklearn.metrics import adjusted_rand_score as ari

from _rows import rows  # noqa: E402
from pssc_fast.affinity import cluster_coefficients  # noqa: E402
from pssc_fast.metrics import acc  # noqa: E402
from pssc_fast.train import shallow_coefficients  # noqa: E402

torch.set_num_threads(1)
name, space = sys.argv[1], sys.argv[2:]
X, y, K = rows(name, space == ["codes"])
n = len(y)
C = shallow_coefficients(torch.from_numpy(X), K).numpy()
rng = np.random.default_rng(0)
subsets = [np.sort(rng.choice(n, int(0.8 * n), replace=False)) for _ in range(4)]
accs, stab = {}, {}
for q, alpha, ro in itertools.product([2, 3, 4, 6], [1, 2, 4, 8], [0.1, 0.2, 1.0]):
    key = (q, alpha, ro)
    accs[key] = acc(y, cluster_coefficients(C, K, q=q, alpha=alpha, ro=ro, random_state=0))
    parts = []
    for S in subsets:
        lab = np.full(n, -1)
        lab[S] = cluster_coefficients(C[np.ix_(S, S)], K, q=q, alpha=alpha, ro=ro, random_state=0)
        parts.append(lab)
    pairs = []
    for a, b in itertools.combinations(parts, 2):
        both = (a >= 0) & (b >= 0)
        pairs.append(ari(a[both], b[both]))
    stab[key] = float(np.mean(pairs))
keys = list(accs)
best = max(keys, key=lambda k: stab[k])
default = acc(y, cluster_coefficients(C, K, random_state=0))
print(name, space, f"default (4, 5, 0.12): {default:.3f}; grid acc min {min(accs.values()):.3f} "
      f"median {np.median(list(accs.values())):.3f} max {max(accs.values()):.3f}")
print(f"  most stable {best}: stability {stab[best]:.3f} acc {accs[best]:.3f}; "
      f"spearman(stability, acc) {spearmanr([stab[k] for k in keys], [accs[k] for k in keys])[0]:.3f}")
for k in sorted(keys, key=lambda k: -stab[k])[:4]:
    print(f"    {k} stability {stab[k]:.3f} acc {accs[k]:.3f}")
