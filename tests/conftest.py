"""Test-session setup shared by every test module."""
import os

import pytest
import torch

# Without a GPU the Triton kernels can only run in the interpreter, and triton.jit chooses between
# interpreter and compiler when a kernel is decorated: the switch must be set before any test
# imports pssc_fast.kernels (and so triton's kernels). On a CUDA machine the kernels compile.
if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")


def pytest_collection_modifyitems(config, items):
    """PSSC_TEST_SHARD="i/N" keeps the i-th (0-based) of N contiguous slices of the tests.

    bench/gpu_check.sh runs N shards side by side so that Triton compiles kernels on several CPU
    cores at once; contiguous slices keep one test function's kernel variants mostly in one
    shard. Without the variable every test runs.
    """
    shard = os.environ.get("PSSC_TEST_SHARD")
    if not shard:
        return
    index, count = (int(v) for v in shard.split("/"))
    lo, hi = len(items) * index // count, len(items) * (index + 1) // count
    config.hook.pytest_deselected(items=items[:lo] + items[hi:])
    items[:] = items[lo:hi]


@pytest.fixture(scope="module")
def one_torch_thread():
    """torch on one intra-op thread for a module's tests, restored after. For modules of tiny networks: on a
    loaded machine two intra-op threads mostly wait on each other."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
