"""Metrics for ``compile(metrics=[...])`` and as plain functions on arrays.

Every metric is a function ``f(y_true, y_pred, sample_weight=None, ...)`` that returns a float.
``y_pred`` is what ``model.predict`` returns: probabilities for sigmoid / softmax outputs, values
for regression. Each result equals scikit-learn's (``sklearn.metrics``) on the same inputs, the
classification metrics being compared on the predicted classes.

How arrays become classes
-------------------------
* A 2-D array with several columns (softmax probabilities, one-hot targets): the argmax of
  each row.
* A 1-D array or a single column of integers or booleans, or of floats that are all whole
  numbers: class labels, taken as they are.
* Otherwise (sigmoid probabilities, soft binary targets): ``value > threshold``, with
  ``threshold=0.5`` (a probability of exactly 0.5 is class 0).

Names for ``compile``
---------------------
``"accuracy"`` (``"acc"``), ``"binary_accuracy"``, ``"categorical_accuracy"``,
``"sparse_categorical_accuracy"``, ``"top_k_accuracy"`` (k = 5; also
``"top_k_categorical_accuracy"`` and ``"sparse_top_k_categorical_accuracy"``),
``"top_2_accuracy"``, ``"top_3_accuracy"``, ``"top_5_accuracy"``, ``"top_10_accuracy"``,
``"precision"``, ``"recall"``, ``"f1"`` (``"f1_score"``) and their fixed-average forms such as
``"precision_macro"``, ``"recall_micro"``, ``"f1_weighted"``, ``"f1_binary"``, ``"auc"``
(``"roc_auc"``), ``"mse"``, ``"mae"``, ``"rmse"``, ``"r2"`` (``"r2_score"``) and the long forms
``"mean_squared_error"``, ``"mean_absolute_error"``, ``"root_mean_squared_error"``.

By name, ``"precision"``, ``"recall"`` and ``"f1"`` use ``average="auto"``: the binary score of
class 1 for a model with one output, the macro average over classes for several outputs.

Zero division
-------------
When a score divides by zero (precision of a class never predicted, recall of a class absent
from ``y_true``, F1 of a class absent from both), it is ``zero_division`` (0.0 by default, as
scikit-learn's default but without its warning). Averages then include that 0.0; with
``zero_division=np.nan`` they leave the class out, as scikit-learn does.

Examples
--------
>>> import numpy as np
>>> from mlp import metrics
>>> metrics.accuracy(np.array([1, 0, 1]), np.array([0.9, 0.4, 0.3]))
0.6666666666666666
>>> labels = np.array([0, 2, 1, 2])
>>> probabilities = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [0.3, 0.4, 0.3], [0.5, 0.2, 0.3]])
>>> metrics.f1(labels, probabilities)                 # several outputs: macro average
0.7777777777777777
>>> metrics.get("f1_weighted")(labels, probabilities)
0.75
"""
from __future__ import annotations

import warnings
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

__all__ = [
    "METRICS", "accuracy", "auc", "binary_accuracy", "categorical_accuracy",
    "classification_report", "confusion_matrix", "evaluate_metrics", "f1", "get",
    "mean_absolute_error", "mean_squared_error", "metric_name", "precision", "r2", "recall",
    "root_mean_squared_error", "sparse_categorical_accuracy", "top_k_accuracy",
]

AVERAGES = ("auto", "binary", "micro", "macro", "weighted", None)
NORMALIZE = ("true", "pred", "all", None)


# ------------------------------------------------------------------------ validation
def _arrays(y_true, y_pred, sample_weight) -> Tuple[np.ndarray, np.ndarray, Optional[np.ndarray]]:
    """``y_true`` and ``y_pred`` as arrays of 1 or 2 dimensions and the same length, the weights
    as a float64 vector of that length (or None)."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    for name, array in (("y_true", y_true), ("y_pred", y_pred)):
        if array.ndim not in (1, 2):
            raise ValueError(f"{name}: expected shape (n,) or (n, outputs), got {array.shape}")
    n = y_true.shape[0]
    if y_pred.shape[0] != n:
        raise ValueError(f"y_pred: expected {n} samples like y_true, got {y_pred.shape[0]}")
    if n == 0:
        raise ValueError("y_true: expected at least one sample, got none")
    if sample_weight is None:
        return y_true, y_pred, None
    weight = np.asarray(sample_weight, dtype=np.float64)
    if weight.ndim == 2 and weight.shape[1] == 1:
        weight = weight[:, 0]
    if weight.shape != (n,):
        raise ValueError(f"sample_weight: expected shape ({n},), one weight per sample, got "
                         f"{weight.shape}")
    return y_true, y_pred, weight


def _check_zero_division(zero_division) -> float:
    value = float(zero_division) if isinstance(zero_division, (int, float, np.number)) else None
    if value is None or not (value in (0.0, 1.0) or np.isnan(value)):
        raise ValueError(f"zero_division: expected 0.0, 1.0 or np.nan, got {zero_division!r}")
    return value


def _check_labels(labels) -> np.ndarray:
    labels = np.asarray(labels).reshape(-1)
    if labels.size == 0:
        raise ValueError("labels: expected at least one label, got none")
    if np.unique(labels).size != labels.size:
        raise ValueError(f"labels: expected distinct labels, got {labels.tolist()}")
    return labels


def _single_output(y_pred: np.ndarray) -> bool:
    return y_pred.ndim == 1 or y_pred.shape[1] == 1


def _require_columns(y_pred: np.ndarray, caller: str) -> None:
    if _single_output(y_pred):
        raise ValueError(f"{caller}: expected y_pred of shape (n, classes) with two or more "
                         f"columns, got {y_pred.shape}; for one output use binary_accuracy")


# --------------------------------------------------------------------------- helpers
def _to_classes(y: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Integer classes: argmax of several columns, labels as they are, or ``y > threshold``."""
    if y.ndim == 2 and y.shape[1] > 1:
        return y.argmax(axis=1)
    values = y.reshape(-1)
    if values.dtype.kind in "biu":
        return values.astype(np.int64)
    values = values.astype(np.float64)
    if np.all(values == np.round(values)):
        return values.astype(np.int64)
    return (values > threshold).astype(np.int64)


