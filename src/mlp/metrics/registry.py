"""Metrics by name (``METRICS``, ``get``, ``metric_name``) and their evaluation during training."""
from __future__ import annotations

import inspect
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
class _Preset:
    """``function`` with some keyword arguments fixed, under its own name (for ``compile``);
    a class, not a closure, so that a compiled model pickles."""

    def __init__(self, function: Callable, name: str, settings: Dict[str, object]):
        self.function, self.settings = function, settings
        self.__name__ = self.__qualname__ = name
        fixed = ", ".join(f"{key}={value!r}" for key, value in settings.items())
        self.__doc__ = f":func:`{function.__name__}` with ``{fixed}``."

    def __call__(self, y_true, y_pred, sample_weight=None):
        return self.function(y_true, y_pred, sample_weight=sample_weight, **self.settings)

    def __repr__(self) -> str:
        return f"<metric {self.__name__}>"


def _preset(function: Callable, name: str, **settings) -> Callable:
    return _Preset(function, name, settings)


class _Unweighted:
    """A Keras-style metric ``f(y_true, y_pred)`` (no ``sample_weight``) as a metric of this
    package: its per-sample values (or a scalar) are averaged with the sample weights, as
    Keras' ``MeanMetricWrapper`` does."""

    def __init__(self, function: Callable):
        self.function = function
        self.__name__ = getattr(function, "__name__", type(function).__name__)

    def __call__(self, y_true, y_pred, sample_weight=None):
        values = np.asarray(self.function(y_true, y_pred), dtype=np.float64)
        if values.ndim == 0:
            return float(values)
        n = np.shape(y_pred)[0]
        if values.shape[:1] != (n,):
            raise ValueError(f"metrics: {self.__name__}(y_true, y_pred): expected a number or "
                             f"one value per sample ({n}), got shape {values.shape}")
        values = values.reshape(n, -1).mean(axis=1)
        if sample_weight is None:
            return float(values.mean())
        weight = np.asarray(sample_weight, dtype=np.float64).reshape(-1)
        return float(np.sum(weight * values) / np.sum(weight))


def _takes_sample_weight(function: Callable) -> Optional[bool]:
    """Whether ``function`` takes ``sample_weight`` (``None``: no signature to tell).

    Raises
    ------
    TypeError
        When it cannot be called as ``f(y_true, y_pred)``.
    """
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return None
    parameters = signature.parameters.values()
    if any(p.kind is p.VAR_KEYWORD for p in parameters) or "sample_weight" in signature.parameters:
        return True
    try:
        signature.bind(None, None)
    except TypeError:
        raise TypeError(f"metrics: expected a function f(y_true, y_pred) or f(y_true, y_pred, "
                        f"sample_weight=None), got {getattr(function, '__name__', function)!r}"
                        f"{signature}") from None
    return False


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

    Names are case-insensitive; see the module notes for the list. A Keras-style function
    ``f(y_true, y_pred)`` without ``sample_weight`` is accepted too: it may return one number
    or one value per sample, which is then averaged (with the sample weights when given).

    Raises
    ------
    ValueError
        For an unknown name (the message lists the supported ones).
    TypeError
        For a callable that cannot be called as ``f(y_true, y_pred)``.

    Examples
    --------
    >>> get("ACC") is accuracy
    True
    >>> get("f1_macro").__name__
    'f1_macro'
    """
    if callable(identifier):
        if _takes_sample_weight(identifier) is False:
            return _Unweighted(identifier)
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
