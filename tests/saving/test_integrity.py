"""Loading from the fuzz pass of issue 17: a checksum over the config and the tensor bytes,
sizes checked against the config before anything is read, tensors read in place, only regular
files opened, hostile configs refused by ``load_model`` and ``load_weights`` alike, and load
time linear in the number of layers."""
from __future__ import annotations

import hashlib
import json
import os
import struct
import subprocess
import sys
import textwrap
import threading
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

import mlp
from mlp.io import load_model, load_weights
from mlp.saving import format as mlp_format

SRC = str(Path(mlp.__file__).resolve().parents[1])


# ------------------------------------------------------------------ helpers
def _trained(tmp_path, activation="leaky_relu", optimizer="adam"):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 3)).astype(np.float32)
    model = mlp.Sequential([mlp.Dense(4, activation=activation, input_dim=3),
                            mlp.Dropout(0.2), mlp.Dense(1)], seed=0)
    model.compile(optimizer=optimizer, loss="mse")
    model.fit(x, x[:, :1], epochs=2, batch_size=8, verbose=0)
    path = tmp_path / "model.mlp"
    model.save(path)
    return model, path, x


def _split(path):
    raw = Path(path).read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8:8 + length]), raw[8 + length:]


def _write(path, header, data, sign=True):
    """Write a file; ``sign`` recomputes the checksum as a writer of crafted files would."""
    meta = header["__metadata__"]
    if sign:
        meta[mlp_format.CHECKSUM_KEY] = hashlib.sha256(meta["config"].encode() + data
                                                       ).hexdigest()
    text = json.dumps(header).encode()
    text += b" " * (-(8 + len(text)) % 8)
    Path(path).write_bytes(struct.pack("<Q", len(text)) + text + data)


def _rewrite_config(path, out, change, sign=True):
    header, data = _split(path)
    config = json.loads(header["__metadata__"]["config"])
    change(config)
    header["__metadata__"]["config"] = json.dumps(config)
    _write(out, header, data, sign)
    return out


# ---------------------------------------------------------------- checksum
def test_the_file_records_the_sha256_of_its_config_and_data(tmp_path):
    _, path, _ = _trained(tmp_path)
    header, data = _split(path)
    meta = header["__metadata__"]
    assert meta["sha256"] == hashlib.sha256(meta["config"].encode() + data).hexdigest()


def test_every_single_byte_flip_in_the_tensors_is_refused(tmp_path):
    model, path, _ = _trained(tmp_path)
    raw = path.read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    start = 8 + length
    assert len(raw) - start == 3 * model.count_params() * 4  # params, m and v
    loaded = []
    bad = tmp_path / "flipped.mlp"
    for position in range(start, len(raw)):
        flipped = bytearray(raw)
        flipped[position] ^= 0x5A
        bad.write_bytes(bytes(flipped))
        try:
            load_model(bad)
        except ValueError as error:
            assert "checksum mismatch" in str(error)
        else:
            loaded.append(position)
    assert loaded == []            # before: about one flip in seven loaded without a word


def test_a_flipped_byte_is_refused_by_load_weights_too(tmp_path):
    model, path, _ = _trained(tmp_path)
    header, data = _split(path)
    data = bytearray(data)
    data[5] ^= 1
    _write(tmp_path / "bad.mlp", header, bytes(data), sign=False)
    with pytest.raises(ValueError, match="checksum mismatch"):
        load_weights(model, tmp_path / "bad.mlp")


def test_a_changed_config_is_refused_by_the_checksum(tmp_path):
    _, path, _ = _trained(tmp_path)
    bad = _rewrite_config(path, tmp_path / "bad.mlp",
                          lambda c: c["model"]["layers"][0]["config"].update(alpha=0.3),
                          sign=False)
    with pytest.raises(ValueError, match="checksum mismatch"):
        load_model(bad)


