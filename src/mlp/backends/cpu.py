"""The default backend: Cython + OpenMP kernels over BLAS (``mlp.kernels._kernels``).

Policy lives here and arithmetic in the kernels: this module picks the dtype, makes C-contiguous
copies of inputs only when needed, allocates missing outputs, maps activation and loss names to
kernel codes, and pins BLAS to one thread while the kernels split GEMMs across OpenMP threads.
"""
from __future__ import annotations

import contextlib
import math
from typing import List

import numpy as np

from ..kernels import _kernels
from .._threading import blas_single_thread, needs_pinning
from . import checks
from .base import (
    ACTIVATIONS_NEEDING_PREACTIVATION,
    LOSSES,
    PROBABILITY_EPSILON,
    Backend,
    Step,
    TrainingPlan,
    resolve_activation,
    resolve_alpha,
)
from .codes import ACTIVATION_CODES, LOSS_CODES, OPTIMIZER_CODES, STEP_CODES
from .cpu_plan import FusedCPUPlan

FLOAT_DTYPES = checks.FLOAT_DTYPES
_UNCHANGED = contextlib.nullcontext()
MASK64 = (1 << 64) - 1
_dtype_of = checks.dtype_of


def _c(x, dtype, name="x", ndim=2):
    """``x`` as a C-contiguous ``ndim``-D array of ``dtype``: the same object when it already is
    one; a clear error for anything that is not a numeric array of that many dimensions."""
    return checks.array(name, x, dtype, ndim, contiguous=True)


def _out(out, shape, dtype, name="out"):
    return checks.out_buffer(name, out, shape, np.dtype(dtype))


def _flat_inplace(x, name, dtype=None, size=None):
    """Check an in-place buffer: 1-D, C-contiguous, writeable, of ``dtype`` and ``size`` elements
    when given."""
    return checks.flat_buffer(name, x, dtype, size)


def _matching(name, x, expected, like):
    checks.same_shape(name, x, expected, like)
    return x


