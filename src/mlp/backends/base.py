"""The backend interface: every numerical operation the engine needs, and nothing more.

A backend owns the place where the numbers live (host memory for ``reference`` and ``cpu``,
GPU memory for ``cupy``) and implements each operation below with *identical* signatures.
``reference`` is the readable pure-NumPy oracle; the others must agree with it to floating-point
tolerance. Layers and models call backends only through this interface.

Conventions shared by all backends
----------------------------------
* Matrices are row-major ``(batch, features)``; dense weights are ``(inputs, units)``.
* Operations that take ``out=`` write into it when given (it must be C-contiguous, of the right shape
  and dtype) and return it; otherwise they allocate. Inputs may be in any layout; backends copy to
  C-contiguous when they need to.
* Optimizer updates and the ``*_`` helpers work **in place** on flat 1-D contiguous buffers.
* Losses reduce as Keras' ``"sum_over_batch_size"``: ``value = sum_i w_i * l_i / n_rows`` where
  ``l_i`` is the per-sample loss and ``w_i`` the sample weight (1 when not given).
* Dropout masks come from a counter-based hash of ``(seed, step, layer, element index)``
  (see :func:`dropout_uniform`), so every backend and every thread count draws the same mask.

Optional capabilities
---------------------
What only some backends can do (run a whole epoch in one call, keep the loss on the device, tell
whether data fit on the device, pin host BLAS, ...) is declared here too, with a default every
backend inherits (:meth:`Backend.make_plan`, :meth:`Backend.loss_on_device`,
:meth:`Backend.fits_in_memory`, :meth:`Backend.blas_scope`, ...); a backend that has the
capability overrides it. The trainer calls them as they are and never probes a backend for a
method: this module is all it knows of backends.

Arguments are checked at the public API: the model's checks live in ``mlp.training.inputs``;
the operations here are public too (``get_backend("cpu").dense_forward(...)``), so the host
backends check shapes, dtypes, layouts, sizes and label ranges of their own arguments before any
kernel sees them (:mod:`mlp.backends.checks`), and the kernels trust them.
"""
from __future__ import annotations

import abc
import contextlib
from typing import Any, ContextManager, List, Optional, Sequence, Tuple

import numpy as np

from . import checks
from .plan import BatchHooks, Step, TrainingPlan, batch_count
from .spec import (
    ACTIVATION_ALIASES,
    ACTIVATIONS,
    ACTIVATIONS_NEEDING_PREACTIVATION,
    DEFAULT_ALPHA,
    HASH_STEP,
    LOSSES,
    MASK64,
    PROBABILITY_EPSILON,
    dropout_stream_key,
    dropout_uniform,
    mix64,
    resolve_activation,
    resolve_alpha,
)

_UNCHANGED = contextlib.nullcontext()


