"""The Adagrad optimizer (update rule in the class docstring)."""
from __future__ import annotations

from typing import Optional, Tuple

from ..validation import check_non_negative, check_positive
from .base import LearningRate, Optimizer


class Adagrad(Optimizer):
    """Adagrad: per-parameter rates from the sum of squared gradients.

    Update rule, slot ``accumulator`` (starting at ``initial_accumulator_value``)::

        g = grad + weight_decay * param
        accumulator += g**2
        param -= lr * g / (sqrt(accumulator) + epsilon)

    Parameters
    ----------
    learning_rate : float or callable
        A number ``> 0`` or a schedule. Defaults to ``0.001``.
    initial_accumulator_value : float
        Starting value of every accumulator element, ``>= 0``. Defaults to ``0.1``.
    epsilon : float
        Added to the denominator, ``> 0``. Defaults to ``1e-7``.
    weight_decay : float
        L2 coefficient added to the gradient, ``>= 0``. Defaults to ``0.0``.
    clipnorm, clipvalue, global_clipnorm : float or None
        Gradient clipping, see :class:`Optimizer`. Default to ``None``.

    Notes
    -----
    Slots: ``("accumulator",)``.

    Differences from Keras: epsilon is added outside the square root, as in PyTorch (Keras uses
    ``sqrt(accumulator + epsilon)``). Keras 3 applies ``weight_decay`` decoupled; here it is L2
    added to the gradient, as PyTorch's ``Adagrad``. Defaults are Keras' (PyTorch: learning rate
    0.01, initial accumulator 0, epsilon 1e-10).

    Examples
    --------
    >>> import numpy as np
    >>> from mlp.backends import get_backend
    >>> from mlp.optimizers import Adagrad
    >>> params = np.array([1.0, -2.0]); grads = np.array([0.5, -0.5])
    >>> Adagrad(learning_rate=0.1, initial_accumulator_value=0.75).apply(
    ...     get_backend("reference"), params, grads)
    >>> params.round(6)
    array([ 0.95, -1.95])
    """

    kind = "adagrad"

    def __init__(self, learning_rate: LearningRate = 0.001,
                 initial_accumulator_value: float = 0.1, epsilon: float = 1e-7,
                 weight_decay: float = 0.0, clipnorm: Optional[float] = None,
                 clipvalue: Optional[float] = None, global_clipnorm: Optional[float] = None):
        super().__init__(learning_rate, clipnorm, clipvalue, global_clipnorm)
        self.initial_accumulator_value = check_non_negative("initial_accumulator_value",
                                                             initial_accumulator_value)
        self.epsilon = check_positive("epsilon", epsilon)
        self.weight_decay = check_non_negative("weight_decay", weight_decay)

    @property
    def slot_names(self) -> Tuple[str, ...]:
        return ("accumulator",)

    def _slot_initial_value(self) -> float:
        return self.initial_accumulator_value

    def _update(self, backend, params, grads, lr, step):
        backend.adagrad_update(params, grads, self.slots["accumulator"], lr=lr,
                               **self._update_options())

    def _update_options(self):
        return {"epsilon": self.epsilon, "weight_decay": self.weight_decay}

    def _hyperparameters(self):
        return {"initial_accumulator_value": self.initial_accumulator_value,
                "epsilon": self.epsilon, "weight_decay": self.weight_decay}


__all__ = ["Adagrad"]
