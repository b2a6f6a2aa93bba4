"""Progress output of fit / evaluate / predict, and the chunked epochs behind the live bar."""
from __future__ import annotations

import io
import os
import re
import sys
import types
import warnings

import numpy as np
import pytest

import mlp
from mlp.training import progress
from mlp.callbacks import Callback


class FakeTTY(io.StringIO):
    """A terminal as far as ``isatty`` tells."""

    def isatty(self):
        return True


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(100, 4))
    return x, (x[:, 0] - x[:, 2] > 0).astype(np.float64)


def make_model(seed=0, backend=None, metrics=("accuracy",)):
    model = mlp.Sequential([mlp.Dense(6, activation="relu", input_dim=4), mlp.Dropout(0.25),
                            mlp.Dense(1, activation="sigmoid")], seed=seed, dtype="float64",
                           backend=backend)
    model.compile(optimizer=mlp.Adam(0.01), loss="binary_crossentropy", metrics=list(metrics))
    return model


@pytest.fixture
def tty(monkeypatch):
    """Call it in the test to replace sys.stdout by a fake terminal (pytest's capture sets
    sys.stdout again between setup and the test) 200 columns wide; every update is drawn
    (no throttling)."""
    monkeypatch.setattr(progress, "REFRESH_SECONDS", 0.0)
    monkeypatch.setattr(progress.shutil, "get_terminal_size",
                        lambda fallback=None: os.terminal_size((200, 50)))

    def install():
        stream = FakeTTY()
        monkeypatch.setattr(sys, "stdout", stream)
        return stream

    return install


EPOCH_LINE = re.compile(r"^Epoch (\d+)/(\d+) - (\d+)/(\d+) steps - [\d.]+s - .*samples/s - "
                        r"loss: \d\.\d{4} - accuracy: \d\.\d{4}")


# -------------------------------------------------------------- verbose 0 / 1 / 2
def test_verbose_0_prints_nothing(data, capsys):
    x, y = data
    make_model().fit(x, y, epochs=2, verbose=0, validation_split=0.2)
    make_model().evaluate(x, y, verbose=0)
    make_model().predict(x, verbose=0)
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("verbose", [1, 2, "auto"])
def test_one_line_per_epoch_when_stdout_is_not_a_terminal(data, capsys, verbose):
    x, y = data
    make_model().fit(x, y, epochs=3, batch_size=16, verbose=verbose, validation_split=0.2)
    out = capsys.readouterr().out
    assert "\r" not in out
    lines = out.splitlines()
    assert len(lines) == 3
    for epoch, line in enumerate(lines, start=1):
        match = EPOCH_LINE.match(line)
        assert match, line
        assert match.groups() == (str(epoch), "3", "5", "5")     # 80 samples, batches of 16
        assert "val_loss: " in line and "val_accuracy: " in line


def test_verbose_1_on_a_terminal_redraws_one_line_per_epoch(data, tty):
    x, y = data
    stream = tty()
    make_model().fit(x, y, epochs=2, batch_size=4, verbose=1, validation_split=0.2)
    out = stream.getvalue()
    lines = out.split("\n")
    assert lines[-1] == "" and len(lines) == 3        # one finished line per epoch
    for epoch, line in enumerate(lines[:2], start=1):
        frames = line.split("\r")[1:]
        # the first frame at 0 steps, then one per part of the epoch (20 parts of 20 batches)
        assert len(frames) == 1 + 20 + 1
        assert frames[0].startswith(f"Epoch {epoch}/2 [>") and frames[0].endswith(" 0/20")
        steps = [int(re.search(r"\] +(\d+)/20", frame).group(1)) for frame in frames]
        assert steps == sorted(steps) and steps[1] == 1 and steps[-1] == 20
        assert all("ETA " in frame and "loss: " in frame and "accuracy: " in frame
                   and "samples/s" in frame for frame in frames[1:-1])
        final = frames[-1]
        assert final.startswith(f"Epoch {epoch}/2 [{'=' * progress.BAR_WIDTH}] 20/20 - ")
        assert "val_loss: " in final and "ETA" not in final


def test_live_bar_is_throttled(data, tty, monkeypatch):
    x, y = data
    stream = tty()
    monkeypatch.setattr(progress, "REFRESH_SECONDS", 1e6)
    make_model().fit(x, y, epochs=2, batch_size=4, verbose=1)
    frames = stream.getvalue().split("\r")[1:]
    assert len(frames) == 2 * 2          # per epoch: the first frame and the final line


