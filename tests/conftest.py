"""Test-session setup shared by every test module."""
import os

import torch

# Without a GPU the Triton kernels can only run in the interpreter, and triton.jit chooses between
# interpreter and compiler when a kernel is decorated: the switch must be set before any test
# imports pssc_fast.kernels (and so triton's kernels). On a CUDA machine the kernels compile.
if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")
