"""Finite-difference checks of every backward operation, in float64.

Each analytic gradient a backend returns is compared with central differences of the matching
forward operation of the *same* backend, so a backend is checked against calculus rather than
against another backend. Inputs are drawn away from the kinks (0 for relu-like activations and
absolute errors, ``delta`` for Huber) where the derivative does not exist.

The forward values themselves are pinned by the ``*_matches_definition`` tests, which evaluate the
formulas of ``base.py`` one element at a time with the :mod:`math` module.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np
import pytest

from mlp.backends.base import (
    ACTIVATIONS,
    ACTIVATIONS_NEEDING_PREACTIVATION,
    DEFAULT_ALPHA,
    LOSSES,
    PROBABILITY_EPSILON,
)

STEP = 1e-6
"""Central-difference step."""
RTOL = 1e-6
ATOL = 1e-8

CATEGORICAL_LOSSES = ("categorical_crossentropy", "categorical_crossentropy_from_logits")
PROBABILITY_LOSSES = ("binary_crossentropy", "categorical_crossentropy")
REGRESSION_LOSSES = ("mean_squared_error", "mean_absolute_error", "huber")

ACTIVATION_CASES = [(name, None) for name in ACTIVATIONS] + [("leaky_relu", 0.05), ("elu", 0.5)]
"""Every activation with its default ``alpha``, plus the two that use ``alpha`` with another one."""

LOSS_CASES = (
    [(name, "dense", 1.0) for name in LOSSES if name not in CATEGORICAL_LOSSES]
    + [("huber", "dense", 0.5)]
    + [(name, kind, 1.0) for name in CATEGORICAL_LOSSES for kind in ("one_hot", "integer", "soft")]
)
"""``(loss, target kind, delta)``. Categorical losses take one-hot, integer and soft targets; the
soft rows do not sum to 1, which the formulas of ``base.py`` allow."""


def numeric_gradient(f: Callable[[np.ndarray], float], x: np.ndarray) -> np.ndarray:
    """Central-difference gradient of the scalar function ``f`` at ``x`` (float64)."""
    x = np.array(x, dtype=np.float64)
    grad = np.empty_like(x)
    for index in np.ndindex(x.shape):
        saved = x[index]
        x[index] = saved + STEP
        above = f(x)
        x[index] = saved - STEP
        below = f(x)
        x[index] = saved
        grad[index] = (above - below) / (2 * STEP)
    return grad


def assert_gradient(analytic, numeric, what: str) -> None:
    np.testing.assert_allclose(np.asarray(analytic), numeric, rtol=RTOL, atol=ATOL, err_msg=what)


def signed_magnitudes(rng: np.random.Generator, shape, low: float, high: float) -> np.ndarray:
    """Random numbers whose absolute value is uniform in ``[low, high]``, with random signs."""
    return rng.uniform(low, high, shape) * rng.choice([-1.0, 1.0], shape)


# ------------------------------------------------------------------ activations
def scalar_activation(name: str, alpha: float) -> Callable[[float], float]:
    """The elementwise activation ``name`` as a :mod:`math` one-liner (softmax excluded)."""
    return {
        "linear": lambda z: z,
        "relu": lambda z: max(z, 0.0),
        "leaky_relu": lambda z: z if z > 0 else alpha * z,
        "elu": lambda z: z if z > 0 else alpha * (math.exp(z) - 1),
        "sigmoid": lambda z: 1 / (1 + math.exp(-z)),
        "tanh": math.tanh,
        "gelu": lambda z: 0.5 * z * (1 + math.erf(z / math.sqrt(2))),
        "swish": lambda z: z / (1 + math.exp(-z)),
    }[name]


def expected_activation(z: np.ndarray, name: str, alpha) -> np.ndarray:
    if name == "softmax":
        return np.array([[math.exp(v) / sum(math.exp(u) for u in row) for v in row] for row in z])
    f = scalar_activation(name, DEFAULT_ALPHA.get(name, 0.0) if alpha is None else alpha)
    return np.vectorize(f)(z)


@pytest.mark.parametrize("activation, alpha", ACTIVATION_CASES)
def test_activation_forward_matches_definition(backend, activation, alpha):
    z = signed_magnitudes(np.random.default_rng(1), (3, 4), 0.1, 3.0)
    y = backend.activation_forward(backend.asarray(z), activation, alpha)
    np.testing.assert_allclose(backend.to_numpy(y), expected_activation(z, activation, alpha),
                               rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("activation, alpha", ACTIVATION_CASES)
def test_activation_backward_matches_finite_differences(backend, activation, alpha):
    rng = np.random.default_rng(2)
    z = signed_magnitudes(rng, (4, 5), 0.1, 3.0)
    dy = rng.standard_normal((4, 5))

    def forward(z_):
        return backend.to_numpy(backend.activation_forward(backend.asarray(z_), activation, alpha))

    y = backend.asarray(forward(z))
    z_arg = backend.asarray(z) if activation in ACTIVATIONS_NEEDING_PREACTIVATION else None
    dz = backend.activation_backward(backend.asarray(dy), y, z_arg, activation, alpha)
    numeric = numeric_gradient(lambda z_: float(np.sum(dy * forward(z_))), z)
    assert_gradient(backend.to_numpy(dz), numeric, f"d {activation} / dz")


# ----------------------------------------------------------------------- losses
def loss_inputs(name: str, target_kind: str, delta: float, rng: np.random.Generator,
                shape=(5, 3)):
    """``(pred, target)`` for ``name``, with ``pred`` inside the loss' smooth domain."""
    if name in REGRESSION_LOSSES:
        target = rng.standard_normal(shape)
        inside = rng.uniform(0.1, 0.9, shape)
        outside = rng.uniform(1.1, 3.0, shape)
        error = delta * np.where(rng.random(shape) < 0.5, inside, outside)
        return target + error * rng.choice([-1.0, 1.0], shape), target
    if name in PROBABILITY_LOSSES:
        pred = rng.uniform(0.05, 0.95, shape)
    else:
        pred = 3 * rng.standard_normal(shape)
    classes = rng.integers(0, shape[1], shape[0])
    if target_kind == "integer":
        return pred, classes
    if target_kind == "one_hot":
        return pred, np.eye(shape[1])[classes]
    return pred, rng.uniform(0.0, 1.0, shape)  # "dense" or "soft": any targets in [0, 1]


