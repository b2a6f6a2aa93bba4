"""Callbacks: History, EarlyStopping with Keras' semantics, and the per-batch path of fit."""
from __future__ import annotations

import numpy as np
import pytest

import mlp
from mlp.callbacks import Callback, EarlyStopping, History, MonitorCallback


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 3))
    return x, (x[:, 0] - x[:, 1] > 0).astype(np.float64)


def make_model(seed=0, metrics=("accuracy",), backend=None):
    model = mlp.Sequential([mlp.Dense(6, activation="tanh", input_dim=3),
                            mlp.Dropout(0.2),
                            mlp.Dense(1, activation="sigmoid")], seed=seed, dtype="float64",
                           backend=backend)
    model.compile(optimizer=mlp.Adam(0.01), loss="binary_crossentropy", metrics=list(metrics))
    return model


class Script(Callback):
    """Writes scripted values of ``key`` into the epoch logs (runs before later callbacks)."""

    def __init__(self, values, key="score"):
        super().__init__()
        self.values, self.key = list(values), key

    def on_epoch_end(self, epoch, logs=None):
        logs[self.key] = self.values[epoch]


class Snapshots(Callback):
    """Records the weights at the end of each epoch."""

    def __init__(self):
        super().__init__()
        self.weights = []

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append(self.model.get_weights())


def assert_weights_equal(a, b):
    assert len(a) == len(b)
    for wa, wb in zip(a, b):
        np.testing.assert_array_equal(wa, wb)


# ------------------------------------------------------------------------- History
def test_history_records_every_epoch(data):
    x, y = data
    model = make_model(metrics=["accuracy", "mae"])
    history = model.fit(x, y, epochs=4, batch_size=16, validation_split=0.2, verbose=0)
    assert isinstance(history, History) and model.history is history
    assert history.epoch == [0, 1, 2, 3]
    assert list(history.history) == ["loss", "accuracy", "mae", "val_loss", "val_accuracy",
                                     "val_mae"]
    for values in history.history.values():
        assert len(values) == 4 and all(isinstance(v, float) for v in values)
    assert history.model is model
    # the last validation entry is evaluate() on the validation tail
    assert history.history["val_loss"][-1] == pytest.approx(
        model.evaluate(x[40:], y[40:])["loss"], rel=1e-12)


def test_history_is_new_for_each_fit(data):
    x, y = data
    model = make_model()
    first = model.fit(x, y, epochs=2, verbose=0)
    second = model.fit(x, y, epochs=3, verbose=0)
    assert first is not second and len(first.epoch) == 2 and len(second.epoch) == 3


def test_hooks_are_called_in_order(data):
    x, y = data
    calls = []

    class Recorder(Callback):
        def on_train_begin(self, logs=None):
            calls.append("train_begin")

        def on_epoch_begin(self, epoch, logs=None):
            calls.append(f"epoch_begin {epoch}")

        def on_epoch_end(self, epoch, logs=None):
            calls.append(f"epoch_end {epoch} {sorted(logs)}")

        def on_train_end(self, logs=None):
            calls.append("train_end")

    recorder = Recorder()
    assert not recorder.wants_batch_hooks()
    make_model().fit(x, y, epochs=2, verbose=0, callbacks=[recorder])
    assert calls == ["train_begin", "epoch_begin 0", "epoch_end 0 ['accuracy', 'loss']",
                     "epoch_begin 1", "epoch_end 1 ['accuracy', 'loss']", "train_end"]
    assert recorder.model is not None


# ---------------------------------------------------------------- EarlyStopping
def test_early_stopping_waits_patience_epochs(data):
    x, y = data
    # best 4.0 at epoch 1, then two epochs without improvement: stop after epoch 3
    stop = EarlyStopping(monitor="score", patience=2)
    history = make_model().fit(x, y, epochs=10, verbose=0,
                               callbacks=[Script([5, 4, 4.5, 4.2, 1, 1, 1, 1, 1, 1]), stop])
    assert history.epoch == [0, 1, 2, 3]
    assert stop.stopped_epoch == 3 and stop.best_epoch == 1 and stop.best == 4


