"""The trainer: ``compile``, ``fit``, ``evaluate`` and ``predict`` of a model.

As Keras separates its ``Trainer`` from the model classes, :class:`Trainer` holds the training
loop and inference and :class:`mlp.Sequential` (which inherits it) the layers and weights. The
trainer reaches the numbers only through the model's backend (:mod:`mlp.backends.base`) and
the compiled plan (:mod:`mlp.training.plan`); arrays from the user are checked once, here, at
the boundary (:mod:`mlp.training.inputs`). Training from generators, ``Sequence`` objects and
large memory maps is :mod:`mlp.training.source_training`; the epoch loop's bookkeeping (batch
hooks, the snapshot restored after a divergence) is :mod:`mlp.training.loop`.
"""
from __future__ import annotations

import functools
import math
import sys
import threading
import time
import warnings
from typing import Any, Callable, Dict, Optional, Sequence, Tuple, Union

import numpy as np

from .. import metrics as metrics_module
from ..backends.base import TrainingPlan, batch_count
from ..distributed.process_group import data_fingerprint, group_for
from ..nn import losses as losses_module
from ..nn.layers import is_device_array
from ..nn.network import compute_layers
from ..optim import optimizers as optimizers_module
from ..validation import check_bool, check_non_negative_int, check_positive_int
from .callbacks import Callback, History
from .guards import HINT, DivergenceWatch, non_finite_key, warn_non_finite
from .inputs import (
    apply_class_weight,
    check_features,
    check_sample_weight,
    check_targets,
    check_verbose,
)
from .plan import (
    apply_output_activation,
    build_steps,
    check_output,
    fused_output,
    metrics_activation,
)
from .loop import (PLAN_ROWS, CallbackHooks, TrainingSnapshot, callbacks_of, check_validation_freq,
                   validates)
from .memmap import MemmapBatches, streams
from .progress import make_progress, summary_line
from .source_training import SourceTraining
from .sources import BatchSource, is_batch_source

_PROGRESS_UPDATES = 20
"""Parts an epoch runs in when a live progress bar shows it (see ``Trainer._train_epoch``)."""

# the cache key of the plan predict uses (evaluate's plans are keyed by their loss)
_PREDICT_PLAN_KEY = (False, None, None)

_TRAINING_GUARD = threading.Lock()
"""Taken for the instant a thread claims a model for training (see :func:`_trains`)."""



def _trains(method: str):
    """Run the decorated training method as the model's only trainer: from a second thread
    while one trains it, ``fit`` / ``train_on_batch`` raise a ``RuntimeError``, and so do
    ``predict`` / ``evaluate`` (:meth:`Trainer._check_not_training`)."""
    def decorate(function):
        @functools.wraps(function)
        def run(self, *args, **kwargs):
            with _TRAINING_GUARD:
                if self._training_thread is not None:
                    where = ("" if self._training_thread == threading.get_ident()
                             else " in another thread")
                    raise RuntimeError(
                        f"{method}: the model is already being trained (by fit or "
                        f"train_on_batch{where}); train a model from one thread at a time")
                self._training_thread = threading.get_ident()
                self._fit_generation += 1
            try:
                return function(self, *args, **kwargs)
            finally:
                self._training_thread = None
        return run
    return decorate