def test_live_line_is_cut_to_the_terminal_width(data, tty, monkeypatch):
    x, y = data
    monkeypatch.setattr(progress.shutil, "get_terminal_size",
                        lambda fallback=None: os.terminal_size((50, 20)))
    stream = tty()
    make_model().fit(x, y, epochs=1, batch_size=4, verbose=1)
    frames = stream.getvalue().rstrip("\n").split("\r")[1:]
    assert all(len(frame.rstrip()) <= 49 for frame in frames[:-1])
    assert len(frames[-1]) > 49 and "accuracy: " in frames[-1]     # the final line is whole


def test_live_bar_ends_its_line_when_training_diverges(tty):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 3))
    y = x @ np.array([[1.0], [2.0], [-1.0]])
    model = mlp.Sequential([mlp.Dense(8, input_dim=3), mlp.Dense(1)], seed=0, dtype="float64")
    model.compile(optimizer=mlp.SGD(1e3), loss="mse")
    stream = tty()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        history = model.fit(x, y, epochs=5, batch_size=8, verbose=1)
    assert history.stopped_reason == "non_finite_loss"
    out = stream.getvalue()
    assert out.endswith("\n") and out.count("\n") == 1 and "Epoch 1/5" in out


def test_live_bar_with_batch_hooks_counts_every_batch(data, tty):
    x, y = data
    batches = []

    class Batches(Callback):
        def on_batch_end(self, batch, logs=None):
            batches.append(batch)

    stream = tty()
    make_model().fit(x, y, epochs=1, batch_size=32, verbose=1, callbacks=[Batches()])
    assert batches == [0, 1, 2, 3]          # numbered within the epoch, not per part
    frames = stream.getvalue().rstrip("\n").split("\r")[1:]
    assert [re.search(r"\] (\d)/4", f).group(1) for f in frames] == ["0", "1", "2", "3", "4",
                                                                     "4"]


# ------------------------------------------------- the live bar trains bit-identically
@pytest.mark.parametrize("backend", ["cpu", "reference"])
@pytest.mark.parametrize("batch_size", [3, 16])
def test_chunked_epochs_train_exactly_as_one_call(data, monkeypatch, backend, batch_size):
    x, y = data
    quiet, live = make_model(backend=backend), make_model(backend=backend)
    h_quiet = quiet.fit(x, y, epochs=3, batch_size=batch_size, verbose=0, validation_split=0.2)
    calls = []
    live.build(4)
    plan = live._plan(batch_size)
    real = plan.train_epoch
    monkeypatch.setattr(plan, "train_epoch", lambda *args: calls.append(len(args[3])) or real(
        *args))
    monkeypatch.setattr(sys, "stdout", FakeTTY())
    h_live = live.fit(x, y, epochs=3, batch_size=batch_size, verbose=1, validation_split=0.2)
    steps = -(-80 // batch_size)
    per_part = -(-steps // 20)          # batches per part: at most 20 parts
    assert len(calls) == 3 * -(-steps // per_part) and sum(calls) == 3 * 80
    assert len(calls) > 3 * 3                                     # it did run in parts
    assert all(c % batch_size == 0 for c in calls if c != calls[-1])
    for a, b in zip(quiet.get_weights(), live.get_weights()):
        np.testing.assert_array_equal(a, b)
    state_a, state_b = quiet.optimizer.state_dict(), live.optimizer.state_dict()
    assert state_a["iterations"] == state_b["iterations"]
    for name in state_a["slots"]:
        np.testing.assert_array_equal(state_a["slots"][name], state_b["slots"][name])
    for key in ("accuracy", "val_loss", "val_accuracy"):
        assert h_quiet.history[key] == h_live.history[key]
    # the loss sum is carried from part to part: the mean loss is identical too
    assert h_live.history["loss"] == h_quiet.history["loss"]


# ------------------------------------------------------------------------ notebook
class FakeHandle:
    def __init__(self, log, bundle):
        self.log = log
        log.append(("display", bundle["text/plain"]))

    def update(self, bundle, raw=False):
        assert raw
        self.log.append(("update", bundle["text/plain"]))


def fake_notebook(monkeypatch, with_display=True):
    log = []
    shell = types.SimpleNamespace(kernel=object())
    ipython = types.ModuleType("IPython")
    ipython.get_ipython = lambda: shell
    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))
    monkeypatch.setitem(sys.modules, "IPython", ipython)
    if with_display:
        display = types.ModuleType("IPython.display")

        def show(bundle, raw=False, display_id=None):
            assert raw and display_id is True
            return FakeHandle(log, bundle)

        display.display = show
        monkeypatch.setitem(sys.modules, "IPython.display", display)
    else:
        monkeypatch.setitem(sys.modules, "IPython.display", None)     # import fails
    return log


def test_notebook_updates_one_display_per_epoch(data, capsys, monkeypatch):
    x, y = data
    log = fake_notebook(monkeypatch)
    monkeypatch.setattr(progress, "REFRESH_SECONDS", 0.0)
    assert progress.in_notebook()
    make_model().fit(x, y, epochs=2, batch_size=20, verbose=1)
    assert capsys.readouterr().out == ""
    kinds = [kind for kind, _ in log]
    # per epoch: a new display, an update per part (5 batches), the final text
    assert kinds == (["display"] + ["update"] * 6) * 2
    assert log[0][1].startswith("Epoch 1/2 [>") and log[7][1].startswith("Epoch 2/2 [>")
    assert log[6][1].startswith("Epoch 1/2 [====================] 5/5 - ")
    assert "loss: " in log[6][1] and "ETA" not in log[6][1]


def test_notebook_without_ipython_display_prints_lines(data, capsys, monkeypatch):
    x, y = data
    fake_notebook(monkeypatch, with_display=False)
    make_model().fit(x, y, epochs=2, verbose=1)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and all(EPOCH_LINE.match(line) for line in lines)


def test_notebook_detection_imports_nothing(monkeypatch):
    monkeypatch.delitem(sys.modules, "IPython", raising=False)
    monkeypatch.delitem(sys.modules, "ipykernel", raising=False)
    assert not progress.in_notebook()
    assert isinstance(progress.make_progress(1, io.StringIO()), progress.LineProgress)
    assert "IPython" not in sys.modules
    # an IPython shell without a kernel (the terminal IPython) is not a notebook
    ipython = types.ModuleType("IPython")
    ipython.get_ipython = lambda: types.SimpleNamespace()
    monkeypatch.setitem(sys.modules, "IPython", ipython)
    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))
    assert not progress.in_notebook()


