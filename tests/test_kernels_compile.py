"""The Triton kernels compile for a Hopper GPU (sm_90), checked without one.

The interpreter (tests/test_ops.py on CPU) runs the kernels' Python and never reaches Triton's
compiler, whose front end rejects things the interpreter accepts (Triton 3.6, for one, refuses a
float64 accumulator unless ``out_dtype`` says float64). Triton can compile ahead of time for a
target it is told about, ptxas included, so the kernels are compiled here for sm_90 in a subprocess
(the test session itself runs the interpreter): every flag combination the launchers use (all seven of
dC's kernel) in float64 and in float32 at full precision ("ieee"), the fused step with bfloat16 operands, and
every autotuning config of the self-expression kernel in TF32, each checked to fit sm_90's shared memory (a
config that does not would only cost the autotuner a compilation); the tile-pair passes have one config.
Column chunks the launchers pass are compiled at their smallest (16) in float64 and at their caps in float32,
the widest and most register-hungry case.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

triton = pytest.importorskip("triton", reason="triton cannot be imported")

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = textwrap.dedent(
    """
    import sys
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource
    from triton.runtime.jit import JITFunction
    import torch

    import pssc_fast.ops.triton_backend  # noqa: F401  (registers pssc_fast.kernels in a source checkout)
    from pssc_fast.kernels import grad_c, laplacian_trace, self_expression, utils

    SM90_SHARED = 232448  # bytes of shared memory a block may use on sm_90 (H100, H200)

    def compile_for_sm90(kernel, ptr, constexprs, config):
        # Capitalised parameters are pointers, the rest 32-bit integers, as the launchers pass them.
        fn = kernel if isinstance(kernel, JITFunction) else kernel.fn  # the jit function under @autotune
        constexprs = {**constexprs, **config.kwargs}
        sig = {name: "constexpr" if name in constexprs else ptr if name.isupper() else "i32" for name in fn.arg_names}
        src = ASTSource(fn=fn, signature=sig, constexprs=constexprs)
        compiled = triton.compile(src, target=GPUTarget("cuda", 90, 32),
                                  options={"num_warps": config.num_warps, "num_stages": config.num_stages})
        shared = compiled.metadata.shared
        assert shared <= SM90_SHARED, f"{fn.__name__} {constexprs} needs {shared} bytes of shared memory"

    ptr = sys.argv[1]
    f64 = ptr == "*fp64"
    se_k, gc_mz = (16, 16) if f64 else (64, 32)  # column chunks the launchers pass: smallest / widest

    def configs(kernel):
        return [c for c in kernel.configs if getattr(c, "float64", False) == f64]

    # The separate operators' flags and every combination write_grad_c can launch (at least one term):
    # DSC-L2's step (no trace), coef_l2 = 0, a frozen Z, ...
    se_flags = [(True, False, False), (False, True, False), (True, True, True)]
    grad_flags = [(se, trace, l2) for se in (False, True) for trace in (False, True) for l2 in (False, True)
                  if se or trace or l2]
    # (precision, which configs, all flag combinations?): float64 is always "ieee"; in float32 every
    # autotuning config in TF32 (the most shared memory), the flag combinations on the first config
    # in full precision, and bfloat16 operands on the fused step.
    plans = [("ieee", "first", True)] if f64 else [("ieee", "first", True), ("tf32", "all", False),
                                                   ("bf16", "first", False)]
    for prec, which, every_flag in plans:
        def each(kernel):
            cs = configs(kernel)
            return cs if which == "all" else cs[:1]
        for config in each(self_expression._se_fwd_kernel):
            for z, stats, squares in (se_flags if every_flag else se_flags[-1:]):
                compile_for_sm90(self_expression._se_fwd_kernel, ptr,
                                 dict(HAS_Z=z, STATS=stats, SQUARES=squares, BLOCK_K=se_k, PREC=prec), config)
    # The tile-pair passes have one config per dtype (kernels.utils.pair_tile) and no autotuning.
    block, warps = utils.pair_tile(torch.zeros(1, dtype=torch.float64 if f64 else torch.float32))
    pair = triton.Config({}, num_warps=warps)
    compile_for_sm90(laplacian_trace._shat_build_kernel, ptr, dict(BLOCK=block), pair)
    for prec, _, every_flag in plans:
        for se, trace, l2 in (grad_flags if every_flag else grad_flags[-1:]):
            compile_for_sm90(grad_c._grad_c_kernel, ptr,
                             dict(HAS_SE=se, HAS_TRACE=trace, HAS_L2=l2, BLOCK=block, BLOCK_MZ=gc_mz, PREC=prec), pair)
    print("compiled")
    """
)


def _has_ahead_of_time_api() -> bool:
    try:
        from triton.backends.compiler import GPUTarget  # noqa: F401
        from triton.compiler import ASTSource  # noqa: F401
    except Exception:
        return False
    return True


@pytest.mark.skipif(not _has_ahead_of_time_api(), reason="this triton has no ASTSource/GPUTarget")
@pytest.mark.parametrize("ptr", ["*fp64", "*fp32"])
def test_kernels_compile_for_sm90(ptr):
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    proc = subprocess.run([sys.executable, "-c", SCRIPT, ptr], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0 and "compiled" in proc.stdout, proc.stderr[-3000:]
