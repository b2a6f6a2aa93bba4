"""Metrics: values worked out by hand, sample weights, lookup, and scikit-learn when present."""
from __future__ import annotations

import doctest
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mlp
from mlp import metrics
from mlp.metrics import (
    accuracy,
    auc,
    binary_accuracy,
    categorical_accuracy,
    classification_report,
    confusion_matrix,
    evaluate_metrics,
    f1,
    mean_absolute_error,
    mean_squared_error,
    metric_name,
    precision,
    r2,
    recall,
    root_mean_squared_error,
    sparse_categorical_accuracy,
    top_k_accuracy,
)

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
    with pytest.raises(ValueError, match=r"metrics: unknown metric 'hinge'. Supported metrics "
                                         r"are \['acc', 'accuracy', 'auc', 'binary_accuracy'"):
        metrics.get("hinge")
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


# ===================================================================== full metric set
def softmax_rows(rng, n, k, decimals=None):
    """Probabilities of n samples over k classes (rounded to make ties when asked)."""
    z = rng.normal(size=(n, k))
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    return p if decimals is None else np.round(p, decimals)


@pytest.fixture
def skm():
    return pytest.importorskip("sklearn.metrics")


# ------------------------------------------------------------- how classes are read
def test_labels_one_hot_and_probabilities_are_read_alike():
    labels = np.array([0, 2, 1, 2])
    p = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [0.3, 0.4, 0.3], [0.5, 0.2, 0.3]])
    for truth in (labels, np.eye(3)[labels], labels.astype(float), labels[:, None]):
        assert accuracy(truth, p) == pytest.approx(0.75)            # argmax 0 2 1 0
        assert accuracy(truth, p.argmax(1)) == pytest.approx(0.75)
        assert f1(truth, p) == f1(labels, p.argmax(1))
    # binary: probabilities are thresholded, whole-number floats are labels
    assert accuracy([1, 0, 1], [1.0, 0.0, 0.0]) == pytest.approx(2 / 3)
    assert accuracy([1, 0, 1], [True, False, False]) == pytest.approx(2 / 3)
    assert accuracy([1, 0], [0.5, 0.5]) == pytest.approx(0.5)          # 0.5 is class 0
    assert accuracy([1, 0], [0.3, 0.1], threshold=0.2) == pytest.approx(1.0)
    assert precision([1, 0, 1], [0.3, 0.1, 0.1], threshold=0.2) == pytest.approx(1.0)
    # soft binary targets are read at 0.5
    assert accuracy([0.9, 0.1], [0.8, 0.3]) == pytest.approx(1.0)


def test_categorical_and_sparse_categorical_accuracy():
    labels = np.array([0, 2, 1, 2])
    p = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [0.3, 0.4, 0.3], [0.5, 0.2, 0.3]])
    assert categorical_accuracy(np.eye(3)[labels], p) == pytest.approx(0.75)
    assert sparse_categorical_accuracy(labels, p) == pytest.approx(0.75)
    assert sparse_categorical_accuracy(labels[:, None], p, sample_weight=[1, 1, 1, 3]) == (
        pytest.approx(3 / 6))
    with pytest.raises(ValueError, match="for integer labels use sparse_categorical_accuracy"):
        categorical_accuracy(labels, p)
    with pytest.raises(ValueError, match="for one-hot targets use categorical_accuracy"):
        sparse_categorical_accuracy(np.eye(3)[labels], p)
    with pytest.raises(ValueError, match=r"two or more columns, got \(4, 1\)"):
        sparse_categorical_accuracy(labels, p[:, :1])


