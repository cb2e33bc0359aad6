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


def image_set(name: str):
    """(a board set's images or scikit-learn's 8x8 digits as a float32 (n, 1, side, side) tensor scaled globally to
    [0, 1], labels, number of clusters): what the contrastive diagnostics train and encode."""
    if name == "digits":
        from sklearn.datasets import load_digits

        b = load_digits()
        X, y, K = b.images.reshape(len(b.images), -1).astype(np.float64), b.target, 10
    else:
        X, y, K = rows(name)
    side = int(round(np.sqrt(X.shape[1])))
    X = (X - X.min()) / (X.max() - X.min())
    return torch.from_numpy(X).float().reshape(-1, 1, side, side), y, K


def cached_contrastive_features():
    """(dataset, tag, a function returning the features) for every contrastive feature set cached in /tmp/cf
    (contrastive_variants.py) and every encoder cached in /tmp/cf/enc (contrastive_readout.py), MNIST-10k's left
    out."""
    import glob
    import os

    from pssc_fast.contrastive import ContrastiveEncoder, encode

    cases = []
    for f in sorted(glob.glob("/tmp/cf/*_base.npy") + glob.glob("/tmp/cf/*_strong.npy")):
        tag = os.path.basename(f)[:-4]
        if not tag.startswith("mnist10k"):
            cases.append((tag.split("_")[0], tag, lambda f=f: np.load(f)))
    for f in sorted(glob.glob("/tmp/cf/enc/*.pt")):
        tag = os.path.basename(f)[:-3]
        name = tag.split("_")[0]
        if name == "mnist10k":
            continue

        def features(f=f, name=name):
            model = ContrastiveEncoder(1)
            model.load_state_dict(torch.load(f))
            return encode(model.eval(), image_set(name)[0]).double().numpy()

        cases.append((name, "enc:" + tag, features))
    return cases
