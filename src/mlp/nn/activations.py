"""Custom activations in Python, for ``Dense(activation=...)`` and ``Activation(...)``.

Built-in activations are names (``"relu"``, ``"tanh"``, ...) that every backend runs in its
kernels. A custom one subclasses :class:`CustomActivation` (or comes from :func:`custom`) and
defines ``call(z)`` (the activation of the pre-activation ``z``) and ``gradient(z, y)`` (its
derivative ``f'(z)`` element by element, with ``y = f(z)`` given too). It runs on every backend
through the step-by-step plan: each batch's pre-activations are copied to host memory, the
methods run on NumPy arrays and the results are copied back, so it costs a Python call and two
copies per layer and batch (on the GPU, transfers), and the CPU's whole-epoch plan is not used.
A model with a custom activation cannot be saved to a file (the file format holds no code).
Keras' ``selu``, ``softplus``, ``relu6``, ``mish`` and ``hard_sigmoid`` are provided this way,
by name (:data:`PYTHON_ACTIVATIONS`), and do save.

Examples
--------
>>> import numpy as np
>>> import mlp
>>> softsign = mlp.activations.custom(lambda z: z / (1 + np.abs(z)),
...                                   lambda z, y: 1 / (1 + np.abs(z)) ** 2, name="softsign")
>>> layer = mlp.Dense(4, activation=softsign)
"""
from __future__ import annotations

from typing import Callable, Optional

import numpy as np


class CustomActivation:
    """Base class of an activation written in Python: define :meth:`call` and
    :meth:`gradient`.

    Parameters
    ----------
    name : str, optional
        Shown in ``summary()`` and configs. Defaults to the class name.
    """

    def __init__(self, name: Optional[str] = None):
        self.name = name or type(self).__name__

    def call(self, z: np.ndarray) -> np.ndarray:
        """The activation of ``z`` (a ``(rows, units)`` NumPy array), same shape."""
        raise NotImplementedError(f"{type(self).__name__}.call(z)")

    def gradient(self, z: np.ndarray, y: np.ndarray) -> np.ndarray:
        """``f'(z)`` element by element (same shape); ``y`` is ``call(z)``."""
        raise NotImplementedError(f"{type(self).__name__}.gradient(z, y)")

    def check(self) -> "CustomActivation":
        """Return it after checking it defines both methods.

        Raises
        ------
        TypeError
            Naming the method that is missing.
        """
        cls = type(self)
        for method, what in (("call", "call(z)"), ("gradient", "gradient(z, y)")):
            if getattr(cls, method) is getattr(CustomActivation, method):
                raise TypeError(f"activation: {cls.__name__} does not define {what}, which "
                                f"training needs")
        return self

    def __repr__(self) -> str:
        return f"<activation {self.name}>"


class _FunctionActivation(CustomActivation):
    """A :class:`CustomActivation` from two functions (see :func:`custom`)."""

    def __init__(self, forward: Callable, derivative: Callable, name: Optional[str] = None):
        super().__init__(name or getattr(forward, "__name__", "custom"))
        self._forward, self._derivative = forward, derivative

    def call(self, z):
        return self._forward(z)

    def gradient(self, z, y):
        return self._derivative(z, y)


def custom(forward: Callable, derivative: Callable, name: Optional[str] = None
           ) -> CustomActivation:
    """An activation from ``forward(z)`` and ``derivative(z, y)`` (``f'(z)`` element by
    element, ``y = forward(z)``).

    Raises
    ------
    TypeError
        If either is not callable.
    """
    for argument, value in (("forward", forward), ("derivative", derivative)):
        if not callable(value):
            raise TypeError(f"{argument}: expected a function, got {type(value).__name__}")
    return _FunctionActivation(forward, derivative, name)


class _Named(_FunctionActivation):
    """A Keras activation without a kernel here, known by name: it runs as a custom
    activation (step by step) and saves as its name."""

    builtin = True

    def __reduce__(self):  # pickles by name (the functions are lambdas)
        return _by_name, (self.name,)


def _by_name(name: str) -> CustomActivation:
    return PYTHON_ACTIVATIONS[name]


def _softplus(z):
    return np.logaddexp(0.0, z)


def _sigmoid(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))


_SELU_ALPHA, _SELU_SCALE = 1.6732632423543772, 1.0507009873554805

PYTHON_ACTIVATIONS = {
    "selu": _Named(
        lambda z: _SELU_SCALE * np.where(z > 0, z, _SELU_ALPHA * np.expm1(np.minimum(z, 0))),
        lambda z, y: np.where(z > 0, _SELU_SCALE, y + _SELU_SCALE * _SELU_ALPHA), "selu"),
    "softplus": _Named(_softplus, lambda z, y: _sigmoid(z), "softplus"),
    "relu6": _Named(lambda z: np.clip(z, 0.0, 6.0),
                    lambda z, y: ((z > 0) & (z < 6)).astype(z.dtype), "relu6"),
    "mish": _Named(lambda z: z * np.tanh(_softplus(z)),
                   lambda z, y: (np.tanh(_softplus(z))
                                 + z * _sigmoid(z) * (1 - np.tanh(_softplus(z)) ** 2)), "mish"),
    "hard_sigmoid": _Named(lambda z: np.clip(z / 6.0 + 0.5, 0.0, 1.0),
                           lambda z, y: ((z > -3) & (z < 3)).astype(z.dtype) / 6.0,
                           "hard_sigmoid"),
}
"""Keras activations that have no kernel here, by name: ``selu``, ``softplus``, ``relu6``,
``mish`` and ``hard_sigmoid`` (Keras 3's ``relu6(x + 3) / 6``). They run in NumPy through the
step-by-step plan, like a :class:`CustomActivation` (slower than the kernels' activations), and
models using them save and load by name."""


def is_saveable(activation) -> bool:
    """Whether a layer's activation can go into a model file (a name, not Python code)."""
    return not isinstance(activation, CustomActivation) or getattr(activation, "builtin", False)


def config_value(activation):
    """The activation as a layer config holds it: its name, or the object for custom code."""
    if isinstance(activation, CustomActivation) and getattr(activation, "builtin", False):
        return activation.name
    return activation


__all__ = ["CustomActivation", "PYTHON_ACTIVATIONS", "config_value", "custom", "is_saveable"]
