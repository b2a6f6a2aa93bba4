"""Layers of a :class:`mlp.Sequential` model: ``Input``, ``Dense``, ``Dropout``, ``Activation``.

Layers describe the network; they do no arithmetic themselves. The model's training plan
(:mod:`mlp.training`) runs them on the model's backend. A layer's parameters live in the model's
flat parameter buffer; ``get_weights`` returns NumPy copies and ``set_weights`` writes into the
buffer after checking shapes.
"""
from __future__ import annotations

import math
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from . import initializers, regularizers
from .activations import PYTHON_ACTIVATIONS, CustomActivation, config_value
from ..backends.base import resolve_activation, resolve_alpha
from ..validation import check_bool, check_int


class Layer:
    """Base class of all layers.

    Parameters
    ----------
    name : str, optional
        A name for ``summary()``; defaults to the class name in snake case with a counter.
    trainable : bool
        ``False`` freezes the layer's weights: training leaves them, their optimizer state
        and their weight decay alone, and their regularizer adds nothing to the loss (as in
        Keras). Settable at any time; it takes effect at the next ``fit``. Defaults to
        ``True``.
    """

    _counters: Dict[str, int] = {}
    declared_input_dim: Optional[int] = None
    """The input width the layer declares as the first layer of a model (``input_dim``)."""

    def __init__(self, name: Optional[str] = None, trainable: bool = True):
        self.trainable = trainable
        if name is None:
            base = _snake_case(type(self).__name__)
            count = Layer._counters.get(base, 0)
            Layer._counters[base] = count + 1
            name = base if count == 0 else f"{base}_{count}"
        self.name = name
        self.input_dim: Optional[int] = None
        self._weights: List[np.ndarray] = []

    @property
    def trainable(self) -> bool:
        """Whether training updates this layer's weights."""
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        self._trainable = check_bool("trainable", value)

    # Shapes and parameters
    def output_dim(self, input_dim: int) -> int:
        """The width of the output for an input of width ``input_dim``."""
        return input_dim

    def param_shapes(self, input_dim: int) -> List[Tuple[int, ...]]:
        """Shapes of the parameters for an input of width ``input_dim`` (none by default)."""
        return []

    @property
    def n_trained(self) -> int:
        """How many of the weights, the first ones of :meth:`param_shapes`, training updates;
        the others are state the layer keeps (the moving statistics of batch normalization).
        All of them unless a layer says otherwise (their number does not depend on the width)."""
        return len(self.param_shapes(self.input_dim or 1))

    @staticmethod
    def _declared_width(input_dim: Optional[int], input_shape: Optional[Sequence[int]]
                        ) -> Optional[int]:
        """The input width from ``input_dim`` or Keras' ``input_shape=(n,)`` (checked to agree),
        or ``None`` when neither is given."""
        if input_shape is not None:
            width = _input_shape_width(input_shape)
            if input_dim is not None and input_dim != width:
                raise ValueError(f"input_shape: expected the same width as input_dim="
                                 f"{input_dim!r}, got {input_shape!r}")
            input_dim = width
        if input_dim is not None:
            check_int("input_dim", input_dim, 1, wrong_type=ValueError,
                      expected="a positive integer")
        return None if input_dim is None else int(input_dim)

    def initial_values(self, input_dim: int, dtype, rng: np.random.Generator) -> List[np.ndarray]:
        """Fresh parameter values, one array per entry of :meth:`param_shapes`."""
        return []

    @property
    def built(self) -> bool:
        """Whether the layer knows its input width (and so its parameters)."""
        return self.input_dim is not None

    def bind(self, input_dim: int, views: Sequence[np.ndarray]) -> None:
        """Attach the layer to its input width and to its parameter views (done by the model)."""
        self.input_dim = int(input_dim)
        self._weights = list(views)

    def count_params(self) -> int:
        """Number of scalar parameters (0 before the layer is built)."""
        return sum(math.prod(w.shape) for w in self._weights)

    def get_weights(self) -> List[np.ndarray]:
        """Copies of the parameters as NumPy arrays (kernel first, then bias), wherever the model
        keeps them (GPU parameters are copied to the host)."""
        return [np.array(to_host(w), copy=True) for w in self._weights]

    def set_weights(self, weights: Sequence[Any]) -> None:
        """Overwrite the parameters; shapes must match :meth:`get_weights` exactly.

        Raises
        ------
        ValueError
            On a wrong number of arrays, a wrong shape, or non-finite values.
        """
        if not self.built:
            raise ValueError(f"{self.name}: the layer is not built yet; build the model first")
        if len(weights) != len(self._weights):
            raise ValueError(
                f"weights: layer {self.name!r} expects {len(self._weights)} arrays, "
                f"got {len(weights)}"
            )
        weights = [to_host(value) for value in weights]
        for index, (target, value) in enumerate(zip(self._weights, weights)):
            value = np.asarray(value)
            if value.shape != target.shape:
                raise ValueError(
                    f"weights[{index}]: layer {self.name!r} expects shape {target.shape}, "
                    f"got {value.shape}"
                )
            if not np.issubdtype(value.dtype, np.number) or not np.all(np.isfinite(value)):
                raise ValueError(f"weights[{index}]: expected finite numbers for {self.name!r}")
        for target, value in zip(self._weights, weights):
            value = np.ascontiguousarray(value, dtype=target.dtype)
            if isinstance(target, np.ndarray) and not is_device_array(target):
                target[...] = value
            else:  # a view of the model's GPU buffer: copy the host values over
                target.set(value)

    def get_config(self) -> Dict[str, Any]:
        """Constructor arguments, JSON-serialisable."""
        return {"name": self.name}

    @classmethod
    def from_config(cls, config: Dict[str, Any]) -> "Layer":
        """Rebuild a layer from :meth:`get_config`."""
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


