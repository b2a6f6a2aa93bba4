"""Metrics by name (``METRICS``, ``get``, ``metric_name``) and their evaluation during training."""
from __future__ import annotations

from typing import Callable, Dict, Optional, Union

import numpy as np
from .classification import (
    accuracy,
    auc,
    binary_accuracy,
    categorical_accuracy,
    f1,
    precision,
    recall,
    sparse_categorical_accuracy,
    top_k_accuracy,
)
from .regression import mean_absolute_error, mean_squared_error, r2, root_mean_squared_error


# ------------------------------------------------------------------ names and lookup
def _preset(function: Callable, name: str, **settings) -> Callable:
    """``function`` with some keyword arguments fixed, under its own name (for ``compile``)."""

    def metric(y_true, y_pred, sample_weight=None):
        return function(y_true, y_pred, sample_weight=sample_weight, **settings)

    metric.__name__ = metric.__qualname__ = name
    fixed = ", ".join(f"{key}={value!r}" for key, value in settings.items())
    metric.__doc__ = f":func:`{function.__name__}` with ``{fixed}``."
    return metric


METRICS: Dict[str, Callable] = {
    "accuracy": accuracy,
    "acc": accuracy,
    "binary_accuracy": binary_accuracy,
    "categorical_accuracy": categorical_accuracy,
    "sparse_categorical_accuracy": sparse_categorical_accuracy,
    "top_k_accuracy": top_k_accuracy,
    "top_k_categorical_accuracy": top_k_accuracy,
    "sparse_top_k_categorical_accuracy": top_k_accuracy,
    **{f"top_{k}_accuracy": _preset(top_k_accuracy, f"top_{k}_accuracy", k=k)
       for k in (2, 3, 5, 10)},
    "precision": precision,
    "recall": recall,
    "f1": f1,
    "f1_score": f1,
    **{f"{function.__name__}_{average}": _preset(function, f"{function.__name__}_{average}",
                                                  average=average)
       for function in (precision, recall, f1)
       for average in ("binary", "micro", "macro", "weighted")},
    "auc": auc,
    "roc_auc": auc,
    "mse": mean_squared_error,
    "mean_squared_error": mean_squared_error,
    "mae": mean_absolute_error,
    "mean_absolute_error": mean_absolute_error,
    "rmse": root_mean_squared_error,
    "root_mean_squared_error": root_mean_squared_error,
    "r2": r2,
    "r2_score": r2,
}

_CANONICAL_NAMES = {"acc": "accuracy", "f1_score": "f1", "roc_auc": "auc", "r2_score": "r2"}


def get(identifier: Union[str, Callable]) -> Callable:
    """A metric function by name, or a callable ``f(y_true, y_pred, sample_weight=None)``.

    Names are case-insensitive; see the module notes for the list.

    Raises
    ------
    ValueError
        For an unknown name (the message lists the supported ones).

    Examples
    --------
    >>> get("ACC") is accuracy
    True
    >>> get("f1_macro").__name__
    'f1_macro'
    """
    if callable(identifier):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in METRICS:
        return METRICS[identifier.lower()]
    raise ValueError(
        f"metrics: unknown metric {identifier!r}. Supported metrics are {sorted(METRICS)}."
    )


def metric_name(identifier: Union[str, Callable]) -> str:
    """The key a metric gets in ``History.history`` and ``evaluate()`` results.

    Examples
    --------
    >>> metric_name("acc"), metric_name("F1_score"), metric_name("precision_macro")
    ('accuracy', 'f1', 'precision_macro')
    """
    if isinstance(identifier, str):
        return _CANONICAL_NAMES.get(identifier.lower(), identifier.lower())
    return getattr(identifier, "__name__", type(identifier).__name__)


def evaluate_metrics(metrics: Dict[str, Callable], y_true, y_pred,
                     sample_weight: Optional[np.ndarray] = None) -> Dict[str, float]:
    """Compute each named metric on the same arrays, as floats."""
    return {name: float(fn(y_true, y_pred, sample_weight=sample_weight))
            for name, fn in metrics.items()}


__all__ = ["METRICS", "evaluate_metrics", "get", "metric_name"]
