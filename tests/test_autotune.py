"""The autotuning machinery of the kernels (kernels/utils.py), checked under the interpreter.

Autotuning runs a kernel several times per config before the real launch; outputs written with atomic adds
(the column sums of |C0|) must be zeroed between those runs, or the first step at every new size would see
them counted several times. The kernels carry one config under the interpreter, so these tests wrap the same
jit functions in an autotuner of two configs and compare with plain torch. ``prune`` (dtype split, chunk caps)
is plain Python.
"""
from __future__ import annotations

import pytest
import torch

triton = pytest.importorskip("triton", reason="triton cannot be imported")

from pssc_fast.ops import reference  # noqa: E402
from pssc_fast.ops.primitives import TraceGrad  # noqa: E402

pytestmark = pytest.mark.skipif(torch.cuda.is_available(), reason="interpreter check (CUDA runs the real autotuner)")


def _kernels():
    import pssc_fast.ops.triton_backend  # noqa: F401  (registers pssc_fast.kernels)
    from pssc_fast.kernels import grad_c, self_expression, utils

    return grad_c, self_expression, utils


def _two_configs(utils, kernel, tiles, *, reset):
    configs = [triton.Config(dict(t), num_warps=1) for t in tiles]
    return utils.autotune(configs, key=["n"], reset_to_zero=reset)(kernel.fn)


def test_autotuning_zeroes_the_column_sums_between_runs(monkeypatch):
    grad_c, se, utils = _kernels()
    tuned = _two_configs(utils, se._se_fwd_kernel, [dict(BLOCK_M=16, BLOCK_N=16), dict(BLOCK_M=32, BLOCK_N=16)],
                         reset=["COL"])
    monkeypatch.setattr(se, "_se_fwd_kernel", tuned)
    g = torch.Generator().manual_seed(0)
    C, Z = torch.randn(45, 45, generator=g), torch.randn(45, 3, generator=g)
    out = se.se_forward(C, Z, with_degrees=True)
    A = reference.zero_diagonal(C).abs()
    assert tuned.best_config is not None and len(tuned.cache) == 1  # both configs were timed, one kept
    torch.testing.assert_close(out.col_abs, A.sum(dim=0))
    torch.testing.assert_close(out.row_abs, A.sum(dim=1))
    torch.testing.assert_close(out.zc, reference.zero_diagonal(C) @ Z)


def test_dc_pass_runs_in_place_once_per_call():
    """dC's kernel overwrites the GEMM result it reads (M = X X_hat^T), so running it twice on one buffer, as an
    autotuner would, gives a wrong dC: it must be a plain jit function, launched once, with the right result."""
    grad_c, se, utils = _kernels()
    assert not hasattr(grad_c._grad_c_kernel, "configs")  # not wrapped in an autotuner
    g = torch.Generator().manual_seed(1)
    n, m, d = 40, 3, 5
    C, Z, dZc = (torch.randn(*s, generator=g) for s in ((n, n), (n, m), (n, m)))
    X, Xh = torch.randn(n, d, generator=g), torch.randn(n, d, generator=g)
    h, a = torch.rand(n, generator=g), torch.rand(n, generator=g)
    u = 0.7 * a  # u = gT a / 2 in the trace's gradient: u_i a_j is symmetric, which the mirrored tiles use
    dC, dZ = grad_c.write_grad_c(C, se=(dZc, Z), trace=TraceGrad(h, u, a, X, Xh))
    C0 = reference.zero_diagonal(C)
    torch.testing.assert_close(dZ, C0.T @ dZc)
    N = X @ Xh.T + Xh @ X.T
    want = dZc @ Z.T + torch.sign(C0) * (h[:, None] + h[None, :] - u[:, None] * a[None, :] * N)
    torch.testing.assert_close(dC, reference.zero_diagonal(want))


def test_prune_splits_by_dtype_and_caps_chunks():
    _, _, utils = _kernels()
    configs = [triton.Config(dict(BLOCK=64, BLOCK_D=128), num_warps=8), triton.Config(dict(BLOCK=64, BLOCK_D=64),
                                                                                       num_warps=8)]
    f64 = triton.Config(dict(BLOCK=32, BLOCK_D=32), num_warps=4)
    for c in configs:
        c.float64 = False
    f64.float64 = True
    keep = utils.prune({"BLOCK_D": "d"})
    # d = 40: both chunks cap at 64, the duplicate goes; float64 keeps only its own config
    got = keep([*configs, f64], {"C": torch.zeros(1, dtype=torch.float32), "d": 40})
    assert [(c.kwargs["BLOCK"], c.kwargs["BLOCK_D"]) for c in got] == [(64, 64)]
    got = keep([*configs, f64], {"C": torch.zeros(1, dtype=torch.float64), "d": 784})
    assert [(c.kwargs["BLOCK"], c.kwargs["BLOCK_D"]) for c in got] == [(32, 32)]
    got = keep([*configs, f64], {"C": torch.zeros(1, dtype=torch.float32), "d": 784})
    assert [c.kwargs["BLOCK_D"] for c in got] == [128, 64]
