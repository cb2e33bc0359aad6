"""Seconds per fine-tuning step and peak memory of PSSC, beside a DSC-Net step, measured in one run.

Question (issue 6, item 5): PSSC does more work per epoch than DSC-Net (the Laplacian trace, the
pseudo-supervision). What does that cost on ORL (n = 400) and COIL20 (n = 1440) against what a user would
otherwise run, the public PyTorch port of DSC-Net?

The DSC-Net step below follows that port's structure (TensorFlow-'SAME' padding modules, stride-2
Conv2d / ConvTranspose2d with ReLU, a dense n x n ``C`` parameter, loss 0.5||X - X_hat||^2 + ||C||^2 +
(gamma/2)||Z - CZ||^2, Adam) with the same conv architecture as our configuration for the dataset. Our steps
are ``pssc_fast.train.finetune`` with the dataset's configuration and the three variants' switches (DSC-L2,
PSSC_l, PSSC). Networks start from random weights: the cost of a step does not depend on pre-training.

Timing: all methods in one process, interleaved round by round (this machine is noisy), full batch; the
median seconds per step over the rounds, and each method's ratio to DSC-Net. Fine-tuning's set-up (the
ridge start of C) is timed apart and removed (see ``seconds_per_step``). Memory: each method again in a
fresh subprocess; peak resident memory (VmHWM) after the same number of steps, beside the peak of a
process that only imported torch and loaded the data. Our fine-tuning fixes glibc's mmap threshold
(``pssc_fast.memory.map_large_blocks``); the DSC-Net child never calls it and runs under glibc's defaults,
as a user of the port would. Under the same fixed threshold the DSC-Net step peaks at about what ours does,
so a memory difference here is the allocator setting, not the step. In the timing process both run under
the setting once our first step has made it.

    python bench/finetune_speed.py [--data-dir ../shared/data] [--threads 2]

Writes bench/results/finetune_speed.{json,csv,png}. Without --data-dir (or without the files), uniform
random images of the same shapes are used; a step's cost does not depend on pixel values.
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from _common import DSCNET_PORT, RESULTS, load_dataset
from provenance import provenance

SHAPES = {"orl": (400, 40), "coil20": (1440, 20)}  # (n, clusters); 32 x 32 grey images
METHODS = ("dsc-net", "dsc-l2", "pssc-l", "pssc")
LABELS = {"dsc-net": "DSC-Net (port)", "dsc-l2": "DSC-L2", "pssc-l": "PSSC_l", "pssc": "PSSC"}


def load_images(dataset: str, data_dir) -> tuple[np.ndarray, str]:
    n, _ = SHAPES[dataset]
    if data_dir is not None:
        try:
            X, _ = load_dataset(dataset, data_dir)
            X = X.astype(np.float32)
            X = (X - X.min()) / max(float(X.max() - X.min()), 1e-12)  # the configs' min-max scaling
            return X, "data"
        except FileNotFoundError:
            pass
    return np.random.default_rng(0).random((n, 1, 32, 32), dtype=np.float32), "random"


# -- the DSC-Net step, after the public PyTorch port -------------------------------------------------
def dscnet_step(X, channels, kernels, lr=1e-3, gamma=75.0):
    import torch
    from torch import nn
    from torch.nn import functional as F

    class SamePad(nn.Module):  # TensorFlow 'SAME' padding for a stride-2 conv
        def __init__(self, k):
            super().__init__()
            self.k = k

        def forward(self, x):
            h = x.shape[2]
            total = max((math.ceil(h / 2) - 1) * 2 + self.k - h, 0)
            return F.pad(x, (total // 2, total - total // 2, total // 2, total - total // 2))

    class Crop(nn.Module):  # the transposed conv's 'SAME' output
        def __init__(self, k):
            super().__init__()
            self.k = k

        def forward(self, x):
            total = self.k - 2
            a, b = total // 2, total - total // 2
            return x[:, :, a:x.shape[2] - b, a:x.shape[3] - b]

    chans = [1, *channels]
    enc, dec = [], []
    for c_in, c_out, k in zip(chans[:-1], chans[1:], kernels):
        enc += [SamePad(k), nn.Conv2d(c_in, c_out, k, 2), nn.ReLU()]
        dec = [nn.ConvTranspose2d(c_out, c_in, k, 2), Crop(k), nn.ReLU()] + dec
    encoder, decoder = nn.Sequential(*enc), nn.Sequential(*dec)
    n = X.shape[0]
    C = nn.Parameter(1e-8 * torch.ones(n, n))
    opt = torch.optim.Adam([*encoder.parameters(), *decoder.parameters(), C], lr=lr)

    def step():
        z = encoder(X)
        shape = z.shape
        z = z.reshape(n, -1)
        zc = C @ z
        x_hat = decoder(zc.reshape(shape))
        loss = (0.5 * F.mse_loss(x_hat, X, reduction="sum") + C.pow(2).sum()
                + 0.5 * gamma * F.mse_loss(zc, z, reduction="sum"))
        opt.zero_grad()
        loss.backward()
        opt.step()

    return step


def ours_runner(X, dataset: str, variant: str):
    """``run(steps)``: the library's fine-tuning for this dataset and variant, ``steps`` steps."""
    import torch

    from pssc_fast.estimator import PSSC, load_config
    from pssc_fast.losses import LossWeights
    from pssc_fast.models import ConvAutoEncoder
    from pssc_fast.train import finetune

    params = PSSC.variant(variant, **load_config(dataset)["params"]).get_params()
    weights = LossWeights.from_params(params)
    model = ConvAutoEncoder((1, 32, 32), params["channels"], params["kernel_sizes"])
    Xf = X.reshape(X.shape[0], -1)
    k = SHAPES[dataset][1]

    def run(steps):
        finetune(model, Xf, k, weights=weights, epochs=steps, lr=params["lr"], head_lr=params["head_lr"],
                 c_init=params["c_init"], tau=params["tau"], generator=torch.Generator().manual_seed(0),
                 verbose=False)

    return run