def scalar_loss_terms(name: str, p: float, t: float, delta: float) -> float:
    """The per-element term of ``name`` whose mean (or, for categorical losses, sum) is ``l_i``."""
    e = p - t
    clipped = min(max(p, PROBABILITY_EPSILON), 1 - PROBABILITY_EPSILON)
    return {
        "mean_squared_error": lambda: e * e,
        "mean_absolute_error": lambda: abs(e),
        "huber": lambda: 0.5 * e * e if abs(e) <= delta else delta * (abs(e) - 0.5 * delta),
        "binary_crossentropy": lambda: -(t * math.log(clipped) + (1 - t) * math.log(1 - clipped)),
        "binary_crossentropy_from_logits": lambda: -(t * math.log(1 / (1 + math.exp(-p)))
                                                     + (1 - t) * math.log(1 / (1 + math.exp(p)))),
        "categorical_crossentropy": lambda: -t * math.log(clipped),
    }[name]()


def expected_loss_value(name: str, pred, target, sample_weight, delta: float) -> float:
    """``sum_i w_i l_i / n_rows`` evaluated row by row with :mod:`math`."""
    target = np.asarray(target, dtype=np.float64)
    if target.ndim == 1:
        target = np.eye(pred.shape[1])[target.astype(int)]
    weights = np.ones(pred.shape[0]) if sample_weight is None else sample_weight
    total = 0.0
    for w, p_row, t_row in zip(weights, pred, target):
        if name == "categorical_crossentropy_from_logits":
            log_norm = math.log(sum(math.exp(z) for z in p_row))
            per_sample = sum(t * (log_norm - z) for z, t in zip(p_row, t_row))
        else:
            terms = [scalar_loss_terms(name, p, t, delta) for p, t in zip(p_row, t_row)]
            per_sample = sum(terms) if name in CATEGORICAL_LOSSES else sum(terms) / len(terms)
        total += w * per_sample
    return total / pred.shape[0]


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("name, target_kind, delta", LOSS_CASES)
def test_loss_value_matches_definition(backend, name, target_kind, delta, weighted):
    rng = np.random.default_rng(3)
    pred, target = loss_inputs(name, target_kind, delta, rng)
    weight = rng.uniform(0.0, 2.0, pred.shape[0]) if weighted else None
    value, _ = backend.loss(name, backend.asarray(pred), backend.asarray(target),
                            None if weight is None else backend.asarray(weight), delta=delta)
    assert isinstance(value, float)
    assert value == pytest.approx(expected_loss_value(name, pred, target, weight, delta),
                                  rel=1e-12)


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("name, target_kind, delta", LOSS_CASES)
def test_loss_gradient_matches_finite_differences(backend, name, target_kind, delta, weighted):
    rng = np.random.default_rng(4)
    pred, target = loss_inputs(name, target_kind, delta, rng)
    weight = backend.asarray(rng.uniform(0.0, 2.0, pred.shape[0])) if weighted else None
    target = backend.asarray(target)

    def value(pred_):
        return backend.loss(name, backend.asarray(pred_), target, weight, delta=delta)[0]

    _, grad = backend.loss(name, backend.asarray(pred), target, weight, delta=delta)
    assert_gradient(backend.to_numpy(grad), numeric_gradient(value, pred), f"d {name} / d pred")


