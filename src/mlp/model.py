"""``Sequential``: a stack of layers and their weights.

Training (``compile`` / ``fit`` / ``evaluate`` / ``predict``) comes from
:class:`~mlp.training.trainer.Trainer`, which ``Sequential`` inherits.

Examples
--------
>>> import numpy as np, mlp
>>> X = np.random.default_rng(0).normal(size=(200, 4)).astype("float32")
>>> y = (X[:, 0] + X[:, 1] > 0).astype("float32")
>>> model = mlp.Sequential([mlp.Dense(8, activation="relu", input_dim=4),
...                         mlp.Dense(1, activation="sigmoid")], seed=0)
>>> model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
>>> history = model.fit(X, y, epochs=5, batch_size=16, verbose=0)
>>> model.predict(X[:2]).shape
(2, 1)
"""
from __future__ import annotations

import copy
import math
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np

from .backends import Backend, get_backend
from .distributed.process_group import writes_files
from .nn.activations import is_saveable
from .nn.layers import Input, Layer, deserialize, serialize
from .nn.network import compute_layers, param_shapes, walk
from .saving.model import load_weights, save_model, save_weights
from .training.trainer import Trainer
from .validation import check_bool, check_int, check_positive_int, check_seed

FLOAT_DTYPES = ("float32", "float64")

_SEEDS: Optional[np.random.Generator] = None
"""Where models built without a seed draw theirs after :func:`set_random_seed`."""


def set_random_seed(seed: int) -> None:
    """Make everything random reproducible from one seed, as ``keras.utils.set_random_seed``.

    Seeds Python's ``random``, NumPy's global generator, and the seeds of the models created
    afterwards without ``seed=`` (their weights, shuffling and dropout): the same sequence of
    models after the same call gets the same seeds.

    Parameters
    ----------
    seed : int
        A non-negative integer.
    """
    import random

    global _SEEDS
    seed = check_int("seed", seed, 0)
    random.seed(seed)
    np.random.seed(seed % 2 ** 32)
    _SEEDS = np.random.default_rng(seed)


def clone_model(model: "Sequential") -> "Sequential":
    """A new model with the architecture of ``model`` and new weights, as
    ``keras.models.clone_model``: the same layers (new objects, ``trainable`` flags kept),
    seed, dtype and backend; not compiled. Its weights are initialised from the shared seed,
    so they are the weights ``model`` started from, not its trained ones.

    Raises
    ------
    TypeError
        If ``model`` is not a :class:`Sequential`.
    """
    if not isinstance(model, Sequential):
        raise TypeError(f"model: expected a mlp.Sequential, got {type(model).__name__}")
    clone = Sequential.from_config(model.get_config(), backend=model.backend.name)
    clone._trainable = model.trainable
    return clone


