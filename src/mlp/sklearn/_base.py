"""What the two estimators share: parameters, the network, the weights, fit and predict.

The estimators are a thin adapter on mlp's public model API: a :class:`mlp.Sequential` of
``Dense`` layers (and ``Dropout`` with ``dropout > 0``; with ``batch_norm=True`` each hidden
layer is a linear ``Dense``, a ``BatchNormalization`` and an ``Activation``), compiled with
mlp's ``SGD`` / ``Adam`` and trained epoch by epoch with ``fit`` (:mod:`._stochastic`) or
driven by ``scipy.optimize`` through ``loss_and_gradient`` (:mod:`._lbfgs`).

How scikit-learn's objective is reproduced
------------------------------------------
scikit-learn minimises, on each batch of ``b`` samples with weights ``s_i`` (1 by default),
``sum_i s_i * loss_i / sum_i s_i + alpha / (2 * sum_i s_i) * sum(coefs ** 2)``, and its
gradient uses ``p - y`` summed over the outputs. mlp's losses average over the batch and (for
several outputs) over the outputs, with a constant L2 coefficient per layer. The adapter
therefore passes weights ``s_i * n / sum(s)`` times an output factor (the number of outputs for
sigmoid outputs, half of it for squared error) and the L2 coefficient
``alpha * n / (2 * batch_size * sum(s))``: the same objective and gradient on every batch of
average weight. The reported ``loss_`` is scikit-learn's (half the mean squared error over
samples and outputs for regression, plus the L2 term).
"""
from __future__ import annotations

import contextlib
from numbers import Integral, Real
from typing import List, Optional

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from sklearn.neural_network._multilayer_perceptron import BaseMultilayerPerceptron
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from .. import _threading
from ..model import Sequential
from ..nn.layers import Activation, Dense, Dropout
from ..nn.normalization import BatchNormalization
from ..nn.regularizers import L2
from ..optim.optimizers import SGD, Adam
from . import _lbfgs, _stochastic

ACTIVATIONS = {"identity": "linear", "logistic": "sigmoid", "tanh": "tanh", "relu": "relu"}
"""scikit-learn's hidden activations by name -> mlp's."""

OUTPUT_ACTIVATIONS = {"identity": "linear", "logistic": "sigmoid", "softmax": "softmax"}
"""``out_activation_`` -> mlp's activation of the last layer."""

EXTRA_PARAMETERS = {
    "dropout": [Interval(Real, 0, 1, closed="left")],
    "batch_norm": ["boolean"],
    "backend": [StrOptions({"cpu", "cupy", "reference"})],
    "n_threads": [Interval(Integral, 1, None, closed="left"), None],
    "dtype": [StrOptions({"float32", "float64"}), None],
}
"""The parameters scikit-learn's estimators lack, with their constraints."""

BATCH_NORM_MOMENTUM = 0.9
"""The moving statistics' momentum of the ``batch_norm`` layers (Keras' default is 0.99, made
for many batches per epoch; scikit-learn-sized data often has one or a few, and 0.9 lets the
moving statistics follow the weights within tens of steps)."""

BATCH_NORM_EPSILON = 1e-3
"""The variance epsilon of the ``batch_norm`` layers (Keras' default)."""

BATCH_NORM_KEYS = ("gamma", "beta", "moving_mean", "moving_variance")
"""The arrays of each entry of ``batch_norm_params_``, in ``get_weights`` order."""


