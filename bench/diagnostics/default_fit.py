"""Diagnostic: one PSSC fit with the defaults on a board set, as the README's defaults row reports it.

Records ACC of the labels, the chosen candidate, the candidates whose partitions the labels are the consensus of
(``consensus_of_``), each candidate's ACC at ro and its normalized cut, and the seconds (labels only score).
``--param NAME=VALUE`` (repeatable; VALUE read as JSON, else as a string) fits with that parameter instead of its
default, and the record says so:

    PSSC_DATA_DIR=../shared/data OMP_NUM_THREADS=1 python bench/diagnostics/default_fit.py orl 0 \
        --out bench/results/diagnostics/default_fit.jsonl
"""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench" / "diagnostics"))
import _rows  # noqa: E402


def main() -> None:
    def add_arguments(parser):
        parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                            help="a PSSC parameter instead of its default")

    args, X, y, K = _rows.default_fit_diagnostic(__doc__.splitlines()[0], add_arguments)
    params = dict(_rows.parameter(text) for text in args.param)
    _rows.record_default_fit(args, X, y, K, params=params, **({"with": params} if params else {}))


if __name__ == "__main__":
    main()
