"""Normalization layers: ``BatchNormalization`` and ``LayerNormalization``, as in Keras 3.

Like every layer they only describe the computation; the backends compute it
(``batch_norm_forward`` / ``layer_norm_forward`` and their backward passes). Their weights live
in the model's flat parameter buffer: ``gamma`` and ``beta`` are trained, the moving
statistics of ``BatchNormalization`` are weights too (saved, loaded, returned by
``get_weights``) that the optimizer never touches.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from . import initializers, regularizers
from .layers import LAYER_CLASSES, Layer, to_host
from ..validation import check_bool, check_fraction, check_positive, fail


class _Normalization(Layer):
    """What both layers share: ``epsilon``, ``center`` (beta), ``scale`` (gamma), one feature
    axis, and an optional declared input width."""

    def __init__(self, axis: int, epsilon: float, center: bool, scale: bool,
                 beta_initializer: Any, gamma_initializer: Any, beta_regularizer: Any,
                 gamma_regularizer: Any, input_dim: Optional[int],
                 input_shape: Optional[Sequence[int]], name: Optional[str], trainable: bool):
        super().__init__(name, trainable)
        if isinstance(axis, bool) or axis not in (-1, 1):
            fail("axis", "-1 or 1 (the feature axis of (batch, features) inputs)", axis)
        self.axis = -1
        self.epsilon = check_positive("epsilon", epsilon)
        self.center = check_bool("center", center)
        self.scale = check_bool("scale", scale)
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)
        self.declared_input_dim = self._declared_width(input_dim, input_shape)

    @property
    def n_trained(self) -> int:
        """How many of the weights (gamma, then beta, first) are trained: 0, 1 or 2."""
        return int(self.scale) + int(self.center)

    def param_shapes(self, input_dim: int) -> List[Tuple[int, ...]]:
        return [(input_dim,)] * self.n_trained

    def initial_values(self, input_dim, dtype, rng):
        values = []
        if self.scale:
            values.append(self.gamma_initializer((input_dim,), dtype, rng))
        if self.center:
            values.append(self.beta_initializer((input_dim,), dtype, rng))
        return values

    @property
    def gamma(self) -> Optional[np.ndarray]:
        """The (features,) scale (a view into the model's parameters), or ``None`` without
        ``scale``."""
        return self._weight(0, "gamma") if self.scale else None

    @property
    def beta(self) -> Optional[np.ndarray]:
        """The (features,) offset, or ``None`` without ``center``."""
        return self._weight(int(self.scale), "beta") if self.center else None

    def _weight(self, index: int, attribute: str):
        if not self._weights:
            raise RuntimeError(f"{attribute}: layer {self.name!r} has no weights yet; build the "
                               f"model first (input_dim=..., compile, build or fit)")
        return self._weights[index]

    def get_config(self) -> Dict[str, Any]:
        return {
            "axis": self.axis,
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
            "beta_initializer": initializers.serialize(self.beta_initializer),
            "gamma_initializer": initializers.serialize(self.gamma_initializer),
            "beta_regularizer": (None if self.beta_regularizer is None
                                 else regularizers.serialize(self.beta_regularizer)),
            "gamma_regularizer": (None if self.gamma_regularizer is None
                                  else regularizers.serialize(self.gamma_regularizer)),
            "input_dim": self.declared_input_dim,
            "name": self.name,
            "trainable": self.trainable,
        }


class BatchNormalization(_Normalization):
    """Normalizes each feature with the statistics of the batch while training and with moving
    statistics at inference, as ``keras.layers.BatchNormalization``.

    While training (``fit``, ``train_on_batch``):
    ``y = gamma * (x - mean_b) / sqrt(var_b + epsilon) + beta`` with the mean and the biased
    variance of the batch, and after each batch
    ``moving_mean = moving_mean * momentum + mean_b * (1 - momentum)`` (the same for
    ``moving_variance`` with ``var_b``). At inference (``predict``, ``evaluate``) the moving
    statistics take the place of the batch's.

    With ``trainable=False`` (or a frozen model) the layer runs in inference mode while
    training too, as in Keras 3: it uses the moving statistics, which it does not update, and
    gamma and beta are not trained.

    Parameters
    ----------
    axis : int
        The feature axis; ``-1`` (or ``1``) only, for ``(batch, features)`` inputs.
    momentum : float
        In ``[0, 1]``. Defaults to ``0.99`` (Keras' default).
    epsilon : float
        Added to the variance, ``> 0``. Defaults to ``1e-3``.
    center, scale : bool
        Whether to learn ``beta`` / ``gamma``. Default ``True``.
    beta_initializer, gamma_initializer : str or Initializer
        Default ``"zeros"`` and ``"ones"``.
    moving_mean_initializer, moving_variance_initializer : str or Initializer
        Default ``"zeros"`` and ``"ones"``.
    beta_regularizer, gamma_regularizer : str, Regularizer or None
        Add ``l1 * sum|w| + l2 * sum(w**2)`` of beta / gamma to the loss. Default ``None``.
    input_dim : int, optional
        Input width, for the first layer (or use :class:`~mlp.layers.Input`).
    input_shape : tuple of one int, optional
        Keras' spelling of ``input_dim``.
    name : str, optional
    trainable : bool
        Defaults to ``True``.

    Notes
    -----
    ``get_weights()`` returns ``[gamma, beta, moving_mean, moving_variance]`` (without the
    ones ``scale`` / ``center`` turn off), Keras' order; ``summary()`` counts the moving
    statistics as non-trainable parameters.

    Examples
    --------
    >>> import mlp
    >>> model = mlp.Sequential([mlp.Dense(32, input_dim=8), mlp.BatchNormalization(),
    ...                         mlp.Activation("relu"), mlp.Dense(1, activation="sigmoid")])
    >>> model.compile(optimizer="adam", loss="binary_crossentropy")  # builds the weights
    >>> [w.shape for w in model.layers[1].get_weights()]
    [(32,), (32,), (32,), (32,)]
    """

    def __init__(self, axis: int = -1, momentum: float = 0.99, epsilon: float = 1e-3,
                 center: bool = True, scale: bool = True, beta_initializer: Any = "zeros",
                 gamma_initializer: Any = "ones", moving_mean_initializer: Any = "zeros",
                 moving_variance_initializer: Any = "ones", beta_regularizer: Any = None,
                 gamma_regularizer: Any = None, input_dim: Optional[int] = None,
                 input_shape: Optional[Sequence[int]] = None, name: Optional[str] = None,
                 trainable: bool = True):
        super().__init__(axis, epsilon, center, scale, beta_initializer, gamma_initializer,
                         beta_regularizer, gamma_regularizer, input_dim, input_shape, name,
                         trainable)
        self.momentum = check_fraction("momentum", momentum, upper_inclusive=True)
        self.moving_mean_initializer = initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = initializers.get(moving_variance_initializer)

    def param_shapes(self, input_dim: int) -> List[Tuple[int, ...]]:
        return super().param_shapes(input_dim) + [(input_dim,), (input_dim,)]

    def initial_values(self, input_dim, dtype, rng):
        return super().initial_values(input_dim, dtype, rng) + [
            self.moving_mean_initializer((input_dim,), dtype, rng),
            self.moving_variance_initializer((input_dim,), dtype, rng)]

    def set_weights(self, weights: Sequence[Any]) -> None:
        """As :meth:`Layer.set_weights`; a negative moving variance is refused too (its square
        root would turn every inference output into NaN)."""
        if self.built and len(weights) == len(self._weights):
            variance = np.asarray(to_host(weights[-1]))
            if np.issubdtype(variance.dtype, np.number) and np.any(variance < 0):
                raise ValueError(f"weights[{len(weights) - 1}]: expected a moving variance >= 0 "
                                 f"for {self.name!r}, got a minimum of {variance.min()!r}")
        super().set_weights(weights)

    @property
    def moving_mean(self) -> np.ndarray:
        """The (features,) moving mean (a view into the model's parameters)."""
        return self._weight(self.n_trained, "moving_mean")

    @property
    def moving_variance(self) -> np.ndarray:
        """The (features,) moving variance (a view into the model's parameters)."""
        return self._weight(self.n_trained + 1, "moving_variance")

    def get_config(self) -> Dict[str, Any]:
        config = super().get_config()
        config.update(
            momentum=self.momentum,
            moving_mean_initializer=initializers.serialize(self.moving_mean_initializer),
            moving_variance_initializer=initializers.serialize(self.moving_variance_initializer))
        return config


class LayerNormalization(_Normalization):
    """Normalizes each sample over its features, as ``keras.layers.LayerNormalization``:
    ``y = gamma * (x - mean) / sqrt(var + epsilon) + beta`` with the mean and the biased
    variance of each row, in training and inference alike.

    Parameters
    ----------
    axis : int
        ``-1`` (or ``1``) only: the feature axis of ``(batch, features)`` inputs.
    epsilon : float
        Added to the variance, ``> 0``. Defaults to ``1e-3`` (Keras' default).
    center, scale : bool
        Whether to learn ``beta`` / ``gamma``. Default ``True``.
    beta_initializer, gamma_initializer : str or Initializer
        Default ``"zeros"`` and ``"ones"``.
    beta_regularizer, gamma_regularizer : str, Regularizer or None
        Add ``l1 * sum|w| + l2 * sum(w**2)`` of beta / gamma to the loss. Default ``None``.
    input_dim : int, optional
        Input width, for the first layer.
    input_shape : tuple of one int, optional
        Keras' spelling of ``input_dim``.
    name : str, optional
    trainable : bool
        Defaults to ``True``.

    Examples
    --------
    >>> import mlp
    >>> model = mlp.Sequential([mlp.LayerNormalization(input_dim=4), mlp.Dense(2)])
    >>> model.build()
    >>> [w.shape for w in model.layers[0].get_weights()]
    [(4,), (4,)]
    """

    def __init__(self, axis: int = -1, epsilon: float = 1e-3, center: bool = True,
                 scale: bool = True, beta_initializer: Any = "zeros",
                 gamma_initializer: Any = "ones", beta_regularizer: Any = None,
                 gamma_regularizer: Any = None, input_dim: Optional[int] = None,
                 input_shape: Optional[Sequence[int]] = None, name: Optional[str] = None,
                 trainable: bool = True):
        super().__init__(axis, epsilon, center, scale, beta_initializer, gamma_initializer,
                         beta_regularizer, gamma_regularizer, input_dim, input_shape, name,
                         trainable)


LAYER_CLASSES.update(BatchNormalization=BatchNormalization,
                     LayerNormalization=LayerNormalization)

__all__ = ["BatchNormalization", "LayerNormalization"]