def test_a_malformed_checksum_is_refused(tmp_path):
    _, path, _ = _trained(tmp_path)
    header, data = _split(path)
    header["__metadata__"]["sha256"] = "not hex"
    _write(tmp_path / "bad.mlp", header, data, sign=False)
    with pytest.raises(ValueError, match=r"__metadata__\['sha256'\]: expected 64 hexadecimal"):
        load_model(tmp_path / "bad.mlp")


def test_files_without_a_checksum_load_unchecked(tmp_path):
    # files written before the checksum existed: the layout is the same, minus the entry
    model, path, x = _trained(tmp_path)
    header, data = _split(path)
    del header["__metadata__"]["sha256"]
    _write(tmp_path / "old.mlp", header, data, sign=False)
    np.testing.assert_array_equal(load_model(tmp_path / "old.mlp").predict(x), model.predict(x))


def test_the_safetensors_library_reads_the_file(tmp_path):
    numpy_reader = pytest.importorskip("safetensors.numpy")
    model, path, _ = _trained(tmp_path)
    tensors = numpy_reader.load_file(str(path))
    np.testing.assert_array_equal(tensors["params"], model.params)
    np.testing.assert_array_equal(tensors["optimizer/v"], model.optimizer.slots["v"])


# ----------------------------------------------------- sizes before reading
def _sparse_file(path, tmp_path, gib):
    """A model file whose header promises a ``gib`` GiB ``params`` tensor; the data is a hole."""
    model = mlp.Sequential([mlp.Dense(4, input_dim=3), mlp.Dense(1)], seed=0)
    model.build()
    model.save(tmp_path / "small.mlp")
    header, _ = _split(tmp_path / "small.mlp")
    count = gib * 2 ** 30 // 4
    header["params"] = {"dtype": "F32", "shape": [count], "data_offsets": [0, 4 * count]}
    text = json.dumps(header).encode()
    text += b" " * (-(8 + len(text)) % 8)
    with open(path, "wb") as handle:
        handle.write(struct.pack("<Q", len(text)) + text)
        handle.truncate(8 + len(text) + 4 * count)


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="VmHWM: Linux")
def test_a_sparse_file_is_refused_before_its_data_is_read(tmp_path):
    path = tmp_path / "sparse.mlp"
    _sparse_file(path, tmp_path, 1)
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {SRC!r})
        import mlp
        try:
            mlp.load_model({str(path)!r})
        except ValueError as error:
            print("ValueError", error)
        # VmHWM: this process' own peak (ru_maxrss would start at the forking parent's)
        with open("/proc/self/status") as status:
            peak = [line.split()[1] for line in status if line.startswith("VmHWM:")][0]
        print("peak", int(peak) // 1024)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=120).stdout
    assert "ValueError" in out and "the architecture in the config has 21 parameters" in out
    peak_mib = int(out.rsplit("peak", 1)[1])
    assert peak_mib < 400, out     # before: 2.1 GB, the data section read and copied


def test_the_layout_is_checked_before_a_tensor_byte_is_read(tmp_path, monkeypatch):
    path = tmp_path / "sparse.mlp"
    _sparse_file(path, tmp_path, 1)

    def no_reading(*args, **kwargs):
        raise AssertionError("tensor bytes were read")

    monkeypatch.setattr(mlp_format, "_read_tensors", no_reading)
    with pytest.raises(ValueError, match="tensor 'params' holds 268435456"):
        load_model(path)
    with pytest.raises(ValueError, match="tensor 'params' holds 268435456"):
        load_weights(mlp.Sequential([mlp.Dense(4, input_dim=3), mlp.Dense(1)]), path)


def test_tensors_are_read_in_place_without_a_copy_of_the_data(tmp_path):
    model = mlp.Sequential([mlp.Dense(1000, input_dim=2000), mlp.Dense(1)], seed=0)
    model.build()
    path = tmp_path / "big.mlp"
    model.save(path)
    nbytes = model.count_params() * 4
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        _, tensors = mlp_format.read_file(path, lambda config, where: None)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    np.testing.assert_array_equal(tensors["params"], model.params)
    assert peak < 1.2 * nbytes, (peak, nbytes)   # before: the data bytes and a copy (2x)


# --------------------------------------------------------------- not files
def _call_with_timeout(function, seconds=10.0):
    result = {}

    def run():
        try:
            function()
        except BaseException as error:  # noqa: BLE001 - handed back to the test
            result["error"] = error

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    return thread.is_alive(), result.get("error")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
@pytest.mark.parametrize("loader", ["load_model", "load_weights"])
def test_a_fifo_is_refused_without_blocking(tmp_path, loader):
    fifo = tmp_path / "model.mlp"
    os.mkfifo(fifo)
    model = mlp.Sequential([mlp.Dense(1, input_dim=2)])
    call = (lambda: load_model(fifo)) if loader == "load_model" else (
        lambda: load_weights(model, fifo))
    try:
        blocked, error = _call_with_timeout(call)
    finally:  # a reader still blocked in open() is let go
        try:
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:
            pass
    assert not blocked, f"{loader} blocked on a FIFO"
    assert isinstance(error, ValueError)
    assert "is a FIFO (named pipe), not a regular file" in str(error)


def test_a_directory_and_a_device_are_refused(tmp_path):
    with pytest.raises(ValueError, match="is a directory, not a regular file; expected a mlp "
                                         "model file"):
        load_model(tmp_path)
    if os.path.exists("/dev/zero"):
        with pytest.raises(ValueError, match="is a character device, not a regular file"):
            load_model("/dev/zero")


# ------------------------------------------------------------ hostile configs
@pytest.mark.parametrize("alpha", [1e308, -1e308, 3.5e38])
def test_an_alpha_that_overflows_float32_is_refused(tmp_path, alpha):
    _, path, _ = _trained(tmp_path)
    bad = _rewrite_config(path, tmp_path / "bad.mlp",
                          lambda c: c["model"]["layers"][0]["config"].update(alpha=alpha))
    with pytest.raises(ValueError, match=r"alpha: expected a finite number or None, of "
                                         r"magnitude at most 3.4e38"):
        load_model(bad)
    with pytest.raises(ValueError, match="alpha"):
        mlp.Dense(2, activation="leaky_relu", alpha=alpha)


def test_an_absurd_step_count_is_refused_at_load(tmp_path):
    _, path, _ = _trained(tmp_path)
    bad = _rewrite_config(path, tmp_path / "bad.mlp",
                          lambda c: c["optimizer_state"].update(iterations=10 ** 30))
    with pytest.raises(ValueError, match=r"config\['optimizer_state'\]: expected .*"
                                         r"an integer in \[0, 2\*\*53\]"):
        load_model(bad)
    optimizer = mlp.Adam()
    with pytest.raises(ValueError, match=r"state\['iterations'\]: expected an integer in "
                                         r"\[0, 2\*\*53\], got 10+"):
        optimizer.load_state_dict({"iterations": 10 ** 30, "slots": {}}, None)


WEIGHTS_CHANGES = [
    (lambda c: c["model"]["layers"][0].update(class_name="Conv2D"), "unknown layer class"),
    (lambda c: c["model"]["layers"][0]["config"].update(alpha=1e308), "alpha"),
    (lambda c: c["model"]["layers"][0]["config"].update(activation="evil"), "rebuild"),
    (lambda c: c["model"].update(dtype="float64"), "float32"),
    (lambda c: c["model"]["layers"][0]["config"].update(units=5), "parameters"),
    (lambda c: c.update(param_shapes=[[3, 4], [4], [4, 1], [1], [0]]), "param_shapes"),
    (lambda c: c["optimizer_state"].update(iterations=10 ** 30), "optimizer_state"),
    (lambda c: c["compile"]["loss"].update(class_name="os.system"), "loss"),
    (lambda c: c["rng"].update(shuffle={"bit_generator": "MT19937"}), "rng"),
]


@pytest.mark.parametrize("change, message", WEIGHTS_CHANGES)
def test_load_weights_checks_the_files_config(tmp_path, change, message):
    # before: load_weights read only 'params' and 'param_shapes' and loaded these files
    model, path, _ = _trained(tmp_path)
    bad = _rewrite_config(path, tmp_path / "bad.mlp", change)
    target = mlp.Sequential([mlp.Dense(4, activation="leaky_relu", input_dim=3),
                             mlp.Dropout(0.2), mlp.Dense(1)], seed=1)
    target.build()
    before = target.params.copy()
    with pytest.raises(ValueError, match=message):
        load_weights(target, bad)
    np.testing.assert_array_equal(target.params, before)
    with pytest.raises(ValueError, match=message):
        load_model(bad)


def test_load_weights_still_loads_a_sound_file(tmp_path):
    model, path, x = _trained(tmp_path)
    target = mlp.Sequential([mlp.Dense(4, activation="leaky_relu", input_dim=3),
                             mlp.Dropout(0.2), mlp.Dense(1)], seed=1)
    load_weights(target, path)
    np.testing.assert_array_equal(target.predict(x), model.predict(x))


# ------------------------------------------------------------ linear time
def _many_layers(path, n):
    layers = [mlp.Dense(1, input_dim=1, name="d")] + [mlp.Activation("relu", name=f"a{i}")
                                                     for i in range(n)]
    model = mlp.Sequential(layers, seed=0)
    model.compile(optimizer="adam", loss="mse")
    model.build()
    model.save(path)


def _load_seconds(path):
    started = time.perf_counter()
    load_model(path)
    return time.perf_counter() - started


def test_a_file_of_20k_layers_loads_in_under_a_second(tmp_path):
    _many_layers(tmp_path / "big.mlp", 20000)
    assert min(_load_seconds(tmp_path / "big.mlp") for _ in range(2)) < 1.0


def test_load_time_grows_linearly_with_the_layers(tmp_path):
    _many_layers(tmp_path / "n.mlp", 4000)
    _many_layers(tmp_path / "4n.mlp", 16000)
    small = min(_load_seconds(tmp_path / "n.mlp") for _ in range(3))
    large = min(_load_seconds(tmp_path / "4n.mlp") for _ in range(3))
    assert large < 8 * small + 0.2, (small, large)   # quadratic would be 16x


def test_load_model_reads_the_tensors_straight_into_the_models_buffers(tmp_path, monkeypatch):
    model, path, x = _trained(tmp_path)
    copies = []
    original = mlp_format._read_tensors

    def spy(stream, entries, digest, where, destinations):
        copies.append(dict(destinations))
        return original(stream, entries, digest, where, destinations)

    monkeypatch.setattr(mlp_format, "_read_tensors", spy)
    loaded = load_model(path)
    assert copies[0]["params"] is loaded.params        # no buffer in between
    for name in ("m", "v"):
        assert copies[0][f"optimizer/{name}"] is loaded.optimizer.slots[name]
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    np.testing.assert_array_equal(loaded.optimizer.slots["v"], model.optimizer.slots["v"])


def test_load_model_holds_the_tensors_once(tmp_path):
    model = mlp.Sequential([mlp.Dense(1000, input_dim=1000), mlp.Dense(1000), mlp.Dense(1000),
                            mlp.Dense(1000)], seed=0)
    model.compile(optimizer="adam", loss="mse")
    model.fit(np.ones((4, 1000), np.float32), np.ones((4, 1000), np.float32), verbose=0)
    path = tmp_path / "big.mlp"
    model.save(path)
    data = 3 * model.params.nbytes                      # params, m and v
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        load_model(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1.2 * data, (peak, data)   # before: the data section and a copy (2x)
