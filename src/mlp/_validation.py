"""Checks of user input at the public API: clear errors before anything reaches a kernel.

Every message names the argument, what was expected and what came in.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from .kernels import _kernels
from .losses import Loss


def _as_array(value, name: str) -> np.ndarray:
    if value is None:
        raise ValueError(f"{name}: expected an array, got None")
    if hasattr(value, "to_numpy") and not isinstance(value, np.ndarray):
        value = value.to_numpy()
    try:
        array = np.asarray(value)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{name}: expected a numeric array, could not convert it ({error})") from None
    if array.dtype == object or array.dtype.kind in "USVMm" or array.dtype.kind == "c":
        raise TypeError(
            f"{name}: expected a numeric array (float, int or bool), got dtype {array.dtype}"
            + (" — encode strings or categories as numbers first" if array.dtype.kind in "OUS"
               else "")
        )
    return array


def _all_finite(array: np.ndarray) -> bool:
    if array.flags.c_contiguous and array.dtype in (np.float32, np.float64):
        return _kernels.all_finite(array.reshape(-1))
    return bool(np.all(np.isfinite(array)))


def _check_finite(array: np.ndarray, name: str) -> None:
    if array.dtype.kind == "f" and not _all_finite(array):
        bad = int(np.size(array) - np.count_nonzero(np.isfinite(array)))
        raise ValueError(
            f"{name}: expected finite numbers, got {bad} NaN or infinite value(s) — impute "
            f"missing values first (e.g. with the column mean)"
        )


def check_features(x, dtype, n_features: Optional[int] = None, name: str = "x") -> np.ndarray:
    """Validate a feature matrix and return it as a C-contiguous array of ``dtype``.

    Raises
    ------
    TypeError
        Non-numeric dtypes (strings, objects, complex).
    ValueError
        Not 2-D, empty, non-finite, or a width different from ``n_features``.
    """
    if (isinstance(x, np.ndarray) and x.dtype == dtype and x.ndim == 2 and x.flags.c_contiguous
            and x.size and (n_features is None or x.shape[1] == n_features)):
        _check_finite(x, name)
        return x
    array = _as_array(x, name)
    if array.ndim != 2:
        hint = " (use x.reshape(-1, 1) for a single feature)" if array.ndim == 1 else ""
        raise ValueError(
            f"{name}: expected a 2-D array (samples, features), got shape {array.shape}{hint}"
        )
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"{name}: expected at least one sample and one feature, got shape "
                         f"{array.shape}")
    if n_features is not None and array.shape[1] != n_features:
        raise ValueError(
            f"{name}: expected {n_features} features (the model's input width), "
            f"got {array.shape[1]}"
        )
    array = np.ascontiguousarray(array, dtype=dtype)
    _check_finite(array, name)
    return array


def check_targets(y, loss: Loss, n_outputs: int, n_samples: int, dtype,
                  name: str = "y") -> np.ndarray:
    """Validate targets for ``loss`` and a model with ``n_outputs`` outputs.

    Returns a ``(n, n_outputs)`` array of ``dtype``, or for sparse categorical losses a
    ``(n,)`` int64 array of class indices.
    """
    array = _as_array(y, name)
    if array.shape[:1] != (n_samples,):
        raise ValueError(
            f"{name}: expected {n_samples} samples (as many as x), got shape {array.shape}"
        )
    if array.dtype.kind == "f":
        _check_finite(array, name)
    if loss.targets == "labels":
        return _check_labels(array, n_outputs, name)
    if loss.targets == "one_hot" and (array.ndim != 2 or array.shape[1] != n_outputs):
        hint = (" — for integer class labels use loss='sparse_categorical_crossentropy' or "
                "one-hot encode them" if array.ndim == 1 else "")
        raise ValueError(
            f"{name}: {loss.name} expects one-hot targets of shape (n, {n_outputs}), got shape "
            f"{array.shape}{hint}"
        )
    if array.ndim == 1 and n_outputs == 1:
        array = array[:, None]
    if array.ndim != 2 or array.shape[1] != n_outputs:
        raise ValueError(
            f"{name}: expected shape ({n_samples}, {n_outputs}) to match the model's "
            f"{n_outputs} output(s), got {array.shape}"
        )
    array = np.ascontiguousarray(array, dtype=dtype)
    if loss.targets in ("binary", "one_hot") and (array.min() < 0 or array.max() > 1):
        raise ValueError(
            f"{name}: {loss.name} expects targets in [0, 1], got values from {array.min()} to "
            f"{array.max()}"
        )
    return array


def _check_labels(array: np.ndarray, n_classes: int, name: str) -> np.ndarray:
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1:
        raise ValueError(
            f"{name}: sparse_categorical_crossentropy expects integer labels of shape (n,), got "
            f"shape {array.shape} (for one-hot targets use loss='categorical_crossentropy')"
        )
    if array.dtype.kind == "f" and not np.all(array == np.round(array)):
        raise ValueError(f"{name}: expected integer class labels, got non-integer values")
    labels = array.astype(np.int64)
    if labels.min() < 0 or labels.max() >= n_classes:
        raise ValueError(
            f"{name}: expected class labels in [0, {n_classes - 1}] for a model with {n_classes} "
            f"outputs, got labels from {labels.min()} to {labels.max()}"
        )
    return np.ascontiguousarray(labels)


def check_sample_weight(weight, n_samples: int, dtype, name: str = "sample_weight"):
    """Validate per-sample weights: shape (n,), finite, non-negative, not all zero."""
    if weight is None:
        return None
    array = _as_array(weight, name)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.shape != (n_samples,):
        raise ValueError(f"{name}: expected shape ({n_samples},), got {array.shape}")
    array = np.ascontiguousarray(array, dtype=dtype)
    _check_finite(array, name)
    if array.min() < 0 or not array.any():
        raise ValueError(f"{name}: expected weights >= 0, not all zero")
    return array


def check_positive_int(value, name: str) -> int:
    """An integer >= 1 (booleans refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name}: expected an integer >= 1, got {value!r}")
    return int(value)


def check_non_negative_int(value, name: str) -> int:
    """An integer >= 0 (booleans refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{name}: expected an integer >= 0, got {value!r}")
    return int(value)