# ------------------------------------------------------------------------ top-k
def test_top_k_by_hand_with_ties():
    scores = np.array([[0.5, 0.3, 0.2], [0.1, 0.3, 0.6], [0.2, 0.5, 0.3], [0.4, 0.4, 0.2]])
    truth = np.array([1, 0, 2, 0])
    assert top_k_accuracy(truth, scores, k=1) == pytest.approx(0.0)   # tie: class 1 ranks first
    assert top_k_accuracy(truth, scores, k=2) == pytest.approx(3 / 4)
    assert top_k_accuracy(truth, scores, k=3) == pytest.approx(1.0)
    assert top_k_accuracy(np.eye(3)[truth], scores, k=2, sample_weight=[1, 2, 1, 1]) == (
        pytest.approx(3 / 5))
    assert top_k_accuracy(truth, scores) == 1.0                        # k = 5 by default
    assert metrics.get("top_2_accuracy")(truth, scores) == pytest.approx(3 / 4)
    assert metrics.get("top_k_accuracy") is top_k_accuracy
    with pytest.raises(ValueError, match=r"k: expected a positive integer, got 0"):
        top_k_accuracy(truth, scores, k=0)
    with pytest.raises(ValueError, match=r"labels outside \[0, 2\]"):
        top_k_accuracy([3, 0, 1, 2], scores, k=2)


@pytest.mark.filterwarnings("ignore:'k'")
def test_top_k_matches_scikit_learn(skm):
    rng = np.random.default_rng(7)
    for n_classes in (3, 5):
        scores = softmax_rows(rng, 300, n_classes, decimals=1)      # many ties
        truth = rng.integers(0, n_classes, 300)
        w = rng.uniform(0, 2, 300)
        for k in (1, 2, 3):
            for weight in (None, w):
                assert top_k_accuracy(truth, scores, sample_weight=weight, k=k) == pytest.approx(
                    skm.top_k_accuracy_score(truth, scores, k=k, sample_weight=weight,
                                             labels=range(n_classes)), rel=1e-12)
    binary_scores = rng.random(50)
    binary_truth = rng.integers(0, 2, 50)
    for k in (1, 2):
        assert top_k_accuracy(binary_truth, binary_scores, k=k) == pytest.approx(
            skm.top_k_accuracy_score(binary_truth, binary_scores, k=k))


# ---------------------------------------------------- precision / recall / F1 averages
AVERAGE_CASES = ["binary", "micro", "macro", "weighted"]


@pytest.mark.parametrize("average", AVERAGE_CASES)
@pytest.mark.parametrize("zero_division", [0.0, 1.0, np.nan])
def test_binary_precision_recall_f1_match_scikit_learn(skm, average, zero_division):
    rng = np.random.default_rng(11)
    y = rng.integers(0, 2, 120)
    p = rng.random(120)
    w = rng.uniform(0, 3, 120)
    predicted = (p > 0.5).astype(int)
    for ours, theirs in [(precision, skm.precision_score), (recall, skm.recall_score),
                         (f1, skm.f1_score)]:
        for weight in (None, w):
            expected = theirs(y, predicted, average=average, sample_weight=weight,
                              zero_division=zero_division)
            got = ours(y, p, sample_weight=weight, average=average,
                       zero_division=zero_division)
            assert got == pytest.approx(expected, rel=1e-12)
            assert ours(y[:, None].astype(float), p[:, None], sample_weight=weight,
                        average=average, zero_division=zero_division) == got


@pytest.mark.parametrize("average", ["micro", "macro", "weighted", None])
@pytest.mark.parametrize("zero_division", [0.0, 1.0, np.nan])
def test_multiclass_precision_recall_f1_match_scikit_learn(skm, average, zero_division):
    rng = np.random.default_rng(12)
    proba = softmax_rows(rng, 150, 4)
    proba[:, 3] *= 0.01                              # class 3 is never predicted
    truth = rng.integers(0, 4, 150)
    truth[truth == 2] = 1                            # class 2 never occurs in y_true
    predicted = proba.argmax(1)
    w = rng.uniform(0, 2, 150)
    for ours, theirs in [(precision, skm.precision_score), (recall, skm.recall_score),
                         (f1, skm.f1_score)]:
        for weight in (None, w):
            for labels in (None, [3, 1, 0], [0, 1, 2, 3, 5]):
                expected = theirs(truth, predicted, average=average, sample_weight=weight,
                                  labels=labels, zero_division=zero_division)
                got = ours(np.eye(4)[truth], proba, sample_weight=weight, average=average,
                           labels=labels, zero_division=zero_division)
                np.testing.assert_allclose(got, expected, rtol=1e-12, equal_nan=True)


