"""The CPU backend's training plan: a whole epoch in one call into Cython.

:class:`FusedCPUPlan` keeps the buffers of :class:`mlp.backends.plan.TrainingPlan` and hands
pointers to them to ``mlp.kernels._kernels.FusedPlan``, which runs gather, forward, loss, backward,
regularization, clipping and the optimizer update for every batch without the GIL. The
arithmetic is the same kernels the step-by-step plan calls, in the same order.
"""
from __future__ import annotations

import numpy as np

from .._threading import needs_pinning
from ..kernels import _kernels
from .plan import TrainingPlan, batch_count
from .spec import PROBABILITY_EPSILON
from .codes import ACTIVATION_CODES, LOSS_CODES, OPTIMIZER_CODES, STEP_CODES

_SLOT_ORDER = {  # the state buffers s1, s2, s3 of the C plan, by update rule
    "sgd": ("velocity",),
    "adam": ("m", "v", "v_max"),
    "rmsprop": ("mean_square", "velocity", "mean_grad"),
    "adagrad": ("accumulator",),
}


def _loss_code(kernel) -> int:
    """The kernel code of a backend loss; -1 for an inference plan, which computes none."""
    if kernel is None:
        return -1
    if kernel not in LOSS_CODES:  # never a silent default: code 0 would train as MSE
        raise ValueError(f"loss_kernel: expected one of {list(LOSS_CODES)} or None, got "
                         f"{kernel!r}")
    return LOSS_CODES[kernel]


