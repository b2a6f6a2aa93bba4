"""Custom activations in Python, for ``Dense(activation=...)`` and ``Activation(...)``.

Built-in activations are names (``"relu"``, ``"tanh"``, ...) that every backend runs in its
kernels. A custom one subclasses :class:`CustomActivation` (or comes from :func:`custom`) and
defines ``call(z)`` (the activation of the pre-activation ``z``) and ``gradient(z, y)`` (its
derivative ``f'(z)`` element by element, with ``y = f(z)`` given too). It runs on every backend
through the step-by-step plan: each batch's pre-activations are copied to host memory, the
methods run on NumPy arrays and the results are copied back, so it costs a Python call and two
copies per layer and batch (on the GPU, transfers), and the CPU's whole-epoch plan is not used.
A model with a custom activation cannot be saved to a file (the file format holds no code).

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


__all__ = ["CustomActivation", "custom"]
