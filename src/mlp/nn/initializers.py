"""Weight initializers: the starting values of kernels and biases, with Keras semantics.

An initializer is called as ``init(shape, dtype, rng)`` and returns a new NumPy array of that shape
and (floating) dtype. Random initializers draw in float64 from the ``numpy.random.Generator`` they
are given and cast the result, so the same generator state gives the same weights.

The variance-scaling family (Glorot, He, LeCun) reads the fans from the shape as Keras does: a
``(inputs, units)`` kernel has ``fan_in = inputs`` and ``fan_out = units``; a 1-D shape ``(n,)``
has ``fan_in = fan_out = n``.

==================  =====  ===========  ================
name                scale  fan          distribution
==================  =====  ===========  ================
``glorot_uniform``  1      average      uniform
``glorot_normal``   1      average      truncated normal
``he_uniform``      2      ``fan_in``   uniform
``he_normal``       2      ``fan_in``   truncated normal
``lecun_uniform``   1      ``fan_in``   uniform
``lecun_normal``    1      ``fan_in``   truncated normal
==================  =====  ===========  ================

The uniform variants draw on ``[-limit, limit]`` with ``limit = sqrt(3 * scale / fan)``; the
truncated normal is cut at two standard deviations and has
``stddev = sqrt(scale / fan) / 0.87962566103423978``, so that the values drawn have variance
``scale / fan``. Also: ``"zeros"``, ``"ones"``, ``"constant"``, ``"random_normal"`` (alias
``"normal"``) and ``"random_uniform"`` (alias ``"uniform"``).

Examples
--------
>>> import numpy as np
>>> from mlp import initializers
>>> init = initializers.get("he_normal")
>>> w = init((30, 16), "float32", np.random.default_rng(0))
>>> w.shape, w.dtype
((30, 16), dtype('float32'))
>>> initializers.serialize(initializers.Constant(0.1))
{'class_name': 'Constant', 'config': {'value': 0.1}}
"""
from __future__ import annotations

import math
import numbers
from typing import Any, Dict, Optional, Sequence, Tuple, Union

import numpy as np
from scipy.special import ndtr, ndtri

Shape = Union[int, Sequence[int]]

TRUNCATED_NORMAL_STDDEV = 0.87962566103423978
"""Standard deviation of a standard normal truncated to ``[-2, 2]`` (Keras' correction factor)."""

_MODES = ("fan_in", "fan_out", "fan_avg")
_DISTRIBUTIONS = ("truncated_normal", "uniform")


def _finite(name: str, value: Any) -> float:
    """Return ``value`` as a float, or raise if it is not a finite real number."""
    if type(value) not in (float, int) and (  # plain numbers skip the slower ABC check
            isinstance(value, bool) or not isinstance(value, numbers.Real)):
        raise TypeError(f"{name}: expected a real number, got {type(value).__name__} {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{name}: expected a finite number, got {value!r}")
    return float(value)


def _check_shape(shape: Shape) -> Tuple[int, ...]:
    """Return ``shape`` as a tuple of non-negative ints (an int ``n`` means ``(n,)``)."""
    dims = (shape,) if type(shape) is int or isinstance(shape, numbers.Integral) else shape
    try:
        dims = tuple(dims)
    except TypeError:
        raise TypeError(
            f"shape: expected a tuple of non-negative ints, got {type(shape).__name__} {shape!r}"
        ) from None
    for d in dims:
        if type(d) is not int and (isinstance(d, bool) or not isinstance(d, numbers.Integral)):
            raise ValueError(f"shape: expected a tuple of non-negative ints, got {shape!r}")
        if d < 0:
            raise ValueError(f"shape: expected a tuple of non-negative ints, got {shape!r}")
    return tuple(int(d) for d in dims)


