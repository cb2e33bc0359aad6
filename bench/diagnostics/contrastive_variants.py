"""Diagnostic: how to cluster the contrastive features, and how long / how strongly to train them.

Trains pssc_fast.contrastive.contrastive_features on a board set's images (seeded), optionally with stronger
views (the module's augmentation constants overridden), caches the features, then clusters them several ways:
LSR with the default post-processing (what PSSC's "contrastive" candidate does), k-means, k-NN spectral
clustering; each with the normalized cut of its partition on the LSR affinity. Labels only score.

    python bench/diagnostics/contrastive_variants.py mnist1k 0 600 base     # dataset, seed, steps, views
"""
import sys, time, pathlib
import numpy as np, torch
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from _rows import image_set
import pssc_fast.contrastive as pc
from pssc_fast.train import shallow_coefficients
from pssc_fast.metrics import acc
from sklearn.cluster import KMeans, SpectralClustering
torch.set_num_threads(1)
name, seed, steps, views = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
VIEWS = {"base": {}, "strong": dict(MAX_ROTATION=np.radians(25), MAX_SCALE=0.3, MAX_SHIFT=0.25, MAX_BRIGHTNESS=0.4, NOISE_STD=0.1)}
for k, v in VIEWS[views].items():
    setattr(pc, k, v)
pixels, y, K = image_set(name)
cache = pathlib.Path(f"/tmp/cf/{name}_{seed}_{steps}_{views}.npy")
t0 = time.time()
if cache.exists():
    H = np.load(cache)
else:
    H = pc.contrastive_features(pixels, steps=steps, seed=seed)
    np.save(cache, H)
t_train = time.time() - t0
C = shallow_coefficients(torch.from_numpy(H), K).numpy()

from pssc_fast.affinity import cluster_best_of
_, r = cluster_best_of({"lsr": C}, K, random_state=0)
res = {"lsr": acc(y, r["lsr"][0]), "kmeans": acc(y, KMeans(K, n_init=10, random_state=0).fit_predict(H))}
for nn_ in (10, 20):
    res[f"knn{nn_}"] = acc(y, SpectralClustering(K, affinity="nearest_neighbors", n_neighbors=nn_, random_state=0).fit_predict(H))
print(name, seed, steps, views, {k: round(v, 3) for k, v in res.items()}, f"cut {r['lsr'][2]:.4f}", f"train {t_train:.0f}s", flush=True)
