"""``Sequential``: a stack of layers with Keras' ``compile`` / ``fit`` / ``evaluate`` / ``predict``.

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

import math
import sys
import time
import warnings
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from . import losses as losses_module
from . import metrics as metrics_module
from . import optimizers as optimizers_module
from ._threading import blas_single_thread, needs_pinning
from ._validation import (
    check_features,
    check_non_negative_int,
    check_positive_int,
    check_sample_weight,
    check_targets,
)
from .backends import Backend, get_backend
from .callbacks import Callback, History
from .engine import (
    BatchHooks,
    TrainingPlan,
    make_plan,
    apply_output_activation,
    build_steps,
    compute_layers,
    fused_output,
)
from .layers import Dense, Input, Layer, deserialize, is_device_array, serialize
from .progress import Progress, make_progress, summary_line

FLOAT_DTYPES = ("float32", "float64")

_PROGRESS_UPDATES = 20
"""Parts an epoch runs in when a live progress bar shows it (see ``Sequential._train_epoch``)."""

# the cache key of the plan predict uses (evaluate's plans are keyed by their loss)
_PREDICT_PLAN_KEY = (False, None, "")


class Sequential:
    """A linear stack of layers.

    Parameters
    ----------
    layers : list of Layer, optional
    seed : int, optional
        Seeds weight initialisation, shuffling and dropout: the same seed gives the same weights
        and the same training history. Defaults to a random seed (kept in ``model.seed``).
    dtype : {"float32", "float64"}
        Precision of parameters and computation. Defaults to ``"float32"``.
    backend : str, optional
        ``"cpu"``, ``"reference"``, ... The model keeps its backend whatever the global
        default later becomes. Defaults to the active default (``mlp.get_backend()``).
    name : str
        Defaults to ``"sequential"``.
    """

    def __init__(self, layers: Optional[Sequence[Layer]] = None, seed: Optional[int] = None,
                 dtype: str = "float32", backend: Optional[str] = None,
                 name: str = "sequential"):
        if np.dtype(dtype).name not in FLOAT_DTYPES:
            raise ValueError(f"dtype: expected one of {list(FLOAT_DTYPES)}, got {dtype!r}")
        if seed is None:
            seed = int(np.random.SeedSequence().entropy % (2 ** 63))
        elif isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed: expected a non-negative integer or None, got {seed!r}")
        self.seed = int(seed)
        self.dtype = np.dtype(dtype)
        self.name = name
        self._backend: Backend = get_backend(backend)
        self.layers: List[Layer] = []
        self.input_dim: Optional[int] = None
        self.params = None
        self.loss: Optional[losses_module.Loss] = None
        self.optimizer = None
        self.metrics: Dict[str, Callable] = {}
        self.stop_training = False
        self.history: Optional[History] = None
        init_seed, shuffle_seed = np.random.SeedSequence(self.seed).spawn(2)
        self._init_rng = np.random.Generator(np.random.PCG64(init_seed))
        self._shuffle_rng = np.random.Generator(np.random.PCG64(shuffle_seed))
        self._train_plan: Optional[TrainingPlan] = None
        self._predict_plans: Dict[Tuple, TrainingPlan] = {}
        for layer in layers or []:
            self.add(layer)

    # ---------------------------------------------------------------- structure
    @property
    def backend(self) -> Backend:
        """The backend this model computes on."""
        return self._backend

    def add(self, layer: Layer) -> None:
        """Append a layer.

        Raises
        ------
        TypeError
            If ``layer`` is not a ``mlp`` layer.
        ValueError
            If the model is already built (weights exist), or an ``Input`` comes after a layer.
        """
        if not isinstance(layer, Layer):
            raise TypeError(f"layer: expected a mlp layer (Dense, Dropout, ...), got "
                            f"{type(layer).__name__}")
        if self.built:
            raise ValueError("layer: cannot add layers to a built model; create a new model")
        if layer.built:
            raise ValueError(f"layer: {layer.name!r} already belongs to a built model; create a "
                             f"new layer (layers hold their model's weights)")
        if any(existing is layer for existing in self.layers):
            raise ValueError(f"layer: {layer.name!r} is already in this model")
        if any(existing.name == layer.name for existing in self.layers):
            raise ValueError(f"layer: the name {layer.name!r} is already used in this model; "
                             f"layer names must be unique")
        if isinstance(layer, Input):
            if self.layers:
                raise ValueError("layer: Input must be the first layer")
            self.input_dim = layer.shape[0]
        elif isinstance(layer, Dense) and layer.declared_input_dim is not None:
            if compute_layers(self.layers):
                raise ValueError(f"input_dim: only the first layer may declare it, got it on "
                                 f"{layer.name!r}")
            self.input_dim = layer.declared_input_dim
        self.layers.append(layer)

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
        input_dim = check_positive_int(input_dim, "input_dim")
        if not compute_layers(self.layers):
            raise ValueError("layers: the model has no layers; add at least one Dense layer")
        shapes, width = [], input_dim
        for layer in compute_layers(self.layers):
            shapes.append(layer.param_shapes(width))
            width = layer.output_dim(width)
        total = sum(int(np.prod(shape)) for layer_shapes in shapes for shape in layer_shapes)
        params = np.empty(total, dtype=self.dtype)
        offset, width = 0, input_dim
        self._param_slices: List[List[slice]] = []
        for layer, layer_shapes in zip(compute_layers(self.layers), shapes):
            values = layer.initial_values(width, self.dtype, self._init_rng)
            slices = []
            for shape, value in zip(layer_shapes, values):
                size = int(np.prod(shape))
                params[offset:offset + size] = np.asarray(value, self.dtype).reshape(-1)
                slices.append(slice(offset, offset + size))
                offset += size
            self._param_slices.append(slices)
            width = layer.output_dim(width)
        self.input_dim = input_dim
        self.output_dim = width
        self.params = self._backend.asarray(params)
        self._bind_layers()

    def _bind_layers(self) -> None:
        """Point every layer's weight views at ``self.params``, on the model's device."""
        width = self.input_dim
        for layer, slices in zip(compute_layers(self.layers), self._param_slices):
            shapes = layer.param_shapes(width)
            layer.bind(width, [self.params[part].reshape(shape)
                               for part, shape in zip(slices, shapes)])
            width = layer.output_dim(width)

    def count_params(self) -> int:
        """Total number of parameters."""
        self._require_built("count_params")
        return int(self.params.size)

    def get_weights(self) -> List[np.ndarray]:
        """Copies of every layer's parameters, in layer order (kernel then bias)."""
        self._require_built("get_weights")
        return [w for layer in compute_layers(self.layers) for w in layer.get_weights()]

    def set_weights(self, weights: Sequence[Any]) -> None:
        """Overwrite all parameters (a list as :meth:`get_weights` returns).

        Raises
        ------
        ValueError
            On a wrong count or shape (the message names the layer).
        """
        self._require_built("set_weights")
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
        for layer in compute_layers(self.layers):
            out = layer.output_dim(width) if width is not None else None
            count = layer.count_params() if layer.built else (
                sum(int(np.prod(s)) for s in layer.param_shapes(width)) if width else 0)
            rows.append((f"{layer.name} ({type(layer).__name__})",
                         f"(None, {out if out is not None else '?'})", f"{count:,}"))
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
        print_fn(f"Trainable params: {total:,}")
        print_fn("Non-trainable params: 0")

    # ----------------------------------------------------------------- compile
    def compile(self, optimizer: Any = "rmsprop", loss: Any = None,
                metrics: Optional[Sequence[Any]] = None) -> None:
        """Configure training.

        Parameters
        ----------
        optimizer : str or Optimizer
            ``"sgd"``, ``"adam"``, ``"adamw"``, ``"rmsprop"``, ``"adagrad"`` or an instance.
            Defaults to ``"rmsprop"`` (Keras' default).
        loss : str or Loss
            ``"binary_crossentropy"``, ``"categorical_crossentropy"``,
            ``"sparse_categorical_crossentropy"``, ``"mse"``, ``"mae"``, ``"huber"`` or an instance.
        metrics : list of str or callables, optional
            E.g. ``["accuracy", "precision", "recall", "f1"]``.
        """
        if loss is None:
            raise ValueError("loss: expected a loss name or object (e.g. 'binary_crossentropy'), "
                             "got None")
        self.loss = losses_module.get(loss)
        self.optimizer = optimizers_module.get(optimizer)
        if isinstance(metrics, (str, bytes)) or callable(metrics):
            metrics = [metrics]
        self.metrics = {}
        for metric in metrics or []:
            self.metrics[metrics_module.metric_name(metric)] = metrics_module.get(metric)
        self._train_plan = None
        self._predict_plans = {}

    @property
    def compiled(self) -> bool:
        """Whether :meth:`compile` was called."""
        return self.loss is not None

    # -------------------------------------------------------------------- plans
    def _plan(self, batch_size: int) -> TrainingPlan:
        plan = self._train_plan
        if plan is None or plan.batch_size < batch_size or plan.params is not self.params:
            fused = fused_output(self.layers, self.loss)
            steps = build_steps(self.layers, self.input_dim, self._param_slices, fused, self.seed)
            grads = self._backend.zeros(self.params.shape, self.dtype)
            self.optimizer.build(self.params.size, self.dtype, self._backend)
            kernel = self.loss.logits_kernel if fused else self.loss.train_kernel
            plan = make_plan(self._backend, steps, self.params, grads, kernel, self.optimizer,
                             batch_size, delta=getattr(self.loss, "delta", 1.0))
            plan.fused = fused
            self._train_plan = plan
        return plan

    def _inference_plan(self, batch_size: int, for_loss: bool = False) -> TrainingPlan:
        """A plan for inference with its own workspaces (training's are never touched).

        ``for_loss=True`` gives the training activations (logits when the output is fused into
        the loss) and the loss kernel, for :meth:`evaluate`; otherwise the layers' own
        activations, for :meth:`predict`.
        """
        fused = fused_output(self.layers, self.loss) if for_loss else None
        key = (for_loss, fused, self.loss.train_kernel) if for_loss else _PREDICT_PLAN_KEY
        plan = self._predict_plans.get(key)
        if plan is None or plan.params is not self.params:
            steps = build_steps(self.layers, self.input_dim, self._param_slices, fused, self.seed)
            kernel = ((self.loss.logits_kernel if fused else self.loss.train_kernel)
                      if for_loss else "")
            plan = make_plan(self._backend, steps, self.params, None, kernel, None, batch_size,
                             delta=getattr(self.loss, "delta", 1.0) if for_loss else 1.0)
            plan.fused = fused
            self._predict_plans[key] = plan
        return plan

    # --------------------------------------------------------------------- data
    def _prepare(self, x, y, sample_weight=None, class_weight=None, prefix="",
                 x_checked=False):
        """Validated (x, target, weight); ``x_checked``: x came from :meth:`_features` already
        (its finiteness pass is the costliest check of a large data set)."""
        if not x_checked:
            x = self._features(x, prefix + "x")
        self.build(x.shape[1])
        target = check_targets(self._host_input(y, prefix + "y"), self.loss, self.output_dim,
                               x.shape[0], self.dtype, name=prefix + "y")
        weight = check_sample_weight(self._host_input(sample_weight, prefix + "sample_weight"),
                                     x.shape[0], self.dtype, name=prefix + "sample_weight")
        if class_weight is not None:
            weight = _apply_class_weight(class_weight, target, weight, self.dtype, self.loss,
                                          self.output_dim)
        return x, target, weight

    def _host_input(self, value, name: str):
        """``value`` in host memory for validation. A GPU (CuPy) array is accepted by a model on
        the GPU and copied to the host; a model on a host backend refuses it with a clear error.
        """
        if not is_device_array(value):
            return value
        if self._backend.name != "cupy":
            raise TypeError(
                f"{name}: got a GPU array ({type(value).__module__}.{type(value).__name__}) but "
                f"the model is on the {self._backend.name!r} backend (host memory); move the "
                f"model with model.to('cupy') or the data to the host with {name}.get()")
        return self._backend.to_numpy(value)

    def _features(self, x, name: str = "x"):
        """Validated features (see :meth:`_host_input` for GPU arrays)."""
        return check_features(self._host_input(x, name), self.dtype, self.input_dim, name=name)

    def _on_device(self, *arrays):
        """The arrays moved to the model's device, once (``None`` stays ``None``).

        Host backends return them as they are. On the GPU, data that would take more than half
        the free GPU memory stays on the host and each batch is copied as it is used.
        """
        fits = getattr(self._backend, "fits_in_memory", None)
        if fits is not None and not fits(sum(a.nbytes for a in arrays if a is not None)):
            return arrays
        return tuple(None if a is None else self._backend.asarray(a) for a in arrays)

    def _require_compiled(self, method: str) -> None:
        if not self.compiled:
            raise RuntimeError(f"{method}: the model must be compiled first: call "
                               f"model.compile(optimizer=..., loss=...)")

    def _require_built(self, method: str) -> None:
        if not self.built and self.input_dim is not None and compute_layers(self.layers):
            self.build()
        if not self.built:
            raise RuntimeError(f"{method}: the model has no weights yet; give the first layer "
                               f"input_dim=..., or call build(input_dim) / fit first")

    # -------------------------------------------------------------------- train
    def fit(self, x, y, batch_size: int = 32, epochs: int = 1, verbose: Union[int, str] = "auto",
            callbacks: Optional[Sequence[Callback]] = None, validation_split: float = 0.0,
            validation_data: Optional[Tuple] = None, shuffle: bool = True,
            class_weight: Optional[Dict[int, float]] = None, sample_weight=None,
            initial_epoch: int = 0) -> History:
        """Train for ``epochs`` epochs; return the :class:`History`.

        Parameters follow Keras: ``validation_split`` takes the *last* fraction of the samples
        (and of ``sample_weight``), before shuffling; ``validation_data=(x_val, y_val[,
        sample_weight_val])`` overrides it, its weights weighting the validation loss and
        metrics; ``class_weight`` maps each class index present in ``y`` to a weight multiplied
        into ``sample_weight`` (training data only; it weights the loss and the metrics);
        training resumes at ``initial_epoch``.

        ``verbose``: ``0`` silent; ``1`` a live progress bar per epoch in a terminal or a
        notebook, one line per epoch when standard output is neither; ``2`` one line per
        epoch. ``"auto"`` (the default) is ``1``. See :mod:`mlp.progress`.

        If the training loss becomes NaN or infinite, training stops, the weights and optimizer
        state of the end of the last finite epoch are restored, a ``RuntimeWarning`` says so and
        ``history.stopped_reason`` is ``"non_finite_loss"``.
        """
        self._require_compiled("fit")
        batch_size = check_positive_int(batch_size, "batch_size")
        epochs = check_non_negative_int(epochs, "epochs")
        initial_epoch = check_non_negative_int(initial_epoch, "initial_epoch")
        if (isinstance(validation_split, bool)
                or not isinstance(validation_split, (int, float, np.floating))
                or not 0.0 <= validation_split < 1.0):
            raise ValueError(f"validation_split: expected a fraction in [0, 1), got "
                             f"{validation_split!r}")
        verbose = _check_verbose(verbose)
        x_arr = self._features(x)
        y = self._host_input(y, "y")
        sample_weight = self._host_input(sample_weight, "sample_weight")
        self.build(x_arr.shape[1])
        if validation_data is None and validation_split > 0:
            n_val = int(math.floor(x_arr.shape[0] * validation_split))
            if n_val == 0 or n_val == x_arr.shape[0]:
                raise ValueError(f"validation_split: {validation_split} of {x_arr.shape[0]} "
                                 f"samples leaves an empty training or validation set")
            y_all = np.asarray(y)
            if y_all.ndim == 0 or y_all.shape[0] != x_arr.shape[0]:
                raise ValueError(f"y: expected {x_arr.shape[0]} rows (as x), got shape "
                                 f"{y_all.shape}")
            w_all = None if sample_weight is None else np.asarray(sample_weight)
            if w_all is not None and (w_all.ndim == 0 or w_all.shape[0] != x_arr.shape[0]):
                raise ValueError(f"sample_weight: expected shape ({x_arr.shape[0]},), got "
                                 f"{w_all.shape}")
            split = x_arr.shape[0] - n_val
            validation_data = (x_arr[split:], y_all[split:],
                               None if w_all is None else w_all[split:])
            x_arr, y, sample_weight = x_arr[:split], y_all[:split], (
                None if w_all is None else w_all[:split])
        x_arr, target, weight = self._prepare(x_arr, y, sample_weight, class_weight,
                                              x_checked=True)
        val = self._prepare_validation(validation_data)
        history = History()
        # History last, as in Keras: it records the keys other callbacks add to the logs
        callback_list = list(callbacks or []) + [history]
        for callback in callback_list:
            if not isinstance(callback, Callback):
                raise TypeError(f"callbacks: expected mlp.callbacks.Callback objects, got "
                                f"{type(callback).__name__}")
            callback.set_model(self)
        plan = self._plan(batch_size)
        progress = make_progress(verbose)
        hooks = _CallbackHooks(self, callback_list, progress) if any(
            cb.wants_batch_hooks() for cb in callback_list) else None
        self.stop_training = False
        self.history = history
        for callback in callback_list:
            callback.on_train_begin()
        n = x_arr.shape[0]
        n_steps = -(-n // batch_size)
        # the training set moves to the model's device once (a no-op on the CPU)
        x_dev, target_dev, weight_dev = self._on_device(x_arr, target, weight)
        val_dev = None if val is None else self._on_device(*val)
        outputs = self._backend.empty((n, self.output_dim), self.dtype)
        last_good = _TrainingSnapshot(self)
        logs: Dict[str, float] = {}
        try:
            with blas_single_thread():
                for epoch in range(initial_epoch, epochs):
                    for callback in callback_list:
                        callback.on_epoch_begin(epoch)
                    last_good.take()
                    order = self._shuffle_rng.permutation(n) if shuffle else np.arange(n)
                    progress.begin_epoch(epoch, epochs, n_steps, n)
                    started = time.perf_counter()
                    loss_value, seen = self._train_epoch(plan, x_dev, target_dev, weight_dev,
                                                         order, batch_size, outputs, hooks,
                                                         progress, target, weight)
                    train_seconds = time.perf_counter() - started
                    if not np.isfinite(loss_value):
                        progress.abort()
                        last_good.restore()
                        history.stopped_reason, history.stopped_epoch = "non_finite_loss", epoch
                        kept = ("the start of fit" if epoch == initial_epoch else
                                f"the end of epoch {epoch}")
                        warnings.warn(
                            f"fit: the loss became {loss_value} in epoch {epoch + 1}; training "
                            f"stopped and the weights and optimizer state of {kept} were "
                            f"restored (history.stopped_reason is "
                            f"'non_finite_loss'). Lower the learning rate, scale the inputs or "
                            f"clip the gradients (e.g. Adam(clipnorm=1.0)).", RuntimeWarning,
                            stacklevel=2)
                        self.stop_training = True
                        break
                    logs = {"loss": float(loss_value)}
                    if self.metrics:
                        logs.update(self._training_metrics(plan.fused, target, weight, order,
                                                           outputs, seen))
                    if val is not None:
                        logs.update({f"val_{k}": v for k, v in self._evaluate_arrays(
                            *val, on_device=val_dev).items()})
                    progress.end_epoch(-(-seen // batch_size), seen, logs, train_seconds)
                    for callback in callback_list:
                        callback.on_epoch_end(epoch, logs)
                    if self.stop_training:
                        history.stopped_reason, history.stopped_epoch = "callback", epoch
                        break
        except BaseException:
            progress.abort()
            raise
        for callback in callback_list:
            callback.on_train_end(dict(logs))
        return history

    def _train_epoch(self, plan, x, target, weight, order, batch_size, outputs, hooks,
                     progress, host_target=None, host_weight=None) -> Tuple[float, int]:
        """One epoch; returns (mean training loss, samples trained on).

        With a live progress bar and no batch hooks, the epoch runs in up to
        ``_PROGRESS_UPDATES`` parts split at multiples of ``batch_size``: the same batches in
        the same order, with the loss sum carried from part to part, so the same weights,
        optimizer state, outputs and loss as one call. A part whose loss is not finite ends the
        epoch (``fit`` restores the weights anyway).

        ``x``, ``target``, ``weight`` may be on the GPU; ``host_target`` / ``host_weight`` are
        their host copies for the metrics (default: the same arrays).
        """
        if host_target is None:
            host_target, host_weight = target, weight
        if hooks is not None:
            hooks.begin_epoch(host_target, host_weight, order, outputs, plan.fused, batch_size)
            total, seen = plan.train_epoch(x, target, weight, order, batch_size, outputs, hooks)
            return total / max(seen, 1), seen
        if not progress.live:
            total, seen = plan.train_epoch(x, target, weight, order, batch_size, outputs, None)
            return total / max(seen, 1), seen
        n = len(order)
        steps = -(-n // batch_size)
        chunk = -(-steps // _PROGRESS_UPDATES) * batch_size
        total, seen = 0.0, 0
        for begin in range(0, n, chunk):
            part = order[begin:begin + chunk]
            total, count = plan.train_epoch(x, target, weight, part, batch_size,
                                            outputs[begin:], None, total)
            seen += count
            if not np.isfinite(total):
                break
            progress.update(-(-seen // batch_size), seen, lambda: self._running_logs(
                plan.fused, host_target, host_weight, order, outputs, seen, total))
        return total / max(seen, 1), seen

    def _training_metrics(self, fused, target, weight, order, outputs, seen) -> Dict[str, float]:
        """The metrics of the training outputs of the first ``seen`` samples of ``order``."""
        trained = order[:seen]
        probabilities = apply_output_activation(
            np.array(self._backend.to_numpy(outputs[:seen]), copy=True), fused)
        return metrics_module.evaluate_metrics(self.metrics, target[trained], probabilities,
                                               None if weight is None else weight[trained])

    def _running_logs(self, fused, target, weight, order, outputs, seen, total):
        """Loss and metrics so far in the epoch, for the progress bar."""
        logs = {"loss": total / max(seen, 1)}
        if self.metrics and seen:
            logs.update(self._training_metrics(fused, target, weight, order, outputs, seen))
        return logs

    def _prepare_validation(self, validation_data):
        if validation_data is None:
            return None
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
            raise ValueError("validation_data: expected (x_val, y_val) or (x_val, y_val, "
                             f"sample_weight_val), got {type(validation_data).__name__}")
        weight = validation_data[2] if len(validation_data) == 3 else None
        return self._prepare(validation_data[0], validation_data[1], weight, prefix="val_")

    def train_on_batch(self, x, y, sample_weight=None, class_weight=None,
                       return_dict: bool = False):
        """One optimizer step on one batch; returns the loss (or a dict with the metrics)."""
        self._require_compiled("train_on_batch")
        x, target, weight = self._prepare(x, y, sample_weight, class_weight)
        plan = self._plan(x.shape[0])
        with blas_single_thread():
            value = plan.train_batch(x, target, weight)
        logs = {"loss": float(value)}
        if self.metrics:
            probabilities = apply_output_activation(
                self._backend.to_numpy(plan.outputs[-1][:x.shape[0]]).copy(), plan.fused)
            logs.update(metrics_module.evaluate_metrics(self.metrics, target, probabilities,
                                                        weight))
        return logs if return_dict else logs["loss"]

    # --------------------------------------------------------------- inference
    def evaluate(self, x, y, batch_size: int = 32, verbose: Union[int, str] = 0,
                 sample_weight=None) -> Dict[str, float]:
        """Loss and metrics on ``(x, y)`` with dropout off, as a dict ``{"loss": ..., ...}``.

        ``sample_weight`` weights the loss and the metrics. ``verbose``: ``0`` (the default)
        prints nothing, ``1`` / ``2`` / ``"auto"`` one summary line.
        """
        self._require_compiled("evaluate")
        batch_size = check_positive_int(batch_size, "batch_size")
        verbose = _check_verbose(verbose)
        started = time.perf_counter()
        x, target, weight = self._prepare(x, y, sample_weight)
        logs = self._evaluate_arrays(x, target, weight, batch_size)
        if verbose:
            print(summary_line("Evaluate", x.shape[0], time.perf_counter() - started, logs),
                  file=sys.stdout, flush=True)
        return logs

    def _evaluate_arrays(self, x, target, weight, batch_size: int = 256,
                         on_device=None) -> Dict[str, float]:
        """Loss and metrics of host arrays; ``on_device`` is their copy on the model's device
        when the caller already made it (fit's validation data)."""
        plan = self._inference_plan(batch_size, for_loss=True)
        x_dev, target_dev, weight_dev = (on_device if on_device is not None
                                         else self._on_device(x, target, weight))
        with blas_single_thread(plan.flops(min(batch_size, x.shape[0]))):
            outputs = plan.predict(x_dev, batch_size)
        logs = {"loss": float(plan.loss_value(outputs, target_dev, weight_dev))}
        if self.metrics:
            probabilities = apply_output_activation(
                np.array(self._backend.to_numpy(outputs), copy=True), plan.fused)
            logs.update(metrics_module.evaluate_metrics(self.metrics, target, probabilities,
                                                        weight))
        return logs

    def test_on_batch(self, x, y, sample_weight=None, return_dict: bool = False):
        """Loss (and metrics) of one batch without training."""
        logs = self.evaluate(x, y, batch_size=max(1, len(x)), sample_weight=sample_weight)
        return logs if return_dict else logs["loss"]

    def predict(self, x, batch_size: int = 256, verbose: Union[int, str] = 0,
                return_device_array: bool = False):
        """Outputs for ``x`` with dropout off: probabilities for sigmoid / softmax outputs.

        ``model.predict(x).argmax(1)`` gives the predicted classes of a softmax model, and
        ``model.predict(x) > 0.5`` those of a sigmoid one. ``verbose``: ``0`` (the default)
        prints nothing, ``1`` / ``2`` / ``"auto"`` one summary line.

        ``x`` may be a NumPy array or, for a model on the GPU, a CuPy array; it is moved to the
        model's device once. The result is a NumPy array, or with ``return_device_array=True``
        an array on the model's device (a CuPy array on the GPU; NumPy on the CPU).
        """
        if type(verbose) is int and verbose == 0 and type(x) is np.ndarray and type(
                batch_size) is int:
            # single samples and small batches: latency is the Python around the kernels
            plan = self._predict_plans.get(_PREDICT_PLAN_KEY)
            if (plan is not None and plan.params is self.params and x.ndim == 2
                    and 0 < x.shape[0] <= batch_size):
                result = plan.predict_small(x)
                if result is not None:
                    return result
        batch_size = check_positive_int(batch_size, "batch_size")
        verbose = _check_verbose(verbose)
        started = time.perf_counter()
        x = self._features(x)
        self.build(x.shape[1])
        plan = self._inference_plan(batch_size)
        flops = plan.flops(min(batch_size, x.shape[0]))
        x_dev = self._on_device(x)[0]
        if needs_pinning(flops):
            with blas_single_thread(flops):
                result = plan.predict(x_dev, batch_size)
        else:
            result = plan.predict(x_dev, batch_size)
        if not return_device_array:
            result = self._backend.to_numpy(result)
        if verbose:
            print(summary_line("Predict", x.shape[0], time.perf_counter() - started),
                  file=sys.stdout, flush=True)
        return result

    def predict_on_batch(self, x) -> np.ndarray:
        """:meth:`predict` on one batch."""
        return self.predict(x, batch_size=max(1, len(x)))

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
        See :func:`mlp.load_model`.
        """
        from .io import save_model

        save_model(self, path)

    def save_weights(self, path) -> None:
        """Save only the weights (same safe format); see :meth:`load_weights`."""
        from .io import save_weights

        save_weights(self, path)

    def load_weights(self, path) -> None:
        """Load weights saved by :meth:`save_weights` or :meth:`save` into this model.

        Raises
        ------
        ValueError
            If the file is corrupt or its tensors do not fit this model's architecture.
        """
        from .io import load_weights

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
        self._train_plan = None
        self._predict_plans = {}
        return self


class _CallbackHooks(BatchHooks):
    """Forwards the engine's per-batch hooks to the callbacks and the progress display."""

    def __init__(self, model: "Sequential", callbacks: Sequence[Callback],
                 progress: Optional[Progress] = None):
        self.model = model
        self.callbacks = callbacks
        self.progress = progress if progress is not None else Progress()

    def begin_epoch(self, target, weight, order, outputs, fused, batch_size: int) -> None:
        """What the progress display needs to show the running loss and metrics."""
        self._epoch = (target, weight, order, outputs, fused)
        self._batch_size = batch_size
        self._seen = 0
        self._total = 0.0

    def begin(self, batch: int) -> None:
        for callback in self.callbacks:
            callback.on_batch_begin(batch)

    def end(self, batch: int, loss: float) -> bool:
        logs = {"loss": float(loss)}
        for callback in self.callbacks:
            callback.on_batch_end(batch, logs)
        if self.progress.live:
            rows = min(self._batch_size, len(self._epoch[2]) - self._seen)
            self._seen += rows
            self._total += float(loss) * rows
            target, weight, order, outputs, fused = self._epoch
            seen, total = self._seen, self._total
            self.progress.update(batch + 1, seen, lambda: self.model._running_logs(
                fused, target, weight, order, outputs, seen, total))
        return self.model.stop_training


class _TrainingSnapshot:
    """The weights and optimizer state at the start of an epoch, for ``fit`` to restore when
    the loss turns non-finite.

    Copied into buffers allocated at the first :meth:`take` and reused by every later epoch of
    the same ``fit``, on the model's device: a fresh copy per epoch made the system allocate
    and zero the pages of a second model every epoch (on the 25 M-parameter benchmark network
    that was 6 % of an epoch's time).
    """

    def __init__(self, model: "Sequential"):
        self._model = model
        self._params = None
        self._slots: Dict[str, Any] = {}
        self._iterations = 0

    def take(self) -> None:
        model = self._model
        if self._params is None:
            self._params = model.params.copy()
            self._slots = {name: slot.copy() for name, slot in model.optimizer.slots.items()}
        else:
            self._params[...] = model.params
            for name, slot in model.optimizer.slots.items():
                self._slots[name][...] = slot
        self._iterations = model.optimizer.iterations

    def restore(self) -> None:
        model = self._model
        model.params[...] = self._params
        for name, slot in model.optimizer.slots.items():
            slot[...] = self._slots[name]  # in place: the training plan points at the slots
        model.optimizer.iterations = self._iterations


def _check_verbose(verbose) -> int:
    if verbose == "auto":
        return 1
    if isinstance(verbose, bool) or not isinstance(verbose, (int, np.integer)) or verbose not in (
            0, 1, 2):
        raise ValueError(f"verbose: expected 0, 1, 2 or 'auto', got {verbose!r}")
    return int(verbose)


def _apply_class_weight(class_weight, target, weight, dtype, loss, n_outputs: int):
    """Multiply each sample's weight by the weight of its class.

    The class of a sample is its label (sparse targets), the argmax of its row (one-hot or
    several outputs) or its rounded target (one sigmoid output), as in Keras. Keys must be
    integer class indices the model can output, and every class present in the targets needs
    one (Keras 3 would silently give a missing class the weight 1).
    """
    if not isinstance(class_weight, dict):
        raise TypeError(f"class_weight: expected a dict class index -> weight, got "
                        f"{type(class_weight).__name__}")
    if loss.targets not in ("binary", "one_hot", "labels"):
        raise ValueError(f"class_weight: needs a classification loss (binary, categorical or "
                         f"sparse categorical cross-entropy), got {loss.name}")
    if target.ndim == 1:
        classes = target.astype(np.int64)
    elif target.shape[1] == 1:
        classes = (target[:, 0] > 0.5).astype(np.int64)
    else:
        classes = target.argmax(axis=1)
    n_classes = max(n_outputs, 2)
    for key, value in class_weight.items():
        if isinstance(key, bool) or not isinstance(key, (int, np.integer)):
            raise TypeError(f"class_weight: expected integer class indices as keys, got "
                            f"{key!r}")
        if not 0 <= key < n_classes:
            raise ValueError(f"class_weight: the key {key!r} is not a class of this model "
                             f"(expected 0 to {n_classes - 1})")
        if (isinstance(value, bool) or not isinstance(value, (int, float, np.integer,
                                                               np.floating))
                or not np.isfinite(value) or value < 0):
            raise ValueError(f"class_weight: expected finite weights >= 0, got {value!r} for "
                             f"class {key!r}")
    present = [int(c) for c in np.unique(classes)]
    missing = [c for c in present if c not in class_weight]
    if missing:
        raise ValueError(f"class_weight: the classes {missing} are in the data but have no "
                         f"weight; give one for every class present ({present})")
    factors = np.empty(len(classes), dtype=dtype)
    for key, value in class_weight.items():
        factors[classes == key] = value
    return factors if weight is None else factors * weight