def test_auto_average_is_binary_for_one_output_and_macro_for_several():
    rng = np.random.default_rng(2)
    proba = softmax_rows(rng, 40, 3)
    truth = rng.integers(0, 3, 40)
    assert f1(truth, proba) == f1(truth, proba, average="macro")
    assert precision(truth, proba.argmax(1)) == precision(truth, proba, average="macro")
    y = rng.integers(0, 2, 40)
    p = rng.random(40)
    assert recall(y, p) == recall(y, p, average="binary")
    # one output but labels beyond {0, 1}: macro
    assert f1([0, 1, 2], [0, 2, 2]) == f1([0, 1, 2], [0, 2, 2], average="macro")


def test_class_absent_from_predictions_scores_zero():
    truth = np.array([0, 1, 2, 2])
    predicted = np.array([0, 2, 2, 2])                # class 1 never predicted
    per_class = precision(truth, predicted, average=None)
    np.testing.assert_allclose(per_class, [1.0, 0.0, 2 / 3])
    np.testing.assert_allclose(recall(truth, predicted, average=None), [1.0, 0.0, 1.0])
    np.testing.assert_allclose(f1(truth, predicted, average=None), [1.0, 0.0, 0.8])
    assert precision(truth, predicted, average="macro") == pytest.approx(5 / 9)
    np.testing.assert_allclose(precision(truth, predicted, average=None, zero_division=1.0),
                               [1.0, 1.0, 2 / 3])
    assert precision(truth, predicted, average="macro", zero_division=np.nan) == pytest.approx(
        (1 + 2 / 3) / 2)


def test_precision_recall_f1_errors():
    with pytest.raises(ValueError, match=r"average: expected one of \['auto', 'binary', "
                                         r"'micro', 'macro', 'weighted', None\], got 'samples'"):
        f1([0, 1], [0, 1], average="samples")
    with pytest.raises(ValueError, match=r"precision: average='binary' needs at most two "
                                         r"classes, got \[0, 1, 2\]"):
        precision([0, 1, 2], [0, 1, 1], average="binary")
    with pytest.raises(ValueError, match=r"recall: average='binary' scores class 1"):
        recall([0, 2], [0, 2], average="binary")
    with pytest.raises(ValueError, match=r"zero_division: expected 0.0, 1.0 or np.nan, got 'warn'"):
        f1([0, 1], [0, 1], zero_division="warn")
    with pytest.raises(ValueError, match=r"labels: expected distinct labels"):
        f1([0, 1], [0, 1], average="macro", labels=[1, 1])


# --------------------------------------------------------------------------- ROC AUC
def test_auc_by_hand_with_ties_and_weights():
    # pairs (pos, neg): 0.35 > 0.1, 0.35 < 0.4, 0.8 > both -> 3 of 4
    assert auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)
    # a tie between a positive and a negative counts one half
    assert auc([0, 1], [0.5, 0.5]) == pytest.approx(0.5)
    assert auc([0, 0, 1, 1], [0.1, 0.4, 0.4, 0.8]) == pytest.approx(0.875)
    # weight 3 on the negative at 0.4: pairs weighted 1*1 + 3*0 + 1*1 + 3*1 of 2*4
    assert auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8], sample_weight=[1, 3, 1, 1]) == (
        pytest.approx(5 / 8))
    assert auc([0, 1, 2], [[0.8, 0.1, 0.1], [0.2, 0.6, 0.2], [0.1, 0.2, 0.7]]) == 1.0


