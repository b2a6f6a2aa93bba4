"""The pure-NumPy backend: each operation of :class:`~mlp.backends.base.Backend`, written plainly.

This is the oracle the other backends are tested against, and a fallback where no compiled kernels
are available. Speed is not a goal here; readability and numerical care are.

Arithmetic stays in the dtype of the inputs (float32 stays float32): constants are Python floats,
which NumPy does not let promote an array. Only scalar results (loss values, penalties, norms) are
accumulated in float64.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Dict, Optional, Sequence, Tuple

import numpy as np
from scipy.special import erf

from . import checks
from .base import (
    ACTIVATIONS_NEEDING_PREACTIVATION,
    HASH_STEP,
    PROBABILITY_EPSILON,
    Backend,
    dropout_stream_key,
    resolve_activation,
    resolve_alpha,
)

_SQRT_2 = math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def _store(value: np.ndarray, out: Optional[np.ndarray], name: str = "out") -> np.ndarray:
    """Return ``value`` as a new C-contiguous array, or copy it into ``out`` and return ``out``.

    Parameters
    ----------
    value : ndarray
        The computed result.
    out : ndarray or None
        The caller's buffer; it may alias an input, since ``value`` is computed before the copy.
    name : str
        The buffer's argument name, for the error when it does not fit ``value``.
    """
    if out is None:
        return np.ascontiguousarray(value)
    if (not isinstance(out, np.ndarray) or out.shape != value.shape
            or not out.flags.writeable):
        got = (f"{out.dtype.name} {out.shape} (writeable: {out.flags.writeable})"
               if isinstance(out, np.ndarray) else type(out).__name__)
        raise ValueError(f"{name}: expected a writeable array of shape {value.shape}, got {got}")
    out[...] = value
    return out


# ------------------------------------------------------------------ activations
def _sigmoid(z: np.ndarray) -> np.ndarray:
    """Logistic function that never overflows: ``exp`` is only taken of ``-|z|``."""
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


def _softmax(z: np.ndarray) -> np.ndarray:
    """Softmax along the last axis, with the row maximum subtracted before ``exp``."""
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _logsumexp(z: np.ndarray) -> np.ndarray:
    """``log(sum(exp(z)))`` along the last axis (as a column), stabilised by the row maximum."""
    top = z.max(axis=-1, keepdims=True)
    return top + np.log(np.exp(z - top).sum(axis=-1, keepdims=True))


def _gelu_cdf(z: np.ndarray) -> np.ndarray:
    """The standard normal CDF ``Phi(z)``, the gate of exact GELU."""
    return 0.5 * (1 + erf(z / _SQRT_2))


# Forward functions take (z, alpha); backward functions take (dy, y, z, alpha) and return
# dy * f'(z), written in terms of the output y except for gelu and swish, which need z.
_FORWARD: Dict[str, Callable[[np.ndarray, float], np.ndarray]] = {
    "linear": lambda z, alpha: z.copy(),
    "relu": lambda z, alpha: np.maximum(z, 0),
    "leaky_relu": lambda z, alpha: np.where(z > 0, z, alpha * z),
    "elu": lambda z, alpha: np.where(z > 0, z, alpha * np.expm1(np.minimum(z, 0))),
    "sigmoid": lambda z, alpha: _sigmoid(z),
    "tanh": lambda z, alpha: np.tanh(z),
    "softmax": lambda z, alpha: _softmax(z),
    "gelu": lambda z, alpha: z * _gelu_cdf(z),
    "swish": lambda z, alpha: z * _sigmoid(z),
}


def _softmax_backward(dy: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Softmax Jacobian-vector product ``y * (dy - sum(dy * y))`` row by row."""
    return y * (dy - (dy * y).sum(axis=-1, keepdims=True))


def _gelu_backward(dy: np.ndarray, z: np.ndarray) -> np.ndarray:
    """``dy * (Phi(z) + z * phi(z))`` with ``phi`` the standard normal density."""
    density = _INV_SQRT_2PI * np.exp(-0.5 * z * z)
    return dy * (_gelu_cdf(z) + z * density)