class Sequential(Trainer):
    def __init__(self, layers: Optional[Sequence[Layer]] = None, seed: Optional[int] = None,
                 dtype: str = "float32", backend: Optional[str] = None,
                 name: str = "sequential"):
        try:
            known = np.dtype(dtype).name in FLOAT_DTYPES
        except (TypeError, ValueError):  # not a dtype at all (e.g. 3)
            known = False
        if not known:
            raise ValueError(f"dtype: expected one of {list(FLOAT_DTYPES)}, got {dtype!r:.80}")
        if seed is None:
            seed = (int(np.random.SeedSequence().entropy % (2 ** 63)) if _SEEDS is None
                    else int(_SEEDS.integers(2 ** 63)))
        self.seed = check_seed("seed", seed)
        self.dtype = np.dtype(dtype)
        self.name = name
        self._backend: Backend = get_backend(backend)
        self.layers: List[Layer] = []
        self._names: Dict[str, Layer] = {}  # name -> layer of self.layers: add() is O(1)
        self._trainable = True
        self.input_dim: Optional[int] = None
        self.params = None
        self._init_training()
        init_seed, shuffle_seed = np.random.SeedSequence(self.seed).spawn(2)
        self._init_rng = np.random.Generator(np.random.PCG64(init_seed))
        self._shuffle_rng = np.random.Generator(np.random.PCG64(shuffle_seed))
        for layer in layers or []:
            self.add(layer)

    # ---------------------------------------------------------------- structure
    @property
    def backend(self) -> Backend:
        """The backend this model computes on."""
        return self._backend

    def add(self, layer: Layer) -> None:
        """Append a layer.

        On a built model the new layer gets fresh weights and the others keep theirs; the
        compile settings are dropped (compile again), as the parameters change.

        Raises
        ------
        TypeError
            If ``layer`` is not a ``mlp`` layer.
        ValueError
            If the layer belongs to another built model, or an ``Input`` comes after a layer.
        """
        if not isinstance(layer, Layer):
            raise TypeError(f"layer: expected a mlp layer (Dense, Dropout, ...), got "
                            f"{type(layer).__name__}")
        if layer.built:
            raise ValueError(f"layer: {layer.name!r} already belongs to a built model; create a "
                             f"new layer (layers hold their model's weights)")
        names = self._layer_names()
        if names.get(layer.name) is layer:
            raise ValueError(f"layer: {layer.name!r} is already in this model")
        if layer.name in names:
            raise ValueError(f"layer: the name {layer.name!r} is already used in this model; "
                             f"layer names must be unique")
        if isinstance(layer, Input):
            if self.layers:
                raise ValueError("layer: Input must be the first layer")
            self.input_dim = layer.shape[0]
        elif layer.declared_input_dim is not None:
            if compute_layers(self.layers):
                raise ValueError(f"input_dim: only the first layer may declare it, got it on "
                                 f"{layer.name!r}")
            self.input_dim = layer.declared_input_dim
        if self.built:  # as in Keras: the new layer gets weights, the others keep theirs
            self._rebuild(lambda: self.layers.append(layer))
        else:
            self.layers.append(layer)
        names[layer.name] = layer

    def _rebuild(self, change: Callable[[], None]) -> None:
        """Apply ``change`` to the layer list of a built model, then build it again with the
        weights of the layers that remain. The compile settings are dropped: the optimizer
        holds state for the old parameters."""
        kept = [(layer, layer.get_weights()) for layer in compute_layers(self.layers)]
        change()
        for layer, _ in kept:
            layer._weights, layer.input_dim = [], None
        self.params = None
        if compute_layers(self.layers):
            self.build(self.input_dim)
            for layer, weights in kept:
                if any(layer is other for other in self.layers):
                    layer.set_weights(weights)
        self._init_training()

    @property
    def trainable(self) -> bool:
        """Whether training updates the weights. Setting it sets every layer's ``trainable``
        (as in Keras); while it is ``False`` no weight is trained, whatever the layers say."""
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        value = check_bool("trainable", value)
        for layer in self.layers:
            layer.trainable = value
        self._trainable = value

    def _layer_is_trained(self, layer: Layer) -> bool:
        return self._trainable and layer.trainable

    def _layer_names(self) -> Dict[str, Layer]:
        """``{name: layer}`` of ``self.layers``, rebuilt when the list was changed directly."""
        names = self.__dict__.setdefault("_names", {})
        if len(names) != len(self.layers) or (
                self.layers and names.get(self.layers[-1].name) is not self.layers[-1]):
            names.clear()
            names.update((existing.name, existing) for existing in self.layers)
        return names

    @property
    def built(self) -> bool:
        """Whether the weights exist (after :meth:`build`, or the first ``fit`` / ``predict``)."""
        return self.params is not None

    def build(self, input_dim: Optional[int] = None) -> None:
        """Create the weights for inputs of width ``input_dim`` (or the declared input width)."""
        if self.built:
            return
        input_dim = input_dim if input_dim is not None else self.input_dim
        if input_dim is None:
            raise ValueError("input_dim: the model does not know its input width; give Dense("
                             "..., input_dim=n) or mlp.Input((n,)) or call fit / build first")
        input_dim = check_positive_int("input_dim", input_dim)
        if not compute_layers(self.layers):
            raise ValueError("layers: the model has no layers; add at least one Dense layer")
        for layer, width, out in walk(self.layers, input_dim):
            if getattr(layer, "activation", None) == "softmax" and out == 1:
                raise ValueError(f"layers: {layer.name!r} applies softmax to a width of one, "
                                 f"which always outputs 1; use sigmoid for one output, or two "
                                 f"units with softmax")
        shapes = param_shapes(self.layers, input_dim)
        total = sum(math.prod(shape) for layer_shapes in shapes for shape in layer_shapes)
        self._check_weight_bytes(input_dim, shapes, total)
        params = np.empty(total, dtype=self.dtype)
        offset = 0
        self._param_slices: List[List[slice]] = []
        for (layer, width, out), layer_shapes in zip(walk(self.layers, input_dim), shapes):
            values = layer.initial_values(width, self.dtype, self._init_rng)
            slices = []
            for shape, value in zip(layer_shapes, values):
                size = math.prod(shape)
                params[offset:offset + size] = np.asarray(value, self.dtype).reshape(-1)
                slices.append(slice(offset, offset + size))
                offset += size
            self._param_slices.append(slices)
        self.input_dim = input_dim
        self.output_dim = out
        self.params = self._backend.asarray(params)
        self._bind_layers()

    def _check_weight_bytes(self, input_dim: int, shapes, total: int) -> None:
        """Refuse weights that cannot fit in memory before allocating them (``ValueError``
        naming the widest layer's ``units``, or ``input_dim`` when the input is the cause)."""
        # the buffer, and a layer's initial values (drawn in float64, then cast)
        nbytes = total * (2 * self.dtype.itemsize + 8)
        largest = max(zip(walk(self.layers, input_dim), shapes),
                      key=lambda pair: sum(math.prod(s) for s in pair[1]))
        (layer, width, out), _ = largest
        first = width == input_dim and layer is compute_layers(self.layers)[0]
        name = "input_dim" if first and width > out else "units"
        self._backend.check_allocation(
            name, nbytes, f"{type(layer).__name__} {layer.name!r} of {out} units on {width} "
            f"inputs: {total} weights in the model", "layer widths")

    def _bind_layers(self) -> None:
        """Point every layer's weight views at ``self.params``, on the model's device."""
        for (layer, width, _), slices in zip(walk(self.layers, self.input_dim),
                                             self._param_slices):
            shapes = layer.param_shapes(width)
            layer.bind(width, [self.params[part].reshape(shape)
                               for part, shape in zip(slices, shapes)])

    @property
    def weights(self) -> List[Any]:
        """Every weight array, in layer order (kernel then bias): views of the model's
        parameters on its device (writing into one changes the model). Empty before build."""
        return [w for layer in compute_layers(self.layers) for w in layer._weights]

    @property
    def trainable_weights(self) -> List[Any]:
        """The :attr:`weights` that training updates."""
        return [w for layer in compute_layers(self.layers) if self._layer_is_trained(layer)
                for w in layer._weights[:layer.n_trained]]

    @property
    def non_trainable_weights(self) -> List[Any]:
        """The :attr:`weights` of frozen layers, and the state layers keep (the moving
        statistics of ``BatchNormalization``)."""
        return [w for layer in compute_layers(self.layers)
                for w in layer._weights[layer.n_trained if self._layer_is_trained(layer)
                                        else 0:]]

    def get_layer(self, name: Optional[str] = None, index: Optional[int] = None) -> Layer:
        """The layer called ``name``, or at position ``index`` of :attr:`layers`.

        Raises
        ------
        ValueError
            When neither or both are given, no layer has the name, or the index is out of
            range.
        """
        if (name is None) == (index is None):
            raise ValueError(f"name, index: expected exactly one of them, got name={name!r}, "
                             f"index={index!r}")
        if index is not None:
            if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not (
                    -len(self.layers) <= index < len(self.layers)):
                raise ValueError(f"index: expected an integer in [0, {len(self.layers)}), got "
                                 f"{index!r}")
            return self.layers[int(index)]
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise ValueError(f"name: no layer called {name!r}; the layers are "
                         f"{[layer.name for layer in self.layers]}")

    def pop(self) -> Layer:
        """Remove the last layer and return it.

        The weights of the other layers are kept. A built model loses its compile settings
        (its optimizer holds state for the old parameters): compile it again before training.

        Raises
        ------
        ValueError
            When the model has no layer, or only an ``Input``.
        """
        if not compute_layers(self.layers):
            raise ValueError("pop: the model has no layer to remove")
        if not self.built:
            return self.layers.pop()
        layer = self.layers[-1]
        self._rebuild(self.layers.pop)
        return layer

    def count_params(self) -> int:
        """Total number of parameters."""
        self.require_built("count_params")
        return int(self.params.size)

    def get_weights(self) -> List[np.ndarray]:
        """Copies of every layer's parameters, in layer order (kernel then bias)."""
        self.require_built("get_weights")
        return [w for layer in compute_layers(self.layers) for w in layer.get_weights()]

    def set_weights(self, weights: Sequence[Any]) -> None:
        """Overwrite all parameters (a list as :meth:`get_weights` returns).

        Raises
        ------
        ValueError
            On a wrong count or shape (the message names the layer).
        """
        self.require_built("set_weights")
        weights = list(weights)
        expected = sum(len(layer.get_weights()) for layer in compute_layers(self.layers))
        if len(weights) != expected:
            raise ValueError(f"weights: expected {expected} arrays, got {len(weights)}")
        position = 0
        for layer in compute_layers(self.layers):
            count = len(layer.get_weights())
            layer.set_weights(weights[position:position + count])
            position += count

    def summary(self, print_fn: Callable[[str], None] = print) -> None:
        """Print each layer with its output shape and parameter count, and the totals."""
        rows = [("Layer (type)", "Output shape", "Params")]
        width = self.input_dim
        frozen = 0
        for layer in compute_layers(self.layers):
            out = layer.output_dim(width) if width is not None else None
            count = layer.count_params() if layer.built else (
                sum(math.prod(s) for s in layer.param_shapes(width)) if width else 0)
            rows.append((f"{layer.name} ({type(layer).__name__})",
                         f"(None, {out if out is not None else '?'})", f"{count:,}"))
            if not self._layer_is_trained(layer):
                frozen += count
            elif width is not None:  # state the layer keeps (moving statistics)
                frozen += sum(math.prod(s) for s in layer.param_shapes(width)[
                    layer.n_trained:])
            width = out
        widths = [max(len(row[i]) for row in rows) + 2 for i in range(3)]
        line = "-" * sum(widths)
        print_fn(f'Model: "{self.name}"')
        print_fn(line)
        for index, row in enumerate(rows):
            print_fn("".join(cell.ljust(w) for cell, w in zip(row, widths)))
            if index == 0:
                print_fn(line.replace("-", "="))
        print_fn(line)
        total = sum(int(r[2].replace(",", "")) for r in rows[1:])
        print_fn(f"Total params: {total:,}")
        print_fn(f"Trainable params: {total - frozen:,}")
        print_fn(f"Non-trainable params: {frozen:,}")

    def require_built(self, method: str) -> None:
        """Build the model at its declared input width if it can be; raise ``RuntimeError``
        naming ``method`` when it has no weights (no input width known yet)."""
        if not self.built and self.input_dim is not None and compute_layers(self.layers):
            self.build()
        if not self.built:
            raise RuntimeError(f"{method}: the model has no weights yet; give the first layer "
                               f"input_dim=..., or call build(input_dim) / fit first")

    # -------------------------------------------------------------- config/io
    def get_config(self) -> Dict[str, Any]:
        """Architecture and settings, JSON-serialisable (no weights)."""
        return {
            "name": self.name,
            "seed": self.seed,
            "dtype": self.dtype.name,
            "input_dim": self.input_dim,
            "layers": [serialize(layer) for layer in self.layers],
        }

    @classmethod
    def from_config(cls, config: Dict[str, Any], backend: Optional[str] = None) -> "Sequential":
        """A new (unbuilt) model from :meth:`get_config`."""
        model = cls([deserialize(layer) for layer in config["layers"]], seed=config["seed"],
                    dtype=config["dtype"], backend=backend, name=config.get("name", "sequential"))
        if config.get("input_dim") is not None:
            model.input_dim = int(config["input_dim"])
        return model

    def save(self, path) -> None:
        """Save architecture, compile settings, weights and optimizer state to one file.

        The file holds JSON and raw tensors only (no pickle): loading it runs no code.
        It is written to a temporary file and renamed, so a crash never leaves a broken file.
        See :func:`mlp.load_model`. In distributed training (:mod:`mlp.distributed`) only rank 0
        writes; on the other ranks this does nothing.

        Raises
        ------
        ValueError
            If a layer has a custom (Python) activation, which a file holding no code cannot
            keep (save the weights with :meth:`save_weights` instead).
        """
        for layer in self.layers:
            if not is_saveable(getattr(layer, "activation", None)):
                raise ValueError(f"save: layer {layer.name!r} has the custom activation "
                                 f"{layer.activation!r}, which the file format cannot hold (it "
                                 f"holds no code); use save_weights and rebuild the model in "
                                 f"Python")
        if writes_files():
            save_model(self, path)

    def save_weights(self, path) -> None:
        """Save only the weights (same safe format); see :meth:`load_weights`. In distributed
        training only rank 0 writes."""
        if writes_files():
            save_weights(self, path)

    def load_weights(self, path) -> None:
        """Load weights saved by :meth:`save_weights` or :meth:`save` into this model.

        Raises
        ------
        ValueError
            If the file is corrupt or its tensors do not fit this model's architecture.
        """
        load_weights(self, path)

    def to(self, backend: str) -> "Sequential":
        """Move the model to another backend (``"cpu"``, ``"reference"``, ...); returns it."""
        target = get_backend(backend)
        if target is self._backend:
            return self
        if self.built:  # the same values on the new device; the layers point at them
            host = np.array(self._backend.to_numpy(self.params), copy=True)
            self._backend = target
            self.params = target.asarray(host)
            self._bind_layers()
        else:
            self._backend = target
        self._reset_plans()
        return self

    # ---------------------------------------------------------------- pickling
    def __getstate__(self) -> Dict[str, Any]:
        """What ``pickle`` and ``copy.deepcopy`` keep: the configuration, the weights (as a
        host array), the compile settings and optimizer state, the generators and the
        history; not the compiled plans, which are rebuilt on the next use. The backend is
        kept by name. (Model files never use pickle: see :meth:`save`.)"""
        state = self.__dict__.copy()
        state["_backend"] = self._backend.name
        state["_train_plan"] = None
        state["_train_group"] = None  # an MPI communicator (distributed training) stays here
        state["_predict_plans"] = {}
        if self.params is not None:
            state["params"] = np.array(self._backend.to_numpy(self.params), copy=True)
        state["layers"] = [_without_weights(layer) for layer in self.layers]
        return state

    def __setstate__(self, state: Dict[str, Any]) -> None:
        backend = get_backend(state["_backend"])
        self.__dict__.update(state)
        self._backend = backend
        if self.params is not None:
            # a copy: the pickled buffer may be read-only (joblib memory-maps large arrays)
            self.params = backend.asarray(np.array(self.params, copy=True))
            self._bind_layers()
            if self.optimizer is not None:
                self.optimizer.build(self.params.size, self.dtype, backend)

    # ------------------------------------------------------------- generators
    def get_rng_state(self) -> Dict[str, Any]:
        """The state of the shuffling and initialisation generators, as saved files hold it:
        NumPy ``bit_generator.state`` dicts under ``"shuffle"`` and ``"init"``."""
        return {"shuffle": self._shuffle_rng.bit_generator.state,
                "init": self._init_rng.bit_generator.state}

    def set_rng_state(self, state: Dict[str, Any]) -> None:
        """Restore a :meth:`get_rng_state`."""
        self._shuffle_rng.bit_generator.state = state["shuffle"]
        self._init_rng.bit_generator.state = state["init"]


def _without_weights(layer: Layer) -> Layer:
    """A shallow copy of ``layer`` that holds no weight views (the model rebinds them)."""
    clone = copy.copy(layer)
    clone._weights = []
    return clone
