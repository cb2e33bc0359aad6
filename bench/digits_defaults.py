"""Does PSSC with default settings cluster scikit-learn's digits? (issue: foundation, Must show)

Runs ``PSSC(n_clusters=10, random_state=s).fit_predict(X)`` on ``sklearn.datasets.load_digits`` (X as it
comes, values 0..16) for each seed, beside scikit-learn's KMeans and nearest-neighbour
SpectralClustering on the same X, and writes bench/results/digits_defaults.json.

    python bench/digits_defaults.py [--seeds 0 1 2]
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
from sklearn.cluster import KMeans, SpectralClustering
from sklearn.datasets import load_digits

from pssc_fast import PSSC
from pssc_fast.metrics import scores
from provenance import provenance

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", default=str(RESULTS / "digits_defaults.json"))
    args = parser.parse_args()
    X, y = load_digits(return_X_y=True)
    rows = []
    for seed in args.seeds:
        for name, make in (("PSSC (defaults)", lambda s: PSSC(n_clusters=10, random_state=s)),
                           ("KMeans", lambda s: KMeans(10, n_init=10, random_state=s)),
                           ("SpectralClustering (k-NN)", lambda s: SpectralClustering(
                               10, affinity="nearest_neighbors", random_state=s))):
            start = time.perf_counter()
            labels = make(seed).fit_predict(X)
            row = {"method": name, "seed": seed, "seconds": time.perf_counter() - start, **scores(y, labels)}
            rows.append(row)
            print(f"{name:28s} seed {seed}  ACC {row['acc']:.4f}  NMI {row['nmi']:.4f}  "
                  f"purity {row['purity']:.4f}  {row['seconds']:.1f} s", flush=True)
    summary = {}
    for name in dict.fromkeys(r["method"] for r in rows):
        sel = [r for r in rows if r["method"] == name]
        summary[name] = {k: [float(np.mean([r[k] for r in sel])), float(np.std([r[k] for r in sel]))]
                         for k in ("acc", "nmi", "purity", "seconds")}
        s = summary[name]
        print(f"{name:28s} mean ACC {s['acc'][0]:.4f} ± {s['acc'][1]:.4f}  NMI {s['nmi'][0]:.4f}  "
              f"{s['seconds'][0]:.1f} s/run")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    import torch

    out.write_text(json.dumps({"machine": platform.platform(), "cpus": __import__("os").cpu_count(),
                               "torch_threads": torch.get_num_threads(), "provenance": provenance(),
                               "defaults": PSSC().get_params(),
                               "runs": rows, "summary": summary}, indent=1, default=str))
    print(f"written {out}")


if __name__ == "__main__":
    main()