class BaseMLP(BaseEstimator):
    """The shared machinery of :class:`MLPClassifier` and :class:`MLPRegressor` (not for
    direct use)."""

    _parameter_constraints: dict = {
        **{name: constraint for name, constraint
           in BaseMultilayerPerceptron._parameter_constraints.items()},
        # mlp's SGD keeps a decaying velocity: momentum 1 (never decaying) is refused
        "momentum": [Interval(Real, 0, 1, closed="left")],
        **EXTRA_PARAMETERS,
    }

    # --------------------------------------------------------------- subclasses
    def _validate_input(self, X, y, incremental: bool, reset: bool):
        """``(X, Y)`` with ``Y`` the 2-D float targets the network trains on."""
        raise NotImplementedError

    def _output_activation(self, Y: np.ndarray) -> str:
        raise NotImplementedError

    def _loss_name(self) -> str:
        raise NotImplementedError

    def _output_factor(self) -> float:
        """What each sample's mlp loss is multiplied by to give scikit-learn's gradient."""
        raise NotImplementedError

    def _reported_loss(self, loss: float, penalty: float) -> float:
        """scikit-learn's ``loss_`` from the loss mlp minimised and its L2 part."""
        raise NotImplementedError

    def _score_targets(self, Y: np.ndarray):
        """What :meth:`score` compares predictions with, from the training targets."""
        raise NotImplementedError

    def _extra_sample_weight(self, Y: np.ndarray) -> Optional[np.ndarray]:
        """Weights multiplied into ``sample_weight`` (the classifier's ``class_weight``)."""
        return None

    def _score_outputs(self, y, outputs: np.ndarray, sample_weight) -> float:
        """The score (accuracy, R^2) of network outputs against ``y``."""
        raise NotImplementedError

    # ---------------------------------------------------------------------- fit
    def fit(self, X, y, sample_weight=None):
        """Fit the network to ``X`` and ``y``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Class labels or a multilabel indicator matrix (classifier), targets (regressor).
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self : object
            The fitted estimator.
        """
        self._validate_params()
        return self._fit(X, y, sample_weight=sample_weight, incremental=False)

    def _score_fitted(self, X, y, sample_weight) -> float:
        """The score of the current weights on validated data (``early_stopping``); NaN when
        the outputs are not finite, as in scikit-learn."""
        outputs = self._model.predict(X, batch_size=max(1, min(X.shape[0], 4096)))
        if not np.isfinite(outputs).all():
            return np.nan
        return self._score_outputs(y, outputs, sample_weight)

    def _fit(self, X, y, sample_weight=None, incremental: bool = False):
        hidden = self._hidden_sizes()
        first_pass = not hasattr(self, "coefs_") or (not self.warm_start and not incremental)
        X, Y = self._validate_input(X, y, incremental, reset=first_pass)
        dtype = np.dtype(self.dtype) if self.dtype is not None else X.dtype
        X = _dense(X, dtype)
        Y = np.ascontiguousarray(Y, dtype=dtype)
        if Y.ndim == 1:
            Y = Y.reshape(-1, 1)
        weight = None
        if sample_weight is not None:
            weight = _check_sample_weight(sample_weight, X, dtype=np.float64,
                                          ensure_non_negative=True)
        extra = self._extra_sample_weight(Y)
        if extra is not None:
            weight = extra if weight is None else weight * extra
        units = [X.shape[1]] + hidden + [Y.shape[1]]
        random_state = check_random_state(self.random_state)
        if first_pass:
            self._initialize(Y, units, dtype, random_state)
        else:
            self._check_weights(units)
        validation = None
        if self.solver != "lbfgs":  # the split draws from random_state before the network
            X, Y, weight, validation = _stochastic.split(self, X, Y, weight, random_state,
                                                         incremental)
        model = self._network(units, dtype, random_state)
        if not incremental or not hasattr(self, "_rate"):
            model.compile(optimizer=self._optimizer(), loss=self._loss_name())
        with self._threads():
            if self.solver == "lbfgs":
                _lbfgs.fit(self, model, X, Y, weight)
            else:
                _stochastic.fit(self, model, X, Y, weight, validation, incremental)
        if not all(np.isfinite(w).all() for w in self._fitted_arrays()):
            raise ValueError("fit: the solver produced non-finite weights; scale the inputs "
                             "(e.g. with StandardScaler) or lower learning_rate_init")
        return self

    def _fitted_arrays(self) -> List[np.ndarray]:
        """Every fitted weight: ``coefs_``, ``intercepts_`` and the normalization arrays."""
        arrays = list(self.coefs_) + list(self.intercepts_)
        for params in getattr(self, "batch_norm_params_", None) or []:
            arrays += [np.asarray(params[key]) for key in BATCH_NORM_KEYS]
        return arrays

    def _hidden_sizes(self) -> List[int]:
        sizes = self.hidden_layer_sizes
        sizes = list(sizes) if hasattr(sizes, "__iter__") else [sizes]
        if any(not isinstance(s, Integral) or isinstance(s, bool) or s <= 0 for s in sizes):
            raise ValueError(f"hidden_layer_sizes: expected positive integers, got "
                             f"{self.hidden_layer_sizes!r}")
        return [int(s) for s in sizes]

    def _initialize(self, Y: np.ndarray, units: List[int], dtype, random_state) -> None:
        """The attributes of a first fit, and scikit-learn's initial weights: Glorot-uniform
        for weights and biases alike (bound ``sqrt(6 / (fan_in + fan_out))``, ``sqrt(2 /
        ...)`` for logistic), drawn from ``random_state`` in its order, so that the same
        ``random_state`` starts from the same weights as scikit-learn."""
        self.n_iter_ = 0
        self.t_ = 0
        self.n_outputs_ = Y.shape[1]
        self.n_layers_ = len(units)
        self.out_activation_ = self._output_activation(Y)
        factor = 2.0 if self.activation == "logistic" else 6.0
        self.coefs_, self.intercepts_ = [], []
        for fan_in, fan_out in zip(units[:-1], units[1:]):
            bound = np.sqrt(factor / (fan_in + fan_out))
            self.coefs_.append(random_state.uniform(-bound, bound, (fan_in, fan_out))
                               .astype(dtype, copy=False))
            self.intercepts_.append(random_state.uniform(-bound, bound, fan_out)
                                    .astype(dtype, copy=False))
        self._initialize_batch_norm(units, dtype)
        self._model = None
        self._reset_stochastic_state()

    def _initialize_batch_norm(self, units: List[int], dtype) -> None:
        """``batch_norm_params_`` of a first fit (Keras' initial values: gamma 1, beta 0,
        moving mean 0, moving variance 1; nothing is drawn from ``random_state``), or no such
        attribute without ``batch_norm``."""
        if not self.batch_norm:
            if hasattr(self, "batch_norm_params_"):
                del self.batch_norm_params_
            return
        self.batch_norm_params_ = [
            {"gamma": np.ones(width, dtype=dtype), "beta": np.zeros(width, dtype=dtype),
             "moving_mean": np.zeros(width, dtype=dtype),
             "moving_variance": np.ones(width, dtype=dtype)}
            for width in units[1:-1]]

    def _reset_stochastic_state(self) -> None:
        if hasattr(self, "_rate"):
            del self._rate
        if self.solver == "lbfgs":
            return
        self.loss_curve_ = []
        self._no_improvement_count = 0
        if self.early_stopping:
            self._keep_best_weights()
            self.validation_scores_ = []
            self.best_validation_score_ = -np.inf
            self.best_loss_ = None
        else:
            self.best_loss_ = np.inf
            self.validation_scores_ = None
            self.best_validation_score_ = None

    def _keep_best_weights(self) -> None:
        """Copy the current weights as the best ones so far (``early_stopping``)."""
        self._best_coefs = [c.copy() for c in self.coefs_]
        self._best_intercepts = [b.copy() for b in self.intercepts_]
        self._best_batch_norm_params = _copy_batch_norm(
            getattr(self, "batch_norm_params_", None))

    def _restore_best_weights(self) -> None:
        """Back to the weights :meth:`_keep_best_weights` kept (the end of ``early_stopping``)."""
        self.coefs_ = self._best_coefs
        self.intercepts_ = self._best_intercepts
        best = getattr(self, "_best_batch_norm_params", None)
        if best is not None and getattr(self, "batch_norm_params_", None) is not None:
            self.batch_norm_params_ = best

    def _check_weights(self, units: List[int]) -> None:
        """Before training from existing ``coefs_`` / ``intercepts_`` (a warm start, or
        weights the user set): they must fit the layer sizes."""
        expected = [(a, b) for a, b in zip(units[:-1], units[1:])]
        got = [tuple(np.shape(c)) for c in self.coefs_]
        if got != expected:
            raise ValueError(f"coefs_: expected arrays of shapes {expected} (features, "
                             f"hidden_layer_sizes, outputs), got {got}")
        got = [tuple(np.shape(b)) for b in getattr(self, "intercepts_", [])]
        if got != [(b,) for _, b in expected]:
            raise ValueError(f"intercepts_: expected arrays of shapes "
                             f"{[(b,) for _, b in expected]}, got {got}")
        self._check_batch_norm(units)
        self.n_layers_ = len(units)
        self.n_outputs_ = units[-1]
        if not hasattr(self, "n_iter_"):  # weights set by hand on a new estimator
            self.n_iter_, self.t_ = 0, 0
        if not hasattr(self, "loss_curve_") and self.solver != "lbfgs":
            self._reset_stochastic_state()

    def _check_batch_norm(self, units: List[int]) -> None:
        """Before training from existing weights: with ``batch_norm``, ``batch_norm_params_``
        must hold one entry per hidden layer (new ones when there are none: the previous fit,
        or the weights set by hand, had no normalization); without it, they are dropped."""
        if not self.batch_norm or getattr(self, "batch_norm_params_", None) is None:
            self._initialize_batch_norm(units, np.asarray(self.coefs_[0]).dtype)
            return
        widths = units[1:-1]
        params = self.batch_norm_params_
        if not isinstance(params, (list, tuple)) or len(params) != len(widths):
            raise ValueError(f"batch_norm_params_: expected a list of {len(widths)} dict(s), "
                             f"one per hidden layer, got {_describe(params)}")
        for index, (entry, width) in enumerate(zip(params, widths)):
            if not isinstance(entry, dict) or set(entry) != set(BATCH_NORM_KEYS):
                raise ValueError(f"batch_norm_params_[{index}]: expected a dict of "
                                 f"{list(BATCH_NORM_KEYS)}, got {_describe(entry)}")
            for key in BATCH_NORM_KEYS:
                shape = tuple(np.shape(entry[key]))
                if shape != (width,):
                    raise ValueError(f"batch_norm_params_[{index}][{key!r}]: expected shape "
                                     f"{(width,)} (the width of hidden layer {index}), got "
                                     f"{shape}")
            if np.any(np.asarray(entry["moving_variance"]) < 0):
                raise ValueError(f"batch_norm_params_[{index}]['moving_variance']: expected "
                                 f"values >= 0")

    # ------------------------------------------------------------------ network
    def _network(self, units: List[int], dtype, random_state,
                 batch_norm: Optional[bool] = None) -> Sequential:
        """The model holding ``coefs_`` / ``intercepts_`` (and ``batch_norm_params_``): the one
        of the last fit when it has the same structure, else a new one (its seed, for shuffling
        and dropout, is drawn from ``random_state`` after the initial weights).

        ``batch_norm`` (default: the parameter) puts ``BatchNormalization`` and ``Activation``
        layers after each hidden ``Dense``, which is then linear."""
        batch_norm = bool(self.batch_norm if batch_norm is None else batch_norm)
        key = (tuple(units), np.dtype(dtype).name, self.activation, self.out_activation_,
               float(self.dropout), batch_norm, self.backend)
        model = getattr(self, "_model", None)
        if model is None or getattr(self, "_model_key", None) != key:
            layers = []
            for index, width in enumerate(units[1:]):
                last = index == len(units) - 2
                input_dim = units[0] if index == 0 else None
                if last:
                    layers.append(Dense(width, activation=OUTPUT_ACTIVATIONS[
                        self.out_activation_], input_dim=input_dim))
                    continue
                activation = ACTIVATIONS[self.activation]
                if batch_norm:
                    layers += [Dense(width, activation="linear", input_dim=input_dim),
                               BatchNormalization(momentum=BATCH_NORM_MOMENTUM,
                                                  epsilon=BATCH_NORM_EPSILON),
                               Activation(activation)]
                else:
                    layers.append(Dense(width, activation=activation, input_dim=input_dim))
                if self.dropout > 0:
                    layers.append(Dropout(self.dropout))
            seed = int(random_state.randint(np.iinfo(np.int32).max))
            model = Sequential(layers, seed=seed, dtype=np.dtype(dtype).name,
                               backend=self.backend)
            model.build(units[0])
            self._model, self._model_key = model, key
            if hasattr(self, "_rate"):
                del self._rate
        self._push_weights()
        return model

    def _dense_layers(self) -> List[Dense]:
        return [layer for layer in self._model.layers if isinstance(layer, Dense)]

    def _batch_norm_layers(self) -> List[BatchNormalization]:
        return [layer for layer in self._model.layers if isinstance(layer, BatchNormalization)]

    def _push_weights(self) -> None:
        """Copy ``coefs_`` / ``intercepts_`` (and ``batch_norm_params_``) into the model's
        layers (they are the truth: a user may have set them)."""
        for layer, coef, intercept in zip(self._dense_layers(), self.coefs_, self.intercepts_):
            layer.set_weights([np.asarray(coef), np.asarray(intercept)])
        normalizations = self._batch_norm_layers()
        if normalizations:
            for layer, params in zip(normalizations, self.batch_norm_params_):
                layer.set_weights([np.asarray(params[key]) for key in BATCH_NORM_KEYS])

    def _pull_weights(self) -> None:
        """``coefs_`` / ``intercepts_`` (and ``batch_norm_params_``) from the model's layers
        (new arrays)."""
        dense = [layer.get_weights() for layer in self._dense_layers()]
        self.coefs_ = [kernel for kernel, _ in dense]
        self.intercepts_ = [bias for _, bias in dense]
        normalizations = self._batch_norm_layers()
        if normalizations:
            self.batch_norm_params_ = [dict(zip(BATCH_NORM_KEYS, layer.get_weights()))
                                       for layer in normalizations]

    def _set_l2(self, model: Sequential, coefficient: float) -> None:
        """Give every layer's kernel the L2 coefficient (recompiling, optimizer state kept,
        when it changed)."""
        layers = self._dense_layers()
        current = [getattr(layer.kernel_regularizer, "l2", 0.0) for layer in layers]
        if all(value == coefficient for value in current):
            return
        for layer in layers:
            layer.kernel_regularizer = L2(coefficient) if coefficient > 0 else None
        model.compile(optimizer=model.optimizer, loss=model.loss)

    def _penalty(self, coefficient: float) -> float:
        """The L2 term of the loss at the current weights."""
        return coefficient * float(sum(np.dot(c.ravel(), c.ravel()) for c in self.coefs_))

    def _optimizer(self):
        if self.solver == "adam":
            return Adam(learning_rate=self.learning_rate_init, beta_1=self.beta_1,
                        beta_2=self.beta_2, epsilon=self.epsilon)
        if self.solver == "sgd":
            return SGD(learning_rate=self.learning_rate_init, momentum=self.momentum,
                       nesterov=bool(self.nesterovs_momentum and self.momentum > 0))
        return SGD(learning_rate=self.learning_rate_init)  # lbfgs: compile needs one

    @contextlib.contextmanager
    def _threads(self):
        """``n_threads`` for the duration of a call (the previous count restored)."""
        if self.n_threads is None:
            yield
            return
        previous = _threading.get_num_threads()
        _threading.set_num_threads(self.n_threads)
        try:
            yield
        finally:
            _threading.set_num_threads(previous)

    def _train_weight(self, weight: Optional[np.ndarray], n: int, dtype):
        """The per-sample weights mlp trains with, and the factor ``n / sum(weight)`` the L2
        coefficient takes (see the module notes)."""
        factor = self._output_factor()
        if weight is None:
            return (None if factor == 1.0 else np.full(n, factor, dtype=dtype)), 1.0
        scale = n / float(weight.sum())  # > 0: validated non-negative, not all zero
        return (weight * (scale * factor)).astype(dtype), scale

    # ------------------------------------------------------------------ predict
    def _forward(self, X) -> np.ndarray:
        """The network's outputs for ``X`` (validated), from ``coefs_`` / ``intercepts_``."""
        check_is_fitted(self, "coefs_")
        X = validate_data(self, X, accept_sparse=["csr", "csc"], reset=False,
                          dtype=(np.float64, np.float32))
        units = [self.coefs_[0].shape[0]] + [c.shape[1] for c in self.coefs_]
        dtype = np.dtype(self.dtype) if self.dtype is not None else self.coefs_[0].dtype
        # the structure of the fitted weights: normalization where they hold its parameters
        self._network(units, dtype, check_random_state(self.random_state),
                      batch_norm=getattr(self, "batch_norm_params_", None) is not None)
        with self._threads():
            return self._model.predict(_dense(X, dtype), batch_size=max(1, min(
                X.shape[0], 4096)))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


