"""``np.memmap`` inputs stream batch by batch (issue 12): the same history as the arrays with
``shuffle=False``, and a peak resident memory far below the file's size."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import mlp
from mlp.training import memmap as memmap_module


def _files(tmp_path, rows=500, features=6, seed=0):
    rng = np.random.default_rng(seed)
    x = np.lib.format.open_memmap(tmp_path / "x.npy", mode="w+", dtype=np.float64,
                                  shape=(rows, features))
    x[...] = rng.normal(size=(rows, features))
    y = (x[:, 0] + x[:, 1] > 0).astype(np.float64)
    x.flush()
    del x
    return np.load(tmp_path / "x.npy", mmap_mode="r"), y


def _model():
    model = mlp.Sequential([mlp.Dense(8, activation="relu", input_dim=6),
                            mlp.BatchNormalization(), mlp.Dense(1, activation="sigmoid")],
                           seed=0, dtype="float32")
    model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    return model


def test_memmap_streams_and_equals_the_arrays(tmp_path, monkeypatch):
    monkeypatch.setattr(memmap_module, "STREAM_BYTES", 1024)
    x, y = _files(tmp_path)
    assert memmap_module.streams(x) and not memmap_module.streams(np.asarray(x)[:2])
    read = []
    original = memmap_module.MemmapBatches.__getitem__
    monkeypatch.setattr(memmap_module.MemmapBatches, "__getitem__",
                        lambda self, i: read.append(i) or original(self, i))
    streamed, in_memory = _model(), _model()
    h_stream = streamed.fit(x, y, epochs=2, batch_size=64, shuffle=False, verbose=0,
                            validation_split=0.2)
    assert read, "fit did not read the memmap batch by batch"
    h_array = in_memory.fit(np.array(x), y, epochs=2, batch_size=64, shuffle=False,
                            verbose=0, validation_split=0.2)
    assert h_stream.history == h_array.history
    for a, b in zip(streamed.get_weights(), in_memory.get_weights()):
        assert np.array_equal(a, b)
    read.clear()
    assert np.array_equal(streamed.predict(x, batch_size=100), in_memory.predict(np.array(x)))
    assert streamed.evaluate(x, y, batch_size=100) == pytest.approx(
        in_memory.evaluate(np.array(x), y), rel=1e-6)
    assert len(read) == 2 * 5      # predict and evaluate, 5 batches of 100 each
    seen = []
    monkeypatch.setattr(memmap_module.MemmapBatches, "__getitem__",
                        lambda self, i: seen.append(int(self.order[i])) or original(self, i))
    shuffled = _model()
    history = shuffled.fit(x, y, epochs=2, batch_size=64, verbose=0)  # batch order shuffled
    first, second = seen[:8], seen[8:16]
    assert sorted(first) == sorted(second) == list(range(8)) and first != second
    assert np.isfinite(history.history["loss"]).all()


def test_memmap_batches_refuse_mismatched_targets(tmp_path):
    x, y = _files(tmp_path, rows=10)
    with pytest.raises(ValueError, match=r"^y: expected 10 samples \(as many as x\)"):
        memmap_module.MemmapBatches(x, y[:5], None, 4)


_CHILD = textwrap.dedent("""
    import json, sys
    import numpy as np
    import mlp

    def status(field):
        with open("/proc/self/status") as handle:
            return next(int(line.split()[1]) for line in handle if line.startswith(field))

    x = np.load(sys.argv[1], mmap_mode="r")
    y = (np.arange(x.shape[0]) % 2).astype(np.float32)
    model = mlp.Sequential([mlp.Dense(4, activation="relu", input_dim=x.shape[1]),
                            mlp.Dense(1, activation="sigmoid")], seed=0)
    model.compile("sgd", "binary_crossentropy")
    model.fit(x[:64], y[:64], epochs=1, batch_size=64, verbose=0)   # everything imported, warm
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")                   # the peak (VmHWM) restarts from the current RSS
    before = status("VmRSS:")
    history = model.fit(x, y, epochs=1, batch_size=4096, verbose=0, shuffle=True)
    predictions = model.predict(x, batch_size=4096)
    print(json.dumps({"before_kib": before, "after_kib": status("VmHWM:"),
                      "rows": int(predictions.shape[0]), "loss": history.history["loss"][0]}))
""")


def _can_reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux") or not _can_reset_peak(),
                    reason="needs Linux's /proc/self/clear_refs to reset the peak RSS")
def test_peak_memory_stays_far_below_the_file(tmp_path):
    """A 256 MiB float64 memory map (four STREAM_BYTES) trains and predicts while the peak
    resident memory grows by less than a quarter of the file (measured: 16 MiB; 391 MiB
    when the same map is read whole)."""
    rows, features = 2 ** 19, 64
    path = tmp_path / "big.npy"
    x = np.lib.format.open_memmap(path, mode="w+", dtype=np.float64, shape=(rows, features))
    for start in range(0, rows, 65536):
        x[start:start + 65536] = np.random.default_rng(start).normal(size=(65536, features))
    x.flush()
    del x
    size_kib = rows * features * 8 // 1024
    assert size_kib * 1024 > 3 * memmap_module.STREAM_BYTES
    root = Path(mlp.__file__).resolve().parents[1]
    run = subprocess.run([sys.executable, "-c", _CHILD, str(path)], capture_output=True,
                         text=True, timeout=600, env={"PYTHONPATH": str(root), "PATH": ""})
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["rows"] == rows and np.isfinite(result["loss"])
    growth = result["after_kib"] - result["before_kib"]
    assert growth < size_kib / 4, (growth, size_kib)
