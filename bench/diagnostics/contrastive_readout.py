"""Diagnostic: which read-out of a trained contrastive encoder clusters best, from the same encoder.

Trains pssc_fast.contrastive.train_encoder on a board set's images (seeded, the library's default budget unless
given; the encoder's weights are cached in /tmp/cf/enc), then reads features out several ways and clusters each
by LSR with the default post-processing (what PSSC's "contrastive" candidate does), printing ACC and the
normalized cut of each partition on its own graph:
  pooled      the library's features (global average pool of the last block, unit length);
  tta<T>      the mean of the unit features of the image and T-1 random views of it (test-time augmentation),
              unit length again: features averaged over the perturbations the encoder was trained to ignore;
  multi       the pooled outputs of the last two blocks, each unit length, side by side;
  head        the projection head's output (what the loss sees).
Labels only score.

    python bench/diagnostics/contrastive_readout.py orl 0 [steps] [temperature]
"""
import pathlib
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from _rows import image_set  # noqa: E402

import pssc_fast.contrastive as pc  # noqa: E402
from pssc_fast.affinity import cluster_best_of  # noqa: E402
from pssc_fast.metrics import acc  # noqa: E402
from pssc_fast.params import PSSC_DEFAULTS  # noqa: E402
from pssc_fast.train import shallow_coefficients  # noqa: E402

torch.set_num_threads(1)
name, seed = sys.argv[1], int(sys.argv[2])
steps = int(sys.argv[3]) if len(sys.argv) > 3 else PSSC_DEFAULTS["contrastive_steps"]
temperature = float(sys.argv[4]) if len(sys.argv) > 4 else 0.5  # train_encoder's default
pixels, y, K = image_set(name)
images = pc._shrunk(pixels)

cache = pathlib.Path(f"/tmp/cf/enc/{name}_{seed}_{steps}" + ("" if temperature == 0.5 else f"_t{temperature}") + ".pt")
t0 = time.time()
model = pc.ContrastiveEncoder(1)
if cache.exists():
    model.load_state_dict(torch.load(cache))
else:
    model = pc.train_encoder(images, steps=steps, seed=seed, temperature=temperature)
    torch.save(model.state_dict(), cache)
model.eval()
t_train = time.time() - t0


@torch.no_grad()
def blocks(x):
    """Unit-length pooled outputs of the last two conv blocks, and the projection head's output."""
    h2 = model.features[:6](x)
    h3 = model.features[6:9](h2)
    p2, p3 = h2.mean((2, 3)), h3.mean((2, 3))
    return F.normalize(p2, dim=1), F.normalize(p3, dim=1), model.head(p3)


p2, p3, head = blocks(images)
gen = torch.Generator().manual_seed(1000 + seed)
views = [p3]
for _ in range(15):
    views.append(blocks(pc.augment(images, gen))[1])
feats = {
    "pooled": p3,
    "tta4": F.normalize(torch.stack(views[:4]).mean(0), dim=1),
    "tta16": F.normalize(torch.stack(views).mean(0), dim=1),
    "multi": torch.cat([p2, p3], 1) / np.sqrt(2),
    "head": F.normalize(head, dim=1),
}
out = []
for key, H in feats.items():
    C = shallow_coefficients(H.double(), K).numpy()
    _, r = cluster_best_of({key: C}, K, random_state=0)
    out.append(f"{key} {acc(y, r[key][0]):.3f} (cut {r[key][2]:.4f})")
print(name, seed, steps, f"t={temperature}", " | ".join(out), f"train {t_train:.0f}s", flush=True)
