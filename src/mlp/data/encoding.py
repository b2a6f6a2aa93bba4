"""One-hot encoding of class labels: ``to_categorical`` (``one_hot``)."""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

from ..validation import check_int
from ._common import _to_numpy


# ------------------------------------------------------------------------------ one-hot
def to_categorical(y: Any, num_classes: Optional[int] = None,
                   dtype: Any = "float32") -> np.ndarray:
    """One-hot encode integer class labels (Keras' ``to_categorical``).

    Parameters
    ----------
    y : array-like of int
        Class labels in ``[0, num_classes)``, any shape; a trailing axis of size 1 is dropped.
        Floats are accepted when they hold whole numbers.
    num_classes : int, optional
        Number of classes. Defaults to ``max(y) + 1``.
    dtype : dtype
        Of the result. Defaults to ``"float32"``.

    Returns
    -------
    ndarray of shape ``y.shape + (num_classes,)``

    Raises
    ------
    TypeError
        Non-numeric labels (strings, objects).
    ValueError
        Negative, non-integer or non-finite labels, labels >= ``num_classes``, or empty ``y``
        without ``num_classes``.

    Examples
    --------
    >>> to_categorical([0, 2, 1])
    array([[1., 0., 0.],
           [0., 0., 1.],
           [0., 1., 0.]], dtype=float32)
    >>> to_categorical([1], num_classes=4, dtype=int)
    array([[0, 1, 0, 0]])
    """
    labels = _to_numpy(y)
    if labels.dtype.kind not in "biuf":
        raise TypeError(f"y: expected integer class labels, got dtype {labels.dtype}")
    if labels.ndim > 1 and labels.shape[-1] == 1:
        labels = labels[..., 0]
    if labels.dtype.kind == "f":
        bad = ~np.isfinite(labels) | (labels != np.round(labels))
        if np.any(bad):
            raise ValueError(f"y: expected integer class labels, got non-integer value "
                             f"{float(labels[bad].flat[0])!r}")
    labels = labels.astype(np.int64)
    if labels.size and labels.min() < 0:
        raise ValueError(f"y: expected class labels >= 0, got {int(labels.min())}")
    if num_classes is None:
        if labels.size == 0:
            raise ValueError("num_classes: cannot be inferred from an empty y; pass it")
        num_classes = int(labels.max()) + 1
    else:
        num_classes = check_int("num_classes", num_classes, 1, wrong_type=ValueError)
        if labels.size and labels.max() >= num_classes:
            raise ValueError(f"y: expected class labels in [0, {num_classes - 1}] for "
                             f"num_classes={num_classes}, got {int(labels.max())}")
    dtype = np.dtype(dtype)
    if dtype.kind not in "biuf":
        raise TypeError(f"dtype: expected a numeric dtype, got {dtype}")
    encoded = np.zeros((labels.size, num_classes), dtype=dtype)
    encoded[np.arange(labels.size), labels.reshape(-1)] = 1
    return encoded.reshape(labels.shape + (num_classes,))


one_hot = to_categorical


__all__ = ["one_hot", "to_categorical"]