class FusedCPUPlan(TrainingPlan):
    """A :class:`~mlp.backends.plan.TrainingPlan` whose epochs, batches and inference run in
    ``_kernels.FusedPlan``."""

    def workspace_bytes(self, rows: int) -> int:
        extra = rows * ((self.steps[0].in_dim + self.steps[-1].out_dim + 1) * self.dtype.itemsize
                        + 16)
        return super().workspace_bytes(rows) + extra

    def _allocate(self, rows: int) -> None:
        super()._allocate(rows)
        in_dim = self.steps[0].in_dim
        out_dim = self.steps[-1].out_dim
        self._workspaces = {
            "xb": np.zeros((rows, in_dim), self.dtype),
            "tb": np.zeros((rows, out_dim), self.dtype),
            "lb": np.zeros(rows, np.int64),
            "wb": np.zeros(rows, self.dtype),
            "row_loss": np.zeros(rows, np.float64),
        }
        self._configured_with = None

    def _slots(self):
        if self.optimizer is None:
            return (None, None, None), {"kind": 0}
        spec = self.optimizer.kernel_spec()  # the optimizer was built with the plan
        kind = spec["kind"]
        spec.update(kind=OPTIMIZER_CODES[kind], clipvalue=self.optimizer.clipvalue,
                    clipnorm=self.optimizer.clipnorm,
                    global_clipnorm=self.optimizer.global_clipnorm)
        slots = tuple(self.optimizer.slots.get(name) for name in _SLOT_ORDER[kind])
        return slots + (None,) * (3 - len(slots)), spec

    def _ensure_configured(self) -> None:
        """(Re)build the C plan when a buffer it points to was replaced."""
        if self.optimizer is None and self._configured_with == id(self.params):
            return  # an inference plan points at the parameters and its workspaces only
        slots, spec = self._slots()
        key = (id(self.params), id(self.grads)) + tuple(id(s) for s in slots) + tuple(
            sorted((k, repr(v)) for k, v in spec.items()))
        if key == self._configured_with:
            return
        if any(step.host_activation is not None for step in self.steps):
            raise ValueError("steps: the whole-epoch plan cannot run a custom (Python) "
                             "activation; the step-by-step TrainingPlan runs it")
        steps = []
        for step, out, preact, dout, stats in zip(self.steps, self.outputs, self.preacts,
                                                  self.output_grads, self.stats):
            offsets = [s.start for s in step.param_slices] + [0, 0]
            if step.is_norm and not step.scale:  # beta comes first
                offsets = [0] + offsets
            state = [s.start for s in step.state_slices] + [0, 0]
            steps.append({
                "kind": STEP_CODES[step.kind], "index": step.index, "in_dim": step.in_dim,
                "out_dim": step.out_dim, "act": ACTIVATION_CODES[step.activation],
                "alpha": step.alpha, "rate": step.rate, "seed": step.seed,
                "need_dx": step.need_dx, "use_bias": step.use_bias, "l1": step.l1,
                "l2": step.l2, "bl1": step.bias_l1, "bl2": step.bias_l2, "w_off": offsets[0],
                "b_off": offsets[1] if step.use_bias else 0,
                "out": out, "preact": preact, "dout": dout,
                "scale": step.scale, "training": step.trainable, "momentum": step.momentum,
                "epsilon": step.epsilon, "m_off": state[0], "v_off": state[1], "stats": stats,
            })
        if self.optimizer is None:
            key = id(self.params)
        plan = _kernels.FusedPlan()
        plan.configure(steps, self.params, self.grads, slots, spec, self.segments,
                       _loss_code(self.loss_kernel), self.delta,
                       PROBABILITY_EPSILON, self._workspaces,
                       None if self.update_ranges is None else list(self.update_ranges))
        self._c_plan = plan
        self._configured_with = key

    def train_epoch(self, x, target, weight, order, batch_size, outputs, hooks=None,
                    loss_sum=0.0):
        if batch_size > self.batch_size:
            raise ValueError(f"batch_size: the plan holds {self.batch_size} rows, got {batch_size}")
        order = np.ascontiguousarray(order, dtype=np.int64)
        if hooks is None:
            return self._run(x, target, weight, order, batch_size, outputs, loss_sum), len(order)
        total, seen = loss_sum, 0
        for batch, begin in enumerate(range(0, len(order), batch_size)):
            part = order[begin:begin + batch_size]
            hooks.begin(batch)
            before = total
            total = self._run(x, target, weight, part, batch_size, outputs[begin:], total)
            seen += len(part)
            if hooks.end(batch, (total - before) / len(part)):
                break
        return total, seen

    def _run(self, x, target, weight, order, batch_size, outputs, loss_sum=0.0) -> float:
        """One call into C for the batches of ``order``; returns ``loss_sum`` plus each batch's
        loss times its rows."""
        self._ensure_configured()
        optimizer = self.optimizer
        n_batches = batch_count(len(order), batch_size)
        start = optimizer.iterations
        lrs = optimizer.learning_rates(start, n_batches)
        labels = target if target.ndim == 1 else None
        total = self._c_plan.train_epoch(x, None if labels is not None else target, labels,
                                         weight, order, batch_size, outputs, lrs, start + 1,
                                         loss_sum)
        optimizer.iterations = start + n_batches
        return total

    def train_batch(self, x, target, weight) -> float:
        rows = x.shape[0]
        if rows > self.batch_size:
            self._allocate(rows)
            self.batch_size = rows
        order = np.arange(rows, dtype=np.int64)
        outputs = self.outputs[-1]
        # the epoch kernel records outputs into a caller buffer; record into the last workspace
        scratch = np.empty((rows, self.steps[-1].out_dim), self.dtype)
        total = self._run(x, target, weight, order, rows, scratch)
        outputs[:rows] = scratch
        return total / rows

    def predict_small(self, x):
        rows = x.shape[0]
        if (rows > self.batch_size or x.dtype != self.dtype
                or x.shape[1] != self.steps[0].in_dim or not x.flags.c_contiguous
                or self.optimizer is not None or needs_pinning(self.flops(rows))):
            return None
        try:
            token = self._token.pop()  # the workspaces (see TrainingPlan._exclusive)
        except IndexError:  # another thread uses them: the general path waits its turn
            return None
        try:
            self._ensure_configured()
            result = np.empty((rows, self.steps[-1].out_dim), self.dtype)
            # non-finite inputs fall through to the general path, which reports them
            return result if self._c_plan.forward(x, rows, result, True) else None
        finally:
            self._token.append(token)

    def predict(self, x, batch_size):
        rows = x.shape[0]
        result = np.empty((rows, self.steps[-1].out_dim), self.dtype)
        with self._exclusive():
            self._inference_rows(batch_size, rows)
            self._ensure_configured()
            self._c_plan.forward(x, rows, result)
        return result
