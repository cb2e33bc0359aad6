"""Diagnostic: contrastive (SimCLR) features instead of pixels for the LSR candidate.

A small conv encoder (three stride-2 3x3 convolutions, 32-64-128 channels, batch norm, global average pooling)
with a 128-128-64 projection head is trained for STEPS Adam steps (lr 1e-3, batch 256, temperature 0.5) on two
random views of each image (rotation up to 15 degrees, scale +-15%, shift +-15% of the half-width, brightness
+-20%, Gaussian noise 0.05); the un-augmented images' unit-length 128-D features are clustered by k-means and by
LSR with the default post-processing, against LSR on the pixels, and the normalized cut picks between the two
LSR partitions. Labels only score. pssc_fast/contrastive.py (PSSC's contrastive_steps) is this, made a library
module afterwards (its own seeded generators; otherwise the same).

    python bench/diagnostics/contrastive_lsr.py mnist1k 0 600     # dataset, seed, steps; also digits, orl, coil20
Output of the session run (3 seeds x 4 sets, two at a time): bench/results/diagnostics/contrastive_lsr.log
"""
import sys, time, math, numpy as np, torch, torch.nn as nn, torch.nn.functional as F
ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT)); sys.path.insert(0, str(ROOT / "bench"))
from _common import load_dataset
from pssc_fast.train import shallow_coefficients
from pssc_fast.metrics import acc
from sklearn.cluster import KMeans
torch.set_num_threads(1)
name, seed, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
if name == "digits":
    from sklearn.datasets import load_digits
    b = load_digits(); X, y = b.images[:, None].astype(np.float32), b.target
else:
    X, y = load_dataset(name, ROOT.parent / "shared" / "data")
X = torch.from_numpy((X - X.min()) / (X.max() - X.min())).float()
n, K = len(X), len(np.unique(y))
torch.manual_seed(seed)
class Net(nn.Module):
    def __init__(s):
        super().__init__()
        s.f = nn.Sequential(nn.Conv2d(1, 32, 3, 2, 1), nn.BatchNorm2d(32), nn.ReLU(), nn.Conv2d(32, 64, 3, 2, 1), nn.BatchNorm2d(64), nn.ReLU(),
                            nn.Conv2d(64, 128, 3, 2, 1), nn.BatchNorm2d(128), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        s.g = nn.Sequential(nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 64))
    def forward(s, x): return s.f(x)
def augment(x):
    b = x.shape[0]
    ang = (torch.rand(b) - 0.5) * 2 * math.radians(15)
    sc = 1 + (torch.rand(b) - 0.5) * 0.3
    tx, ty = (torch.rand(b) - 0.5) * 0.3, (torch.rand(b) - 0.5) * 0.3
    th = torch.stack([torch.stack([sc * torch.cos(ang), -sc * torch.sin(ang), tx], 1), torch.stack([sc * torch.sin(ang), sc * torch.cos(ang), ty], 1)], 1)
    out = F.grid_sample(x, F.affine_grid(th, x.shape, align_corners=False), align_corners=False, padding_mode="border")
    out = out * (0.8 + 0.4 * torch.rand(b, 1, 1, 1)) + 0.05 * torch.randn_like(out)
    return out
net = Net(); opt = torch.optim.Adam(net.parameters(), 1e-3)
bs, tau = min(256, n), 0.5
t0 = time.time()
step = 0
while step < steps:
    perm = torch.randperm(n)
    for i in range(0, n - bs + 1, bs):
        xb = X[perm[i:i + bs]]
        z = F.normalize(net.g(net(torch.cat([augment(xb), augment(xb)]))), dim=1)
        sim = z @ z.T / tau
        sim.fill_diagonal_(-1e9)
        target = torch.cat([torch.arange(bs, 2 * bs), torch.arange(bs)])
        loss = F.cross_entropy(sim, target)
        opt.zero_grad(); loss.backward(); opt.step()
        step += 1
        if step == steps:
            break
net.eval()
with torch.no_grad():
    H = F.normalize(net(X), dim=1).numpy().astype(np.float64)
from pssc_fast.affinity import cluster_best_of
cands = {"pixels": shallow_coefficients(X, K).numpy(), "contrastive": shallow_coefficients(torch.from_numpy(H), K).numpy()}
chosen, r = cluster_best_of(cands, K, random_state=0)
res = {"kmeans": acc(y, KMeans(K, n_init=10, random_state=0).fit_predict(H))}
res.update({f"LSR {k}": acc(y, v[0]) for k, v in r.items()})
print(name, "seed", seed, "steps", steps, {k: round(v, 3) for k, v in res.items()}, "cuts", {k: round(v[2], 4) for k, v in r.items()},
      "cut keeps", chosen, f"-> {acc(y, r[chosen][0]):.3f}", f"loss {loss.item():.3f}", f"{time.time() - t0:.0f}s", flush=True)
