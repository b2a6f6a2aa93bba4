"""Saving and loading models: a model's public state to and from one file of :mod:`.format`.

:func:`save_model` writes the architecture, the compile settings (loss, optimizer, metric
names), the weights, the optimizer state and the random generator state, so that a loaded model
predicts bit for bit like the saved one and its next ``fit`` continues exactly as the saved
model's would have (same shuffles, same dropout masks, same optimizer steps). :func:`save_weights`
writes only the weights (and the architecture, to check them against on load).

Everything is read from and written to the model's public interface (``get_config`` /
``from_config``, ``params``, ``optimizer.state_dict()``, ``get_rng_state`` / ``set_rng_state``);
:func:`load_model` is given the model class to rebuild, so this module imports no model.

The tensors of a model file are:

``params``
    The model's flat parameter buffer (every layer's kernel then bias, in layer order).
``optimizer/<slot>``
    Each optimizer state slot (e.g. ``optimizer/m`` and ``optimizer/v`` for Adam), as long as
    ``params``; present only for a compiled model whose optimizer has state.

and its ``config`` is a JSON document with the keys

``kind``
    ``"model"`` (from :func:`save_model`) or ``"weights"`` (from :func:`save_weights`).
``model``
    ``Sequential.get_config()``: layers, seed, dtype, input width.
``built``, ``param_shapes``
    Whether the model has weights, and the shape of each of its weight arrays.
``compile`` (``"model"`` files)
    ``null`` for a model never compiled, else ``{"loss", "optimizer", "metrics",
    "unsaved_metrics"}``: the serialised loss and optimizer, the names of the metrics given by
    name, and the names of the metrics given as Python callables, which cannot be saved (loading
    skips them with a warning).
``optimizer_state`` (``"model"`` files)
    ``null`` or ``{"iterations": int, "slots": [slot names saved as tensors]}``.
``rng`` (``"model"`` files)
    The NumPy ``bit_generator.state`` of the model's shuffling and initialisation generators.

The public functions are those of :mod:`mlp.io` (with examples there).
"""
from __future__ import annotations

import json
import math
import warnings
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from .. import metrics as metrics_module
from ..nn import losses as losses_module
from ..optim import optimizers as optimizers_module
from ..optim.base import MAX_ITERATIONS
from ..backends import get_backend
from ..nn.network import compute_layers, flat_param_shapes
from .format import describe as _describe, is_int as _is_int, read_file, write_file

_PARAMS = "params"
_SLOT_PREFIX = "optimizer/"
_KINDS = ("model", "weights")


# =================================================================== public API
def save_model(model, path) -> None:
    """Save a model's architecture, compile settings, weights and training state to one file.

    The file (layout in the module docstring) holds everything :func:`load_model` needs to
    rebuild the model so that it predicts identically and its next ``fit`` continues exactly as
    this model's would: weights, optimizer hyperparameters, slots and step count, the state of
    the shuffling generator (dropout masks follow from the seed and the step count).

    Parameters
    ----------
    model : Sequential
        Built or not, compiled or not.
    path : str or os.PathLike
        Destination; replaced atomically if it exists.

    Raises
    ------
    TypeError
        If ``model`` is not a ``Sequential``.
    ValueError
        If the loss or optimizer cannot be saved (a custom class, or a learning rate that is a
        plain function rather than a :class:`~mlp.schedules.LearningRateSchedule`). Nothing is
        written then.
    OSError
        If the file cannot be written; any previous file at ``path`` is left intact.

    Examples
    --------
    >>> import os, tempfile, mlp
    >>> model = mlp.Sequential([mlp.Dense(1, input_dim=2)], seed=0)
    >>> model.compile(optimizer="sgd", loss="mse")
    >>> save_model(model, os.path.join(tempfile.mkdtemp(), "model.mlp"))
    """
    config = _base_config(model, "model")
    tensors: List[Tuple[str, np.ndarray]] = []
    if model.built:
        tensors.append((_PARAMS, _host_copy(model, model.params)))
    config["compile"] = _compile_config(model)
    config["optimizer_state"] = None
    if model.optimizer is not None and model.compiled:
        state = model.optimizer.state_dict()
        slot_names = list(state["slots"])
        config["optimizer_state"] = {"iterations": int(state["iterations"]),
                                     "slots": slot_names}
        for name in slot_names:
            tensors.append((_SLOT_PREFIX + name, np.asarray(state["slots"][name])))
    config["rng"] = model.get_rng_state()
    write_file(path, config, tensors)


