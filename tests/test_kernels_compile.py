"""The Triton kernels compile for a Hopper GPU (sm_90), checked without one.

The interpreter (tests/test_ops.py on CPU) runs the kernels' Python and never reaches Triton's
compiler, whose front end rejects things the interpreter accepts (Triton 3.6, for one, refuses a
float64 accumulator unless ``out_dtype`` says float64). Triton can compile ahead of time for a
target it is told about, ptxas included, so every kernel variant the launchers use is compiled
here for sm_90 in a subprocess (the test session itself runs the interpreter).
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

    from pssc_fast import ops

    ops.load_kernels()
    from pssc_fast.kernels import grad_c, laplacian_trace, self_expression

    def compile_for_sm90(fn, ptr, constexprs, num_warps):
        # Capitalised parameters are pointers, the rest 32-bit integers, as the launchers pass them.
        sig = {name: "constexpr" if name in constexprs else ptr if name.isupper() else "i32" for name in fn.arg_names}
        src = ASTSource(fn=fn, signature=sig, constexprs=constexprs)
        triton.compile(src, target=GPUTarget("cuda", 90, 32), options={"num_warps": num_warps})

    ptr, block, prec = sys.argv[1], int(sys.argv[2]), "ieee"
    # The flag combinations the launchers use: separate operators and the fused step.
    for z, stats, squares in ((True, False, False), (False, True, False), (True, True, True)):
        compile_for_sm90(self_expression._se_fwd_kernel, ptr,
                         dict(HAS_Z=z, STATS=stats, SQUARES=squares, BLOCK_M=block, BLOCK_N=block, BLOCK_K=16,
                              PREC=prec), 4)
    for two in (False, True):
        compile_for_sm90(laplacian_trace._shat_kernel, ptr,
                         dict(TWO=two, BLOCK_M=block, BLOCK_N=block, BLOCK_D=64, PREC=prec), 8)
    for se, trace, l2 in ((True, False, False), (False, True, False), (True, True, True)):
        compile_for_sm90(grad_c._grad_c_kernel, ptr,
                         dict(HAS_SE=se, FUSE_DZ=se, HAS_TRACE=trace, HAS_L2=l2, BLOCK=block, BLOCK_MZ=16,
                              BLOCK_D=32, PREC=prec), 8)
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


# float64 only: it shares the front end with float32, carries the known version trap, and
# compiles in seconds, where the float32 FMA dots take tens of seconds each on 2 busy cores.
@pytest.mark.skipif(not _has_ahead_of_time_api(), reason="this triton has no ASTSource/GPUTarget")
@pytest.mark.parametrize("ptr,block", [("*fp64", 32)])
def test_kernels_compile_for_sm90(ptr, block):
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    proc = subprocess.run([sys.executable, "-c", SCRIPT, ptr, str(block)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0 and "compiled" in proc.stdout, proc.stderr[-3000:]
