"""Diagnostic: does a conv auto-encoder's pre-training make codes that ridge self-expression clusters well?

Pre-trains one conv auto-encoder (plain Adam, lr 1e-3, MSE on [0, 1] images) and, at each checkpoint, prints
its reconstruction MSE per pixel, the code width and the ACC of LSR on the codes (the library's
shallow_coefficients + cluster_coefficients, default post-processing and q=3, alpha=1.2, ro=0.18). "released"
scores DSC-Net's released auto-encoder the same way. Labels only score; nothing here sets a default.

    python bench/diagnostics/ae_codes.py orl released 0 0
    python bench/diagnostics/ae_codes.py orl 15/3 128 200,1000             # the default one-layer net
    python bench/diagnostics/ae_codes.py orl 3-3-5/3-3-3 32 200,1000,3000   # DSC-Net's ORL shape, 80-D codes
Arguments: dataset (orl, coil20, mnist1k), channels/kernels, batch size, epoch checkpoints, padding, [relu].
Data from $PSSC_DATA_DIR (default ../shared/data). Output of the session run: bench/results/diagnostics/ae_codes.log
"""
import sys, time, numpy as np, torch
ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]
DATA = __import__("pathlib").Path(__import__("os").environ.get("PSSC_DATA_DIR", ROOT.parent / "shared" / "data"))
sys.path.insert(0, str(ROOT))
from pssc_fast import datasets as D
from pssc_fast.models import ConvAutoEncoder, load_dscnet_autoencoder
from pssc_fast.train import shallow_coefficients
from pssc_fast.affinity import cluster_coefficients
from pssc_fast.metrics import acc
torch.set_num_threads(1)
name = sys.argv[1]; arch = sys.argv[2]; bs = int(sys.argv[3]); checkpoints = [int(v) for v in sys.argv[4].split(",")]
pad = sys.argv[5] if len(sys.argv) > 5 else "symmetric"
orelu = len(sys.argv) > 6 and sys.argv[6] == "relu"
if name == "mnist1k":
    X, y = D.load_mnist(DATA, 100); shape = (1, 28, 28)
else:
    f = {"orl": "ORL_32x32.mat", "coil20": "COIL20.mat"}[name]
    X, y = D.load_mat(f"{DATA}/{f}"); shape = (1, 32, 32)
X = X.reshape(len(X), -1)
X = X.astype(np.float64); X = (X - X.min()) / (X.max() - X.min()); X = X.astype(np.float32)
K = len(np.unique(y)); Xt = torch.from_numpy(X)
def evaluate(model, tag):
    with torch.no_grad():
        Z = model.encode(Xt)
        mse = float(((model.decode(Z) - Xt) ** 2).mean())
    C = shallow_coefficients(Z.double(), K).numpy()
    a = [acc(y, cluster_coefficients(C, K, random_state=s)) for s in range(2)]
    a2 = [acc(y, cluster_coefficients(C, K, random_state=s, q=3, alpha=1.2, ro=0.18)) for s in range(1)]
    print(f"{tag}: mse {mse:.5f} dim {Z.shape[1]} LSR-codes acc {np.mean(a):.3f} (q3 a1.2 ro.18: {np.mean(a2):.3f})", flush=True)
if arch == "released":
    m = load_dscnet_autoencoder(f"{DATA}/dscnet_pretrained/{name}.npz")
    s = 255.0 if name == "orl" else 1.0
    class W(torch.nn.Module):
        def __init__(s_, m): super().__init__(); s_.m = m
        def encode(s_, x): return s_.m.encode(x * s)
        def decode(s_, z): return s_.m.decode(z) / s
    evaluate(W(m), "released"); sys.exit()
ch, ks = arch.split("/")
ch = [int(c) for c in ch.split("-")]; ks = [int(k) for k in ks.split("-")]
torch.manual_seed(0)
model = ConvAutoEncoder(shape, ch, ks, padding=pad, output_relu=orelu)
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
g = torch.Generator().manual_seed(0)
t0 = time.time(); ep = 0
for target in checkpoints:
    while ep < target:
        perm = torch.randperm(len(X), generator=g)
        for i in range(0, len(X), bs):
            b = Xt[perm[i:i + bs]]
            loss = ((model.decode(model.encode(b)) - b) ** 2).mean()
            opt.zero_grad(); loss.backward(); opt.step()
        ep += 1
    evaluate(model, f"{arch} bs{bs} ep{ep} ({time.time()-t0:.0f}s)")
