"""Diagnostic: one PSSC fit with the defaults on a board set, as the README's defaults row reports it.

Records ACC of the labels, the chosen candidate, the candidates whose partitions the labels are the consensus of
(``consensus_of_``), each candidate's ACC at ro and its normalized cut, and the seconds (labels only score):

    PSSC_DATA_DIR=../shared/data OMP_NUM_THREADS=1 python bench/diagnostics/default_fit.py orl 0 \
        --out bench/results/diagnostics/default_fit.jsonl
"""
import argparse
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench" / "diagnostics"))
import _rows  # noqa: E402

from pssc_fast import PSSC  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", help="digits, orl, coil20, mnist1k or mnist-draw-N")
    parser.add_argument("seed", type=int)
    parser.add_argument("--out", default=None, help="a JSON-lines file the record is appended to")
    parser.add_argument("--candidates", type=Path, default=None,
                        help="an .npz file that gets every candidate's C (by name), the labels and the true labels, for "
                             "diagnostics that label one fit's candidates other ways")
    args = parser.parse_args()
    torch.set_num_threads(1)
    X, y, K = _rows.square_images(args.name)
    kept = _rows.keep_candidates() if args.candidates else {}
    t0 = time.perf_counter()
    est = PSSC(K, random_state=args.seed).fit(X)
    if args.candidates:
        _rows.save_candidates(args.candidates, est, kept, y)
    _rows.write_record(args.out, {"dataset": args.name, "seed": args.seed,
                                  **_rows.default_record(est, y, time.perf_counter() - t0)})


if __name__ == "__main__":
    main()
