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


class LabelEncoder:
    """Labels (strings, numbers, booleans) to the class indices ``0 .. n_classes - 1`` and
    back, as ``sklearn.preprocessing.LabelEncoder``: the classes are sorted, so the indices
    are those scikit-learn gives.

    Attributes
    ----------
    classes_ : numpy.ndarray
        The sorted labels seen by :meth:`fit`; label ``classes_[i]`` is encoded as ``i``.

    Examples
    --------
    >>> encoder = LabelEncoder().fit(["cat", "dog", "cat", "bird"])
    >>> encoder.classes_.tolist()
    ['bird', 'cat', 'dog']
    >>> encoder.transform(["dog", "bird"]).tolist()
    [2, 0]
    >>> encoder.inverse_transform([1, 1, 2]).tolist()
    ['cat', 'cat', 'dog']

    Indices are what ``sparse_categorical_crossentropy`` trains on, and
    ``to_categorical(encoder.transform(y))`` gives one-hot rows.
    """

    def fit(self, y: Any) -> "LabelEncoder":
        """Learn the classes of ``y`` (a 1-D array-like); return self.

        Raises
        ------
        ValueError
            When ``y`` is not 1-D, is empty, or holds NaN.
        """
        self.classes_ = np.unique(_labels("y", y))
        return self

    def fit_transform(self, y: Any) -> np.ndarray:
        """:meth:`fit`, then the indices of ``y``."""
        return self.fit(y).transform(y)

    def transform(self, y: Any) -> np.ndarray:
        """The class index of every label of ``y`` (int64).

        Raises
        ------
        ValueError
            For a label :meth:`fit` did not see (the message lists them), or before ``fit``.
        """
        classes = self._fitted("transform")
        labels = _labels("y", y, allow_empty=True)
        if labels.size == 0:
            return np.zeros(0, dtype=np.int64)
        unseen = np.setdiff1d(labels, classes)
        if unseen.size:
            raise ValueError(f"y: contains labels fit did not see: {unseen[:10].tolist()}"
                             f"{' ...' if unseen.size > 10 else ''}; the classes are "
                             f"{classes[:10].tolist()}{' ...' if classes.size > 10 else ''}")
        return np.searchsorted(classes, labels).astype(np.int64)

    def inverse_transform(self, y: Any) -> np.ndarray:
        """The labels of the class indices ``y``.

        Raises
        ------
        ValueError
            For an index outside ``[0, n_classes)``, or before ``fit``.
        """
        classes = self._fitted("inverse_transform")
        indices = _labels("y", y, allow_empty=True)
        if indices.size == 0:
            return classes[:0]
        if indices.dtype.kind not in "iu" or indices.min() < 0 or indices.max() >= classes.size:
            raise ValueError(f"y: expected class indices in [0, {classes.size}), got "
                             f"{np.unique(indices)[:10].tolist()}")
        return classes[indices]

    def _fitted(self, method: str) -> np.ndarray:
        if not hasattr(self, "classes_"):
            raise RuntimeError(f"LabelEncoder.{method}: call fit(y) first")
        return self.classes_

    def __repr__(self) -> str:
        return "LabelEncoder()"


def _labels(name: str, y: Any, allow_empty: bool = False) -> np.ndarray:
    """``y`` as a 1-D array of labels."""
    labels = np.asarray(_to_numpy(y))
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels.ravel()
    if labels.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D array of labels, got shape {labels.shape}")
    if labels.size == 0 and not allow_empty:
        raise ValueError(f"{name}: expected at least one label, got none")
    if labels.dtype.kind == "f" and np.isnan(labels).any():
        raise ValueError(f"{name}: expected labels, got NaN")
    return labels
