"""The Triton kernels compile for a Hopper GPU (sm_90), checked without one.

The interpreter (tests/test_ops.py on CPU) runs the kernels' Python and never reaches Triton's
compiler, whose front end rejects things the interpreter accepts (Triton 3.6, for one, refuses a
float64 accumulator unless ``out_dtype`` says float64). Triton can compile ahead of time for a
target it is told about, ptxas included, so the kernels are compiled here for sm_90 in a subprocess
(the test session itself runs the interpreter): every flag combination the launchers use (all eleven of
dC's kernel), in float64
(32-wide tiles) and float32 (64-wide tiles, full-precision "ieee" dots), and the fused step's
variants also with the TF32 dot precisions that ``torch.set_float32_matmul_precision`` selects.
Column chunks are compiled at the launchers' smallest (16) in float64 and at their caps in float32,
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

    import pssc_fast.ops.triton_backend  # noqa: F401  (registers pssc_fast.kernels in a source checkout)
    from pssc_fast.kernels import grad_c, laplacian_trace, self_expression

    def compile_for_sm90(fn, ptr, constexprs, num_warps):
        # Capitalised parameters are pointers, the rest 32-bit integers, as the launchers pass them.
        sig = {name: "constexpr" if name in constexprs else ptr if name.isupper() else "i32" for name in fn.arg_names}
        src = ASTSource(fn=fn, signature=sig, constexprs=constexprs)
        triton.compile(src, target=GPUTarget("cuda", 90, 32), options={"num_warps": num_warps})

    ptr, block, wide = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "wide"
    se_k, sh_d, gc_mz, gc_d = (64, 64, 32, 32) if wide else (16, 16, 16, 16)
    fused = ((True, True, True),)
    # (precision, flag combinations): the separate operators and the fused step in full precision;
    # the TF32 precisions only in float32, for the fused step that training runs.
    plans = [("ieee", ((True, False, False), (False, True, False), (True, True, True)))]
    if ptr == "*fp32":
        plans += [("tf32", fused), ("tf32x3", fused)]
    for prec, flags in plans:
        for z, stats, squares in flags:
            compile_for_sm90(self_expression._se_fwd_kernel, ptr,
                             dict(HAS_Z=z, STATS=stats, SQUARES=squares, BLOCK_M=block, BLOCK_N=block,
                                  BLOCK_K=se_k, PREC=prec), 4)
        for two in ((False, True) if len(flags) > 1 else (True,)):
            compile_for_sm90(laplacian_trace._shat_offdiag_kernel, ptr,
                             dict(TWO=two, BLOCK_M=block, BLOCK_N=block, BLOCK_D=sh_d, PREC=prec), 8)
        # dC's kernel in full precision: every combination write_grad_c can launch (FUSE_DZ only with the
        # self-expression term, at least one term): DSC-L2's step (no trace), coef_l2 = 0, a frozen Z, ...
        grad_flags = ([(se, fuse, trace, l2) for se, fuse in ((False, False), (True, False), (True, True))
                       for trace in (False, True) for l2 in (False, True) if se or trace or l2]
                      if len(flags) > 1 else [(se, se, trace, l2) for se, trace, l2 in flags])
        for se, fuse, trace, l2 in grad_flags:
            compile_for_sm90(grad_c._grad_c_kernel, ptr,
                             dict(HAS_SE=se, FUSE_DZ=fuse, HAS_TRACE=trace, HAS_L2=l2, BLOCK=block,
                                  BLOCK_MZ=gc_mz, BLOCK_D=gc_d, PREC=prec), 8)
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
@pytest.mark.parametrize("ptr,block,chunks", [("*fp64", 32, "narrow"), ("*fp32", 64, "wide")])
def test_kernels_compile_for_sm90(ptr, block, chunks):
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    proc = subprocess.run([sys.executable, "-c", SCRIPT, ptr, str(block), chunks], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0 and "compiled" in proc.stdout, proc.stderr[-3000:]