def _dense(X, dtype) -> np.ndarray:
    """A C-contiguous array of ``dtype``; sparse input is densified (the kernels compute on
    dense arrays)."""
    if sp.issparse(X):
        X = X.toarray()
    return np.ascontiguousarray(X, dtype=dtype)


def _copy_batch_norm(params):
    """A deep copy of ``batch_norm_params_`` (``None`` stays ``None``)."""
    if params is None:
        return None
    return [{key: np.array(value) for key, value in entry.items()} for entry in params]


def _describe(value) -> str:
    """A short description of a wrong value for an error message."""
    if isinstance(value, (list, tuple)):
        return f"a {type(value).__name__} of {len(value)}"
    if isinstance(value, dict):
        return f"a dict of {sorted(map(str, value))}"
    return type(value).__name__


def store_parameters(estimator, arguments: dict) -> None:
    """Set each constructor argument as an attribute of the same name, unchanged (scikit-learn
    validates them in ``fit``, not in ``__init__``)."""
    for name, value in arguments.items():
        if name not in ("self", "__class__"):
            setattr(estimator, name, value)


def has_partial_fit(estimator) -> bool:
    """Whether ``partial_fit`` exists: only with the stochastic solvers, as in scikit-learn."""
    if estimator.solver == "lbfgs":
        raise AttributeError(f"partial_fit: only the stochastic solvers ('sgd', 'adam') have "
                             f"it, got solver={estimator.solver!r}")
    return True
