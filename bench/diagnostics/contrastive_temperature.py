"""Diagnostic: one default PSSC fit with the contrastive encoder trained at another NT-Xent / SupCon temperature.

The library trains the encoder at 0.5 in both stages (SimCLR's value; the fifth session's probe of 0.2 lost MNIST-1k ten
points). A higher temperature makes the loss more tolerant of near images of other instances (Wang & Liu, CVPR 2021),
so a class the features stretch into a chain may stay one group. ``--temperature T`` sets it for the plain and the
pseudo-supervised steps; everything else is the defaults. Records as default_fit.py does (labels only score):

    PSSC_DATA_DIR=../shared/data OMP_NUM_THREADS=1 python bench/diagnostics/contrastive_temperature.py mnist-draw-13 0 \
        --temperature 1.0 --out /tmp/temperature.jsonl
"""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench" / "diagnostics"))
import _rows  # noqa: E402

from pssc_fast import contrastive  # noqa: E402


def main() -> None:
    def add_arguments(parser):
        parser.add_argument("--temperature", type=float, required=True, help="both stages' temperature (library: 0.5)")

    args, X, y, K = _rows.default_fit_diagnostic(__doc__.splitlines()[0], add_arguments)
    library = contrastive.contrastive_features
    contrastive.contrastive_features = lambda *a, **k: library(*a, **{**k, "temperature": args.temperature})
    _rows.record_default_fit(args, X, y, K, temperature=args.temperature)


if __name__ == "__main__":
    main()
