"""Saving and loading (mlp.io): exact round trips, exact continuation, atomic writes, and
clear errors for corrupt or hostile files."""
from __future__ import annotations

import json
import os
import pickle
import struct

import numpy as np
import pytest

import mlp
from mlp.saving import format as mlp_io
from mlp.io import load_model, load_weights, save_model, save_weights

BACKENDS = ["cpu", "reference"]
DTYPES = ["float32", "float64"]


# ------------------------------------------------------------------ helpers
def _data(dtype="float32", n=96, d=5, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype(dtype)
    y = ((x[:, 0] - 0.5 * x[:, 1] + 0.1 * rng.normal(size=n)) > 0).astype(dtype)
    return x, y


def _model(backend="cpu", dtype="float32", seed=3, compiled=True, lr=0.01, metrics=("accuracy",)):
    model = mlp.Sequential([
        mlp.Dense(8, activation="relu", input_dim=5),
        mlp.Dropout(0.3),
        mlp.Dense(6),
        mlp.Activation("tanh"),
        mlp.Dense(1),
        mlp.Activation("sigmoid"),
    ], seed=seed, dtype=dtype, backend=backend)
    if compiled:
        model.compile(optimizer=mlp.Adam(learning_rate=lr), loss="binary_crossentropy",
                      metrics=list(metrics))
    return model


def _trained(tmp_path, backend="cpu", dtype="float32", **kwargs):
    x, y = _data(dtype)
    model = _model(backend, dtype, **kwargs)
    model.fit(x, y, epochs=2, batch_size=16, shuffle=True, verbose=0)
    path = tmp_path / "model.mlp"
    save_model(model, path)
    return model, path, x, y


def _split(path):
    """(header dict, data bytes) of a file, parsed independently of mlp.io."""
    raw = path.read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + length].decode("utf-8"))
    return header, raw[8 + length:]


def _write(path, header, data, header_length=None):
    text = json.dumps(header).encode("utf-8")
    length = len(text) if header_length is None else header_length
    path.write_bytes(struct.pack("<Q", length) + text + data)


def _rewrite_config(path, out, change):
    header, data = _split(path)
    config = json.loads(header["__metadata__"]["config"])
    change(config)
    header["__metadata__"]["config"] = json.dumps(config)
    _write(out, header, data)