def test_auc_matches_scikit_learn(skm):
    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, 300)
    scores = np.round(rng.random(300) * 0.6 + 0.4 * y, 1)            # informative, many ties
    w = rng.uniform(0, 2, 300)
    for weight in (None, w):
        assert auc(y, scores, sample_weight=weight) == pytest.approx(
            skm.roc_auc_score(y, scores, sample_weight=weight), rel=1e-12)
        assert auc(y[:, None], scores[:, None], sample_weight=weight) == pytest.approx(
            skm.roc_auc_score(y, scores, sample_weight=weight), rel=1e-12)
    proba = softmax_rows(rng, 300, 4, decimals=2)
    proba /= proba.sum(axis=1, keepdims=True)
    truth = rng.integers(0, 4, 300)
    for average in ("macro", "weighted"):
        for weight in (None, w):
            expected = skm.roc_auc_score(truth, proba, multi_class="ovr", average=average,
                                         sample_weight=weight)
            assert auc(truth, proba, sample_weight=weight, average=average) == pytest.approx(
                expected, rel=1e-12)
            assert auc(np.eye(4)[truth], proba, sample_weight=weight, average=average) == (
                pytest.approx(expected, rel=1e-12))


def test_auc_undefined_for_a_single_class(skm):
    with pytest.warns(RuntimeWarning, match="y_true holds a single class"):
        assert np.isnan(auc([1, 1, 1], [0.2, 0.6, 0.9]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert np.isnan(skm.roc_auc_score([1, 1, 1], [0.2, 0.6, 0.9]))
    proba = np.array([[0.8, 0.1, 0.1], [0.2, 0.6, 0.2], [0.1, 0.7, 0.2]])
    with pytest.warns(RuntimeWarning, match=r"classes \[2\] have no positive or no negative"):
        assert np.isnan(auc([0, 1, 1], proba))
    with pytest.warns(RuntimeWarning):
        assert auc([0, 1, 1], proba, average="weighted") == pytest.approx(1.0)


def test_auc_errors():
    with pytest.raises(ValueError, match=r"auc: y_true holds 3 classes but y_pred has one column"):
        auc([0, 1, 2], [0.1, 0.5, 0.9])
    with pytest.raises(ValueError, match=r"auc: y_true holds labels outside \[0, 1\]"):
        auc([0, 1, 2], [[0.5, 0.5], [0.2, 0.8], [0.3, 0.7]])
    with pytest.raises(ValueError, match=r"average: expected 'macro' or 'weighted', got 'micro'"):
        auc([0, 1], [0.1, 0.9], average="micro")


# ------------------------------------------------------------------------ regression
def test_rmse_and_r2_by_hand():
    assert root_mean_squared_error([0.0, 0.0], [3.0, 4.0]) == pytest.approx(np.sqrt(12.5))
    # per-output RMSE then averaged: sqrt(1) and sqrt(4)
    assert root_mean_squared_error([[0.0, 0.0]] * 2, [[1.0, 2.0], [-1.0, -2.0]]) == (
        pytest.approx(1.5))
    assert r2([1.0, 2.0, 3.0], [1.0, 2.0, 4.0]) == pytest.approx(0.5)
    assert r2([1.0, 2.0, 3.0], [2.0, 2.0, 2.0]) == pytest.approx(0.0)
    # constant targets: 1 when exact, 0 otherwise (scikit-learn's convention)
    assert r2([3.0, 3.0, 3.0], [3.0, 3.0, 3.0]) == 1.0
    assert r2([3.0, 3.0, 3.0], [3.0, 2.0, 3.0]) == 0.0
    assert r2([[3.0, 1.0], [3.0, 2.0]], [[3.0, 1.0], [3.0, 2.0]]) == 1.0
    with pytest.warns(RuntimeWarning, match="fewer than two samples"):
        assert np.isnan(r2([1.0], [2.0]))


def test_regression_metrics_match_scikit_learn(skm):
    rng = np.random.default_rng(9)
    w = rng.uniform(0, 2, 80)
    for shape in ((80,), (80, 1), (80, 3)):
        y = rng.normal(size=shape)
        p = y + rng.normal(scale=0.5, size=shape)
        for ours, theirs in [(mean_squared_error, skm.mean_squared_error),
                             (mean_absolute_error, skm.mean_absolute_error),
                             (root_mean_squared_error, skm.root_mean_squared_error),
                             (r2, skm.r2_score)]:
            for weight in (None, w):
                assert ours(y, p, sample_weight=weight) == pytest.approx(
                    theirs(y, p, sample_weight=weight), rel=1e-12), ours.__name__
    constant = np.full((5, 2), 2.0)
    guesses = constant.copy()
    guesses[0, 1] = 1.0
    assert r2(constant, guesses) == pytest.approx(skm.r2_score(constant, guesses))


# ------------------------------------------------------------------ confusion matrix
def test_confusion_matrix_by_hand():
    proba = np.array([[0.8, 0.1, 0.1], [0.1, 0.2, 0.7], [0.2, 0.2, 0.6], [0.1, 0.5, 0.4]])
    truth = np.array([0, 1, 2, 2])
    expected = np.array([[1, 0, 0], [0, 0, 1], [0, 1, 1]])
    np.testing.assert_array_equal(confusion_matrix(truth, proba), expected)
    np.testing.assert_array_equal(confusion_matrix(np.eye(3)[truth], proba.argmax(1)), expected)
    assert confusion_matrix(truth, proba).dtype == np.int64
    np.testing.assert_array_equal(confusion_matrix(truth, proba, labels=[2, 0]),
                                  [[1, 0], [0, 1]])
    np.testing.assert_allclose(confusion_matrix(truth, proba, normalize="true"),
                               [[1, 0, 0], [0, 0, 1], [0, 0.5, 0.5]])
    np.testing.assert_allclose(confusion_matrix(truth, proba, sample_weight=[1, 2, 0.5, 1]),
                               [[1, 0, 0], [0, 0, 2], [0, 1, 0.5]])
    np.testing.assert_array_equal(confusion_matrix([1, 0, 1], [0.9, 0.2, 0.4]),
                                  [[1, 0], [1, 1]])
    with pytest.raises(ValueError, match=r"normalize: expected one of \['true', 'pred', 'all', "
                                         r"None\], got 'rows'"):
        confusion_matrix(truth, proba, normalize="rows")
    with pytest.raises(ValueError, match=r"labels: none of \[7\] is in y_true"):
        confusion_matrix(truth, proba, labels=[7])


def test_confusion_matrix_matches_scikit_learn(skm):
    rng = np.random.default_rng(4)
    proba = softmax_rows(rng, 200, 5)
    truth = rng.integers(0, 5, 200)
    predicted = proba.argmax(1)
    w = rng.uniform(0, 2, 200)
    for labels in (None, [4, 0, 2], [0, 1, 2, 3, 4, 6]):
        for normalize in (None, "true", "pred", "all"):
            for weight in (None, w, rng.integers(0, 3, 200)):
                expected = skm.confusion_matrix(truth, predicted, labels=labels,
                                                normalize=normalize, sample_weight=weight)
                got = confusion_matrix(truth, proba, labels=labels, normalize=normalize,
                                       sample_weight=weight)
                np.testing.assert_allclose(got, expected, rtol=1e-12)
                assert got.dtype == expected.dtype


# -------------------------------------------------------------- classification report
def test_classification_report_text_and_dict():
    truth = [0, 1, 2, 2, 2]
    predicted = [0, 0, 2, 2, 1]
    text = classification_report(truth, predicted, target_names=["ant", "bird", "cat"])
    lines = text.splitlines()
    assert lines[0].split() == ["precision", "recall", "f1-score", "support"]
    assert lines[2].split() == ["ant", "0.50", "1.00", "0.67", "1"]
    assert lines[6].split() == ["accuracy", "0.60", "5"]
    assert lines[8].split() == ["weighted", "avg", "0.70", "0.60", "0.61", "5"]
    assert len({len(line) for line in lines if line}) == 1           # an aligned table
    report = classification_report(truth, predicted, output_dict=True)
    assert list(report) == ["0", "1", "2", "accuracy", "macro avg", "weighted avg"]
    assert report["2"] == {"precision": 1.0, "recall": pytest.approx(2 / 3),
                           "f1-score": pytest.approx(0.8), "support": 3.0}
    assert report["accuracy"] == pytest.approx(0.6)
    with pytest.raises(ValueError, match=r"target_names: expected 3 names"):
        classification_report(truth, predicted, target_names=["a", "b"])
    with pytest.raises(ValueError, match=r"digits: expected an integer >= 0"):
        classification_report(truth, predicted, digits=-1)


def test_classification_report_matches_scikit_learn(skm):
    rng = np.random.default_rng(8)
    proba = softmax_rows(rng, 150, 4)
    proba[:, 1] *= 0.01                                  # class 1 never predicted
    truth = rng.integers(0, 4, 150)
    predicted = proba.argmax(1)
    names = ["zero", "one", "two", "a long class name"]
    for kwargs in ({}, {"target_names": names}, {"digits": 4}, {"labels": [3, 0]},
                   {"labels": [0, 1, 2, 3, 5]}):
        assert classification_report(truth, proba, **kwargs) == skm.classification_report(
            truth, predicted, zero_division=0.0, **kwargs)
    y = rng.integers(0, 2, 60)
    p = rng.random(60)
    assert classification_report(y, p) == skm.classification_report(y, (p > 0.5).astype(int))
    w = rng.uniform(0, 2, 150)
    for kwargs in ({}, {"labels": [3, 0]}, {"target_names": names}):
        for weight in (None, w):
            ours = classification_report(np.eye(4)[truth], proba, output_dict=True,
                                         sample_weight=weight, **kwargs)
            theirs = skm.classification_report(truth, predicted, output_dict=True,
                                               zero_division=0.0, sample_weight=weight, **kwargs)
            assert list(ours) == list(theirs)
            for key, value in theirs.items():
                if isinstance(value, dict):
                    assert ours[key] == pytest.approx(value, rel=1e-12), key
                    assert all(type(v) is float for v in ours[key].values())
                else:
                    assert ours[key] == pytest.approx(value, rel=1e-12)
    weighted = classification_report(truth, proba, sample_weight=w)
    assert len({len(line) for line in weighted.splitlines() if line}) == 1


# ------------------------------------------------------------------ property checks
@pytest.mark.filterwarnings("ignore:A single label was found")
@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(0, 4)),
                min_size=1, max_size=40))
