"""The training plan of a compiled model (DESIGN.md section 4): its buffers and loops.

``compile()`` turns the layer list into :class:`Step` descriptions (:mod:`mlp.training.plan`)
and the model's backend into a plan (:meth:`Backend.make_plan
<mlp.backends.base.Backend.make_plan>`): gradient and optimizer-state buffers over the model's
flat parameter buffer, and activation workspaces sized for the batch, allocated once.
:class:`TrainingPlan` runs every step through the backend's operations from Python and works on
every backend; the CPU backend's plan (:mod:`mlp.backends.cpu_plan`) runs a whole epoch in one
call into Cython instead, with the same arithmetic.
"""
from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, List, Optional, Tuple, Union

import numpy as np

from .spec import ACTIVATIONS_NEEDING_PREACTIVATION, LOSSES

HostLoss = Callable[[np.ndarray, np.ndarray, Optional[np.ndarray]], Tuple[float, np.ndarray]]
"""A loss computed in Python on host arrays: ``f(pred, target, sample_weight) -> (value,
gradient)``, reduced as the backend losses reduce (a custom loss; see :mod:`mlp.nn.losses`)."""


def batch_count(rows: int, batch_size: int) -> int:
    """The number of batches of at most ``batch_size`` rows that ``rows`` rows make."""
    return -(-rows // batch_size)


@dataclass
class Step:
    """One compute layer as a plan runs it (described by :func:`mlp.training.plan.build_steps`)."""

    kind: str                      # "dense", "dropout", "activation", "batchnorm",
    #                                "layernorm" or "noise" (Gaussian, stddev in ``rate``;
    #                                the step-by-step plan only)
    index: int                     # position among the compute layers (the dropout hash's layer)
    in_dim: int
    out_dim: int
    activation: str = "linear"     # the activation applied while training
    alpha: float = 0.0
    rate: float = 0.0
    seed: int = 0
    need_dx: bool = True
    use_bias: bool = False
    l1: float = 0.0                # the kernel regularizer
    l2: float = 0.0
    bias_l1: float = 0.0           # the bias regularizer
    bias_l2: float = 0.0
    param_slices: List[slice] = field(default_factory=list)  # kernel, then bias, in the flat buffer
    trainable: bool = True         # False: a frozen layer, its parameters never updated
    host_activation: Any = None    # a custom activation (call(z), gradient(z, y) on NumPy
    #                                arrays) applied after the step; ``activation`` is linear
    # normalization steps: gamma (``scale``) then beta (``use_bias``) in ``param_slices``; the
    # moving mean and variance of batch normalization in ``state_slices``, never trained. A
    # batchnorm step that is not ``trainable`` runs in inference mode (Keras 3).
    scale: bool = False
    momentum: float = 0.0
    epsilon: float = 0.0
    state_slices: List[slice] = field(default_factory=list)

    def penalties(self) -> List[Tuple[slice, float, float]]:
        """``(slice of the flat buffer, l1, l2)`` of each regularized tensor of this step: the
        kernel and bias of a dense step, gamma and beta of a normalization step."""
        terms = []
        if self.l1 or self.l2:
            terms.append((self.param_slices[0], self.l1, self.l2))
        if self.use_bias and (self.bias_l1 or self.bias_l2):
            bias = int(self.scale) if self.is_norm else 1
            terms.append((self.param_slices[bias], self.bias_l1, self.bias_l2))
        return terms

    @property
    def needs_preact(self) -> bool:
        """Whether the step keeps a second (rows, out_dim) workspace: the pre-activation of a
        dense step, the normalized input of a normalization step."""
        return self.is_norm or (self.kind == "dense" and (
            self.activation in ACTIVATIONS_NEEDING_PREACTIVATION
            or self.host_activation is not None))

    @property
    def is_norm(self) -> bool:
        return self.kind in NORM_KINDS

    def stats_size(self, rows: int) -> int:
        """Entries of the step's inverse standard deviations: one per feature (batchnorm),
        one per row (layernorm), none otherwise."""
        return {"batchnorm": self.out_dim, "layernorm": rows}.get(self.kind, 0)


NORM_KINDS = ("batchnorm", "layernorm")


def trained_ranges(steps: List[Step], n_params: int) -> Optional[List[Tuple[int, int]]]:
    """The ``(start, stop)`` ranges of the flat buffer the optimizer updates: ``None`` (all of
    it) when no layer is frozen and none keeps state, else the trainable layers' tensors,
    adjacent ones merged."""
    if all(step.trainable and not step.state_slices for step in steps):
        return None
    ranges: List[Tuple[int, int]] = []
    for step in steps:
        if not step.trainable:
            continue
        for part in step.param_slices:
            if ranges and ranges[-1][1] == part.start:
                ranges[-1] = (ranges[-1][0], part.stop)
            elif part.stop > part.start:
                ranges.append((part.start, part.stop))
    return ranges


class BatchHooks:
    """Per-batch callbacks of the epoch loop (the per-batch path of ``fit``)."""

    def begin(self, batch: int) -> None:
        """Called before batch ``batch``."""

    def end(self, batch: int, loss: float) -> bool:
        """Called after batch ``batch`` with its loss; return ``True`` to stop the epoch."""
        return False


class TrainingPlan:
    """Buffers and the training / inference loops of one compiled model, on any backend: every
    step through the backend's operations (the default of :meth:`Backend.make_plan
    <mlp.backends.base.Backend.make_plan>`).

    Parameters
    ----------
    backend : Backend
    steps : list of Step
    params, grads : flat parameter and gradient buffers of the model's dtype
    loss_kernel : str, HostLoss or None
        The backend loss computed on the last step's output (one of ``LOSSES``); a
        :data:`HostLoss` callable, run on host copies of each batch (a custom loss in Python);
        or ``None`` for an inference plan that computes no loss.
    optimizer : mlp.optimizers.Optimizer
        Already built for ``params.size`` parameters (``None`` with ``grads`` for an
        inference-only plan).
    batch_size : int
        Rows of the workspaces; smaller (last) batches use their leading rows.
    delta : float
        The Huber threshold.
    """

    fused: Optional[str] = None
    """The output activation folded into the loss (set by the trainer), or ``None``."""

    mask_rows: Optional[Tuple[int, int]] = None
    """``(offset, total)`` when the batches trained are rows ``offset:offset + rows`` of larger
    batches of ``total`` rows (a shard of data-parallel training): dropout masks and noise are
    then those of the larger batch. ``None``: each batch is a batch."""

    def __init__(self, backend, steps: List[Step], params, grads,
                 loss_kernel: Union[str, HostLoss, None], optimizer, batch_size: int,
                 delta: float = 1.0):
        if not (loss_kernel is None or callable(loss_kernel) or loss_kernel in LOSSES):
            raise ValueError(f"loss_kernel: expected one of {list(LOSSES)}, a host loss "
                             f"callable or None, got {loss_kernel!r}")
        self.backend = backend
        self.steps = steps
        self.params = params
        self.grads = grads
        self.loss_kernel = loss_kernel
        self.optimizer = optimizer
        self.batch_size = batch_size
        self.delta = delta
        self.dtype = params.dtype
        # inference: whoever holds the one token uses the workspaces (see _exclusive)
        self._token = [object()]
        self._lock = threading.Lock()
        # the trained tensors (clipnorm clips each) and the ranges the optimizer updates:
        # None (the whole buffer) unless some layers are frozen
        self.segments = [(s.start, s.stop) for step in steps if step.trainable
                         for s in step.param_slices]
        self.update_ranges = trained_ranges(steps, int(params.shape[0]))
        self._flops_per_row = sum(2.0 * step.in_dim * step.out_dim for step in steps
                                  if step.kind == "dense")
        self._allocate(batch_size)

    # ----------------------------------------------------------------- buffers
    def workspace_bytes(self, rows: int) -> int:
        """Bytes of the workspaces :meth:`_allocate` makes for ``rows`` rows."""
        per_row = sum(step.out_dim * (3 if step.needs_preact else 2) for step in self.steps)
        stats = sum(step.stats_size(rows) for step in self.steps)
        return (rows * per_row + stats) * self.dtype.itemsize

    def _allocate(self, rows: int) -> None:
        self.backend.check_allocation("batch_size", self.workspace_bytes(rows),
                                      f"{rows} rows", "a batch size")
        zeros = self.backend.zeros
        self.outputs = [zeros((rows, step.out_dim), self.dtype) for step in self.steps]
        self.preacts = [zeros((rows, step.out_dim), self.dtype) if step.needs_preact else None
                        for step in self.steps]
        self.output_grads = [zeros((rows, step.out_dim), self.dtype) for step in self.steps]
        # the inverse standard deviations of each normalization step
        self.stats = [zeros((step.stats_size(rows),), self.dtype) if step.is_norm else None
                      for step in self.steps]

    def param_views(self, step: Step, flat) -> Tuple:
        """The (kernel, bias) views of ``flat`` (params or grads) for a dense step."""
        kernel = flat[step.param_slices[0]].reshape(step.in_dim, step.out_dim)
        bias = flat[step.param_slices[1]] if step.use_bias else None
        return kernel, bias

    def norm_views(self, step: Step, flat) -> Tuple:
        """The (gamma, beta) views of ``flat`` (params or grads) for a normalization step;
        ``None`` for those the layer has not."""
        parts = iter(step.param_slices)
        gamma = flat[next(parts)] if step.scale else None
        beta = flat[next(parts)] if step.use_bias else None
        return gamma, beta

    # ---------------------------------------------------------------- training
    def _norm_forward(self, step: Step, x, out, xhat, stats, training: bool) -> None:
        gamma, beta = self.norm_views(step, self.params)
        if step.kind == "layernorm":
            self.backend.layer_norm_forward(x, gamma, beta, step.epsilon, out=out,
                                            xhat=xhat if training else None, inv_std=stats)
            return
        mean, variance = (self.params[part] for part in step.state_slices)
        self.backend.batch_norm_forward(x, gamma, beta, mean, variance, step.momentum,
                                        step.epsilon, training=training and step.trainable,
                                        out=out, xhat=xhat if training else None,
                                        inv_std=stats)

    def _norm_backward(self, step: Step, dy, xhat, stats, dx) -> None:
        gamma, _ = self.norm_views(step, self.params)
        dgamma, dbeta = self.norm_views(step, self.grads)
        trained = step.trainable
        need_dx = dx is not None and step.need_dx
        if not (trained or need_dx):
            return
        flags = dict(dgamma=dgamma, dbeta=dbeta, dx=dx, need_dx=need_dx,
                     need_dgamma=trained and step.scale, need_dbeta=trained and step.use_bias)
        if step.kind == "layernorm":
            self.backend.layer_norm_backward(dy, xhat, gamma, stats, **flags)
        else:
            self.backend.batch_norm_backward(dy, xhat, gamma, stats, training=trained, **flags)

    def forward(self, x, rows: int, training: bool, step_number: int = 0):
        """Run the layers on ``x`` (``rows`` rows) into the workspaces; return the last output.

        ``training`` runs batch normalization on the batch's statistics and updates its moving
        statistics (except in frozen layers)."""
        backend = self.backend
        current = x
        for step, out, preact, stats in zip(self.steps, self.outputs, self.preacts, self.stats):
            out = out[:rows]
            if step.is_norm:
                self._norm_forward(step, current, out, preact[:rows],
                                   stats[:rows] if step.kind == "layernorm" else stats, training)
            elif step.kind == "dense" and step.host_activation is not None:
                kernel, bias = self.param_views(step, self.params)
                backend.dense_forward(current, kernel, bias, "linear", out=preact[:rows])
                out[...] = self._host_forward(step, preact[:rows])
            elif step.kind == "dense":
                kernel, bias = self.param_views(step, self.params)
                backend.dense_forward(current, kernel, bias, step.activation, step.alpha, out=out,
                                      preact=None if preact is None else preact[:rows])
            elif step.kind == "dropout":
                if training and step.rate > 0:
                    self._dropout(step, step_number, current, out)
                else:
                    out[...] = current
            elif step.kind == "noise":
                out[...] = current
                if training and step.rate > 0:
                    out += self._noise(step, step_number, tuple(out.shape))
            elif step.host_activation is not None:
                out[...] = self._host_forward(step, current)
            else:
                backend.activation_forward(current, step.activation, step.alpha, out=out)
            current = out
        return current

    def backward(self, x, rows: int, step_number: int) -> None:
        """Backpropagate ``output_grads[-1]`` into ``grads`` (regularizer gradients included)."""
        backend = self.backend
        for position in range(len(self.steps) - 1, -1, -1):
            step = self.steps[position]
            dy = self.output_grads[position][:rows]
            x_in = x if position == 0 else self.outputs[position - 1][:rows]
            dx = self.output_grads[position - 1][:rows] if position > 0 else None
            y = self.outputs[position][:rows]
            if step.kind == "dense":
                kernel, _ = self.param_views(step, self.params)
                dkernel, dbias = self.param_views(step, self.grads)
                preact = self.preacts[position]
                if step.host_activation is not None:  # dz = dy * f'(z), then a linear step
                    dy[...] = self._host_backward(step, dy, preact[:rows], y)
                    preact = None
                backend.dense_backward(x_in, kernel, y, dy, step.activation, step.alpha,
                                       preact=None if preact is None else preact[:rows],
                                       dw=dkernel, db=dbias, dx=dx,
                                       need_dx=step.need_dx and dx is not None,
                                       need_db=step.use_bias, dz=dy)
                for part, l1, l2 in step.penalties():
                    backend.add_penalty_gradient(self.grads[part], self.params[part], l1, l2)
            elif step.is_norm:
                stats = self.stats[position]
                self._norm_backward(step, dy, self.preacts[position][:rows],
                                    stats[:rows] if step.kind == "layernorm" else stats, dx)
                for part, l1, l2 in step.penalties():
                    backend.add_penalty_gradient(self.grads[part], self.params[part], l1, l2)
            elif dx is None or not step.need_dx:
                continue
            elif step.kind == "noise":
                dx[...] = dy
            elif step.kind == "dropout":
                if step.rate > 0:
                    self._dropout(step, step_number, dy, dx, backward=True)
                else:
                    dx[...] = dy
            elif step.host_activation is not None:
                dx[...] = self._host_backward(step, dy, x_in, y)
            else:
                backend.activation_backward(dy, y, x_in, step.activation, step.alpha, out=dx)

    def _dropout(self, step: Step, step_number: int, source, out,
                 backward: bool = False) -> None:
        """``out = source * mask`` of a dropout step (forward and backward use the same mask).

        With :attr:`mask_rows` set, the mask is that of the rows ``offset:offset + rows`` of a
        batch of ``total`` rows, so that a shard of a batch is masked as the whole batch is."""
        if self.mask_rows is None:
            apply = self.backend.dropout_backward if backward else self.backend.dropout_forward
            apply(source, step.rate, step.seed, step_number, step.index, out=out)
            return
        offset, total = self.mask_rows
        mask = self.backend.dropout_mask((total, step.out_dim), step.rate, step.seed,
                                         step_number, step.index, self.dtype)
        out[...] = source * mask[offset:offset + source.shape[0]]

    def _noise(self, step: Step, step_number: int, shape: Tuple[int, int]):
        """The Gaussian noise a noise step adds to a batch (rows of a whole batch with
        :attr:`mask_rows`, as for dropout)."""
        rng = np.random.default_rng([step.seed, step_number, step.index])
        if self.mask_rows is None:
            noise = rng.normal(0.0, step.rate, shape)
        else:
            offset, total = self.mask_rows
            noise = rng.normal(0.0, step.rate, (total, shape[1]))[offset:offset + shape[0]]
        return self.backend.asarray(noise, dtype=self.dtype)

    def _host_forward(self, step: Step, z):
        """A custom activation of ``z``, run on a host copy, back on the device."""
        y = np.asarray(step.host_activation.call(np.array(self.backend.to_numpy(z))))
        if y.shape != tuple(z.shape):
            raise ValueError(f"{step.host_activation!r}.call: expected shape {tuple(z.shape)} "
                             f"like z, got {y.shape}")
        return self.backend.asarray(y, dtype=self.dtype)

    def _host_backward(self, step: Step, dy, z, y):
        """``dy * f'(z)`` of a custom activation, run on host copies, back on the device."""
        to_numpy = self.backend.to_numpy
        grad = np.asarray(step.host_activation.gradient(np.array(to_numpy(z)),
                                                        np.array(to_numpy(y))))
        if grad.shape != tuple(z.shape):
            raise ValueError(f"{step.host_activation!r}.gradient: expected shape "
                             f"{tuple(z.shape)} like z, got {grad.shape}")
        return self.backend.asarray(np.asarray(to_numpy(dy)) * grad, dtype=self.dtype)

    def penalty(self) -> float:
        """The regularization term added to the loss."""
        return sum(self.backend.penalty(self.params[part], l1, l2)
                   for step in self.steps for part, l1, l2 in step.penalties())

    def train_batch(self, x, target, weight, sync: bool = True):
        """One optimizer step on one batch; returns the batch loss (with regularization).

        ``sync=False`` (backends that keep the loss on the device: the GPU) returns the loss as a
        0-d device array instead of a float, so the step never waits for the GPU.
        """
        value = self.compute_gradients(x, target, weight, sync)
        if sync:
            value += self.penalty()
        else:
            for step in self.steps:
                for part, l1, l2 in step.penalties():
                    value = value + self.backend.penalty_on_device(self.params[part], l1, l2)
        self.apply_gradients()
        return value

    def compute_gradients(self, x, target, weight, sync: bool = True):
        """Forward, loss and backward on one batch: the gradients of the batch loss (its
        regularization terms included) in :attr:`grads`. Returns the batch loss *without* the
        regularization terms (:meth:`penalty`): a float, or with ``sync=False`` a 0-d device
        array."""
        rows = x.shape[0]
        step_number = self.optimizer.iterations
        output = self.forward(x, rows, training=True, step_number=step_number)
        if sync or callable(self.loss_kernel):
            value, _ = self._loss(output, target, weight, grad=self.output_grads[-1][:rows])
        else:
            value, _ = self.backend.loss_on_device(self.loss_kernel, output, target, weight,
                                                   grad=self.output_grads[-1][:rows],
                                                   delta=self.delta)
        self.backward(x, rows, step_number)
        return value

    def apply_gradients(self) -> None:
        """The optimizer's step with the gradients in :attr:`grads`."""
        self.optimizer.update(self.backend, self.params, self.grads, self.segments,
                              ranges=self.update_ranges)

    def loss_and_gradient(self, x, target, weight) -> float:
        """The loss of one batch (regularization included) at the current parameters, with its
        gradient written into ``grads``; the optimizer is not touched, and of the parameters
        only the moving statistics of batch normalization change (a training-mode step).

        The forward pass runs in training mode at the optimizer's current step (dropout masks
        as the next training step would draw them). For full-batch optimizers outside the
        engine (``scipy.optimize``, see :mod:`mlp.sklearn`).
        """
        return float(self.compute_gradients(x, target, weight)) + self.penalty()

    def train_epoch(self, x, target, weight, order, batch_size: int, outputs,
                    hooks: Optional[BatchHooks] = None,
                    loss_sum: float = 0.0) -> Tuple[float, int]:
        """Train on ``x[order]`` in batches; write each sample's output to ``outputs``.

        ``outputs[k]`` receives the training-time output for sample ``order[k]``. ``hooks``
        (optional) are called before and after each batch; ``hooks.end`` may return ``True``
        to stop the epoch early. Returns (``loss_sum`` plus each batch's loss times its rows,
        samples seen): an epoch run in parts that pass the sum along adds exactly as one call.
        """
        if hasattr(x, "__cuda_array_interface__"):  # data on the GPU: gather the batches there
            order = self.backend.asarray(np.asarray(order, dtype=np.int64))
        # without per-batch hooks, a GPU backend sums the batch losses on the device and the
        # sum is read once, at the end (the same double additions, so parts still add exactly)
        sync = hooks is not None or not self.backend.keeps_loss_on_device
        total, seen = loss_sum, 0
        for batch, begin in enumerate(range(0, len(order), batch_size)):
            idx = order[begin:begin + batch_size]
            rows = int(idx.shape[0])
            if hooks is not None:
                hooks.begin(batch)
            value = self.train_batch(x[idx], target[idx],
                                     None if weight is None else weight[idx], sync=sync)
            outputs[begin:begin + rows] = self.outputs[-1][:rows]
            total += value * rows
            seen += rows
            if hooks is not None and hooks.end(batch, value):
                break
        return float(total), seen

    def flops(self, rows: int) -> float:
        """GEMM work of a forward pass over ``rows`` rows (decides whether to pin BLAS)."""
        return rows * self._flops_per_row

    # --------------------------------------------------------------- inference
    @contextlib.contextmanager
    def _exclusive(self):
        """Exclusive use of the workspaces for inference: callers queue on a lock, then take
        the token, which :meth:`predict_small` of a backend takes without waiting (a list
        ``pop``, atomic, ~5x cheaper than a lock) and holds for microseconds."""
        with self._lock:
            while True:
                try:
                    token = self._token.pop()
                    break
                except IndexError:
                    time.sleep(0)
            try:
                yield
            finally:
                self._token.append(token)

    def predict(self, x, batch_size: int):
        """Inference outputs (dropout off, training activations) for all rows of ``x``.

        Safe from several threads at once: callers take turns on the plan's workspaces, so
        each gets the result a call alone would.
        """
        rows = x.shape[0]
        result = self.backend.empty((rows, self.steps[-1].out_dim), self.dtype)
        with self._exclusive():
            chunk = self._inference_rows(batch_size, rows)
            for begin in range(0, rows, chunk):
                part = x[begin:begin + chunk]
                result[begin:begin + part.shape[0]] = self.forward(part, part.shape[0], False)
        return result

    def predict_small(self, x) -> Optional[object]:
        """Inference for a few rows that need no conversion, chunking or BLAS pinning, with
        as little Python as possible; ``x`` is a 2-D NumPy array with at least one row.
        ``None`` when ``x`` does not qualify (the caller then takes the general path).
        Backends without such a path always return ``None``."""
        return None

    def _inference_rows(self, batch_size: int, rows: int) -> int:
        """Rows per inference chunk. An inference-only plan grows its workspaces to the
        requested batch; a training plan keeps them (fit's validation must not replace them)."""
        chunk = min(max(batch_size, 1), rows)
        if chunk > self.batch_size and self.optimizer is None:
            self._allocate(chunk)
            self.batch_size = chunk
        return min(chunk, self.batch_size)

    def loss_value(self, outputs, target, weight) -> float:
        """The loss of given outputs (training activations) against targets, with regularization."""
        value, _ = self._loss(outputs, target, weight)
        return value + self.penalty()

    def _loss(self, output, target, weight, grad=None):
        """:meth:`Backend.loss` of the plan's loss; a :data:`HostLoss` runs on host copies and
        its gradient is copied into ``grad``."""
        kernel = self.loss_kernel
        if not callable(kernel):
            return self.backend.loss(kernel, output, target, weight, grad=grad, delta=self.delta)
        to_numpy = self.backend.to_numpy
        value, gradient = kernel(np.array(to_numpy(output), copy=True),
                                 np.array(to_numpy(target), copy=True),
                                 None if weight is None else np.array(to_numpy(weight)))
        if grad is not None:
            grad[...] = self.backend.asarray(gradient, dtype=self.dtype)
        return float(value), grad