class Input(Layer):
    """Declares the input width of a model, as ``keras.Input(shape=(n,))``.

    Parameters
    ----------
    shape : int or tuple of one int
        Number of input features.

    Examples
    --------
    >>> import mlp
    >>> model = mlp.Sequential([mlp.Input((4,)), mlp.Dense(2)])
    """

    def __init__(self, shape: Union[int, Sequence[int]], name: Optional[str] = None):
        super().__init__(name)
        dims = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
        if len(dims) != 1 or not isinstance(dims[0], (int, np.integer)) or dims[0] < 1:
            raise ValueError(
                f"shape: expected the number of features as (n,) with n >= 1, got {shape!r}"
            )
        self.shape = (int(dims[0]),)

    def get_config(self) -> Dict[str, Any]:
        return {"shape": list(self.shape), "name": self.name}


class Dense(Layer):
    """Fully connected layer: ``output = activation(input @ kernel + bias)``.

    Parameters
    ----------
    units : int
        Output width.
    activation : str or None
        One of ``linear`` (``None``), ``relu``, ``leaky_relu``, ``elu``, ``sigmoid``, ``tanh``,
        ``softmax``, ``gelu``, ``swish`` / ``silu``, or a
        :class:`~mlp.activations.CustomActivation` (Python, step by step). Defaults to
        ``None`` (linear).
    use_bias : bool
        Defaults to ``True``.
    kernel_initializer, bias_initializer : str or Initializer
        Default to ``"glorot_uniform"`` and ``"zeros"``, as in Keras.
    kernel_regularizer : str, Regularizer or None
        Adds ``l1 * sum|kernel| + l2 * sum(kernel**2)`` to the loss. Defaults to ``None``.
    bias_regularizer : str, Regularizer or None
        The same for the bias. Defaults to ``None``.
    input_dim : int, optional
        Input width, for the first layer (or use :class:`Input`).
    input_shape : tuple of one int, optional
        Keras' spelling of ``input_dim``: ``input_shape=(n,)`` is ``input_dim=n``.
    alpha : float, optional
        Negative slope of ``leaky_relu`` (default 0.2, Keras' value) or scale of ``elu``
        (default 1.0). Keras spells these through separate layers; here they are an argument.
    trainable : bool
        ``False`` freezes the kernel and bias (see :class:`Layer`). Defaults to ``True``.

    Examples
    --------
    >>> import mlp
    >>> layer = mlp.Dense(64, activation="relu", input_dim=30)
    """

    def __init__(self, units: int, activation: Optional[str] = None, use_bias: bool = True,
                 kernel_initializer: Any = "glorot_uniform", bias_initializer: Any = "zeros",
                 kernel_regularizer: Any = None, input_dim: Optional[int] = None,
                 alpha: Optional[float] = None, name: Optional[str] = None,
                 input_shape: Optional[Sequence[int]] = None, trainable: bool = True,
                 bias_regularizer: Any = None):
        super().__init__(name, trainable)
        self.units = check_int("units", units, 1, wrong_type=ValueError,
                               expected="a positive integer")
        input_dim = self._declared_width(input_dim, input_shape)
        self.activation = _activation(activation)
        if self.activation == "softmax" and self.units == 1:
            raise ValueError("activation: softmax over one unit always outputs 1 (it normalises "
                             "across units); for a binary output use Dense(1, "
                             "activation='sigmoid'), or Dense(2, activation='softmax')")
        self.alpha = resolve_alpha(self.activation, alpha)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.declared_input_dim = input_dim

    def output_dim(self, input_dim: int) -> int:
        return self.units

    def param_shapes(self, input_dim: int) -> List[Tuple[int, ...]]:
        shapes: List[Tuple[int, ...]] = [(input_dim, self.units)]
        if self.use_bias:
            shapes.append((self.units,))
        return shapes

    def initial_values(self, input_dim, dtype, rng):
        values = [self.kernel_initializer((input_dim, self.units), dtype, rng)]
        if self.use_bias:
            values.append(self.bias_initializer((self.units,), dtype, rng))
        return values

    @property
    def kernel(self) -> np.ndarray:
        """The (inputs, units) weight matrix (a view into the model's parameters).

        Raises
        ------
        RuntimeError
            Before the model has weights.
        """
        self._require_weights("kernel")
        return self._weights[0]

    @property
    def bias(self) -> Optional[np.ndarray]:
        """The (units,) bias, or ``None`` without bias."""
        if not self.use_bias:
            return None
        self._require_weights("bias")
        return self._weights[1]

    def _require_weights(self, attribute: str) -> None:
        if not self._weights:
            raise RuntimeError(f"{attribute}: layer {self.name!r} has no weights yet; give the "
                               f"first layer input_dim=... and compile the model, or call "
                               f"model.build(input_dim) / fit first")

    def get_config(self) -> Dict[str, Any]:
        return {
            "units": self.units,
            "activation": config_value(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": (None if self.kernel_regularizer is None
                                   else regularizers.serialize(self.kernel_regularizer)),
            "bias_regularizer": (None if self.bias_regularizer is None
                                 else regularizers.serialize(self.bias_regularizer)),
            "input_dim": self.declared_input_dim,
            "alpha": self.alpha,
            "name": self.name,
            "trainable": self.trainable,
        }


