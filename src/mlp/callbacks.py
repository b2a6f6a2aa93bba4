"""Callbacks: hooks into ``fit`` (History, EarlyStopping).

A callback overrides any of ``on_train_begin/end``, ``on_epoch_begin/end``,
``on_batch_begin/end``. Overriding a batch hook switches ``fit`` to the per-batch path (one call
into the engine per batch instead of per epoch), so only override them when needed.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional

import numpy as np


class Callback:
    """Base class; ``self.model`` is set by ``fit`` before ``on_train_begin``."""

    def __init__(self):
        self.model = None

    def set_model(self, model) -> None:
        """Attach the model being trained."""
        self.model = model

    def on_train_begin(self, logs: Optional[Dict[str, float]] = None) -> None:
        """Called once before the first epoch."""

    def on_train_end(self, logs: Optional[Dict[str, float]] = None) -> None:
        """Called once after the last epoch, however training ended."""

    def on_epoch_begin(self, epoch: int, logs: Optional[Dict[str, float]] = None) -> None:
        """Called at the start of each epoch (0-based)."""

    def on_epoch_end(self, epoch: int, logs: Optional[Dict[str, float]] = None) -> None:
        """Called with the epoch's loss, metrics and ``val_*`` values."""

    def on_batch_begin(self, batch: int, logs: Optional[Dict[str, float]] = None) -> None:
        """Called before each batch (switches fit to the per-batch path)."""

    def on_batch_end(self, batch: int, logs: Optional[Dict[str, float]] = None) -> None:
        """Called after each batch with ``{"loss": batch loss}`` (per-batch path)."""

    def wants_batch_hooks(self) -> bool:
        """Whether this callback overrides a batch hook."""
        cls = type(self)
        return (cls.on_batch_begin is not Callback.on_batch_begin
                or cls.on_batch_end is not Callback.on_batch_end)


class History(Callback):
    """Records every epoch's logs in ``history`` (returned by ``fit``).

    Attributes
    ----------
    history : dict of str -> list of float
        ``{"loss": [...], "accuracy": [...], "val_loss": [...], ...}``, one entry per epoch.
    epoch : list of int
        The epochs recorded.
    """

    def __init__(self):
        super().__init__()
        self.history: Dict[str, List[float]] = {}
        self.epoch: List[int] = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)


class MonitorCallback(Callback):
    """Shared logic of callbacks that watch a logged quantity for improvement.

    Parameters
    ----------
    monitor : str
        Key of the epoch logs, e.g. ``"val_loss"``.
    mode : {"auto", "min", "max"}
        ``"auto"`` means ``max`` for accuracy-like names (accuracy, precision, recall, f1, auc,
        r2) and ``min`` otherwise.
    min_delta : float
        Smallest change that counts as an improvement.
    baseline : float, optional
        A value the monitored quantity must beat before an improvement resets the patience
        count (the best epoch is still tracked, as in Keras).
    """

    _MAXIMISED = ("acc", "precision", "recall", "f1", "auc", "r2")

    def __init__(self, monitor: str = "val_loss", mode: str = "auto", min_delta: float = 0.0,
                 baseline: Optional[float] = None):
        super().__init__()
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"mode: expected 'auto', 'min' or 'max', got {mode!r}")
        if min_delta < 0:
            raise ValueError(f"min_delta: expected a number >= 0, got {min_delta!r}")
        self.monitor = monitor
        if mode == "auto":
            name = monitor[4:] if monitor.startswith("val_") else monitor
            mode = "max" if any(key in name for key in self._MAXIMISED) else "min"
        self.mode = mode
        self.min_delta = float(min_delta)
        self.baseline = baseline
        self.best: Optional[float] = None

    def reset_best(self) -> None:
        """Forget the best value (at the start of training)."""
        self.best = None

    def monitor_value(self, logs: Optional[Dict[str, float]]) -> float:
        """``logs[monitor]``.

        Raises
        ------
        KeyError
            When the monitored key is missing from the logs (the message lists those present).
        """
        logs = logs or {}
        if self.monitor not in logs:
            raise KeyError(
                f"monitor: {self.monitor!r} is not in the epoch logs; available are "
                f"{sorted(logs)} (val_* needs validation data)"
            )
        return logs[self.monitor]

    def is_improvement(self, current: float, reference: Optional[float]) -> bool:
        """Whether ``current`` beats ``reference`` by more than ``min_delta`` (None: any number)."""
        if np.isnan(current):
            return False
        if reference is None:
            return True
        if self.mode == "min":
            return current < reference - self.min_delta
        return current > reference + self.min_delta


class EarlyStopping(MonitorCallback):
    """Stop training when the monitored quantity stops improving.

    Parameters
    ----------
    monitor, mode, min_delta, baseline : see :class:`MonitorCallback`.
        ``monitor`` defaults to ``"val_loss"``.
    patience : int
        Stop after this many epochs in a row without improvement (Keras' rule; ``0`` stops at
        the first epoch that does not improve). Defaults to ``0``.
    restore_best_weights : bool
        Restore the weights of the best epoch when training ends, whatever ended it.
        Defaults to ``False`` (as in Keras).
    start_from_epoch : int
        Epochs to wait before watching at all. Defaults to ``0``.

    Examples
    --------
    >>> import mlp
    >>> stop = mlp.EarlyStopping(patience=5, restore_best_weights=True)
    """

    def __init__(self, monitor: str = "val_loss", min_delta: float = 0.0, patience: int = 0,
                 mode: str = "auto", baseline: Optional[float] = None,
                 restore_best_weights: bool = False, start_from_epoch: int = 0):
        super().__init__(monitor, mode, min_delta, baseline)
        if patience < 0:
            raise ValueError(f"patience: expected an integer >= 0, got {patience!r}")
        self.patience = int(patience)
        self.restore_best_weights = bool(restore_best_weights)
        self.start_from_epoch = int(start_from_epoch)
        self.wait = 0
        self.stopped_epoch: Optional[int] = None
        self.best_epoch: Optional[int] = None
        self.best_weights: Optional[List[Any]] = None

    def on_train_begin(self, logs=None):
        self.reset_best()
        self.wait = 0
        self.stopped_epoch = None
        self.best_epoch = None
        self.best_weights = None

    def on_epoch_end(self, epoch, logs=None):
        if epoch < self.start_from_epoch:
            return
        current = self.monitor_value(logs)
        self.wait += 1
        if self.is_improvement(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            # the wait restarts only when the baseline, too, is beaten (as in Keras)
            if self.baseline is None or self.is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.restore_best_weights and self.best_weights is not None:
            self.model.set_weights(self.best_weights)
