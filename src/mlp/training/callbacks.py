"""Callbacks: hooks into ``fit``, with Keras' names, defaults and semantics.

A callback overrides any of ``on_train_begin/end``, ``on_epoch_begin/end``,
``on_batch_begin/end``. Overriding a batch hook switches ``fit`` to the per-batch path (one call
into the engine per batch instead of per epoch), so only override them when needed.

``fit`` calls the callbacks in the order given and :class:`History` last, so that the history
holds the keys other callbacks add to the epoch logs (``learning_rate``, for instance).

Callbacks that watch a logged quantity (:class:`EarlyStopping`, :class:`ModelCheckpoint`,
:class:`ReduceLROnPlateau`) share one rule for ``monitor`` / ``mode`` / ``min_delta``:
:class:`MonitorCallback`.

Examples
--------
>>> import numpy as np, mlp
>>> from mlp.callbacks import CSVLogger, EarlyStopping, ReduceLROnPlateau
>>> x = np.random.default_rng(0).normal(size=(64, 3))
>>> y = (x[:, 0] > 0).astype("float32")
>>> model = mlp.Sequential([mlp.Dense(1, activation="sigmoid", input_dim=3)], seed=0)
>>> model.compile(optimizer=mlp.SGD(0.1), loss="binary_crossentropy")
>>> history = model.fit(x, y, epochs=3, validation_split=0.25, verbose=0,
...                     callbacks=[ReduceLROnPlateau(patience=1), EarlyStopping(patience=2)])
>>> sorted(history.history)
['learning_rate', 'loss', 'val_loss']
"""
from __future__ import annotations

import csv
import math
import numbers
import os
import sys
from typing import Any, Callable, Dict, List, Optional, Union

import numpy as np

from ..distributed.process_group import writes_files
from ..validation import check_non_negative_int


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

    def on_train_batch_begin(self, batch: int,
                             logs: Optional[Dict[str, float]] = None) -> None:
        """Called before each training batch (switches fit to the per-batch path). Keras 3's
        name; by default it calls :meth:`on_batch_begin`, as in Keras."""
        self.on_batch_begin(batch, logs)

    def on_train_batch_end(self, batch: int, logs: Optional[Dict[str, float]] = None) -> None:
        """Called after each training batch with ``{"loss": batch loss}`` (per-batch path).
        Keras 3's name; by default it calls :meth:`on_batch_end`, as in Keras."""
        self.on_batch_end(batch, logs)

    def on_batch_begin(self, batch: int, logs: Optional[Dict[str, float]] = None) -> None:
        """The older name of :meth:`on_train_batch_begin`, called by it."""

    def on_batch_end(self, batch: int, logs: Optional[Dict[str, float]] = None) -> None:
        """The older name of :meth:`on_train_batch_end`, called by it."""

    def wants_batch_hooks(self) -> bool:
        """Whether this callback overrides a batch hook (under either name)."""
        cls = type(self)
        return any(getattr(cls, name) is not getattr(Callback, name)
                   for name in ("on_batch_begin", "on_batch_end", "on_train_batch_begin",
                                "on_train_batch_end"))


