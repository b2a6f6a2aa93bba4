"""The RMSprop optimizer (update rule in the class docstring)."""
from __future__ import annotations

from typing import Optional, Tuple

from ..validation import check_bool, check_fraction, check_non_negative, check_positive
from .base import LearningRate, Optimizer


class RMSprop(Optimizer):
    """RMSprop, optionally centered and with momentum.

    Update rule (PyTorch's form), slots ``mean_square`` (and ``velocity``, ``mean_grad``)::

        g = grad + weight_decay * param
        mean_square = rho * mean_square + (1 - rho) * g**2
        centered:  mean_grad = rho * mean_grad + (1 - rho) * g
                   denom = sqrt(max(mean_square - mean_grad**2, 0)) + epsilon
        else:      denom = sqrt(mean_square) + epsilon
        momentum > 0:  velocity = momentum * velocity + g / denom;  param -= lr * velocity
        momentum = 0:  param -= lr * g / denom

    Parameters
    ----------
    learning_rate : float or callable
        A number ``> 0`` or a schedule. Defaults to ``0.001``.
    rho : float
        Decay of the mean square, in ``[0, 1)``. Defaults to ``0.9``.
    momentum : float
        In ``[0, 1)``. Defaults to ``0.0``.
    epsilon : float
        Added to the denominator, ``> 0``. Defaults to ``1e-7``.
    centered : bool
        Divide by the estimated standard deviation rather than the root mean square. Defaults
        to ``False``.
    weight_decay : float
        L2 coefficient added to the gradient, ``>= 0``. Defaults to ``0.0``.
    clipnorm, clipvalue, global_clipnorm : float or None
        Gradient clipping, see :class:`Optimizer`. Default to ``None``.

    Notes
    -----
    Slots: ``("mean_square",)``, then ``"velocity"`` when ``momentum > 0``, then ``"mean_grad"``
    when ``centered``.

    Differences from Keras: epsilon is added outside the square root, as in PyTorch (Keras uses
    ``sqrt(mean_square + epsilon)``); Keras' momentum accumulates ``lr * g / denom`` (the learning
    rate inside the velocity), the same steps for a constant learning rate. Keras 3 applies
    ``weight_decay`` decoupled; here it is L2 added to the gradient, as PyTorch's ``RMSprop``.

    Examples
    --------
    >>> import numpy as np
    >>> from mlp.backends import get_backend
    >>> from mlp.optimizers import RMSprop
    >>> params = np.array([1.0, -2.0]); grads = np.array([0.5, -0.5])
    >>> RMSprop(learning_rate=0.1, rho=0.75).apply(get_backend("reference"), params, grads)
    >>> params.round(6)
    array([ 0.8, -1.8])
    """

    kind = "rmsprop"

    def __init__(self, learning_rate: LearningRate = 0.001, rho: float = 0.9,
                 momentum: float = 0.0, epsilon: float = 1e-7, centered: bool = False,
                 weight_decay: float = 0.0, clipnorm: Optional[float] = None,
                 clipvalue: Optional[float] = None, global_clipnorm: Optional[float] = None):
        super().__init__(learning_rate, clipnorm, clipvalue, global_clipnorm)
        self.rho = check_fraction("rho", rho)
        self.momentum = check_fraction("momentum", momentum)
        self.epsilon = check_positive("epsilon", epsilon)
        self.centered = check_bool("centered", centered)
        self.weight_decay = check_non_negative("weight_decay", weight_decay)

    @property
    def slot_names(self) -> Tuple[str, ...]:
        return (("mean_square",) + (("velocity",) if self.momentum > 0 else ())
                + (("mean_grad",) if self.centered else ()))

    def _update(self, backend, params, grads, lr, step):
        slots = self.slots
        backend.rmsprop_update(params, grads, slots["mean_square"], lr=lr,
                               velocity=slots.get("velocity"), mean_grad=slots.get("mean_grad"),
                               **self._update_options())

    def _update_options(self):
        return {"rho": self.rho, "epsilon": self.epsilon, "momentum": self.momentum,
                "centered": self.centered, "weight_decay": self.weight_decay}

    def _hyperparameters(self):
        return {"rho": self.rho, "momentum": self.momentum, "epsilon": self.epsilon,
                "centered": self.centered, "weight_decay": self.weight_decay}


__all__ = ["RMSprop"]