class Dropout(Layer):
    """Randomly zeroes a fraction ``rate`` of its inputs while training (inverted dropout).

    Kept values are scaled by ``1 / (1 - rate)``; at inference the layer passes its input
    through unchanged. Masks come from a counter-based hash of (seed, step, layer), so a seeded
    model draws the same masks on every run, thread count and backend.

    Parameters
    ----------
    rate : float
        Fraction to drop, in ``[0, 1)``.
    seed : int, optional
        Seed of this layer's masks; defaults to one derived from the model's seed.
    input_dim, input_shape : optional
        The input width, for the first layer (as :class:`Dense`).
    """

    def __init__(self, rate: float, seed: Optional[int] = None, name: Optional[str] = None,
                 trainable: bool = True, input_dim: Optional[int] = None,
                 input_shape: Optional[Sequence[int]] = None):
        super().__init__(name, trainable)
        self.declared_input_dim = self._declared_width(input_dim, input_shape)
        if isinstance(rate, bool) or not isinstance(rate, (int, float, np.floating)) or not (
                0.0 <= float(rate) < 1.0):
            raise ValueError(f"rate: expected a number in [0, 1), got {rate!r}")
        if seed is not None and (not isinstance(seed, (int, np.integer)) or seed < 0):
            raise ValueError(f"seed: expected a non-negative integer or None, got {seed!r}")
        self.rate = float(rate)
        self.seed = None if seed is None else int(seed)

    def get_config(self) -> Dict[str, Any]:
        return {"rate": self.rate, "seed": self.seed, "name": self.name,
                "input_dim": self.declared_input_dim}


