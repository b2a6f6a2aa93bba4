"""Saving and loading models in one safe file: a JSON header and raw tensors, no pickle.

:func:`save_model` writes the architecture, the compile settings (loss, optimizer, metric
names), the weights, the optimizer state and the random generator state, so that a loaded model
predicts bit for bit like the saved one and its next ``fit`` continues exactly as the saved
model's would have (same shuffles, same dropout masks, same optimizer steps). :func:`save_weights`
writes only the weights (and the architecture, to check them against on load).

File layout
-----------
The file follows the `safetensors <https://github.com/huggingface/safetensors>`_ layout, so any
safetensors reader can open it; it is written by the small code below (no dependency)::

    bytes 0..7       N, the header length: unsigned 64-bit little-endian integer
    bytes 8..8+N     the header: UTF-8 JSON, padded with spaces so the data starts at a
                     multiple of 8 bytes
    bytes 8+N..end   the tensor data: raw little-endian values, C order, back to back

The header maps each tensor name to ``{"dtype", "shape", "data_offsets"}``: ``dtype`` is one of
``"F32"``, ``"F64"``, ``"I64"``, ``"U8"``; ``shape`` a list of non-negative integers;
``data_offsets`` ``[begin, end]`` relative to the start of the data, with
``end - begin == itemsize * prod(shape)``. The tensors tile the data exactly: no overlap, no gap,
nothing after the last one. The tensors are:

``params``
    The model's flat parameter buffer (every layer's kernel then bias, in layer order).
``optimizer/<slot>``
    Each optimizer state slot (e.g. ``optimizer/m`` and ``optimizer/v`` for Adam), as long as
    ``params``; present only for a compiled model whose optimizer has state.

The header's ``"__metadata__"`` entry maps strings to strings, as safetensors requires::

    {"format": "mlp", "format_version": "1", "mlp_version": "0.1.0", "config": "<JSON>"}

and ``config`` is a JSON document with the keys

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

Loading never unpickles or evaluates anything: the header is parsed as JSON and each tensor is
copied from its checked byte range with :func:`numpy.frombuffer`. Every malformed, truncated or
hostile file gives a ``ValueError`` saying what is wrong.

Writing goes to a temporary file in the target's folder, which is flushed, synced to disk and
then renamed onto the target (:func:`os.replace`, atomic): a crash or an error mid-save leaves any
previous file as it was and no temporary file behind.

Examples
--------
>>> import os, tempfile
>>> import numpy as np, mlp
>>> from mlp.io import load_model, save_model
>>> model = mlp.Sequential([mlp.Dense(4, activation="relu", input_dim=3), mlp.Dense(1)], seed=0)
>>> model.compile(optimizer="adam", loss="mse")
>>> path = os.path.join(tempfile.mkdtemp(), "model.mlp")
>>> save_model(model, path)
>>> loaded = load_model(path)
>>> x = np.ones((2, 3), dtype="float32")
>>> bool(np.array_equal(loaded.predict(x), model.predict(x)))
True
"""
from __future__ import annotations

import json
import math
import os
import sys
import tempfile
import warnings
from typing import Any, BinaryIO, Callable, Dict, List, Mapping, Optional, Tuple

import numpy as np

from . import losses as losses_module
from . import metrics as metrics_module
from . import optimizers as optimizers_module
from ._config import __version__

FORMAT = "mlp"
"""The value of ``__metadata__["format"]`` in every file this module writes."""

FORMAT_VERSION = "1"
"""The layout version written; loading refuses other versions."""

MAX_HEADER_BYTES = 100 * 1024 * 1024
"""Largest header accepted on load (as safetensors: 100 MB)."""

_DTYPES: Dict[str, np.dtype] = {
    "F32": np.dtype("<f4"),
    "F64": np.dtype("<f8"),
    "I64": np.dtype("<i8"),
    "U8": np.dtype("u1"),
}
_DTYPE_CODES = {np.dtype(np.float32): "F32", np.dtype(np.float64): "F64",
                np.dtype(np.int64): "I64", np.dtype(np.uint8): "U8"}
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
    _check_model(model, "save_model")
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
    config["rng"] = {"shuffle": model._shuffle_rng.bit_generator.state,
                     "init": model._init_rng.bit_generator.state}
    _write_file(path, config, tensors)


