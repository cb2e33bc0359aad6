"""Diagnostic: the pseudo-supervised refinement's length and temperature, each against the library's.

The library refines the contrastive encoder for ``contrastive_pseudo`` = 0.5 times its base steps with SupCon at the
base stage's temperature, 0.5 (the only values tried when it became the default). Khosla et al. (2020) train SupCon
at 0.1; the GPU budget runs showed the base stage still gaining past the CPU's steps. ``--pseudo F`` refines for F
times the base steps, ``--temperature T`` sets the refinement's temperature alone (the base stage keeps 0.5). The
encoder trains the library's way otherwise (``contrastive_features``: the CPU budget, same seeds) and the candidate is
scored (ridge self-expression, default post-processing). Labels only score; one JSON line to --out.

    python bench/diagnostics/contrastive_refine_settings.py orl --seed 0 --temperature 0.1
"""
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench" / "diagnostics"))
import _rows  # noqa: E402

from pssc_fast import contrastive  # noqa: E402
from pssc_fast.metrics import acc  # noqa: E402
from pssc_fast.params import PSSC_DEFAULTS  # noqa: E402


def add_arguments(parser):
    parser.add_argument("--pseudo", type=float, default=PSSC_DEFAULTS["contrastive_pseudo"],
                        help="refinement steps as a fraction of the base steps (the library's: %(default)s)")
    parser.add_argument("--temperature", type=float, default=None, help="the refinement's temperature (default: 0.5)")


args, images, y, K = _rows.image_diagnostic(__doc__.splitlines()[0], add_arguments)
PSSC_DEFAULTS["contrastive_pseudo"] = args.pseudo  # what default_candidate reads, in this process only
library_refine = contrastive.refine_encoder
if args.temperature is not None:
    contrastive.refine_encoder = lambda *a, **kw: library_refine(*a, **{**kw, "temperature": args.temperature})

t0 = time.time()
labels, cut, pseudo, _ = _rows.default_candidate(images, K, args.seed)
_rows.write_record(args.out, {"dataset": args.dataset, "seed": args.seed, "pseudo": args.pseudo,
                              "temperature": args.temperature, "pseudo_steps": pseudo, "acc": float(acc(y, labels)),
                              "cut": cut, "seconds": time.time() - t0})