class Trainer(SourceTraining):
    """``compile`` / ``fit`` / ``evaluate`` / ``predict`` over a model's layers and weights.

    A mixin of :class:`mlp.Sequential`: it uses the model's ``layers``, ``input_dim``,
    ``output_dim``, ``params``, ``dtype``, ``seed``, ``backend`` and ``build()``, and keeps the
    training state (``loss``, ``optimizer``, ``metrics``, ``history``, ``stop_training`` and
    the compiled plans).
    """

    _training_thread: Optional[int] = None
    """The thread that is training the model (in ``fit`` / ``train_on_batch``), or None."""

    _fit_generation: int = 0
    """How many times training started on the model: ``predict`` / ``evaluate`` read it
    before and after their work, and a change means the weights moved under them."""

    def _trained_meanwhile(self, method: str) -> None:
        """``RuntimeError``: another thread started ``fit`` / ``train_on_batch`` while
        ``method`` ran, so its result may mix weights from before and during an update."""
        raise RuntimeError(
            f"{method}: another thread started training the model (fit or train_on_batch) "
            f"while {method} ran, so its result could mix old and updated weights; it was "
            f"discarded. Call {method} before fit starts or after it returns, or on a copy of "
            f"the model")

    def _check_not_training(self, method: str) -> None:
        """``RuntimeError`` when another thread is training the model: its weights change
        under a concurrent ``predict`` / ``evaluate`` (the training thread itself, in a
        callback, may call them)."""
        owner = self._training_thread
        if owner is not None and owner != threading.get_ident():
            raise RuntimeError(
                f"{method}: the model is being trained by fit in another thread, and its "
                f"weights change at every step; call {method} after fit returns, or on a copy "
                f"of the model (e.g. saved with model.save and loaded with mlp.load_model)")

    def _init_training(self) -> None:
        """The training state of a model never compiled."""
        self.loss: Optional[losses_module.Loss] = None
        self.optimizer = None
        self.metrics: Dict[str, Callable] = {}
        self.stop_training = False
        self.history: Optional[History] = None
        self._reset_plans()

    def _reset_plans(self) -> None:
        """Forget the compiled plans (after ``compile`` or a move to another backend)."""
        self._train_plan: Optional[TrainingPlan] = None
        self._train_group = None
        self._predict_plans: Dict[Tuple, TrainingPlan] = {}

    # ----------------------------------------------------------------- compile
    def compile(self, optimizer: Any = "rmsprop", loss: Any = None,
                metrics: Optional[Sequence[Any]] = None) -> None:
        """Configure training.

        Parameters
        ----------
        optimizer : str or Optimizer
            ``"sgd"``, ``"adam"``, ``"adamw"``, ``"rmsprop"``, ``"adagrad"`` or an instance.
            Defaults to ``"rmsprop"`` (Keras' default).
        loss : str or Loss
            ``"binary_crossentropy"``, ``"categorical_crossentropy"``,
            ``"sparse_categorical_crossentropy"``, ``"mse"``, ``"mae"``, ``"huber"`` or an instance.
        metrics : list of str or callables, optional
            E.g. ``["accuracy", "precision", "recall", "f1"]``.
        """
        if loss is None:
            raise ValueError("loss: expected a loss name or object (e.g. 'binary_crossentropy'), "
                             "got None")
        loss = losses_module.get(loss)
        check_output(self.layers, loss)
        self.loss = loss
        self.optimizer = optimizers_module.get(optimizer)
        if isinstance(metrics, (str, bytes)) or callable(metrics):
            metrics = [metrics]
        self.metrics = {}
        for metric in metrics or []:
            self.metrics[metrics_module.metric_name(metric)] = metrics_module.get(metric)
        self._reset_plans()
        if not self.built and self.input_dim is not None and compute_layers(self.layers):
            self.build()  # the weights exist from here on, as in Keras

    @property
    def compiled(self) -> bool:
        """Whether :meth:`compile` was called."""
        return self.loss is not None

    # -------------------------------------------------------------------- plans
    def _plan(self, batch_size: int, group=None) -> TrainingPlan:
        """The training plan for batches of up to ``batch_size`` rows, built when needed; with
        a ``group`` (:mod:`mlp.distributed`), its data-parallel plan."""
        plan = self._train_plan
        if (plan is None or plan.batch_size < batch_size or plan.params is not self.params
                or tuple(step.trainable for step in plan.steps) != self._trained()
                or self._train_group is not group):
            fused = fused_output(self.layers, self.loss)
            steps = build_steps(self.layers, self.input_dim, self._param_slices, fused, self.seed,
                                trainable=self.trainable)
            # gradients and optimizer state, and fit's snapshot of the weights and that state
            copies = 2 * (1 + len(self.optimizer.slot_names)) + self._backend.update_copies
            widest = max(compute_layers(self.layers), key=lambda layer: getattr(layer, "units", 0))
            self._backend.check_allocation(
                "units", copies * self.params.size * self.dtype.itemsize,
                f"{self.params.size} weights to train with {type(self.optimizer).__name__} (the "
                f"widest layer: {type(widest).__name__} {widest.name!r} of "
                f"{getattr(widest, 'units', '?')} units)", "layer widths")
            self.optimizer.build(self.params.size, self.dtype, self._backend)
            delta = getattr(self.loss, "delta", 1.0)
            if group is None:
                grads = self._backend.zeros(self.params.shape, self.dtype)
                plan = self._backend.make_plan(steps, self.params, grads,
                                               self._loss_kernel(fused), self.optimizer,
                                               batch_size, delta=delta)
                plan.fused = fused
            else:
                from ..distributed.plan import DataParallelPlan
                # the gradients and the batch loss travel in one buffer (one allreduce a step)
                buffer = self._backend.zeros((self.params.size + 1,), self.dtype)
                inner = TrainingPlan(self._backend, steps, self.params,
                                     buffer[:self.params.size], self._loss_kernel(fused),
                                     self.optimizer, batch_size, delta=delta)
                inner.fused = fused
                plan = DataParallelPlan(inner, group, buffer)
            self._train_plan, self._train_group = plan, group
        return plan

    def _inference_plan(self, batch_size: int, for_loss: bool = False) -> TrainingPlan:
        """A plan for inference with its own workspaces (training's are never touched).

        ``for_loss=True`` gives the training activations (logits when the output is fused into
        the loss) and the loss kernel, for :meth:`evaluate`; otherwise the layers' own
        activations, for :meth:`predict`.
        """
        fused = fused_output(self.layers, self.loss) if for_loss else None
        # evaluate's loss leaves out the regularizers of frozen layers, as training's does
        key = ((for_loss, fused, self.loss.train_kernel, self._trained()) if for_loss
               else _PREDICT_PLAN_KEY)
        plan = self._predict_plans.get(key)
        if plan is None or plan.params is not self.params:
            steps = build_steps(self.layers, self.input_dim, self._param_slices, fused, self.seed,
                                trainable=self.trainable)
            kernel = self._loss_kernel(fused) if for_loss else None
            plan = self._backend.make_plan(
                steps, self.params, None, kernel, None, batch_size,
                delta=getattr(self.loss, "delta", 1.0) if for_loss else 1.0)
            plan.fused = fused
            self._predict_plans[key] = plan
        return plan

    def _trained(self) -> Tuple[bool, ...]:
        """Which compute layers training updates now (a plan is rebuilt when this changes)."""
        return tuple(bool(self.trainable and layer.trainable)
                     for layer in compute_layers(self.layers))

    def _loss_kernel(self, fused: Optional[str]):
        """What the plan computes the loss with: a backend loss name, or for a custom loss in
        Python its host function (the plan then runs step by step)."""
        if self.loss.in_python:
            return self.loss.host_loss
        return self.loss.logits_kernel if fused else self.loss.train_kernel

    def _metrics_activation(self) -> Optional[str]:
        """The activation that turns training outputs into what the metrics see."""
        return metrics_activation(self.layers, self.loss)

    # --------------------------------------------------------------------- data
    def _prepare(self, x, y, sample_weight=None, class_weight=None, prefix="",
                 x_checked=False):
        """Validated (x, target, weight); ``x_checked``: x came from :meth:`_features` already
        (its finiteness pass is the costliest check of a large data set)."""
        if not x_checked:
            x = self._features(prefix + "x", x)
        self.build(x.shape[1])
        all_finite = self._backend.all_finite
        name = prefix + "y"
        target = check_targets(name, self._host_input(name, y), self.loss, self.output_dim,
                               x.shape[0], self.dtype, all_finite)
        name = prefix + "sample_weight"
        weight = check_sample_weight(name, self._host_input(name, sample_weight), x.shape[0],
                                     self.dtype, all_finite)
        if class_weight is not None:
            weight = apply_class_weight(class_weight, target, weight, self.dtype, self.loss,
                                        self.output_dim)
        return x, target, weight

    def _host_input(self, name: str, value):
        """``value`` in host memory for validation. A GPU (CuPy) array is accepted by a model on
        the GPU and copied to the host; a model on a host backend refuses it with a clear error.
        """
        if not is_device_array(value):
            return value
        if not self._backend.takes_device_arrays:
            raise TypeError(
                f"{name}: got a GPU array ({type(value).__module__}.{type(value).__name__}) but "
                f"the model is on the {self._backend.name!r} backend (host memory); move the "
                f"model with model.to('cupy') or the data to the host with {name}.get()")
        return self._backend.to_numpy(value)

    def _features(self, name: str, x):
        """Validated features (see :meth:`_host_input` for GPU arrays)."""
        return check_features(name, self._host_input(name, x), self.dtype, self.input_dim,
                              self._backend.all_finite)

    def _on_device(self, *arrays):
        """The arrays moved to the model's device, once (``None`` stays ``None``).

        Host backends return them as they are. On the GPU, data that would take more than half
        the free GPU memory stays on the host and each batch is copied as it is used.
        """
        if not self._backend.fits_in_memory(sum(a.nbytes for a in arrays if a is not None)):
            return arrays
        return tuple(None if a is None else self._backend.asarray(a) for a in arrays)

    def _require_compiled(self, method: str) -> None:
        if not self.compiled:
            raise RuntimeError(f"{method}: the model must be compiled first: call "
                               f"model.compile(optimizer=..., loss=...)")

    # -------------------------------------------------------------------- train
    @_trains("fit")
    def fit(self, x, y=None, batch_size: int = 32, epochs: int = 1,
            verbose: Union[int, str] = "auto",
            callbacks: Optional[Sequence[Callback]] = None, validation_split: float = 0.0,
            validation_data: Optional[Tuple] = None, shuffle: bool = True,
            class_weight: Optional[Dict[int, float]] = None, sample_weight=None,
            initial_epoch: int = 0, steps_per_epoch: Optional[int] = None,
            validation_steps: Optional[int] = None,
            validation_freq: Union[int, Sequence[int]] = 1,
            distributed: Optional[bool] = None) -> History:
        """Train for ``epochs`` epochs; return the :class:`History`.

        Parameters follow Keras: ``validation_split`` takes the *last* fraction of the samples
        (and of ``sample_weight``), before shuffling; ``validation_data=(x_val, y_val[,
        sample_weight_val])`` overrides it, its weights weighting the validation loss and
        metrics; ``class_weight`` maps each class index present in ``y`` to a weight multiplied
        into ``sample_weight`` (training data only; it weights the loss and the metrics);
        training resumes at ``initial_epoch``.

        ``verbose``: ``0`` silent; ``1`` a live progress bar per epoch in a terminal or a
        notebook, one line per epoch when standard output is neither; ``2`` one line per
        epoch. ``"auto"`` (the default) is ``1``. See :mod:`mlp.training.progress`.

        If the training loss or the weights become NaN or infinite, training stops, the weights
        and optimizer state of the end of the last finite epoch are restored, a
        ``RuntimeWarning`` says so and ``history.stopped_reason`` is ``"non_finite_loss"``.

        A model is trained from one thread at a time: ``fit``, ``train_on_batch``, ``predict``
        and ``evaluate`` from another thread while ``fit`` runs raise a ``RuntimeError`` (the
        training thread itself, e.g. in a callback, may call them).

        ``x`` may also be a generator or iterator of batches ``(x, y)`` / ``(x, y,
        sample_weight)``, or a ``Sequence`` (``__len__`` and ``__getitem__(i)`` returning a
        batch, as Keras' ``PyDataset``), with ``y`` left out (see :mod:`mlp.training.sources`):
        ``steps_per_epoch`` batches make an epoch (default: ``len(x)``, or until a generator
        ends); ``validation_data`` may be such a source too, read for ``validation_steps``
        batches. Progress then shows one line per epoch. ``validation_freq``: validate every
        that many epochs, or at the (1-based) epochs of a list. Defaults to ``1``.

        ``distributed``: data-parallel training over MPI (:mod:`mlp.distributed`). ``None`` (the
        default) trains over the ranks of ``mlp.distributed.init()`` once it was called, on
        this process alone otherwise; ``True`` calls ``init()`` if needed; ``False`` trains on
        this process alone (after ``init()``, a ``fit`` that not every rank runs needs
        ``distributed=False``). Every rank then passes the same arrays and builds the same
        model; ``batch_size`` is each rank's share of a global batch of ``ranks x batch_size``
        samples (as in Horovod and PyTorch's DDP); rank 0's seed, weights and optimizer state
        are given to all; only rank 0 shows progress, one line per epoch; an exception in one
        rank's ``fit`` aborts the MPI job.

        An ``np.memmap`` ``x`` of more than 64 MiB is read batch by batch, never copied whole
        (:mod:`mlp.training.memmap`); ``shuffle=True`` then shuffles the order of the batches.
        """
        self._require_compiled("fit")
        batch_size = check_positive_int("batch_size", batch_size)
        epochs = check_non_negative_int("epochs", epochs)
        initial_epoch = check_non_negative_int("initial_epoch", initial_epoch)
        validation_freq = check_validation_freq(validation_freq)
        if (isinstance(validation_split, bool)
                or not isinstance(validation_split, (int, float, np.floating))
                or not 0.0 <= validation_split < 1.0):
            raise ValueError(f"validation_split: expected a fraction in [0, 1), got "
                             f"{validation_split!r}")
        verbose = check_verbose("verbose", verbose)
        group = group_for(distributed)
        if group is not None:
            # one line per epoch: a live bar splits epochs at rank-local batch boundaries
            verbose = (2 if verbose else 0) if group.is_root else 0
        if is_batch_source(x):
            if group is not None:
                raise ValueError(f"x: distributed training takes arrays (every rank the same), "
                                 f"got a {type(x).__name__} of batches")
            for name, value in (("y", y), ("sample_weight", sample_weight)):
                if value is not None:
                    raise ValueError(f"{name}: expected None when x is a generator or Sequence "
                                     f"(its batches hold it), got {type(value).__name__}")
            if validation_split:
                raise ValueError(f"validation_split: expected 0 when x is a generator or "
                                 f"Sequence (give validation_data), got {validation_split!r}")
            return self._fit_source(BatchSource("x", x, steps_per_epoch), epochs, verbose,
                                    callbacks, validation_data, validation_steps,
                                    validation_freq, class_weight, initial_epoch)
        if streams(x) and group is None:  # distributed training reads a memmap whole
            return self._fit_memmap(x, y, sample_weight, batch_size, epochs, verbose, callbacks,
                                    validation_split, validation_data, shuffle, class_weight,
                                    initial_epoch, steps_per_epoch, validation_steps,
                                    validation_freq)
        x_arr = self._features("x", x)
        y = self._host_input("y", y)
        sample_weight = self._host_input("sample_weight", sample_weight)
        self.build(x_arr.shape[1])
        if validation_data is None and validation_split > 0:
            n_val = int(math.floor(x_arr.shape[0] * validation_split))
            if n_val == 0 or n_val == x_arr.shape[0]:
                raise ValueError(f"validation_split: {validation_split} of {x_arr.shape[0]} "
                                 f"samples leaves an empty training or validation set")
            y_all = np.asarray(y)
            if y_all.ndim == 0 or y_all.shape[0] != x_arr.shape[0]:
                raise ValueError(f"y: expected {x_arr.shape[0]} rows (as x), got shape "
                                 f"{y_all.shape}")
            w_all = None if sample_weight is None else np.asarray(sample_weight)
            if w_all is not None and (w_all.ndim == 0 or w_all.shape[0] != x_arr.shape[0]):
                raise ValueError(f"sample_weight: expected shape ({x_arr.shape[0]},), got "
                                 f"{w_all.shape}")
            split = x_arr.shape[0] - n_val
            validation_data = (x_arr[split:], y_all[split:],
                               None if w_all is None else w_all[split:])
            x_arr, y, sample_weight = x_arr[:split], y_all[:split], (
                None if w_all is None else w_all[:split])
        x_arr, target, weight = self._prepare(x_arr, y, sample_weight, class_weight,
                                              x_checked=True)
        batch_size = min(batch_size, x_arr.shape[0])  # workspaces for rows that exist
        val = self._prepare_validation(validation_data)
        if group is not None:
            self._join(group, data_fingerprint(x_arr, target, weight, val) | {
                "batch_size": batch_size, "epochs": epochs, "initial_epoch": initial_epoch,
                "shuffle": bool(shuffle)})
        history = History()
        callback_list = callbacks_of(self, callbacks, history)
        plan = self._plan(batch_size, group)
        if group is not None:
            plan.broadcast_state()
            plan.outputs_needed = bool(self.metrics)  # the training outputs feed the metrics
        progress = make_progress(verbose)
        hooks = CallbackHooks(self, callback_list, progress) if any(
            cb.wants_batch_hooks() for cb in callback_list) else None
        self.stop_training = False
        self.history = history
        n = x_arr.shape[0]
        step_rows = batch_size * (1 if group is None else group.size)  # samples per step
        n_steps = batch_count(n, step_rows)
        # the training set moves to the model's device once (a no-op on the CPU)
        # the loss sees smoothed targets (label_smoothing), the metrics the targets as given
        x_dev, target_dev, weight_dev = self._on_device(x_arr, self.loss.smooth_targets(target),
                                                        weight)
        val_dev = None if val is None else self._on_device(
            val[0], self.loss.smooth_targets(val[1]), val[2])
        outputs = self._backend.empty((n, self.output_dim), self.dtype)
        last_good = TrainingSnapshot(self)
        watch = DivergenceWatch(self._initial_loss(x_arr, target, weight, batch_size)
                                if epochs > initial_epoch else None)
        logs: Dict[str, float] = {}
        try:
            for callback in callback_list:
                callback.on_train_begin()
            with self._backend.blas_scope():
                for epoch in range(initial_epoch, epochs):
                    for callback in callback_list:
                        callback.on_epoch_begin(epoch)
                    last_good.take()
                    order = self._shuffle_rng.permutation(n) if shuffle else np.arange(n)
                    if group is not None:
                        order = order.astype(np.int64, copy=False)
                        group.broadcast_(order)
                    progress.begin_epoch(epoch, epochs, n_steps, n)
                    started = time.perf_counter()
                    loss_value, seen = self._train_epoch(plan, x_dev, target_dev, weight_dev,
                                                         order, batch_size, outputs, hooks,
                                                         progress, target, weight)
                    train_seconds = time.perf_counter() - started
                    if self._stopped_on_non_finite(loss_value, epoch, initial_epoch, last_good,
                                                   history, progress, stacklevel=4):
                        break
                    logs = {"loss": float(loss_value)}
                    if self.metrics:
                        logs.update(self._training_metrics(self._metrics_activation(), target,
                                                           weight, order, outputs, seen))
                    if val is not None and validates(epoch, validation_freq):
                        logs.update({f"val_{k}": v for k, v in self._evaluate_arrays(
                            *val, on_device=val_dev, group=group).items()})
                    if group is not None:  # the callbacks decide once, for every rank
                        logs = group.broadcast_logs(logs)
                    if self._stopped_on_non_finite_logs(logs, epoch, initial_epoch, last_good,
                                                        history, progress, stacklevel=4):
                        break
                    watch.check(epoch, loss_value, stacklevel=4)
                    progress.end_epoch(batch_count(seen, step_rows), seen, logs, train_seconds)
                    if self._stopped_at_epoch_end(callback_list, epoch, logs, history, group):
                        break
            for callback in callback_list:
                callback.on_train_end(dict(logs))
            if group is not None:  # rank 0's weights (e.g. restored by its EarlyStopping)
                group.broadcast_(self.params)  # and history (its callbacks' keys too)
                history.history = group.broadcast_json(history.history)
        except BaseException as error:
            progress.abort()
            if group is not None:  # one rank failing alone: the others would wait forever
                group.abort_after("fit", error)
            raise
        return history

    def _join(self, group, settings: Dict[str, Any]) -> None:
        """Start distributed training: take rank 0's seed (the dropout masks derive from it),
        then check that every rank has the same model, compile settings, data and arguments."""
        if self._backend.takes_device_arrays:
            raise ValueError(f"backend: distributed training runs on host backends (cpu, "
                             f"reference), got {self._backend.name!r}")
        seed = np.array([self.seed], dtype=np.uint64)
        group.broadcast_(seed)
        if int(seed[0]) != self.seed:
            self.seed = int(seed[0])
            self._reset_plans()
        group.agree("fit", settings | {
            "model": self.get_config(), "optimizer": self.optimizer.get_config(),
            "loss": self.loss.get_config(), "dtype": str(self.dtype),
            "backend": self._backend.name, "params": int(self.params.size)})

    def _stopped_on_non_finite(self, loss_value: float, epoch: int, initial_epoch: int,
                               last_good, history: History, progress,
                               stacklevel: int) -> bool:
        """After an epoch of fit: when its loss, or the weights under a bounded loss (clipped
        probabilities), are NaN or infinite, restore the last finite state, record and warn,
        and return True (training stops)."""
        became = f"the loss became {loss_value}"
        if np.isfinite(loss_value) and not np.isfinite(self._backend.global_norm([self.params])):
            became = f"the weights became NaN or infinite (loss {loss_value:.4g})"
            loss_value = float("nan")
        if np.isfinite(loss_value):
            return False
        self._stop_non_finite(became, epoch, initial_epoch, last_good, history, progress,
                              stacklevel + 1)
        return True

    def _stopped_on_non_finite_logs(self, logs: Dict[str, float], epoch: int,
                                    initial_epoch: int, last_good, history: History, progress,
                                    stacklevel: int) -> bool:
        """After an epoch's metrics and validation: as :meth:`_stopped_on_non_finite` when one
        of ``logs`` (a metric, the validation loss or a validation metric) is not finite."""
        key = non_finite_key(logs)
        if key is None:
            return False
        self._stop_non_finite(f"the {key} became {logs[key]}", epoch, initial_epoch, last_good,
                              history, progress, stacklevel + 1)
        return True

    def _initial_loss(self, x, target, weight, batch_size: int) -> Optional[float]:
        """The loss of the current weights on the first batch of ``x`` (dropout off), the
        yardstick of :class:`~mlp.training.guards.DivergenceWatch`."""
        rows = min(batch_size, x.shape[0])
        plan = self._inference_plan(rows, for_loss=True)
        x_dev, target_dev, weight_dev = self._on_device(
            x[:rows], self.loss.smooth_targets(target[:rows]),
            None if weight is None else weight[:rows])
        with self._backend.blas_scope(plan.flops(rows)):
            outputs = plan.predict(x_dev, rows)
        with np.errstate(all="ignore"):
            return float(plan.loss_value(outputs, target_dev, weight_dev))

    def _stop_non_finite(self, became: str, epoch: int, initial_epoch: int, last_good,
                         history: History, progress, stacklevel: int) -> None:
        """Restore the last finite state, record ``non_finite_loss`` and warn."""
        progress.abort()
        last_good.restore()
        history.stopped_reason, history.stopped_epoch = "non_finite_loss", epoch
        kept = "the start of fit" if epoch == initial_epoch else f"the end of epoch {epoch}"
        warnings.warn(
            f"fit: {became} in epoch {epoch + 1}; training stopped and the weights and optimizer "
            f"state of {kept} were restored (history.stopped_reason is 'non_finite_loss'). "
            f"{HINT}", RuntimeWarning, stacklevel=stacklevel)
        self.stop_training = True

    def _stopped_at_epoch_end(self, callback_list, epoch: int, logs: Dict[str, float],
                              history: History, group=None) -> bool:
        """Run the callbacks' ``on_epoch_end``; True (recorded in ``history``) when one of them
        stopped training. In distributed training rank 0's callbacks decide for every rank:
        its ``stop_training`` and learning rate are given to all."""
        for callback in callback_list:
            callback.on_epoch_end(epoch, logs)
        if group is not None:
            rate = self.optimizer.learning_rate
            fixed = isinstance(rate, (int, float, np.floating)) and not isinstance(rate, bool)
            decided = np.array([float(self.stop_training), float(rate) if fixed else 0.0])
            group.broadcast_(decided)
            self.stop_training = bool(decided[0])
            if fixed and float(decided[1]) != float(rate):
                self.optimizer.learning_rate = float(decided[1])
        if self.stop_training:
            history.stopped_reason, history.stopped_epoch = "callback", epoch
        return self.stop_training

    def _train_epoch(self, plan, x, target, weight, order, batch_size, outputs, hooks,
                     progress, host_target=None, host_weight=None) -> Tuple[float, int]:
        """One epoch; returns (mean training loss, samples trained on).

        With a live progress bar and no batch hooks, the epoch runs in up to
        ``_PROGRESS_UPDATES`` parts split at multiples of ``batch_size``: the same batches in
        the same order, with the loss sum carried from part to part, so the same weights,
        optimizer state, outputs and loss as one call. A part whose loss is not finite ends the
        epoch (``fit`` restores the weights anyway).

        ``x``, ``target``, ``weight`` may be on the GPU; ``host_target`` / ``host_weight`` are
        their host copies for the metrics (default: the same arrays).
        """
        if host_target is None:
            host_target, host_weight = target, weight
        if hooks is not None:
            hooks.begin_epoch(host_target, host_weight, order, outputs,
                              self._metrics_activation(), batch_size)
            total, seen = plan.train_epoch(x, target, weight, order, batch_size, outputs, hooks)
            return total / max(seen, 1), seen
        if not progress.live:
            total, seen = plan.train_epoch(x, target, weight, order, batch_size, outputs, None)
            return total / max(seen, 1), seen
        n = len(order)
        chunk = batch_count(batch_count(n, batch_size), _PROGRESS_UPDATES) * batch_size
        total, seen = 0.0, 0
        for begin in range(0, n, chunk):
            part = order[begin:begin + chunk]
            total, count = plan.train_epoch(x, target, weight, part, batch_size,
                                            outputs[begin:], None, total)
            seen += count
            if not np.isfinite(total):
                break
            progress.update(batch_count(seen, batch_size), seen, lambda: self._running_logs(
                self._metrics_activation(), host_target, host_weight, order, outputs, seen,
                total))
        return total / max(seen, 1), seen

    def _training_metrics(self, fused, target, weight, order, outputs, seen) -> Dict[str, float]:
        """The metrics of the training outputs of the first ``seen`` samples of ``order``."""
        trained = order[:seen]
        probabilities = apply_output_activation(
            np.array(self._backend.to_numpy(outputs[:seen]), copy=True), fused)
        return metrics_module.evaluate_metrics(self.metrics, target[trained], probabilities,
                                               None if weight is None else weight[trained])

    def _running_logs(self, fused, target, weight, order, outputs, seen, total):
        """Loss and metrics so far in the epoch, for the progress bar."""
        logs = {"loss": total / max(seen, 1)}
        if self.metrics and seen:
            logs.update(self._training_metrics(fused, target, weight, order, outputs, seen))
        return logs

    def _prepare_validation(self, validation_data):
        if validation_data is None:
            return None
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
            raise ValueError("validation_data: expected (x_val, y_val) or (x_val, y_val, "
                             f"sample_weight_val), got {type(validation_data).__name__}")
        weight = validation_data[2] if len(validation_data) == 3 else None
        return self._prepare(validation_data[0], validation_data[1], weight, prefix="val_")

    @_trains("train_on_batch")
    def train_on_batch(self, x, y, sample_weight=None, class_weight=None,
                       return_dict: bool = False):
        """One optimizer step on one batch; returns the loss (or a dict with the metrics)."""
        self._require_compiled("train_on_batch")
        x, target, weight = self._prepare(x, y, sample_weight, class_weight)
        plan = self._plan(x.shape[0])
        with self._backend.blas_scope():
            value = plan.train_batch(x, self.loss.smooth_targets(target), weight)
        logs = {"loss": float(value)}
        if self.metrics:
            probabilities = apply_output_activation(
                self._backend.to_numpy(plan.outputs[-1][:x.shape[0]]).copy(),
                self._metrics_activation())
            logs.update(metrics_module.evaluate_metrics(self.metrics, target, probabilities,
                                                        weight))
        warn_non_finite("train_on_batch", logs, stacklevel=4)
        return logs if return_dict else logs["loss"]

    def loss_and_gradient(self, x, y, sample_weight=None) -> Tuple[float, np.ndarray]:
        """The training loss of the whole of ``(x, y)`` as one batch, and its gradient with
        respect to the flat parameter buffer, in one pass; nothing is trained.

        The loss is the one ``fit`` minimises (regularizers included, dropout in training mode
        at the optimizer's current step). As in a training step, ``BatchNormalization`` layers
        normalize with the statistics of ``x`` and move their moving mean and variance (which
        are in ``model.params``, with a zero gradient) a step towards them. It lets an optimizer outside the engine drive the
        model, e.g. ``scipy.optimize.minimize(..., jac=True)`` over ``model.params`` (as
        :class:`mlp.sklearn.MLPClassifier` does with ``solver="lbfgs"``).

        Returns
        -------
        loss : float
        gradient : numpy.ndarray
            A host copy, of the shape and dtype of ``model.params``.

        Examples
        --------
        >>> import numpy as np, mlp
        >>> model = mlp.Sequential([mlp.Dense(1, input_dim=2)], seed=0)
        >>> model.compile(optimizer="sgd", loss="mse")
        >>> loss, grad = model.loss_and_gradient(np.ones((4, 2)), np.zeros(4))
        >>> grad.shape == model.params.shape
        True
        """
        self._require_compiled("loss_and_gradient")
        self._check_not_training("loss_and_gradient")
        x, target, weight = self._prepare(x, y, sample_weight)
        plan = self._plan(x.shape[0])
        x_dev, target_dev, weight_dev = self._on_device(x, self.loss.smooth_targets(target),
                                                        weight)
        with self._backend.blas_scope(plan.flops(x.shape[0])):
            value = plan.loss_and_gradient(x_dev, target_dev, weight_dev)
        return value, np.array(self._backend.to_numpy(plan.grads), copy=True)

    # --------------------------------------------------------------- inference
    def evaluate(self, x, y=None, batch_size: int = 32, verbose: Union[int, str] = 0,
                 sample_weight=None, return_dict: bool = True, steps: Optional[int] = None):
        """Loss and metrics on ``(x, y)`` with dropout off, as a dict ``{"loss": ..., ...}``.

        ``sample_weight`` weights the loss and the metrics. ``verbose``: ``0`` (the default)
        prints nothing, ``1`` / ``2`` / ``"auto"`` one summary line. ``return_dict=False``
        returns Keras' other form: the loss as a float without metrics, else the list
        ``[loss, metric, ...]`` in the order of ``compile(metrics=...)``. Defaults to ``True``
        (Keras' default is ``False``: here the dict is the usual result).

        ``x`` may be a generator or ``Sequence`` of ``(x, y[, sample_weight])`` batches (then
        ``y`` is left out), read for ``steps`` batches (default: all): the result equals
        that of the batches concatenated. An ``np.memmap`` of more than 64 MiB is read
        ``batch_size`` rows at a time (:mod:`mlp.training.memmap`).
        """
        self._require_compiled("evaluate")
        generation = self._fit_generation
        self._check_not_training("evaluate")
        batch_size = check_positive_int("batch_size", batch_size)
        verbose = check_verbose("verbose", verbose)
        return_dict = check_bool("return_dict", return_dict)
        started = time.perf_counter()
        if is_batch_source(x):
            if y is not None or sample_weight is not None:
                raise ValueError("y, sample_weight: expected None when x is a generator or "
                                 "Sequence (its batches hold them)")
            with self._backend.blas_scope():
                logs = self._evaluate_source(BatchSource("x", x, steps))
            rows = None
        elif streams(x):  # a large memory map: batch by batch, never copied whole
            if y is None:
                raise ValueError("y: expected the targets of x, got None")
            with self._backend.blas_scope():
                logs = self._evaluate_source(BatchSource(
                    "x", MemmapBatches(x, y, sample_weight, batch_size), steps))
            rows = x.shape[0]
        else:
            x, target, weight = self._prepare(x, y, sample_weight)
            logs = self._evaluate_arrays(x, target, weight, batch_size)
            rows = x.shape[0]
        if self._fit_generation != generation:
            self._trained_meanwhile("evaluate")
        warn_non_finite("evaluate", logs, stacklevel=3)
        if verbose:
            print(summary_line("Evaluate", rows or 0, time.perf_counter() - started, logs),
                  file=sys.stdout, flush=True)
        if return_dict:
            return logs
        return logs["loss"] if len(logs) == 1 else list(logs.values())

    def _evaluate_arrays(self, x, target, weight, batch_size: int = 256,
                         on_device=None, group=None) -> Dict[str, float]:
        """Loss and metrics of host arrays; ``on_device`` is their copy on the model's device
        when the caller already made it (fit's validation data). With a ``group``, each rank
        predicts its shard of the rows and every rank scores all of them."""
        plan = self._inference_plan(min(batch_size, max(x.shape[0], PLAN_ROWS)),
                                    for_loss=True)
        x_dev, target_dev, weight_dev = (
            on_device if on_device is not None
            else self._on_device(x, self.loss.smooth_targets(target), weight))
        if group is None:
            with self._backend.blas_scope(plan.flops(min(batch_size, x.shape[0]))):
                outputs = plan.predict(x_dev, batch_size)
        else:
            outputs = self._predict_shared(plan, x_dev, batch_size, group)
        logs = {"loss": float(plan.loss_value(outputs, target_dev, weight_dev))}
        if self.metrics:
            probabilities = apply_output_activation(
                np.array(self._backend.to_numpy(outputs), copy=True),
                self._metrics_activation())
            logs.update(metrics_module.evaluate_metrics(self.metrics, target, probabilities,
                                                        weight))
        return logs

    def _predict_shared(self, plan, x, batch_size: int, group):
        """Inference outputs of all rows of ``x``, each rank predicting its shard (host
        arrays: distributed training runs on host backends)."""
        from ..distributed.process_group import shard_bounds
        bounds = shard_bounds(x.shape[0], group.size)
        low, high = int(bounds[group.rank]), int(bounds[group.rank + 1])
        if high > low:
            with self._backend.blas_scope(plan.flops(min(batch_size, high - low))):
                local = np.asarray(plan.predict(x[low:high], batch_size))
        else:
            local = np.empty((0, self.output_dim), self.dtype)
        return group.gather_rows(local, np.diff(bounds))

    def test_on_batch(self, x, y, sample_weight=None, return_dict: bool = False):
        """Loss (and metrics) of one batch without training."""
        logs = self.evaluate(x, y, batch_size=max(1, len(x)), sample_weight=sample_weight)
        return logs if return_dict else logs["loss"]

    def predict(self, x, batch_size: int = 256, verbose: Union[int, str] = 0,
                return_device_array: bool = False, steps: Optional[int] = None):
        """Outputs for ``x`` with dropout off: probabilities for sigmoid / softmax outputs.

        ``model.predict(x).argmax(1)`` gives the predicted classes of a softmax model, and
        ``model.predict(x) > 0.5`` those of a sigmoid one. ``verbose``: ``0`` (the default)
        prints nothing, ``1`` / ``2`` / ``"auto"`` one summary line.

        ``x`` may be a NumPy array or, for a model on the GPU, a CuPy array; it is moved to the
        model's device once. The result is a NumPy array, or with ``return_device_array=True``
        an array on the model's device (a CuPy array on the GPU; NumPy on the CPU).

        An ``np.memmap`` of more than 64 MiB is read ``batch_size`` rows at a time, never
        copied whole (:mod:`mlp.training.memmap`).

        Several threads may predict with one model at once; each gets exactly what a call
        alone would (they take turns on the model's inference workspaces). While another
        thread trains the model (``fit`` / ``train_on_batch``), ``predict`` raises a
        ``RuntimeError``, and so does a ``predict`` during which another thread started to
        train it: a result always comes from one set of weights, never from weights changing
        under it.
        """
        generation = self._fit_generation
        if self._training_thread is not None:
            self._check_not_training("predict")
        if type(verbose) is int and verbose == 0 and type(x) is np.ndarray and type(
                batch_size) is int:
            # single samples and small batches: latency is the Python around the kernels
            plan = self._predict_plans.get(_PREDICT_PLAN_KEY)
            if (plan is not None and plan.params is self.params and x.ndim == 2
                    and 0 < x.shape[0] <= batch_size):
                result = plan.predict_small(x)
                if result is not None:
                    if self._fit_generation != generation:
                        self._trained_meanwhile("predict")
                    return result
        batch_size = check_positive_int("batch_size", batch_size)
        verbose = check_verbose("verbose", verbose)
        if is_batch_source(x) or streams(x):   # batches x, (x,) or (x, y, ...): y is ignored
            source = x if not streams(x) else MemmapBatches(x, None, None, batch_size)
            with self._backend.blas_scope():
                result = self._predict_source(BatchSource("x", source, steps), batch_size,
                                              return_device_array)
            if self._fit_generation != generation:
                self._trained_meanwhile("predict")
            return result
        started = time.perf_counter()
        x = self._features("x", x)
        self.build(x.shape[1])
        plan = self._inference_plan(min(batch_size, max(x.shape[0], PLAN_ROWS)))
        x_dev = self._on_device(x)[0]
        with self._backend.blas_scope(plan.flops(min(batch_size, x.shape[0]))):
            result = plan.predict(x_dev, batch_size)
        if not return_device_array:
            result = self._backend.to_numpy(result)
        if self._fit_generation != generation:
            self._trained_meanwhile("predict")
        if verbose:
            print(summary_line("Predict", x.shape[0], time.perf_counter() - started),
                  file=sys.stdout, flush=True)
        return result

    def predict_on_batch(self, x) -> np.ndarray:
        """:meth:`predict` on one batch."""
        return self.predict(x, batch_size=max(1, len(x)))
