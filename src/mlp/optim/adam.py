"""The Adam and AdamW optimizers (update rules in the class docstrings)."""
from __future__ import annotations

from typing import Optional, Tuple

from ..validation import check_bool, check_fraction, check_non_negative, check_positive
from .base import LearningRate, Optimizer


class Adam(Optimizer):
    """Adam, optionally AMSGrad, with coupled L2 weight decay.

    Update rule at step ``t`` (counted from 1), slots ``m``, ``v`` (and ``v_max``)::

        g = grad + weight_decay * param
        m = beta_1 * m + (1 - beta_1) * g
        v = beta_2 * v + (1 - beta_2) * g**2
        s = max(v_max, v) stored in v_max  (amsgrad)  or  s = v
        param -= lr * (m / (1 - beta_1**t)) / (sqrt(s / (1 - beta_2**t)) + epsilon)

    Parameters
    ----------
    learning_rate : float or callable
        A number ``> 0`` or a schedule. Defaults to ``0.001``.
    beta_1 : float
        Decay of the first moment, in ``[0, 1)``. Defaults to ``0.9``.
    beta_2 : float
        Decay of the second moment, in ``[0, 1)``. Defaults to ``0.999``.
    epsilon : float
        Added to the denominator, ``> 0``. Defaults to ``1e-7`` (Keras' value; PyTorch uses 1e-8).
    amsgrad : bool
        Use the running maximum of ``v`` (AMSGrad). Defaults to ``False``.
    weight_decay : float
        L2 coefficient added to the gradient, ``>= 0``. Defaults to ``0.0``.
    clipnorm, clipvalue, global_clipnorm : float or None
        Gradient clipping, see :class:`Optimizer`. Default to ``None``.

    Notes
    -----
    Slots: ``("m", "v")``, plus ``"v_max"`` with ``amsgrad``.

    Differences from Keras: epsilon is added outside the square root of the *bias-corrected*
    second moment, as in PyTorch; Keras adds it to ``sqrt(v)`` before bias correction (an
    effective epsilon of ``epsilon * sqrt(1 - beta_2**t)`` here). Keras 3 applies
    ``weight_decay`` decoupled; here it is L2 added to the gradient, as PyTorch's ``Adam`` —
    use :class:`AdamW` for decoupled decay.

    Examples
    --------
    >>> import numpy as np
    >>> from mlp.backends import get_backend
    >>> from mlp.optimizers import Adam
    >>> params = np.array([1.0, -2.0]); grads = np.array([0.5, -0.5])
    >>> Adam(learning_rate=0.1).apply(get_backend("reference"), params, grads)
    >>> params.round(6)
    array([ 0.9, -1.9])
    """

    kind = "adam"
    _decoupled = False

    def __init__(self, learning_rate: LearningRate = 0.001, beta_1: float = 0.9,
                 beta_2: float = 0.999, epsilon: float = 1e-7, amsgrad: bool = False,
                 weight_decay: float = 0.0, clipnorm: Optional[float] = None,
                 clipvalue: Optional[float] = None, global_clipnorm: Optional[float] = None):
        super().__init__(learning_rate, clipnorm, clipvalue, global_clipnorm)
        self.beta_1 = check_fraction("beta_1", beta_1)
        self.beta_2 = check_fraction("beta_2", beta_2)
        self.epsilon = check_positive("epsilon", epsilon)
        self.amsgrad = check_bool("amsgrad", amsgrad)
        self.weight_decay = check_non_negative("weight_decay", weight_decay)

    @property
    def slot_names(self) -> Tuple[str, ...]:
        return ("m", "v", "v_max") if self.amsgrad else ("m", "v")

    def _update(self, backend, params, grads, lr, step):
        slots = self.slots
        backend.adam_update(params, grads, slots["m"], slots["v"], slots.get("v_max"),
                            step=step, lr=lr, **self._update_options())

    def _update_options(self):
        return {"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon,
                "weight_decay": self.weight_decay, "decoupled": self._decoupled,
                "amsgrad": self.amsgrad}

    def _hyperparameters(self):
        return {"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon,
                "amsgrad": self.amsgrad, "weight_decay": self.weight_decay}

class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter), optionally AMSGrad.

    Update rule at step ``t`` (counted from 1), slots ``m``, ``v`` (and ``v_max``)::

        param *= 1 - lr * weight_decay
        m = beta_1 * m + (1 - beta_1) * grad
        v = beta_2 * v + (1 - beta_2) * grad**2
        s = max(v_max, v) stored in v_max  (amsgrad)  or  s = v
        param -= lr * (m / (1 - beta_1**t)) / (sqrt(s / (1 - beta_2**t)) + epsilon)

    Parameters
    ----------
    learning_rate : float or callable
        A number ``> 0`` or a schedule. Defaults to ``0.001``.
    weight_decay : float
        Decoupled decay coefficient, ``>= 0``. Defaults to ``0.004`` (Keras' value; PyTorch
        uses 0.01).
    beta_1 : float
        Decay of the first moment, in ``[0, 1)``. Defaults to ``0.9``.
    beta_2 : float
        Decay of the second moment, in ``[0, 1)``. Defaults to ``0.999``.
    epsilon : float
        Added to the denominator, ``> 0``. Defaults to ``1e-7``.
    amsgrad : bool
        Use the running maximum of ``v`` (AMSGrad). Defaults to ``False``.
    clipnorm, clipvalue, global_clipnorm : float or None
        Gradient clipping, see :class:`Optimizer`. Default to ``None``.

    Notes
    -----
    Slots: ``("m", "v")``, plus ``"v_max"`` with ``amsgrad``. ``kernel_spec()["kind"]`` is
    ``"adam"`` with ``decoupled=True``.

    Differences from Keras: the decay step is Keras' (``param -= lr * weight_decay * param``,
    before the Adam step); epsilon sits outside the square root of the bias-corrected second
    moment, as in PyTorch (see :class:`Adam`).

    Examples
    --------
    >>> import numpy as np
    >>> from mlp.backends import get_backend
    >>> from mlp.optimizers import AdamW
    >>> params = np.array([1.0, -2.0]); grads = np.array([0.5, -0.5])
    >>> AdamW(learning_rate=0.1, weight_decay=0.5).apply(get_backend("reference"), params, grads)
    >>> params.round(6)
    array([ 0.85, -1.8 ])
    """

    _decoupled = True

    def __init__(self, learning_rate: LearningRate = 0.001, weight_decay: float = 0.004,
                 beta_1: float = 0.9, beta_2: float = 0.999, epsilon: float = 1e-7,
                 amsgrad: bool = False, clipnorm: Optional[float] = None,
                 clipvalue: Optional[float] = None, global_clipnorm: Optional[float] = None):
        super().__init__(learning_rate, beta_1, beta_2, epsilon, amsgrad, weight_decay,
                         clipnorm, clipvalue, global_clipnorm)


__all__ = ["Adam", "AdamW"]