def load_model(path, model_class, backend: Optional[str] = None):
    """Load a model written by :func:`save_model` (or ``Sequential.save``).

    The model comes back built, with its weights, compiled with the saved loss, optimizer and
    metrics (when it was compiled), the optimizer's slots and step count, and the generator
    state: ``predict`` gives the same outputs bit for bit and ``fit`` continues exactly as the
    saved model would have, on the same backend.

    Parameters
    ----------
    path : str or os.PathLike
    model_class : type
        The class to rebuild (``mlp.Sequential``; :func:`mlp.io.load_model` passes it).
    backend : str, optional
        Backend of the new model (``"cpu"``, ``"reference"``, ...). Defaults to the active
        default, as for ``Sequential(backend=None)``; the backend is not stored in the file.

    Returns
    -------
    Sequential

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is not a valid model file: not a regular file (a FIFO, a device),
        truncated, corrupt (its SHA-256 does not match: see :mod:`mlp.saving.format`),
        hostile, from another format version, written by :func:`save_weights` (use
        ``model.load_weights``), or holding a configuration that does not rebuild. The message
        says which. Every size is checked against the config before a tensor is read.

    Warns
    -----
    UserWarning
        When metrics were given as Python callables: they are not saved, and the loaded model
        is compiled without them.

    Examples
    --------
    >>> import os, tempfile, mlp
    >>> from mlp.io import load_model, save_model
    >>> model = mlp.Sequential([mlp.Dense(2, activation="softmax", input_dim=3)], seed=1)
    >>> model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    >>> model.build()
    >>> path = os.path.join(tempfile.mkdtemp(), "model.mlp")
    >>> save_model(model, path)
    >>> load_model(path, backend="reference").count_params()
    8
    """
    get_backend(backend)  # a bad backend name is the caller's error, not the file's
    checked: Dict[str, Any] = {}

    def check_layout(config, layout, where) -> Dict[str, Any]:
        if config["kind"] != "model":
            raise ValueError(f"{_describe(where)}: the file holds only weights (written by "
                             f"save_weights); load them with model.load_weights(path) into a "
                             f"model of the same architecture")
        checked.update(_check_model_file(model_class, config, layout, backend, where))
        # the tensors are read straight into the new model's buffers
        new_model, buffers = checked["model"], {}
        if config["built"]:
            new_model.build(new_model.input_dim)
            buffers[_PARAMS] = new_model.params
        if checked["compile"] is not None:
            buffers.update(_compile(new_model, checked["compile"], checked["optimizer_state"]))
        return buffers

    config, tensors = read_file(path, _check_config, check_layout)
    model = checked["model"]
    if config["built"] and tensors[_PARAMS] is not model.params:
        model.params[...] = model.backend.asarray(tensors[_PARAMS])
    if checked["compile"] is not None:
        unsaved = checked["compile"]["unsaved_metrics"]
        if unsaved:
            warnings.warn(f"load_model: the metrics {unsaved} were Python callables, which are "
                          f"not saved; the model is compiled without them (compile it again to "
                          f"add them)", UserWarning, stacklevel=2)
        _restore_optimizer(model, checked["optimizer_state"], tensors, path)
    model.set_rng_state(checked["rng"])
    return model


def save_weights(model, path) -> None:
    """Save only a model's weights (with its architecture, to check them on load).

    Same safe single-file format as :func:`save_model` with ``kind = "weights"``: no compile
    settings, optimizer state or generator state.

    Parameters
    ----------
    model : Sequential
        A built model.
    path : str or os.PathLike
        Destination; replaced atomically if it exists.

    Raises
    ------
    RuntimeError
        If the model has no weights yet.
    OSError
        If the file cannot be written; any previous file at ``path`` is left intact.

    Examples
    --------
    >>> import os, tempfile, mlp
    >>> model = mlp.Sequential([mlp.Dense(1, input_dim=2)], seed=0)
    >>> model.build()
    >>> save_weights(model, os.path.join(tempfile.mkdtemp(), "weights.mlp"))
    """
    model.require_built("save_weights")
    config = _base_config(model, "weights")
    write_file(path, config, [(_PARAMS, _host_copy(model, model.params))])