def _mean(values: np.ndarray, weight: Optional[np.ndarray]) -> float:
    """Mean of per-sample values, weighted by ``weight`` when given."""
    if weight is None:
        return float(np.mean(values))
    total = weight.sum()
    if total == 0:
        raise ValueError("sample_weight: the weights sum to zero")
    return float(np.sum(weight * values) / total)


def _column_means(values: np.ndarray, weight: Optional[np.ndarray]) -> np.ndarray:
    """Per-column mean of a ``(n, outputs)`` array, weighted over the rows when asked."""
    if weight is None:
        return values.mean(axis=0)
    total = weight.sum()
    if total == 0:
        raise ValueError("sample_weight: the weights sum to zero")
    return (values * weight[:, None]).sum(axis=0) / total


def _divide(numerator: np.ndarray, denominator: np.ndarray, zero_division: float) -> np.ndarray:
    out = np.full(numerator.shape, zero_division, dtype=np.float64)
    np.divide(numerator, denominator, out=out, where=denominator != 0)
    return out


def _nan_average(values: np.ndarray, weights: Optional[np.ndarray] = None) -> float:
    """Average ignoring NaNs (a NaN when all are); zero total weight falls back to the mean."""
    keep = ~np.isnan(values)
    if not keep.any():
        return float("nan")
    values = values[keep]
    if weights is not None:
        weights = weights[keep]
        if weights.sum() != 0:
            return float(np.sum(values * weights) / weights.sum())
    return float(values.mean())


