"""pssc_fast: Pseudo-supervised Deep Subspace Clustering (PSSC), fast and at scale."""
from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["PSSC", "LargePSSC", "fit_large", "list_configs", "__version__"]


def __getattr__(name):
    # Lazy, so that `import pssc_fast.ops` does not pull in scikit-learn, faiss or matplotlib.
    if name in ("PSSC", "list_configs"):
        from . import estimator

        return getattr(estimator, name)
    if name in ("LargePSSC", "fit_large"):
        from . import large

        return getattr(large, name)
    raise AttributeError(f"module 'pssc_fast' has no attribute {name!r}")