def load_weights(model, path) -> None:
    """Load weights saved by :func:`save_weights` or :func:`save_model` into ``model``.

    Only the weights change: compile settings, optimizer state and generators are kept. A model
    not built yet is built first (at the saved input width if it does not declare one).

    Parameters
    ----------
    model : Sequential
        A model of the same architecture (same parameter shapes) as the saved one.
    path : str or os.PathLike

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is corrupt (as for :func:`load_model`: a file of kind ``"model"`` passes
        every check ``load_model`` makes, a weights file's config must rebuild and match its
        tensor), or its weights do not fit ``model``: the message gives the expected and the
        saved parameter count (or shapes, or dtype). ``model`` is left unchanged.

    Examples
    --------
    >>> import os, tempfile, mlp
    >>> from mlp.io import load_weights, save_weights
    >>> a = mlp.Sequential([mlp.Dense(1, input_dim=2)], seed=0); a.build()
    >>> b = mlp.Sequential([mlp.Dense(1, input_dim=2)], seed=1); b.build()
    >>> path = os.path.join(tempfile.mkdtemp(), "weights.mlp")
    >>> save_weights(a, path); load_weights(b, path)
    >>> bool((a.get_weights()[0] == b.get_weights()[0]).all())
    True
    """
    def check_layout(config, layout, where) -> None:
        _check_weights_fit(model, config, layout, where)

    config, tensors = read_file(path, _check_config, check_layout)
    if not model.built:
        model.build(_input_dim_for(model, config))
    model.params[...] = model.backend.asarray(tensors[_PARAMS])


# ====================================================================== writing
def _host_copy(model, array) -> np.ndarray:
    return np.array(model.backend.to_numpy(array), copy=True)


def _model_param_shapes(model) -> List[List[int]]:
    """The shape of every weight array, in layer order (as ``get_weights`` lists them)."""
    if not model.built:
        return []
    return flat_param_shapes(model.layers, model.input_dim)


def _base_config(model, kind: str) -> Dict[str, Any]:
    return {"kind": kind, "model": model.get_config(), "built": bool(model.built),
            "param_shapes": _model_param_shapes(model)}


def _compile_config(model) -> Optional[Dict[str, Any]]:
    """The compile settings as JSON, checked to load back; ``None`` if never compiled."""
    if not model.compiled:
        return None
    try:
        loss = losses_module.serialize(model.loss)
        losses_module.get(json.loads(json.dumps(loss)))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"save_model: loss: {type(model.loss).__name__} cannot be saved and "
                         f"loaded back ({exc}); use a built-in loss") from exc
    try:
        optimizer = optimizers_module.serialize(model.optimizer)
        optimizers_module.get(json.loads(json.dumps(optimizer)))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"save_model: optimizer: {type(model.optimizer).__name__} cannot be "
                         f"saved and loaded back ({exc})") from exc
    saved, unsaved = [], []
    for name, function in model.metrics.items():
        if metrics_module.METRICS.get(name) is function:
            saved.append(name)
        else:
            unsaved.append(name)
    return {"loss": loss, "optimizer": optimizer, "metrics": saved, "unsaved_metrics": unsaved}


# ================================================================ config checks
def _check_config(config: Any, path) -> None:
    where = _describe(path)
    if not isinstance(config, dict):
        raise ValueError(f"{where}: __metadata__['config'] is not a JSON object")
    for key in ("kind", "model", "built", "param_shapes"):
        if key not in config:
            raise ValueError(f"{where}: config: missing key {key!r}")
    if config["kind"] not in _KINDS:
        raise ValueError(f"{where}: config['kind']: expected one of {list(_KINDS)}, got "
                         f"{config['kind']!r:.100}")
    if not isinstance(config["model"], dict):
        raise ValueError(f"{where}: config['model'] is not a JSON object")
    if not isinstance(config["built"], bool):
        raise ValueError(f"{where}: config['built']: expected true or false")
    shapes = config["param_shapes"]
    if not isinstance(shapes, list) or not all(
            isinstance(s, list) and all(_is_int(d) and d >= 0 for d in s) for s in shapes):
        raise ValueError(f"{where}: config['param_shapes']: expected a list of shapes")