def _positions(values: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Index of each value in ``labels``, -1 for values that are not one of them."""
    order = np.argsort(labels, kind="stable")
    ordered = labels[order]
    where = np.minimum(np.searchsorted(ordered, values), labels.size - 1)
    return np.where(ordered[where] == values, order[where], -1)


def _label_sums(truth, predicted, weight, labels):
    """Per label (in the order of ``labels``): true positives, predicted and true totals."""
    weight = np.ones(truth.size) if weight is None else weight
    true_index, pred_index = _positions(truth, labels), _positions(predicted, labels)

    def total(index, mask):
        keep = (index >= 0) & mask
        return np.bincount(index[keep], weights=weight[keep], minlength=labels.size)

    everything = np.ones(truth.size, dtype=bool)
    return (total(true_index, truth == predicted), total(pred_index, everything),
            total(true_index, everything))


# ------------------------------------------------------------------------- accuracy
def accuracy(y_true, y_pred, sample_weight=None, threshold: float = 0.5) -> float:
    """Fraction of samples whose predicted class is the true one.

    Parameters
    ----------
    y_true : array-like of shape (n,) or (n, outputs)
        Class labels, one-hot rows or binary targets.
    y_pred : array-like of shape (n,) or (n, outputs)
        Probabilities (argmax for several columns, ``> threshold`` for one) or class labels.
    sample_weight : array-like of shape (n,), optional
        Weight of each sample. Defaults to equal weights.
    threshold : float
        Probability above which a single-output prediction is class 1. Defaults to ``0.5``.

    Returns
    -------
    float
        Equal to ``sklearn.metrics.accuracy_score`` on the classes.

    Examples
    --------
    >>> accuracy([1, 0, 1], [0.9, 0.4, 0.3])
    0.6666666666666666
    >>> accuracy([2, 0], [[0.1, 0.2, 0.7], [0.3, 0.6, 0.1]], sample_weight=[3, 1])
    0.75
    """
    y_true, y_pred, weight = _arrays(y_true, y_pred, sample_weight)
    return _mean(_to_classes(y_true) == _to_classes(y_pred, threshold), weight)


def binary_accuracy(y_true, y_pred, sample_weight=None, threshold: float = 0.5) -> float:
    """Fraction of outputs on the right side of ``threshold``, output by output.

    With several outputs (multi-label), each sample scores the fraction of its outputs that are
    right (Keras' ``binary_accuracy``), and samples are then averaged with their weights. For
    one output it equals ``sklearn.metrics.accuracy_score(y_true, y_pred > threshold)``.

    Parameters
    ----------
    y_true : array-like of shape (n,) or (n, outputs)
        Targets in {0, 1} (values above 0.5 count as 1).
    y_pred : array-like of the same size
        Probabilities.
    sample_weight : array-like of shape (n,), optional
        Defaults to equal weights.
    threshold : float
        Defaults to ``0.5``.

    Examples
    --------
    >>> binary_accuracy([[1, 0], [0, 0]], [[0.8, 0.7], [0.2, 0.1]])
    0.75
    """
    y_true, y_pred, weight = _arrays(y_true, y_pred, sample_weight)
    predicted = y_pred.reshape(y_pred.shape[0], -1) > threshold
    if y_true.size != predicted.size:
        raise ValueError(f"y_true: expected shape {y_pred.shape} like y_pred, got {y_true.shape}")
    truth = y_true.astype(np.float64).reshape(predicted.shape) > 0.5
    return _mean((predicted == truth).mean(axis=1), weight)


def categorical_accuracy(y_true, y_pred, sample_weight=None) -> float:
    """Fraction of rows whose argmax matches the argmax of the one-hot target.

    Parameters
    ----------
    y_true : array-like of shape (n, classes)
        One-hot targets.
    y_pred : array-like of shape (n, classes)
        Probabilities.
    sample_weight : array-like of shape (n,), optional
        Defaults to equal weights.

    Examples
    --------
    >>> categorical_accuracy([[0, 1], [1, 0]], [[0.3, 0.7], [0.4, 0.6]])
    0.5
    """
    y_true, y_pred, weight = _arrays(y_true, y_pred, sample_weight)
    _require_columns(y_pred, "categorical_accuracy")
    if y_true.shape != y_pred.shape:
        raise ValueError(f"categorical_accuracy: expected one-hot y_true of shape {y_pred.shape} "
                         f"like y_pred, got {y_true.shape}; for integer labels use "
                         f"sparse_categorical_accuracy")
    return _mean(y_true.argmax(axis=1) == y_pred.argmax(axis=1), weight)


def sparse_categorical_accuracy(y_true, y_pred, sample_weight=None) -> float:
    """Fraction of rows whose argmax is the integer label.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Class indices.
    y_pred : array-like of shape (n, classes)
        Probabilities.
    sample_weight : array-like of shape (n,), optional
        Defaults to equal weights.

    Examples
    --------
    >>> sparse_categorical_accuracy([1, 0], [[0.3, 0.7], [0.4, 0.6]])
    0.5
    """
    y_true, y_pred, weight = _arrays(y_true, y_pred, sample_weight)
    _require_columns(y_pred, "sparse_categorical_accuracy")
    if not _single_output(y_true):
        raise ValueError(f"sparse_categorical_accuracy: expected integer labels of shape (n,), "
                         f"got {y_true.shape}; for one-hot targets use categorical_accuracy")
    return _mean(y_true.reshape(-1) == y_pred.argmax(axis=1), weight)


def top_k_accuracy(y_true, y_pred, sample_weight=None, k: int = 5) -> float:
    """Fraction of samples whose true class is among the ``k`` highest scores.

    Ties are broken as scikit-learn does: among equal scores the higher class index ranks first.
    With ``k`` at least the number of classes every sample is a hit. With one output (binary
    scores), ``k=1`` is the accuracy at 0.5 (at 0 for scores outside [0, 1]) and ``k >= 2`` is 1.

    Parameters
    ----------
    y_true : array-like of shape (n,) or (n, classes)
        Class indices (column numbers of ``y_pred``) or one-hot rows.
    y_pred : array-like of shape (n, classes)
        Scores or probabilities.
    sample_weight : array-like of shape (n,), optional
        Defaults to equal weights.
    k : int
        Number of best guesses that count. Defaults to ``5``.

    Returns
    -------
    float
        Equal to ``sklearn.metrics.top_k_accuracy_score(y_true, y_pred, k=k,
        labels=range(classes))``.

    Examples
    --------
    >>> scores = [[0.5, 0.3, 0.2], [0.1, 0.3, 0.6], [0.2, 0.5, 0.3]]
    >>> top_k_accuracy([1, 0, 2], scores, k=2)
    0.6666666666666666
    """
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k: expected a positive integer, got {k!r}")
    y_true, y_pred, weight = _arrays(y_true, y_pred, sample_weight)
    truth = _to_classes(y_true)
    if _single_output(y_pred):
        scores = y_pred.reshape(-1)
        if k >= 2:
            return _mean(np.ones(truth.size), weight)
        cut = 0.5 if scores.min() >= 0 and scores.max() <= 1 else 0.0
        return _mean(truth == (scores > cut), weight)
    n_classes = y_pred.shape[1]
    if truth.min() < 0 or truth.max() >= n_classes:
        raise ValueError(f"top_k_accuracy: y_true holds labels outside [0, {n_classes - 1}] "
                         f"for y_pred's {n_classes} columns")
    true_score = y_pred[np.arange(truth.size), truth][:, None]
    ahead = (y_pred > true_score) | (
        (y_pred == true_score) & (np.arange(n_classes) > truth[:, None]))
    return _mean(ahead.sum(axis=1) < k, weight)


# ----------------------------------------------------------- precision / recall / F1
def _precision_recall_f1(y_true, y_pred, sample_weight, average, labels, zero_division,
                         threshold, caller):
    """Precision, recall and F1 averaged as asked (per-label arrays for ``average=None``)."""
    if average not in AVERAGES:
        raise ValueError(f"average: expected one of {list(AVERAGES)}, got {average!r}")
    zero_division = _check_zero_division(zero_division)
    y_true, y_pred, weight = _arrays(y_true, y_pred, sample_weight)
    truth, predicted = _to_classes(y_true), _to_classes(y_pred, threshold)
    present = np.union1d(truth, predicted)
    if average == "auto":
        binary = _single_output(y_pred) and set(present.tolist()) <= {0, 1}
        average = "binary" if binary else "macro"
    if average == "binary":
        if present.size > 2:
            raise ValueError(f"{caller}: average='binary' needs at most two classes, got "
                             f"{present.tolist()}; use average='micro', 'macro' or 'weighted'")
        if 1 not in present and present.size == 2:
            raise ValueError(f"{caller}: average='binary' scores class 1, which is not among the "
                             f"classes {present.tolist()}; use average='macro' or labels")
        labels = np.array([1])
    else:
        labels = present if labels is None else _check_labels(labels)
    tp, pred_sum, true_sum = _label_sums(truth, predicted, weight, labels)
    if average == "micro":
        tp, pred_sum, true_sum = (np.array([values.sum()]) for values in (tp, pred_sum, true_sum))
    scores = (_divide(tp, pred_sum, zero_division), _divide(tp, true_sum, zero_division),
              _divide(2 * tp, true_sum + pred_sum, zero_division))
    if average is None:
        return scores
    weights = true_sum if average == "weighted" else None
    return tuple(_nan_average(values, weights) for values in scores)


_PRF_PARAMETERS = """
    Parameters
    ----------
    y_true : array-like of shape (n,) or (n, outputs)
        Class labels, one-hot rows or binary targets.
    y_pred : array-like of shape (n,) or (n, outputs)
        Probabilities (argmax for several columns, ``> threshold`` for one) or class labels.
    sample_weight : array-like of shape (n,), optional
        Weight of each sample. Defaults to equal weights.
    average : {"auto", "binary", "micro", "macro", "weighted"} or None
        ``"binary"``: the score of class 1. ``"micro"``: from the counts summed over classes.
        ``"macro"``: the unweighted mean of the per-class scores. ``"weighted"``: their mean
        weighted by each class' (weighted) support. ``None``: an array of per-class scores (not
        usable in ``compile``). Defaults to ``"auto"``: ``"binary"`` when ``y_pred`` has one
        output and the classes are 0 and 1, ``"macro"`` otherwise.
    labels : array-like, optional
        The classes to score and their order (ignored for ``"binary"``). Defaults to the sorted
        classes found in ``y_true`` or in the predictions; a class of the model that appears in
        neither is left out, as in scikit-learn.
    zero_division : {0.0, 1.0, np.nan}
        The score where its denominator is zero (see the module notes). Defaults to ``0.0``.
    threshold : float
        Probability above which a single-output prediction is class 1. Defaults to ``0.5``.

    Returns
    -------
    float or numpy.ndarray
        Equal to scikit-learn's ``{name}_score`` on the classes with the same ``average``,
        ``labels``, ``sample_weight`` and ``zero_division``.
"""


def _document(sklearn_name: str) -> Callable[[Callable], Callable]:
    """Put the shared parameter section into a precision / recall / F1 docstring."""

    def decorate(function: Callable) -> Callable:
        function.__doc__ = function.__doc__.replace(
            "{parameters}", _PRF_PARAMETERS.replace("{name}", sklearn_name))
        return function

    return decorate


@_document("precision")
def precision(y_true, y_pred, sample_weight=None, average: Optional[str] = "auto",
              labels=None, zero_division: float = 0.0, threshold: float = 0.5):
    """Precision ``tp / (tp + fp)``: the fraction of predicted positives that are right.
    {parameters}
    Examples
    --------
    >>> precision([1, 1, 1, 0], [0.9, 0.8, 0.2, 0.7])
    0.6666666666666666
    >>> precision([0, 1, 2, 2], [0, 2, 2, 2], average="micro")
    0.75
    """
    return _precision_recall_f1(y_true, y_pred, sample_weight, average, labels, zero_division,
                                threshold, "precision")[0]


@_document("recall")
def recall(y_true, y_pred, sample_weight=None, average: Optional[str] = "auto", labels=None,
           zero_division: float = 0.0, threshold: float = 0.5):
    """Recall ``tp / (tp + fn)``: the fraction of true positives that are found.
    {parameters}
    Examples
    --------
    >>> recall([1, 1, 1, 0], [0.9, 0.8, 0.2, 0.7])
    0.6666666666666666
    >>> recall([0, 1, 2, 2], [0, 2, 2, 2], average="macro")
    0.6666666666666666
    """
    return _precision_recall_f1(y_true, y_pred, sample_weight, average, labels, zero_division,
                                threshold, "recall")[1]


@_document("f1")
def f1(y_true, y_pred, sample_weight=None, average: Optional[str] = "auto", labels=None,
       zero_division: float = 0.0, threshold: float = 0.5):
    """F1 ``2 tp / (2 tp + fp + fn)``, the harmonic mean of precision and recall.
    {parameters}
    Examples
    --------
    >>> f1([1, 1, 1, 0], [0.9, 0.8, 0.2, 0.7])
    0.6666666666666666
    >>> f1([0, 1, 2, 2], [0, 2, 2, 2], average="weighted")
    0.65
    """
    return _precision_recall_f1(y_true, y_pred, sample_weight, average, labels, zero_division,
                                threshold, "f1")[2]


# ------------------------------------------------------------------------ ROC AUC
def _binary_auc(positive: np.ndarray, scores: np.ndarray, weight: Optional[np.ndarray]) -> float:
    """Area under the ROC curve: P(score of a positive > score of a negative), ties count 1/2."""
    weight = np.ones(positive.size) if weight is None else weight
    levels, level = np.unique(scores, return_inverse=True)
    positives = np.bincount(level, weights=weight * positive, minlength=levels.size)
    negatives = np.bincount(level, weights=weight * ~positive, minlength=levels.size)
    total_positive, total_negative = positives.sum(), negatives.sum()
    if total_positive == 0 or total_negative == 0:
        return float("nan")
    negatives_below = np.concatenate(([0.0], np.cumsum(negatives)[:-1]))
    return float(np.sum(positives * (negatives_below + 0.5 * negatives))
                 / (total_positive * total_negative))


def auc(y_true, y_pred, sample_weight=None, average: str = "macro") -> float:
    """Area under the ROC curve (ROC AUC).

    For one output, the binary ROC AUC of the scores, the higher class being the positive one.
    For several outputs, one-vs-rest: column ``c`` scores class ``c`` against all others, and the
    per-class areas are averaged (``"macro"``: plain mean; ``"weighted"``: weighted by each class'
    support). Tied scores count half, as the trapezoidal rule over scikit-learn's ROC curve does.

    When ``y_true`` holds a single class (or, one-vs-rest, a class is absent), the area is not
    defined: the result is NaN with a ``RuntimeWarning``, as scikit-learn returns NaN with its
    ``UndefinedMetricWarning``. An absent class counts 0 in the ``"weighted"`` average.

    Parameters
    ----------
    y_true : array-like of shape (n,) or (n, classes)
        Binary targets, class indices or one-hot rows.
    y_pred : array-like of shape (n,) or (n, classes)
        Scores or probabilities.
    sample_weight : array-like of shape (n,), optional
        Defaults to equal weights.
    average : {"macro", "weighted"}
        How one-vs-rest areas are averaged. Defaults to ``"macro"``.

    Returns
    -------
    float
        Equal to ``sklearn.metrics.roc_auc_score(y_true, y_pred)`` for binary scores and to
        ``roc_auc_score(y_true, y_pred, multi_class="ovr", average=average)`` for probabilities
        of several classes.

    Raises
    ------
    ValueError
        For more than two classes with one score column, or labels outside the columns.

    Examples
    --------
    >>> auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    0.75
    >>> auc([0, 1, 2], [[0.8, 0.1, 0.1], [0.2, 0.6, 0.2], [0.1, 0.2, 0.7]])
    1.0
    """
    if average not in ("macro", "weighted"):
        raise ValueError(f"average: expected 'macro' or 'weighted', got {average!r}")
    y_true, y_pred, weight = _arrays(y_true, y_pred, sample_weight)
    truth = _to_classes(y_true)
    if _single_output(y_pred):
        classes = np.unique(truth)
        if classes.size > 2:
            raise ValueError(f"auc: y_true holds {classes.size} classes but y_pred has one "
                             f"column; give one score column per class")
        score = _binary_auc(truth == classes[-1], y_pred.reshape(-1).astype(np.float64), weight)
        if np.isnan(score):
            warnings.warn("auc: y_true holds a single class; ROC AUC is not defined there and "
                          "is NaN", RuntimeWarning, stacklevel=2)
        return score
    n_classes = y_pred.shape[1]
    if truth.min() < 0 or truth.max() >= n_classes:
        raise ValueError(f"auc: y_true holds labels outside [0, {n_classes - 1}] for y_pred's "
                         f"{n_classes} columns")
    scores = np.array([_binary_auc(truth == c, y_pred[:, c].astype(np.float64), weight)
                       for c in range(n_classes)])
    undefined = np.flatnonzero(np.isnan(scores))
    if undefined.size:
        warnings.warn(f"auc: classes {undefined.tolist()} have no positive or no negative sample "
                      f"in y_true; their one-vs-rest ROC AUC is not defined (NaN)",
                      RuntimeWarning, stacklevel=2)
    if average == "macro":
        return float(np.mean(scores))
    support = np.bincount(truth, weights=weight, minlength=n_classes).astype(np.float64)
    if support.sum() == 0:
        return 0.0
    scores[support == 0] = 0.0
    return float(np.sum(scores * support) / support.sum())


# ------------------------------------------------------------------------ regression
def _regression_arrays(y_true, y_pred, sample_weight):
    y_true, y_pred, weight = _arrays(y_true, y_pred, sample_weight)
    predicted = y_pred.astype(np.float64).reshape(y_pred.shape[0], -1)
    if y_true.size != predicted.size:
        raise ValueError(f"y_true: expected shape {y_pred.shape} like y_pred, got {y_true.shape}")
    return y_true.astype(np.float64).reshape(predicted.shape), predicted, weight


def mean_squared_error(y_true, y_pred, sample_weight=None) -> float:
    """Mean squared error, (weighted) over samples, then averaged over outputs.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n,) or (n, outputs)
        Targets and predictions.
    sample_weight : array-like of shape (n,), optional
        Defaults to equal weights.

    Returns
    -------
    float
        Equal to ``sklearn.metrics.mean_squared_error``.

    Examples
    --------
    >>> mean_squared_error([1.0, 2.0, 3.0], [1.5, 2.0, 2.0])
    0.4166666666666667
    """
    truth, predicted, weight = _regression_arrays(y_true, y_pred, sample_weight)
    return float(np.mean(_column_means((truth - predicted) ** 2, weight)))


def mean_absolute_error(y_true, y_pred, sample_weight=None) -> float:
    """Mean absolute error, (weighted) over samples, then averaged over outputs.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n,) or (n, outputs)
        Targets and predictions.
    sample_weight : array-like of shape (n,), optional
        Defaults to equal weights.

    Returns
    -------
    float
        Equal to ``sklearn.metrics.mean_absolute_error``.

    Examples
    --------
    >>> mean_absolute_error([1.0, 2.0, 3.0], [1.5, 2.0, 2.0])
    0.5
    """
    truth, predicted, weight = _regression_arrays(y_true, y_pred, sample_weight)
    return float(np.mean(_column_means(np.abs(truth - predicted), weight)))


def root_mean_squared_error(y_true, y_pred, sample_weight=None) -> float:
    """Root mean squared error of each output, averaged over outputs.

    With several outputs this is the mean of the per-output RMSEs (scikit-learn's convention),
    not the square root of the overall MSE.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n,) or (n, outputs)
        Targets and predictions.
    sample_weight : array-like of shape (n,), optional
        Defaults to equal weights.

    Returns
    -------
    float
        Equal to ``sklearn.metrics.root_mean_squared_error``.

    Examples
    --------
    >>> root_mean_squared_error([0.0, 0.0], [3.0, 4.0])
    3.5355339059327378
    """
    truth, predicted, weight = _regression_arrays(y_true, y_pred, sample_weight)
    return float(np.mean(np.sqrt(_column_means((truth - predicted) ** 2, weight))))


def r2(y_true, y_pred, sample_weight=None) -> float:
    """Coefficient of determination R² of each output, averaged over outputs.

    ``R² = 1 - sum w (y - y_pred)² / sum w (y - mean_w(y))²``. For a constant target (zero
    denominator) it is 1.0 when the predictions are exact and 0.0 otherwise; with fewer than two
    samples it is NaN with a ``RuntimeWarning`` (scikit-learn's conventions).

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n,) or (n, outputs)
        Targets and predictions.
    sample_weight : array-like of shape (n,), optional
        Defaults to equal weights.

    Returns
    -------
    float
        Equal to ``sklearn.metrics.r2_score`` (``multioutput="uniform_average"``).

    Examples
    --------
    >>> r2([1.0, 2.0, 3.0], [1.0, 2.0, 4.0])
    0.5
    >>> r2([2.0, 2.0], [2.0, 2.5])
    0.0
    """
    truth, predicted, weight = _regression_arrays(y_true, y_pred, sample_weight)
    if truth.shape[0] < 2:
        warnings.warn("r2: R² is not defined with fewer than two samples; returning NaN",
                      RuntimeWarning, stacklevel=2)
        return float("nan")
    row_weight = np.ones((truth.shape[0], 1)) if weight is None else weight[:, None]
    residual = (row_weight * (truth - predicted) ** 2).sum(axis=0)
    spread = (row_weight * (truth - _column_means(truth, weight)) ** 2).sum(axis=0)
    scores = np.ones(truth.shape[1])
    defined = (residual != 0) & (spread != 0)
    scores[defined] = 1 - residual[defined] / spread[defined]
    scores[(residual != 0) & (spread == 0)] = 0.0
    return float(np.mean(scores))


# ------------------------------------------------- confusion matrix and report
def _confusion(y_true, y_pred, labels, normalize, sample_weight) -> Tuple[np.ndarray, np.ndarray]:
    """The confusion matrix and the labels of its rows and columns."""
    if normalize not in NORMALIZE:
        raise ValueError(f"normalize: expected one of {list(NORMALIZE)}, got {normalize!r}")
    integer_weights = sample_weight is None or np.asarray(sample_weight).dtype.kind in "biu"
    y_true, y_pred, weight = _arrays(y_true, y_pred, sample_weight)
    truth, predicted = _to_classes(y_true), _to_classes(y_pred)
    if labels is None:
        labels = np.union1d(truth, predicted)
    else:
        labels = _check_labels(labels)
        if not np.isin(truth, labels).any():
            raise ValueError(f"labels: none of {labels.tolist()} is in y_true")
    rows, columns = _positions(truth, labels), _positions(predicted, labels)
    keep = (rows >= 0) & (columns >= 0)
    weight = np.ones(truth.size) if weight is None else weight
    counts = np.bincount(rows[keep] * labels.size + columns[keep], weights=weight[keep],
                         minlength=labels.size ** 2).reshape(labels.size, labels.size)
    matrix = counts.astype(np.int64) if integer_weights else counts
    if normalize is not None:
        axis = {"true": 1, "pred": 0, "all": None}[normalize]
        with np.errstate(all="ignore"):
            matrix = np.nan_to_num(matrix / matrix.sum(axis=axis, keepdims=axis is not None))
    return matrix, labels


def confusion_matrix(y_true, y_pred, labels=None, normalize: Optional[str] = None, *,
                     sample_weight=None) -> np.ndarray:
    """Counts of each (true class, predicted class) pair.

    Row ``i`` is the true class ``labels[i]``, column ``j`` the predicted class ``labels[j]``.

    Parameters
    ----------
    y_true : array-like of shape (n,) or (n, classes)
        Class labels, one-hot rows or binary targets.
    y_pred : array-like of shape (n,) or (n, classes)
        Class labels, or probabilities (argmax for several columns, ``> 0.5`` for one).
    labels : array-like, optional
        Classes to show, in order; samples of other classes are left out. Defaults to the
        sorted classes present in ``y_true`` or the predictions (pass ``range(classes)`` to
        show every class of the model).
    normalize : {"true", "pred", "all"}, optional
        Divide by the row sums (recall per class on the diagonal), the column sums (precision)
        or the total; empty rows or columns give 0. Defaults to counts.
    sample_weight : array-like of shape (n,), optional
        Defaults to equal weights.

    Returns
    -------
    numpy.ndarray of shape (len(labels), len(labels))
        int64 counts, float64 when weighted or normalized. Equal to
        ``sklearn.metrics.confusion_matrix``.

    Examples
    --------
    >>> confusion_matrix([0, 1, 2, 2], [[0.8, 0.1, 0.1], [0.1, 0.2, 0.7],
    ...                                 [0.2, 0.2, 0.6], [0.1, 0.5, 0.4]])
    array([[1, 0, 0],
           [0, 0, 1],
           [0, 1, 1]])
    >>> confusion_matrix([1, 0, 1, 1], [0.9, 0.2, 0.4, 0.6], normalize="true")
    array([[1.        , 0.        ],
           [0.33333333, 0.66666667]])
    """
    return _confusion(y_true, y_pred, labels, normalize, sample_weight)[0]


_REPORT_COLUMNS = ("precision", "recall", "f1-score", "support")


def classification_report(y_true, y_pred, target_names: Optional[Sequence[str]] = None,
                          digits: int = 2, output_dict: bool = False, *, labels=None,
                          sample_weight=None,
                          zero_division: float = 0.0) -> Union[str, Dict[str, Any]]:
    """Per-class precision, recall, F1 and support, with accuracy and averages.

    Parameters
    ----------
    y_true : array-like of shape (n,) or (n, classes)
        Class labels, one-hot rows or binary targets.
    y_pred : array-like of shape (n,) or (n, classes)
        Class labels, or probabilities (argmax for several columns, ``> 0.5`` for one).
    target_names : sequence of str, optional
        Display names of the classes, in the order of ``labels``. Defaults to the labels.
    digits : int
        Decimals of the text table (the dict is not rounded). Defaults to ``2``.
    output_dict : bool
        Return a dict instead of text. Defaults to ``False``.
    labels : array-like, optional
        Classes to report, in order. Defaults to the sorted classes present in ``y_true`` or
        the predictions.
    sample_weight : array-like of shape (n,), optional
        Defaults to equal weights (supports are then weighted sums).
    zero_division : {0.0, 1.0, np.nan}
        Score where a denominator is zero. Defaults to ``0.0``.

    Returns
    -------
    str or dict
        The table as ``sklearn.metrics.classification_report`` prints it (same numbers and
        layout), or its dict: ``{name: {"precision", "recall", "f1-score", "support"}, ...,
        "accuracy": float, "macro avg": {...}, "weighted avg": {...}}``. When ``labels`` leaves
        out a class that occurs, a ``"micro avg"`` row replaces ``"accuracy"``.

    Examples
    --------
    >>> print(classification_report([0, 1, 2, 2, 2], [0, 0, 2, 2, 1],
    ...                             target_names=["ant", "bird", "cat"]))
                  precision    recall  f1-score   support
    <BLANKLINE>
             ant       0.50      1.00      0.67         1
            bird       0.00      0.00      0.00         1
             cat       1.00      0.67      0.80         3
    <BLANKLINE>
        accuracy                           0.60         5
       macro avg       0.50      0.56      0.49         5
    weighted avg       0.70      0.60      0.61         5
    <BLANKLINE>
    """
    if isinstance(digits, bool) or not isinstance(digits, (int, np.integer)) or digits < 0:
        raise ValueError(f"digits: expected an integer >= 0, got {digits!r}")
    zero_division = _check_zero_division(zero_division)
    y_true, y_pred, weight = _arrays(y_true, y_pred, sample_weight)
    truth, predicted = _to_classes(y_true), _to_classes(y_pred)
    present = np.union1d(truth, predicted)
    labels = present if labels is None else _check_labels(labels)
    names = [str(label) for label in labels] if target_names is None else list(target_names)
    if len(names) != labels.size:
        raise ValueError(f"target_names: expected {labels.size} names, one per class "
                         f"{labels.tolist()}, got {len(names)}; give labels to choose classes")
    tp, pred_sum, true_sum = _label_sums(truth, predicted, weight, labels)
    per_class = np.stack([_divide(tp, pred_sum, zero_division),
                          _divide(tp, true_sum, zero_division),
                          _divide(2 * tp, true_sum + pred_sum, zero_division), true_sum], axis=1)
    total = true_sum.sum()
    micro = [_divide(np.array([tp.sum()]), np.array([s]), zero_division)[0]
             for s in (pred_sum.sum(), true_sum.sum())]
    micro.append(_divide(np.array([2 * tp.sum()]), np.array([true_sum.sum() + pred_sum.sum()]),
                         zero_division)[0])
    averages = {"macro avg": [_nan_average(column) for column in per_class[:, :3].T] + [total],
                "weighted avg": [_nan_average(column, true_sum)
                                 for column in per_class[:, :3].T] + [total]}
    micro_is_accuracy = set(present.tolist()) <= set(labels.tolist())
    if output_dict:
        report: Dict[str, Any] = {name: dict(zip(_REPORT_COLUMNS, map(float, row)))
                                  for name, row in zip(names, per_class)}
        if micro_is_accuracy:
            report["accuracy"] = float(micro[0])
        else:
            report["micro avg"] = dict(zip(_REPORT_COLUMNS, map(float, micro + [total])))
        report.update({key: dict(zip(_REPORT_COLUMNS, map(float, values)))
                       for key, values in averages.items()})
        return report
    return _report_text(names, per_class, micro, total, averages, micro_is_accuracy, digits,
                        weighted=weight is not None)


def _report_text(names: List[str], per_class: np.ndarray, micro: List[float], total: float,
                 averages: Dict[str, List[float]], micro_is_accuracy: bool, digits: int,
                 weighted: bool) -> str:
    width = max(max(len(name) for name in names), len("weighted avg"), digits)

    def support(value: float) -> str:
        return f"{value:>9.{digits}f}" if weighted else f"{int(round(value)):>9}"

    def row(name: str, scores: Sequence[Optional[float]], count: float) -> str:
        cells = "".join(" " * 10 if s is None else f" {s:>9.{digits}f}" for s in scores)
        return f"{name:>{width}} {cells} {support(count)}\n"

    text = " " * width + " " + "".join(f" {column:>9}" for column in _REPORT_COLUMNS) + "\n\n"
    text += "".join(row(name, values[:3], values[3]) for name, values in zip(names, per_class))
    text += "\n"
    if micro_is_accuracy:
        text += row("accuracy", [None, None, micro[0]], total)
    else:
        text += row("micro avg", micro, total)
    text += "".join(row(name, values[:3], values[3]) for name, values in averages.items())
    return text


# ------------------------------------------------------------------ names and lookup
def _preset(function: Callable, name: str, **settings) -> Callable:
    """``function`` with some keyword arguments fixed, under its own name (for ``compile``)."""

    def metric(y_true, y_pred, sample_weight=None):
        return function(y_true, y_pred, sample_weight=sample_weight, **settings)

    metric.__name__ = metric.__qualname__ = name
    fixed = ", ".join(f"{key}={value!r}" for key, value in settings.items())
    metric.__doc__ = f":func:`{function.__name__}` with ``{fixed}``."
    return metric


METRICS: Dict[str, Callable] = {
    "accuracy": accuracy,
    "acc": accuracy,
    "binary_accuracy": binary_accuracy,
    "categorical_accuracy": categorical_accuracy,
    "sparse_categorical_accuracy": sparse_categorical_accuracy,
    "top_k_accuracy": top_k_accuracy,
    "top_k_categorical_accuracy": top_k_accuracy,
    "sparse_top_k_categorical_accuracy": top_k_accuracy,
    **{f"top_{k}_accuracy": _preset(top_k_accuracy, f"top_{k}_accuracy", k=k)
       for k in (2, 3, 5, 10)},
    "precision": precision,
    "recall": recall,
    "f1": f1,
    "f1_score": f1,
    **{f"{function.__name__}_{average}": _preset(function, f"{function.__name__}_{average}",
                                                  average=average)
       for function in (precision, recall, f1)
       for average in ("binary", "micro", "macro", "weighted")},
    "auc": auc,
    "roc_auc": auc,
    "mse": mean_squared_error,
    "mean_squared_error": mean_squared_error,
    "mae": mean_absolute_error,
    "mean_absolute_error": mean_absolute_error,
    "rmse": root_mean_squared_error,
    "root_mean_squared_error": root_mean_squared_error,
    "r2": r2,
    "r2_score": r2,
}

_CANONICAL_NAMES = {"acc": "accuracy", "f1_score": "f1", "roc_auc": "auc", "r2_score": "r2"}


def get(identifier: Union[str, Callable]) -> Callable:
    """A metric function by name, or a callable ``f(y_true, y_pred, sample_weight=None)``.

    Names are case-insensitive; see the module notes for the list.

    Raises
    ------
    ValueError
        For an unknown name (the message lists the supported ones).

    Examples
    --------
    >>> get("ACC") is accuracy
    True
    >>> get("f1_macro").__name__
    'f1_macro'
    """
    if callable(identifier):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in METRICS:
        return METRICS[identifier.lower()]
    raise ValueError(
        f"metrics: unknown metric {identifier!r}. Supported metrics are {sorted(METRICS)}."
    )


def metric_name(identifier: Union[str, Callable]) -> str:
    """The key a metric gets in ``History.history`` and ``evaluate()`` results.

    Examples
    --------
    >>> metric_name("acc"), metric_name("F1_score"), metric_name("precision_macro")
    ('accuracy', 'f1', 'precision_macro')
    """
    if isinstance(identifier, str):
        return _CANONICAL_NAMES.get(identifier.lower(), identifier.lower())
    return getattr(identifier, "__name__", type(identifier).__name__)


def evaluate_metrics(metrics: Dict[str, Callable], y_true, y_pred,
                     sample_weight: Optional[np.ndarray] = None) -> Dict[str, float]:
    """Compute each named metric on the same arrays, as floats."""
    return {name: float(fn(y_true, y_pred, sample_weight=sample_weight))
            for name, fn in metrics.items()}