def test_counting_metrics_agree_with_scikit_learn_on_any_labels(rows):
    skm = pytest.importorskip("sklearn.metrics")
    truth, predicted, weight = (np.array(column) for column in zip(*rows))
    weight = weight.astype(float) + (weight.sum() == 0)              # never all zero
    assert accuracy(truth, predicted, sample_weight=weight) == pytest.approx(
        skm.accuracy_score(truth, predicted, sample_weight=weight))
    for average in ("micro", "macro", "weighted"):
        assert f1(truth, predicted, sample_weight=weight, average=average) == pytest.approx(
            skm.f1_score(truth, predicted, sample_weight=weight, average=average,
                         zero_division=0.0))
        assert precision(truth, predicted, average=average) == pytest.approx(
            skm.precision_score(truth, predicted, average=average, zero_division=0.0))
    np.testing.assert_allclose(confusion_matrix(truth, predicted, sample_weight=weight),
                               skm.confusion_matrix(truth, predicted, sample_weight=weight))


# --------------------------------------------------------------------- validation
def test_shapes_and_weights_are_checked():
    with pytest.raises(ValueError, match=r"y_pred: expected 3 samples like y_true, got 2"):
        accuracy([0, 1, 1], [0.2, 0.8])
    with pytest.raises(ValueError, match=r"sample_weight: expected shape \(3,\), one weight per "
                                         r"sample, got \(2,\)"):
        f1([0, 1, 1], [0.2, 0.8, 0.9], sample_weight=[1, 2])
    with pytest.raises(ValueError, match="y_true: expected at least one sample"):
        mean_squared_error([], [])
    with pytest.raises(ValueError, match=r"y_true: expected shape \(n,\) or \(n, outputs\)"):
        accuracy(np.zeros((2, 2, 2)), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="sample_weight: the weights sum to zero"):
        accuracy([0, 1], [0.2, 0.8], sample_weight=[0, 0])
    with pytest.raises(ValueError, match=r"y_true: expected shape \(2, 2\) like y_pred"):
        r2([1.0, 2.0], [[1.0, 2.0], [3.0, 4.0]])


