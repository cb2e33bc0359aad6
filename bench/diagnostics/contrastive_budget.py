"""Diagnostic: does a longer contrastive budget (or a wider encoder, larger batches) give better features?

One training run of the library's contrastive encoder (pssc_fast.contrastive.train_encoder) on a set's images,
evaluated at each checkpoint step: a label-free NT-Xent loss on fixed views of fixed images (eval mode), the
normalized cut of the features' LSR partition (default post-processing), and, to score only, its ACC. MNIST-10k is
clustered as fit_large does it: LSR on 2000 uniformly drawn anchors, every row labelled by its nearest anchor in
feature space. Runs on CUDA when there is one (the point: budgets that take hours on the 2-core CPU). Stops at the
last checkpoint or after --seconds, whichever comes first; prints one line per checkpoint and appends it as JSON to
--out. Data from $PSSC_DATA_DIR (default ../shared/data).

    python bench/diagnostics/contrastive_budget.py mnist10k --seed 0 --checkpoints 2000 5000 10000 20000
    python bench/diagnostics/contrastive_budget.py coil20 --width 64 --batch 512 --checkpoints 2000 5000
"""
import argparse
import json
import sys
import time
from functools import partial
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
import _rows  # noqa: E402  (this script's folder)
import pssc_fast.contrastive as contrastive  # noqa: E402
from pssc_fast.affinity import cluster_best_of  # noqa: E402
from pssc_fast.metrics import acc  # noqa: E402
from pssc_fast.train import shallow_coefficients  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("dataset", help="orl, coil20, mnist1k, digits or mnist10k")
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--width", type=int, default=32, help="the encoder's first-layer channels (library: 32)")
parser.add_argument("--batch", type=int, default=256, help="images per step (library: 256)")
parser.add_argument("--checkpoints", type=int, nargs="+", default=[2000, 5000, 10000, 20000])
parser.add_argument("--seconds", type=float, default=1e9, help="stop after this many seconds of the whole run")
parser.add_argument("--anchors", type=int, default=2000, help="MNIST-10k only")
parser.add_argument("--out", default=None, help="append one JSON line per checkpoint here")
parser.add_argument("--threads", type=int, default=2)
args = parser.parse_args()
torch.set_num_threads(args.threads)
start = time.time()
device = "cuda" if torch.cuda.is_available() else "cpu"
images, y, K = _rows.image_set(args.dataset)  # data from $PSSC_DATA_DIR (_rows.DATA)
anchors = _rows.seeded_anchors(len(images), args.seed, args.anchors) if args.dataset == "mnist10k" else None
images = images.to(device)
# fixed views for the label-free loss curve: 512 images (or all), two views each, drawn once
probe_gen = torch.Generator().manual_seed(12345)
probe = images[torch.randperm(len(images), generator=probe_gen)[:512]]
probe_views = torch.cat([contrastive.augment(contrastive._shrunk(probe), probe_gen) for _ in range(2)])
contrastive.ContrastiveEncoder = partial(contrastive.ContrastiveEncoder, width=args.width)
checkpoints = sorted(set(args.checkpoints))


class Done(Exception):
    pass


def evaluate(step, model):
    if step not in checkpoints and time.time() - start < args.seconds:
        return
    t_eval = time.time()
    model.eval()
    with torch.no_grad():
        loss = contrastive.nt_xent(model.head(model(probe_views)), 0.5).item()
    H = contrastive.encode(model, images).double().cpu().numpy()
    model.train()
    rows = H if anchors is None else H[anchors]
    C = shallow_coefficients(torch.from_numpy(rows), K).numpy()
    _, result = cluster_best_of({"c": C}, K, random_state=args.seed)
    labels, _, cut = result["c"]
    record = {"dataset": args.dataset, "seed": args.seed, "width": args.width, "batch": args.batch, "step": step,
              "device": device, "probe_loss": loss, "cut": float(cut),
              "train_seconds": t_eval - evaluate.train_start - evaluate.eval_seconds}
    if anchors is None:
        record["acc"] = float(acc(y, labels))
    else:
        from pssc_fast.nearest import build_index, nearest_anchor_labels

        index = build_index(rows.astype(np.float32), "flat", 0, None)
        full = nearest_anchor_labels(index, H.astype(np.float32), labels, K)
        record["acc_anchors"], record["acc"] = float(acc(y[anchors], labels)), float(acc(y, full))
    evaluate.eval_seconds += time.time() - t_eval
    print(json.dumps(record), flush=True)
    if args.out:
        with open(args.out, "a") as f:
            f.write(json.dumps(record) + "\n")
    if step >= checkpoints[-1] or time.time() - start >= args.seconds:
        raise Done


evaluate.eval_seconds = 0.0
evaluate.train_start = time.time()  # seconds exclude loading the data and evaluating
try:
    contrastive.train_encoder(images, steps=checkpoints[-1], seed=args.seed, batch_size=args.batch,
                              on_step=evaluate)
except Done:
    pass
