"""The warning the solvers give when they stop before converging."""
from __future__ import annotations

import warnings

from sklearn.exceptions import ConvergenceWarning


def convergence_warning(message: str) -> None:
    """scikit-learn's ``ConvergenceWarning``, pointing at the caller of ``fit``
    (``fit`` -> ``_fit`` -> the solver -> here)."""
    warnings.warn(message, ConvergenceWarning, stacklevel=5)
