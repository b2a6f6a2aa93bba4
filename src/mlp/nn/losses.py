"""Loss functions, by name or as objects, as ``Sequential.compile(loss=...)`` takes them.

Each loss maps onto one of the backend's fused loss kernels, which return the loss and its
gradient in one pass. Losses reduce as Keras' default ``"sum_over_batch_size"``:
``sum_i w_i * l_i / n`` with sample weights ``w_i`` (1 when not given).

When a model ends in ``sigmoid`` and uses binary cross-entropy, or ends in ``softmax`` and uses
categorical cross-entropy, training computes the loss from the logits instead (the
``*_from_logits`` kernels): the same value, but stable when probabilities saturate at 0 or 1.

Custom losses in Python
-----------------------
A subclass of :class:`Loss` that defines ``call(y_true, y_pred)`` (the loss of each sample,
shape ``(n,)``) and ``gradient(y_true, y_pred)`` (its derivative with respect to ``y_pred``,
sample by sample, before the batch mean: shape of ``y_pred``) trains on every backend. It runs
through the step-by-step plan: each batch's outputs are copied to host memory, the two methods
are called on NumPy arrays and the gradient is copied back, so it costs a Python call and two
copies per batch (on the GPU, two transfers) and the CPU's whole-epoch plan is not used.
A subclass that names neither a backend kernel nor both methods fails at ``compile``.

Examples
--------
>>> import numpy as np
>>> from mlp.losses import BinaryCrossentropy
>>> round(BinaryCrossentropy()(np.array([1.0, 0.0]), np.array([0.9, 0.2])), 4)
0.1643
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Tuple, Union

import numpy as np

from ..backends.base import LOSSES
from ..validation import check_fraction


class Loss:
    """Base class: a named loss backed by one backend kernel, or a custom loss in Python.

    A custom loss subclasses it and defines :meth:`call` and :meth:`gradient` (see the module
    notes); it leaves ``kernel`` as ``None``.

    Parameters
    ----------
    from_logits : bool
        Only for losses with a from-logits form (the cross-entropies). Defaults to ``False``.

    Attributes
    ----------
    kernel : str or None
        The backend loss computed from the model output as it is (see ``backends.base.LOSSES``);
        ``None`` for a custom loss in Python.
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
    kernel: Optional[str] = None
    logits_kernel: Optional[str] = None
    fuses_with: Optional[str] = None
    targets = "values"

    def __init__(self, from_logits: bool = False):
        if from_logits and type(self).logits_kernel is None:
            raise ValueError(f"from_logits: {type(self).__name__} has no from-logits form (only "
                             f"the cross-entropies have one); expected False, got {from_logits!r}")
        self.from_logits = bool(from_logits)

    def call(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        """The loss of each sample, shape ``(n,)``: define it in a custom loss.

        ``y_true`` and ``y_pred`` are NumPy arrays of shape ``(n, outputs)`` (``y_true`` of
        shape ``(n,)`` for integer labels).
        """
        raise NotImplementedError(f"{type(self).__name__}.call(y_true, y_pred)")

    def gradient(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        """The derivative of each sample's loss with respect to ``y_pred`` (same shape as
        ``y_pred``, before the batch mean): define it in a custom loss."""
        raise NotImplementedError(f"{type(self).__name__}.gradient(y_true, y_pred)")

    @property
    def in_python(self) -> bool:
        """Whether this loss runs its own :meth:`call` / :meth:`gradient` (a custom loss)
        instead of a backend kernel."""
        cls = type(self)
        return cls.call is not Loss.call or cls.gradient is not Loss.gradient

    @property
    def train_kernel(self) -> Optional[str]:
        """The kernel used when the model output is already logits (``from_logits=True``);
        ``None`` for a custom loss in Python."""
        if self.in_python:
            return None
        return self.logits_kernel if self.from_logits and self.logits_kernel else self.kernel

    def check(self) -> "Loss":
        """Check that training can use this loss; return it.

        Raises
        ------
        TypeError
            A custom loss that defines only one of :meth:`call` and :meth:`gradient`, or
            neither and no kernel (the message names what is missing).
        ValueError
            A ``kernel`` or ``logits_kernel`` that is no backend loss (a misspelt name).
        """
        cls = type(self)
        name = cls.__name__
        if self.in_python:
            needs = {"call": "the loss of each sample",
                     "gradient": "the derivative of each sample's loss with respect to y_pred"}
            for method, what in needs.items():
                if getattr(cls, method) is getattr(Loss, method):
                    raise TypeError(f"loss: {name} does not define {method}(y_true, y_pred) "
                                    f"({what}), which training needs")
            return self
        if not self.kernel:
            raise TypeError(
                f"loss: {name} defines no call(y_true, y_pred) and gradient(y_true, y_pred), "
                f"which training needs (or a backend kernel: one of {list(LOSSES)})")
        for attribute in ("kernel", "logits_kernel"):
            value = getattr(self, attribute)
            if value is not None and value not in LOSSES:
                raise ValueError(f"loss: {name}.{attribute}: expected one of {list(LOSSES)}, "
                                 f"got {value!r}")
        return self

    def smooth_targets(self, target: np.ndarray) -> np.ndarray:
        """The targets the loss is computed against (``label_smoothing`` of the
        cross-entropies); by default ``target`` itself."""
        return target

    def host_loss(self, y_pred: np.ndarray, y_true: np.ndarray,
                  sample_weight: Optional[np.ndarray] = None) -> Tuple[float, np.ndarray]:
        """Value and gradient of a custom loss on host arrays, reduced as the kernels reduce
        (``sum_i w_i l_i / n``): what the step-by-step plan calls for a loss in Python.

        Raises
        ------
        ValueError
            When :meth:`call` or :meth:`gradient` returns an array of the wrong shape.
        """
        n = y_pred.shape[0]
        name = type(self).__name__
        per_sample = np.asarray(self.call(y_true, y_pred), dtype=np.float64)
        if per_sample.shape == (n, 1):
            per_sample = per_sample[:, 0]
        if per_sample.shape != (n,):
            raise ValueError(f"{name}.call: expected the loss of each sample, shape ({n},), got "
                             f"shape {per_sample.shape} (reduce over the outputs, e.g. with "
                             f".mean(axis=-1))")
        grad = np.asarray(self.gradient(y_true, y_pred), dtype=np.float64)
        if grad.shape != y_pred.shape and grad.size == y_pred.size and y_pred.shape[1] == 1:
            grad = grad.reshape(y_pred.shape)
        if grad.shape != y_pred.shape:
            raise ValueError(f"{name}.gradient: expected one derivative per prediction, shape "
                             f"{y_pred.shape}, got shape {grad.shape}")
        if sample_weight is None:
            return float(per_sample.sum() / n), grad / n
        weight = np.asarray(sample_weight, dtype=np.float64).reshape(n)
        return float((weight * per_sample).sum() / n), grad * (weight[:, None] / n)

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
        target = self.smooth_targets(target)
        if self.in_python:
            return self.host_loss(pred, target, weight)[0]
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


class _SmoothedCrossentropy(Loss):
    """A cross-entropy with Keras' ``label_smoothing``: training, validation and ``evaluate``
    compute the loss against smoothed targets; the metrics see the targets as given."""

    def __init__(self, from_logits: bool = False, label_smoothing: float = 0.0):
        super().__init__(from_logits)
        self.label_smoothing = check_fraction("label_smoothing", label_smoothing,
                                              upper_inclusive=True)

    def smooth_targets(self, target: np.ndarray) -> np.ndarray:
        if not self.label_smoothing:
            return target
        share = 0.5 if self.targets == "binary" else 1.0 / target.shape[1]
        return target * (1.0 - self.label_smoothing) + share * self.label_smoothing

    def get_config(self) -> Dict[str, Any]:
        config: Dict[str, Any] = {"from_logits": self.from_logits}
        if self.label_smoothing:
            config["label_smoothing"] = self.label_smoothing
        return config


class BinaryCrossentropy(_SmoothedCrossentropy):
    """Binary cross-entropy for 0/1 targets, with a ``sigmoid`` output.

    Parameters
    ----------
    from_logits : bool
        ``True`` when the model outputs logits (a linear last layer). Defaults to ``False``:
        the output is a probability. A ``sigmoid`` output is fused with the loss anyway.
    label_smoothing : float
        In ``[0, 1]``: targets become ``y * (1 - label_smoothing) + 0.5 * label_smoothing``
        in the loss. Defaults to ``0.0``.
    """

    name = "binary_crossentropy"
    kernel = "binary_crossentropy"
    logits_kernel = "binary_crossentropy_from_logits"
    fuses_with = "sigmoid"
    targets = "binary"


class CategoricalCrossentropy(_SmoothedCrossentropy):
    """Categorical cross-entropy for one-hot targets, with a ``softmax`` output.

    Targets are rows of class probabilities (one-hot); for integer class labels use
    :class:`SparseCategoricalCrossentropy`.

    Parameters
    ----------
    from_logits : bool
        ``True`` when the model outputs logits. Defaults to ``False``; a ``softmax`` output is
        fused with the loss anyway.
    label_smoothing : float
        In ``[0, 1]``: targets become ``y * (1 - label_smoothing) + label_smoothing / classes``
        in the loss. Defaults to ``0.0``.
    """

    name = "categorical_crossentropy"
    kernel = "categorical_crossentropy"
    logits_kernel = "categorical_crossentropy_from_logits"
    fuses_with = "softmax"
    targets = "one_hot"


class SparseCategoricalCrossentropy(CategoricalCrossentropy):
    """Categorical cross-entropy for integer class labels ``0 .. n_classes - 1``.

    Parameters
    ----------
    from_logits : bool
        As in :class:`CategoricalCrossentropy`. Defaults to ``False``. (No
        ``label_smoothing``, as in Keras: use one-hot targets and
        :class:`CategoricalCrossentropy` for it.)
    """

    name = "sparse_categorical_crossentropy"
    targets = "labels"

    def __init__(self, from_logits: bool = False):
        super().__init__(from_logits)


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
        For anything else (a bare Python function, for instance: subclass :class:`Loss`), and
        for a :class:`Loss` that training cannot use (see :meth:`Loss.check`).
    """
    if isinstance(identifier, Loss):
        return identifier.check()
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