def _check_model_config_keys(config: Dict[str, Any], keys, path) -> None:
    for key in keys:
        if key not in config:
            raise ValueError(f"{_describe(path)}: config: missing key {key!r}")


def _rebuild(cls, model_config: Dict[str, Any], backend, path):
    """``Sequential.from_config`` with every failure turned into a ``ValueError``.

    ``backend`` was checked by the caller, so any failure here comes from the file.
    """
    try:
        return cls.from_config(model_config, backend=backend)
    except Exception as exc:  # unknown layer class, bad argument, missing key, ...
        raise ValueError(f"{_describe(path)}: config['model'] does not rebuild a model: "
                         f"{type(exc).__name__}: {exc}") from exc


def _architecture_shapes(layers, input_dim: Any, path) -> List[List[int]]:
    """The weight shapes of ``layers`` for inputs of width ``input_dim``, allocating nothing."""
    where = _describe(path)
    if not _is_int(input_dim) or input_dim < 1:
        raise ValueError(f"{where}: the input width must be a positive integer, got "
                         f"{input_dim!r:.100}")
    if not compute_layers(layers):
        raise ValueError(f"{where}: config['model'] has no layers")
    try:
        shapes = flat_param_shapes(layers, input_dim)
    except Exception as exc:
        raise ValueError(f"{where}: config['model'] does not rebuild a model: {exc}") from exc
    return shapes


def _check_model_file(model_class, config, layout, backend, path) -> Dict[str, Any]:
    """Check a model file's config and tensor layout before its tensors are read; return the
    rebuilt (unbuilt) model and the checked compile settings, optimizer state and generators."""
    _check_model_config_keys(config, ("compile", "optimizer_state", "rng"), path)
    model = _rebuild(model_class, config["model"], backend, path)
    if config["built"]:
        shapes = _check_params_entry(layout, model.layers, model.input_dim, model.dtype, path)
        if shapes != config["param_shapes"]:
            raise ValueError(f"{_describe(path)}: config['param_shapes'] "
                             f"{config['param_shapes']!r:.200} are not the weight shapes of "
                             f"config['model'] ({shapes!r:.200}); the file is corrupt")
    elif _PARAMS in layout:
        raise ValueError(f"{_describe(path)}: unexpected tensor 'params' for a model saved "
                         f"unbuilt")
    compile_config = _check_compile_config(config["compile"], path)
    optimizer_state = _check_optimizer_state(config["optimizer_state"], compile_config, config,
                                             layout, path)
    _check_no_extra_tensors(layout, [_PARAMS] + [_SLOT_PREFIX + s for s in
                                                 (optimizer_state or {}).get("slots", [])], path)
    return {"model": model, "compile": compile_config, "optimizer_state": optimizer_state,
            "rng": _check_rng(config["rng"], path)}


def _check_params_entry(layout, layers, input_dim, dtype, path) -> List[List[int]]:
    """The ``params`` tensor of ``layout`` against the architecture of ``layers`` (nothing
    allocated); returns the architecture's weight shapes."""
    where = _describe(path)
    if _PARAMS not in layout:
        raise ValueError(f"{where}: missing tensor 'params'")
    params_dtype, shape = layout[_PARAMS]
    if len(shape) != 1:
        raise ValueError(f"{where}: tensor 'params' must be 1-D, got shape {list(shape)}")
    if params_dtype != dtype:
        raise ValueError(f"{where}: tensor 'params' is {params_dtype.name} but the model is "
                         f"{np.dtype(dtype).name}")
    shapes = _architecture_shapes(layers, input_dim, path)
    expected = sum(math.prod(s) for s in shapes)
    if expected != shape[0]:
        raise ValueError(f"{where}: the architecture in the config has {expected} parameters "
                         f"but tensor 'params' holds {shape[0]}: expected {expected}, got "
                         f"{shape[0]}")
    return shapes


