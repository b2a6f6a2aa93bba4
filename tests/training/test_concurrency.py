"""One model used from several threads: concurrent ``predict`` calls give exactly what serial
calls give (they take turns on the plan's workspaces), and a ``predict`` / ``evaluate`` /
``fit`` from another thread while ``fit`` runs is a clear ``RuntimeError``."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest

import mlp

THREADS = 8
PREDICTS = 1000


def _model(backend):
    model = mlp.Sequential([mlp.Dense(32, activation="relu", input_dim=10),
                            mlp.Dropout(0.2), mlp.Dense(5, activation="softmax")],
                           seed=0, backend=backend)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model


@pytest.mark.parametrize("backend", ["cpu", "reference"])
def test_eight_threads_of_predicts_equal_serial_calls(backend):
    model = _model(backend)
    rng = np.random.default_rng(1)
    inputs = [rng.normal(size=(rows, 10)).astype(np.float32) for rows in (1, 3, 40, 600)]
    expected = [model.predict(x) for x in inputs]
    per_thread = PREDICTS if backend == "cpu" else PREDICTS // 10
    failures = []

    def work(offset):
        for i in range(per_thread):
            k = (i + offset) % len(inputs)
            got = model.predict(inputs[k], batch_size=256 if k == 3 else 32)
            if not np.array_equal(got, expected[k]):
                failures.append((offset, i, k))
                return

    threads = [threading.Thread(target=work, args=(t,)) for t in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures


class _Pause(mlp.Callback):
    """Holds fit at the end of its first epoch until released; predicts from its own thread."""

    def __init__(self):
        super().__init__()
        self.reached, self.release = threading.Event(), threading.Event()
        self.own_predict = None

    def on_epoch_end(self, epoch, logs=None):
        if epoch == 0:
            self.own_predict = self.model.predict(np.ones((2, 10), np.float32))
            self.reached.set()
            self.release.wait(30)


def test_predict_while_another_thread_fits_is_a_clear_error():
    model = _model("cpu")
    x = np.random.default_rng(0).normal(size=(64, 10)).astype(np.float32)
    y = np.arange(64) % 5
    pause = _Pause()
    errors = []
    thread = threading.Thread(target=lambda: errors.append(
        model.fit(x, y, epochs=2, verbose=0, callbacks=[pause])))
    thread.start()
    assert pause.reached.wait(30)
    try:
        with pytest.raises(RuntimeError, match="^predict: the model is being trained by fit "
                                               "in another thread"):
            model.predict(x[:1])
        with pytest.raises(RuntimeError, match="^evaluate: the model is being trained"):
            model.evaluate(x, y)
        with pytest.raises(RuntimeError, match="^fit: the model is already being trained "
                                               r"\(by fit or train_on_batch in another thread\)"):
            model.fit(x, y, verbose=0)
        with pytest.raises(RuntimeError, match="^train_on_batch: the model is already being"):
            model.train_on_batch(x, y)
    finally:
        pause.release.set()
        thread.join()
    assert pause.own_predict is not None and pause.own_predict.shape == (2, 5)
    assert model.predict(x[:1]).shape == (1, 5)  # after fit: fine again


class _Gate(mlp.activations.CustomActivation):
    """tanh that, in the thread named ``waits_in``, stops inside predict until released."""

    def __init__(self):
        super().__init__("gate")
        self.waits_in = None
        self.reached, self.release = threading.Event(), threading.Event()

    def call(self, z):
        if threading.current_thread().name == self.waits_in:
            self.reached.set()
            self.release.wait(30)
        return np.tanh(z)

    def gradient(self, z, y):
        return 1 - y * y


@pytest.mark.parametrize("method", ["predict", "evaluate"])
def test_a_predict_during_which_another_thread_starts_fit_gives_no_mixed_result(method):
    # before: a predict that passed its check just before fit started read the weights while
    # fit updated them, and returned what it computed (issue 17)
    gate = _Gate()
    model = mlp.Sequential([mlp.Dense(8, activation=gate, input_dim=10), mlp.Dense(3)],
                           seed=0)
    model.compile(optimizer=mlp.SGD(0.5), loss="mse")
    x = np.random.default_rng(0).normal(size=(64, 10)).astype(np.float32)
    y = np.ones((64, 3), np.float32)
    model.predict(x)                       # built, plans made
    outcome = {}

    def infer():
        try:
            outcome["result"] = (model.predict(x) if method == "predict"
                                 else model.evaluate(x, y))
        except RuntimeError as error:
            outcome["error"] = error

    gate.waits_in = "reader"
    reader = threading.Thread(target=infer, name="reader")
    reader.start()
    try:
        assert gate.reached.wait(30)       # the reader is inside the forward pass
        trainer = threading.Thread(target=lambda: model.fit(x, y, epochs=3, verbose=0))
        trainer.start()
        for _ in range(3000):              # fit has claimed the model (it may then wait for
            if model._training_thread is not None:    # the evaluate plan the reader holds)
                break
            time.sleep(0.01)
        time.sleep(0.2)
    finally:
        gate.release.set()
        reader.join(60)
    trainer.join(60)
    assert not trainer.is_alive() and not reader.is_alive()
    assert "result" not in outcome, "a result computed across a weight update came back"
    assert str(outcome["error"]).startswith(f"{method}: another thread started training the "
                                            f"model (fit or train_on_batch) while {method} ran")
    gate.waits_in = None
    assert model.predict(x).shape == (64, 3)   # afterwards: fine again