@pytest.mark.parametrize("name", CATEGORICAL_LOSSES)
def test_integer_targets_equal_one_hot_targets(backend, name):
    rng = np.random.default_rng(5)
    pred, classes = loss_inputs(name, "integer", 1.0, rng)
    pred = backend.asarray(pred)
    weight = backend.asarray(rng.uniform(0.5, 2.0, len(classes)))
    from_integers = backend.loss(name, pred, backend.asarray(classes), weight)
    from_one_hot = backend.loss(name, pred, backend.asarray(np.eye(pred.shape[1])[classes]), weight)
    assert from_integers[0] == pytest.approx(from_one_hot[0], rel=1e-14)
    np.testing.assert_allclose(backend.to_numpy(from_integers[1]),
                               backend.to_numpy(from_one_hot[1]), rtol=1e-14)


# ------------------------------------------------------------------------ dense
def dense_inputs(rng: np.random.Generator, batch=3, inputs=4, units=5):
    """``(x, w, b)`` whose pre-activations all lie at least 0.05 away from the kink at 0."""
    while True:
        x = rng.standard_normal((batch, inputs))
        w = rng.standard_normal((inputs, units))
        b = rng.standard_normal(units)
        if np.abs(x @ w + b).min() > 0.05 and np.abs(x @ w).min() > 0.05:
            return x, w, b


@pytest.mark.parametrize("with_bias", [True, False], ids=["bias", "no_bias"])
@pytest.mark.parametrize("activation, alpha", ACTIVATION_CASES)
def test_dense_backward_matches_finite_differences(backend, activation, alpha, with_bias):
    rng = np.random.default_rng(6)
    x, w, b = dense_inputs(rng)
    b = b if with_bias else None
    dy = rng.standard_normal((x.shape[0], w.shape[1]))

    def objective(x_, w_, b_):
        y_ = backend.dense_forward(backend.asarray(x_), backend.asarray(w_),
                                   None if b_ is None else backend.asarray(b_), activation, alpha)
        return float(np.sum(dy * backend.to_numpy(y_)))

    preact = backend.empty(dy.shape, np.float64)
    y = backend.dense_forward(backend.asarray(x), backend.asarray(w),
                              None if b is None else backend.asarray(b), activation, alpha,
                              preact=preact)
    expected_z = x @ w + (0 if b is None else b)
    np.testing.assert_allclose(backend.to_numpy(preact), expected_z, rtol=1e-12, atol=1e-14)
    dw, db, dx = backend.dense_backward(backend.asarray(x), backend.asarray(w), y,
                                        backend.asarray(dy), activation, alpha, preact=preact,
                                        need_db=with_bias)

    assert_gradient(backend.to_numpy(dx), numeric_gradient(lambda x_: objective(x_, w, b), x),
                    f"dense {activation}: dx")
    assert_gradient(backend.to_numpy(dw), numeric_gradient(lambda w_: objective(x, w_, b), w),
                    f"dense {activation}: dw")
    if with_bias:
        assert_gradient(backend.to_numpy(db), numeric_gradient(lambda b_: objective(x, w, b_), b),
                        f"dense {activation}: db")
    else:
        assert db is None