def _input_dim_for(model, config) -> Any:
    """The input width ``load_weights`` builds an unbuilt ``model`` at."""
    if model.input_dim is not None:
        return model.input_dim
    return config["model"].get("input_dim")


def _check_weights_fit(model, config, layout, path) -> None:
    """Check, before its tensors are read, that a file's weights are sound (its config
    rebuilds, its architecture matches its ``param_shapes`` and its ``params`` tensor) and fit
    ``model``; a file of kind ``"model"`` must pass every check of :func:`load_model` too."""
    where = _describe(path)
    if not config["built"] or _PARAMS not in layout:
        raise ValueError(f"{where}: the file holds no weights (the model was saved before it "
                         f"was built)")
    if config["kind"] == "model":
        saved = _check_model_file(type(model), config, layout, model.backend.name,
                                  path)["model"]
    else:
        _check_no_extra_tensors(layout, [_PARAMS], path)
        saved = _rebuild(type(model), config["model"], model.backend.name, path)
    saved_shapes = config["param_shapes"]
    params_dtype, params_shape = layout[_PARAMS]
    got = math.prod(params_shape)
    file_shapes = _check_params_entry(layout, saved.layers, saved.input_dim, params_dtype, path)
    if file_shapes != saved_shapes:
        raise ValueError(f"{where}: config['param_shapes'] {saved_shapes!r:.200} are not the "
                         f"weight shapes of config['model'] ({file_shapes!r:.200}); the file is "
                         f"corrupt")
    if saved.dtype != params_dtype:
        raise ValueError(f"{where}: tensor 'params' is {params_dtype.name} but config['model'] "
                         f"says {saved.dtype.name}; the file is corrupt")
    if model.built:
        model_shapes = _model_param_shapes(model)
    else:
        model_shapes = _architecture_shapes(model.layers, _input_dim_for(model, config), path)
    expected = sum(math.prod(shape) for shape in model_shapes)
    if len(params_shape) != 1 or got != expected:
        raise ValueError(
            f"{where}: the saved weights do not fit this model's architecture: expected "
            f"{expected} parameters with shapes {model_shapes}, got {got} parameters with "
            f"shapes {saved_shapes}")
    if saved_shapes != model_shapes:
        raise ValueError(
            f"{where}: the saved weights do not fit this model's architecture: expected "
            f"parameter shapes {model_shapes}, got {saved_shapes}")
    if params_dtype != model.dtype:
        raise ValueError(f"{where}: the saved weights are {params_dtype.name}, the model is "
                         f"{model.dtype.name}; create the model with "
                         f"dtype={params_dtype.name!r}")


def _check_compile_config(compile_config, path) -> Optional[Dict[str, Any]]:
    where = _describe(path)
    if compile_config is None:
        return None
    if not isinstance(compile_config, dict) or not {"loss", "optimizer", "metrics"} <= set(
            compile_config):
        raise ValueError(f"{where}: config['compile']: expected null or an object with 'loss', "
                         f"'optimizer' and 'metrics'")
    metrics = compile_config["metrics"]
    unsaved = compile_config.get("unsaved_metrics", [])
    for key, names in (("metrics", metrics), ("unsaved_metrics", unsaved)):
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ValueError(f"{where}: config['compile'][{key!r}]: expected a list of names")
    for name in metrics:
        if name.lower() not in metrics_module.METRICS:
            raise ValueError(f"{where}: config['compile']['metrics']: unknown metric "
                             f"{name!r:.100}; known are {sorted(metrics_module.METRICS)}")
    try:
        loss = losses_module.get(compile_config["loss"])
    except Exception as exc:
        raise ValueError(f"{where}: config['compile']['loss'] does not rebuild a loss: {exc}"
                         ) from exc
    if not isinstance(compile_config["optimizer"], dict):
        raise ValueError(f"{where}: config['compile']['optimizer'] is not a JSON object")
    try:
        optimizer = optimizers_module.get(compile_config["optimizer"])
    except Exception as exc:
        raise ValueError(f"{where}: config['compile']['optimizer'] does not rebuild an "
                         f"optimizer: {exc}") from exc
    return {"loss": loss, "optimizer": optimizer, "metrics": metrics, "unsaved_metrics": unsaved}