def _check_dtype(dtype: Any) -> np.dtype:
    """Return ``dtype`` as a floating NumPy dtype, or raise."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype: expected a floating dtype, got {dtype!r}") from None
    if dt.kind != "f":
        raise ValueError(f"dtype: expected a floating dtype (float32, float64), got {dt.name}")
    return dt


def _check_rng(rng: Optional[np.random.Generator]) -> np.random.Generator:
    """Return ``rng``, or a fresh unseeded generator when it is None."""
    if rng is None:
        return np.random.default_rng()
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"rng: expected a numpy.random.Generator or None, got {type(rng).__name__}"
        )
    return rng


def compute_fans(shape: Tuple[int, ...]) -> Tuple[int, int]:
    """Return ``(fan_in, fan_out)`` of a weight shape, as Keras computes them.

    Parameters
    ----------
    shape : tuple of int
        ``(inputs, units)`` for a dense kernel, ``(n,)`` for a vector.

    Returns
    -------
    (int, int)
        ``(shape[0], shape[1])`` for a 2-D shape, ``(shape[0], shape[0])`` for a 1-D shape.

    Raises
    ------
    ValueError
        If the shape is neither 1-D nor 2-D.
    """
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    raise ValueError(
        f"shape: expected a 1-D (units,) or 2-D (inputs, units) shape, got {shape!r}"
    )


def _truncated_normal(
    rng: np.random.Generator, shape: Tuple[int, ...], mean: float, stddev: float
) -> np.ndarray:
    """Draw float64 values from a normal distribution truncated at two standard deviations.

    Sampled by inverse CDF: uniform draws on ``[Phi(-2), Phi(2))`` are mapped through the
    standard normal quantile function, so no value is clipped and none lies beyond
    ``mean +- 2 * stddev``.

    Parameters
    ----------
    rng : numpy.random.Generator
        The source of randomness.
    shape : tuple of int
        Shape of the result.
    mean, stddev : float
        Mean and standard deviation of the normal before truncation.

    Returns
    -------
    numpy.ndarray
        float64 array of ``shape``.
    """
    u = rng.uniform(ndtr(-2.0), ndtr(2.0), size=shape)
    return mean + stddev * ndtri(u)


class Initializer:
    """Base class: a callable that returns the initial values of one weight tensor.

    Subclasses implement :meth:`draw` (float64 values) and :meth:`get_config`; ``__call__``
    validates the arguments and casts to the requested dtype.
    """

    def __call__(
        self, shape: Shape, dtype: Any = "float32", rng: Optional[np.random.Generator] = None
    ) -> np.ndarray:
        """Return a new array of initial values.

        Parameters
        ----------
        shape : int or tuple of int
            Shape of the weight tensor, e.g. ``(inputs, units)`` for a dense kernel.
        dtype : dtype-like, optional
            A floating dtype. Defaults to ``"float32"``.
        rng : numpy.random.Generator or None, optional
            The source of randomness; values are drawn in float64 and then cast. Defaults to
            None, a fresh unseeded generator (pass one for reproducible weights).

        Returns
        -------
        numpy.ndarray
            C-contiguous array of ``shape`` and ``dtype``.
        """
        shape = _check_shape(shape)
        dtype = _check_dtype(dtype)
        return np.ascontiguousarray(self.draw(shape, _check_rng(rng)), dtype=dtype)

    def draw(self, shape: Tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
        """Return float64 values of ``shape``; arguments are already validated."""
        raise NotImplementedError

    def get_config(self) -> Dict[str, Any]:
        """Return the constructor arguments as a JSON-serialisable dict."""
        return {}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class Zeros(Initializer):
    """Initializer that fills the tensor with 0.

    Examples
    --------
    >>> Zeros()((2,), "float64")
    array([0., 0.])
    """

    def draw(self, shape: Tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
        """Return zeros of ``shape``."""
        return np.zeros(shape)


class Ones(Initializer):
    """Initializer that fills the tensor with 1.

    Examples
    --------
    >>> Ones()((2,), "float64")
    array([1., 1.])
    """

    def draw(self, shape: Tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
        """Return ones of ``shape``."""
        return np.ones(shape)


class Constant(Initializer):
    """Initializer that fills the tensor with one value.

    Parameters
    ----------
    value : float, optional
        A finite number. Defaults to ``0.0``.

    Examples
    --------
    >>> Constant(0.5)((2,), "float64")
    array([0.5, 0.5])
    """

    def __init__(self, value: float = 0.0) -> None:
        self.value = _finite("value", value)

    def draw(self, shape: Tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
        """Return ``value`` repeated over ``shape``."""
        return np.full(shape, self.value)

    def get_config(self) -> Dict[str, Any]:
        """Return ``{"value": value}``."""
        return {"value": self.value}


class RandomNormal(Initializer):
    """Initializer drawing from a normal distribution (not truncated).

    Parameters
    ----------
    mean : float, optional
        Mean. Defaults to ``0.0``.
    stddev : float, optional
        Standard deviation, finite and > 0. Defaults to ``0.05``.
    """

    def __init__(self, mean: float = 0.0, stddev: float = 0.05) -> None:
        self.mean = _finite("mean", mean)
        self.stddev = _finite("stddev", stddev)
        if self.stddev <= 0:
            raise ValueError(f"stddev: expected a number > 0, got {stddev!r}")

    def draw(self, shape: Tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
        """Return normal draws of ``shape``."""
        return rng.normal(self.mean, self.stddev, size=shape)

    def get_config(self) -> Dict[str, Any]:
        """Return ``{"mean": mean, "stddev": stddev}``."""
        return {"mean": self.mean, "stddev": self.stddev}


class RandomUniform(Initializer):
    """Initializer drawing uniformly from ``[minval, maxval)``.

    Parameters
    ----------
    minval : float, optional
        Lower bound. Defaults to ``-0.05``.
    maxval : float, optional
        Upper bound, greater than ``minval``. Defaults to ``0.05``.
    """

    def __init__(self, minval: float = -0.05, maxval: float = 0.05) -> None:
        self.minval = _finite("minval", minval)
        self.maxval = _finite("maxval", maxval)
        if self.minval >= self.maxval:
            raise ValueError(
                f"minval, maxval: expected minval < maxval, got minval={minval!r}, "
                f"maxval={maxval!r}"
            )

    def draw(self, shape: Tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
        """Return uniform draws of ``shape``."""
        return rng.uniform(self.minval, self.maxval, size=shape)

    def get_config(self) -> Dict[str, Any]:
        """Return ``{"minval": minval, "maxval": maxval}``."""
        return {"minval": self.minval, "maxval": self.maxval}


class TruncatedNormal(Initializer):
    """Initializer drawing from a normal distribution truncated at two standard deviations,
    as ``keras.initializers.TruncatedNormal`` (values beyond are redrawn, never clipped).

    Parameters
    ----------
    mean : float, optional
        Mean. Defaults to ``0.0``.
    stddev : float, optional
        Standard deviation before truncation, finite and > 0. Defaults to ``0.05``.
    """

    def __init__(self, mean: float = 0.0, stddev: float = 0.05) -> None:
        self.mean = _finite("mean", mean)
        self.stddev = _finite("stddev", stddev)
        if self.stddev <= 0:
            raise ValueError(f"stddev: expected a number > 0, got {stddev!r}")

    def draw(self, shape: Tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
        """Return truncated-normal draws of ``shape``."""
        return _truncated_normal(rng, shape, self.mean, self.stddev)

    def get_config(self) -> Dict[str, Any]:
        """Return ``{"mean": mean, "stddev": stddev}``."""
        return {"mean": self.mean, "stddev": self.stddev}


class Orthogonal(Initializer):
    """Initializer of a (semi-)orthogonal matrix times ``gain``, as
    ``keras.initializers.Orthogonal``: the Q of the QR decomposition of a normal matrix, with
    the signs of R's diagonal, so rows (or columns, whichever are fewer) are orthonormal.

    Parameters
    ----------
    gain : float, optional
        Multiplies the matrix. Defaults to ``1.0``.

    Notes
    -----
    A 1-D shape ``(n,)`` is taken as one row ``(1, n)``: a random unit vector times ``gain``
    (Keras refuses it; every initializer here fills any shape, a bias included).
    """

    def __init__(self, gain: float = 1.0) -> None:
        self.gain = _finite("gain", gain)

    def draw(self, shape: Tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
        """Return a ``gain``-scaled orthogonal matrix of ``shape``."""
        rows, cols = shape if len(shape) == 2 else (1, shape[0])
        if rows * cols == 0:
            return np.zeros(shape)
        a = rng.normal(0.0, 1.0, size=(max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(a)
        q = q * np.where(np.diag(r) < 0, -1.0, 1.0)
        return (self.gain * (q.T if rows < cols else q)).reshape(shape)

    def get_config(self) -> Dict[str, Any]:
        """Return ``{"gain": gain}``."""
        return {"gain": self.gain}


class VarianceScaling(Initializer):
    """Initializer whose values have variance ``scale / fan``: the base of Glorot, He and LeCun.

    Parameters
    ----------
    scale : float, optional
        Finite and > 0. Defaults to ``1.0``.
    mode : {"fan_in", "fan_out", "fan_avg"}, optional
        Which fan divides ``scale`` (``fan_avg`` is ``(fan_in + fan_out) / 2``). Defaults to
        ``"fan_in"``.
    distribution : {"truncated_normal", "uniform"}, optional
        ``"truncated_normal"``: a normal cut at two standard deviations, with
        ``stddev = sqrt(scale / fan) / 0.87962566103423978``; ``"uniform"``: uniform on
        ``[-limit, limit]`` with ``limit = sqrt(3 * scale / fan)``. Defaults to
        ``"truncated_normal"``.

    Notes
    -----
    A fan of 0 (an empty dimension) is treated as 1, as in Keras.
    """

    def __init__(
        self, scale: float = 1.0, mode: str = "fan_in", distribution: str = "truncated_normal"
    ) -> None:
        self.scale = _finite("scale", scale)
        if self.scale <= 0:
            raise ValueError(f"scale: expected a number > 0, got {scale!r}")
        if mode not in _MODES:
            raise ValueError(f"mode: expected one of {list(_MODES)}, got {mode!r}")
        if distribution not in _DISTRIBUTIONS:
            raise ValueError(
                f"distribution: expected one of {list(_DISTRIBUTIONS)}, got {distribution!r}"
            )
        self.mode = mode
        self.distribution = distribution

    def variance(self, shape: Tuple[int, ...]) -> float:
        """Return the target variance ``scale / fan`` for a weight of ``shape``."""
        fan_in, fan_out = compute_fans(shape)
        fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[self.mode]
        return self.scale / max(1.0, fan)

    def draw(self, shape: Tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
        """Return draws of ``shape`` with variance :meth:`variance`."""
        variance = self.variance(shape)
        if self.distribution == "uniform":
            limit = math.sqrt(3.0 * variance)
            return rng.uniform(-limit, limit, size=shape)
        return _truncated_normal(rng, shape, 0.0, math.sqrt(variance) / TRUNCATED_NORMAL_STDDEV)

    def get_config(self) -> Dict[str, Any]:
        """Return ``{"scale": ..., "mode": ..., "distribution": ...}``."""
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution}


class _FixedVarianceScaling(VarianceScaling):
    """A :class:`VarianceScaling` with fixed arguments: nothing to configure."""

    _ARGS: Tuple[float, str, str]

    def __init__(self) -> None:
        super().__init__(*self._ARGS)

    def get_config(self) -> Dict[str, Any]:
        """Return ``{}``: the arguments are fixed by the class."""
        return {}


class GlorotUniform(_FixedVarianceScaling):
    """Glorot uniform: on ``[-limit, limit]``, ``limit = sqrt(6 / (fan_in + fan_out))``.

    Glorot & Bengio (2010), "Understanding the difficulty of training deep feedforward neural
    networks". The usual choice for tanh, sigmoid and linear layers.
    """

    _ARGS = (1.0, "fan_avg", "uniform")


class GlorotNormal(_FixedVarianceScaling):
    """Glorot (Xavier) normal: truncated normal with variance ``2 / (fan_in + fan_out)``.

    Drawn with ``stddev = sqrt(2 / (fan_in + fan_out)) / 0.8796...`` and cut at two standard
    deviations.
    """

    _ARGS = (1.0, "fan_avg", "truncated_normal")


class HeUniform(_FixedVarianceScaling):
    """He uniform: uniform on ``[-limit, limit]``, ``limit = sqrt(6 / fan_in)``.

    He et al. (2015), "Delving deep into rectifiers". The usual choice for ReLU layers.
    """

    _ARGS = (2.0, "fan_in", "uniform")


class HeNormal(_FixedVarianceScaling):
    """He normal: truncated normal with variance ``2 / fan_in``.

    Drawn with ``stddev = sqrt(2 / fan_in) / 0.8796...`` and cut at two standard deviations.
    """

    _ARGS = (2.0, "fan_in", "truncated_normal")


class LecunUniform(_FixedVarianceScaling):
    """LeCun uniform: uniform on ``[-limit, limit]``, ``limit = sqrt(3 / fan_in)``.

    LeCun et al. (1998), "Efficient BackProp". The usual choice for SELU layers.
    """

    _ARGS = (1.0, "fan_in", "uniform")


class LecunNormal(_FixedVarianceScaling):
    """LeCun normal: truncated normal with variance ``1 / fan_in``.

    Drawn with ``stddev = sqrt(1 / fan_in) / 0.8796...`` and cut at two standard deviations.
    """

    _ARGS = (1.0, "fan_in", "truncated_normal")


_NAMES = {
    "zeros": Zeros,
    "ones": Ones,
    "constant": Constant,
    "random_normal": RandomNormal,
    "normal": RandomNormal,
    "random_uniform": RandomUniform,
    "uniform": RandomUniform,
    "truncated_normal": TruncatedNormal,
    "orthogonal": Orthogonal,
    "variance_scaling": VarianceScaling,
    "glorot_uniform": GlorotUniform,
    "glorot_normal": GlorotNormal,
    "he_uniform": HeUniform,
    "he_normal": HeNormal,
    "lecun_uniform": LecunUniform,
    "lecun_normal": LecunNormal,
}
INITIALIZERS = tuple(_NAMES)
"""Names accepted by :func:`get` (class names such as ``"GlorotUniform"`` are accepted too)."""

_CLASSES = {cls.__name__: cls for cls in _NAMES.values()}


def _lookup(name: str) -> type:
    """Return the initializer class called ``name`` (snake_case or class name)."""
    cls = (_NAMES.get(name) or _CLASSES.get(name)) if isinstance(name, str) else None
    if cls is None:
        raise ValueError(
            f"identifier: unknown initializer {name!r}. "
            f"Supported initializers are {list(INITIALIZERS)}."
        )
    return cls


def _from_dict(identifier: Dict[str, Any]) -> Initializer:
    """Build an initializer from ``{"class_name": ..., "config": {...}}``."""
    if "class_name" not in identifier:
        raise ValueError(
            f"identifier: expected a dict with keys 'class_name' and 'config', "
            f"got keys {sorted(identifier)}"
        )
    cls = _lookup(identifier["class_name"])
    config = identifier.get("config") or {}
    if not isinstance(config, dict):
        raise TypeError(f"identifier: expected 'config' to be a dict, got {type(config).__name__}")
    try:
        return cls(**config)
    except TypeError as err:
        raise TypeError(f"identifier: bad config for {cls.__name__}: {err}") from None


def get(identifier: Union[str, Dict[str, Any], Initializer]) -> Initializer:
    """Return the initializer an identifier names.

    Parameters
    ----------
    identifier : str, dict or Initializer
        A name from :data:`INITIALIZERS` (built with its defaults), a
        ``{"class_name": ..., "config": {...}}`` dict as written by :func:`serialize`, or an
        :class:`Initializer` instance (returned unchanged).

    Returns
    -------
    Initializer

    Raises
    ------
    ValueError
        If the name is unknown (the message lists the supported ones).
    TypeError
        If ``identifier`` is of another type, None included.

    Examples
    --------
    >>> get("glorot_uniform")
    GlorotUniform()
    >>> get({"class_name": "RandomNormal", "config": {"stddev": 0.1}})
    RandomNormal(mean=0.0, stddev=0.1)
    """
    if isinstance(identifier, Initializer):
        return identifier
    if isinstance(identifier, str):
        return _lookup(identifier)()
    if isinstance(identifier, dict):
        return _from_dict(identifier)
    raise TypeError(
        "identifier: expected an initializer name, a {'class_name', 'config'} dict or an "
        f"Initializer instance, got {type(identifier).__name__} {identifier!r}"
    )


def serialize(initializer: Initializer) -> Dict[str, Any]:
    """Return ``{"class_name": ..., "config": {...}}``, the JSON form :func:`get` reads back.

    Parameters
    ----------
    initializer : Initializer

    Returns
    -------
    dict
    """
    if not isinstance(initializer, Initializer):
        raise TypeError(
            f"initializer: expected an Initializer instance, got {type(initializer).__name__}"
        )
    return {"class_name": type(initializer).__name__, "config": initializer.get_config()}


__all__ = ["Shape", "TRUNCATED_NORMAL_STDDEV", "compute_fans", "Initializer", "Zeros", "Ones",
    "Constant", "RandomNormal", "RandomUniform", "TruncatedNormal", "Orthogonal",
    "VarianceScaling", "GlorotUniform",
    "GlorotNormal", "HeUniform", "HeNormal", "LecunUniform", "LecunNormal", "INITIALIZERS", "get",
    "serialize"]
