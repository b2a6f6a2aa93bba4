"""Callbacks: History, EarlyStopping with Keras' semantics, and the per-batch path of fit."""
from __future__ import annotations

import numpy as np
import pytest

import mlp
import mlp.saving.format
from mlp.callbacks import Callback, EarlyStopping, History, LambdaCallback, MonitorCallback


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


def test_keras3_batch_hook_names_are_called(data):
    # a Keras 3 user overrides on_train_batch_begin / _end: never silently skipped
    x, y = data
    calls = []

    class Keras3Style(Callback):
        def on_train_batch_begin(self, batch, logs=None):
            calls.append(("begin", batch, self.model.optimizer.iterations))

        def on_train_batch_end(self, batch, logs=None):
            calls.append(("end", batch, round(logs["loss"], 12) >= 0))

    assert Keras3Style().wants_batch_hooks()
    make_model().fit(x, y, epochs=1, batch_size=20, verbose=0, callbacks=[Keras3Style()])
    assert calls == [("begin", 0, 0), ("end", 0, True), ("begin", 1, 1), ("end", 1, True),
                     ("begin", 2, 2), ("end", 2, True)]


def test_lambda_callback_takes_both_spellings_of_the_batch_hooks(data):
    x, y = data
    new, old = [], []
    make_model().fit(x, y, epochs=1, batch_size=20, verbose=0, callbacks=[
        LambdaCallback(on_train_batch_end=lambda batch, logs: new.append(batch)),
        LambdaCallback(on_batch_begin=lambda batch, logs: old.append(batch))])
    assert new == [0, 1, 2] and old == [0, 1, 2]
    with pytest.raises(TypeError, match="on_train_batch_end: expected it or on_batch_end"):
        LambdaCallback(on_train_batch_end=print, on_batch_end=print)


# ----------------------------------------------------------- History: order, stop reason
def test_history_runs_last_and_records_keys_added_by_other_callbacks(data):
    x, y = data
    history = make_model().fit(x, y, epochs=3, verbose=0, callbacks=[Script([1, 2, 3])])
    assert history.history["score"] == [1, 2, 3]
    assert history.stopped_reason is None and history.stopped_epoch is None


def test_history_says_a_callback_stopped_training(data):
    x, y = data
    history = make_model().fit(x, y, epochs=10, verbose=0,
                               callbacks=[Script([5, 4, 4, 4, 4, 4, 4, 4, 4, 4]),
                                          EarlyStopping(monitor="score", patience=1)])
    assert history.stopped_reason == "callback" and history.stopped_epoch == 2


def test_history_plot_delegates_to_mlp_plotting(data, monkeypatch):
    import sys
    import types

    calls = []
    fake = types.ModuleType("mlp.plotting")
    fake.plot_history = lambda history, metrics=None, ax=None: calls.append(
        (history, metrics, ax)) or "axes"
    monkeypatch.setitem(sys.modules, "mlp.plotting", fake)
    x, y = data
    history = make_model().fit(x, y, epochs=1, verbose=0)
    assert history.plot(metrics=["loss"], ax="ax") == "axes"
    assert calls == [(history, ["loss"], "ax")]


# ---------------------------------------------------------------- ModelCheckpoint
class Recorder(Callback):
    """Records (epoch, weights) at each epoch end."""

    def __init__(self):
        super().__init__()
        self.weights = []

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append(self.model.get_weights())


def test_model_checkpoint_formats_the_path_from_epoch_and_logs(data, tmp_path):
    x, y = data
    checkpoint = mlp.callbacks.ModelCheckpoint(tmp_path / "m-{epoch:02d}-{loss:.3f}.mlp",
                                               save_freq="epoch")
    history = make_model().fit(x, y, epochs=3, verbose=0, callbacks=[checkpoint])
    expected = sorted(f"m-{e + 1:02d}-{loss:.3f}.mlp"
                      for e, loss in enumerate(history.history["loss"]))
    assert sorted(p.name for p in tmp_path.iterdir()) == expected


