"""Checks of the arrays given to ``fit`` / ``evaluate`` / ``predict``: clear errors before
anything reaches a kernel, made once at the boundary.

Like the checks of :mod:`mlp.validation`, each takes ``(name, value, ...)`` and every message
names the argument, what was expected and what came in. ``all_finite`` is the model's backend's
finiteness test of a host array (:meth:`mlp.backends.base.Backend.all_finite`).
"""
from __future__ import annotations

from typing import Callable, Optional

import numpy as np

from ..nn.losses import Loss

AllFinite = Callable[[np.ndarray], bool]


def _as_array(name: str, value) -> np.ndarray:
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


def _check_finite(name: str, array: np.ndarray, all_finite: AllFinite) -> None:
    if array.dtype.kind == "f" and not all_finite(array):
        bad = int(np.size(array) - np.count_nonzero(np.isfinite(array)))
        raise ValueError(
            f"{name}: expected finite numbers, got {bad} NaN or infinite value(s) — impute "
            f"missing values first (e.g. with the column mean)"
        )


def _in_dtype(name: str, array: np.ndarray, dtype, all_finite: AllFinite,
              finite_checked: bool = False) -> np.ndarray:
    """``array`` as a C-contiguous array of the model's ``dtype``: NaN or infinite values are a
    ``ValueError`` (unless ``finite_checked``: the caller tested them), and so are finite
    values the dtype cannot hold (``1e300`` in a float32 model), named as such rather than
    turned into infinities."""
    if array.dtype.kind == "f" and not finite_checked:
        _check_finite(name, array, all_finite)
    with np.errstate(over="ignore"):
        cast = np.ascontiguousarray(array, dtype=dtype)
    narrowed = array.dtype.kind == "f" and array.dtype.itemsize > np.dtype(dtype).itemsize
    if narrowed and not all_finite(cast):
        beyond = int(np.size(cast) - np.count_nonzero(np.isfinite(cast)))
        largest = float(np.max(np.abs(array)))
        top = float(np.finfo(dtype).max)
        raise ValueError(
            f"{name}: expected values that fit the model's dtype {np.dtype(dtype).name} "
            f"(magnitude at most {top:.4g}), got {beyond} value(s) beyond it (largest "
            f"magnitude {largest:.4g}) — scale the data, or use Sequential(dtype='float64')")
    return cast


def check_features(name: str, x, dtype, n_features: Optional[int], all_finite: AllFinite
                   ) -> np.ndarray:
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
        _check_finite(name, x, all_finite)
        return x
    array = _as_array(name, x)
    if array.ndim != 2:
        hint = ""
        if array.ndim == 1:
            single_sample = f" (use {name}.reshape(1, -1) for a single sample)"
            single_feature = f" (use {name}.reshape(-1, 1) for a single feature)"
            if n_features == 1:
                hint = single_feature
            elif n_features is not None and array.shape[0] == n_features:
                hint = single_sample
            else:
                hint = (f" (use {name}.reshape(1, -1) for a single sample, {name}.reshape(-1, 1) "
                        f"for a single feature)")
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
    return _in_dtype(name, array, dtype, all_finite)


def check_targets(name: str, y, loss: Loss, n_outputs: int, n_samples: int, dtype,
                  all_finite: AllFinite) -> np.ndarray:
    """Validate targets for ``loss`` and a model with ``n_outputs`` outputs.

    Returns a ``(n, n_outputs)`` array of ``dtype``, or for sparse categorical losses a
    ``(n,)`` int64 array of class indices.
    """
    array = _as_array(name, y)
    if array.shape[:1] != (n_samples,):
        raise ValueError(
            f"{name}: expected {n_samples} samples (as many as x), got shape {array.shape}"
        )
    if array.dtype.kind == "f":
        _check_finite(name, array, all_finite)
    if loss.targets == "labels":
        return _check_labels(name, array, n_outputs)
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
    array = _in_dtype(name, array, dtype, all_finite, finite_checked=True)
    if loss.targets in ("binary", "one_hot") and (array.min() < 0 or array.max() > 1):
        raise ValueError(
            f"{name}: {loss.name} expects targets in [0, 1], got values from {array.min()} to "
            f"{array.max()}"
        )
    return array


def _check_labels(name: str, array: np.ndarray, n_classes: int) -> np.ndarray:
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


def check_sample_weight(name: str, weight, n_samples: int, dtype, all_finite: AllFinite):
    """Validate per-sample weights: shape (n,), finite, non-negative, not all zero."""
    if weight is None:
        return None
    array = _as_array(name, weight)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.shape != (n_samples,):
        raise ValueError(f"{name}: expected shape ({n_samples},), got {array.shape}")
    array = _in_dtype(name, array, dtype, all_finite)
    if array.min() < 0 or not array.any():
        raise ValueError(f"{name}: expected weights >= 0, not all zero")
    return array


def check_verbose(name: str, verbose) -> int:
    """``0``, ``1``, ``2`` or ``"auto"`` (which is ``1``), returned as an int."""
    if verbose == "auto":
        return 1
    if isinstance(verbose, bool) or not isinstance(verbose, (int, np.integer)) or verbose not in (
            0, 1, 2):
        raise ValueError(f"{name}: expected 0, 1, 2 or 'auto', got {verbose!r}")
    return int(verbose)



def apply_class_weight(class_weight, target, weight, dtype, loss, n_outputs: int):
    """Multiply each sample's weight by the weight of its class.

    The class of a sample is its label (sparse targets), the argmax of its row (one-hot or
    several outputs) or its rounded target (one sigmoid output), as in Keras. Keys must be
    integer class indices the model can output, and every class present in the targets needs
    one (Keras 3 would silently give a missing class the weight 1).
    """
    if not isinstance(class_weight, dict):
        raise TypeError(f"class_weight: expected a dict class index -> weight, got "
                        f"{type(class_weight).__name__}")
    if loss.targets not in ("binary", "one_hot", "labels"):
        raise ValueError(f"class_weight: needs a classification loss (binary, categorical or "
                         f"sparse categorical cross-entropy), got {loss.name}")
    if target.ndim == 1:
        classes = target.astype(np.int64)
    elif target.shape[1] == 1:
        classes = (target[:, 0] > 0.5).astype(np.int64)
    else:
        classes = target.argmax(axis=1)
    n_classes = max(n_outputs, 2)
    for key, value in class_weight.items():
        if isinstance(key, bool) or not isinstance(key, (int, np.integer)):
            raise TypeError(f"class_weight: expected integer class indices as keys, got "
                            f"{key!r}")
        if not 0 <= key < n_classes:
            raise ValueError(f"class_weight: the key {key!r} is not a class of this model "
                             f"(expected 0 to {n_classes - 1})")
        if (isinstance(value, bool) or not isinstance(value, (int, float, np.integer,
                                                               np.floating))
                or not np.isfinite(value) or value < 0):
            raise ValueError(f"class_weight: expected finite weights >= 0, got {value!r} for "
                             f"class {key!r}")
    present = [int(c) for c in np.unique(classes)]
    missing = [c for c in present if c not in class_weight]
    if missing:
        raise ValueError(f"class_weight: the classes {missing} are in the data but have no "
                         f"weight; give one for every class present ({present})")
    factors = np.empty(len(classes), dtype=dtype)
    for key, value in class_weight.items():
        factors[classes == key] = value
    return factors if weight is None else factors * weight
