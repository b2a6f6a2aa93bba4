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

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
_UNCHANGED = contextlib.nullcontext()
MASK64 = (1 << 64) - 1


def _dtype_of(x) -> np.dtype:
    dtype = np.asarray(x).dtype if not hasattr(x, "dtype") else np.dtype(x.dtype)
    return dtype if dtype in FLOAT_DTYPES else np.dtype(np.float64)


def _c(x, dtype):
    """``x`` as a C-contiguous array of ``dtype``: the same object when it already is one."""
    return np.ascontiguousarray(x, dtype=dtype)


def _out(out, shape, dtype):
    if out is None:
        return np.empty(shape, dtype=dtype)
    if out.shape != tuple(shape) or out.dtype != dtype or not out.flags.c_contiguous:
        raise ValueError(
            f"out: expected a C-contiguous {np.dtype(dtype).name} array of shape {tuple(shape)}, "
            f"got {out.dtype.name} {out.shape} (C-contiguous: {out.flags.c_contiguous})"
        )
    return out


def _flat_inplace(x, name, dtype=None):
    """Check an in-place buffer: it must be 1-D, C-contiguous and (optionally) of ``dtype``."""
    if (not isinstance(x, np.ndarray) or x.ndim != 1 or not x.flags.c_contiguous
            or not x.flags.writeable or (dtype is not None and x.dtype != dtype)
            or x.dtype not in FLOAT_DTYPES):
        got = f"{x.dtype.name} {x.shape}" if isinstance(x, np.ndarray) else type(x).__name__
        want = np.dtype(dtype).name if dtype is not None else "float32 or float64"
        raise ValueError(
            f"{name}: expected a writeable 1-D C-contiguous {want} buffer, got {got}"
        )
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
        a, b = _c(a, dtype), _c(b, dtype)
        m = a.shape[1] if trans_a else a.shape[0]
        n = b.shape[0] if trans_b else b.shape[1]
        if beta != 0.0 and out is None:
            raise ValueError("out: required when beta is not 0 (it is accumulated into)")
        out = _out(out, (m, n), dtype)
        with blas_single_thread(2.0 * m * n * (a.shape[0] if trans_a else a.shape[1])):
            _kernels.gemm(bool(trans_a), bool(trans_b), a, b, out, float(alpha), float(beta))
        return out

    # ------------------------------------------------------------- activations
    def activation_forward(self, z, activation, alpha=None, out=None):
        activation = resolve_activation(activation)
        dtype = _dtype_of(z)
        z = _c(z, dtype)
        out = _out(out, z.shape, dtype)
        _kernels.activation_forward(z, out, ACTIVATION_CODES[activation],
                                    resolve_alpha(activation, alpha))
        return out

    def activation_backward(self, dy, y, z, activation, alpha=None, out=None):
        activation = resolve_activation(activation)
        dtype = _dtype_of(dy)
        dy, y = _c(dy, dtype), _c(y, dtype)
        z = self._preact(z, activation, dtype)
        out = _out(out, dy.shape, dtype)
        _kernels.activation_backward(dy, y, z, out, ACTIVATION_CODES[activation],
                                     resolve_alpha(activation, alpha))
        return out

    @staticmethod
    def _preact(z, activation, dtype):
        if activation not in ACTIVATIONS_NEEDING_PREACTIVATION:
            return None
        if z is None:
            raise ValueError(f"z: the derivative of {activation!r} needs the pre-activation, got None")
        return _c(z, dtype)

    # ------------------------------------------------------------------- dense
    def dense_forward(self, x, w, b, activation="linear", alpha=None, out=None, preact=None):
        activation = resolve_activation(activation)
        dtype = _dtype_of(x)
        x, w = _c(x, dtype), _c(w, dtype)
        b = None if b is None else _c(b, dtype)
        shape = (x.shape[0], w.shape[1])
        out = _out(out, shape, dtype)
        preact = None if preact is None else _out(preact, shape, dtype)
        with blas_single_thread(2.0 * x.shape[0] * x.shape[1] * w.shape[1]):
            _kernels.dense_forward(x, w, b, out, preact, ACTIVATION_CODES[activation],
                                   resolve_alpha(activation, alpha))
        return out

    def dense_backward(self, x, w, y, dy, activation="linear", alpha=None, preact=None, dw=None,
                       db=None, dx=None, need_dx=True, need_db=True, dz=None):
        activation = resolve_activation(activation)
        dtype = _dtype_of(x)
        x, w, y, dy = _c(x, dtype), _c(w, dtype), _c(y, dtype), _c(dy, dtype)
        preact = self._preact(preact, activation, dtype)
        dz = _out(dz, dy.shape, dtype)
        dw = _out(dw, w.shape, dtype)
        db = _out(db, (w.shape[1],), dtype) if need_db else None
        dx = _out(dx, x.shape, dtype) if need_dx else None
        flops = 2.0 * x.shape[0] * x.shape[1] * w.shape[1] * (2 if need_dx else 1)
        with blas_single_thread(flops):
            _kernels.dense_backward(x, w, y, dy, preact, dz, dw, db, dx,
                                    ACTIVATION_CODES[activation],
                                    resolve_alpha(activation, alpha))
        return dw, db, dx

    # ------------------------------------------------------------------ losses
    def loss(self, name, pred, target, sample_weight=None, grad=None, delta=1.0):
        if name not in LOSSES:
            raise ValueError(f"name: unknown loss {name!r}. Supported losses are {list(LOSSES)}.")
        dtype = _dtype_of(pred)
        pred = _c(pred, dtype)
        target_arr = np.asarray(target)
        labels = None
        if target_arr.ndim == 1 and name.startswith("categorical"):
            labels = np.ascontiguousarray(target_arr, dtype=np.int64)
            target_arr = None
        else:
            target_arr = _c(target_arr, dtype)
        weight = None if sample_weight is None else _c(sample_weight, dtype)
        grad = _out(grad, pred.shape, dtype)
        row_loss = np.empty(pred.shape[0], dtype=np.float64)
        value = _kernels.loss(LOSS_CODES[name], pred, target_arr, labels, weight, grad,
                              row_loss, float(delta), PROBABILITY_EPSILON)
        return float(value), grad

    # -------------------------------------------------------------- optimizers
    def sgd_update(self, param, grad, velocity, lr, momentum=0.0, nesterov=False,
                   weight_decay=0.0):
        param = _flat_inplace(param, "param")
        grad = _c(grad, param.dtype).reshape(-1)
        if momentum != 0.0:
            velocity = _flat_inplace(velocity, "velocity", param.dtype)
        else:
            velocity = None
        _kernels.sgd_update(param, grad, velocity, float(lr), float(momentum), bool(nesterov),
                            float(weight_decay))

    def adam_update(self, param, grad, m, v, v_max, step, lr, beta_1, beta_2, epsilon,
                    weight_decay=0.0, decoupled=False, amsgrad=False):
        param = _flat_inplace(param, "param")
        grad = _c(grad, param.dtype).reshape(-1)
        m = _flat_inplace(m, "m", param.dtype)
        v = _flat_inplace(v, "v", param.dtype)
        v_max = _flat_inplace(v_max, "v_max", param.dtype) if amsgrad else None
        _kernels.adam_update(param, grad, m, v, v_max, float(lr), float(beta_1), float(beta_2),
                             float(epsilon), int(step), float(weight_decay),
                             bool(decoupled), bool(amsgrad))

    def rmsprop_update(self, param, grad, mean_square, lr, rho, epsilon, momentum=0.0,
                       velocity=None, centered=False, mean_grad=None, weight_decay=0.0):
        param = _flat_inplace(param, "param")
        grad = _c(grad, param.dtype).reshape(-1)
        mean_square = _flat_inplace(mean_square, "mean_square", param.dtype)
        velocity = _flat_inplace(velocity, "velocity", param.dtype) if momentum > 0 else None
        mean_grad = _flat_inplace(mean_grad, "mean_grad", param.dtype) if centered else None
        _kernels.rmsprop_update(param, grad, mean_square, velocity, mean_grad, float(lr),
                                float(rho), float(epsilon), float(momentum), bool(centered),
                                float(weight_decay))

    def adagrad_update(self, param, grad, accumulator, lr, epsilon, weight_decay=0.0):
        param = _flat_inplace(param, "param")
        grad = _c(grad, param.dtype).reshape(-1)
        accumulator = _flat_inplace(accumulator, "accumulator", param.dtype)
        _kernels.adagrad_update(param, grad, accumulator, float(lr), float(epsilon),
                                float(weight_decay))

    def add_penalty_gradient(self, grad, param, l1=0.0, l2=0.0):
        grad = _flat_inplace(grad, "grad")
        _kernels.add_penalty_gradient(grad, _c(param, grad.dtype).reshape(-1), float(l1),
                                      float(l2))

    def penalty(self, param, l1=0.0, l2=0.0):
        flat = _c(param, _dtype_of(param)).reshape(-1)
        value = 0.0
        if l1:
            value += l1 * _kernels.sum_of_abs(flat)
        if l2:
            value += l2 * _kernels.sum_of_squares(flat)
        return float(value)

    def global_norm(self, arrays):
        total = 0.0
        for array in arrays:
            total += _kernels.sum_of_squares(_c(array, _dtype_of(array)).reshape(-1))
        return math.sqrt(total)

    def scale_(self, x, factor):
        _kernels.scale_inplace(_flat_inplace(x, "x"), float(factor))

    def clip_(self, x, limit):
        _kernels.clip_inplace(_flat_inplace(x, "x"), float(limit))

    # ----------------------------------------------------------------- dropout
    def dropout_mask(self, shape, rate, seed, step, layer, dtype):
        out = np.empty(shape, dtype=dtype)
        _kernels.dropout(out.reshape(-1), None, seed & MASK64, step & MASK64, layer & MASK64,
                         float(rate))
        return out

    def dropout_forward(self, x, rate, seed, step, layer, out=None):
        dtype = _dtype_of(x)
        x = _c(x, dtype)
        out = _out(out, x.shape, dtype)
        _kernels.dropout(out.reshape(-1), x.reshape(-1), seed & MASK64, step & MASK64,
                         layer & MASK64, float(rate))
        return out

    def dropout_backward(self, dy, rate, seed, step, layer, out=None):
        return self.dropout_forward(dy, rate, seed, step, layer, out=out)