def test_model_checkpoint_save_best_only_writes_only_on_improvement(data, tmp_path):
    x, y = data
    snapshots = Snapshots()
    every = mlp.callbacks.ModelCheckpoint(tmp_path / "e{epoch}.mlp", monitor="score",
                                          save_best_only=True)
    best = mlp.callbacks.ModelCheckpoint(tmp_path / "best.mlp", monitor="score",
                                         save_best_only=True)
    model = make_model()
    model.fit(x, y, epochs=5, verbose=0,
              callbacks=[Script([3.0, 1.0, 2.0, 0.5, 0.7]), snapshots, every, best])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.mlp", "e1.mlp", "e2.mlp",
                                                          "e4.mlp"]
    assert best.best == 0.5 and best.mode == "min"
    loaded = mlp.load_model(tmp_path / "best.mlp")
    assert_weights_equal(loaded.get_weights(), snapshots.weights[3])
    # a later fit keeps the best value (as in Keras): nothing worse than 0.5 is saved
    before = (tmp_path / "best.mlp").read_bytes()
    model.fit(x, y, epochs=2, verbose=0, callbacks=[Script([0.9, 0.6]), best])
    assert (tmp_path / "best.mlp").read_bytes() == before


def test_model_checkpoint_full_model_continues_training_like_the_original(data, tmp_path):
    x, y = data
    model = make_model()
    path = tmp_path / "model.mlp"
    model.fit(x, y, epochs=2, verbose=0, callbacks=[mlp.callbacks.ModelCheckpoint(path)])
    loaded = mlp.load_model(path)
    assert loaded.optimizer.iterations == model.optimizer.iterations
    a = model.fit(x, y, epochs=1, verbose=0).history["loss"]
    b = loaded.fit(x, y, epochs=1, verbose=0).history["loss"]
    assert a == b


def test_model_checkpoint_weights_only_and_verbose(data, tmp_path, capsys):
    x, y = data
    path = tmp_path / "sub" / "w.mlp"          # the missing folder is created
    checkpoint = mlp.callbacks.ModelCheckpoint(path, monitor="loss", verbose=1,
                                               save_best_only=True, save_weights_only=True,
                                               initial_value_threshold=0.0)
    model = make_model()
    model.fit(x, y, epochs=1, verbose=0, callbacks=[checkpoint])
    assert not path.exists()                  # a loss never beats the threshold 0
    assert "Epoch 1: loss did not improve from 0.00000" in capsys.readouterr().out
    checkpoint.best = None
    model.fit(x, y, epochs=1, verbose=0, callbacks=[checkpoint])
    assert f"saving model to {path}" in capsys.readouterr().out
    twin = make_model(seed=1)
    twin.load_weights(path)
    assert_weights_equal(twin.get_weights(), model.get_weights())
    with pytest.raises(ValueError, match="weights"):
        mlp.load_model(path)                   # a weights file is not a model file


