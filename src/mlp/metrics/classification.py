"""Classification metrics: accuracies, precision / recall / F1 and ROC AUC."""
from __future__ import annotations

import warnings
from typing import Callable, Optional

import numpy as np

from ..validation import check_int
from ._common import (
    AVERAGES,
    _arrays,
    _check_labels,
    _check_zero_division,
    _class_pair,
    _divide,
    _label_sums,
    _mean,
    _nan_average,
    _require_columns,
    _single_output,
    _to_classes,
)


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
    truth, predicted = _class_pair(y_true, y_pred, threshold)
    return _mean(truth == predicted, weight)


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
    check_int("k", k, 1, wrong_type=ValueError, expected="a positive integer")
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
    truth, predicted = _class_pair(y_true, y_pred, threshold)
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


__all__ = ["accuracy", "auc", "binary_accuracy", "categorical_accuracy", "f1", "precision",
           "recall", "sparse_categorical_accuracy", "top_k_accuracy"]
