"""The fuzz worker: runs cases read from standard input (one JSON line each) and writes one
JSON line per case with its outcome, before reading the next. The parent (:mod:`runner`) sees a
crash or a hang as a missing answer and starts a new worker for the next case.

Outcomes: ``clear`` (an error whose message names an argument, the method or the file),
``ran`` (no error), ``unclear`` (any other error: a raw NumPy or Python message, a
``MemoryError`` that is not also a ``ValueError`` naming its argument), ``silent_nan`` (fit
left non-finite weights or losses from finite data without a warning, or a loaded model
predicts them), ``silent_divergence`` (a loss past 1e6 on unit-scale data without the
divergence warning), ``silent_load`` (a file with a flipped tensor byte loaded). ``crash`` and ``hang`` are decided by the parent.
"""
from __future__ import annotations

import json
import os
import re
import sys
import tempfile
import warnings

import numpy as np

_CLEAR_TYPES = (ValueError, TypeError, RuntimeError)
_OPTIMIZERS = {"sgd": "SGD", "adam": "Adam", "adamw": "AdamW", "rmsprop": "RMSprop",
               "adagrad": "Adagrad"}
_DTYPES = {"str": "U3"}


def make(spec, rng):
    """The value a spec describes (arrays from ``rng``)."""
    if not isinstance(spec, dict) or "kind" not in spec:
        return spec
    kind = spec["kind"]
    if kind == "none":
        return None
    if kind == "string":
        return "abc"
    if kind == "scalar":
        return 1.5
    if kind == "dict":
        return {"a": 1}
    if kind == "tuple":
        return tuple(make(item, rng) for item in spec["items"])
    shape = tuple(spec.get("shape", (2, 2)))
    spec = dict(spec, dtype=spec.get("dtype", "float64"))
    dtype = _DTYPES.get(spec["dtype"], spec["dtype"])
    if "labels" in spec:
        low, high = spec["labels"]
        values = rng.integers(low, max(high, low + 1), size=shape)
    elif spec.get("unit"):
        values = rng.uniform(0.01, 0.99, size=shape)
    elif spec.get("positive"):
        values = rng.uniform(0.0, 1.0, size=shape)
    else:
        values = rng.standard_normal(size=shape) * spec.get("scale", 1.0)
    if spec["dtype"] == "str":
        array = values.astype(str).astype("U3")
    else:
        with np.errstate(all="ignore"):
            array = np.asarray(values).astype(dtype)
    if spec.get("layout") == "F":
        array = np.asfortranarray(array)
    elif spec.get("layout") == "strided" and array.ndim:
        array = np.repeat(array, 2, axis=-1)[..., ::2]
    if spec.get("readonly"):
        array.flags.writeable = False
    if kind == "list":
        return array.tolist()
    return array


_SIGNATURE = re.compile(r"(missing \d+ required (positional|keyword-only) argument|"
                        r"got an unexpected keyword argument|takes \d+ positional argument|"
                        r"got multiple values for argument)")


def _clear(error: BaseException, names) -> bool:
    if not isinstance(error, _CLEAR_TYPES):
        return False
    message = str(error)
    if isinstance(error, TypeError) and _SIGNATURE.search(message):
        return True  # Python's own signature check names the argument
    head = message.split(": ", 1)[0] if ": " in message else ""
    tokens = set(re.split(r"[^\w.]+", head)) | set(re.split(r"[^\w]+", head))
    return bool(tokens & names) or any(head.startswith(name) for name in names if "/" in name)


def run_op(case, rng):
    from mlp.backends import get_backend
    backend = get_backend(case["backend"])
    op = case["op"]
    if op == "__crash__":  # the runner's own test: a segfault
        import ctypes
        ctypes.string_at(0)
    if op == "__hang__":
        import time
        time.sleep(3600)
    args = [make(a, rng) for a in case["args"]]
    kwargs = {k: make(v, rng) for k, v in case["kwargs"].items()}
    if op == "loss_labels":
        op = "loss"
    getattr(backend, op)(*args, **kwargs)
    return None