def _check_optimizer_state(state, compile_config, config, layout, path):
    where = _describe(path)
    if state is None:
        return None
    if compile_config is None:
        raise ValueError(f"{where}: config['optimizer_state'] given for a model never compiled")
    if (not isinstance(state, dict) or set(state) != {"iterations", "slots"}
            or not _is_int(state["iterations"])
            or not 0 <= state["iterations"] <= MAX_ITERATIONS
            or not isinstance(state["slots"], list)
            or not all(isinstance(s, str) for s in state["slots"])):
        raise ValueError(f"{where}: config['optimizer_state']: expected {{'iterations': an "
                         f"integer in [0, 2**53], 'slots': [names]}}, got {state!r:.200}")
    optimizer = compile_config["optimizer"]
    slots = state["slots"]
    if slots:
        if sorted(slots) != sorted(optimizer.slot_names):
            raise ValueError(f"{where}: config['optimizer_state']['slots']: expected the slots "
                             f"{list(optimizer.slot_names)} of {type(optimizer).__name__}, got "
                             f"{slots}")
        if not config["built"]:
            raise ValueError(f"{where}: optimizer slots saved for a model without weights")
        params_dtype, params_shape = layout[_PARAMS]
        for name in slots:
            key = _SLOT_PREFIX + name
            if key not in layout:
                raise ValueError(f"{where}: missing tensor {key!r}")
            slot_dtype, slot_shape = layout[key]
            if slot_shape != params_shape or slot_dtype != params_dtype:
                raise ValueError(f"{where}: tensor {key!r}: expected {params_dtype.name} with "
                                 f"shape {list(params_shape)} like 'params', got "
                                 f"{slot_dtype.name} with shape {list(slot_shape)}")
    return state


def _check_no_extra_tensors(tensors, allowed, path) -> None:
    extra = sorted(set(tensors) - set(allowed))
    if extra:
        raise ValueError(f"{_describe(path)}: unexpected tensors {extra[:10]}")


def _check_rng(rng, path) -> Dict[str, Any]:
    where = _describe(path)
    if not isinstance(rng, dict) or not {"shuffle", "init"} <= set(rng):
        raise ValueError(f"{where}: config['rng']: expected the 'shuffle' and 'init' generator "
                         f"states")
    for key in ("shuffle", "init"):
        state = rng[key]
        if not isinstance(state, dict) or state.get("bit_generator") != "PCG64":
            raise ValueError(f"{where}: config['rng'][{key!r}]: expected a PCG64 state")
        try:
            np.random.PCG64().state = state      # check it on a scratch generator
        except (TypeError, ValueError, KeyError, OverflowError) as exc:
            raise ValueError(f"{where}: config['rng'][{key!r}]: invalid generator state "
                             f"({exc})") from exc
    return rng


def _compile(model, compile_config, optimizer_state) -> Dict[str, Any]:
    """Compile ``model`` as saved (building its optimizer's slots when the file holds them);
    return the slot buffers, by tensor name, that the file's slots may be read into."""
    model.compile(optimizer=compile_config["optimizer"], loss=compile_config["loss"],
                  metrics=list(compile_config["metrics"]))
    if optimizer_state is None or not optimizer_state["slots"]:
        return {}
    optimizer = model.optimizer
    optimizer.build(model.params.size, model.dtype, model.backend)
    return {_SLOT_PREFIX + name: optimizer.slots[name] for name in optimizer_state["slots"]}


def _restore_optimizer(model, optimizer_state, tensors, path) -> None:
    """Restore the optimizer's slots (read into its buffers, or copied) and step count."""
    if optimizer_state is None:
        return
    slots = {name: tensors[_SLOT_PREFIX + name] for name in optimizer_state["slots"]}
    try:
        model.optimizer.load_state_dict({"iterations": optimizer_state["iterations"],
                                         "slots": slots}, model.backend)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{_describe(path)}: the optimizer state does not fit the model: "
                         f"{exc}") from exc


__all__ = ["load_model", "load_weights", "save_model", "save_weights"]
