"""Diagnostic: a narrower contrastive encoder trained for more steps at about the same CPU cost.

CUDA's 10000 steps scored higher than the CPU's 2000 (ORL's 700) on every run measured (sixth session), and ORL's
figure rose late; a CPU thread cannot afford them with the default encoder. Halving every width (16-32-64 channels,
64 features) cuts a step's convolutions to about a quarter, so ``--scale`` times the steps and the cap in passes
(default 3) cost about what the defaults cost. One default PSSC fit otherwise (pseudo-supervision at half the plain
steps, the consensus); its final features are saved:

    PSSC_DATA_DIR=../shared/data OMP_NUM_THREADS=1 python bench/diagnostics/contrastive_narrow.py orl 0 \
        --features /tmp/F.npy --out bench/results/diagnostics/contrastive_narrow.jsonl

Labels only score; compare with ``ro_consensus.py fit`` of the same set and seed (the default's figure and seconds).
"""
import functools
import sys
from pathlib import Path


ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench" / "diagnostics"))
import _rows  # noqa: E402


def main() -> None:
    import pssc_fast.contrastive as contrastive

    def add_arguments(parser):
        parser.add_argument("--width", type=int, default=16, help="the first block's channels (default encoder: 32)")
        parser.add_argument("--scale", type=float, default=3.0, help="times the CPU budget's steps and cap in passes")

    args, X, y, K = _rows.fit_diagnostic(__doc__.splitlines()[0], add_arguments)
    contrastive.ContrastiveEncoder = functools.partial(contrastive.ContrastiveEncoder, width=args.width)
    steps, max_epochs = contrastive.default_budget("cpu")
    est, seconds = _rows.saved_fit(X, K, args.seed, args.features, contrastive_steps=round(args.scale * steps),
                                   contrastive_max_epochs=round(args.scale * max_epochs))
    _rows.write_record(args.out, {
        "dataset": args.name, "seed": args.seed, "width": args.width, "scale": args.scale,
        "contrastive_steps": est.contrastive_steps_, "contrastive_pseudo_steps": est.contrastive_pseudo_steps_,
        **_rows.fit_record(est, y, seconds, args.features), "contrastive_seconds": round(est.timings_["contrastive"], 1)})


if __name__ == "__main__":
    main()
