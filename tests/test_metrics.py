"""Metrics: values worked out by hand, sample weights, lookup, and scikit-learn when present."""
from __future__ import annotations

import numpy as np
import pytest

import mlp
from mlp import metrics
from mlp.metrics import (accuracy, binary_accuracy, evaluate_metrics, f1, mean_absolute_error,
                         mean_squared_error, metric_name, precision, recall)

# binary: truth and probabilities; at threshold 0.5 the predictions are 1 1 0 0 1 0
#   (0.5 itself is not > 0.5): tp = 2 (rows 0, 4), fp = 1 (row 1), fn = 1 (row 2), tn = 2
Y_BIN = np.array([1, 0, 1, 0, 1, 0])
P_BIN = np.array([0.9, 0.6, 0.5, 0.1, 0.7, 0.2])


# --------------------------------------------------------------------------- binary
def test_binary_classification_metrics_by_hand():
    assert accuracy(Y_BIN, P_BIN) == pytest.approx(4 / 6)
    assert precision(Y_BIN, P_BIN) == pytest.approx(2 / 3)
    assert recall(Y_BIN, P_BIN) == pytest.approx(2 / 3)
    assert f1(Y_BIN, P_BIN) == pytest.approx(2 / 3)


def test_binary_metrics_with_column_shapes():
    assert accuracy(Y_BIN[:, None], P_BIN[:, None]) == pytest.approx(4 / 6)
    assert precision(Y_BIN.astype(float)[:, None], P_BIN[:, None]) == pytest.approx(2 / 3)


def test_precision_recall_f1_asymmetric_case():
    y = np.array([1, 1, 1, 1, 0, 0])
    p = np.array([0.9, 0.8, 0.2, 0.1, 0.7, 0.3])     # tp 2, fn 2, fp 1
    assert precision(y, p) == pytest.approx(2 / 3)
    assert recall(y, p) == pytest.approx(2 / 4)
    assert f1(y, p) == pytest.approx(2 * (2 / 3) * 0.5 / (2 / 3 + 0.5))


def test_zero_division_gives_zero():
    y = np.array([0, 0, 1])
    none_predicted = np.array([0.1, 0.2, 0.3])
    assert precision(y, none_predicted) == 0.0
    assert f1(y, none_predicted) == 0.0
    assert recall(np.zeros(3), np.array([0.9, 0.1, 0.2])) == 0.0


def test_weighted_binary_metrics():
    w = np.array([1.0, 2.0, 3.0, 1.0, 0.5, 1.0])
    # correct rows: 0 (1), 3 (1), 4 (0.5), 5 (1) -> 3.5 of 8.5
    assert accuracy(Y_BIN, P_BIN, sample_weight=w) == pytest.approx(3.5 / 8.5)
    # tp = 1 + 0.5, fp = 2, fn = 3
    assert precision(Y_BIN, P_BIN, sample_weight=w) == pytest.approx(1.5 / 3.5)
    assert recall(Y_BIN, P_BIN, sample_weight=w) == pytest.approx(1.5 / 4.5)
    assert f1(Y_BIN, P_BIN, sample_weight=w) == pytest.approx(3 / (3 + 2 + 3))


def test_binary_accuracy_is_elementwise():
    y = np.array([[1, 0], [0, 0]])
    p = np.array([[0.8, 0.7], [0.2, 0.1]])            # 3 of 4 right: rows 0.5 and 1.0
    assert binary_accuracy(y, p) == pytest.approx(0.75)
    assert binary_accuracy(y, p, sample_weight=[3, 1]) == pytest.approx((1.5 + 1) / 4)
    assert binary_accuracy(y, p, threshold=0.75) == pytest.approx(1.0)
    assert binary_accuracy([1, 0, 1], [0.6, 0.4, 0.4]) == pytest.approx(2 / 3)


# ------------------------------------------------------------------------ multiclass
def test_multiclass_accuracy_with_labels_and_one_hot():
    p = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [0.3, 0.4, 0.3], [0.2, 0.5, 0.3]])
    labels = np.array([0, 2, 0, 1])                   # argmax 0 2 1 1: 3 of 4
    assert accuracy(labels, p) == pytest.approx(0.75)
    assert accuracy(np.eye(3)[labels], p) == pytest.approx(0.75)
    assert accuracy(labels, p, sample_weight=[1, 1, 2, 0]) == pytest.approx(2 / 4)
    assert metrics.get("sparse_categorical_accuracy")(labels, p) == pytest.approx(0.75)
    assert metrics.get("categorical_accuracy")(np.eye(3)[labels], p) == pytest.approx(0.75)


