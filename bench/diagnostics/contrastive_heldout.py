"""Diagnostic: does a held-out contrastive loss say when to stop training the contrastive encoder?

Instance discrimination needs no labels, so a held-out split gives a label-free validation loss: train
pssc_fast.contrastive's encoder (its loop, same views) on 80% of a board set's images (seeded split) and, every
EVERY steps, print the NT-Xent of fixed views of the held-out 20% and of as many training images, the
normalized cut of the LSR candidate on all images' features, and that candidate's ACC (labels only score).
If the held-out loss turns up where ACC turns down, early stopping on it is a defensible budget rule.

    python bench/diagnostics/contrastive_heldout.py orl 0 3000 250     # dataset, seed, steps, every
"""
import sys, time, pathlib
import numpy as np, torch
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from _rows import image_set
import pssc_fast.contrastive as pc
from pssc_fast.train import shallow_coefficients
from pssc_fast.affinity import cluster_best_of
from pssc_fast.metrics import acc
torch.set_num_threads(1)
name, seed, steps, every = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
pixels, y, K = image_set(name)
images = pc._shrunk(pixels)
n = len(images)
perm = np.random.default_rng([seed, 7]).permutation(n)
held, train = perm[: n // 5], perm[n // 5:]
probe = train[: len(held)]
fixed = torch.Generator().manual_seed(12345)
held_views = [torch.cat([pc.augment(images[held], fixed), pc.augment(images[held], fixed)]) for _ in range(4)]
probe_views = [torch.cat([pc.augment(images[probe], fixed), pc.augment(images[probe], fixed)]) for _ in range(4)]

@torch.no_grad()
def loss_on(model, views):
    model.eval()
    out = float(np.mean([pc.nt_xent(model.head(model(v)), 0.5).item() for v in views]))
    model.train()
    return out

t0 = time.time()


def checkpoint(step, model):
    if step % every:
        return
    H = pc.encode(model, images).double()
    _, r = cluster_best_of({"c": shallow_coefficients(H, K).numpy()}, K, random_state=0)
    print(name, seed, step, f"held-out {loss_on(model, held_views):.4f}", f"train-probe {loss_on(model, probe_views):.4f}",
          f"cut {r['c'][2]:.4f}", f"ACC {acc(y, r['c'][0]):.3f}", f"{time.time() - t0:.0f}s", flush=True)


pc.train_encoder(images[torch.from_numpy(train)], steps=steps, seed=seed, on_step=checkpoint)
