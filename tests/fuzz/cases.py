"""The fuzz cases: a seeded generator of JSON-described calls to the public API.

A case is a plain dict (it travels to a worker process as one JSON line): the public backend
operations of ``get_backend("cpu" | "reference")`` with right, wrong and hostile arguments
(family ``"op"``), models built, compiled, fitted, evaluated, used to predict and saved
with right, wrong and hostile settings (family ``"model"``), and saved files changed by a
flipped byte, a cut, a crafted config or a sparse promise, then loaded (family ``"file"``). Arrays are described, not stored
(shape, dtype, layout, scale, a seed); :mod:`worker` makes them.

The same seed gives the same cases, so a failing case is reproduced by its seed and index.
"""
from __future__ import annotations

import random
from typing import Any, Dict, List

HUGE = [10 ** 5, 10 ** 6]            # dimensions of op arguments that do not fit the others
HUGE_WIDTHS = [10 ** 6, 10 ** 7, 10 ** 8, 10 ** 9]
HUGE_BATCHES = [10 ** 6, 10 ** 9, 10 ** 12]
ACTIVATIONS = ["linear", "relu", "leaky_relu", "elu", "sigmoid", "tanh", "softmax", "gelu",
               "swish", "silu", None]
BAD_ACTIVATIONS = ["relu6", "", 3, ["relu"], "RELU"]
LOSSES = ["mean_squared_error", "mean_absolute_error", "huber", "binary_crossentropy",
          "binary_crossentropy_from_logits", "categorical_crossentropy",
          "categorical_crossentropy_from_logits"]
BAD_SCALARS = ["x", None, float("nan"), float("inf"), -1e300, 10 ** 30, True, [1.0]]
GOOD_DTYPES = ["float32", "float64"]
OTHER_DTYPES = ["int64", "bool", "complex128", "str", "uint8"]


def _array(shape, dtype="float64", **extra) -> Dict[str, Any]:
    spec = {"kind": "array", "shape": list(shape), "dtype": dtype, "layout": "C", "scale": 1.0}
    spec.update(extra)
    return spec


def _mutate_array(r: random.Random, spec: Dict[str, Any]) -> Dict[str, Any]:
    """A wrong or unusual variant of an array argument."""
    spec = dict(spec)
    choice = r.randrange(11)
    shape = list(spec.get("shape", [2, 2]))
    if choice == 0 and shape:                                   # one dimension off
        i = r.randrange(len(shape))
        shape[i] = max(0, shape[i] + r.choice([-1, 1, 2]))
    elif choice == 1 and shape:                    # one dimension huge (the others small)
        i = r.randrange(len(shape))
        shape = [r.choice(HUGE) if j == i else min(d, 2) for j, d in enumerate(shape)]
    elif choice == 2:                                           # other number of dimensions
        shape = r.choice([[], [3], [2, 2, 2], shape[:1], shape + [1]])
    elif choice == 3:                                           # zero-size
        shape = [0] + shape[1:] if shape else [0]
    elif choice == 4:
        spec["dtype"] = r.choice(OTHER_DTYPES)
    elif choice == 5:
        spec["layout"] = r.choice(["F", "strided"])
    elif choice == 6:
        return {"kind": r.choice(["none", "string", "scalar", "dict"])}
    elif choice == 7:
        spec["kind"] = "list"
    elif choice == 8:
        spec["readonly"] = True
    elif choice == 9:
        spec["dtype"] = r.choice(GOOD_DTYPES)
    else:
        spec["scale"] = r.choice([1e30, 1e-30, 0.0])
    spec["shape"] = shape
    return spec


def _scalar(r: random.Random, good: Any, p_bad: float) -> Any:
    return r.choice(BAD_SCALARS) if r.random() < p_bad else good