def load_model(path, backend: Optional[str] = None):
    """Load a model written by :func:`save_model` (or ``Sequential.save``).

    The model comes back built, with its weights, compiled with the saved loss, optimizer and
    metrics (when it was compiled), the optimizer's slots and step count, and the generator
    state: ``predict`` gives the same outputs bit for bit and ``fit`` continues exactly as the
    saved model would have, on the same backend.

    Parameters
    ----------
    path : str or os.PathLike
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
        If the file is not a valid model file: truncated, corrupt, hostile, from another
        format version, written by :func:`save_weights` (use ``model.load_weights``), or holding
        a configuration that does not rebuild. The message says which.

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
    from .backends import get_backend
    from .model import Sequential

    get_backend(backend)  # a bad backend name is the caller's error, not the file's
    config, tensors = _read_file(path)
    if config["kind"] != "model":
        raise ValueError(f"{_describe(path)}: the file holds only weights (written by "
                         f"save_weights); load them with model.load_weights(path) into a model "
                         f"of the same architecture")
    _check_model_config_keys(config, ("compile", "optimizer_state", "rng"), path)
    model = _rebuild(Sequential, config["model"], backend, path)
    if config["built"]:
        params = _take_params(config, tensors, model, path)
    elif _PARAMS in tensors:
        raise ValueError(f"{_describe(path)}: unexpected tensor 'params' for a model saved "
                         f"unbuilt")
    compile_config = _check_compile_config(config["compile"], path)
    optimizer_state = _check_optimizer_state(config["optimizer_state"], compile_config, config,
                                             tensors, path)
    _check_no_extra_tensors(tensors, [_PARAMS] + [_SLOT_PREFIX + s for s in
                                                  (optimizer_state or {}).get("slots", [])], path)
    rng = _check_rng(config["rng"], path)

    if config["built"]:
        model.build(model.input_dim)
        model.params[...] = model.backend.asarray(params)
    if compile_config is not None:
        _compile(model, compile_config, optimizer_state, tensors, path)
    model._shuffle_rng.bit_generator.state = rng["shuffle"]
    model._init_rng.bit_generator.state = rng["init"]
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
    _check_model(model, "save_weights")
    model._require_built("save_weights")
    config = _base_config(model, "weights")
    _write_file(path, config, [(_PARAMS, _host_copy(model, model.params))])


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
        If the file is corrupt, or its weights do not fit ``model``: the message gives the
        expected and the saved parameter count (or shapes, or dtype).

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
    _check_model(model, "load_weights")
    config, tensors = _read_file(path)
    if not config["built"] or _PARAMS not in tensors:
        raise ValueError(f"{_describe(path)}: the file holds no weights (the model was saved "
                         f"before it was built)")
    params = tensors[_PARAMS]
    saved_shapes = config["param_shapes"]
    where = _describe(path)
    if model.built:
        model_shapes = _model_param_shapes(model)
    else:
        input_dim = model.input_dim
        if input_dim is None:
            input_dim = config["model"].get("input_dim")
        model_shapes = _architecture_shapes(model.layers, input_dim, path)
    expected = sum(math.prod(shape) for shape in model_shapes)
    got = int(params.size)
    if params.ndim != 1 or got != expected:
        raise ValueError(
            f"{where}: the saved weights do not fit this model's architecture: expected "
            f"{expected} parameters with shapes {model_shapes}, got {got} parameters with "
            f"shapes {saved_shapes}")
    if saved_shapes != model_shapes:
        raise ValueError(
            f"{where}: the saved weights do not fit this model's architecture: expected "
            f"parameter shapes {model_shapes}, got {saved_shapes}")
    if params.dtype != model.dtype:
        raise ValueError(f"{where}: the saved weights are {params.dtype.name}, the model is "
                         f"{model.dtype.name}; create the model with "
                         f"dtype={params.dtype.name!r}")
    if not model.built:
        model.build(input_dim)
    model.params[...] = model.backend.asarray(params)


# ====================================================================== writing
def _check_model(model, function: str) -> None:
    from .model import Sequential

    if not isinstance(model, Sequential):
        raise TypeError(f"{function}: model: expected a mlp.Sequential, got "
                        f"{type(model).__name__}")


def _host_copy(model, array) -> np.ndarray:
    return np.array(model.backend.to_numpy(array), copy=True)


def _model_param_shapes(model) -> List[List[int]]:
    """The shape of every weight array, in layer order (as ``get_weights`` lists them)."""
    from .engine import compute_layers

    if not model.built:
        return []
    shapes, width = [], model.input_dim
    for layer in compute_layers(model.layers):
        shapes.extend([int(d) for d in shape] for shape in layer.param_shapes(width))
        width = layer.output_dim(width)
    return shapes


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


def _encode_header(config: Dict[str, Any], tensors: List[Tuple[str, np.ndarray]]
                   ) -> Tuple[bytes, List[np.ndarray]]:
    """The 8-byte length and the padded JSON header, and the arrays to write after it."""
    try:
        config_text = json.dumps(config, separators=(",", ":"), allow_nan=False)
    except ValueError as exc:
        raise ValueError(f"save: the configuration holds a NaN or infinite number ({exc})"
                         ) from exc
    header: Dict[str, Any] = {"__metadata__": {"format": FORMAT,
                                               "format_version": FORMAT_VERSION,
                                               "mlp_version": str(__version__),
                                               "config": config_text}}
    arrays, offset = [], 0
    for name, array in tensors:
        code = _DTYPE_CODES.get(np.dtype(array.dtype).newbyteorder("="))
        if code is None:
            raise TypeError(f"save: tensor {name!r} has unsupported dtype {array.dtype}")
        array = np.ascontiguousarray(array, dtype=_DTYPES[code])
        header[name] = {"dtype": code, "shape": [int(d) for d in array.shape],
                        "data_offsets": [offset, offset + array.nbytes]}
        offset += array.nbytes
        arrays.append(array)
    text = json.dumps(header, separators=(",", ":"), allow_nan=False).encode("utf-8")
    text += b" " * (-(8 + len(text)) % 8)
    return len(text).to_bytes(8, "little") + text, arrays


def _write_tensor(stream, array: np.ndarray) -> None:
    """Write one C-contiguous little-endian array's bytes."""
    if array.size:
        stream.write(memoryview(array.reshape(-1)).cast("B"))