def test_model_checkpoint_crash_mid_write_keeps_the_previous_file(data, tmp_path,
                                                                  monkeypatch):
    import mlp.io

    x, y = data
    path = tmp_path / "ckpt.mlp"
    model = make_model()
    model.fit(x, y, epochs=1, verbose=0, callbacks=[mlp.callbacks.ModelCheckpoint(path)])
    before = path.read_bytes()
    weights_before = mlp.load_model(path).get_weights()
    real_write = mlp.saving.format._write_tensor

    def crash(stream, array):
        real_write(stream, array[: array.size // 2] if array.ndim == 1 else array)
        raise OSError("disk full")

    monkeypatch.setattr(mlp.saving.format, "_write_tensor", crash)
    with pytest.raises(OSError, match="disk full"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[mlp.callbacks.ModelCheckpoint(path)])
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.mlp"]     # no temporary file left
    monkeypatch.undo()
    assert_weights_equal(mlp.load_model(path).get_weights(), weights_before)


def test_model_checkpoint_every_n_batches(data, tmp_path):
    x, y = data
    checkpoint = mlp.callbacks.ModelCheckpoint(tmp_path / "e{epoch}-b{batch}.mlp",
                                               save_freq=3)
    assert checkpoint.wants_batch_hooks()
    assert not mlp.callbacks.ModelCheckpoint(tmp_path / "x.mlp").wants_batch_hooks()
    # 50 samples in batches of 10: 5 batches an epoch, 10 in all -> saves after 3, 6, 9
    make_model().fit(x, y, epochs=2, batch_size=10, verbose=0, callbacks=[checkpoint])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e1-b3.mlp", "e2-b1.mlp",
                                                          "e2-b4.mlp"]


def test_model_checkpoint_errors(data, tmp_path):
    x, y = data
    with pytest.raises(KeyError, match=r"filepath: cannot format .*available fields are "
                                       r"\['accuracy', 'epoch', 'loss'\]"):
        make_model().fit(x, y, epochs=1, verbose=0, callbacks=[
            mlp.callbacks.ModelCheckpoint(str(tmp_path / "{val_loss:.2f}.mlp"))])
    with pytest.raises(KeyError, match="monitor: 'val_loss' is not in the epoch logs"):
        make_model().fit(x, y, epochs=1, verbose=0, callbacks=[
            mlp.callbacks.ModelCheckpoint(tmp_path / "m.mlp", save_best_only=True)])
    for bad in (0, "batch", 1.5, True):
        with pytest.raises(ValueError, match="save_freq: expected 'epoch' or an integer"):
            mlp.callbacks.ModelCheckpoint("m.mlp", save_freq=bad)
    with pytest.raises(ValueError, match="mode: expected"):
        mlp.callbacks.ModelCheckpoint("m.mlp", mode="best")


# -------------------------------------------------------------- ReduceLROnPlateau
class LearningRates(Callback):
    """Records the optimizer's learning rate after the other callbacks of each epoch."""

    def __init__(self):
        super().__init__()
        self.rates = []

    def on_epoch_end(self, epoch, logs=None):
        self.rates.append(self.model.optimizer.learning_rate)


def test_reduce_lr_on_plateau_after_patience(data):
    x, y = data
    rates = LearningRates()
    reduce = mlp.callbacks.ReduceLROnPlateau(monitor="score", factor=0.5, patience=2)
    history = make_model().fit(x, y, epochs=7, verbose=0, callbacks=[
        Script([1.0, 1.0, 1.0, 0.5, 1.0, 1.0, 1.0]), reduce, rates])
    # best 1.0 (epoch 0); epochs 1, 2 do not improve -> halve; 0.5 improves at epoch 3;
    # epochs 4, 5 do not -> halve again
    assert rates.rates == pytest.approx([0.01, 0.01, 0.005, 0.005, 0.005, 0.0025, 0.0025])
    # the logs hold the rate of the epoch (before the reduction), as in Keras
    assert history.history["learning_rate"] == pytest.approx(
        [0.01, 0.01, 0.01, 0.005, 0.005, 0.005, 0.0025])


def test_reduce_lr_on_plateau_min_delta_min_lr_and_cooldown(data):
    x, y = data
    flat = Script([1.0, 0.99995, 0.9999, 0.9998, 0.9997, 0.9996])   # gains below min_delta
    rates = LearningRates()
    make_model().fit(x, y, epochs=6, verbose=0, callbacks=[
        flat, mlp.callbacks.ReduceLROnPlateau(monitor="score", factor=0.1, patience=1,
                                              min_lr=2e-4), rates])
    assert rates.rates == pytest.approx([0.01, 1e-3, 2e-4, 2e-4, 2e-4, 2e-4])
    rates = LearningRates()
    make_model().fit(x, y, epochs=6, verbose=0, callbacks=[
        Script([1.0] * 6), mlp.callbacks.ReduceLROnPlateau(monitor="score", factor=0.5,
                                                           patience=1, cooldown=2), rates])
    # reduced at epoch 1, then two epochs of cooldown, then at the next plateau epoch
    assert rates.rates == pytest.approx([0.01, 0.005, 0.005, 0.0025, 0.0025, 0.00125])


def test_reduce_lr_on_plateau_changes_the_rate_training_uses(data):
    x, y = data
    reduced, manual = make_model(), make_model()
    reduced.fit(x, y, epochs=3, verbose=0, callbacks=[
        Script([1.0, 1.0, 1.0]), mlp.callbacks.ReduceLROnPlateau(monitor="score", factor=0.5,
                                                                 patience=1)])
    # epoch 0 sets the best, epoch 1 does not improve: halved for epoch 2
    for epoch, rate in enumerate([0.01, 0.01, 0.005]):
        manual.optimizer.learning_rate = rate
        manual.fit(x, y, epochs=epoch + 1, initial_epoch=epoch, verbose=0)
    assert_weights_equal(reduced.get_weights(), manual.get_weights())


def test_reduce_lr_on_plateau_verbose_and_errors(data, capsys):
    x, y = data
    make_model().fit(x, y, epochs=2, verbose=0, callbacks=[
        Script([1.0, 1.0]), mlp.callbacks.ReduceLROnPlateau(monitor="score", patience=1,
                                                            verbose=1)])
    assert "Epoch 2: ReduceLROnPlateau reducing learning rate to 0.001." in capsys.readouterr().out
    for factor in (1.0, 2, 0, -0.5):
        with pytest.raises(ValueError, match="factor: expected a number with 0 < factor < 1"):
            mlp.callbacks.ReduceLROnPlateau(factor=factor)
    with pytest.raises(ValueError, match="cooldown: expected an integer >= 0"):
        mlp.callbacks.ReduceLROnPlateau(cooldown=-1)
    with pytest.raises(ValueError, match="min_lr: expected a finite number >= 0"):
        mlp.callbacks.ReduceLROnPlateau(min_lr=-1.0)
    scheduled = make_model()
    scheduled.compile(optimizer=mlp.Adam(mlp.schedules.ExponentialDecay(0.01, 10, 0.9)),
                      loss="binary_crossentropy")
    for callback in (mlp.callbacks.ReduceLROnPlateau(),
                     mlp.callbacks.LearningRateScheduler(lambda epoch, lr: lr)):
        name = type(callback).__name__
        with pytest.raises(TypeError, match=f"{name}: the optimizer's learning_rate must be a "
                                            f"number, got ExponentialDecay"):
            scheduled.fit(x, y, epochs=1, verbose=0, callbacks=[callback])
    assert scheduled.optimizer.iterations == 0          # refused before training


# ----------------------------------------------------------- LearningRateScheduler
def test_learning_rate_scheduler_sets_the_rate_of_each_epoch(data, capsys):
    x, y = data
    seen = []
    rates = LearningRates()

    def schedule(epoch, lr):
        seen.append((epoch, lr))
        return 0.1 / (epoch + 1)

    scheduled, manual = make_model(), make_model()
    history = scheduled.fit(x, y, epochs=3, verbose=0, callbacks=[
        mlp.callbacks.LearningRateScheduler(schedule, verbose=1), rates])
    assert seen == [(0, 0.01), (1, 0.1), (2, 0.05)]
    assert rates.rates == pytest.approx([0.1, 0.05, 0.1 / 3])
    assert history.history["learning_rate"] == pytest.approx([0.1, 0.05, 0.1 / 3])
    assert "Epoch 2: LearningRateScheduler setting learning rate to 0.05." in (
        capsys.readouterr().out)
    for epoch in range(3):
        manual.optimizer.learning_rate = 0.1 / (epoch + 1)
        manual.fit(x, y, epochs=epoch + 1, initial_epoch=epoch, verbose=0)
    assert_weights_equal(scheduled.get_weights(), manual.get_weights())


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), "0.1", None])
def test_learning_rate_scheduler_refuses_a_bad_rate(data, bad):
    x, y = data
    with pytest.raises(ValueError, match=r"schedule: expected a finite number > 0 from "
                                         r"schedule\(0, 0.01\)"):
        make_model().fit(x, y, epochs=1, verbose=0, callbacks=[
            mlp.callbacks.LearningRateScheduler(lambda epoch, lr: bad)])
    with pytest.raises(TypeError, match="schedule: expected a callable"):
        mlp.callbacks.LearningRateScheduler(0.1)


