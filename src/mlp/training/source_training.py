"""Training from data that is not one array: generators, ``Sequence`` objects and large
``np.memmap`` files, batch by batch (a part of :class:`~mlp.training.trainer.Trainer`).

The batches come from :mod:`mlp.training.sources` (and :mod:`mlp.training.memmap`); each is
checked as ``fit`` checks arrays and trained with the model's plan, so training from such a source
over the same batches in the same order gives the history of training on the arrays.
"""
from __future__ import annotations

import math
import time
import warnings
from typing import Dict, Optional

import numpy as np

from .. import metrics as metrics_module
from .callbacks import History
from .guards import DivergenceWatch
from .loop import PLAN_ROWS, TrainingSnapshot, callbacks_of, validates
from .memmap import MemmapBatches, streams
from .plan import apply_output_activation
from .progress import make_progress
from .sources import BatchSource, is_batch_source


class SourceTraining:
    """``fit`` / ``evaluate`` / ``predict`` on batch sources; mixed into the trainer, whose
    checks, plans and epoch-end steps it uses."""

    def _fit_memmap(self, x, y, sample_weight, batch_size, epochs, verbose, callbacks,
                    validation_split, validation_data, shuffle, class_weight, initial_epoch,
                    steps_per_epoch, validation_steps, validation_freq) -> History:
        """:meth:`fit` on a large ``np.memmap``: its batches are read one at a time (see
        :mod:`mlp.training.memmap`); ``validation_split`` takes the last rows as batches too."""
        y = None if y is None else np.asarray(y) if not isinstance(y, np.ndarray) else y
        if validation_data is None and validation_split > 0:
            n_val = int(math.floor(x.shape[0] * validation_split))
            if n_val == 0 or n_val == x.shape[0]:
                raise ValueError(f"validation_split: {validation_split} of {x.shape[0]} "
                                 f"samples leaves an empty training or validation set")
            split = x.shape[0] - n_val
            parts = [None if a is None else a[split:] for a in (y, sample_weight)]
            validation_data = MemmapBatches(x[split:], *parts, batch_size)
            x, y, sample_weight = x[:split], *(
                None if a is None else a[:split] for a in (y, sample_weight))
        elif (isinstance(validation_data, (tuple, list)) and validation_data
              and streams(validation_data[0])):
            validation_data = MemmapBatches(*validation_data, *(None,) * (
                3 - len(validation_data)), batch_size)
        source = MemmapBatches(x, y, sample_weight, batch_size,
                               self._shuffle_rng if shuffle else None)
        return self._fit_source(BatchSource("x", source, steps_per_epoch), epochs, verbose,
                                callbacks, validation_data, validation_steps, validation_freq,
                                class_weight, initial_epoch)

    def _fit_source(self, source: BatchSource, epochs: int, verbose: int, callbacks,
                    validation_data, validation_steps, validation_freq, class_weight,
                    initial_epoch: int) -> History:
        """:meth:`fit` on batches from a generator or Sequence (see :mod:`.sources`)."""
        history = History()
        callback_list = callbacks_of(self, callbacks, history)
        val = val_dev = None
        if validation_data is not None and not is_batch_source(validation_data):
            val = self._prepare_validation(validation_data)
            val_dev = self._on_device(val[0], self.loss.smooth_targets(val[1]), val[2])
        progress = make_progress(2 if verbose else 0)
        per_batch = any(cb.wants_batch_hooks() for cb in callback_list)
        self.stop_training = False
        self.history = history
        for callback in callback_list:
            callback.on_train_begin()
        last_good: Optional[TrainingSnapshot] = None
        logs: Dict[str, float] = {}
        try:
            with self._backend.blas_scope():
                for epoch in range(initial_epoch, epochs):
                    for callback in callback_list:
                        callback.on_epoch_begin(epoch)
                    if last_good is not None:
                        last_good.take()
                    progress.begin_epoch(epoch, epochs, source.steps or 0, 0)
                    started = time.perf_counter()
                    total, parts, batches = 0.0, [], 0
                    for batch, (xb, yb, wb) in enumerate(source.epoch()):
                        x_b, target, weight = self._prepare(xb, yb, wb, class_weight,
                                                            prefix=f"{source.name}[{batch}]: ")
                        plan = self._plan(x_b.shape[0])
                        if last_good is None:  # the first batch built the model
                            last_good = TrainingSnapshot(self)
                            last_good.take()
                            watch = DivergenceWatch(self._initial_loss(x_b, target, weight,
                                                                       x_b.shape[0]))
                        if per_batch:
                            for callback in callback_list:
                                callback.on_train_batch_begin(batch)
                        rows = x_b.shape[0]
                        outputs = self._backend.empty((rows, self.output_dim), self.dtype)
                        x_dev, t_dev, w_dev = self._on_device(
                            x_b, self.loss.smooth_targets(target), weight)
                        before = total
                        total, _ = plan.train_epoch(x_dev, t_dev, w_dev,
                                                    np.arange(rows, dtype=np.int64), rows,
                                                    outputs, None, total)
                        parts.append((target, weight, self._backend.to_numpy(outputs)))
                        batches += 1
                        if per_batch:
                            batch_logs = {"loss": float((total - before) / rows)}
                            for callback in callback_list:
                                callback.on_train_batch_end(batch, batch_logs)
                        if not np.isfinite(total) or self.stop_training:
                            break
                    train_seconds = time.perf_counter() - started
                    if not batches:
                        progress.abort()
                        history.stopped_reason, history.stopped_epoch = "out_of_data", epoch
                        warnings.warn(f"fit: x gave no batch in epoch {epoch + 1}; training "
                                      f"stopped (a generator serves one epoch: give "
                                      f"steps_per_epoch and a generator that repeats, or a "
                                      f"Sequence)", RuntimeWarning, stacklevel=4)
                        break
                    seen = sum(part[0].shape[0] for part in parts)
                    loss_value = total / seen
                    if self._stopped_on_non_finite(loss_value, epoch, initial_epoch, last_good,
                                                   history, progress, stacklevel=5):
                        break
                    logs = {"loss": float(loss_value)}
                    if self.metrics:
                        target, weight, outputs = concatenate_parts(parts)
                        logs.update(self._training_metrics(
                            self._metrics_activation(), target, weight,
                            np.arange(seen), outputs, seen))
                    if validation_data is not None and validates(epoch, validation_freq):
                        result = (self._evaluate_arrays(*val, on_device=val_dev)
                                  if val is not None else self._evaluate_source(BatchSource(
                                      "validation_data", validation_data, validation_steps)))
                        logs.update({f"val_{k}": v for k, v in result.items()})
                    if self._stopped_on_non_finite_logs(logs, epoch, initial_epoch, last_good,
                                                        history, progress, stacklevel=5):
                        break
                    watch.check(epoch, loss_value, stacklevel=5)
                    progress.steps = source.steps or batches  # a generator's count is known now
                    progress.end_epoch(batches, seen, logs, train_seconds)
                    if self._stopped_at_epoch_end(callback_list, epoch, logs, history):
                        break
        except BaseException:
            progress.abort()
            raise
        for callback in callback_list:
            callback.on_train_end(dict(logs))
        return history

    def _evaluate_source(self, source: BatchSource) -> Dict[str, float]:
        """Loss and metrics over every batch of one epoch of ``source``: the same numbers as
        :meth:`evaluate` on the batches concatenated."""
        plan, parts = None, []
        for batch, (xb, yb, wb) in enumerate(source.epoch()):
            if yb is None:
                raise ValueError(f"{source.name}[{batch}]: expected (x, y) or (x, y, "
                                 f"sample_weight) batches to evaluate, got x alone")
            x_b, target, weight = self._prepare(xb, yb, wb, prefix=f"{source.name}[{batch}]: ")
            plan = self._inference_plan(x_b.shape[0], for_loss=True)
            with self._backend.blas_scope(plan.flops(x_b.shape[0])):
                outputs = plan.predict(self._on_device(x_b)[0], x_b.shape[0])
            parts.append((target, weight, self._backend.to_numpy(outputs)))
        if not parts:
            raise ValueError(f"{source.name}: expected at least one batch, got none")
        target, weight, outputs = concatenate_parts(parts)
        _, target_dev, weight_dev, outputs_dev = self._on_device(
            None, self.loss.smooth_targets(target), weight, outputs)
        logs = {"loss": float(plan.loss_value(outputs_dev, target_dev, weight_dev))}
        if self.metrics:
            probabilities = apply_output_activation(np.array(outputs, copy=True),
                                                    self._metrics_activation())
            logs.update(metrics_module.evaluate_metrics(self.metrics, target, probabilities,
                                                        weight))
        return logs

    def _predict_source(self, source: BatchSource, batch_size: int,
                        return_device_array: bool):
        """Outputs for every batch of one epoch of ``source`` (its ``y`` is ignored)."""
        results = []
        for batch, (xb, _, _) in enumerate(source.epoch()):
            x_b = self._features(f"{source.name}[{batch}]", xb)
            self.build(x_b.shape[1])
            plan = self._inference_plan(min(batch_size, max(x_b.shape[0], PLAN_ROWS)))
            with self._backend.blas_scope(plan.flops(min(batch_size, x_b.shape[0]))):
                results.append(self._backend.to_numpy(plan.predict(self._on_device(x_b)[0],
                                                                   batch_size)))
        if not results:
            raise ValueError(f"{source.name}: expected at least one batch, got none")
        result = np.concatenate(results)
        return self._backend.asarray(result) if return_device_array else result


def concatenate_parts(parts):
    """Targets, weights (``None`` unless every batch has them) and outputs of the batches."""
    target = np.concatenate([part[0] for part in parts])
    weights = [part[1] for part in parts]
    if any(w is None for w in weights):
        if not all(w is None for w in weights):
            raise ValueError("sample_weight: expected it in every batch or in none")
        weight = None
    else:
        weight = np.concatenate(weights)
    return target, weight, np.concatenate([part[2] for part in parts])


__all__ = ["SourceTraining", "concatenate_parts"]