def _swish_backward(dy: np.ndarray, z: np.ndarray) -> np.ndarray:
    """``dy * (s + z s (1 - s))`` with ``s = sigmoid(z)``."""
    s = _sigmoid(z)
    return dy * (s * (1 + z * (1 - s)))


_BACKWARD: Dict[str, Callable[..., np.ndarray]] = {
    "linear": lambda dy, y, z, alpha: dy.copy(),
    "relu": lambda dy, y, z, alpha: np.where(y > 0, dy, 0),
    "leaky_relu": lambda dy, y, z, alpha: np.where(y > 0, dy, alpha * dy),
    "elu": lambda dy, y, z, alpha: np.where(y > 0, dy, dy * (y + alpha)),
    "sigmoid": lambda dy, y, z, alpha: dy * (y * (1 - y)),
    "tanh": lambda dy, y, z, alpha: dy * (1 - y * y),
    "softmax": lambda dy, y, z, alpha: _softmax_backward(dy, y),
    "gelu": lambda dy, y, z, alpha: _gelu_backward(dy, z),
    "swish": lambda dy, y, z, alpha: _swish_backward(dy, z),
}


# ----------------------------------------------------------------------- losses
# Each loss takes (pred, target, delta) with a 2-D target of pred's dtype and returns
# (per-sample loss of shape (batch,) in float64, d l_i / d pred of pred's shape and dtype).
_LossResult = Tuple[np.ndarray, np.ndarray]


def _mean_squared_error(pred: np.ndarray, target: np.ndarray, delta: float) -> _LossResult:
    e = pred - target
    return np.mean(e * e, axis=1, dtype=np.float64), 2 * e / pred.shape[1]


def _mean_absolute_error(pred: np.ndarray, target: np.ndarray, delta: float) -> _LossResult:
    e = pred - target
    return np.mean(np.abs(e), axis=1, dtype=np.float64), np.sign(e) / pred.shape[1]


def _huber(pred: np.ndarray, target: np.ndarray, delta: float) -> _LossResult:
    e = pred - target
    quadratic = np.abs(e) <= delta
    terms = np.where(quadratic, 0.5 * e * e, delta * (np.abs(e) - 0.5 * delta))
    grad = np.where(quadratic, e, delta * np.sign(e))
    return np.mean(terms, axis=1, dtype=np.float64), grad / pred.shape[1]


def _clip_probability(p: np.ndarray) -> np.ndarray:
    """``p`` clipped to ``[eps, 1 - eps]`` (rounded to ``p``'s dtype) so both logs stay finite."""
    return np.clip(p, PROBABILITY_EPSILON, 1 - PROBABILITY_EPSILON)


def _binary_crossentropy(pred: np.ndarray, target: np.ndarray, delta: float) -> _LossResult:
    p = _clip_probability(pred)
    terms = -(target * np.log(p) + (1 - target) * np.log1p(-p))
    grad = (p - target) / (p * (1 - p))
    return np.mean(terms, axis=1, dtype=np.float64), grad / pred.shape[1]


def _binary_crossentropy_from_logits(pred: np.ndarray, target: np.ndarray,
                                     delta: float) -> _LossResult:
    terms = np.maximum(pred, 0) - pred * target + np.log1p(np.exp(-np.abs(pred)))
    grad = _sigmoid(pred) - target
    return np.mean(terms, axis=1, dtype=np.float64), grad / pred.shape[1]


def _categorical_crossentropy(pred: np.ndarray, target: np.ndarray, delta: float) -> _LossResult:
    p = _clip_probability(pred)
    return -np.sum(target * np.log(p), axis=1, dtype=np.float64), -target / p


def _categorical_crossentropy_from_logits(pred: np.ndarray, target: np.ndarray,
                                          delta: float) -> _LossResult:
    terms = target * (_logsumexp(pred) - pred)
    grad = _softmax(pred) * target.sum(axis=1, keepdims=True) - target
    return np.sum(terms, axis=1, dtype=np.float64), grad