def make_runner(method: str, dataset: str, X):
    """``run(steps)``: ``steps`` full-batch steps of one method."""
    from pssc_fast.estimator import load_config

    if method == "dsc-net":
        params = load_config(dataset)["params"]
        step = dscnet_step(X, params["channels"], params["kernel_sizes"])

        def run(steps):
            for _ in range(steps):
                step()
        return run
    return ours_runner(X, dataset, method)


def seconds_per_step(run, steps: int, method: str) -> float:
    """Our fine-tuning call also sets up C (the ridge start, an n x n solve): time 1 + steps and 1 step and
    take the difference. The DSC-Net closure keeps its state between calls: no set-up to remove."""
    t = time.perf_counter()
    run(steps if method == "dsc-net" else steps + 1)
    total = time.perf_counter() - t
    if method == "dsc-net":
        return total / steps
    t = time.perf_counter()
    run(1)
    return (total - (time.perf_counter() - t)) / steps


def child(args) -> None:
    """One method in a fresh process: print its peak RSS (MiB) after ``steps`` steps (or none)."""
    import torch

    torch.set_num_threads(args.threads)
    X = torch.from_numpy(load_images(args.dataset, args.data_dir)[0])
    if args.method != "none":
        make_runner(args.method, args.dataset, X)(args.steps)
    print(json.dumps({"peak_rss_mib": peak_rss_mib()}))