class _Exploit:
    """Unpickling this object would create the file ``marker``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


# -------------------------------------------------------------- round trips
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_save_load_predict_bit_identical(tmp_path, backend, dtype):
    model, path, x, _ = _trained(tmp_path, backend, dtype)
    loaded = load_model(path, backend=backend)
    assert loaded.backend.name == backend
    assert loaded.dtype == np.dtype(dtype)
    assert loaded.get_config() == model.get_config()
    assert [type(layer) for layer in loaded.layers] == [type(layer) for layer in model.layers]
    assert np.array_equal(loaded.params, model.params)
    for a, b in zip(loaded.get_weights(), model.get_weights()):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    expected = model.predict(x)
    got = loaded.predict(x)
    assert got.dtype == expected.dtype
    assert np.array_equal(got, expected)
    assert loaded.compiled
    assert type(loaded.loss) is type(model.loss)
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    assert list(loaded.metrics) == ["accuracy"]
    assert loaded.evaluate(x, _data(dtype)[1]) == model.evaluate(x, _data(dtype)[1])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_loaded_model_continues_training_exactly(tmp_path, backend, dtype):
    model, path, x, y = _trained(tmp_path, backend, dtype)
    loaded = load_model(path, backend=backend)
    assert loaded.optimizer.iterations == model.optimizer.iterations > 0
    for name in ("m", "v"):
        assert np.array_equal(loaded.optimizer.slots[name], model.optimizer.slots[name])

    # A third copy whose shuffling generator is NOT restored: it must diverge, which shows the
    # exact-equality checks below are sensitive to the restored state.
    unrestored = load_model(path, backend=backend)
    unrestored._shuffle_rng = np.random.Generator(np.random.PCG64(12345))

    original = model.fit(x, y, epochs=2, batch_size=16, shuffle=True, verbose=0).history
    resumed = loaded.fit(x, y, epochs=2, batch_size=16, shuffle=True, verbose=0).history
    diverged = unrestored.fit(x, y, epochs=2, batch_size=16, shuffle=True, verbose=0).history

    assert resumed == original
    assert np.array_equal(loaded.params, model.params)
    assert loaded.optimizer.iterations == model.optimizer.iterations
    assert loaded._shuffle_rng.bit_generator.state == model._shuffle_rng.bit_generator.state
    assert not np.array_equal(unrestored.params, model.params)
    assert diverged["loss"] != original["loss"]


def test_continuation_needs_the_optimizer_state(tmp_path):
    """Losing the Adam slots or the step count (which also keys the dropout masks) changes the
    continued run: the round trip really carries them."""
    model, path, x, y = _trained(tmp_path)
    reset = load_model(path)
    reset.optimizer.iterations = 0
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    reset.fit(x, y, epochs=1, batch_size=16, verbose=0)
    assert not np.array_equal(reset.params, model.params)


def test_uncompiled_model_round_trips(tmp_path):
    x, _ = _data()
    model = _model(compiled=False)
    model.build()
    path = tmp_path / "plain.mlp"
    save_model(model, path)
    loaded = load_model(path)
    assert not loaded.compiled
    assert loaded.optimizer is None
    assert np.array_equal(loaded.params, model.params)
    assert np.array_equal(loaded.predict(x), model.predict(x))
    assert json.loads(_split(path)[0]["__metadata__"]["config"])["compile"] is None


def test_unbuilt_model_round_trips_and_builds_the_same_weights(tmp_path):
    model = _model(compiled=False)
    path = tmp_path / "unbuilt.mlp"
    save_model(model, path)
    loaded = load_model(path)
    assert not loaded.built
    assert "params" not in _split(path)[0]
    model.build()
    loaded.build()
    assert np.array_equal(loaded.params, model.params)


def test_compiled_but_never_trained_model_round_trips(tmp_path):
    x, y = _data()
    model = _model()
    model.build()
    path = tmp_path / "fresh.mlp"
    save_model(model, path)
    loaded = load_model(path)
    assert loaded.compiled and loaded.optimizer.iterations == 0
    a = model.fit(x, y, epochs=2, batch_size=16, verbose=0).history
    b = loaded.fit(x, y, epochs=2, batch_size=16, verbose=0).history
    assert a == b
    assert np.array_equal(loaded.params, model.params)


def test_schedule_and_other_optimizers_round_trip(tmp_path):
    x, y = _data()
    schedule = mlp.schedules.ExponentialDecay(0.05, decay_steps=3, decay_rate=0.5)
    for optimizer in (mlp.SGD(learning_rate=schedule, momentum=0.9, nesterov=True),
                      mlp.RMSprop(0.01, momentum=0.5, centered=True),
                      mlp.Adagrad(0.05), mlp.AdamW(0.01, amsgrad=True)):
        model = _model(compiled=False)
        model.compile(optimizer=optimizer, loss="mse", metrics=["mae"])
        model.fit(x, y, epochs=1, batch_size=16, verbose=0)
        path = tmp_path / f"{type(optimizer).__name__}.mlp"
        save_model(model, path)
        loaded = load_model(path)
        assert type(loaded.optimizer) is type(optimizer)
        assert loaded.optimizer.get_config() == optimizer.get_config()
        a = model.fit(x, y, epochs=1, batch_size=16, verbose=0).history
        b = loaded.fit(x, y, epochs=1, batch_size=16, verbose=0).history
        assert a == b, type(optimizer).__name__
        assert np.array_equal(loaded.params, model.params), type(optimizer).__name__


def test_callable_metrics_are_skipped_with_a_warning(tmp_path):
    def my_metric(y_true, y_pred, sample_weight=None):
        return 0.0

    model = _model(metrics=("accuracy", my_metric, "precision"))
    model.build()
    path = tmp_path / "metrics.mlp"
    save_model(model, path)
    with pytest.warns(UserWarning, match="my_metric"):
        loaded = load_model(path)
    assert list(loaded.metrics) == ["accuracy", "precision"]


def test_unsaveable_optimizer_raises_and_writes_nothing(tmp_path):
    model = _model(compiled=False)
    model.compile(optimizer=mlp.SGD(learning_rate=lambda step: 0.1), loss="mse")
    path = tmp_path / "lambda.mlp"
    with pytest.raises(ValueError, match="optimizer"):
        save_model(model, path)
    assert list(tmp_path.iterdir()) == []


def test_save_weights_load_weights_round_trip(tmp_path):
    x, y = _data()
    source = _model(seed=1)
    source.fit(x, y, epochs=1, batch_size=16, verbose=0)
    path = tmp_path / "weights.mlp"
    save_weights(source, path)
    config = json.loads(_split(path)[0]["__metadata__"]["config"])
    assert config["kind"] == "weights"
    assert set(_split(path)[0]) == {"__metadata__", "params"}

    target = _model(seed=2)
    target.build()
    assert not np.array_equal(target.params, source.params)
    params_before = target.params
    load_weights(target, path)
    assert target.params is params_before            # written in place
    assert np.array_equal(target.params, source.params)
    assert np.array_equal(target.predict(x), source.predict(x))
    assert target.optimizer.iterations == 0          # only the weights change

    unbuilt = _model(seed=4, compiled=False)
    unbuilt.load_weights(path)                       # through the model method
    assert np.array_equal(unbuilt.params, source.params)

    full = tmp_path / "full.mlp"
    source.save(full)                                # a full model file also gives weights
    other = _model(seed=5)
    load_weights(other, full)
    assert np.array_equal(other.params, source.params)

    with pytest.raises(ValueError, match="load_weights"):
        load_model(path)


def test_load_weights_into_other_architecture_says_expected_and_got(tmp_path):
    source = _model()
    source.build()
    path = tmp_path / "weights.mlp"
    save_weights(source, path)
    n = source.count_params()
    other = mlp.Sequential([mlp.Dense(9, activation="relu", input_dim=5), mlp.Dense(1)], seed=0)
    other.build()
    before = other.params.copy()
    with pytest.raises(ValueError, match=rf"expected {other.count_params()} parameters.*got "
                                         rf"{n} parameters"):
        load_weights(other, path)
    assert np.array_equal(other.params, before)

    # same count, other shapes: 3*2+2 == 1*4+4 == 8
    a = mlp.Sequential([mlp.Dense(2, input_dim=3)], seed=0)
    a.build()
    b = mlp.Sequential([mlp.Dense(4, input_dim=1)], seed=0)
    b.build()
    assert a.count_params() == b.count_params()
    save_weights(a, path)
    with pytest.raises(ValueError, match=r"expected parameter shapes \[\[1, 4\], \[4\]\], got "
                                         r"\[\[3, 2\], \[2\]\]"):
        load_weights(b, path)

    c = mlp.Sequential([mlp.Dense(2, input_dim=3)], seed=0, dtype="float64")
    c.build()
    with pytest.raises(ValueError, match="float32"):
        load_weights(c, path)


# ----------------------------------------------------------------- the file
def test_file_is_safetensors_layout(tmp_path):
    model, path, _, _ = _trained(tmp_path)
    raw = path.read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    assert 0 < length < len(raw) - 8
    assert (8 + length) % 8 == 0                      # data aligned as safetensors writes it
    header = json.loads(raw[8:8 + length].decode("utf-8"))
    meta = header.pop("__metadata__")
    assert meta["format"] == "mlp" and meta["format_version"] == "1"
    assert meta["mlp_version"] == mlp.__version__
    assert all(isinstance(v, str) for v in meta.values())
    config = json.loads(meta["config"])
    assert config["kind"] == "model"
    assert config["model"] == model.get_config()
    assert config["optimizer_state"]["iterations"] == model.optimizer.iterations
    assert config["compile"]["metrics"] == ["accuracy"]
    assert set(header) == {"params", "optimizer/m", "optimizer/v"}
    data = raw[8 + length:]
    spans = sorted(tuple(entry["data_offsets"]) for entry in header.values())
    assert spans[0][0] == 0 and spans[-1][1] == len(data)
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:]))
    entry = header["params"]
    assert entry["dtype"] == "F32" and entry["shape"] == [model.count_params()]
    begin, end = entry["data_offsets"]
    assert np.array_equal(np.frombuffer(data[begin:end], "<f4"), model.params)
    begin, end = header["optimizer/v"]["data_offsets"]
    assert np.array_equal(np.frombuffer(data[begin:end], "<f4"), model.optimizer.slots["v"])


def test_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "nope.mlp")


# ------------------------------------------------------------ corrupt files
def test_truncated_files_raise_value_error(tmp_path):
    _, path, _, _ = _trained(tmp_path)
    raw = path.read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    cuts = sorted({0, 1, 7, 8, 9, 40, 8 + length - 1, 8 + length, 8 + length + 3,
                   (8 + length + len(raw)) // 2, len(raw) - 1})
    for cut in cuts:
        bad = tmp_path / f"cut{cut}.mlp"
        bad.write_bytes(raw[:cut])
        with pytest.raises(ValueError):
            load_model(bad)
        with pytest.raises(ValueError):
            load_weights(_model(), bad)


def test_random_bytes_raise_value_error(tmp_path):
    rng = np.random.default_rng(0)
    for index in range(20):
        bad = tmp_path / f"random{index}.mlp"
        body = rng.integers(0, 256, size=int(rng.integers(0, 600)), dtype=np.uint8).tobytes()
        if index % 2:   # a plausible header length followed by noise
            body = struct.pack("<Q", min(len(body), 100)) + body
        bad.write_bytes(body)
        with pytest.raises(ValueError):
            load_model(bad)


def test_absurd_header_length(tmp_path):
    bad = tmp_path / "huge.mlp"
    bad.write_bytes(struct.pack("<Q", 2 ** 60) + b"{}" * 10)
    with pytest.raises(ValueError, match="header length"):
        load_model(bad)
    bad.write_bytes(struct.pack("<Q", 1000) + b"{}")
    with pytest.raises(ValueError, match="larger than the rest of the file"):
        load_model(bad)


def test_header_not_json(tmp_path):
    bad = tmp_path / "notjson.mlp"
    text = b"this is not json at all!"
    bad.write_bytes(struct.pack("<Q", len(text)) + text)
    with pytest.raises(ValueError, match="not valid JSON"):
        load_model(bad)
    text = b"\xff\xfe\x00{}"
    bad.write_bytes(struct.pack("<Q", len(text)) + text)
    with pytest.raises(ValueError, match="UTF-8"):
        load_model(bad)
    text = b"[1, 2, 3]"
    bad.write_bytes(struct.pack("<Q", len(text)) + text)
    with pytest.raises(ValueError, match="not a JSON object"):
        load_model(bad)


def _corrupt(path, tmp_path, change, name="bad.mlp", data_change=None):
    header, data = _split(path)
    change(header)
    if data_change is not None:
        data = data_change(data)
    out = tmp_path / name
    _write(out, header, data)
    return out


@pytest.mark.parametrize("change, message", [
    (lambda h: h["params"].update(data_offsets=[0, 10 ** 9]), "out of range"),
    (lambda h: h["params"].update(data_offsets=[-4, 8]), "data_offsets"),
    (lambda h: h["params"].update(data_offsets=[8, 4]), "data_offsets"),
    (lambda h: h["params"].update(data_offsets="0-8"), "data_offsets"),
    (lambda h: h["params"].update(dtype="F16"), "unknown dtype"),
    (lambda h: h["params"].update(dtype="object"), "unknown dtype"),
    (lambda h: h["params"].update(shape=[-1]), "shape"),
    (lambda h: h["params"].update(shape=[1.5]), "shape"),
    (lambda h: h["params"].update(shape="12"), "shape"),
    (lambda h: h["params"].update(shape=[3]), "needs"),
    (lambda h: h["params"].update(extra=1), "exactly the keys"),
    (lambda h: h["optimizer/m"].update(data_offsets=h["params"]["data_offsets"]), "overlaps"),
    (lambda h: h.pop("__metadata__"), "format marker"),
    (lambda h: h["__metadata__"].update(format="pytorch"), "format marker"),
    (lambda h: h["__metadata__"].update(format_version="99"), "format version"),
    (lambda h: h["__metadata__"].update(config="{not json"), "not valid JSON"),
    (lambda h: h["__metadata__"].update(config="[]"), "not a JSON object"),
    (lambda h: h["__metadata__"].update(config=5), "strings to strings"),
])
def test_corrupt_header_raises_value_error(tmp_path, change, message):
    _, path, _, _ = _trained(tmp_path)
    bad = _corrupt(path, tmp_path, change)
    with pytest.raises(ValueError, match=message):
        load_model(bad)


def _drop_tensor(path, out, name):
    """Remove one tensor and its bytes, keeping the rest consistent."""
    header, data = _split(path)
    begin, end = header.pop(name)["data_offsets"]
    for entry in header.values():
        if isinstance(entry, dict) and "data_offsets" in entry:
            entry["data_offsets"] = [o - (end - begin) if o >= end else o
                                     for o in entry["data_offsets"]]
    _write(out, header, data[:begin] + data[end:])


@pytest.mark.parametrize("name", ["params", "optimizer/m", "optimizer/v"])
def test_missing_tensor_raises_value_error(tmp_path, name):
    _, path, _, _ = _trained(tmp_path)
    bad = tmp_path / "missing.mlp"
    _drop_tensor(path, bad, name)
    with pytest.raises(ValueError, match=f"missing tensor '{name}'"):
        load_model(bad)


def test_unexpected_tensor_raises_value_error(tmp_path):
    _, path, _, _ = _trained(tmp_path)
    header, data = _split(path)
    header["optimizer/evil"] = {"dtype": "U8", "shape": [8], "data_offsets": [len(data),
                                                                             len(data) + 8]}
    bad = tmp_path / "extra.mlp"
    _write(bad, header, data + b"\x00" * 8)
    with pytest.raises(ValueError, match="unexpected tensors"):
        load_model(bad)


def test_trailing_garbage_and_gaps(tmp_path):
    _, path, _, _ = _trained(tmp_path)
    bad = _corrupt(path, tmp_path, lambda h: None, data_change=lambda d: d + b"\x00" * 8)
    with pytest.raises(ValueError, match="trailing"):
        load_model(bad)

    def shift(header):
        for entry in header.values():
            if isinstance(entry, dict) and "data_offsets" in entry:
                entry["data_offsets"] = [o + 8 for o in entry["data_offsets"]]

    bad = _corrupt(path, tmp_path, shift, data_change=lambda d: b"\x00" * 8 + d)
    with pytest.raises(ValueError, match="unused bytes"):
        load_model(bad)


@pytest.mark.parametrize("change, message", [
    (lambda c: c["model"]["layers"][0].update(class_name="Conv2D"), "unknown layer class"),
    (lambda c: c["model"]["layers"][0]["config"].update(units=9), "expected 121, got 109"),
    (lambda c: c["model"]["layers"][0]["config"].update(units=10 ** 12), "parameters"),
    (lambda c: c["model"]["layers"][0]["config"].update(activation="evil"), "rebuild"),
    (lambda c: c["model"].update(dtype="object"), "rebuild"),
    (lambda c: c["model"].update(dtype="float64"), "float32"),
    (lambda c: c["model"].pop("layers"), "rebuild"),
    (lambda c: c.update(kind="pickle"), "kind"),
    (lambda c: c.pop("model"), "model"),
    (lambda c: c["compile"]["loss"].update(class_name="os.system"), "loss"),
    (lambda c: c["compile"]["optimizer"].update(class_name="Evil"), "optimizer"),
    (lambda c: c["compile"].update(metrics=["__import__"]), "unknown metric"),
    (lambda c: c["optimizer_state"].update(iterations=-1), "optimizer_state"),
    (lambda c: c["optimizer_state"].update(slots=["m"]), "slots"),
    (lambda c: c["rng"].update(shuffle={"bit_generator": "MT19937"}), "rng"),
    (lambda c: c["rng"]["shuffle"]["state"].update(state="x"), "rng"),
])
def test_bad_config_raises_value_error(tmp_path, change, message):
    _, path, _, _ = _trained(tmp_path)
    bad = tmp_path / "badconfig.mlp"
    _rewrite_config(path, bad, change)
    with pytest.raises(ValueError, match=message):
        load_model(bad)


def test_pickle_payloads_are_never_executed(tmp_path):
    marker = tmp_path / "PWNED"
    payload = pickle.dumps(_Exploit(marker))
    sanity = tmp_path / "sanity"
    pickle.loads(pickle.dumps(_Exploit(sanity))).close()   # the exploit works when unpickled
    assert sanity.exists()

    files = []
    raw = tmp_path / "raw.mlp"                   # a bare pickle
    raw.write_bytes(payload)
    files.append(raw)
    npy = tmp_path / "object.mlp"               # a .npy of objects (needs allow_pickle)
    with open(npy, "wb") as stream:
        np.save(stream, np.array([_Exploit(marker)], dtype=object), allow_pickle=True)
    files.append(npy)
    _, path, _, _ = _trained(tmp_path)
    header, data = _split(path)
    n = len(payload)
    smuggled = dict(header)                    # pickle bytes as a byte tensor named params
    smuggled["params"] = {"dtype": "U8", "shape": [n], "data_offsets": [0, n]}
    for name in [k for k in smuggled if k.startswith("optimizer/")]:
        del smuggled[name]
    out = tmp_path / "smuggled.mlp"
    _write(out, smuggled, payload)
    files.append(out)
    config_pickle = dict(header)               # pickle bytes in place of the config
    config_pickle["__metadata__"] = dict(header["__metadata__"],
                                         config=payload.decode("latin-1"))
    out = tmp_path / "config_pickle.mlp"
    _write(out, config_pickle, data)
    files.append(out)

    for bad in files:
        with pytest.raises(ValueError):
            load_model(bad)
        with pytest.raises(ValueError):
            load_weights(_model(), bad)
    assert not marker.exists()


# ------------------------------------------------------------- atomic save
def _no_temporaries(folder, keep):
    return sorted(p.name for p in folder.iterdir()) == sorted(keep)


def test_crash_during_tensor_write_keeps_previous_file(tmp_path, monkeypatch):
    x, y = _data()
    model, path, _, _ = _trained(tmp_path)
    before = path.read_bytes()
    expected = model.predict(x)
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)   # now differs from the file
    real_write = mlp_io._write_tensor
    calls = []

    def crash(stream, array):
        calls.append(1)
        if len(calls) == 2:                                # after part of the data is written
            raise KeyboardInterrupt("power cut")
        real_write(stream, array)

    monkeypatch.setattr(mlp_io, "_write_tensor", crash)
    with pytest.raises(KeyboardInterrupt):
        save_model(model, path)
    assert len(calls) == 2
    assert path.read_bytes() == before
    assert _no_temporaries(tmp_path, ["model.mlp"])
    assert np.array_equal(load_model(path).predict(x), expected)


def test_failed_rename_keeps_previous_file(tmp_path, monkeypatch):
    x, y = _data()
    model, path, _, _ = _trained(tmp_path)
    before = path.read_bytes()
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)

    def fail(src, dst):
        raise OSError("disk gone")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk gone"):
        save_model(model, path)
    with pytest.raises(OSError, match="disk gone"):
        save_weights(model, path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert _no_temporaries(tmp_path, ["model.mlp"])
    load_model(path)
    save_model(model, path)                                # a real save then replaces it
    assert path.read_bytes() != before
    assert np.array_equal(load_model(path).params, model.params)


def test_save_overwrites_and_keeps_mode(tmp_path):
    model, path, _, _ = _trained(tmp_path)
    os.chmod(path, 0o640)
    save_model(model, path)
    assert (os.stat(path).st_mode & 0o777) == 0o640
    new = tmp_path / "new.mlp"
    save_model(model, new)
    assert os.stat(new).st_mode & 0o044                  # not the 0o600 of a temporary file