_LOSSES: Dict[str, Callable[[np.ndarray, np.ndarray, float], _LossResult]] = {
    "mean_squared_error": _mean_squared_error,
    "mean_absolute_error": _mean_absolute_error,
    "huber": _huber,
    "binary_crossentropy": _binary_crossentropy,
    "binary_crossentropy_from_logits": _binary_crossentropy_from_logits,
    "categorical_crossentropy": _categorical_crossentropy,
    "categorical_crossentropy_from_logits": _categorical_crossentropy_from_logits,
}


def _dense_target(target: Any, pred: np.ndarray) -> np.ndarray:
    """``target`` as a 2-D array of ``pred``'s dtype; 1-D class indices become one-hot rows."""
    target = np.asarray(target)
    if target.ndim == 1:
        one_hot = np.zeros(pred.shape, dtype=pred.dtype)
        one_hot[np.arange(pred.shape[0]), target] = 1
        return one_hot
    return target.astype(pred.dtype, copy=False)


# ---------------------------------------------------------------------- dropout
def _mix64(z: np.ndarray) -> np.ndarray:
    """:func:`~mlp.backends.base.mix64` applied elementwise to a ``uint64`` array.

    ``uint64`` array arithmetic wraps modulo ``2**64`` silently, which is exactly the masking the
    scalar version does by hand.
    """
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _dropout_uniforms(shape: Tuple[int, ...], seed: int, step: int, layer: int) -> np.ndarray:
    """The uniform numbers of :func:`~mlp.backends.base.dropout_uniform` for a whole array.

    Returns
    -------
    ndarray of float64, shape ``shape``
        Element ``k`` in row-major order holds ``dropout_uniform(seed, step, layer, k)``.
    """
    key = np.uint64(dropout_stream_key(seed, step, layer))
    index = np.arange(math.prod(shape), dtype=np.uint64)
    bits = _mix64(key + index * np.uint64(HASH_STEP))
    return ((bits >> np.uint64(40)).astype(np.float64) * 2.0 ** -24).reshape(shape)


def _floats(name: str, x: Any, ndim: Optional[int]) -> np.ndarray:
    """``x`` as a numeric array of ``ndim`` dimensions, of float type (integers and booleans
    become float64, as on the CPU backend)."""
    return checks.array(name, x, checks.dtype_of(x), ndim)


def _dense_operands(x: Any, w: Any) -> Tuple[np.ndarray, np.ndarray]:
    """``x`` (batch, inputs) and ``w`` (inputs, units) as arrays whose shapes fit."""
    x, w = _floats("x", x, 2), _floats("w", w, 2)
    if w.shape[0] != x.shape[1]:
        raise ValueError(f"w: expected shape ({x.shape[1]}, units) for x of shape {x.shape}, "
                         f"got {w.shape}")
    return x, w


def _update_operands(param: Any, grad: Any, **state: Any):
    """``param`` (a flat float buffer), ``grad`` flattened to its size, and each state buffer
    (flat, of param's dtype and size)."""
    param = checks.flat_buffer("param", param)
    grad = checks.flat_like("grad", grad, param)
    buffers = [checks.flat_buffer(name, buffer, param.dtype, param.size)
               for name, buffer in state.items()]
    return (param, grad, *buffers)


