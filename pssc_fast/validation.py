"""Parameter checks shared by the estimators: errors that name the parameter and the bound."""
from __future__ import annotations

import numbers

import numpy as np


def check_integer(name: str, value, low: int, high: int | None = None) -> None:
    """TypeError unless ``value`` is an integer (bools excluded); ValueError unless low <= value <= high."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < low or (high is not None and value > high):
        bound = f"in [{low}, {high}]" if high is not None else f">= {low}"
        raise ValueError(f"{name}={value} must be {bound}")


def check_number(name: str, value, *, positive: bool = False, low=None, high=None) -> None:
    """TypeError unless ``value`` is a finite real number; ValueError when it is out of bounds."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value):
        raise TypeError(f"{name} must be a finite number, got {value!r}")
    if positive and value <= 0:
        raise ValueError(f"{name}={value} must be > 0")
    if low is not None and value < low:
        raise ValueError(f"{name}={value} must be >= {low}")
    if high is not None and value > high:
        raise ValueError(f"{name}={value} must be <= {high}")