# ---------------------------------------------------------------- names and compile
def test_every_name_gives_a_float():
    rng = np.random.default_rng(6)
    labels = rng.integers(0, 3, 30)
    labels[:3] = [0, 1, 2]
    proba = softmax_rows(rng, 30, 3)
    y = np.tile([0.0, 1.0], 15)
    p = rng.random(30)
    binary_only = {"binary_accuracy", "precision_binary", "recall_binary", "f1_binary"}
    multiclass_only = {"categorical_accuracy", "sparse_categorical_accuracy"}
    regression = {"mse", "mean_squared_error", "mae", "mean_absolute_error", "rmse",
                  "root_mean_squared_error", "r2", "r2_score"}
    for name in metrics.METRICS:
        function = metrics.get(name)
        if name in regression:
            values = [function(np.eye(3)[labels], proba), function(y, p, sample_weight=p)]
        elif name in multiclass_only:
            truth = np.eye(3)[labels] if name == "categorical_accuracy" else labels
            values = [function(truth, proba)]
        elif name in binary_only:
            values = [function(y, p)]
        else:
            values = [function(labels, proba), function(y, p, sample_weight=np.ones(30))]
        assert all(type(v) is float and np.isfinite(v) for v in values), name


def test_new_names_and_their_history_keys():
    assert metrics.get("roc_auc") is auc and metric_name("ROC_AUC") == "auc"
    assert metrics.get("r2_score") is r2 and metric_name("r2_score") == "r2"
    assert metrics.get("rmse") is root_mean_squared_error
    assert metrics.get("top_k_categorical_accuracy") is top_k_accuracy
    macro = metrics.get("F1_MACRO")
    assert macro.__name__ == "f1_macro" and metric_name("F1_MACRO") == "f1_macro"
    assert metric_name(macro) == "f1_macro"
    truth, predicted = [0, 1, 2, 2], [0, 2, 2, 2]
    assert macro(truth, predicted) == f1(truth, predicted, average="macro")
    assert metrics.get("precision_weighted")(truth, predicted, sample_weight=[1, 2, 1, 1]) == (
        precision(truth, predicted, average="weighted", sample_weight=[1, 2, 1, 1]))
    assert metrics.get("recall_micro")(truth, predicted) == recall(truth, predicted,
                                                                    average="micro")