_OP_NAMES = {"x", "w", "b", "a", "out", "preact", "dw", "db", "dx", "dz", "dy", "y", "z", "name",
             "pred", "target", "sample_weight", "grad", "delta", "alpha", "beta", "param",
             "velocity", "m", "v", "v_max", "lr", "step", "epsilon", "beta_1", "beta_2",
             "momentum", "mean_square", "mean_grad", "rho", "accumulator", "weight_decay",
             "l1", "l2", "arrays", "factor", "limit", "rate", "seed", "layer", "shape", "dtype",
             "activation", "gamma", "moving_mean", "moving_variance", "xhat", "inv_std",
             "dgamma", "dbeta", "training"}
_MODEL_NAMES = {"dtype", "units", "activation", "alpha", "rate", "seed", "input_dim", "loss",
                "optimizer", "learning_rate", "x", "y", "batch_size", "epochs",
                "validation_split", "sample_weight", "fit", "predict", "evaluate",
                "train_on_batch", "layer", "layers", "val_x", "val_y", "val_sample_weight",
                "shape", "optimizer.learning_rate", "epsilon", "center", "scale"}


def _data(case, rng, dtype):
    rows, features = case["rows"], case["features"]
    if isinstance(features, int) and features < 1:
        features = 1
    x = rng.standard_normal((rows, features)) * case["scale"]
    kind = case["x_kind"]
    x = x.astype(dtype if dtype in ("float32", "float64") else "float64")
    if kind == "list":
        x = x.tolist()
    elif kind == "F":
        x = np.asfortranarray(x)
    elif kind == "int":
        x = (x * 3).astype(np.int64)
    elif kind == "strings":
        x = x.astype(str)
    elif kind == "nan" and rows:
        x[0, 0] = np.nan
    elif kind == "1d":
        x = x[:, 0]
    return x


def _targets(case, rng, rows, outputs):
    loss = case["loss"]
    kind = case["targets"]
    outputs = outputs or 1
    if loss == "sparse_categorical_crossentropy":
        y = rng.integers(0, outputs, size=rows)
        if kind == "out_of_range":
            y = y + outputs
    elif loss == "categorical_crossentropy":
        y = np.zeros((rows, outputs))
        y[np.arange(rows), rng.integers(0, outputs, size=rows)] = 1
    elif loss == "binary_crossentropy":
        y = rng.integers(0, 2, size=(rows, outputs)).astype(float)
    else:
        y = rng.standard_normal((rows, outputs))
    if kind == "wrong_shape":
        y = y[: max(rows - 1, 0)]
    elif kind == "out_of_range" and loss != "sparse_categorical_crossentropy":
        y = y + 5
    elif kind == "nan" and rows:
        y = np.array(y, dtype=float)
        y.flat[0] = np.nan
    elif kind == "strings":
        y = np.array(y).astype(str)
    elif kind == "huge":                       # finite in float64, beyond float32
        y = np.array(y, dtype=float) * 1e300
    return y


def _weights(case, rows):
    kind = case["sample_weight"]
    if kind is None:
        return None
    weight = np.ones(rows)
    if kind == "negative" and rows:
        weight[0] = -1
    elif kind == "short":
        weight = weight[:-1]
    elif kind == "nan" and rows:
        weight[0] = np.nan
    return weight


def _finite(value) -> bool:
    try:
        return bool(np.all(np.isfinite(np.asarray(value, dtype=np.float64))))
    except (TypeError, ValueError):
        return True


