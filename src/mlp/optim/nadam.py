"""The Nadam and Adamax optimizers (Keras 3's update rules, in the class docstrings).

They have no kernel yet: their update runs in NumPy on host copies of the buffers (one round
trip per step on the GPU), so a model trained with them uses the step-by-step plan.
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

import numpy as np

from ..validation import check_fraction, check_positive
from .base import LearningRate, Optimizer


class _HostOptimizer(Optimizer):
    """An optimizer whose update is NumPy code on host copies (no backend kernel)."""

    kind = "host"

    def _update(self, backend, params, grads, lr, step):
        host = {name: np.array(backend.to_numpy(slot)) for name, slot in self.slots.items()}
        p = np.array(backend.to_numpy(params))
        self._host_update(p, np.asarray(backend.to_numpy(grads)), host, lr, step)
        params[...] = backend.asarray(p)
        for name, slot in self.slots.items():
            slot[...] = backend.asarray(host[name])

    def _host_update(self, param, grad, slots, lr: float, step: int) -> None:
        raise NotImplementedError

    def _update_options(self) -> Dict[str, Any]:
        return self._hyperparameters()


class Nadam(_HostOptimizer):
    """Adam with Nesterov momentum, as ``keras.optimizers.Nadam``.

    Update rule at step ``t`` (from 1), with ``u_k = beta_1 (1 - 0.5 * 0.96 ** (0.004 k))``
    and ``P_t = u_1 ... u_t``::

        m = m + (1 - beta_1) (g - m);   v = v + (1 - beta_2) (g**2 - v)
        m_hat = u_{t+1} m / (1 - P_{t+1}) + (1 - u_t) g / (1 - P_t)
        v_hat = v / (1 - beta_2**t)
        param -= lr * m_hat / (sqrt(v_hat) + epsilon)

    Parameters
    ----------
    learning_rate : float or callable
        Defaults to ``0.001``.
    beta_1, beta_2 : float
        In ``[0, 1)``. Default to ``0.9`` and ``0.999``.
    epsilon : float
        ``> 0``. Defaults to ``1e-7``.
    clipnorm, clipvalue, global_clipnorm : float or None
        Gradient clipping, see :class:`Optimizer`. Default to ``None``.

    Notes
    -----
    Slots ``("m", "v")``. No kernel: the update runs in NumPy (see the module notes).
    """

    def __init__(self, learning_rate: LearningRate = 0.001, beta_1: float = 0.9,
                 beta_2: float = 0.999, epsilon: float = 1e-7,
                 clipnorm: Optional[float] = None, clipvalue: Optional[float] = None,
                 global_clipnorm: Optional[float] = None):
        super().__init__(learning_rate, clipnorm, clipvalue, global_clipnorm)
        self.beta_1 = check_fraction("beta_1", beta_1)
        self.beta_2 = check_fraction("beta_2", beta_2)
        self.epsilon = check_positive("epsilon", epsilon)

    @property
    def slot_names(self) -> Tuple[str, ...]:
        return ("m", "v")

    def _u(self, k: int) -> float:
        return self.beta_1 * (1.0 - 0.5 * 0.96 ** (0.004 * k))

    def _product(self, t: int) -> float:
        """``u_1 * ... * u_t`` (a function of the step, so no extra state to save)."""
        product = 1.0
        for k in range(1, t + 1):
            product *= self._u(k)
        return product

    def _host_update(self, param, grad, slots, lr, step):
        dtype = param.dtype.type
        u_t, u_next = self._u(step), self._u(step + 1)
        product = self._product(step)
        product_next = product * u_next
        m, v = slots["m"], slots["v"]
        m += (grad - m) * dtype(1 - self.beta_1)
        v += (grad * grad - v) * dtype(1 - self.beta_2)
        m_hat = m * dtype(u_next / (1 - product_next)) + grad * dtype((1 - u_t) / (1 - product))
        v_hat = v / dtype(1 - self.beta_2 ** step)
        param -= m_hat * dtype(lr) / (np.sqrt(v_hat) + dtype(self.epsilon))

    def _hyperparameters(self):
        return {"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}


class Adamax(_HostOptimizer):
    """Adam with the infinity norm, as ``keras.optimizers.Adamax``.

    Update rule at step ``t`` (from 1), slots ``m`` and ``u``::

        m = m + (1 - beta_1) (g - m)
        u = max(beta_2 u, |g|)
        param -= lr * m / ((1 - beta_1**t) (u + epsilon))

    Parameters
    ----------
    learning_rate : float or callable
        Defaults to ``0.001``.
    beta_1, beta_2 : float
        In ``[0, 1)``. Default to ``0.9`` and ``0.999``.
    epsilon : float
        ``> 0``. Defaults to ``1e-7``.
    clipnorm, clipvalue, global_clipnorm : float or None
        Gradient clipping, see :class:`Optimizer`. Default to ``None``.

    Notes
    -----
    No kernel: the update runs in NumPy (see the module notes).
    """

    def __init__(self, learning_rate: LearningRate = 0.001, beta_1: float = 0.9,
                 beta_2: float = 0.999, epsilon: float = 1e-7,
                 clipnorm: Optional[float] = None, clipvalue: Optional[float] = None,
                 global_clipnorm: Optional[float] = None):
        super().__init__(learning_rate, clipnorm, clipvalue, global_clipnorm)
        self.beta_1 = check_fraction("beta_1", beta_1)
        self.beta_2 = check_fraction("beta_2", beta_2)
        self.epsilon = check_positive("epsilon", epsilon)

    @property
    def slot_names(self) -> Tuple[str, ...]:
        return ("m", "u")

    def _host_update(self, param, grad, slots, lr, step):
        dtype = param.dtype.type
        m, u = slots["m"], slots["u"]
        m += (grad - m) * dtype(1 - self.beta_1)
        np.maximum(u * dtype(self.beta_2), np.abs(grad), out=u)
        param -= m * dtype(lr) / (dtype(1 - self.beta_1 ** step) * (u + dtype(self.epsilon)))

    def _hyperparameters(self):
        return {"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}


__all__ = ["Adamax", "Nadam"]