# --------------------------------------------------------------- TerminateOnNaN
def diverging_model(learning_rate):
    model = mlp.Sequential([mlp.Dense(8, input_dim=3), mlp.Dense(1)], seed=0, dtype="float64")
    model.compile(optimizer=mlp.SGD(learning_rate), loss="mse")
    return model


class BatchLosses(Callback):
    def __init__(self):
        super().__init__()
        self.losses = []

    def on_batch_end(self, batch, logs=None):
        self.losses.append(logs["loss"])


def test_terminate_on_nan_stops_at_the_first_bad_batch_and_keeps_finite_weights():
    import warnings

    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 3))
    y = x @ np.array([[1.0], [2.0], [-1.0]])
    results = {}
    for with_callback in (False, True):
        model, snapshots, losses = diverging_model(0.3), Snapshots(), BatchLosses()
        terminate = mlp.callbacks.TerminateOnNaN()
        callbacks = [snapshots, losses] + ([terminate] if with_callback else [])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")       # NumPy overflow warnings
            with pytest.warns(RuntimeWarning, match=r"loss became (nan|inf) in epoch 3"):
                history = model.fit(x, y, epochs=50, batch_size=8, verbose=0,
                                    callbacks=callbacks)
        assert history.stopped_reason == "non_finite_loss" and history.stopped_epoch == 2
        assert history.epoch == [0, 1] and all(np.isfinite(history.history["loss"]))
        assert all(np.all(np.isfinite(w)) for w in model.get_weights())
        assert_weights_equal(model.get_weights(), snapshots.weights[-1])
        assert model.optimizer.iterations == 2 * 8       # the optimizer state is restored too
        results[with_callback] = (losses.losses, terminate.stopped_batch)
    without, (with_losses, stopped_batch) = results[False][0], results[True]
    # the callback stops at the first non-finite batch loss, not at the end of the epoch
    first_bad = next(i for i, v in enumerate(without) if not np.isfinite(v))
    assert len(with_losses) == first_bad + 1 < len(without)
    assert stopped_batch == first_bad - 16
    assert with_losses[:first_bad] == without[:first_bad]