class ReferenceBackend(Backend):
    """Pure-NumPy implementation of :class:`~mlp.backends.base.Backend` on host memory.

    Every method does what the base class documents; ``help()`` and ``inspect.getdoc`` show the
    base docstring for methods that do not add one of their own.
    """

    name = "reference"
    update_copies = 5  # NumPy expressions: g, g * g, the moment estimates, sqrt, the step

    # ------------------------------------------------------------------ arrays
    def asarray(self, x: Any, dtype: Any = None) -> Any:
        return np.asarray(x, dtype=dtype, order="C")

    def to_numpy(self, x: Any) -> Any:
        return np.asarray(x)

    def empty(self, shape: Sequence[int], dtype: Any) -> Any:
        return np.empty(shape, dtype=dtype)

    def zeros(self, shape: Sequence[int], dtype: Any) -> Any:
        return np.zeros(shape, dtype=dtype)

    # -------------------------------------------------------------------- GEMM
    def matmul(self, a, b, out=None, trans_a: bool = False, trans_b: bool = False,
               alpha: float = 1.0, beta: float = 0.0):
        a, b = _floats("a", a, 2), _floats("b", b, 2)
        alpha, beta = checks.real("alpha", alpha), checks.real("beta", beta)
        k = a.shape[0] if trans_a else a.shape[1]
        if (b.shape[1] if trans_b else b.shape[0]) != k:
            raise ValueError(f"b: expected {k} rows in op(b) (the columns of op(a)), got "
                             f"op(b) of shape {b.T.shape if trans_b else b.shape}")
        if beta != 0 and out is None:
            raise ValueError("out: required when beta is not 0 (it is accumulated into)")
        if beta != 0:
            out = checks.array("out", out, ndim=2)
            checks.same_shape("out", out, (a.shape[1] if trans_a else a.shape[0],
                                           b.shape[0] if trans_b else b.shape[1]), "op(a) @ op(b)")
        product = alpha * ((a.T if trans_a else a) @ (b.T if trans_b else b))
        if beta != 0:
            product = product + beta * out
        return _store(product, out)

    # ------------------------------------------------------------- activations
    def activation_forward(self, z, activation: str, alpha: Optional[float] = None, out=None):
        name = resolve_activation(activation)
        alpha = resolve_alpha(name, alpha)
        return _store(_FORWARD[name](_floats("z", z, 2), alpha), out)

    def activation_backward(self, dy, y, z, activation: str, alpha: Optional[float] = None,
                            out=None):
        name = resolve_activation(activation)
        alpha = resolve_alpha(name, alpha)
        dy = _floats("dy", dy, 2)
        y = _floats("y", y, 2)
        checks.same_shape("y", y, dy.shape, "dy")
        if name in ACTIVATIONS_NEEDING_PREACTIVATION:
            if z is None:
                raise ValueError(f"z: the derivative of {name!r} needs the pre-activation, "
                                 f"got None")
            z = _floats("z", z, 2)
            checks.same_shape("z", z, dy.shape, "dy")
        return _store(_BACKWARD[name](dy, y, z, alpha), out)

    # ------------------------------------------------------------------- dense
    def dense_forward(self, x, w, b, activation: str = "linear", alpha: Optional[float] = None,
                      out=None, preact=None):
        x, w = _dense_operands(x, w)
        z = x @ w
        if b is not None:
            z = z + checks.vector("b", b, w.shape[1])
        if preact is not None:
            _store(z, preact, "preact")
        return self.activation_forward(z, activation, alpha, out=out)

    def dense_backward(self, x, w, y, dy, activation: str = "linear",
                       alpha: Optional[float] = None, preact=None, dw=None, db=None, dx=None,
                       need_dx: bool = True, need_db: bool = True, dz=None
                       ) -> Tuple[Any, Any, Any]:
        x, w = _dense_operands(x, w)
        dy = _floats("dy", dy, 2)
        checks.same_shape("dy", dy, (x.shape[0], w.shape[1]), "x @ w")
        dz = self.activation_backward(dy, y, preact, activation, alpha, out=dz)
        db = _store(dz.sum(axis=0), db, "db") if need_db else None
        dw = _store(x.T @ dz, dw, "dw")
        dx = _store(dz @ w.T, dx, "dx") if need_dx else None
        return dw, db, dx

    # ------------------------------------------------------------------ losses
    def loss(self, name: str, pred, target, sample_weight=None, grad=None, delta: float = 1.0
             ) -> Tuple[float, Any]:
        pred, target, labels, sample_weight = checks.loss_operands(
            name, pred, target, sample_weight, checks.dtype_of(pred))
        target = labels if target is None else target
        delta = checks.real("delta", delta)
        per_sample, per_sample_grad = _LOSSES[name](pred, _dense_target(target, pred), delta)
        n_rows = pred.shape[0]
        if sample_weight is None:
            value = float(per_sample.sum()) / n_rows
            return value, _store(per_sample_grad / n_rows, grad, "grad")
        weight = np.asarray(sample_weight)
        value = float(np.dot(weight.astype(np.float64), per_sample)) / n_rows
        row_scale = (weight.astype(pred.dtype) / n_rows)[:, np.newaxis]
        return value, _store(per_sample_grad * row_scale, grad, "grad")

    # -------------------------------------------------------------- optimizers
    def sgd_update(self, param, grad, velocity, lr: float, momentum: float = 0.0,
                   nesterov: bool = False, weight_decay: float = 0.0) -> None:
        lr, momentum = checks.real("lr", lr), checks.real("momentum", momentum)
        weight_decay = checks.real("weight_decay", weight_decay)
        param, grad = _update_operands(param, grad)
        if momentum > 0:
            velocity = checks.flat_buffer("velocity", velocity, param.dtype, param.size)
        g = grad + weight_decay * param
        if momentum > 0:
            velocity[...] = momentum * velocity + g
            direction = g + momentum * velocity if nesterov else velocity
        else:
            direction = g
        param -= lr * direction

    def adam_update(self, param, grad, m, v, v_max, step: int, lr: float, beta_1: float,
                    beta_2: float, epsilon: float, weight_decay: float = 0.0,
                    decoupled: bool = False, amsgrad: bool = False) -> None:
        step = checks.integer("step", step, 1)
        lr, epsilon = checks.real("lr", lr), checks.real("epsilon", epsilon)
        beta_1, beta_2 = checks.fraction("beta_1", beta_1), checks.fraction("beta_2", beta_2)
        weight_decay = checks.real("weight_decay", weight_decay)
        param, grad, m, v = _update_operands(param, grad, m=m, v=v)
        if amsgrad:
            v_max = checks.flat_buffer("v_max", v_max, param.dtype, param.size)
        if decoupled:
            param *= 1 - lr * weight_decay
            g = grad
        else:
            g = grad + weight_decay * param
        m[...] = beta_1 * m + (1 - beta_1) * g
        v[...] = beta_2 * v + (1 - beta_2) * g * g
        if amsgrad:
            np.maximum(v_max, v, out=v_max)
        second_moment = v_max if amsgrad else v
        m_hat = m / (1 - beta_1 ** step)
        v_hat = second_moment / (1 - beta_2 ** step)
        param -= lr * m_hat / (np.sqrt(v_hat) + epsilon)

    def rmsprop_update(self, param, grad, mean_square, lr: float, rho: float, epsilon: float,
                       momentum: float = 0.0, velocity=None, centered: bool = False,
                       mean_grad=None, weight_decay: float = 0.0) -> None:
        lr, rho, epsilon = checks.real("lr", lr), checks.real("rho", rho), checks.real(
            "epsilon", epsilon)
        momentum = checks.real("momentum", momentum)
        weight_decay = checks.real("weight_decay", weight_decay)
        param, grad, mean_square = _update_operands(param, grad, mean_square=mean_square)
        if momentum > 0:
            velocity = checks.flat_buffer("velocity", velocity, param.dtype, param.size)
        if centered:
            mean_grad = checks.flat_buffer("mean_grad", mean_grad, param.dtype, param.size)
        g = grad + weight_decay * param
        mean_square[...] = rho * mean_square + (1 - rho) * g * g
        if centered:
            mean_grad[...] = rho * mean_grad + (1 - rho) * g
            denom = np.sqrt(np.maximum(mean_square - mean_grad * mean_grad, 0)) + epsilon
        else:
            denom = np.sqrt(mean_square) + epsilon
        if momentum > 0:
            velocity[...] = momentum * velocity + g / denom
            param -= lr * velocity
        else:
            param -= lr * g / denom

    def adagrad_update(self, param, grad, accumulator, lr: float, epsilon: float,
                       weight_decay: float = 0.0) -> None:
        lr, epsilon = checks.real("lr", lr), checks.real("epsilon", epsilon)
        weight_decay = checks.real("weight_decay", weight_decay)
        param, grad, accumulator = _update_operands(param, grad, accumulator=accumulator)
        g = grad + weight_decay * param
        accumulator += g * g
        param -= lr * g / (np.sqrt(accumulator) + epsilon)

    def add_penalty_gradient(self, grad, param, l1: float = 0.0, l2: float = 0.0) -> None:
        l1, l2 = checks.real("l1", l1), checks.real("l2", l2)
        grad = checks.flat_buffer("grad", grad)
        param = checks.flat_like("param", param, grad)
        grad += l1 * np.sign(param) + 2 * l2 * param

    def penalty(self, param, l1: float = 0.0, l2: float = 0.0) -> float:
        l1, l2 = checks.real("l1", l1), checks.real("l2", l2)
        wide = checks.numeric("param", param).astype(np.float64, copy=False)
        return l1 * float(np.abs(wide).sum()) + l2 * float(np.square(wide).sum())

    def global_norm(self, arrays: Sequence[Any]) -> float:
        squares = (float(np.square(checks.numeric(f"arrays[{i}]", a).astype(np.float64)).sum())
                   for i, a in enumerate(checks.sequence("arrays", arrays)))
        return math.sqrt(sum(squares))

    def scale_(self, x, factor: float) -> None:
        factor = checks.real("factor", factor)
        x = checks.flat_buffer("x", x)
        x *= factor

    def clip_(self, x, limit: float) -> None:
        limit = checks.real("limit", limit)
        x = checks.flat_buffer("x", x)
        np.clip(x, -limit, limit, out=x)

    # ----------------------------------------------------------------- dropout
    def dropout_mask(self, shape: Tuple[int, int], rate: float, seed: int, step: int,
                     layer: int, dtype: Any):
        shape, dtype = checks.shape("shape", shape), checks.float_dtype("dtype", dtype)
        rate, seed, step, layer = checks.dropout_args(rate, seed, step, layer)
        checks.check_bytes("shape", math.prod(shape) * 16, f"shape {shape}")
        mask = np.zeros(shape, dtype=dtype)
        mask[_dropout_uniforms(tuple(shape), seed, step, layer) >= rate] = 1.0 / (1.0 - rate)
        return mask

    def dropout_forward(self, x, rate: float, seed: int, step: int, layer: int, out=None):
        x = _floats("x", x, None)
        return _store(x * self.dropout_mask(x.shape, rate, seed, step, layer, x.dtype), out)

    def dropout_backward(self, dy, rate: float, seed: int, step: int, layer: int, out=None):
        dy = _floats("dy", dy, None)
        return _store(dy * self.dropout_mask(dy.shape, rate, seed, step, layer, dy.dtype), out)

    # ----------------------------------------------------------- normalization
    def batch_norm_forward(self, x, gamma, beta, moving_mean, moving_variance,
                           momentum: float = 0.99, epsilon: float = 1e-3, training: bool = True,
                           out=None, xhat=None, inv_std=None):
        x, gamma, beta = checks.norm_operands(x, gamma, beta)
        epsilon, momentum = checks.norm_settings(epsilon, momentum)
        features = x.shape[1]
        moving_mean = checks.flat_buffer("moving_mean", moving_mean, x.dtype, features)
        moving_variance = checks.flat_buffer("moving_variance", moving_variance, x.dtype,
                                             features)
        if training:
            if x.shape[0] == 0:
                raise ValueError("x: expected at least one row in training mode (the batch "
                                 "statistics of no rows are undefined), got shape "
                                 f"{x.shape}")
            wide = x.astype(np.float64)
            mean64 = wide.mean(axis=0)
            mean = mean64.astype(x.dtype)
            variance = np.square(wide - mean64).mean(axis=0).astype(x.dtype)
            moving_mean[...] = moving_mean * momentum + mean * (1.0 - momentum)
            moving_variance[...] = moving_variance * momentum + variance * (1.0 - momentum)
        else:
            mean, variance = moving_mean.copy(), moving_variance.copy()
        inv = 1 / np.sqrt(variance + epsilon)
        return _normalized(x, mean, inv, gamma, beta, out, xhat, inv_std, inv)

    def batch_norm_backward(self, dy, xhat, gamma, inv_std, training: bool = True,
                            dgamma=None, dbeta=None, dx=None, need_dgamma: bool = True,
                            need_dbeta: bool = True, need_dx: bool = True):
        dy, xhat, gamma, inv_std = checks.norm_backward_operands(
            dy, xhat, gamma, inv_std, np.shape(dy)[-1] if np.ndim(dy) == 2 else 0)
        sum_dy = dy.sum(axis=0, dtype=np.float64)
        sum_dy_xhat = (dy.astype(np.float64) * xhat).sum(axis=0)
        dgamma = _store(sum_dy_xhat.astype(dy.dtype), dgamma, "dgamma") if need_dgamma else None
        dbeta = _store(sum_dy.astype(dy.dtype), dbeta, "dbeta") if need_dbeta else None
        if not need_dx:
            return dgamma, dbeta, None
        scale = inv_std if gamma is None else gamma * inv_std
        if training and dy.shape[0]:
            rows = dy.shape[0]
            centred = (dy - (sum_dy / rows).astype(dy.dtype)
                       - xhat * (sum_dy_xhat / rows).astype(dy.dtype))
        else:
            centred = dy
        return dgamma, dbeta, _store(scale * centred, dx, "dx")

    def layer_norm_forward(self, x, gamma, beta, epsilon: float = 1e-3, out=None, xhat=None,
                           inv_std=None):
        x, gamma, beta = checks.norm_operands(x, gamma, beta)
        epsilon, _ = checks.norm_settings(epsilon)
        wide = x.astype(np.float64)
        mean64 = wide.mean(axis=1, keepdims=True)
        mean = mean64.astype(x.dtype)
        variance = np.square(wide - mean64).mean(axis=1, keepdims=True).astype(x.dtype)
        inv = 1 / np.sqrt(variance + epsilon)
        return _normalized(x, mean, inv, gamma, beta, out, xhat, inv_std, inv[:, 0])

    def layer_norm_backward(self, dy, xhat, gamma, inv_std, dgamma=None, dbeta=None, dx=None,
                            need_dgamma: bool = True, need_dbeta: bool = True,
                            need_dx: bool = True):
        dy, xhat, gamma, inv_std = checks.norm_backward_operands(
            dy, xhat, gamma, inv_std, np.shape(dy)[0] if np.ndim(dy) == 2 else 0)
        dgamma = (_store((dy.astype(np.float64) * xhat).sum(axis=0).astype(dy.dtype), dgamma,
                         "dgamma") if need_dgamma else None)
        dbeta = (_store(dy.sum(axis=0, dtype=np.float64).astype(dy.dtype), dbeta, "dbeta")
                 if need_dbeta else None)
        if not need_dx:
            return dgamma, dbeta, None
        g = dy if gamma is None else dy * gamma
        mean_g = g.mean(axis=1, keepdims=True, dtype=np.float64).astype(dy.dtype)
        mean_gx = (g.astype(np.float64) * xhat).mean(axis=1, keepdims=True).astype(dy.dtype)
        centred = g - mean_g - xhat * mean_gx
        return dgamma, dbeta, _store(inv_std[:, np.newaxis] * centred, dx, "dx")


def _normalized(x, mean, inv, gamma, beta, out, xhat, inv_std, inv_values):
    """``gamma * (x - mean) * inv + beta`` into ``out``; ``xhat`` and ``inv_std`` receive the
    normalized input and ``inv_values`` when given."""
    normalized = (x - mean) * inv
    if xhat is not None:
        _store(normalized, xhat, "xhat")
    if inv_std is not None:
        _store(np.asarray(inv_values, dtype=x.dtype).reshape(-1), inv_std, "inv_std")
    y = normalized if gamma is None else normalized * gamma
    if beta is not None:
        y = y + beta
    return _store(y, out)