class History(Callback):
    """Records every epoch's logs in ``history`` (returned by ``fit``), and why training ended.

    Attributes
    ----------
    history : dict of str -> list of float
        ``{"loss": [...], "accuracy": [...], "val_loss": [...], ...}``, one entry per epoch.
    epoch : list of int
        The epochs recorded (0-based).
    stopped_reason : str or None
        ``None`` when ``fit`` ran all its epochs; ``"non_finite_loss"`` when the training loss
        became NaN or infinite (``fit`` then restores the weights and optimizer state of the
        end of the last finite epoch, and that epoch is not recorded); ``"callback"`` when a
        callback set ``model.stop_training`` (:class:`EarlyStopping`, for instance).
    stopped_epoch : int or None
        The epoch (0-based) in which training stopped early; ``None`` otherwise.

    Examples
    --------
    >>> import numpy as np, mlp
    >>> model = mlp.Sequential([mlp.Dense(1, input_dim=2)], seed=0)
    >>> model.compile(optimizer="sgd", loss="mse")
    >>> history = model.fit(np.ones((8, 2)), np.ones(8), epochs=2, verbose=0)
    >>> history.epoch, history.stopped_reason
    ([0, 1], None)
    """

    def __init__(self):
        super().__init__()
        self.history: Dict[str, List[float]] = {}
        self.epoch: List[int] = []
        self.stopped_reason: Optional[str] = None
        self.stopped_epoch: Optional[int] = None

    def on_train_begin(self, logs=None):
        self.stopped_reason = None
        self.stopped_epoch = None

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)

    def plot(self, metrics: Optional[List[str]] = None, ax=None):
        """Plot the loss and metric curves, training against validation.

        Calls :func:`mlp.plotting.plot_history` (needs matplotlib; without it that function
        raises a clear error).

        Parameters
        ----------
        metrics : list of str, optional
            The quantities to plot (``"loss"``, ``"accuracy"``, ...; their ``val_`` twins are
            drawn with them). Defaults to ``None``: every recorded quantity.
        ax : matplotlib Axes, optional
            Where to draw. Defaults to ``None``: a new figure.

        Returns
        -------
        Whatever :func:`mlp.plotting.plot_history` returns (the axes drawn on).
        """
        from ..plotting import plot_history

        return plot_history(self, metrics=metrics, ax=ax)


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
    verbose : int
        ``1`` prints a line when training stops early and when the best weights are restored
        (Keras' messages); ``0`` is silent. Defaults to ``0``.

    Examples
    --------
    >>> import mlp
    >>> stop = mlp.EarlyStopping(patience=5, restore_best_weights=True)
    """

    def __init__(self, monitor: str = "val_loss", min_delta: float = 0.0, patience: int = 0,
                 verbose: int = 0, mode: str = "auto", baseline: Optional[float] = None,
                 restore_best_weights: bool = False, start_from_epoch: int = 0):
        super().__init__(monitor, mode, min_delta, baseline)
        if patience < 0:
            raise ValueError(f"patience: expected an integer >= 0, got {patience!r}")
        self.verbose = check_non_negative_int("verbose", verbose)
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
        if self.verbose and self.stopped_epoch is not None:
            _announce(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose:
                _announce(f"Restoring model weights from the end of the best epoch: "
                      f"{self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)


class ModelCheckpoint(MonitorCallback):
    """Save the model (or its weights) during training, optionally only when it improves.

    Files are written by :func:`mlp.io.save_model` / :func:`mlp.io.save_weights`: to a temporary
    file that is then renamed over the target, so a crash mid-write leaves the previous file as
    it was. Missing parent folders are created.

    Parameters
    ----------
    filepath : str or os.PathLike
        Where to save. It may hold ``str.format`` fields filled from ``epoch`` (1-based, as in
        Keras), ``batch`` (1-based, with an integer ``save_freq``) and the logs:
        ``"ckpt-{epoch:02d}-{val_loss:.2f}.mlp"``.
    monitor : str
        The logged quantity that ``save_best_only`` compares. Defaults to ``"val_loss"``.
    verbose : int
        ``1`` prints a line at each save or skipped save. Defaults to ``0``.
    save_best_only : bool
        Save only when ``monitor`` improves on the best value seen so far (kept from one
        ``fit`` to the next, as in Keras). Defaults to ``False``: save every time.
    save_weights_only : bool
        Save only the weights (:meth:`Sequential.save_weights`) rather than the whole model
        (:meth:`Sequential.save`, with the optimizer state). Defaults to ``False``.
    mode : {"auto", "min", "max"}
        Whether smaller or larger ``monitor`` values are better; see :class:`MonitorCallback`.
        Defaults to ``"auto"``.
    save_freq : "epoch" or int
        ``"epoch"`` saves at the end of each epoch; an integer ``n`` saves after every ``n``
        batches (counted across epochs), which runs ``fit`` on its per-batch path; the batch
        logs hold only ``loss``, so ``save_best_only`` then needs ``monitor="loss"``.
        Defaults to ``"epoch"``.
    initial_value_threshold : float, optional
        A value of ``monitor`` to beat before the first save (``save_best_only`` only).
        Defaults to ``None``.

    Raises
    ------
    KeyError
        During ``fit``, when ``filepath`` names a field the logs do not hold, or when
        ``save_best_only`` watches a key the logs do not hold.

    Examples
    --------
    >>> import os, tempfile, numpy as np, mlp
    >>> folder = tempfile.mkdtemp()
    >>> model = mlp.Sequential([mlp.Dense(1, input_dim=2)], seed=0)
    >>> model.compile(optimizer="sgd", loss="mse")
    >>> checkpoint = mlp.callbacks.ModelCheckpoint(os.path.join(folder, "best.mlp"),
    ...                                            monitor="loss", save_best_only=True)
    >>> _ = model.fit(np.ones((8, 2)), np.ones(8), epochs=3, verbose=0, callbacks=[checkpoint])
    >>> restored = mlp.load_model(os.path.join(folder, "best.mlp"))
    """

    def __init__(self, filepath, monitor: str = "val_loss", verbose: int = 0,
                 save_best_only: bool = False, save_weights_only: bool = False,
                 mode: str = "auto", save_freq: Union[str, int] = "epoch",
                 initial_value_threshold: Optional[float] = None):
        super().__init__(monitor, mode)
        self.filepath = os.fspath(filepath)
        if save_freq != "epoch" and (isinstance(save_freq, bool)
                                     or not isinstance(save_freq, (int, np.integer))
                                     or save_freq < 1):
            raise ValueError(f"save_freq: expected 'epoch' or an integer >= 1, got {save_freq!r}")
        self.verbose = verbose
        self.save_best_only = bool(save_best_only)
        self.save_weights_only = bool(save_weights_only)
        self.save_freq = save_freq
        self.best = initial_value_threshold
        self._epoch = 0
        self._batches_since_save = 0

    def wants_batch_hooks(self) -> bool:
        return self.save_freq != "epoch"

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_batch_end(self, batch, logs=None):
        if self.save_freq == "epoch":
            return
        self._batches_since_save += 1
        if self._batches_since_save >= self.save_freq:
            self._batches_since_save = 0
            self._save(self._epoch, batch, logs or {})

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._save(epoch, None, logs or {})

    def _save(self, epoch: int, batch: Optional[int], logs: Dict[str, float]) -> None:
        path = self._format_path(epoch, batch, logs)
        if self.save_best_only:
            current = self.monitor_value(logs)
            if not self.is_improvement(current, self.best):
                self._say(f"Epoch {epoch + 1}: {self.monitor} did not improve from "
                          f"{_format_best(self.best)}")
                return
            self._say(f"Epoch {epoch + 1}: {self.monitor} improved from "
                      f"{_format_best(self.best)} to {current:.5f}, saving model to {path}")
            self.best = current
        else:
            self._say(f"Epoch {epoch + 1}: saving model to {path}")
        folder = os.path.dirname(path)
        if folder and writes_files():
            os.makedirs(folder, exist_ok=True)
        if self.save_weights_only:
            self.model.save_weights(path)
        else:
            self.model.save(path)

    def _format_path(self, epoch: int, batch: Optional[int], logs: Dict[str, float]) -> str:
        fields = dict(logs)
        fields["epoch"] = epoch + 1
        if batch is not None:
            fields["batch"] = batch + 1
        try:
            return self.filepath.format(**fields)
        except (KeyError, IndexError, ValueError) as error:
            raise KeyError(f"filepath: cannot format {self.filepath!r} from the logs ({error!r}); "
                           f"available fields are {sorted(fields)}") from None

    def _say(self, message: str) -> None:
        if self.verbose:
            _announce(message)


def _announce(message: str) -> None:
    """Print a callback's message (in distributed training, on rank 0 only)."""
    if writes_files():
        print(message, file=sys.stdout, flush=True)


def _format_best(value: Optional[float]) -> str:
    return "None" if value is None else f"{value:.5f}"


def _float_learning_rate(model, who: str) -> float:
    """The optimizer's learning rate, which must be a number (not a schedule)."""
    optimizer = getattr(model, "optimizer", None)
    rate = getattr(optimizer, "learning_rate", None)
    if rate is None or callable(rate):
        raise TypeError(f"{who}: the optimizer's learning_rate must be a number, got "
                        f"{type(rate).__name__}; a schedule already sets the rate of every step "
                        f"(use a number, e.g. mlp.Adam(learning_rate=1e-3), with {who})")
    return float(rate)


class ReduceLROnPlateau(MonitorCallback):
    """Multiply the learning rate by ``factor`` when ``monitor`` stops improving.

    After ``patience`` epochs without improvement the optimizer's learning rate becomes
    ``max(lr * factor, min_lr)``; then ``cooldown`` epochs pass before the count starts again.
    Nothing happens once the rate is ``min_lr`` or lower. The current rate is added to the
    epoch logs as ``learning_rate`` (so :class:`History` records it).

    Parameters
    ----------
    monitor : str
        Defaults to ``"val_loss"``.
    factor : float
        The multiplier, ``0 < factor < 1``. Defaults to ``0.1``.
    patience : int
        Epochs without improvement before a reduction. Defaults to ``10``.
    verbose : int
        ``1`` prints a line at each reduction. Defaults to ``0``.
    mode : {"auto", "min", "max"}
        See :class:`MonitorCallback`. Defaults to ``"auto"``.
    min_delta : float
        Smallest change that counts as an improvement. Defaults to ``1e-4``.
    cooldown : int
        Epochs to wait after a reduction before counting again. Defaults to ``0``.
    min_lr : float
        Lower bound of the learning rate. Defaults to ``0.0``.

    Raises
    ------
    TypeError
        At the start of training, when the optimizer's learning rate is a schedule.

    Examples
    --------
    >>> import mlp
    >>> reduce = mlp.callbacks.ReduceLROnPlateau(factor=0.5, patience=3, min_lr=1e-5)
    """

    def __init__(self, monitor: str = "val_loss", factor: float = 0.1, patience: int = 10,
                 verbose: int = 0, mode: str = "auto", min_delta: float = 1e-4,
                 cooldown: int = 0, min_lr: float = 0.0):
        super().__init__(monitor, mode, min_delta)
        if not (isinstance(factor, numbers.Real) and 0 < factor < 1):
            raise ValueError(f"factor: expected a number with 0 < factor < 1 (a factor >= 1 "
                             f"would not reduce the rate), got {factor!r}")
        for name, value in (("patience", patience), ("cooldown", cooldown)):
            check_non_negative_int(name, value)
        if not (isinstance(min_lr, numbers.Real) and math.isfinite(min_lr) and min_lr >= 0):
            raise ValueError(f"min_lr: expected a finite number >= 0, got {min_lr!r}")
        self.factor = float(factor)
        self.patience = int(patience)
        self.verbose = verbose
        self.cooldown = int(cooldown)
        self.min_lr = float(min_lr)
        self.wait = 0
        self.cooldown_counter = 0

    def on_train_begin(self, logs=None):
        _float_learning_rate(self.model, "ReduceLROnPlateau")
        self.reset_best()
        self.wait = 0
        self.cooldown_counter = 0

    def in_cooldown(self) -> bool:
        """Whether the cooldown after the last reduction is still running."""
        return self.cooldown_counter > 0

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        optimizer = self.model.optimizer
        logs["learning_rate"] = float(optimizer.learning_rate)
        current = self.monitor_value(logs)
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self.is_improvement(current, self.best):
            self.best = current
            self.wait = 0
        elif not self.in_cooldown():
            self.wait += 1
            if self.wait >= self.patience:
                old_lr = float(optimizer.learning_rate)
                if old_lr > self.min_lr:
                    new_lr = max(old_lr * self.factor, self.min_lr)
                    optimizer.learning_rate = new_lr
                    if self.verbose:
                        _announce(f"Epoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to "
                              f"{new_lr:.6g}.")
                    self.cooldown_counter = self.cooldown
                    self.wait = 0


class LearningRateScheduler(Callback):
    """Set the learning rate at the start of each epoch from ``schedule(epoch, lr)``.

    The rate in use is added to the epoch logs as ``learning_rate``. For a rate that changes
    every step rather than every epoch, give the optimizer a :mod:`mlp.schedules` schedule
    instead.

    Parameters
    ----------
    schedule : callable
        ``schedule(epoch, lr) -> new_lr``: the 0-based epoch and the current rate (a float);
        returns a finite number ``> 0``.
    verbose : int
        ``1`` prints the rate set at each epoch. Defaults to ``0``.

    Raises
    ------
    TypeError
        At the start of training, when the optimizer's learning rate is a schedule.
    ValueError
        When ``schedule`` returns something other than a finite number ``> 0``.

    Examples
    --------
    >>> import mlp
    >>> halve_every_10 = mlp.callbacks.LearningRateScheduler(
    ...     lambda epoch, lr: lr * 0.5 if epoch and epoch % 10 == 0 else lr)
    """

    def __init__(self, schedule: Callable[[int, float], float], verbose: int = 0):
        super().__init__()
        if not callable(schedule):
            raise TypeError(f"schedule: expected a callable schedule(epoch, lr) -> lr, got "
                            f"{type(schedule).__name__}")
        self.schedule = schedule
        self.verbose = verbose

    def on_train_begin(self, logs=None):
        _float_learning_rate(self.model, "LearningRateScheduler")

    def on_epoch_begin(self, epoch, logs=None):
        current = _float_learning_rate(self.model, "LearningRateScheduler")
        value = self.schedule(epoch, current)
        if (isinstance(value, bool) or not isinstance(value, numbers.Real)
                or not math.isfinite(value) or value <= 0):
            raise ValueError(f"schedule: expected a finite number > 0 from schedule({epoch}, "
                             f"{current!r}), got {value!r}")
        self.model.optimizer.learning_rate = float(value)
        if self.verbose:
            _announce(f"Epoch {epoch + 1}: LearningRateScheduler setting learning rate to "
                  f"{float(value):.6g}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(self.model.optimizer.learning_rate)


class LambdaCallback(Callback):
    """A callback made of plain functions, as ``keras.callbacks.LambdaCallback``.

    Parameters
    ----------
    on_epoch_begin, on_epoch_end : callable, optional
        Called as ``f(epoch, logs)``.
    on_train_batch_begin, on_train_batch_end : callable, optional
        Called as ``f(batch, logs)``; giving either runs ``fit`` batch by batch (Keras 3's
        names).
    on_batch_begin, on_batch_end : callable, optional
        The older names of the two, kept as Keras 2 had them; giving both spellings of one
        hook is an error.
    on_train_begin, on_train_end : callable, optional
        Called as ``f(logs)``.

    Examples
    --------
    >>> import mlp
    >>> losses = []
    >>> log = mlp.callbacks.LambdaCallback(
    ...     on_epoch_end=lambda epoch, logs: losses.append(logs["loss"]))
    """

    def __init__(self, on_epoch_begin: Optional[Callable] = None,
                 on_epoch_end: Optional[Callable] = None,
                 on_batch_begin: Optional[Callable] = None,
                 on_batch_end: Optional[Callable] = None,
                 on_train_begin: Optional[Callable] = None,
                 on_train_end: Optional[Callable] = None,
                 on_train_batch_begin: Optional[Callable] = None,
                 on_train_batch_end: Optional[Callable] = None):
        super().__init__()
        for new_name, new, old_name, old in (
                ("on_train_batch_begin", on_train_batch_begin, "on_batch_begin", on_batch_begin),
                ("on_train_batch_end", on_train_batch_end, "on_batch_end", on_batch_end)):
            if new is not None and old is not None:
                raise TypeError(f"{new_name}: expected it or {old_name} (its older name), "
                                f"got both")
        on_batch_begin = on_train_batch_begin if on_train_batch_begin is not None \
            else on_batch_begin
        on_batch_end = on_train_batch_end if on_train_batch_end is not None else on_batch_end
        functions = {"on_epoch_begin": on_epoch_begin, "on_epoch_end": on_epoch_end,
                     "on_batch_begin": on_batch_begin, "on_batch_end": on_batch_end,
                     "on_train_begin": on_train_begin, "on_train_end": on_train_end}
        for name, function in functions.items():
            if function is not None and not callable(function):
                raise TypeError(f"{name}: expected a callable or None, got "
                                f"{type(function).__name__}")
        self._functions = functions

    def wants_batch_hooks(self) -> bool:
        return (self._functions["on_batch_begin"] is not None
                or self._functions["on_batch_end"] is not None)

    def on_epoch_begin(self, epoch, logs=None):
        if self._functions["on_epoch_begin"]:
            self._functions["on_epoch_begin"](epoch, logs)

    def on_epoch_end(self, epoch, logs=None):
        if self._functions["on_epoch_end"]:
            self._functions["on_epoch_end"](epoch, logs)

    def on_batch_begin(self, batch, logs=None):
        if self._functions["on_batch_begin"]:
            self._functions["on_batch_begin"](batch, logs)

    def on_batch_end(self, batch, logs=None):
        if self._functions["on_batch_end"]:
            self._functions["on_batch_end"](batch, logs)

    def on_train_begin(self, logs=None):
        if self._functions["on_train_begin"]:
            self._functions["on_train_begin"](logs)

    def on_train_end(self, logs=None):
        if self._functions["on_train_end"]:
            self._functions["on_train_end"](logs)


class TerminateOnNaN(Callback):
    """Stop training at the first batch whose loss is NaN or infinite.

    ``fit`` always stops at an epoch whose loss is not finite and restores the weights of the
    end of the last finite epoch (see :class:`History`'s ``stopped_reason``); this callback
    stops within the epoch, at the first bad batch, instead of finishing it. It watches every
    batch, so ``fit`` runs on its per-batch path (slower for small networks). The weights are
    restored as without it.

    Attributes
    ----------
    stopped_batch : int or None
        The (0-based, within its epoch) batch whose loss was not finite, if any.

    Examples
    --------
    >>> import mlp
    >>> callbacks = [mlp.callbacks.TerminateOnNaN()]
    """

    def __init__(self):
        super().__init__()
        self.stopped_batch: Optional[int] = None

    def on_train_begin(self, logs=None):
        self.stopped_batch = None

    def on_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            self.stopped_batch = batch
            self.model.stop_training = True


class CSVLogger(Callback):
    """Write each epoch's logs as a row of a CSV file.

    The first row is a header: ``epoch`` (0-based, as in Keras) then the log keys in sorted
    order, fixed at the first epoch (a key missing later is written ``NA``). Each row is flushed
    as it is written.

    Parameters
    ----------
    filename : str or os.PathLike
        The CSV file.
    separator : str
        The field separator. Defaults to ``","``.
    append : bool
        Append to an existing file (writing the header only if the file is empty or new)
        rather than overwrite it. Defaults to ``False``.

    Examples
    --------
    >>> import os, tempfile, numpy as np, mlp
    >>> path = os.path.join(tempfile.mkdtemp(), "training.csv")
    >>> model = mlp.Sequential([mlp.Dense(1, input_dim=2)], seed=0)
    >>> model.compile(optimizer="sgd", loss="mse")
    >>> _ = model.fit(np.ones((8, 2)), np.ones(8), epochs=2, verbose=0,
    ...               callbacks=[mlp.callbacks.CSVLogger(path)])
    >>> open(path).read().splitlines()[0]
    'epoch,loss'
    """

    def __init__(self, filename, separator: str = ",", append: bool = False):
        super().__init__()
        self.filename = os.fspath(filename)
        self.sep = separator
        self.append = bool(append)
        self.keys: Optional[List[str]] = None
        self._file = None
        self._writer = None
        self._write_header = True

    def on_train_begin(self, logs=None):
        if not writes_files():  # a rank of distributed training other than rank 0
            return
        if self.append:
            self._write_header = not (os.path.exists(self.filename)
                                      and os.path.getsize(self.filename) > 0)
        else:
            self._write_header = True
        self._file = open(self.filename, "a" if self.append else "w", newline="",
                          encoding="utf-8")
        self._writer = None
        self.keys = None

    def on_epoch_end(self, epoch, logs=None):
        if self._file is None:
            return
        logs = logs or {}
        if self._writer is None:
            self.keys = sorted(logs)
            self._writer = csv.writer(self._file, delimiter=self.sep, lineterminator="\n")
            if self._write_header:
                self._writer.writerow(["epoch"] + self.keys)
        self._writer.writerow([epoch] + [logs.get(key, "NA") for key in self.keys])
        self._file.flush()

    def on_train_end(self, logs=None):
        if self._file is not None:
            self._file.close()
        self._file = None
        self._writer = None


__all__ = ["Callback", "History", "MonitorCallback", "EarlyStopping", "ModelCheckpoint",
    "ReduceLROnPlateau", "LearningRateScheduler", "LambdaCallback", "TerminateOnNaN",
    "CSVLogger"]
