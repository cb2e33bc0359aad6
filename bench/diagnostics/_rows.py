"""What several diagnostics read: a board dataset's rows (bench/quality.py's loader, data from ../shared/data) or,
with ``codes``, the rows' codes under DSC-Net's released auto-encoder for that set (ORL, COIL20)."""
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def rows(name: str, codes: bool = False):
    """(X as float64 rows, labels, number of clusters)."""
    from quality import load

    from pssc_fast.models import load_dscnet_autoencoder

    X, y, _ = load(name, DATA)
    if codes:
        net = load_dscnet_autoencoder(DATA / "dscnet_pretrained" / f"{name}.npz")
        with torch.no_grad():
            X = net.encode(torch.from_numpy(X.reshape(-1, 1, 32, 32))).numpy()
    return X.reshape(len(X), -1).astype(np.float64), y, len(np.unique(y))
