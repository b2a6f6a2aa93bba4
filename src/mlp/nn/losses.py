"""Loss functions, by name or as objects, as ``Sequential.compile(loss=...)`` takes them.

Each loss maps onto one of the backend's fused loss kernels, which return the loss and its
gradient in one pass. Losses reduce as Keras' default ``"sum_over_batch_size"``:
``sum_i w_i * l_i / n`` with sample weights ``w_i`` (1 when not given).

When a model ends in ``sigmoid`` and uses binary cross-entropy, or ends in ``softmax`` and uses
categorical cross-entropy, training computes the loss from the logits instead (the
``*_from_logits`` kernels): the same value, but stable when probabilities saturate at 0 or 1.

Examples
--------
>>> import numpy as np
>>> from mlp.losses import BinaryCrossentropy
>>> round(BinaryCrossentropy()(np.array([1.0, 0.0]), np.array([0.9, 0.2])), 4)
0.1643
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Union

import numpy as np


class Loss:
    """Base class: a named loss backed by one backend kernel.

    Attributes
    ----------
    kernel : str
        The backend loss computed from the model output as it is (see ``backends.base.LOSSES``).
    logits_kernel : str or None
        The backend loss computed from logits, used when the output activation is fused into
        the loss; ``None`` when no such fusion exists.
    fuses_with : str or None
        The output activation (``"sigmoid"`` / ``"softmax"``) that this loss absorbs.
    targets : str
        ``"values"`` (same shape as the output), ``"binary"`` (values in [0, 1]), ``"one_hot"``
        (rows of class probabilities) or ``"labels"`` (integer class indices).
    """

    name = "loss"
    kernel = ""
    logits_kernel: Optional[str] = None
    fuses_with: Optional[str] = None
    targets = "values"

    def __init__(self, from_logits: bool = False):
        self.from_logits = bool(from_logits)

    @property
    def train_kernel(self) -> str:
        """The kernel used when the model output is already logits (``from_logits=True``)."""
        return self.logits_kernel if self.from_logits and self.logits_kernel else self.kernel

    def get_config(self) -> Dict[str, Any]:
        """The constructor arguments, JSON-serialisable."""
        return {"from_logits": self.from_logits} if self.logits_kernel else {}

    @classmethod
    def from_config(cls, config: Dict[str, Any]) -> "Loss":
        """Rebuild a loss from :meth:`get_config`."""
        return cls(**config)

    def __call__(self, y_true, y_pred, sample_weight=None) -> float:
        """The loss of predictions ``y_pred`` against ``y_true`` (NumPy arrays), as a float."""
        from ..backends import get_backend

        pred = np.asarray(y_pred, dtype=np.float64)
        if pred.ndim == 1:
            pred = pred[:, None]
        target = np.asarray(y_true)
        if self.targets == "labels":
            target = target.reshape(-1).astype(np.int64)
        else:
            target = target.astype(np.float64).reshape(pred.shape)
        weight = None if sample_weight is None else np.asarray(sample_weight, np.float64)
        value, _ = get_backend("reference").loss(self.train_kernel, pred, target, weight,
                                                 delta=getattr(self, "delta", 1.0))
        return value

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class MeanSquaredError(Loss):
    """Mean squared error ``mean_j (y_pred - y_true)**2``, for regression."""

    name = "mean_squared_error"
    kernel = "mean_squared_error"


class MeanAbsoluteError(Loss):
    """Mean absolute error ``mean_j |y_pred - y_true|``, for regression robust to outliers."""

    name = "mean_absolute_error"
    kernel = "mean_absolute_error"


class Huber(Loss):
    """Huber loss: quadratic for errors up to ``delta``, linear beyond.

    Parameters
    ----------
    delta : float
        Where the loss turns from quadratic to linear. Defaults to ``1.0``.
    """

    name = "huber"
    kernel = "huber"

    def __init__(self, delta: float = 1.0):
        super().__init__()
        delta = float(delta)
        if not np.isfinite(delta) or delta <= 0:
            raise ValueError(f"delta: expected a finite number > 0, got {delta!r}")
        self.delta = delta

    def get_config(self) -> Dict[str, Any]:
        return {"delta": self.delta}


class BinaryCrossentropy(Loss):
    """Binary cross-entropy for 0/1 targets, with a ``sigmoid`` output.

    Parameters
    ----------
    from_logits : bool
        ``True`` when the model outputs logits (a linear last layer). Defaults to ``False``:
        the output is a probability. A ``sigmoid`` output is fused with the loss anyway.
    """

    name = "binary_crossentropy"
    kernel = "binary_crossentropy"
    logits_kernel = "binary_crossentropy_from_logits"
    fuses_with = "sigmoid"
    targets = "binary"


class CategoricalCrossentropy(Loss):
    """Categorical cross-entropy for one-hot targets, with a ``softmax`` output.

    Targets are rows of class probabilities (one-hot); for integer class labels use
    :class:`SparseCategoricalCrossentropy`.

    Parameters
    ----------
    from_logits : bool
        ``True`` when the model outputs logits. Defaults to ``False``; a ``softmax`` output is
        fused with the loss anyway.
    """

    name = "categorical_crossentropy"
    kernel = "categorical_crossentropy"
    logits_kernel = "categorical_crossentropy_from_logits"
    fuses_with = "softmax"
    targets = "one_hot"


class SparseCategoricalCrossentropy(CategoricalCrossentropy):
    """Categorical cross-entropy for integer class labels ``0 .. n_classes - 1``."""

    name = "sparse_categorical_crossentropy"
    targets = "labels"


_BY_NAME = {
    "mean_squared_error": MeanSquaredError,
    "mse": MeanSquaredError,
    "mean_absolute_error": MeanAbsoluteError,
    "mae": MeanAbsoluteError,
    "huber": Huber,
    "binary_crossentropy": BinaryCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
}
_BY_CLASS = {cls.__name__: cls for cls in set(_BY_NAME.values())}


def get(identifier: Union[str, Loss, Dict[str, Any]]) -> Loss:
    """Return a :class:`Loss` for a name, a ``{"class_name", "config"}`` dict or an instance.

    Raises
    ------
    ValueError
        For an unknown name (the message lists the supported ones).
    TypeError
        For anything else (a bare Python function, for instance: the kernels need a known loss).
    """
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, str):
        cls = _BY_NAME.get(identifier.lower())
        if cls is None:
            raise ValueError(
                f"loss: unknown loss {identifier!r}. Supported losses are {sorted(_BY_NAME)}."
            )
        return cls()
    if isinstance(identifier, dict) and identifier.get("class_name") in _BY_CLASS:
        return _BY_CLASS[identifier["class_name"]].from_config(identifier.get("config", {}))
    raise TypeError(
        f"loss: expected a loss name, a mlp.losses.Loss or a config dict, got "
        f"{type(identifier).__name__}"
    )


def serialize(loss: Loss) -> Dict[str, Any]:
    """``{"class_name": ..., "config": ...}`` for :func:`get`."""
    return {"class_name": type(loss).__name__, "config": loss.get_config()}


__all__ = ["Loss", "MeanSquaredError", "MeanAbsoluteError", "Huber", "BinaryCrossentropy",
    "CategoricalCrossentropy", "SparseCategoricalCrossentropy", "get", "serialize"]