def _write_file(path, config: Dict[str, Any], tensors: List[Tuple[str, np.ndarray]]) -> None:
    """Write header and tensors to a temporary file in the same folder, then rename it."""
    header, arrays = _encode_header(config, tensors)

    def write(handle) -> None:
        handle.write(header)
        for array in arrays:
            _write_tensor(handle, array)

    write_atomically(path, write)


def write_atomically(path, write: Callable[[BinaryIO], None]) -> None:
    """Create or replace the file ``path`` with what ``write(binary_handle)`` writes, so that
    a crash leaves either the old file or the new one, never a part: the bytes go to a
    temporary file in the same folder, are synced, get the replaced file's mode (or the
    default for a new file), and the temporary file is renamed over ``path``."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    mode = _file_mode(path)
    handle = tempfile.NamedTemporaryFile(mode="wb", delete=False, dir=directory,
                                         prefix="." + os.path.basename(path) + ".",
                                         suffix=".tmp")
    temporary = handle.name
    try:
        with handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise
    _sync_directory(directory)


def _file_mode(path: str) -> int:
    """The mode of the file being replaced, or the default for a new file (0o666 & ~umask)."""
    try:
        return os.stat(path).st_mode & 0o7777
    except OSError:
        pass
    umask = None
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("Umask:"):
                    umask = int(line.split()[1], 8)
                    break
    except (OSError, ValueError, IndexError):
        umask = None
    if umask is None:
        umask = 0o022
    return 0o666 & ~umask


def _sync_directory(directory: str) -> None:
    """Make the rename durable (POSIX); a no-op where folders cannot be opened."""
    if sys.platform.startswith("win"):
        return
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# ====================================================================== reading
def _describe(path) -> str:
    return f"{os.fspath(path)!s}"


def _no_duplicates(pairs):
    result = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _parse_json(data: bytes, what: str, path) -> Any:
    try:
        text = data.decode("utf-8") if isinstance(data, (bytes, bytearray)) else data
    except UnicodeDecodeError as exc:
        raise ValueError(f"{_describe(path)}: {what} is not valid UTF-8 ({exc}); not a mlp "
                         f"model file") from exc
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates)
    except (ValueError, RecursionError) as exc:
        raise ValueError(f"{_describe(path)}: {what} is not valid JSON ({exc}); not a mlp model "
                         f"file") from exc


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _read_file(path) -> Tuple[Dict[str, Any], Dict[str, np.ndarray]]:
    """Read and check a file; return its config and its tensors (NumPy copies)."""
    where = _describe(path)
    with open(path, "rb") as stream:
        size = os.fstat(stream.fileno()).st_size
        prefix = stream.read(8)
        if len(prefix) < 8:
            raise ValueError(f"{where}: file too short ({len(prefix)} bytes) to be a mlp model "
                             f"file: it must start with an 8-byte header length")
        header_length = int.from_bytes(prefix, "little")
        if header_length > MAX_HEADER_BYTES:
            raise ValueError(f"{where}: header length {header_length} is absurd (more than "
                             f"{MAX_HEADER_BYTES} bytes); the file is corrupt or not a mlp "
                             f"model file")
        if header_length > size - 8:
            raise ValueError(f"{where}: header length {header_length} is larger than the rest "
                             f"of the file ({size - 8} bytes); the file is truncated or corrupt")
        header_bytes = stream.read(header_length)
        if len(header_bytes) != header_length:
            raise ValueError(f"{where}: file truncated inside the header")
        data = stream.read()
    header = _parse_json(header_bytes, "the header", path)
    if not isinstance(header, dict):
        raise ValueError(f"{where}: the header is not a JSON object; not a mlp model file")
    metadata = header.pop("__metadata__", None)
    if not isinstance(metadata, dict) or "format" not in metadata:
        raise ValueError(f"{where}: missing format marker (__metadata__['format']); not a mlp "
                         f"model file")
    if metadata["format"] != FORMAT:
        raise ValueError(f"{where}: unknown format marker {metadata['format']!r}; expected "
                         f"{FORMAT!r}")
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        raise ValueError(f"{where}: __metadata__ must map strings to strings")
    if metadata.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{where}: unsupported format version "
                         f"{metadata.get('format_version')!r}; this mlp reads version "
                         f"{FORMAT_VERSION!r}")
    if "config" not in metadata:
        raise ValueError(f"{where}: missing __metadata__['config']")
    config = _parse_json(metadata["config"], "__metadata__['config']", path)
    _check_config(config, path)
    tensors = _read_tensors(header, data, path)
    return config, tensors


def _read_tensors(header: Dict[str, Any], data: bytes, path) -> Dict[str, np.ndarray]:
    """Check every tensor entry and the tiling of the data; return NumPy copies."""
    where = _describe(path)
    entries = []
    for name, entry in header.items():
        label = f"{where}: tensor {name!r}"
        if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
            raise ValueError(f"{label}: expected an object with exactly the keys 'dtype', "
                             f"'shape' and 'data_offsets', got {entry!r:.200}")
        code = entry["dtype"]
        if not isinstance(code, str) or code not in _DTYPES:
            raise ValueError(f"{label}: unknown dtype {code!r:.100}; expected one of "
                             f"{sorted(_DTYPES)}")
        shape = entry["shape"]
        if not isinstance(shape, list) or not all(_is_int(d) and d >= 0 for d in shape):
            raise ValueError(f"{label}: shape must be a list of non-negative integers, got "
                             f"{shape!r:.200}")
        offsets = entry["data_offsets"]
        if (not isinstance(offsets, list) or len(offsets) != 2
                or not all(_is_int(o) and o >= 0 for o in offsets) or offsets[0] > offsets[1]):
            raise ValueError(f"{label}: data_offsets must be [begin, end] with 0 <= begin <= "
                             f"end, got {offsets!r:.200}")
        begin, end = offsets
        if end > len(data):
            raise ValueError(f"{label}: data_offsets {offsets} out of range: the data holds "
                             f"{len(data)} bytes (file truncated or corrupt)")
        dtype = _DTYPES[code]
        count = math.prod(shape)
        if end - begin != count * dtype.itemsize:
            raise ValueError(f"{label}: data_offsets {offsets} span {end - begin} bytes but "
                             f"{code} with shape {shape} needs {count * dtype.itemsize}")
        entries.append((begin, end, name, dtype, shape, count))
    expected = 0
    for begin, end, name, _, _, _ in sorted(entries, key=lambda e: (e[0], e[1])):
        if begin < expected:
            raise ValueError(f"{where}: tensor {name!r} overlaps the previous tensor (bytes "
                             f"{begin}..{end})")
        if begin > expected:
            raise ValueError(f"{where}: unused bytes {expected}..{begin} before tensor "
                             f"{name!r}; the file is corrupt")
        expected = end
    if expected != len(data):
        raise ValueError(f"{where}: {len(data) - expected} trailing bytes after the last "
                         f"tensor; the file is corrupt")
    native = {}
    for begin, _, name, dtype, shape, count in entries:
        try:
            if count:
                array = np.frombuffer(data, dtype=dtype, count=count, offset=begin)
                array = array.astype(dtype.newbyteorder("="), copy=True).reshape(shape)
            else:
                array = np.empty(shape, dtype=dtype.newbyteorder("="))
        except (ValueError, OverflowError, MemoryError) as exc:
            raise ValueError(f"{where}: tensor {name!r}: shape {shape!r:.200} cannot be "
                             f"read ({exc})") from exc
        native[name] = array
    return native


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
    from .engine import compute_layers

    where = _describe(path)
    if not _is_int(input_dim) or input_dim < 1:
        raise ValueError(f"{where}: the input width must be a positive integer, got "
                         f"{input_dim!r:.100}")
    if not compute_layers(layers):
        raise ValueError(f"{where}: config['model'] has no layers")
    try:
        shapes, width = [], input_dim
        for layer in compute_layers(layers):
            shapes.extend([int(d) for d in shape] for shape in layer.param_shapes(width))
            width = layer.output_dim(width)
    except Exception as exc:
        raise ValueError(f"{where}: config['model'] does not rebuild a model: {exc}") from exc
    return shapes


def _take_params(config, tensors, model, path) -> np.ndarray:
    """The ``params`` tensor, checked against the architecture before anything is allocated."""
    where = _describe(path)
    if _PARAMS not in tensors:
        raise ValueError(f"{where}: missing tensor 'params'")
    params = tensors[_PARAMS]
    if params.ndim != 1:
        raise ValueError(f"{where}: tensor 'params' must be 1-D, got shape {list(params.shape)}")
    if params.dtype != model.dtype:
        raise ValueError(f"{where}: tensor 'params' is {params.dtype.name} but the model is "
                         f"{model.dtype.name}")
    shapes = _architecture_shapes(model.layers, model.input_dim, path)
    expected = sum(math.prod(shape) for shape in shapes)
    if expected != params.size:
        raise ValueError(f"{where}: the architecture in the config has {expected} parameters "
                         f"but tensor 'params' holds {params.size}: expected {expected}, got "
                         f"{params.size}")
    return params


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


def _check_optimizer_state(state, compile_config, config, tensors, path):
    where = _describe(path)
    if state is None:
        return None
    if compile_config is None:
        raise ValueError(f"{where}: config['optimizer_state'] given for a model never compiled")
    if (not isinstance(state, dict) or set(state) != {"iterations", "slots"}
            or not _is_int(state["iterations"]) or state["iterations"] < 0
            or not isinstance(state["slots"], list)
            or not all(isinstance(s, str) for s in state["slots"])):
        raise ValueError(f"{where}: config['optimizer_state']: expected {{'iterations': int >= "
                         f"0, 'slots': [names]}}")
    optimizer = compile_config["optimizer"]
    slots = state["slots"]
    if slots:
        if sorted(slots) != sorted(optimizer.slot_names):
            raise ValueError(f"{where}: config['optimizer_state']['slots']: expected the slots "
                             f"{list(optimizer.slot_names)} of {type(optimizer).__name__}, got "
                             f"{slots}")
        if not config["built"]:
            raise ValueError(f"{where}: optimizer slots saved for a model without weights")
        params = tensors.get(_PARAMS)
        for name in slots:
            key = _SLOT_PREFIX + name
            if key not in tensors:
                raise ValueError(f"{where}: missing tensor {key!r}")
            slot = tensors[key]
            if slot.shape != params.shape or slot.dtype != params.dtype:
                raise ValueError(f"{where}: tensor {key!r}: expected {params.dtype.name} with "
                                 f"shape {list(params.shape)} like 'params', got "
                                 f"{slot.dtype.name} with shape {list(slot.shape)}")
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


def _compile(model, compile_config, optimizer_state, tensors, path) -> None:
    """Compile ``model`` as saved and restore the optimizer's slots and step count."""
    unsaved = compile_config["unsaved_metrics"]
    if unsaved:
        warnings.warn(f"load_model: the metrics {unsaved} were Python callables, which are not "
                      f"saved; the model is compiled without them (compile it again to add "
                      f"them)", UserWarning, stacklevel=3)
    model.compile(optimizer=compile_config["optimizer"], loss=compile_config["loss"],
                  metrics=list(compile_config["metrics"]))
    if optimizer_state is None:
        return
    optimizer = model.optimizer
    slots = {name: tensors[_SLOT_PREFIX + name] for name in optimizer_state["slots"]}
    try:
        if slots:
            optimizer.build(model.params.size, model.dtype, model.backend)
        optimizer.load_state_dict({"iterations": optimizer_state["iterations"], "slots": slots},
                                  model.backend)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{_describe(path)}: the optimizer state does not fit the model: "
                         f"{exc}") from exc


__all__ = ["FORMAT", "FORMAT_VERSION", "load_model", "load_weights", "save_model",
           "save_weights"]