class Backend(abc.ABC):
    """Abstract interface implemented by ``reference``, ``cpu`` and ``cupy``.

    Every method is documented here once; implementations repeat only what differs.
    """

    name: str = "abstract"

    # ------------------------------------------------------------------ arrays
    @abc.abstractmethod
    def asarray(self, x: Any, dtype: Any = None) -> Any:
        """Return ``x`` as a C-contiguous array on this backend's device (copying only if needed)."""

    @abc.abstractmethod
    def to_numpy(self, x: Any) -> Any:
        """Return ``x`` as a NumPy array in host memory."""

    @abc.abstractmethod
    def empty(self, shape: Sequence[int], dtype: Any) -> Any:
        """Allocate an uninitialised C-contiguous array."""

    @abc.abstractmethod
    def zeros(self, shape: Sequence[int], dtype: Any) -> Any:
        """Allocate a C-contiguous array of zeros."""

    # -------------------------------------------------------------------- GEMM
    @abc.abstractmethod
    def matmul(self, a, b, out=None, trans_a: bool = False, trans_b: bool = False,
               alpha: float = 1.0, beta: float = 0.0):
        """General matrix product ``out = alpha * op(a) @ op(b) + beta * out``.

        ``op(x)`` is ``x.T`` when the matching ``trans_*`` flag is set. With ``beta != 0`` the
        previous content of ``out`` (which must then be given) is accumulated into.
        """

    # ------------------------------------------------------------- activations
    @abc.abstractmethod
    def activation_forward(self, z, activation: str, alpha: Optional[float] = None, out=None):
        """Apply ``activation`` to the 2-D array ``z``; ``out`` may be ``z`` itself (in place).

        Softmax is taken along the last axis, stabilised by subtracting the row maximum.
        """

    @abc.abstractmethod
    def activation_backward(self, dy, y, z, activation: str, alpha: Optional[float] = None,
                            out=None):
        """Gradient with respect to the pre-activation: ``dz = dy * f'(z)``.

        ``y = f(z)`` is the forward output. ``z`` is needed only for the activations in
        :data:`ACTIVATIONS_NEEDING_PREACTIVATION` and may be ``None`` otherwise. ``out`` may be
        ``dy`` itself (in place). For softmax, ``dz = y * (dy - sum(dy * y, axis=1))``.
        """

    # ------------------------------------------------------------------- dense
    @abc.abstractmethod
    def dense_forward(self, x, w, b, activation: str = "linear", alpha: Optional[float] = None,
                      out=None, preact=None):
        """Fused dense layer: ``out = f(x @ w + b)``.

        Parameters
        ----------
        x : (batch, inputs) array
        w : (inputs, units) array
        b : (units,) array or None
            ``None`` means no bias.
        activation, alpha : see :data:`ACTIVATIONS`, :data:`DEFAULT_ALPHA`.
        out : (batch, units) array, optional
        preact : (batch, units) array, optional
            When given, receives ``z = x @ w + b`` (needed later by ``dense_backward`` for
            activations in :data:`ACTIVATIONS_NEEDING_PREACTIVATION`).
        """

    @abc.abstractmethod
    def dense_backward(self, x, w, y, dy, activation: str = "linear",
                       alpha: Optional[float] = None, preact=None, dw=None, db=None, dx=None,
                       need_dx: bool = True, need_db: bool = True, dz=None
                       ) -> Tuple[Any, Any, Any]:
        """Backward pass of :meth:`dense_forward`.

        Computes ``dz = dy * f'(z)`` fused with the bias gradient ``db = dz.sum(axis=0)``, then
        ``dw = x.T @ dz`` and ``dx = dz @ w.T``.

        Parameters
        ----------
        x, w : the forward inputs.
        y : (batch, units) the forward output ``f(z)``.
        dy : (batch, units) gradient of the loss with respect to ``y``.
        preact : (batch, units) ``z``; required for ``gelu`` / ``swish`` only.
        dw, db, dx : optional output buffers.
        need_dx : bool
            ``False`` skips the ``dx`` GEMM (first layer); ``dx`` is then returned as ``None``.
        need_db : bool
            ``False`` skips the bias gradient (layer without bias); ``db`` is returned as ``None``.
        dz : optional (batch, units) workspace for ``dz``; it may be ``dy`` itself.

        Returns
        -------
        (dw, db, dx)
        """

    # ------------------------------------------------------------------ losses
    @abc.abstractmethod
    def loss(self, name: str, pred, target, sample_weight=None, grad=None, delta: float = 1.0
             ) -> Tuple[float, Any]:
        """Loss value and its gradient with respect to ``pred``, in one pass.

        Parameters
        ----------
        name : one of :data:`LOSSES`.
        pred : (batch, outputs) predictions: values, probabilities or logits as the name says.
        target : (batch, outputs) array of the same dtype, or for the categorical losses a 1-D
            integer array of class indices.
        sample_weight : (batch,) array or None.
        grad : optional (batch, outputs) buffer for the gradient.
        delta : the Huber threshold.

        Per-sample losses ``l_i`` (``e = pred - target``, ``m = outputs``):

        * ``mean_squared_error``: ``mean_j e_ij**2``
        * ``mean_absolute_error``: ``mean_j |e_ij|`` (gradient ``sign(e)``, 0 at 0)
        * ``huber``: ``mean_j (0.5 e**2 if |e| <= delta else delta * (|e| - 0.5 delta))``
        * ``binary_crossentropy``: ``-mean_j [t log p + (1-t) log(1-p)]`` with ``p`` clipped to
          ``[eps, 1-eps]``; gradient ``(p - t) / (p (1 - p))`` evaluated at the clipped ``p``.
        * ``binary_crossentropy_from_logits``: ``mean_j [max(z,0) - z t + log1p(exp(-|z|))]``;
          gradient ``sigmoid(z) - t``.
        * ``categorical_crossentropy``: ``-sum_j t_j log p_j``, ``p`` clipped to ``[eps, 1-eps]``;
          gradient ``-t / p``.
        * ``categorical_crossentropy_from_logits``: ``sum_j t_j (logsumexp(z) - z_j)``;
          gradient ``softmax(z) * sum_j t_j - t``.

        Returns
        -------
        (value, grad) : the weighted mean loss as a Python float and ``d value / d pred``.
        """

    # -------------------------------------------------------------- optimizers
    @abc.abstractmethod
    def sgd_update(self, param, grad, velocity, lr: float, momentum: float = 0.0,
                   nesterov: bool = False, weight_decay: float = 0.0) -> None:
        """SGD step in place (PyTorch's formulation, no dampening).

        ``g = grad + weight_decay * param``; with ``momentum > 0``:
        ``velocity = momentum * velocity + g`` and the step direction is ``g + momentum * velocity``
        (Nesterov) or ``velocity``; without momentum it is ``g`` (``velocity`` may be ``None``).
        ``param -= lr * direction``.
        """

    @abc.abstractmethod
    def adam_update(self, param, grad, m, v, v_max, step: int, lr: float, beta_1: float,
                    beta_2: float, epsilon: float, weight_decay: float = 0.0,
                    decoupled: bool = False, amsgrad: bool = False) -> None:
        """Adam / AdamW / AMSGrad step in place; ``step`` counts from 1.

        ``decoupled=False``: ``g = grad + weight_decay * param`` (L2, Adam);
        ``decoupled=True``: ``param *= 1 - lr * weight_decay`` first and ``g = grad`` (AdamW).
        Then ``m = b1 m + (1-b1) g``; ``v = b2 v + (1-b2) g**2``;
        with AMSGrad ``v_max = max(v_max, v)`` and ``s = v_max`` else ``s = v``;
        ``param -= lr * (m / (1 - b1**step)) / (sqrt(s / (1 - b2**step)) + epsilon)``.
        ``v_max`` may be ``None`` when ``amsgrad`` is false.
        """

    @abc.abstractmethod
    def rmsprop_update(self, param, grad, mean_square, lr: float, rho: float, epsilon: float,
                       momentum: float = 0.0, velocity=None, centered: bool = False,
                       mean_grad=None, weight_decay: float = 0.0) -> None:
        """RMSprop step in place (PyTorch's formulation).

        ``g = grad + weight_decay * param``; ``mean_square = rho ms + (1-rho) g**2``;
        centered: ``mean_grad = rho mg + (1-rho) g`` and ``denom = sqrt(max(ms - mg**2, 0)) + epsilon``
        (rounding can make ``ms - mg**2`` slightly negative),
        else ``denom = sqrt(ms) + epsilon``; with ``momentum > 0``:
        ``velocity = momentum * velocity + g / denom``, ``param -= lr * velocity``;
        otherwise ``param -= lr * g / denom``.
        """

    @abc.abstractmethod
    def adagrad_update(self, param, grad, accumulator, lr: float, epsilon: float,
                       weight_decay: float = 0.0) -> None:
        """Adagrad step in place: ``g = grad + weight_decay * param``; ``acc += g**2``;
        ``param -= lr * g / (sqrt(acc) + epsilon)``."""

    @abc.abstractmethod
    def add_penalty_gradient(self, grad, param, l1: float = 0.0, l2: float = 0.0) -> None:
        """In place: ``grad += l1 * sign(param) + 2 * l2 * param`` (gradient of
        ``l1 * sum|param| + l2 * sum(param**2)``; ``sign(0) = 0``)."""

    @abc.abstractmethod
    def penalty(self, param, l1: float = 0.0, l2: float = 0.0) -> float:
        """``l1 * sum|param| + l2 * sum(param**2)`` as a Python float."""

    @abc.abstractmethod
    def global_norm(self, arrays: Sequence[Any]) -> float:
        """``sqrt(sum of squares of every element of every array)`` as a Python float."""

    @abc.abstractmethod
    def scale_(self, x, factor: float) -> None:
        """In place: ``x *= factor`` (used for clipping by global norm)."""

    @abc.abstractmethod
    def clip_(self, x, limit: float) -> None:
        """In place: ``x = clip(x, -limit, limit)``."""

    # ----------------------------------------------------------------- dropout
    @abc.abstractmethod
    def dropout_mask(self, shape: Tuple[int, int], rate: float, seed: int, step: int,
                     layer: int, dtype: Any):
        """The inverted-dropout mask: ``1 / (1 - rate)`` where kept, ``0`` where dropped.

        Element ``k`` (row-major flat index) is dropped when ``uniform(seed, step, layer, k) < rate``
        with the uniform of :func:`dropout_uniform`. ``rate`` is in ``[0, 1)``.
        """

    @abc.abstractmethod
    def dropout_forward(self, x, rate: float, seed: int, step: int, layer: int, out=None):
        """``out = x * dropout_mask(...)``; ``out`` may be ``x`` itself."""

    @abc.abstractmethod
    def dropout_backward(self, dy, rate: float, seed: int, step: int, layer: int, out=None):
        """``out = dy * dropout_mask(...)``: the same mask regenerated from the hash, not stored."""

    # ----------------------------------------------------------- normalization
    @abc.abstractmethod
    def batch_norm_forward(self, x, gamma, beta, moving_mean, moving_variance,
                           momentum: float = 0.99, epsilon: float = 1e-3, training: bool = True,
                           out=None, xhat=None, inv_std=None):
        """Batch normalization of the (batch, features) array ``x``, per feature (column).

        ``training=True``: with the batch's mean ``m`` and biased variance ``v`` (sums in
        float64, rounded to ``x``'s dtype), ``xhat = (x - m) * inv_std`` with
        ``inv_std = 1 / sqrt(v + epsilon)``, and ``moving_mean`` / ``moving_variance``
        (writeable 1-D buffers of ``x``'s dtype) are updated in place:
        ``moving = moving * momentum + batch * (1 - momentum)``. ``x`` needs at least one row.
        ``training=False``: the moving statistics take the place of ``m`` and ``v`` and are
        left alone. Then ``out = gamma * xhat + beta`` (``gamma`` / ``beta`` ``None`` mean 1 / 0).
        ``xhat`` ((batch, features)) and ``inv_std`` ((features,)), when given, receive those
        values for :meth:`batch_norm_backward`. Returns ``out``.
        """

    @abc.abstractmethod
    def batch_norm_backward(self, dy, xhat, gamma, inv_std, training: bool = True,
                            dgamma=None, dbeta=None, dx=None, need_dgamma: bool = True,
                            need_dbeta: bool = True, need_dx: bool = True
                            ) -> Tuple[Any, Any, Any]:
        """Backward pass of :meth:`batch_norm_forward` from its ``xhat`` and ``inv_std``.

        ``dbeta = sum_rows dy``, ``dgamma = sum_rows dy * xhat`` (in float64, rounded), and with
        ``k = gamma * inv_std`` (``gamma`` ``None``: 1): ``training=True``
        ``dx = k * (dy - dbeta / n - xhat * dgamma / n)`` (the batch statistics depend on
        ``x``), ``training=False`` ``dx = k * dy``. Each ``need_*=False`` skips that output
        (returned as ``None``). Returns ``(dgamma, dbeta, dx)``.
        """

    @abc.abstractmethod
    def layer_norm_forward(self, x, gamma, beta, epsilon: float = 1e-3, out=None, xhat=None,
                           inv_std=None):
        """Layer normalization of each row of the (batch, features) array ``x``: with the
        row's mean and biased variance (sums in float64), ``xhat = (x - mean) * inv_std``,
        ``inv_std = 1 / sqrt(var + epsilon)`` and ``out = gamma * xhat + beta`` (``None``: 1 /
        0). ``xhat`` ((batch, features)) and ``inv_std`` ((batch,)) receive their values when
        given. Returns ``out``."""

    @abc.abstractmethod
    def layer_norm_backward(self, dy, xhat, gamma, inv_std, dgamma=None, dbeta=None, dx=None,
                            need_dgamma: bool = True, need_dbeta: bool = True,
                            need_dx: bool = True) -> Tuple[Any, Any, Any]:
        """Backward pass of :meth:`layer_norm_forward`: ``dbeta = sum_rows dy``,
        ``dgamma = sum_rows dy * xhat`` and, with ``g = dy * gamma`` per row,
        ``dx = inv_std * (g - mean(g) - xhat * mean(g * xhat))`` (means over the row's
        features, in float64). Returns ``(dgamma, dbeta, dx)``, ``None`` where not needed."""


    # ------------------------------------------ optional capabilities, with their defaults
    # A backend that has one overrides the method; the engine never probes for it.
    keeps_loss_on_device: bool = False
    """Whether :meth:`loss_on_device` returns a device scalar the engine should sum on the
    device (read once per epoch) rather than a float per batch (the GPU)."""

    takes_device_arrays: bool = False
    """Whether GPU (CuPy) arrays given to ``fit`` / ``predict`` are accepted as they are."""

    def loss_on_device(self, name: str, pred, target, sample_weight=None, grad=None,
                       delta: float = 1.0) -> Tuple[Any, Any]:
        """:meth:`loss` whose value may stay on the device (a 0-d array); by default a float."""
        return self.loss(name, pred, target, sample_weight, grad=grad, delta=delta)

    def penalty_on_device(self, param, l1: float = 0.0, l2: float = 0.0) -> Any:
        """:meth:`penalty` whose value may stay on the device; by default a float."""
        return self.penalty(param, l1, l2)

    def fits_in_memory(self, nbytes: int, fraction: float = 0.5) -> bool:
        """Whether ``nbytes`` of data fit in ``fraction`` of the device's free memory (host
        memory: always ``True``)."""
        return True

    def synchronize(self) -> None:
        """Wait until the device has finished the work queued so far (host: nothing to wait)."""

    def all_finite(self, array) -> bool:
        """Whether every element of a host float array is finite (the input check of ``fit``)."""
        return bool(np.all(np.isfinite(array)))

    def blas_scope(self, flops: Optional[float] = None) -> ContextManager[None]:
        """A context in which host BLAS runs the way this backend wants it for work of ``flops``
        GEMM flops (``None``: a whole ``fit``). By default BLAS is left as it is."""
        return _UNCHANGED

    update_copies: int = 0
    """Parameter-sized temporaries an optimizer update allocates while it runs (the engine
    counts them before training; fused kernels allocate none)."""

    def check_allocation(self, name: str, nbytes: float, got: str,
                         what: str = "a size") -> None:
        """Refuse, before allocating them, ``nbytes`` of this backend's memory that cannot fit:
        a ``ValueError`` naming the argument ``name``, what came in (``got``) and the bytes. By
        default the limit is the host's memory (:func:`mlp.backends.checks.memory_limit`) and,
        under an address-space limit, what it leaves once the libraries' lazy mappings are
        counted (a :class:`~mlp.backends.checks.AddressSpaceError`, also a ``MemoryError``)."""
        checks.check_bytes(name, nbytes, got, what, for_plan=True)

    def make_plan(self, steps: List[Step], params, grads, loss_kernel: str, optimizer,
                  batch_size: int, delta: float = 1.0) -> TrainingPlan:
        """The training plan of a compiled model on this backend (arguments as
        :class:`~mlp.backends.plan.TrainingPlan`). By default the step-by-step plan, which runs
        every layer through the operations above; a backend may return a faster one of its own
        with the same results (the CPU's runs whole epochs in one call)."""
        return TrainingPlan(self, steps, params, grads, loss_kernel, optimizer, batch_size, delta)


__all__ = ["ACTIVATION_ALIASES", "ACTIVATIONS", "ACTIVATIONS_NEEDING_PREACTIVATION", "Backend",
           "BatchHooks", "DEFAULT_ALPHA", "HASH_STEP", "LOSSES", "MASK64", "PROBABILITY_EPSILON",
           "Step", "TrainingPlan", "batch_count", "dropout_stream_key", "dropout_uniform",
           "mix64", "resolve_activation", "resolve_alpha"]