def peak_rss_mib() -> float:
    """This process's peak resident memory. VmHWM belongs to the process image, whereas ru_maxrss also
    carries the parent's peak across fork + exec (the timing parent here is large)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--datasets", nargs="+", choices=sorted(SHAPES), default=["orl", "coil20"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, nargs=2, default=(30, 8), metavar=("ORL", "COIL20"),
                    help="steps per timed call (ORL, COIL20)")
    ap.add_argument("--memory-steps", type=int, default=30, help="steps before reading a child's peak memory")
    ap.add_argument("--out", default=str(RESULTS / "finetune_speed"))
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--method", default="none", help=argparse.SUPPRESS)
    ap.add_argument("--dataset", default="orl", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        args.steps = args.memory_steps
        return child(args)

    import torch

    torch.set_num_threads(args.threads)
    steps_for = dict(zip(("orl", "coil20"), args.steps))
    rows = []
    for dataset in args.datasets:
        images, source = load_images(dataset, args.data_dir)
        X = torch.from_numpy(images)
        steps = steps_for[dataset]
        runners = {m: make_runner(m, dataset, X) for m in METHODS}
        for run in runners.values():  # warm-up: first calls allocate and pick kernels
            run(2)
        times = {m: [] for m in METHODS}
        for r in range(args.rounds):
            for m in METHODS:
                times[m].append(seconds_per_step(runners[m], steps, m))
            print(f"{dataset} round {r + 1}/{args.rounds}: "
                  + ", ".join(f"{m} {times[m][-1]:.4f} s" for m in METHODS), flush=True)
        mem = {}
        for m in ("none", *METHODS):
            cmd = [sys.executable, __file__, "--child", "--method", m, "--dataset", dataset,
                   "--threads", str(args.threads), "--memory-steps", str(args.memory_steps)]
            if args.data_dir:
                cmd += ["--data-dir", args.data_dir]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            mem[m] = json.loads(out.strip().splitlines()[-1])["peak_rss_mib"]
        base = float(np.median(times["dsc-net"]))
        for m in METHODS:
            med = float(np.median(times[m]))
            rows.append({"dataset": dataset, "n": X.shape[0], "images": source, "method": m, "steps_per_call": steps,
                         "rounds": args.rounds, "s_per_step_median": med,
                         "s_per_step_min": float(np.min(times[m])), "s_per_step_max": float(np.max(times[m])),
                         "ratio_to_dscnet": med / base, "peak_rss_mib": mem[m], "baseline_rss_mib": mem["none"],
                         "peak_rss_ratio_to_dscnet": mem[m] / mem["dsc-net"]})
            print(f"{dataset:7s} {LABELS[m]:15s} {med:.4f} s/step ({med / base:.2f}x DSC-Net)  "
                  f"peak {mem[m]:.0f} MiB (import + data: {mem['none']:.0f})", flush=True)

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"threads": args.threads, "rounds": args.rounds, "memory_steps": args.memory_steps,
            "machine": platform.platform(), "cpus": __import__("os").cpu_count(), "torch": torch.__version__,
            "issue_port_figures": DSCNET_PORT, "date": time.strftime("%Y-%m-%d %H:%M"),
            "provenance": provenance()}
    out.with_suffix(".json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    with open(out.with_suffix(".csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    plot(rows, out.with_suffix(".png"), meta)
    print(f"wrote {out.with_suffix('.json')}, .csv, .png")


def plot(rows, path: Path, meta: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = list(dict.fromkeys(r["dataset"] for r in rows))
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    width = 0.8 / len(METHODS)
    for j, m in enumerate(METHODS):
        sel = [next(r for r in rows if r["dataset"] == d and r["method"] == m) for d in datasets]
        x = np.arange(len(datasets)) + (j - (len(METHODS) - 1) / 2) * width
        axes[0].bar(x, [r["ratio_to_dscnet"] for r in sel], width, label=LABELS[m])
        axes[1].bar(x, [r["peak_rss_mib"] for r in sel], width, label=LABELS[m])
    for ax, title in zip(axes, ("seconds per step / DSC-Net's (median)", "peak resident memory (MiB)")):
        ax.set_xticks(np.arange(len(datasets)), [f"{d} (n={SHAPES[d][0]})" for d in datasets])
        ax.set_title(title, fontsize=10)
    axes[0].axhline(2.0, color="k", ls=":", lw=1, label="2x target")
    axes[0].legend(fontsize=8)
    fig.suptitle(f"fine-tuning step, full batch, {meta['threads']} torch threads, {meta['rounds']} interleaved rounds",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