def test_dense_backward_without_dx_returns_none_and_same_dw(backend):
    x, w, b = dense_inputs(np.random.default_rng(7))
    dy = backend.asarray(np.random.default_rng(8).standard_normal((x.shape[0], w.shape[1])))
    x, w, b = backend.asarray(x), backend.asarray(w), backend.asarray(b)
    y = backend.dense_forward(x, w, b, "tanh")
    full = backend.dense_backward(x, w, y, dy, "tanh")
    partial = backend.dense_backward(x, w, y, dy, "tanh", need_dx=False)
    assert partial[2] is None
    np.testing.assert_allclose(backend.to_numpy(partial[0]), backend.to_numpy(full[0]),
                               rtol=1e-14)
    np.testing.assert_allclose(backend.to_numpy(partial[1]), backend.to_numpy(full[1]),
                               rtol=1e-14)


# ---------------------------------------------------------- dropout and penalty
def test_dropout_backward_is_the_gradient_of_dropout_forward(backend):
    rng = np.random.default_rng(9)
    x = rng.standard_normal((4, 6))
    dy = rng.standard_normal((4, 6))
    rate, seed, step, layer = 0.4, 3, 7, 2

    def objective(x_):
        out = backend.dropout_forward(backend.asarray(x_), rate, seed, step, layer)
        return float(np.sum(dy * backend.to_numpy(out)))

    dx = backend.to_numpy(backend.dropout_backward(backend.asarray(dy), rate, seed, step, layer))
    numeric = numeric_gradient(objective, x)
    assert_gradient(dx, numeric, "dropout dx")
    assert 0 < np.count_nonzero(dx == 0) < dx.size, "rate 0.4 should drop some, not all"


@pytest.mark.parametrize("l1, l2", [(0.1, 0.0), (0.0, 0.2), (0.1, 0.2)])
def test_penalty_gradient_matches_finite_differences(backend, l1, l2):
    param = signed_magnitudes(np.random.default_rng(10), (7,), 0.1, 2.0)
    grad = backend.zeros(param.shape, np.float64)
    backend.add_penalty_gradient(grad, backend.asarray(param), l1, l2)
    numeric = numeric_gradient(lambda p: backend.penalty(backend.asarray(p), l1, l2), param)
    assert_gradient(backend.to_numpy(grad), numeric, f"penalty l1={l1} l2={l2}")


# ---------------------------------------------------------------- normalization
def norm_case(seed: int, rows: int = 5, cols: int = 4):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, cols)) * rng.uniform(0.5, 2.0, cols) + 1.0
    gamma = rng.uniform(0.5, 1.5, cols)
    beta = rng.standard_normal(cols)
    return x, gamma, beta, rng.standard_normal((rows, cols))


