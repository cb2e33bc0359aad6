"""Warnings that name the user's line. Imports nothing from pssc_fast, so any module can use it."""
from __future__ import annotations

import sys
import warnings


def warn_user(message: str, category=UserWarning) -> None:
    """``warnings.warn`` attributed to the first caller outside this package, so that the warning names the
    user's line (``fit_large(...)``, ``model.fit(X)``) however deep in the library it was raised."""
    frame, level = sys._getframe(1), 2  # stacklevel 2 is the caller of warn_user
    while frame is not None and frame.f_globals.get("__name__", "").split(".")[0] == __name__.split(".")[0]:
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)