def _op_case(r: random.Random) -> Dict[str, Any]:
    rows, inputs, units = r.choice([0, 1, 2, 3, 5, 8]), r.randint(1, 6), r.randint(1, 6)
    dt = r.choice(GOOD_DTYPES)
    op = r.choice(["dense_forward", "dense_backward", "loss", "loss_labels", "matmul",
                   "activation_forward", "activation_backward", "sgd_update", "adam_update",
                   "rmsprop_update", "adagrad_update", "add_penalty_gradient", "penalty",
                   "global_norm", "scale_", "clip_", "dropout_mask", "dropout_forward",
                   "dropout_backward", "batch_norm_forward", "batch_norm_backward",
                   "layer_norm_forward", "layer_norm_backward"])
    args: List[Any]
    kwargs: Dict[str, Any] = {}
    act = r.choice(ACTIVATIONS)
    n = r.randint(1, 12)
    if op == "dense_forward":
        args = [_array([rows, inputs], dt), _array([inputs, units], dt), _array([units], dt),
                act]
        kwargs = r.choice([{}, {"out": _array([rows, units], dt, out=True)},
                           {"preact": _array([rows, units], dt, out=True)}])
    elif op == "dense_backward":
        args = [_array([rows, inputs], dt), _array([inputs, units], dt),
                _array([rows, units], dt), _array([rows, units], dt), act]
        kwargs = {"preact": _array([rows, units], dt)}
        kwargs.update(r.choice([{}, {"dw": _array([inputs, units], dt, out=True)},
                                {"need_dx": False}, {"need_db": False},
                                {"dx": _array([rows, inputs], dt, out=True)},
                                {"db": _array([units], dt, out=True)}]))
    elif op in ("loss", "loss_labels"):
        name = r.choice(LOSSES)
        rows = max(rows, 1) if r.random() < 0.9 else rows
        if op == "loss_labels":
            name = r.choice(LOSSES[5:])
            target = _array([rows], "int64", labels=[0, units])
            if r.random() < 0.3:
                target["labels"] = r.choice([[-3, 0], [units, units + 1], [0, 10 ** 9],
                                             [-(2 ** 62), -(2 ** 62) + 1]])
            if r.random() < 0.15:
                target["dtype"] = r.choice(["float64", "float32", "bool"])
        else:
            target = _array([rows, units], dt, unit=True)
        pred = _array([rows, units], dt, unit=name not in ("huber",) and "logits" not in name)
        args = [_scalar(r, name, 0.05), pred, target]
        kwargs = r.choice([{}, {"sample_weight": _array([rows], dt, unit=True)},
                           {"grad": _array([rows, units], dt, out=True)},
                           {"delta": _scalar(r, 1.0, 0.5)}])
    elif op == "matmul":
        ta, tb = r.random() < 0.3, r.random() < 0.3
        m, k, nn = r.randint(0, 5), r.randint(0, 5), r.randint(0, 5)
        a = _array([k, m] if ta else [m, k], dt)
        b = _array([nn, k] if tb else [k, nn], dt)
        args = [a, b]
        kwargs = {"trans_a": ta, "trans_b": tb}
        if r.random() < 0.3:
            kwargs.update(out=_array([m, nn], dt, out=True), beta=r.choice([0.0, 1.0]))
        if r.random() < 0.1:
            kwargs["alpha"] = _scalar(r, 2.0, 1.0)
    elif op == "activation_forward":
        args = [_array([rows, units], dt), act]
        kwargs = r.choice([{}, {"alpha": _scalar(r, 0.1, 0.5)},
                           {"out": _array([rows, units], dt, out=True)}])
    elif op == "activation_backward":
        args = [_array([rows, units], dt), _array([rows, units], dt),
                _array([rows, units], dt), act]
    elif op in ("sgd_update", "adam_update", "rmsprop_update", "adagrad_update"):
        flat = _array([n], dt, out=True)
        state = _array([n], dt, out=True, positive=True)
        if op == "sgd_update":
            args = [flat, _array([n], dt), state, _scalar(r, 0.01, 0.1)]
            kwargs = {"momentum": r.choice([0.0, 0.9]), "nesterov": r.random() < 0.5}
        elif op == "adam_update":
            args = [flat, _array([n], dt), state, dict(state), dict(state),
                    _scalar(r, r.choice([1, 2, 10]), 0.1) if r.random() > 0.05 else 0,
                    _scalar(r, 0.001, 0.05), 0.9, 0.999, 1e-7]
            kwargs = {"amsgrad": r.random() < 0.3, "decoupled": r.random() < 0.3}
        elif op == "rmsprop_update":
            args = [flat, _array([n], dt), state, _scalar(r, 0.001, 0.1), 0.9, 1e-7]
            kwargs = {"momentum": r.choice([0.0, 0.5]), "velocity": dict(state),
                      "centered": r.random() < 0.3, "mean_grad": dict(state)}
        else:
            args = [flat, _array([n], dt), state, _scalar(r, 0.01, 0.1), 1e-7]
    elif op == "add_penalty_gradient":
        args = [_array([n], dt, out=True), _array([n], dt), 0.01, 0.01]
    elif op == "penalty":
        args = [_array([rows, units], dt), 0.01, 0.02]
    elif op == "global_norm":
        args = [{"kind": "tuple", "items": [_array([n], dt), _array([rows, units], dt)]}]
    elif op in ("scale_", "clip_"):
        args = [_array([n], dt, out=True), _scalar(r, 0.5, 0.2)]
    elif op == "dropout_mask":
        args = [[rows, units], _scalar(r, 0.3, 0.1), 7, 1, 2, dt]
        if r.random() < 0.1:
            args[0] = r.choice([[-1, 2], "3", [2.5, 1], [10 ** 7, 10 ** 7]])
        if r.random() < 0.1:
            args[r.randrange(2, 6)] = r.choice(["x", 1.5, None, 2 ** 70])
    elif op == "batch_norm_forward":
        args = [_array([rows, units], dt), _array([units], dt), _array([units], dt),
                _array([units], dt, out=True), _array([units], dt, out=True, positive=True),
                _scalar(r, 0.9, 0.1), _scalar(r, 1e-3, 0.1), r.random() < 0.7]
        kwargs = r.choice([{}, {"out": _array([rows, units], dt, out=True)},
                           {"xhat": _array([rows, units], dt, out=True),
                            "inv_std": _array([units], dt, out=True)}])
    elif op == "layer_norm_forward":
        args = [_array([rows, units], dt), _array([units], dt), _array([units], dt),
                _scalar(r, 1e-3, 0.1)]
        kwargs = r.choice([{}, {"xhat": _array([rows, units], dt, out=True),
                                "inv_std": _array([rows], dt, out=True)}])
    elif op in ("batch_norm_backward", "layer_norm_backward"):
        stats = [units] if op == "batch_norm_backward" else [rows]
        args = [_array([rows, units], dt), _array([rows, units], dt), _array([units], dt),
                _array(stats, dt, positive=True)]
        kwargs = r.choice([{}, {"need_dx": False}, {"need_dgamma": False, "need_dbeta": False},
                           {"dx": _array([rows, units], dt, out=True)},
                           {"dgamma": _array([units], dt, out=True)}])
    else:  # dropout_forward / dropout_backward
        args = [_array([rows, units], dt), _scalar(r, 0.3, 0.1), 7, 1, 2]
        kwargs = r.choice([{}, {"out": _array([rows, units], dt, out=True)}])
    # mutate some arguments (most cases are wrong somewhere: that is what is tested)
    positions = [i for i, a in enumerate(args) if isinstance(a, dict) and a.get("kind") == "array"]
    keys = [k for k, v in kwargs.items() if isinstance(v, dict) and v.get("kind") == "array"]
    for _ in range(r.choice([0, 1, 1, 2])):
        if keys and r.random() < 0.3:
            key = r.choice(keys)
            kwargs[key] = _mutate_array(r, kwargs[key])
        elif positions:
            i = r.choice(positions)
            args[i] = _mutate_array(r, args[i])
    if r.random() < 0.05:
        args = args[:-1]
    return {"family": "op", "backend": r.choice(["cpu", "cpu", "reference"]), "op": op,
            "args": args, "kwargs": kwargs}