@pytest.mark.parametrize("affine", [True, False], ids=["gamma_beta", "plain"])
@pytest.mark.parametrize("training", [True, False], ids=["training", "inference"])
def test_batch_norm_backward_matches_finite_differences(backend, training, affine):
    """Through the batch statistics while training; through fixed moving statistics at
    inference (and so for a frozen layer)."""
    x, gamma, beta, dy = norm_case(11)
    gamma, beta = (gamma, beta) if affine else (None, None)
    moving_mean, moving_variance = np.array([0.3, -0.2, 0.1, 0.5]), np.array([0.5, 2, 1, 3.0])

    def objective(x_, gamma_, beta_):
        y_ = backend.batch_norm_forward(x_, gamma_, beta_, moving_mean.copy(),
                                        moving_variance.copy(), 0.9, 1e-3, training)
        return float(np.sum(dy * backend.to_numpy(y_)))

    xhat, inv = np.empty_like(x), np.empty(x.shape[1])
    backend.batch_norm_forward(x, gamma, beta, moving_mean.copy(), moving_variance.copy(), 0.9,
                               1e-3, training, xhat=xhat, inv_std=inv)
    dgamma, dbeta, dx = backend.batch_norm_backward(dy, xhat, gamma, inv, training)
    what = f"batch_norm {'training' if training else 'inference'}"
    assert_gradient(dx, numeric_gradient(lambda x_: objective(x_, gamma, beta), x), what + " dx")
    ones, zeros = np.ones(x.shape[1]), np.zeros(x.shape[1])
    assert_gradient(dgamma, numeric_gradient(lambda g_: objective(x, g_, beta), ones
                                             if gamma is None else gamma), what + " dgamma")
    assert_gradient(dbeta, numeric_gradient(lambda b_: objective(x, gamma, b_), zeros
                                            if beta is None else beta), what + " dbeta")


@pytest.mark.parametrize("affine", [True, False], ids=["gamma_beta", "plain"])
def test_layer_norm_backward_matches_finite_differences(backend, affine):
    x, gamma, beta, dy = norm_case(12)
    gamma, beta = (gamma, beta) if affine else (None, None)

    def objective(x_, gamma_, beta_):
        return float(np.sum(dy * backend.to_numpy(
            backend.layer_norm_forward(x_, gamma_, beta_, 1e-3))))

    xhat, inv = np.empty_like(x), np.empty(x.shape[0])
    backend.layer_norm_forward(x, gamma, beta, 1e-3, xhat=xhat, inv_std=inv)
    dgamma, dbeta, dx = backend.layer_norm_backward(dy, xhat, gamma, inv)
    assert_gradient(dx, numeric_gradient(lambda x_: objective(x_, gamma, beta), x),
                    "layer_norm dx")
    ones, zeros = np.ones(x.shape[1]), np.zeros(x.shape[1])
    assert_gradient(dgamma, numeric_gradient(lambda g_: objective(x, g_, beta), ones
                                             if gamma is None else gamma), "layer_norm dgamma")
    assert_gradient(dbeta, numeric_gradient(lambda b_: objective(x, gamma, b_), zeros
                                            if beta is None else beta), "layer_norm dbeta")


def test_batch_norm_forward_matches_definition(backend):
    """Keras' formulas, written out: biased batch variance, epsilon inside the square root,
    ``moving = moving * momentum + batch * (1 - momentum)``; moving statistics at inference."""
    x, gamma, beta, _ = norm_case(13, rows=6, cols=3)
    mm, mv = np.array([0.1, 0.2, 0.3]), np.array([1.0, 2.0, 0.5])
    mean, var = x.mean(axis=0), ((x - x.mean(axis=0)) ** 2).mean(axis=0)
    y = backend.batch_norm_forward(x, gamma, beta, mm, mv, 0.9, 1e-3, True)
    np.testing.assert_allclose(y, gamma * (x - mean) / np.sqrt(var + 1e-3) + beta, rtol=1e-12)
    np.testing.assert_allclose(mm, np.array([0.1, 0.2, 0.3]) * 0.9 + mean * 0.1, rtol=1e-14)
    np.testing.assert_allclose(mv, np.array([1.0, 2.0, 0.5]) * 0.9 + var * 0.1, rtol=1e-14)
    saved = mm.copy(), mv.copy()
    y = backend.batch_norm_forward(x, gamma, beta, mm, mv, 0.9, 1e-3, False)
    np.testing.assert_allclose(y, gamma * (x - saved[0]) / np.sqrt(saved[1] + 1e-3) + beta,
                               rtol=1e-12)
    assert np.array_equal(mm, saved[0]) and np.array_equal(mv, saved[1])
    rows = backend.layer_norm_forward(x, gamma, beta, 1e-3)
    mean, var = x.mean(axis=1, keepdims=True), x.var(axis=1, keepdims=True)
    np.testing.assert_allclose(rows, gamma * (x - mean) / np.sqrt(var + 1e-3) + beta,
                               rtol=1e-12)
