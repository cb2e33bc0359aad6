"""Diagnostic: ridge self-expression (LSR) on wavelet-scattering features of the images instead of their pixels.

A scattering transform (Bruna & Mallat 2013) is a fixed, label-free, translation-invariant image
representation; subspace clustering papers use it on MNIST (You et al., CVPR 2016). Each image set is scaled
to [0, 1], transformed with kymatio's Scattering2D (L = 8 angles, J = 1, 2, 3 scales where 2^J <= side / 4),
and every representation's LSR (the library's shallow candidate, shallow_coefficients) is clustered with the
default post-processing. cluster_best_of then says which one the library's label-free normalized cut would
keep. Labels only score.

kymatio 0.3.0 (its latest release) fails to import under scipy >= 1.15 through ``kymatio.torch`` (its 3-D
part imports scipy.special.sph_harm, since removed); the 2-D frontend is imported directly. Not a dependency
of pssc_fast: ``pip install kymatio`` to run this.

    python bench/diagnostics/scattering.py digits orl mnist1k coil20
Output of the session run: bench/results/diagnostics/scattering.log
"""
import sys
from pathlib import Path

import numpy as np
import torch
from kymatio.scattering2d.frontend.torch_frontend import ScatteringTorch2D
from sklearn.datasets import load_digits

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from _common import load_dataset  # noqa: E402
from pssc_fast.affinity import cluster_best_of  # noqa: E402
from pssc_fast.metrics import acc  # noqa: E402
from pssc_fast.train import shallow_coefficients  # noqa: E402

torch.set_num_threads(2)
for name in sys.argv[1:]:
    if name == "digits":
        bunch = load_digits()
        X, y = bunch.images[:, None].astype(np.float32), bunch.target
    else:
        X, y = load_dataset(name, ROOT.parent / "shared" / "data")
    K, side = len(np.unique(y)), X.shape[-1]
    X = torch.from_numpy((X - X.min()) / (X.max() - X.min())).float()
    candidates = {"pixels": shallow_coefficients(X, K).numpy()}
    for J in (1, 2, 3):
        if 2 ** J <= side // 4:
            features = ScatteringTorch2D(J=J, shape=(side, side), L=8)(X[:, 0]).reshape(len(X), -1)
            candidates[f"scattering J={J} ({features.shape[1]}-D)"] = shallow_coefficients(features, K).numpy()
    chosen, results = cluster_best_of(candidates, K, random_state=0)
    print(name, "| ACC (normalized cut):", "; ".join(f"{k} {acc(y, r[0]):.3f} ({r[2]:.4f})" for k, r in results.items()),
          "| the cut keeps:", chosen, flush=True)