def run_model(case, rng, directory):
    """Run a model case; returns ``"silent_nan"`` or None (``ran``); errors propagate."""
    import mlp
    kwargs = {"seed": 0, "dtype": case["dtype"], "backend": case["backend"]}
    layers = []
    for i, spec in enumerate(case["layers"]):
        spec = dict(spec)
        kind = spec.pop("type")
        if kind == "Dense" and i == 0:
            spec["input_dim"] = case["input_dim"]
        layers.append(getattr(mlp, kind)(**spec))
    model = mlp.Sequential(layers, **kwargs)
    optimizer = case["optimizer"]
    if isinstance(optimizer, str) and optimizer in _OPTIMIZERS:
        optimizer = getattr(mlp, _OPTIMIZERS[optimizer])(learning_rate=case["learning_rate"])
    model.compile(optimizer=optimizer, loss=case["loss"])
    x = _data(case, rng, case["dtype"])
    rows = case["rows"]
    outputs = model.output_dim if model.built else None
    if outputs is None:
        last = [s for s in case["layers"] if s["type"] == "Dense"]
        outputs = last[-1]["units"] if last and isinstance(last[-1]["units"], int) else 1
    outputs = max(1, min(outputs, 10 ** 6)) if isinstance(outputs, int) else 1
    y = _targets(case, rng, rows, outputs)
    weight = _weights(case, rows)
    data_finite = _finite(x) and _finite(y) and (weight is None or _finite(weight))
    silent = diverged = False
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for action in case["actions"]:
            if action == "fit":
                history = model.fit(x, y, batch_size=case["batch_size"], epochs=case["epochs"],
                                    validation_split=case["validation_split"],
                                    sample_weight=weight, verbose=0)
                values = [v for vs in history.history.values() for v in vs]
                if data_finite and not (_finite(values) and _finite(
                        np.asarray(model.backend.to_numpy(model.params)))):
                    silent = True
                losses = history.history.get("loss", [])
                if case["scale"] == 1.0 and case["targets"] == "ok" and losses and max(
                        losses) > 1e6:
                    diverged = True
            elif action == "predict":
                batch = case["predict_batch"]
                model.predict(x) if batch is None else model.predict(x, batch_size=batch)
            elif action == "evaluate":
                model.evaluate(x, y, batch_size=case["batch_size"], sample_weight=weight)
            elif action == "train_on_batch":
                model.train_on_batch(x, y, sample_weight=weight)
            elif action == "save_load":
                path = os.path.join(directory, f"m{case['index']}.mlp")
                model.save(path)
                mlp.load_model(path)
                os.unlink(path)
        warned = any(issubclass(w.category, RuntimeWarning) and "mlp" in str(w.filename)
                     or "fit:" in str(w.message) for w in caught)
    if diverged and not any("the loss is diverging" in str(w.message) for w in caught):
        return "silent_divergence"
    return "silent_nan" if silent and not warned else None


def _split(raw: bytes):
    length = int.from_bytes(raw[:8], "little")
    return length, json.loads(raw[8:8 + length]), raw[8 + length:]


def _join(header, data: bytes) -> bytes:
    """A file of ``header`` and ``data``, its checksum recomputed (as a crafter would)."""
    import hashlib
    meta = header["__metadata__"]
    if "sha256" in meta:
        meta["sha256"] = hashlib.sha256(meta["config"].encode() + data).hexdigest()
    text = json.dumps(header).encode()
    text += b" " * (-(8 + len(text)) % 8)
    return len(text).to_bytes(8, "little") + text + data


def mutate_config(config, change) -> None:
    """Apply one of :data:`cases.CONFIG_CHANGES` to a saved config."""
    what, value = change
    layer = config["model"]["layers"][0]
    if what in ("alpha", "units", "activation", "input_dim"):
        layer["config"][what] = value
    elif what == "class_name":
        layer["class_name"] = value
    elif what == "rate":
        config["model"]["layers"][1]["config"]["rate"] = value
    elif what == "iterations" and config.get("optimizer_state"):
        config["optimizer_state"]["iterations"] = value
    elif what == "dtype":
        config["model"]["dtype"] = value
    elif what == "param_shapes":
        config["param_shapes"] = value
    elif what == "rng" and config.get("rng"):
        config["rng"]["shuffle"]["bit_generator"] = value
    elif what == "loss" and config.get("compile"):
        config["compile"]["loss"]["class_name"] = value
    elif what == "layers":
        config["model"]["layers"] += [{"class_name": "Activation",
                                       "config": {"activation": "relu", "name": f"x{i}"}}
                                      for i in range(value)]