def _model_case(r: random.Random) -> Dict[str, Any]:
    n_layers = r.randint(1, 3)
    layers = []
    for i in range(n_layers):
        if i and r.random() < 0.2:
            layers.append({"type": "Dropout", "rate": _scalar(r, r.choice([0.0, 0.2, 0.5]), 0.1)})
            continue
        units = r.randint(1, 8)
        if r.random() < 0.04:
            units = r.choice(HUGE_WIDTHS)
        elif r.random() < 0.05:
            units = r.choice([0, -1, 2.5, "8", None, True])
        act = r.choice(ACTIVATIONS) if r.random() > 0.05 else r.choice(BAD_ACTIVATIONS)
        layer = {"type": "Dense", "units": units, "activation": act}
        if r.random() < 0.1:
            layer["alpha"] = _scalar(r, 0.1, 0.6)
        layers.append(layer)
    if r.random() < 0.03:
        layers.append({"type": "Activation", "activation": r.choice(ACTIVATIONS)})
    if r.random() < 0.15:                 # a normalization layer somewhere after the first
        norm = {"type": r.choice(["BatchNormalization", "LayerNormalization"]),
                "center": r.random() < 0.8, "scale": r.random() < 0.8}
        if r.random() < 0.1:
            norm["epsilon"] = r.choice([0.0, -1.0, float("nan"), "x"])
        layers.insert(r.randint(1, len(layers)), norm)
    features = r.randint(1, 5)
    loss = r.choice(["mse", "mae", "huber", "binary_crossentropy", "categorical_crossentropy",
                     "sparse_categorical_crossentropy"])
    if r.random() < 0.04:
        loss = r.choice(["msee", None, 3, ""])
    optimizer = r.choice(["sgd", "adam", "adamw", "rmsprop", "adagrad"])
    if r.random() < 0.04:
        optimizer = r.choice(["adamx", 3, None])
    case = {
        "family": "model",
        "backend": r.choice(["cpu", "cpu", "reference"]),
        "dtype": r.choice(GOOD_DTYPES) if r.random() > 0.05 else r.choice([3, "int32", None,
                                                                            "float16", "x"]),
        "layers": layers,
        "input_dim": features if r.random() > 0.05 else r.choice([0, -2, features + 1, 10 ** 7]),
        "features": features if r.random() > 0.05 else features + r.choice([-1, 1]),
        "rows": r.choice([1, 2, 5, 16, 40]) if r.random() > 0.03 else 0,
        "loss": loss,
        "optimizer": optimizer,
        "learning_rate": _scalar(r, r.choice([0.001, 0.01, 0.1] * 6 + [1e3]), 0.05),
        "batch_size": r.choice([1, 4, 32]) if r.random() > 0.1 else r.choice(
            HUGE_BATCHES + [0, -1, 2.5, "32", None]),
        "epochs": r.choice([1, 2]) if r.random() > 0.05 else r.choice([0, -1, 1.5, "2"]),
        "validation_split": 0.0 if r.random() > 0.15 else r.choice([0.2, 0.5, 1.0, -0.1, "x"]),
        "sample_weight": r.choice([None, None, None, "ok", "negative", "short", "nan"]),
        "targets": r.choice(["ok"] * 8 + ["wrong_shape", "out_of_range", "nan", "strings",
                                          "huge"]),
        "scale": r.choice([1.0] * 12 + [1e38, 1e-38, 1e20]),
        "x_kind": r.choice(["array"] * 12 + ["list", "F", "int", "strings", "nan", "1d"]),
        "predict_batch": r.choice([None, None, 1, 3]) if r.random() > 0.1 else r.choice(
            HUGE_BATCHES + [0, -5]),
        "actions": r.sample(["fit", "predict", "evaluate", "save_load", "train_on_batch"],
                            r.randint(1, 4)),
        "seed": r.randrange(2 ** 31),
    }
    if any(isinstance(layer.get("units"), int) and layer["units"] > 10 ** 5
           for layer in layers):
        case["rows"], case["epochs"] = min(case["rows"], 2), 1  # keep the big ones quick
    if "fit" in case["actions"]:
        case["actions"].remove("fit")
        case["actions"].insert(0, "fit")
    return case