def test_early_stopping_patience_zero_stops_at_the_first_non_improvement(data):
    x, y = data
    stop = EarlyStopping(monitor="score")
    history = make_model().fit(x, y, epochs=10, verbose=0,
                               callbacks=[Script([5, 4, 3, 3, 2, 1, 0, 0, 0, 0]), stop])
    assert history.epoch == [0, 1, 2, 3]


def test_early_stopping_improvement_resets_the_wait(data):
    x, y = data
    stop = EarlyStopping(monitor="score", patience=2)
    history = make_model().fit(x, y, epochs=10, verbose=0,
                               callbacks=[Script([5, 6, 4, 6, 3, 7, 7, 0, 0, 0]), stop])
    assert history.epoch == [0, 1, 2, 3, 4, 5, 6]
    assert stop.best_epoch == 4 and stop.stopped_epoch == 6


def test_early_stopping_min_delta(data):
    x, y = data
    # improvements of 0.05 do not count with min_delta 0.1
    stop = EarlyStopping(monitor="score", patience=1, min_delta=0.1)
    history = make_model().fit(x, y, epochs=10, verbose=0,
                               callbacks=[Script([1.0, 0.95, 0.5, 0.45, 0, 0, 0, 0, 0, 0]),
                                          stop])
    assert history.epoch == [0, 1]


def test_early_stopping_mode_max_and_auto_for_accuracy(data):
    x, y = data
    values = [0.5, 0.7, 0.6, 0.65, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9]
    for stop in (EarlyStopping(monitor="score", mode="max", patience=2),
                 EarlyStopping(monitor="val_accuracy", patience=2)):
        key = "score" if stop.monitor == "score" else "val_accuracy"
        history = make_model().fit(x, y, epochs=10, verbose=0, validation_split=0.2,
                                   callbacks=[Script(values, key), stop])
        assert stop.mode == "max"
        assert history.epoch == [0, 1, 2, 3], stop.monitor
        assert stop.best == 0.7
    for name in ("accuracy", "val_precision", "recall", "f1", "val_auc"):
        assert EarlyStopping(monitor=name).mode == "max"
    for name in ("loss", "val_loss", "mse", "val_mae"):
        assert EarlyStopping(monitor=name).mode == "min"


def test_early_stopping_restores_the_best_weights(data):
    x, y = data
    snapshots = Snapshots()
    stop = EarlyStopping(monitor="score", patience=2, restore_best_weights=True)
    model = make_model()
    model.fit(x, y, epochs=10, verbose=0,
              callbacks=[Script([5, 3, 4, 4, 0, 0, 0, 0, 0, 0]), snapshots, stop])
    assert len(snapshots.weights) == 4
    assert not np.array_equal(snapshots.weights[1][0], snapshots.weights[3][0])
    assert_weights_equal(model.get_weights(), snapshots.weights[1])
    assert stop.best_epoch == 1


def test_restore_best_weights_also_when_epochs_run_out(data):
    x, y = data
    snapshots = Snapshots()
    stop = EarlyStopping(monitor="score", patience=5, restore_best_weights=True)
    model = make_model()
    model.fit(x, y, epochs=4, verbose=0, callbacks=[Script([3, 1, 2, 2]), snapshots, stop])
    assert stop.stopped_epoch is None
    assert_weights_equal(model.get_weights(), snapshots.weights[1])


def test_early_stopping_on_real_val_loss_restores_its_minimum(data):
    x, y = data
    snapshots = Snapshots()
    model = make_model()
    model.compile(optimizer=mlp.Adam(0.5), loss="binary_crossentropy")   # noisy on purpose
    history = model.fit(x, y, epochs=40, batch_size=5, validation_split=0.3, verbose=0,
                        callbacks=[snapshots, EarlyStopping(patience=3,
                                                            restore_best_weights=True)])
    best = int(np.argmin(history.history["val_loss"]))
    assert_weights_equal(model.get_weights(), snapshots.weights[best])
    assert model.evaluate(x[35:], y[35:])["loss"] == pytest.approx(
        min(history.history["val_loss"]), rel=1e-12)


