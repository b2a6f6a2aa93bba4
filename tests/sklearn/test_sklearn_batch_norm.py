"""``batch_norm=True`` of mlp.sklearn's estimators: a ``BatchNormalization`` after each hidden
``Dense``, its parameters in ``batch_norm_params_``."""
from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn.base import clone  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

import mlp  # noqa: E402
from mlp.datasets import load_digits  # noqa: E402
from mlp.sklearn import MLPClassifier, MLPRegressor  # noqa: E402

KEYS = ("gamma", "beta", "moving_mean", "moving_variance")
EPSILON = 1e-3  # the layers' variance epsilon (Keras' default)


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return train_test_split(X / 16.0, y, test_size=0.3, random_state=0, stratify=y)


@pytest.fixture(scope="module")
def small(digits):
    X, _, y, _ = digits
    return X[:300], y[:300]


def quiet(estimator, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(*args, **kwargs)


def inference(estimator, X) -> np.ndarray:
    """The classifier's outputs computed here with NumPy from ``coefs_``, ``intercepts_`` and
    the *moving* statistics of ``batch_norm_params_`` (relu hidden layers, softmax out)."""
    hidden = X
    for coef, intercept, params in zip(estimator.coefs_[:-1], estimator.intercepts_[:-1],
                                       estimator.batch_norm_params_):
        z = hidden @ coef + intercept
        z = (params["gamma"] * (z - params["moving_mean"])
             / np.sqrt(params["moving_variance"] + EPSILON) + params["beta"])
        hidden = np.maximum(z, 0.0)
    z = hidden @ estimator.coefs_[-1] + estimator.intercepts_[-1]
    z = np.exp(z - z.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def assert_same_batch_norm(first, second, **tolerance):
    assert len(first) == len(second)
    for a, b in zip(first, second):
        for key in KEYS:
            np.testing.assert_allclose(a[key], b[key], **tolerance)


# -------------------------------------------------------------------------- structure
def test_the_network_has_normalization_layers_only_with_batch_norm(small):
    X, y = small
    options = dict(hidden_layer_sizes=(16, 8), max_iter=5, random_state=0)
    plain = quiet(MLPClassifier(**options), X, y)
    normed = quiet(MLPClassifier(**options, batch_norm=True, dropout=0.2), X, y)
    assert [type(layer).__name__ for layer in plain._model.layers] == ["Dense"] * 3
    assert [type(layer).__name__ for layer in normed._model.layers] == [
        "Dense", "BatchNormalization", "Activation", "Dropout",
        "Dense", "BatchNormalization", "Activation", "Dropout", "Dense"]
    assert [layer.get_config()["activation"] for layer in normed._model.layers
            if type(layer).__name__ in ("Dense", "Activation")] == [
        "linear", "relu", "linear", "relu", "softmax"]
    assert not hasattr(plain, "batch_norm_params_")
    assert [{key: params[key].shape for key in KEYS} for params in normed.batch_norm_params_] \
        == [{key: (16,) for key in KEYS}, {key: (8,) for key in KEYS}]
    # the same initial weights (nothing extra drawn from random_state), different training
    assert not np.allclose(plain.coefs_[0], normed.coefs_[0])
    assert not np.allclose(plain.predict_proba(X), normed.predict_proba(X))
    assert [c.shape for c in normed.coefs_] == [c.shape for c in plain.coefs_]


def moving_after_one_epoch(z, start, key):
    """The moving mean / variance (momentum 0.9) after an unshuffled epoch of batches of 200
    rows of the pre-activations ``z``, from ``start``."""
    moving = start
    for rows in (slice(0, 200), slice(200, None)):
        statistic = z[rows].mean(0) if key == "moving_mean" else z[rows].var(0)
        moving = 0.9 * moving + 0.1 * statistic
    return moving


def test_the_first_weights_are_sklearns_initial_ones(small):
    X, y = small
    # an epoch with a tiny learning rate leaves the initial weights (almost) as they were
    options = dict(hidden_layer_sizes=(8,), random_state=3, solver="sgd",
                   learning_rate_init=1e-12, shuffle=False)
    plain = MLPClassifier(**options).partial_fit(X, y, classes=np.arange(10))
    normed = MLPClassifier(**options, batch_norm=True).partial_fit(X, y, classes=np.arange(10))
    for a, b in zip(plain.coefs_ + plain.intercepts_, normed.coefs_ + normed.intercepts_):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-9)
    params = normed.batch_norm_params_[0]
    np.testing.assert_allclose(params["gamma"], 1.0, rtol=0, atol=1e-9)
    np.testing.assert_allclose(params["beta"], 0.0, rtol=0, atol=1e-9)
    # the moving statistics moved two steps (momentum 0.9) towards the batches' statistics
    z = X @ normed.coefs_[0] + normed.intercepts_[0]
    for start, key in ((0.0, "moving_mean"), (1.0, "moving_variance")):
        np.testing.assert_allclose(params[key], moving_after_one_epoch(z, start, key),
                                   rtol=1e-6, atol=1e-9)


# -------------------------------------------------------------------------- training
def test_batch_norm_trains_digits_as_well_as_without(digits):
    X_train, X_test, y_train, y_test = digits
    options = dict(hidden_layer_sizes=(64,), max_iter=40, random_state=0)
    plain = quiet(MLPClassifier(**options), X_train, y_train)
    normed = quiet(MLPClassifier(**options, batch_norm=True), X_train, y_train)
    plain_score, normed_score = plain.score(X_test, y_test), normed.score(X_test, y_test)
    assert normed_score > 0.93
    assert normed_score >= plain_score - 0.02


def test_lbfgs_sets_the_moving_statistics_to_the_full_batch_ones(digits):
    X, _, y, _ = digits
    X, y = X[:500], y[:500]
    model = quiet(MLPClassifier(hidden_layer_sizes=(16,), solver="lbfgs", max_iter=60,
                                alpha=1e-4, batch_norm=True, random_state=0), X, y)
    z = X @ model.coefs_[0] + model.intercepts_[0]
    params = model.batch_norm_params_[0]
    np.testing.assert_allclose(params["moving_mean"], z.mean(0), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(params["moving_variance"], z.var(0), rtol=1e-9, atol=1e-12)
    # prediction on the training set is the function whose loss lbfgs minimised
    proba = model.predict_proba(X)
    log_loss = -np.mean(np.log(proba[np.arange(len(y)), y]))
    penalty = 1e-4 / (2 * len(y)) * sum(float((c ** 2).sum()) for c in model.coefs_)
    assert model.loss_ == pytest.approx(log_loss + penalty, rel=1e-9)
    assert model.score(X, y) > 0.95


def test_the_regressor_trains_with_batch_norm(digits):
    X, _, y, _ = digits
    target = y.astype(float)
    for solver in ("adam", "lbfgs"):
        model = quiet(MLPRegressor(hidden_layer_sizes=(32,), solver=solver, max_iter=100,
                                   batch_norm=True, random_state=0), X, target)
        assert model.score(X, target) > 0.8, solver
        assert isinstance(model._model.layers[1], mlp.BatchNormalization)


# -------------------------------------------------------------------------- predict
def test_predict_uses_the_moving_statistics(small):
    X, y = small
    model = quiet(MLPClassifier(hidden_layer_sizes=(16, 8), max_iter=20, random_state=0,
                                batch_norm=True), X, y)
    batch = model.predict_proba(X)
    np.testing.assert_allclose(batch, inference(model, X), rtol=1e-7, atol=1e-10)
    for row in (0, 7, 123):
        np.testing.assert_allclose(model.predict_proba(X[row:row + 1]), batch[row:row + 1],
                                   rtol=1e-12, atol=1e-15)
    assert np.array_equal(model.predict(X[:1]), model.predict(X)[:1])


# -------------------------------------------------------------------------- state
def test_pickle_and_clone_round_trips(small):
    X, y = small
    options = dict(hidden_layer_sizes=(16,), max_iter=5, random_state=0, batch_norm=True)
    model = quiet(MLPClassifier(**options), X, y)
    copy = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(copy.predict_proba(X), model.predict_proba(X))
    assert_same_batch_norm(copy.batch_norm_params_, model.batch_norm_params_, rtol=0, atol=0)
    twin = clone(model)
    assert twin.batch_norm is True and not hasattr(twin, "batch_norm_params_")
    np.testing.assert_array_equal(quiet(twin, X, y).predict_proba(X), model.predict_proba(X))


def test_partial_fit_and_warm_start_continue(small):
    X, y = small
    options = dict(hidden_layer_sizes=(16,), solver="sgd", momentum=0.0, shuffle=False,
                   batch_size=100, learning_rate_init=0.1, random_state=0, batch_norm=True)
    straight = quiet(MLPClassifier(**options, max_iter=3), X, y)
    steps = MLPClassifier(**options)
    for _ in range(3):
        steps.partial_fit(X, y, classes=np.arange(10))
    warm = quiet(MLPClassifier(**options, max_iter=1, warm_start=True), X, y)
    for _ in range(2):
        quiet(warm, X, y)
    for other in (steps, warm):
        for a, b in zip(other.coefs_ + other.intercepts_,
                        straight.coefs_ + straight.intercepts_):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
        assert_same_batch_norm(other.batch_norm_params_, straight.batch_norm_params_,
                               rtol=1e-10, atol=1e-12)
    assert steps.t_ == 3 * len(y)
    # a fourth epoch moves gamma, beta and the moving statistics on
    before = [dict(params) for params in steps.batch_norm_params_]
    steps.partial_fit(X, y)
    for key in KEYS:
        assert not np.allclose(steps.batch_norm_params_[0][key], before[0][key]), key


def test_batch_norm_params_set_by_hand_are_trained_from(small):
    X, y = small
    options = dict(hidden_layer_sizes=(8,), max_iter=2, random_state=0, batch_norm=True)
    model = quiet(MLPClassifier(**options), X, y)
    model.batch_norm_params_[0]["moving_mean"] = np.full(8, 5.0)
    model.batch_norm_params_[0]["gamma"] = np.full(8, 2.0)
    np.testing.assert_allclose(model.predict_proba(X), inference(model, X), rtol=1e-7,
                               atol=1e-10)
    model.set_params(warm_start=True, max_iter=1, solver="sgd", learning_rate_init=1e-12,
                     shuffle=False)
    quiet(model, X, y)
    np.testing.assert_allclose(model.batch_norm_params_[0]["gamma"], 2.0, rtol=1e-9)
    z = X @ model.coefs_[0] + model.intercepts_[0]
    np.testing.assert_allclose(model.batch_norm_params_[0]["moving_mean"],
                               moving_after_one_epoch(z, 5.0, "moving_mean"), rtol=1e-6)


@pytest.mark.parametrize("change, message", [
    (lambda p: p.append(dict(p[0])), r"batch_norm_params_: expected a list of 1 dict"),
    (lambda p: p[0].pop("beta"), r"batch_norm_params_\[0\]: expected a dict of"),
    (lambda p: p[0].update(gamma=np.ones(3)),
     r"batch_norm_params_\[0\]\['gamma'\]: expected shape \(8,\)"),
    (lambda p: p[0].update(moving_variance=-np.ones(8)),
     r"batch_norm_params_\[0\]\['moving_variance'\]: expected values >= 0"),
])
def test_wrong_batch_norm_params_are_refused_naming_them(small, change, message):
    X, y = small
    model = quiet(MLPClassifier(hidden_layer_sizes=(8,), max_iter=1, random_state=0,
                                batch_norm=True, warm_start=True), X, y)
    change(model.batch_norm_params_)
    with pytest.raises(ValueError, match=message):
        model.fit(X, y)


def test_switching_batch_norm_on_a_warm_start_adds_or_drops_the_normalization(small):
    X, y = small
    model = quiet(MLPClassifier(hidden_layer_sizes=(8,), max_iter=2, random_state=0,
                                warm_start=True), X, y)
    quiet(model.set_params(batch_norm=True), X, y)
    assert len(model.batch_norm_params_) == 1
    assert isinstance(model._model.layers[1], mlp.BatchNormalization)
    quiet(model.set_params(batch_norm=False), X, y)
    assert not hasattr(model, "batch_norm_params_")
    assert not any(isinstance(layer, mlp.BatchNormalization) for layer in model._model.layers)


def test_early_stopping_restores_the_best_normalization_too(small):
    X, y = small
    options = dict(hidden_layer_sizes=(16,), solver="sgd", learning_rate_init=0.5,
                   early_stopping=True, n_iter_no_change=2, random_state=0, batch_norm=True)
    model = quiet(MLPClassifier(**options, max_iter=40), X, y)
    best_epoch = int(np.argmax(model.validation_scores_)) + 1
    assert model.n_iter_ > best_epoch  # it trained past its best epoch, then went back to it
    # the same split and training, stopped at the best epoch: the weights restored are those
    at_best = quiet(MLPClassifier(**options, max_iter=best_epoch), X, y)
    for a, b in zip(model.coefs_ + model.intercepts_, at_best.coefs_ + at_best.intercepts_):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    assert_same_batch_norm(model.batch_norm_params_, at_best.batch_norm_params_, rtol=1e-12,
                           atol=1e-14)


# -------------------------------------------------------------------------- parameters
def test_get_params_and_set_params_include_batch_norm():
    for estimator in (MLPClassifier, MLPRegressor):
        assert estimator().get_params()["batch_norm"] is False
        assert estimator(batch_norm=True).get_params()["batch_norm"] is True
        assert estimator().set_params(batch_norm=True).batch_norm is True


def test_a_non_boolean_batch_norm_is_refused_naming_it(small):
    X, y = small
    with pytest.raises(ValueError, match="'batch_norm' parameter of MLPClassifier must be"):
        MLPClassifier(batch_norm="yes").fit(X, y)


def test_the_reference_backend_agrees_with_the_cpu_under_batch_norm(small):
    X, y = small
    options = dict(hidden_layer_sizes=(16,), max_iter=5, random_state=0, shuffle=False,
                   batch_norm=True)
    cpu = quiet(MLPClassifier(**options), X, y)
    reference = quiet(MLPClassifier(**options, backend="reference"), X, y)
    np.testing.assert_allclose(reference.predict_proba(X), cpu.predict_proba(X), rtol=1e-7,
                               atol=1e-9)
    assert_same_batch_norm(reference.batch_norm_params_, cpu.batch_norm_params_, rtol=1e-7,
                           atol=1e-9)