def test_terminate_on_nan_leaves_finite_training_alone(data):
    x, y = data
    terminate = mlp.callbacks.TerminateOnNaN()
    assert terminate.wants_batch_hooks()
    history = make_model().fit(x, y, epochs=3, verbose=0, callbacks=[terminate])
    assert history.epoch == [0, 1, 2] and terminate.stopped_batch is None
    assert history.stopped_reason is None


# -------------------------------------------------------------------- CSVLogger
def test_csv_logger_writes_a_header_and_one_row_per_epoch(data, tmp_path):
    import csv

    x, y = data
    path = tmp_path / "log.csv"
    history = make_model().fit(x, y, epochs=3, validation_split=0.2, verbose=0,
                               callbacks=[mlp.callbacks.CSVLogger(path)])
    rows = list(csv.reader(path.open()))
    assert rows[0] == ["epoch", "accuracy", "loss", "val_accuracy", "val_loss"]
    assert [row[0] for row in rows[1:]] == ["0", "1", "2"]
    for index, key in enumerate(rows[0][1:], start=1):
        assert [float(row[index]) for row in rows[1:]] == history.history[key]


def test_csv_logger_append_and_separator(data, tmp_path):
    x, y = data
    path = tmp_path / "log.csv"
    model = make_model(metrics=())
    model.fit(x, y, epochs=2, verbose=0, callbacks=[mlp.callbacks.CSVLogger(path, ";")])
    model.fit(x, y, epochs=2, verbose=0,
              callbacks=[mlp.callbacks.CSVLogger(path, separator=";", append=True)])
    lines = path.read_text().splitlines()
    assert lines[0] == "epoch;loss" and len(lines) == 5
    assert [line.split(";")[0] for line in lines[1:]] == ["0", "1", "0", "1"]
    # append=False (the default) starts the file again
    model.fit(x, y, epochs=1, verbose=0, callbacks=[mlp.callbacks.CSVLogger(path)])
    assert path.read_text().splitlines()[0] == "epoch,loss"
    assert len(path.read_text().splitlines()) == 2
    # appending to a new file writes the header
    fresh = tmp_path / "fresh.csv"
    model.fit(x, y, epochs=1, verbose=0,
              callbacks=[mlp.callbacks.CSVLogger(fresh, append=True)])
    assert fresh.read_text().splitlines()[0] == "epoch,loss"