def run_file(case, rng, directory):
    """Run a file case; ``"silent_load"`` when a file with a flipped tensor byte loads, or
    ``"silent_nan"`` when a loaded model predicts non-finite values from finite inputs."""
    import mlp
    model = mlp.Sequential([mlp.Dense(4, activation="leaky_relu", input_dim=3),
                            mlp.Dropout(0.2), mlp.Dense(2, activation="softmax")],
                           seed=0, dtype=case["dtype"])
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    x = rng.standard_normal((16, 3)).astype(case["dtype"])
    model.fit(x, np.eye(2)[rng.integers(0, 2, 16)], epochs=1, verbose=0)
    path = os.path.join(directory, f"f{case['index']}.mlp")
    (model.save if case["kind"] == "model" else model.save_weights)(path)
    with open(path, "rb") as handle:
        raw = handle.read()
    length, header, data = _split(raw)
    mutation, where = case["mutation"], case["where"]
    if mutation == "flip_tensor":
        position = 8 + length + int(where * len(data))
        raw = raw[:position] + bytes([raw[position] ^ case["xor"]]) + raw[position + 1:]
    elif mutation == "flip_header":
        position = 8 + int(where * length)
        raw = raw[:position] + bytes([raw[position] ^ case["xor"]]) + raw[position + 1:]
    elif mutation == "truncate":
        raw = raw[:int(where * len(raw))]
    elif mutation == "config":
        config = json.loads(header["__metadata__"]["config"])
        mutate_config(config, case["change"])
        header["__metadata__"]["config"] = json.dumps(config)
        raw = _join(header, data)
    with open(path, "wb") as handle:
        handle.write(raw)
        if mutation == "sparse":             # the header promises 1 GiB more than it holds
            handle.truncate(len(raw) + 2 ** 30)
    target = mlp.Sequential([mlp.Dense(4, activation="leaky_relu", input_dim=3),
                             mlp.Dropout(0.2), mlp.Dense(2, activation="softmax")],
                            seed=1, dtype=case["dtype"])
    try:
        if case["loader"] == "load_model":
            loaded = mlp.load_model(path)
        else:
            target.load_weights(path)
            loaded = target
    finally:
        os.unlink(path)
    if mutation == "flip_tensor":
        return "silent_load"
    if not _finite(loaded.predict(x)):
        return "silent_nan"
    return None


def run(case, directory) -> dict:
    rng = np.random.default_rng(case["seed"])
    names = set(_OP_NAMES if case["family"] == "op" else _MODEL_NAMES)
    if case["family"] == "file":
        names.add("weights")
    names.add(case.get("op", ""))
    names.add(directory)
    try:
        with np.errstate(all="ignore"):
            if case["family"] == "op":
                outcome = run_op(case, rng) or "ran"
            elif case["family"] == "file":
                outcome = run_file(case, rng, directory) or "ran"
            else:
                outcome = run_model(case, rng, directory) or "ran"
        return {"outcome": outcome}
    except Exception as error:  # noqa: BLE001 - classifying every error is the point
        outcome = "clear" if _clear(error, names) else "unclear"
        return {"outcome": outcome, "error": f"{type(error).__name__}: {error}"[:300]}


def main() -> None:
    limit = os.environ.get("MLP_FUZZ_ADDRESS_SPACE")
    if limit:
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (int(limit), int(limit)))
    # answers go to a private copy of stdout; what C libraries print (a BLAS's xerbla) goes to
    # stderr, so it can never be taken for an answer
    answers = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    with tempfile.TemporaryDirectory() as directory:
        print(json.dumps({"ready": True}), file=answers, flush=True)
        for line in sys.stdin:
            case = json.loads(line)
            result = run(case, directory)
            result["index"] = case["index"]
            print(json.dumps(result), file=answers, flush=True)


if __name__ == "__main__":
    main()