def test_multiclass_model_metrics_by_name(tmp_path):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(90, 4))
    labels = (x[:, 0] > 0).astype(int) + (x[:, 1] > 0.5).astype(int)
    w = rng.uniform(0.5, 2, 90)
    model = mlp.Sequential([mlp.Dense(3, activation="softmax", input_dim=4)], seed=0,
                           dtype="float64")
    names = ["accuracy", "precision", "f1_macro", "recall_weighted", "auc", "top_2_accuracy"]
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=names)
    history = model.fit(x, labels, epochs=2, verbose=0, validation_data=(x, labels, w))
    assert list(history.history) == ["loss", *names, "val_loss", *[f"val_{n}" for n in names]]
    result = model.evaluate(x, labels, sample_weight=w)
    proba = model.predict(x)
    assert result["precision"] == pytest.approx(
        precision(labels, proba, average="macro", sample_weight=w), rel=1e-12)
    for name in names:
        assert result[name] == pytest.approx(metrics.get(name)(labels, proba, sample_weight=w),
                                             rel=1e-12), name
    path = tmp_path / "model.mlp"
    model.save(path)
    assert list(mlp.load_model(path).metrics) == names


def test_doctests_pass():
    result = doctest.testmod(metrics)
    assert result.attempted > 20 and result.failed == 0