class GaussianNoise(Layer):
    """Adds zero-mean Gaussian noise of standard deviation ``stddev`` to its inputs while
    training, as ``keras.layers.GaussianNoise``; at inference it passes them through.

    The noise of each batch is drawn from NumPy's generator seeded with (seed, optimizer step,
    layer position), so a seeded model trains the same on every run and backend. It has no
    kernel: a model with it trains through the step-by-step plan (the noise is drawn on the
    host and copied to the device).

    Parameters
    ----------
    stddev : float
        Standard deviation of the noise, ``>= 0``.
    seed : int, optional
        Seed of the noise; defaults to one derived from the model's seed.
    input_dim, input_shape : optional
        The input width, for the first layer (as :class:`Dense`).
    """

    def __init__(self, stddev: float, seed: Optional[int] = None, name: Optional[str] = None,
                 trainable: bool = True, input_dim: Optional[int] = None,
                 input_shape: Optional[Sequence[int]] = None):
        super().__init__(name, trainable)
        self.declared_input_dim = self._declared_width(input_dim, input_shape)
        if (isinstance(stddev, bool) or not isinstance(stddev, (int, float, np.floating))
                or not np.isfinite(stddev) or stddev < 0):
            raise ValueError(f"stddev: expected a finite number >= 0, got {stddev!r}")
        if seed is not None and (not isinstance(seed, (int, np.integer)) or seed < 0):
            raise ValueError(f"seed: expected a non-negative integer or None, got {seed!r}")
        self.stddev = float(stddev)
        self.seed = None if seed is None else int(seed)

    def get_config(self) -> Dict[str, Any]:
        return {"stddev": self.stddev, "seed": self.seed, "name": self.name,
                "input_dim": self.declared_input_dim}


class Activation(Layer):
    """Applies an activation function on its own, as ``keras.layers.Activation``.

    Parameters
    ----------
    activation : str
        Any name :class:`Dense` accepts.
    alpha : float, optional
        As in :class:`Dense`.
    input_dim, input_shape : optional
        The input width, for the first layer (as :class:`Dense`).
    """

    def __init__(self, activation: str, alpha: Optional[float] = None, name: Optional[str] = None,
                 trainable: bool = True, input_dim: Optional[int] = None,
                 input_shape: Optional[Sequence[int]] = None):
        super().__init__(name, trainable)
        self.declared_input_dim = self._declared_width(input_dim, input_shape)
        self.activation = _activation(activation)
        self.alpha = resolve_alpha(self.activation, alpha)

    def get_config(self) -> Dict[str, Any]:
        return {"activation": config_value(self.activation), "alpha": self.alpha,
                "name": self.name, "input_dim": self.declared_input_dim}


LAYER_CLASSES = {cls.__name__: cls for cls in (Input, Dense, Dropout, Activation, GaussianNoise)}


def serialize(layer: Layer) -> Dict[str, Any]:
    """``{"class_name": ..., "config": ...}`` for :func:`deserialize`."""
    return {"class_name": type(layer).__name__, "config": layer.get_config()}


def deserialize(config: Dict[str, Any]) -> Layer:
    """Rebuild a layer from :func:`serialize`; unknown classes give a clear error."""
    name = config.get("class_name") if isinstance(config, dict) else None
    if name not in LAYER_CLASSES:
        raise ValueError(
            f"layer config: unknown layer class {name!r}; known are {sorted(LAYER_CLASSES)}"
        )
    return LAYER_CLASSES[name].from_config(dict(config.get("config", {})))


def is_device_array(value) -> bool:
    """Whether ``value`` lives in GPU memory (a CuPy array, or any ``__cuda_array_interface__``)."""
    return hasattr(value, "__cuda_array_interface__")


def to_host(value):
    """``value`` in host memory: GPU arrays are copied (``.get()``), anything else is returned."""
    if is_device_array(value) and hasattr(value, "get"):
        return value.get()
    return value


def _activation(activation):
    """A built-in activation's canonical name, or a checked custom activation object."""
    if isinstance(activation, CustomActivation):
        return activation.check()
    if isinstance(activation, str) and activation in PYTHON_ACTIVATIONS:
        return PYTHON_ACTIVATIONS[activation]
    try:
        return resolve_activation(activation)
    except ValueError as error:
        raise ValueError(f"{error} Also: {sorted(PYTHON_ACTIVATIONS)} (in Python), or a "
                         f"mlp.activations.CustomActivation.") from None


def _input_shape_width(input_shape) -> int:
    """The width ``n`` of a Keras ``input_shape=(n,)``."""
    dims = (input_shape,) if isinstance(input_shape, (int, np.integer)) else input_shape
    try:
        dims = tuple(dims)
    except TypeError:
        dims = ()
    if (len(dims) != 1 or isinstance(dims[0], bool) or not isinstance(dims[0], (int, np.integer))
            or dims[0] < 1):
        raise ValueError(f"input_shape: expected the number of features as (n,) with n >= 1, "
                         f"got {input_shape!r}")
    return int(dims[0])


def _snake_case(name: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")


__all__ = ["Layer", "Input", "Dense", "Dropout", "Activation", "GaussianNoise", "LAYER_CLASSES", "serialize",
    "deserialize", "is_device_array", "to_host"]
