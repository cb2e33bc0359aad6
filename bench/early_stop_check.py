"""Does the label-free early stop of pre-training (pssc_fast/budget.py) cut ordinary runs short?

Each part pre-trains as the library does with its defaults, records every epoch's (pass's) mean
reconstruction error with the rule switched off, then replays the default rule on the curve:

* ``digits``   - PSSC's defaults on scikit-learn's digits (1797 x 64, 200 epochs), seeds 0 and 1;
* ``configs``  - the built-in ORL, COIL20 and MNIST-1k configurations (150 epochs, conv nets), seed 0
  (needs ORL_32x32.mat, COIL20.mat and the MNIST t10k files in --data-dir);
* ``mnist10k`` - fit_large's pre-training on the 10,000 MNIST test images (10^6 samples: 100 passes of
  39 steps), seed 0; about 20-25 minutes on one thread.

For each curve: the epoch the rule would stop at (None: the full budget) and the smallest relative
improvement of the best loss over any plateau window - the rule stops when it falls to PLATEAU_TOL.
Results are merged into bench/results/early_stop_check.json.

    OMP_NUM_THREADS=1 python bench/early_stop_check.py digits configs --data-dir ../shared/data
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
OUT = ROOT / "bench" / "results" / "early_stop_check.json"


def replay(losses, variance, steps_per_epoch):
    """(epoch the default rule stops at or None, its reason, smallest relative improvement over a window)."""
    from pssc_fast.budget import PLATEAU_MIN_STEPS, PLATEAU_PATIENCE, EarlyStop

    stop = EarlyStop(variance=variance)
    stop.steps_per_epoch = steps_per_epoch
    at = next((i + 1 for i, x in enumerate(losses) if stop.update(x)), None)
    window = max(PLATEAU_PATIENCE, math.ceil(PLATEAU_MIN_STEPS / steps_per_epoch))
    margins = [(min(losses[:e - window]) - min(losses[e - window:e])) / min(losses[:e - window])
               for e in range(window + 1, len(losses) + 1)]
    return at, stop.reason, (min(margins) if margins else None), window


def recorded_pretrain(est, X, seed):
    """Pre-train as PSSC.fit does (same seeding) with the stop off; (losses, variance, steps per epoch)."""
    from pssc_fast.budget import EarlyStop

    if est.random_state != seed:
        raise ValueError(f"the estimator is seeded with {est.random_state}, not {seed}")
    recorder = EarlyStop(tol=0, floor=0)  # never stops: records the whole curve
    est.set_params(verbose=False, device="cpu").pretrained_autoencoder(X, early_stop=recorder)
    return recorder.losses, recorder.variance, recorder.steps_per_epoch


def entry(name, losses, variance, steps_per_epoch, seconds, **extra):
    at, reason, margin, window = replay(losses, variance, steps_per_epoch)
    print(f"{name}: {len(losses)} epochs, the default rule stops at {at or 'none (full budget)'}; smallest "
          f"improvement over a {window}-epoch window {margin:.2%}", flush=True)
    return {"epochs": len(losses), "rule_stops_at": at, "reason": reason, "window_epochs": window,
            "min_window_improvement": margin, "steps_per_epoch": steps_per_epoch, "variance": variance,
            "seconds": round(seconds, 1), "epoch_losses": losses, **extra}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("parts", nargs="+", choices=("digits", "configs", "mnist10k"))
    parser.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data"))
    args = parser.parse_args(argv)
    import torch
    from provenance import provenance

    from pssc_fast import PSSC
    from pssc_fast.datasets import load_digits, load_mat, load_mnist

    results = {}
    data = Path(args.data_dir)
    if "digits" in args.parts:
        X, _ = load_digits()
        for seed in (0, 1):
            t0 = time.perf_counter()
            curve = recorded_pretrain(PSSC(10, random_state=seed), X, seed)
            results[f"digits_seed{seed}"] = entry(f"digits seed {seed}", *curve, time.perf_counter() - t0,
                                                  provenance=provenance())
    if "configs" in args.parts:
        loaders = {"orl": lambda: load_mat(data / "ORL_32x32.mat"), "coil20": lambda: load_mat(data / "COIL20.mat"),
                   "mnist1k": lambda: load_mnist(data, 100)}
        for name, load in loaders.items():
            X, _ = load()
            side = int(round(math.sqrt(X.shape[1])))
            t0 = time.perf_counter()
            curve = recorded_pretrain(PSSC.from_config(name, random_state=0), X.reshape(-1, 1, side, side), 0)
            results[f"config_{name}_seed0"] = entry(f"config {name}", *curve, time.perf_counter() - t0,
                                                    provenance=provenance())
    if "mnist10k" in args.parts:
        from pssc_fast.budget import EarlyStop
        from pssc_fast.large import pretrain_stream
        from pssc_fast.models import FCAutoEncoder

        X, _ = load_mnist(data)
        rows = lambda A, idx: np.ascontiguousarray(A[idx], dtype=np.float32) / 255.0  # noqa: E731 (fit_large's scaling)
        torch.manual_seed(0)
        ae = FCAutoEncoder(784, (500, 500, 2000), 10)
        recorder = EarlyStop(tol=0, floor=0)
        t0 = time.perf_counter()
        pretrain_stream(ae, X, samples=1_000_000, rng=0, rows=rows, early_stop=recorder)
        S = X.astype(np.float64) / 255.0
        variance = float(((S - S.mean(axis=0)) ** 2).mean())
        results["mnist10k_fit_large_seed0"] = entry("MNIST-10k fit_large", recorder.losses, variance,
                                                    recorder.steps_per_epoch, time.perf_counter() - t0,
                                                    provenance=provenance())
    OUT.parent.mkdir(parents=True, exist_ok=True)
    # merged with what is on disk now, so that parts run one after another (or side by side) add up
    merged = {**(json.loads(OUT.read_text()) if OUT.exists() else {}), **results}
    OUT.write_text(json.dumps(merged, indent=1) + "\n")
    print(f"written to {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