def test_make_progress_picks_the_display():
    assert type(progress.make_progress(0, FakeTTY())) is progress.Progress
    assert type(progress.make_progress(2, FakeTTY())) is progress.LineProgress
    assert type(progress.make_progress(1, FakeTTY())) is progress.TerminalProgress
    assert type(progress.make_progress(1, io.StringIO())) is progress.LineProgress
    closed = io.StringIO()
    closed.close()
    assert not progress.is_terminal(closed)


# ------------------------------------------------------------ evaluate and predict
def test_evaluate_and_predict_verbose_print_one_summary_line(data, capsys):
    x, y = data
    model = make_model()
    logs = model.evaluate(x, y, verbose=1)
    line = capsys.readouterr().out
    assert line.count("\n") == 1
    assert line.startswith("Evaluate: 100 samples - ")
    assert f"loss: {logs['loss']:.4f} - accuracy: {logs['accuracy']:.4f}" in line
    model.predict(x, verbose=1)
    line = capsys.readouterr().out
    assert line.count("\n") == 1 and line.startswith("Predict: 100 samples - ")
    with pytest.raises(ValueError, match="verbose: expected 0, 1, 2 or 'auto'"):
        model.evaluate(x, y, verbose=3)


# ------------------------------------------------------------------------ format
def test_formatting_helpers():
    assert progress.format_value(0.5) == "0.5000"
    assert progress.format_value(0.0) == "0.0000"
    assert progress.format_value(1e-5) == "1.0000e-05"
    assert progress.format_value(123456.0) == "1.2346e+05"
    assert progress.format_seconds(0.123) == "0.12s"
    assert progress.format_seconds(12.34) == "12.3s"
    assert progress.format_seconds(125) == "2m05s"
    assert progress.format_seconds(3720) == "1h02m"
    assert progress.format_rate(5000, 1.0) == "5,000 samples/s"
    assert progress.format_rate(45_600, 1.0) == "45.6k samples/s"
    assert progress.format_rate(1_230_000, 1.0) == "1.23M samples/s"
    assert progress.format_rate(10, 0.0) == "- samples/s"
    assert progress.format_bar(0, 4, 8) == "[>.......]"
    assert progress.format_bar(2, 4, 8) == "[====>...]"
    assert progress.format_bar(4, 4, 8) == "[========]"
    assert progress.format_logs({"loss": 0.25, "lr": 1e-4}) == "loss: 0.2500 - lr: 1.0000e-04"
