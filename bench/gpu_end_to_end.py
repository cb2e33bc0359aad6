"""End to end on a CUDA machine: PSSC on scikit-learn's digits and fit_large on MNIST-10k.

Run by bench/gpu_all.sh after the tests and bench/kernel_bench.py. Writes ``$OUT/gpu_end_to_end.json`` (or
``--out``): seconds per stage (``timings_``: scan, pretrain, finetune, cluster, encode, assign), ACC/NMI, the
backend ("auto" resolved) and the precision, one seed each, for every ``--runs`` backend:precision - a speed check of the
training path on GPU, not an accuracy study. MNIST-10k has 10,000 rows, so ``--anchors 20000`` is capped at
10,000 (the n x n layer then spans every row: n = 10,000).

    python bench/gpu_end_to_end.py --data-dir .device_data --out bench/results/cuda
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
    parser.add_argument("--anchors", type=int, nargs="+", default=[20000])
    parser.add_argument("--runs", nargs="+", default=["auto:ieee", "auto:tf32", "triton:tf32"],
                        help="backend:precision of each fit_large run")
    parser.add_argument("--pretrain-samples", type=int, default=None, help="fit_large's budget (default: its own)")
    parser.add_argument("--skip-digits", action="store_true")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--contrastive-steps", type=int, default=None, help="fit_large's (default: its own, 'auto')")
    parser.add_argument("--image-shape", choices=["none", "auto"], default="none",
                        help="'none': rows as vectors (times the n x n layer alone); 'auto': fit_large's default, "
                             "which reads MNIST's rows as images and adds the contrastive stage (issue 17's quality "
                             "run)")
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

    if not args.skip_digits:
        try:
            X, y = load_digits()
            start = time.perf_counter()
            model = PSSC(n_clusters=10, random_state=0).fit(X)
            result["digits_pssc"] = {"seconds": time.perf_counter() - start, "timings": model.timings_,
                                     "backend": model.backend_, "precision": model.precision_,
                                     **scores(y, model.labels_)}
            print("digits", result["digits_pssc"], flush=True)
        except Exception:
            result["digits_pssc"] = {"error": traceback.format_exc()}
            print(result["digits_pssc"]["error"], flush=True)
        save()

    if Path(args.data_dir).is_dir():
        from pssc_fast import fit_large

        X, y = load_mnist(args.data_dir)
        extra = {} if args.pretrain_samples is None else {"pretrain_samples": args.pretrain_samples}
        if args.contrastive_steps is not None:
            extra["contrastive_steps"] = args.contrastive_steps
        image_shape = None if args.image_shape == "none" else "auto"
        for anchors, run, seed in ((a, r, s) for a in args.anchors for r in args.runs for s in args.seeds):
            backend, precision = run.split(":")
            key = (f"mnist10k_fit_large_anchors{anchors}_{backend}_{precision}"
                   + ("_images" if image_shape else "") + (f"_seed{seed}" if seed else ""))
            try:
                start = time.perf_counter()
                # --image-shape none keeps rows as vectors: it times the n x n layer at 10,000 anchors; "auto" is
                # fit_large's default (MNIST's rows read as images, so the contrastive stage runs too)
                model = fit_large(X, 10, anchors=anchors, random_state=seed, backend=backend, precision=precision,
                                  image_shape=image_shape, **extra)
                result[key] = {**scores(y, model.labels_), "seconds": time.perf_counter() - start,
                               "anchors_used": len(model.anchor_indices_),
                               "seed": seed, "image_shape": str(getattr(model, "image_shape_", image_shape)),
                               "chosen": getattr(model, "chosen_", None),
                               "backend": model.backend_, "precision": model.precision_,
                               "contrastive_steps": getattr(model, "contrastive_steps_", None),
                               "timings": getattr(model, "timings_", None)}
                print(key, result[key], flush=True)
            except Exception:
                result[key] = {"error": traceback.format_exc()}
                print(result[key]["error"], flush=True)
            save()


if __name__ == "__main__":
    main()
