"""Metrics for ``compile(metrics=[...])`` and as plain functions on arrays.

Every metric takes ``(y_true, y_pred, sample_weight=None)`` where ``y_pred`` holds what
``model.predict`` returns (probabilities for sigmoid / softmax outputs) and returns a float.
Binary metrics threshold probabilities at 0.5; multi-class ones take the argmax.

Examples
--------
>>> import numpy as np
>>> from mlp import metrics
>>> metrics.accuracy(np.array([1, 0, 1]), np.array([0.9, 0.4, 0.3]))
0.6666666666666666
"""
from __future__ import annotations

from typing import Callable, Dict, Optional, Union

import numpy as np


def _weights(sample_weight, n):
    return np.ones(n) if sample_weight is None else np.asarray(sample_weight, np.float64).ravel()


def _labels_and_classes(y_true, y_pred, threshold=0.5):
    """Integer true and predicted classes from one-hot / integer / binary targets."""
    y_pred = np.asarray(y_pred)
    y_true = np.asarray(y_true)
    if y_pred.ndim == 2 and y_pred.shape[1] > 1:
        predicted = y_pred.argmax(axis=1)
        truth = y_true.argmax(axis=1) if y_true.ndim == 2 and y_true.shape[1] > 1 else y_true.ravel()
    else:
        predicted = (y_pred.ravel() > threshold).astype(np.int64)
        truth = y_true.ravel()
    return truth.astype(np.int64), predicted


def accuracy(y_true, y_pred, sample_weight=None) -> float:
    """Fraction of correct predictions (argmax for several outputs, > 0.5 for one)."""
    truth, predicted = _labels_and_classes(y_true, y_pred)
    weight = _weights(sample_weight, truth.size)
    return float(np.sum(weight * (truth == predicted)) / np.sum(weight))


def binary_accuracy(y_true, y_pred, sample_weight=None, threshold: float = 0.5) -> float:
    """Fraction of outputs on the right side of ``threshold`` (element-wise)."""
    truth = np.asarray(y_true, np.float64).reshape(np.shape(y_pred))
    hits = ((np.asarray(y_pred) > threshold) == (truth > 0.5)).mean(axis=-1) if np.ndim(
        y_pred) > 1 else ((np.asarray(y_pred) > threshold) == (truth > 0.5))
    weight = _weights(sample_weight, hits.size)
    return float(np.sum(weight * hits.ravel()) / np.sum(weight))


def _binary_counts(y_true, y_pred, sample_weight):
    truth, predicted = _labels_and_classes(y_true, y_pred)
    weight = _weights(sample_weight, truth.size)
    tp = float(np.sum(weight * ((predicted == 1) & (truth == 1))))
    fp = float(np.sum(weight * ((predicted == 1) & (truth == 0))))
    fn = float(np.sum(weight * ((predicted == 0) & (truth == 1))))
    return tp, fp, fn


def precision(y_true, y_pred, sample_weight=None) -> float:
    """Binary precision ``tp / (tp + fp)`` (0 when nothing is predicted positive)."""
    tp, fp, _ = _binary_counts(y_true, y_pred, sample_weight)
    return tp / (tp + fp) if tp + fp > 0 else 0.0


def recall(y_true, y_pred, sample_weight=None) -> float:
    """Binary recall ``tp / (tp + fn)`` (0 when there is no positive)."""
    tp, _, fn = _binary_counts(y_true, y_pred, sample_weight)
    return tp / (tp + fn) if tp + fn > 0 else 0.0


def f1(y_true, y_pred, sample_weight=None) -> float:
    """Binary F1, the harmonic mean of precision and recall."""
    tp, fp, fn = _binary_counts(y_true, y_pred, sample_weight)
    return 2 * tp / (2 * tp + fp + fn) if tp > 0 else 0.0


def mean_squared_error(y_true, y_pred, sample_weight=None) -> float:
    """Mean squared error averaged over outputs, then (weighted) over samples."""
    pred = np.asarray(y_pred, np.float64)
    err = (pred - np.asarray(y_true, np.float64).reshape(pred.shape)) ** 2
    per_sample = err.reshape(err.shape[0], -1).mean(axis=1)
    weight = _weights(sample_weight, per_sample.size)
    return float(np.sum(weight * per_sample) / np.sum(weight))


def mean_absolute_error(y_true, y_pred, sample_weight=None) -> float:
    """Mean absolute error averaged over outputs, then (weighted) over samples."""
    pred = np.asarray(y_pred, np.float64)
    err = np.abs(pred - np.asarray(y_true, np.float64).reshape(pred.shape))
    per_sample = err.reshape(err.shape[0], -1).mean(axis=1)
    weight = _weights(sample_weight, per_sample.size)
    return float(np.sum(weight * per_sample) / np.sum(weight))


METRICS: Dict[str, Callable] = {
    "accuracy": accuracy,
    "acc": accuracy,
    "binary_accuracy": binary_accuracy,
    "categorical_accuracy": accuracy,
    "sparse_categorical_accuracy": accuracy,
    "precision": precision,
    "recall": recall,
    "f1": f1,
    "f1_score": f1,
    "mse": mean_squared_error,
    "mean_squared_error": mean_squared_error,
    "mae": mean_absolute_error,
    "mean_absolute_error": mean_absolute_error,
}


def get(identifier: Union[str, Callable]) -> Callable:
    """A metric function by name, or a callable ``f(y_true, y_pred, sample_weight=None)``.

    Raises
    ------
    ValueError
        For an unknown name (the message lists the supported ones).
    """
    if callable(identifier):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in METRICS:
        return METRICS[identifier.lower()]
    raise ValueError(
        f"metrics: unknown metric {identifier!r}. Supported metrics are {sorted(METRICS)}."
    )


def metric_name(identifier: Union[str, Callable]) -> str:
    """The key a metric gets in ``History.history`` and ``evaluate()`` results."""
    if isinstance(identifier, str):
        return {"acc": "accuracy", "f1_score": "f1"}.get(identifier.lower(), identifier.lower())
    return getattr(identifier, "__name__", type(identifier).__name__)


def evaluate_metrics(metrics: Dict[str, Callable], y_true, y_pred,
                     sample_weight: Optional[np.ndarray] = None) -> Dict[str, float]:
    """Compute each named metric on the same arrays."""
    return {name: float(fn(y_true, y_pred, sample_weight=sample_weight))
            for name, fn in metrics.items()}
