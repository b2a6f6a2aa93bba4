"""Checks and helpers shared by the metrics: arrays, classes, weighted means."""
from __future__ import annotations

from typing import Optional, Tuple

import numpy as np


AVERAGES = ("auto", "binary", "micro", "macro", "weighted", None)
NORMALIZE = ("true", "pred", "all", None)


# ------------------------------------------------------------------------ validation
def _arrays(y_true, y_pred, sample_weight) -> Tuple[np.ndarray, np.ndarray, Optional[np.ndarray]]:
    """``y_true`` and ``y_pred`` as arrays of 1 or 2 dimensions and the same length, the weights
    as a float64 vector of that length (or None)."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    for name, array in (("y_true", y_true), ("y_pred", y_pred)):
        if array.ndim not in (1, 2):
            raise ValueError(f"{name}: expected shape (n,) or (n, outputs), got {array.shape}")
    n = y_true.shape[0]
    if y_pred.shape[0] != n:
        raise ValueError(f"y_pred: expected {n} samples like y_true, got {y_pred.shape[0]}")
    if n == 0:
        raise ValueError("y_true: expected at least one sample, got none")
    if sample_weight is None:
        return y_true, y_pred, None
    weight = np.asarray(sample_weight, dtype=np.float64)
    if weight.ndim == 2 and weight.shape[1] == 1:
        weight = weight[:, 0]
    if weight.shape != (n,):
        raise ValueError(f"sample_weight: expected shape ({n},), one weight per sample, got "
                         f"{weight.shape}")
    return y_true, y_pred, weight


def _check_zero_division(zero_division) -> float:
    value = float(zero_division) if isinstance(zero_division, (int, float, np.number)) else None
    if value is None or not (value in (0.0, 1.0) or np.isnan(value)):
        raise ValueError(f"zero_division: expected 0.0, 1.0 or np.nan, got {zero_division!r}")
    return value


def _check_labels(labels) -> np.ndarray:
    labels = np.asarray(labels).reshape(-1)
    if labels.size == 0:
        raise ValueError("labels: expected at least one label, got none")
    if np.unique(labels).size != labels.size:
        raise ValueError(f"labels: expected distinct labels, got {labels.tolist()}")
    return labels


def _single_output(y_pred: np.ndarray) -> bool:
    return y_pred.ndim == 1 or y_pred.shape[1] == 1


def _require_columns(y_pred: np.ndarray, caller: str) -> None:
    if _single_output(y_pred):
        raise ValueError(f"{caller}: expected y_pred of shape (n, classes) with two or more "
                         f"columns, got {y_pred.shape}; for one output use binary_accuracy")


# --------------------------------------------------------------------------- helpers
def _is_text(values: np.ndarray) -> bool:
    """Whether ``values`` are text labels (a str array, or objects that are all str)."""
    if values.dtype.kind in "US":
        return True
    return values.dtype == object and all(isinstance(v, str) for v in values.reshape(-1))


def _to_classes(y: np.ndarray, threshold: float = 0.5, name: str = "y") -> np.ndarray:
    """Integer classes: argmax of several columns, labels as they are, or ``y > threshold``.

    Text labels (``"cat"``, ``"dog"``) come back as a str array.
    """
    if _is_text(y):
        if y.ndim == 2 and y.shape[1] > 1:
            raise ValueError(f"{name}: expected text labels of shape (n,), got shape {y.shape}")
        return y.reshape(-1).astype(str)
    if y.dtype == object:
        try:
            y = y.astype(np.float64)
        except (TypeError, ValueError):
            raise TypeError(f"{name}: expected numbers or text labels, got objects such as "
                            f"{y.reshape(-1)[0]!r}") from None
    if y.ndim == 2 and y.shape[1] > 1:
        return y.argmax(axis=1)
    values = y.reshape(-1)
    if values.dtype.kind in "biu":
        return values.astype(np.int64)
    values = values.astype(np.float64)
    if np.all(values == np.round(values)):
        return values.astype(np.int64)
    return (values > threshold).astype(np.int64)


def _class_pair(y_true: np.ndarray, y_pred: np.ndarray, threshold: float = 0.5
                ) -> Tuple[np.ndarray, np.ndarray]:
    """The classes of ``y_true`` and ``y_pred``: both numbers or both text labels.

    Raises
    ------
    ValueError
        When one holds text labels and the other numbers.
    """
    truth = _to_classes(y_true, name="y_true")
    predicted = _to_classes(y_pred, threshold, name="y_pred")
    if (truth.dtype.kind == "U") != (predicted.dtype.kind == "U"):
        text, numbers = ("y_true", "y_pred") if truth.dtype.kind == "U" else ("y_pred", "y_true")
        raise ValueError(f"{text}: holds text labels but {numbers} holds numbers; give both as "
                         f"the same labels (e.g. map the predicted indices back to the names)")
    return truth, predicted


def _mean(values: np.ndarray, weight: Optional[np.ndarray]) -> float:
    """Mean of per-sample values, weighted by ``weight`` when given."""
    if weight is None:
        return float(np.mean(values))
    total = weight.sum()
    if total == 0:
        raise ValueError("sample_weight: the weights sum to zero")
    return float(np.sum(weight * values) / total)


def _column_means(values: np.ndarray, weight: Optional[np.ndarray]) -> np.ndarray:
    """Per-column mean of a ``(n, outputs)`` array, weighted over the rows when asked."""
    if weight is None:
        return values.mean(axis=0)
    total = weight.sum()
    if total == 0:
        raise ValueError("sample_weight: the weights sum to zero")
    return (values * weight[:, None]).sum(axis=0) / total


def _divide(numerator: np.ndarray, denominator: np.ndarray, zero_division: float) -> np.ndarray:
    out = np.full(numerator.shape, zero_division, dtype=np.float64)
    np.divide(numerator, denominator, out=out, where=denominator != 0)
    return out


def _nan_average(values: np.ndarray, weights: Optional[np.ndarray] = None) -> float:
    """Average ignoring NaNs (a NaN when all are); zero total weight falls back to the mean."""
    keep = ~np.isnan(values)
    if not keep.any():
        return float("nan")
    values = values[keep]
    if weights is not None:
        weights = weights[keep]
        if weights.sum() != 0:
            return float(np.sum(values * weights) / weights.sum())
    return float(values.mean())


def _positions(values: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Index of each value in ``labels``, -1 for values that are not one of them."""
    order = np.argsort(labels, kind="stable")
    ordered = labels[order]
    where = np.minimum(np.searchsorted(ordered, values), labels.size - 1)
    return np.where(ordered[where] == values, order[where], -1)


def _label_sums(truth, predicted, weight, labels):
    """Per label (in the order of ``labels``): true positives, predicted and true totals."""
    weight = np.ones(truth.size) if weight is None else weight
    true_index, pred_index = _positions(truth, labels), _positions(predicted, labels)

    def total(index, mask):
        keep = (index >= 0) & mask
        return np.bincount(index[keep], weights=weight[keep], minlength=labels.size)

    everything = np.ones(truth.size, dtype=bool)
    return (total(true_index, truth == predicted), total(pred_index, everything),
            total(true_index, everything))
