"""The bookkeeping of ``fit``'s epoch loop: which epochs validate, the per-batch hooks that
reach the callbacks and the progress display, and the snapshot restored when training diverges.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

from ..backends.base import BatchHooks
from ..validation import check_positive_int
from .callbacks import Callback
from .progress import Progress

PLAN_ROWS = 256
"""Rows an inference plan is first made for when the batch is larger (it grows on demand)."""


def callbacks_of(model, callbacks, history) -> List[Callback]:
    """The callbacks of one ``fit``, each given the model: the user's, then ``history`` (last,
    as in Keras: it records the keys other callbacks add to the logs)."""
    found = list(callbacks or []) + [history]
    for callback in found:
        if not isinstance(callback, Callback):
            raise TypeError(f"callbacks: expected mlp.callbacks.Callback objects, got "
                            f"{type(callback).__name__}")
        callback.set_model(model)
    return found


def check_validation_freq(value):
    """An int ``>= 1`` or a collection of 1-based epoch numbers."""
    if isinstance(value, (list, tuple, set, range)):
        return {check_positive_int("validation_freq", epoch) for epoch in value}
    return check_positive_int("validation_freq", value)


def validates(epoch: int, frequency) -> bool:
    """Whether 0-based ``epoch`` runs validation under ``validation_freq``."""
    if isinstance(frequency, set):
        return epoch + 1 in frequency
    return (epoch + 1) % frequency == 0


class CallbackHooks(BatchHooks):
    """Forwards the engine's per-batch hooks to the callbacks and the progress display."""

    def __init__(self, model, callbacks: Sequence[Callback],
                 progress: Optional[Progress] = None):
        self.model = model
        self.callbacks = callbacks
        self.progress = progress if progress is not None else Progress()

    def begin_epoch(self, target, weight, order, outputs, fused, batch_size: int) -> None:
        """What the progress display needs to show the running loss and metrics."""
        self._epoch = (target, weight, order, outputs, fused)
        self._batch_size = batch_size
        self._seen = 0
        self._total = 0.0

    def begin(self, batch: int) -> None:
        for callback in self.callbacks:
            callback.on_train_batch_begin(batch)

    def end(self, batch: int, loss: float) -> bool:
        logs = {"loss": float(loss)}
        for callback in self.callbacks:
            callback.on_train_batch_end(batch, logs)
        if self.progress.live:
            rows = min(self._batch_size, len(self._epoch[2]) - self._seen)
            self._seen += rows
            self._total += float(loss) * rows
            target, weight, order, outputs, fused = self._epoch
            seen, total = self._seen, self._total
            self.progress.update(batch + 1, seen, lambda: self.model._running_logs(
                fused, target, weight, order, outputs, seen, total))
        return self.model.stop_training



class TrainingSnapshot:
    """The weights and optimizer state at the start of an epoch, for ``fit`` to restore when
    the loss turns non-finite.

    Copied into buffers allocated at the first :meth:`take` and reused by every later epoch of
    the same ``fit``, on the model's device: a fresh copy per epoch made the system allocate
    and zero the pages of a second model every epoch (on the 25 M-parameter benchmark network
    that was 6 % of an epoch's time).
    """

    def __init__(self, model):
        self._model = model
        self._params = None
        self._slots: Dict[str, Any] = {}
        self._iterations = 0

    def take(self) -> None:
        model = self._model
        if self._params is None:
            self._params = model.params.copy()
            self._slots = {name: slot.copy() for name, slot in model.optimizer.slots.items()}
        else:
            self._params[...] = model.params
            for name, slot in model.optimizer.slots.items():
                self._slots[name][...] = slot
        self._iterations = model.optimizer.iterations

    def restore(self) -> None:
        model = self._model
        model.params[...] = self._params
        for name, slot in model.optimizer.slots.items():
            slot[...] = self._slots[name]  # in place: the training plan points at the slots
        model.optimizer.iterations = self._iterations


__all__ = ["CallbackHooks", "PLAN_ROWS", "TrainingSnapshot", "callbacks_of",
           "check_validation_freq", "validates"]
