"""Triton kernels for the fused n x n operators, installed as ``pssc_fast.kernels``."""