def test_without_restore_the_last_weights_stay(data):
    x, y = data
    snapshots = Snapshots()
    model = make_model()
    model.fit(x, y, epochs=10, verbose=0,
              callbacks=[Script([5, 3, 4, 4, 0, 0, 0, 0, 0, 0]), snapshots,
                         EarlyStopping(monitor="score", patience=2)])
    assert_weights_equal(model.get_weights(), snapshots.weights[-1])


def test_start_from_epoch_ignores_the_first_epochs(data):
    x, y = data
    stop = EarlyStopping(monitor="score", patience=1, start_from_epoch=3)
    history = make_model().fit(x, y, epochs=10, verbose=0,
                               callbacks=[Script([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]), stop])
    assert history.epoch == [0, 1, 2, 3, 4]
    assert stop.best_epoch == 3


def test_baseline_must_be_beaten(data):
    x, y = data
    # Keras 3: an improvement that does not beat the baseline does not reset the patience count,
    # so a score that stalls above the baseline stops after `patience` epochs...
    stop = EarlyStopping(monitor="score", patience=2, baseline=0.5)
    history = make_model().fit(x, y, epochs=10, verbose=0,
                               callbacks=[Script([0.9, 0.95, 0.97, 0.98, 0.4, 0.3, 0.2, 0.1,
                                                  0.0, 0.0]), stop])
    assert history.epoch == [0, 1]
    # ...while one that keeps improving is not stopped, even above the baseline
    stop = EarlyStopping(monitor="score", patience=2, baseline=0.5)
    history = make_model().fit(x, y, epochs=6, verbose=0,
                               callbacks=[Script([0.9, 0.8, 0.7, 0.6, 0.55, 0.52]), stop])
    assert len(history.epoch) == 6


def test_baseline_never_beaten_still_restores_the_best_epoch_like_keras(data):
    x, y = data
    snapshots = Snapshots()
    stop = EarlyStopping(monitor="score", patience=2, baseline=0.5,
                         restore_best_weights=True)
    model = make_model()
    history = model.fit(x, y, epochs=10, verbose=0,
                        callbacks=[Script([0.7, 0.6, 0.65, 0.66, 0.7, 0.7, 0.7, 0.7, 0.7,
                                           0.7]), snapshots, stop])
    assert history.epoch == [0, 1, 2]
    assert_weights_equal(model.get_weights(), snapshots.weights[1])


def test_missing_monitor_key_lists_the_available_ones(data):
    x, y = data
    with pytest.raises(KeyError, match=r"monitor: 'val_loss' is not in the epoch logs; "
                                       r"available are \['accuracy', 'loss'\]"):
        make_model().fit(x, y, epochs=2, verbose=0, callbacks=[EarlyStopping()])


def test_early_stopping_argument_errors():
    with pytest.raises(ValueError, match=r"mode: expected 'auto', 'min' or 'max'"):
        EarlyStopping(mode="up")
    with pytest.raises(ValueError, match=r"min_delta: expected a number >= 0"):
        EarlyStopping(min_delta=-1)
    with pytest.raises(ValueError, match=r"patience: expected an integer >= 0"):
        EarlyStopping(patience=-1)


def test_early_stopping_can_be_reused(data):
    x, y = data
    stop = EarlyStopping(monitor="score", patience=1)
    model = make_model()
    model.fit(x, y, epochs=5, verbose=0, callbacks=[Script([1, 2, 3, 4, 5]), stop])
    assert stop.stopped_epoch == 1
    history = model.fit(x, y, epochs=5, verbose=0, callbacks=[Script([9, 8, 7, 6, 5]), stop])
    assert history.epoch == [0, 1, 2, 3, 4] and stop.stopped_epoch is None