FILE_MUTATIONS = ["flip_tensor", "flip_tensor", "flip_tensor", "flip_header", "truncate",
                  "config", "config", "sparse"]
CONFIG_CHANGES = [
    ("alpha", 1e308), ("alpha", -3.5e38), ("alpha", 0.3), ("iterations", 10 ** 30),
    ("iterations", -1), ("units", 5), ("dtype", "float64"), ("class_name", "Conv2D"),
    ("activation", "evil"), ("param_shapes", [[3, 4]]), ("rate", 1.5), ("rng", "MT19937"),
    ("loss", "os.system"), ("input_dim", 10 ** 9), ("layers", 20000)]
"""Changes to a saved file's config (the checksum recomputed, as a crafter would):
``(what, value)``, applied by :func:`worker.mutate_config`."""


def _file_case(r: random.Random) -> Dict[str, Any]:
    """A saved model or weights file, changed (a flipped byte, a cut, a crafted config, a
    sparse promise of 1 GiB), then loaded by ``load_model`` or ``load_weights``."""
    mutation = r.choice(FILE_MUTATIONS)
    case = {"family": "file", "kind": r.choice(["model", "model", "weights"]),
            "loader": r.choice(["load_model", "load_weights"]), "mutation": mutation,
            "where": r.random(), "xor": r.randrange(1, 256),
            "dtype": r.choice(GOOD_DTYPES), "seed": r.randrange(2 ** 31)}
    if mutation == "config":
        case["change"] = list(r.choice(CONFIG_CHANGES))
    return case


def generate(seed: int, count: int, families=("op", "model", "file")) -> List[Dict[str, Any]]:
    """``count`` cases from ``seed``, the families in proportion 5 ops : 3 models : 2 files."""
    r = random.Random(seed)
    makers = {"op": _op_case, "model": _model_case, "file": _file_case}
    cases = []
    for index in range(count):
        family = families[0] if len(families) == 1 else (
            "op" if index % 10 < 5 else "model" if index % 10 < 8 else "file")
        if family not in families:
            family = families[index % len(families)]
        case = makers[family](r)
        case.update(index=index, seed=case.get("seed", r.randrange(2 ** 31)))
        cases.append(case)
    return cases
