"""Diagnostic: nearest-neighbour positives in the plain contrastive steps too (NNCLR's idea, Dwibedi et al., 2021).

The default pseudo-supervised steps add SupCon over the components of the features' 1-nearest-neighbour graph
(:func:`pssc_fast.contrastive.neighbour_groups`), which lifted ORL, digits and COIL20 (sixteenth session). Here the
plain steps get the same positives from ``--start`` of the way on: at that step the encoder's features of the
un-augmented images give the components once, and every later plain step's loss is the mean of NT-Xent and SupCon over
them. Otherwise one default PSSC fit:

    PSSC_DATA_DIR=../shared/data OMP_NUM_THREADS=1 python bench/diagnostics/contrastive_base_neighbours.py orl 9 \
        --out bench/results/diagnostics/contrastive_base_neighbours.jsonl

Labels only score; compare with ``default_fit.py`` of the same set and seed on the same CPU. Since git 0018361 the
library's defaults do this with start 0.5 (``contrastive_neighbours``), so ``--start 1.0`` gives the previous defaults.
"""
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench" / "diagnostics"))
import _rows  # noqa: E402


def main() -> None:
    import pssc_fast.contrastive as contrastive

    args, X, y, K = _rows.default_fit_diagnostic(
        __doc__.splitlines()[0],
        lambda parser: parser.add_argument("--start", type=float, default=0.5,
                                           help="fraction of the plain steps before the neighbours"))
    record = {}

    def train_encoder(images, *, steps, seed, max_epochs=None, batch_size=256, temperature=0.5, lr=1e-3,
                      neighbours=False, on_step=None, verbose=False):
        # the library's train_encoder as it was before the plain steps took neighbour positives (git ef9249a), with a
        # loss that switches at ``start`` of the planned steps; the library's own ``neighbours`` flag is ignored
        images = contrastive._shrunk(images)
        n = images.shape[0]
        bs = min(int(batch_size), n)
        steps = contrastive.planned_steps(n, steps, max_epochs, bs)
        switch = int(round(args.start * steps))
        generator = torch.Generator().manual_seed(int(seed))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))
            model = contrastive.ContrastiveEncoder(images.shape[1]).to(images.device)
        state = {"near": None}

        def loss_of(z, batch):
            if state["near"] is None:
                return contrastive.nt_xent(z, temperature)
            return 0.5 * (contrastive.nt_xent(z, temperature) + contrastive.supcon(z, state["near"][batch], temperature))

        def at_step(step, model):
            if step == switch:
                near = contrastive.neighbour_groups(contrastive._raw_features(model, images))
                model.train()  # _raw_features left it in eval mode
                state["near"] = near
                groups = near.numpy()
                record["components"] = int(groups.max()) + 1
                record["component_purity"] = round(float(sum(np.bincount(y[groups == c]).max()
                                                             for c in range(record["components"])) / len(y)), 4)

        return contrastive._train_on_views(model, images, steps, generator, bs, lr, loss_of, at_step, verbose,
                                           "contrastive")

    contrastive.train_encoder = train_encoder
    _rows.record_default_fit(args, X, y, K, start=args.start, **record)


if __name__ == "__main__":
    main()
