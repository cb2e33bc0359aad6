"""Triton kernels for the fused n x n operators, installed as ``pssc_fast.kernels``.

One file per pass over C, each a kernel and its launcher (around cuBLAS's n x n x d GEMMs, where a step spends
most of its flops); the launchers are the triton backend's
``Primitives`` (assembled in ``pssc_fast.ops.triton_backend``). From pssc_fast they import only
``pssc_fast.ops.primitives``, the bottom of the ops package.
"""