# ------------------------------------------------------------------------ regression
def test_mean_squared_and_absolute_error():
    y = np.array([[1.0, 2.0], [3.0, 4.0]])
    p = np.array([[1.5, 2.0], [2.0, 4.0]])
    assert mean_squared_error(y, p) == pytest.approx((0.125 + 0.5) / 2)
    assert mean_absolute_error(y, p) == pytest.approx((0.25 + 0.5) / 2)
    # weighted mean over samples (divided by the sum of the weights)
    assert mean_squared_error(y, p, sample_weight=[1, 3]) == pytest.approx(
        (0.125 + 1.5) / 4)
    assert mean_absolute_error(y, p, sample_weight=[3, 1]) == pytest.approx((0.75 + 0.5) / 4)
    assert mean_squared_error([1.0, 2.0], np.array([[1.0], [4.0]])) == pytest.approx(2.0)


# ------------------------------------------------------------------- lookup and names
@pytest.mark.parametrize("name, fn", [
    ("accuracy", accuracy), ("acc", accuracy), ("ACC", accuracy), ("precision", precision),
    ("recall", recall), ("f1", f1), ("f1_score", f1), ("mse", mean_squared_error),
    ("mean_squared_error", mean_squared_error), ("mae", mean_absolute_error),
    ("mean_absolute_error", mean_absolute_error), ("binary_accuracy", binary_accuracy),
])
def test_get_by_name(name, fn):
    assert metrics.get(name) is fn


def test_get_unknown_lists_the_supported_names():
    with pytest.raises(ValueError, match=r"metrics: unknown metric 'auc'. Supported metrics "
                                         r"are \['acc', 'accuracy', 'binary_accuracy'"):
        metrics.get("auc")
    with pytest.raises(ValueError, match=r"unknown metric 3"):
        metrics.get(3)


def test_callables_and_names():
    def my_metric(y_true, y_pred, sample_weight=None):
        return 1.0

    assert metrics.get(my_metric) is my_metric
    assert metric_name(my_metric) == "my_metric"
    assert metric_name("acc") == "accuracy"
    assert metric_name("F1_score") == "f1"
    assert metric_name("MSE") == "mse"


def test_evaluate_metrics():
    result = evaluate_metrics({"accuracy": accuracy, "f1": f1}, Y_BIN, P_BIN)
    assert result == {"accuracy": pytest.approx(4 / 6), "f1": pytest.approx(2 / 3)}
    assert all(type(v) is float for v in result.values())


def test_compile_metric_aliases_become_history_keys():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20, 2))
    y = (x[:, 0] > 0).astype(float)
    model = mlp.Sequential([mlp.Dense(1, activation="sigmoid", input_dim=2)], seed=0)
    model.compile(optimizer="sgd", loss="binary_crossentropy",
                  metrics=["acc", "f1_score", "mse"])
    history = model.fit(x, y, epochs=1, verbose=0)
    assert list(history.history) == ["loss", "accuracy", "f1", "mse"]
    model.compile(optimizer="sgd", loss="binary_crossentropy", metrics="accuracy")
    assert list(model.evaluate(x, y)) == ["loss", "accuracy"]


def test_model_metrics_match_the_functions_on_predict():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(60, 4))
    y = (x[:, 0] + x[:, 1] > 0).astype(float)
    w = rng.uniform(0.5, 2, 60)
    model = mlp.Sequential([mlp.Dense(5, activation="relu", input_dim=4),
                            mlp.Dense(1, activation="sigmoid")], seed=0, dtype="float64")
    model.compile(optimizer="adam", loss="binary_crossentropy",
                  metrics=["accuracy", "precision", "recall", "f1", "mae"])
    model.fit(x, y, epochs=5, verbose=0)
    p = model.predict(x)
    result = model.evaluate(x, y, sample_weight=w)
    for name, fn in [("accuracy", accuracy), ("precision", precision), ("recall", recall),
                     ("f1", f1), ("mae", mean_absolute_error)]:
        assert result[name] == pytest.approx(fn(y, p, sample_weight=w), rel=1e-12), name


# ---------------------------------------------------------------------- scikit-learn
def test_against_scikit_learn():
    skm = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 200)
    p = rng.random(200)
    w = rng.uniform(0, 2, 200)
    predicted = (p > 0.5).astype(int)
    for ours, theirs in [(accuracy, skm.accuracy_score), (precision, skm.precision_score),
                         (recall, skm.recall_score), (f1, skm.f1_score)]:
        assert ours(y, p) == pytest.approx(theirs(y, predicted))
        assert ours(y, p, sample_weight=w) == pytest.approx(
            theirs(y, predicted, sample_weight=w))
    targets = rng.normal(size=(200, 3))
    outputs = rng.normal(size=(200, 3))
    assert mean_squared_error(targets, outputs) == pytest.approx(
        skm.mean_squared_error(targets, outputs))
    assert mean_absolute_error(targets, outputs, sample_weight=w) == pytest.approx(
        skm.mean_absolute_error(targets, outputs, sample_weight=w))
