"""Packaging glue: the top-level ``kernels/`` folder ships as ``pssc_fast.kernels``.

Metadata lives in pyproject.toml; only the package mapping is here, because it is the one thing
pyproject's declarative form makes awkward to read.
"""
from setuptools import setup

setup(
    packages=["pssc_fast", "pssc_fast.ops", "pssc_fast.kernels"],
    package_dir={"pssc_fast": "pssc_fast", "pssc_fast.kernels": "kernels"},
    package_data={"pssc_fast": ["configs/*.json"]},
)