def test_monitor_callback_improvement_rules():
    monitor = MonitorCallback(monitor="loss", min_delta=0.1)
    monitor.reset_best()
    assert monitor.best is None
    assert not monitor.is_improvement(float("nan"), None)
    assert monitor.is_improvement(1.0, None)
    assert not monitor.is_improvement(0.95, 1.0)      # within min_delta
    assert monitor.is_improvement(0.85, 1.0)
    assert monitor.monitor_value({"loss": 0.5}) == 0.5
    maximise = MonitorCallback(monitor="val_accuracy")
    assert maximise.mode == "max" and maximise.is_improvement(0.9, 0.8)


# ------------------------------------------------------------------ batch hooks
class BatchCounter(Callback):
    def __init__(self):
        super().__init__()
        self.batches = []

    def on_batch_end(self, batch, logs=None):
        self.batches.append((batch, dict(logs)))


@pytest.mark.parametrize("backend", ["cpu", "reference"])
def test_batch_hook_is_called_once_per_batch_and_trains_the_same(data, backend):
    x, y = data
    counter = BatchCounter()
    assert counter.wants_batch_hooks()
    hooked, plain = make_model(backend=backend), make_model(backend=backend)
    h_hooked = hooked.fit(x, y, epochs=3, batch_size=16, verbose=0, callbacks=[counter],
                          validation_split=0.1)
    h_plain = plain.fit(x, y, epochs=3, batch_size=16, verbose=0, validation_split=0.1)
    # 45 training samples in batches of 16: 3 batches per epoch
    assert [b for b, _ in counter.batches] == [0, 1, 2] * 3
    assert all(set(logs) == {"loss"} and np.isfinite(logs["loss"]) for _, logs in counter.batches)
    assert_weights_equal(hooked.get_weights(), plain.get_weights())
    assert h_hooked.history["loss"] == pytest.approx(h_plain.history["loss"], rel=1e-13)
    for key in ("accuracy", "val_loss", "val_accuracy"):
        assert h_hooked.history[key] == h_plain.history[key]
    # the epoch loss is the sample-weighted mean of the batch losses
    first_epoch = [logs["loss"] for _, logs in counter.batches[:3]]
    assert h_hooked.history["loss"][0] == pytest.approx(
        (16 * first_epoch[0] + 16 * first_epoch[1] + 13 * first_epoch[2]) / 45, rel=1e-13)


def test_stop_training_from_a_batch_hook_stops_after_that_batch(data):
    x, y = data

    class StopAtBatch(Callback):
        def on_batch_end(self, batch, logs=None):
            if batch == 1:
                self.model.stop_training = True

    model = make_model(metrics=())
    history = model.fit(x, y, epochs=5, batch_size=10, verbose=0, callbacks=[StopAtBatch()])
    assert model.optimizer.iterations == 2
    assert history.epoch == [0]


def test_metrics_of_an_epoch_stopped_early_use_the_rows_trained(data):
    x, y = data
    seen = []

    def recorder(y_true, y_pred, sample_weight=None):
        seen.append(np.array(y_pred, copy=True))
        return 0.0

    class StopAtFirstBatch(Callback):
        def on_batch_end(self, batch, logs=None):
            self.model.stop_training = True

    model = make_model(metrics=())
    model.compile(optimizer="sgd", loss="binary_crossentropy", metrics=[recorder])
    model.fit(x, y, epochs=1, batch_size=10, verbose=0, callbacks=[StopAtFirstBatch()])
    assert seen[0].shape == (10, 1)


def test_on_batch_begin_is_called_before_each_batch(data):
    x, y = data
    calls = []

    class Begin(Callback):
        def on_batch_begin(self, batch, logs=None):
            calls.append(("begin", batch, self.model.optimizer.iterations))

    make_model().fit(x, y, epochs=2, batch_size=20, verbose=0, callbacks=[Begin()])
    assert calls == [("begin", 0, 0), ("begin", 1, 1), ("begin", 2, 2),
                     ("begin", 0, 3), ("begin", 1, 4), ("begin", 2, 5)]