class CPUBackend(Backend):
    """Cython/OpenMP kernels on host memory (the default backend).

    Examples
    --------
    >>> import numpy as np
    >>> from mlp.backends import get_backend
    >>> cpu = get_backend("cpu")
    >>> cpu.activation_forward(np.array([[-1.0, 2.0]]), "relu")
    array([[0., 2.]])
    """

    name = "cpu"

    # ------------------------------------------------------------ capabilities
    def all_finite(self, array):
        if array.flags.c_contiguous and array.dtype in FLOAT_DTYPES:
            return _kernels.all_finite(array.reshape(-1))
        return bool(np.all(np.isfinite(array)))

    def blas_scope(self, flops=None):
        return blas_single_thread(flops) if needs_pinning(flops) else _UNCHANGED

    def make_plan(self, steps: List[Step], params, grads, loss_kernel, optimizer, batch_size,
                  delta=1.0) -> TrainingPlan:
        """The whole-epoch plan of :mod:`mlp.backends.cpu_plan`: one call into Cython; for a
        loss, an activation or an optimizer update in Python (a host loss callable, a step's
        host activation, an optimizer kind without a kernel code) the step-by-step plan."""
        if (callable(loss_kernel) or any(step.host_activation is not None
                                         or step.kind not in STEP_CODES for step in steps)
                or (optimizer is not None and optimizer.kind not in OPTIMIZER_CODES)):
            return TrainingPlan(self, steps, params, grads, loss_kernel, optimizer, batch_size,
                                delta)
        return FusedCPUPlan(self, steps, params, grads, loss_kernel, optimizer, batch_size,
                            delta)

    # ------------------------------------------------------------------ arrays
    def asarray(self, x, dtype=None):
        return np.ascontiguousarray(x, dtype=dtype)

    def to_numpy(self, x):
        return np.asarray(x)

    def empty(self, shape, dtype):
        return np.empty(shape, dtype=dtype)

    def zeros(self, shape, dtype):
        return np.zeros(shape, dtype=dtype)

    # -------------------------------------------------------------------- GEMM
    def matmul(self, a, b, out=None, trans_a=False, trans_b=False, alpha=1.0, beta=0.0):
        dtype = _dtype_of(a)
        a, b = _c(a, dtype, "a"), _c(b, dtype, "b")
        alpha, beta = checks.real("alpha", alpha), checks.real("beta", beta)
        m, k = (a.shape[1], a.shape[0]) if trans_a else a.shape
        k_b, n = (b.shape[1], b.shape[0]) if trans_b else b.shape
        if k_b != k:
            raise ValueError(f"b: expected {k} rows in op(b) (the columns of op(a), shape "
                             f"{(m, k)}), got op(b) of shape {(k_b, n)}")
        if beta != 0.0 and out is None:
            raise ValueError("out: required when beta is not 0 (it is accumulated into)")
        out = _out(out, (m, n), dtype)
        if out.size == 0 or k == 0:  # nothing to multiply: BLAS would refuse the strides
            if beta == 0.0:
                out[...] = 0
            else:
                out *= beta
            return out
        with blas_single_thread(2.0 * m * n * k):
            _kernels.gemm(bool(trans_a), bool(trans_b), a, b, out, alpha, beta)
        return out

    # ------------------------------------------------------------- activations
    def activation_forward(self, z, activation, alpha=None, out=None):
        activation = resolve_activation(activation)
        dtype = _dtype_of(z)
        z = _c(z, dtype, "z")
        out = _out(out, z.shape, dtype)
        if z.size:
            _kernels.activation_forward(z, out, ACTIVATION_CODES[activation],
                                        resolve_alpha(activation, alpha))
        return out

    def activation_backward(self, dy, y, z, activation, alpha=None, out=None):
        activation = resolve_activation(activation)
        dtype = _dtype_of(dy)
        dy = _c(dy, dtype, "dy")
        y = _matching("y", _c(y, dtype, "y"), dy.shape, "dy")
        z = self._preact(z, activation, dtype, dy.shape)
        out = _out(out, dy.shape, dtype)
        if dy.size:
            _kernels.activation_backward(dy, y, z, out, ACTIVATION_CODES[activation],
                                         resolve_alpha(activation, alpha))
        return out

    @staticmethod
    def _preact(z, activation, dtype, shape, name="z"):
        if activation not in ACTIVATIONS_NEEDING_PREACTIVATION:
            return None
        if z is None:
            raise ValueError(f"{name}: the derivative of {activation!r} needs the "
                             f"pre-activation, got None")
        return _matching(name, _c(z, dtype, name), shape, "dy")

    # ------------------------------------------------------------------- dense
    @staticmethod
    def _dense_operands(x, w, dtype):
        x, w = _c(x, dtype, "x"), _c(w, dtype, "w")
        if w.shape[0] != x.shape[1]:
            raise ValueError(f"w: expected shape ({x.shape[1]}, units) for x of shape "
                             f"{x.shape}, got {w.shape}")
        if w.size == 0:
            raise ValueError(f"w: expected at least one input and one unit, got shape "
                             f"{w.shape}")
        return x, w

    def dense_forward(self, x, w, b, activation="linear", alpha=None, out=None, preact=None):
        activation = resolve_activation(activation)
        alpha = resolve_alpha(activation, alpha)
        dtype = _dtype_of(x)
        x, w = self._dense_operands(x, w, dtype)
        b = None if b is None else checks.vector("b", b, w.shape[1], dtype, contiguous=True)
        shape = (x.shape[0], w.shape[1])
        out = _out(out, shape, dtype)
        preact = None if preact is None else _out(preact, shape, dtype, "preact")
        if shape[0] == 0:
            return out
        with blas_single_thread(2.0 * x.shape[0] * x.shape[1] * w.shape[1]):
            _kernels.dense_forward(x, w, b, out, preact, ACTIVATION_CODES[activation], alpha)
        return out

    def dense_backward(self, x, w, y, dy, activation="linear", alpha=None, preact=None, dw=None,
                       db=None, dx=None, need_dx=True, need_db=True, dz=None):
        activation = resolve_activation(activation)
        alpha = resolve_alpha(activation, alpha)
        dtype = _dtype_of(x)
        x, w = self._dense_operands(x, w, dtype)
        shape = (x.shape[0], w.shape[1])
        dy = _matching("dy", _c(dy, dtype, "dy"), shape, "x @ w")
        y = _matching("y", _c(y, dtype, "y"), shape, "x @ w")
        preact = self._preact(preact, activation, dtype, shape, "preact")
        dz = _out(dz, shape, dtype, "dz")
        dw = _out(dw, w.shape, dtype, "dw")
        db = _out(db, (w.shape[1],), dtype, "db") if need_db else None
        dx = _out(dx, x.shape, dtype, "dx") if need_dx else None
        if shape[0] == 0:  # no rows: zero gradients
            dw[...] = 0
            if db is not None:
                db[...] = 0
            return dw, db, dx
        flops = 2.0 * x.shape[0] * x.shape[1] * w.shape[1] * (2 if need_dx else 1)
        with blas_single_thread(flops):
            _kernels.dense_backward(x, w, y, dy, preact, dz, dw, db, dx,
                                    ACTIVATION_CODES[activation], alpha)
        return dw, db, dx

    # ------------------------------------------------------------------ losses
    def loss(self, name, pred, target, sample_weight=None, grad=None, delta=1.0):
        dtype = _dtype_of(pred)
        pred, target, labels, weight = checks.loss_operands(name, pred, target, sample_weight,
                                                            dtype, contiguous=True)
        delta = checks.real("delta", delta)
        grad = _out(grad, pred.shape, dtype, "grad")
        row_loss = np.empty(pred.shape[0], dtype=np.float64)
        value = _kernels.loss(LOSS_CODES[name], pred, target, labels, weight, grad,
                              row_loss, delta, PROBABILITY_EPSILON)
        return float(value), grad

    # -------------------------------------------------------------- optimizers
    @staticmethod
    def _param_and_grad(param, grad):
        param = _flat_inplace(param, "param")
        return param, checks.flat_like("grad", grad, param)

    def sgd_update(self, param, grad, velocity, lr, momentum=0.0, nesterov=False,
                   weight_decay=0.0):
        param, grad = self._param_and_grad(param, grad)
        lr, momentum = checks.real("lr", lr), checks.real("momentum", momentum)
        weight_decay = checks.real("weight_decay", weight_decay)
        if momentum != 0.0:
            velocity = _flat_inplace(velocity, "velocity", param.dtype, param.size)
        else:
            velocity = None
        _kernels.sgd_update(param, grad, velocity, lr, momentum, bool(nesterov), weight_decay)

    def adam_update(self, param, grad, m, v, v_max, step, lr, beta_1, beta_2, epsilon,
                    weight_decay=0.0, decoupled=False, amsgrad=False):
        param, grad = self._param_and_grad(param, grad)
        m = _flat_inplace(m, "m", param.dtype, param.size)
        v = _flat_inplace(v, "v", param.dtype, param.size)
        v_max = _flat_inplace(v_max, "v_max", param.dtype, param.size) if amsgrad else None
        step = checks.integer("step", step, 1)
        lr, epsilon = checks.real("lr", lr), checks.real("epsilon", epsilon)
        beta_1, beta_2 = checks.fraction("beta_1", beta_1), checks.fraction("beta_2", beta_2)
        _kernels.adam_update(param, grad, m, v, v_max, lr, beta_1, beta_2, epsilon, step,
                             checks.real("weight_decay", weight_decay), bool(decoupled),
                             bool(amsgrad))

    def rmsprop_update(self, param, grad, mean_square, lr, rho, epsilon, momentum=0.0,
                       velocity=None, centered=False, mean_grad=None, weight_decay=0.0):
        param, grad = self._param_and_grad(param, grad)
        mean_square = _flat_inplace(mean_square, "mean_square", param.dtype, param.size)
        momentum = checks.real("momentum", momentum)
        velocity = (_flat_inplace(velocity, "velocity", param.dtype, param.size)
                    if momentum > 0 else None)
        mean_grad = (_flat_inplace(mean_grad, "mean_grad", param.dtype, param.size)
                     if centered else None)
        _kernels.rmsprop_update(param, grad, mean_square, velocity, mean_grad,
                                checks.real("lr", lr), checks.real("rho", rho),
                                checks.real("epsilon", epsilon), momentum, bool(centered),
                                checks.real("weight_decay", weight_decay))

    def adagrad_update(self, param, grad, accumulator, lr, epsilon, weight_decay=0.0):
        param, grad = self._param_and_grad(param, grad)
        accumulator = _flat_inplace(accumulator, "accumulator", param.dtype, param.size)
        _kernels.adagrad_update(param, grad, accumulator, checks.real("lr", lr),
                                checks.real("epsilon", epsilon),
                                checks.real("weight_decay", weight_decay))

    def add_penalty_gradient(self, grad, param, l1=0.0, l2=0.0):
        grad = _flat_inplace(grad, "grad")
        param = checks.flat_like("param", param, grad)
        _kernels.add_penalty_gradient(grad, param, checks.real("l1", l1), checks.real("l2", l2))

    def penalty(self, param, l1=0.0, l2=0.0):
        l1, l2 = checks.real("l1", l1), checks.real("l2", l2)
        flat = _c(checks.numeric("param", param), _dtype_of(param), "param", None).reshape(-1)
        value = 0.0
        if l1 and flat.size:
            value += l1 * _kernels.sum_of_abs(flat)
        if l2 and flat.size:
            value += l2 * _kernels.sum_of_squares(flat)
        return float(value)

    def global_norm(self, arrays):
        total = 0.0
        for index, array in enumerate(checks.sequence("arrays", arrays)):
            name = f"arrays[{index}]"
            flat = _c(checks.numeric(name, array), _dtype_of(array), name, None).reshape(-1)
            if flat.size:
                total += _kernels.sum_of_squares(flat)
        return math.sqrt(total)

    def scale_(self, x, factor):
        x = _flat_inplace(x, "x")
        factor = checks.real("factor", factor)
        if x.size:
            _kernels.scale_inplace(x, factor)

    def clip_(self, x, limit):
        x = _flat_inplace(x, "x")
        limit = checks.real("limit", limit)
        if x.size:
            _kernels.clip_inplace(x, limit)

    # ----------------------------------------------------------------- dropout
    def dropout_mask(self, shape, rate, seed, step, layer, dtype):
        shape, dtype = checks.shape("shape", shape), checks.float_dtype("dtype", dtype)
        rate, seed, step, layer = checks.dropout_args(rate, seed, step, layer)
        out = _out(None, shape, dtype, "shape")
        if out.size:
            _kernels.dropout(out.reshape(-1), None, seed & MASK64, step & MASK64,
                             layer & MASK64, rate)
        return out

    def dropout_forward(self, x, rate, seed, step, layer, out=None):
        dtype = _dtype_of(x)
        x = _c(x, dtype, "x", None)
        rate, seed, step, layer = checks.dropout_args(rate, seed, step, layer)
        out = _out(out, x.shape, dtype)
        if out.size:
            _kernels.dropout(out.reshape(-1), x.reshape(-1), seed & MASK64, step & MASK64,
                             layer & MASK64, rate)
        return out

    def dropout_backward(self, dy, rate, seed, step, layer, out=None):
        return self.dropout_forward(dy, rate, seed, step, layer, out=out)

    # ----------------------------------------------------------- normalization
    def batch_norm_forward(self, x, gamma, beta, moving_mean, moving_variance, momentum=0.99,
                           epsilon=1e-3, training=True, out=None, xhat=None, inv_std=None):
        x, gamma, beta = checks.norm_operands(x, gamma, beta, contiguous=True)
        epsilon, momentum = checks.norm_settings(epsilon, momentum)
        features, dtype = x.shape[1], x.dtype
        moving_mean = _flat_inplace(moving_mean, "moving_mean", dtype, features)
        moving_variance = _flat_inplace(moving_variance, "moving_variance", dtype, features)
        if training and x.shape[0] == 0:
            raise ValueError(f"x: expected at least one row in training mode (the batch "
                             f"statistics of no rows are undefined), got shape {x.shape}")
        out = _out(out, x.shape, dtype)
        xhat = None if xhat is None else _out(xhat, x.shape, dtype, "xhat")
        inv_std = None if inv_std is None else _out(inv_std, (features,), dtype, "inv_std")
        if x.shape[0]:
            _kernels.norm_forward(0, x, gamma, beta, moving_mean, moving_variance, out, xhat,
                                  inv_std, bool(training), momentum, epsilon)
        elif inv_std is not None:  # no rows, in inference mode: only the moving statistics
            inv_std[...] = 1 / np.sqrt(moving_variance + dtype.type(epsilon))
        return out

    def batch_norm_backward(self, dy, xhat, gamma, inv_std, training=True, dgamma=None,
                            dbeta=None, dx=None, need_dgamma=True, need_dbeta=True,
                            need_dx=True):
        dy, xhat, gamma, inv_std = checks.norm_backward_operands(
            dy, xhat, gamma, inv_std, np.shape(dy)[-1] if np.ndim(dy) == 2 else 0, True)
        return self._norm_backward(0, dy, xhat, gamma, inv_std, bool(training), dgamma, dbeta,
                                   dx, need_dgamma, need_dbeta, need_dx)

    def layer_norm_forward(self, x, gamma, beta, epsilon=1e-3, out=None, xhat=None,
                           inv_std=None):
        x, gamma, beta = checks.norm_operands(x, gamma, beta, contiguous=True)
        epsilon, _ = checks.norm_settings(epsilon)
        out = _out(out, x.shape, x.dtype)
        xhat = None if xhat is None else _out(xhat, x.shape, x.dtype, "xhat")
        inv_std = None if inv_std is None else _out(inv_std, (x.shape[0],), x.dtype, "inv_std")
        if x.shape[0]:
            _kernels.norm_forward(1, x, gamma, beta, None, None, out, xhat, inv_std, False, 0.0,
                                  epsilon)
        return out

    def layer_norm_backward(self, dy, xhat, gamma, inv_std, dgamma=None, dbeta=None, dx=None,
                            need_dgamma=True, need_dbeta=True, need_dx=True):
        dy, xhat, gamma, inv_std = checks.norm_backward_operands(
            dy, xhat, gamma, inv_std, np.shape(dy)[0] if np.ndim(dy) == 2 else 0, True)
        return self._norm_backward(1, dy, xhat, gamma, inv_std, False, dgamma, dbeta, dx,
                                   need_dgamma, need_dbeta, need_dx)

    @staticmethod
    def _norm_backward(kind, dy, xhat, gamma, inv_std, training, dgamma, dbeta, dx,
                       need_dgamma, need_dbeta, need_dx):
        features, dtype = dy.shape[1], dy.dtype
        dgamma = _out(dgamma, (features,), dtype, "dgamma") if need_dgamma else None
        dbeta = _out(dbeta, (features,), dtype, "dbeta") if need_dbeta else None
        dx = _out(dx, dy.shape, dtype, "dx") if need_dx else None
        if dy.shape[0] == 0:  # no rows: zero parameter gradients
            for grad in (dgamma, dbeta):
                if grad is not None:
                    grad[...] = 0
        else:
            _kernels.norm_backward(kind, dy, xhat, gamma, inv_std, dgamma, dbeta, dx, training)
        return dgamma, dbeta, dx
