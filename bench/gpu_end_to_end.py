"""End to end on a CUDA machine: PSSC on scikit-learn's digits and fit_large on MNIST-10k.

Run by the device script after bench/gpu_check.sh (fused-kernel tests and scaling). Writes
``$OUT/gpu_end_to_end.json`` (or ``--out``): seconds per stage and ACC/NMI, one seed each —
a speed check of the training path on GPU (backend "auto" = Triton), not an accuracy study.

    python bench/gpu_end_to_end.py --data-dir ../shared/data --out bench/results
"""
from __future__ import annotations

import argparse
import json
import os
import time
import traceback
from pathlib import Path

import torch
from provenance import provenance


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default="../shared/data")
    parser.add_argument("--out", default=os.environ.get("OUT", "bench/results"))
    parser.add_argument("--anchors", type=int, nargs="+", default=[2000])
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result = {"device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
              "torch": torch.__version__, "provenance": provenance()}

    def save():
        (out / "gpu_end_to_end.json").write_text(json.dumps(result, indent=1))

    from pssc_fast import PSSC
    from pssc_fast.datasets import load_digits, load_mnist
    from pssc_fast.metrics import scores

    try:
        X, y = load_digits()
        start = time.perf_counter()
        model = PSSC(n_clusters=10, random_state=0).fit(X)
        result["digits_pssc"] = {"seconds": time.perf_counter() - start, "timings": model.timings_,
                                 **scores(y, model.labels_)}
        print("digits", result["digits_pssc"], flush=True)
    except Exception:
        result["digits_pssc"] = {"error": traceback.format_exc()}
        print(result["digits_pssc"]["error"], flush=True)
    save()

    if Path(args.data_dir).is_dir():
        from pssc_fast import fit_large

        X, y = load_mnist(args.data_dir)
        for anchors in args.anchors:
            key = f"mnist10k_fit_large_anchors{anchors}"
            try:
                start = time.perf_counter()
                model = fit_large(X, 10, anchors=anchors, random_state=0)
                result[key] = {"seconds": time.perf_counter() - start,
                               "timings": getattr(model, "timings_", None), **scores(y, model.labels_)}
                print(key, result[key], flush=True)
            except Exception:
                result[key] = {"error": traceback.format_exc()}
                print(result[key]["error"], flush=True)
            save()


if __name__ == "__main__":
    main()
