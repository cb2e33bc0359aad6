"""Triton backend: the kernels of the top-level ``kernels/`` folder as one ``Primitives``.

The kernels are what the backend-neutral autograd (``ops.autograd``) runs on, pass by pass::

    forward   se_forward   1 pass over C                      -> C0 Z, degrees, ||C0||^2
              shat_offdiag 1 pass over C and C^T, 1 write of S0_hat, 2 cuBLAS GEMMs (S0_hat freed)
                                                              -> S0_hat X_hat, S0_hat X
    backward  write_grad_c 1 cuBLAS GEMM into dC (M = X X_hat^T), 1 pass over C and M, in place
                                                              -> dC (all terms); dZ by a skinny GEMM

The n x n x d products, two thirds of a step's flops, are cuBLAS's; the kernels fuse what surrounds them
(|C0|, its transpose, the degrees' scaling, signs, the mirrored trace core, l2, the outer product, the diagonal)
into single passes, so that the n x n matrices torch would build for them never exist. One n x n buffer lives
in the forward (S0_hat) and one in the backward (dC), never both: the step's peak is about one n x n.

Only this module imports the kernels, and ``pssc_fast.ops`` imports it only when the triton
backend is used: importing triton decorates the kernels, and ``triton.jit`` chooses between
interpreter and compiler at that moment (``TRITON_INTERPRET``), so it must not happen on
``import pssc_fast.ops``.
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from .primitives import Primitives, PrimitiveSet

KERNELS = "pssc_fast.kernels"


def _register_kernels_of_source_checkout() -> None:
    """Make ``pssc_fast.kernels`` importable where pssc_fast runs from a source checkout.

    setup.py installs the top-level ``kernels/`` folder as ``pssc_fast.kernels``. A checkout used in
    place has no such package, and that is how the tests, CI and bench/ run (no ``pip install``,
    editable or not), so the folder beside ``pssc_fast/`` is registered under that name; an installed
    package is left as it is. Either way the kernels are then imported by name, below, under the one
    name (``import kernels`` would load them a second time in an installed package).
    """
    if importlib.util.find_spec(KERNELS) is not None:
        return
    folder = Path(__file__).resolve().parents[2] / "kernels"
    if not (folder / "__init__.py").exists():
        raise ModuleNotFoundError(f"{KERNELS} is not installed and {folder} does not exist", name=KERNELS)
    spec = importlib.util.spec_from_file_location(KERNELS, folder / "__init__.py",
                                                  submodule_search_locations=[str(folder)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[KERNELS] = module
    spec.loader.exec_module(module)
    setattr(sys.modules["pssc_fast"], "kernels", module)


_register_kernels_of_source_checkout()

from pssc_fast.kernels.grad_c import write_grad_c  # noqa: E402  (after the registration above)
from pssc_fast.kernels.laplacian_trace import shat_offdiag  # noqa: E402
from pssc_fast.kernels.self_expression import se_forward  # noqa: E402


TRITON: Primitives = PrimitiveSet("triton", se_forward, shat_offdiag, write_grad_c)
"""The kernels' launchers, for the shared autograd code of ``ops.autograd``."""
