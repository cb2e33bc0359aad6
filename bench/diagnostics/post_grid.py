"""Diagnostic: can a label-free rule pick the post-processing (q, alpha, ro) better than the fixed default?

Clusters one C (LSR on the input, or on DSC-Net's released codes with "codes") over a 4 x 4 x 3 grid of
q, alpha, ro and compares the default (4, 5, 0.12) with (a) the grid setting whose partition agrees most with
the others (mean NMI; the "median partition" of consensus clustering) and (b) a consensus partition
(co-association over the grid, then spectral / average-link clustering). Labels only score.

    python bench/diagnostics/post_grid.py orl codes      # also: coil20 codes, digits, coil20, orl, mnist1k
Output of the session run: bench/results/diagnostics/post_grid.log
"""
import sys, time, itertools, numpy as np, torch
ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]
DATA = __import__("pathlib").Path(__import__("os").environ.get("PSSC_DATA_DIR", ROOT.parent / "shared" / "data"))
sys.path.insert(0, str(ROOT))
from pssc_fast import datasets as D
from pssc_fast.models import load_dscnet_autoencoder
from pssc_fast.train import shallow_coefficients
from pssc_fast.affinity import cluster_coefficients
from pssc_fast.metrics import acc
from sklearn.metrics import adjusted_rand_score as ari, normalized_mutual_info_score as nmi
torch.set_num_threads(1)
name = sys.argv[1]
if name in ("orl", "coil20"):
    f = {"orl": "ORL_32x32.mat", "coil20": "COIL20.mat"}[name]
    X, y = D.load_mat(f"{DATA}/{f}")
    if len(sys.argv) > 2 and sys.argv[2] == "codes":
        m = load_dscnet_autoencoder(f"{DATA}/dscnet_pretrained/{name}.npz")
        with torch.no_grad():
            X = m.encode(torch.from_numpy(X.reshape(-1, 1, 32, 32).astype(np.float32))).numpy()
elif name == "digits":
    X, y = D.load_digits()
elif name == "mnist1k":
    X, y = D.load_mnist(DATA, 100)
X = X.reshape(len(X), -1).astype(np.float64)
K = len(np.unique(y))
C = shallow_coefficients(torch.from_numpy(X), K).numpy()
res = {}
for q, alpha, ro in itertools.product([2, 3, 4, 6], [1, 2, 4, 8], [0.1, 0.2, 1.0]):
    lab = cluster_coefficients(C, K, q=q, alpha=alpha, ro=ro, random_state=0)
    res[(q, alpha, ro)] = lab
keys = list(res)
accs = {k: acc(y, res[k]) for k in keys}
agree = {k: np.mean([nmi(res[k], res[j]) for j in keys if j != k]) for k in keys}
best_agree = max(keys, key=lambda k: agree[k])
print(name, sys.argv[2:] , "default(4,5,.12):", round(acc(y, cluster_coefficients(C, K, random_state=0)), 3))
print(" grid acc: min %.3f median %.3f max %.3f" % (min(accs.values()), np.median(list(accs.values())), max(accs.values())))
print(" most-agreeing setting", best_agree, "acc %.3f" % accs[best_agree])
for k in sorted(keys, key=lambda k: -agree[k])[:5]:
    print("  ", k, "agree %.3f acc %.3f" % (agree[k], accs[k]))
# corr between agreement and acc
print(" spearman(agree, acc):", round(__import__("scipy.stats").stats.spearmanr([agree[k] for k in keys], [accs[k] for k in keys])[0], 3))
# consensus: co-association over the grid, then spectral clustering on it
from sklearn.cluster import SpectralClustering, AgglomerativeClustering
H = np.zeros((len(y), len(y)))
for k in keys:
    H += (res[k][:, None] == res[k][None, :])
H /= len(keys)
sc = SpectralClustering(K, affinity="precomputed", random_state=0).fit_predict(H)
al = AgglomerativeClustering(K, metric="precomputed", linkage="average").fit_predict(1 - H)
print(" consensus spectral %.3f average-link %.3f" % (acc(y, sc), acc(y, al)))
