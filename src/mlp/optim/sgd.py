"""The SGD optimizer (update rule in the class docstring)."""
from __future__ import annotations

from typing import Optional, Tuple

from ..validation import check_bool, check_fraction, check_non_negative, fail
from .base import LearningRate, Optimizer


# ------------------------------------------------------------------ optimizers
class SGD(Optimizer):
    """Stochastic gradient descent, with optional (Nesterov) momentum and L2 weight decay.

    Update rule (PyTorch's form, no dampening), with ``v`` the ``velocity`` slot::

        g = grad + weight_decay * param
        momentum > 0:  v = momentum * v + g
                       d = g + momentum * v  (nesterov)  or  d = v
        momentum = 0:  d = g
        param -= lr * d

    Parameters
    ----------
    learning_rate : float or callable
        A number ``> 0`` or a schedule. Defaults to ``0.01``.
    momentum : float
        In ``[0, 1)``. Defaults to ``0.0``.
    nesterov : bool
        Nesterov momentum; needs ``momentum > 0``. Defaults to ``False``.
    weight_decay : float
        L2 coefficient added to the gradient, ``>= 0``. Defaults to ``0.0``.
    clipnorm, clipvalue, global_clipnorm : float or None
        Gradient clipping, see :class:`Optimizer`. Default to ``None``.

    Notes
    -----
    Slots: ``("velocity",)`` when ``momentum > 0``, else none.

    Differences from Keras: Keras keeps ``v = momentum * v - lr * g`` (the learning rate inside
    the velocity); with a constant learning rate both forms take identical steps, with a schedule
    they differ. Keras 3 applies ``weight_decay`` decoupled (``param -= lr * wd * param``); here it
    is added to the gradient (L2, as PyTorch's ``SGD``). ``nesterov=True`` with ``momentum=0``
    raises here (Keras ignores it).

    Examples
    --------
    >>> import numpy as np
    >>> from mlp.backends import get_backend
    >>> from mlp.optimizers import SGD
    >>> params = np.array([1.0, -2.0]); grads = np.array([0.5, 0.5])
    >>> SGD(learning_rate=0.1).apply(get_backend("reference"), params, grads)
    >>> params
    array([ 0.95, -2.05])
    """

    kind = "sgd"

    def __init__(self, learning_rate: LearningRate = 0.01, momentum: float = 0.0,
                 nesterov: bool = False, weight_decay: float = 0.0,
                 clipnorm: Optional[float] = None, clipvalue: Optional[float] = None,
                 global_clipnorm: Optional[float] = None):
        super().__init__(learning_rate, clipnorm, clipvalue, global_clipnorm)
        self.momentum = check_fraction("momentum", momentum)
        self.nesterov = check_bool("nesterov", nesterov)
        self.weight_decay = check_non_negative("weight_decay", weight_decay)
        if self.nesterov and self.momentum == 0:
            fail("nesterov", "False when momentum is 0 (Nesterov needs momentum > 0)", nesterov)

    @property
    def slot_names(self) -> Tuple[str, ...]:
        return ("velocity",) if self.momentum > 0 else ()

    def _update(self, backend, params, grads, lr, step):
        backend.sgd_update(params, grads, self.slots.get("velocity"), lr=lr,
                           **self._update_options())

    def _update_options(self):
        return {"momentum": self.momentum, "nesterov": self.nesterov,
                "weight_decay": self.weight_decay}

    def _hyperparameters(self):
        return self._update_options()


__all__ = ["SGD"]
