"""scikit-learn's metric names and signatures over mlp's metrics.

``accuracy_score``, ``precision_score``, ``recall_score``, ``f1_score``, ``roc_auc_score``,
``top_k_accuracy_score`` and ``r2_score`` take the arguments of their ``sklearn.metrics``
namesakes (``mean_squared_error``, ``mean_absolute_error``, ``root_mean_squared_error``,
``confusion_matrix`` and ``classification_report`` already carry scikit-learn's names) and
return what scikit-learn returns. As there, ``y_pred`` holds predicted labels and ``y_score``
scores or probabilities. Differences: ``zero_division="warn"`` gives 0.0 without a warning;
``roc_auc_score`` has no ``max_fpr`` and no ``multi_class="ovo"`` (both raise).

Examples
--------
>>> from mlp.metrics import accuracy_score, f1_score
>>> accuracy_score(["a", "b", "b"], ["a", "b", "a"])
0.6666666666666666
>>> f1_score(["a", "b", "b"], ["a", "b", "a"], pos_label="b")
0.6666666666666666
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

from .classification import accuracy, auc, f1, precision, recall, top_k_accuracy
from .regression import r2


def accuracy_score(y_true, y_pred, *, normalize: bool = True, sample_weight=None) -> float:
    """The fraction (``normalize=False``: the weighted number) of right labels.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n,)
        True and predicted labels.
    normalize : bool, default=True
    sample_weight : array-like of shape (n,), default=None

    Returns
    -------
    float
        As ``sklearn.metrics.accuracy_score``.
    """
    score = accuracy(y_true, y_pred, sample_weight=sample_weight)
    if normalize:
        return score
    weight = np.ones(len(y_true)) if sample_weight is None else np.asarray(sample_weight)
    return float(score * weight.sum())


def _score(function, y_true, y_pred, labels, pos_label, average, sample_weight,
           zero_division) -> Any:
    """precision / recall / F1 with scikit-learn's ``average`` (``"binary"`` scores
    ``pos_label``)."""
    zero_division = 0.0 if zero_division == "warn" else zero_division
    if average == "binary":
        present = np.union1d(np.asarray(y_true).ravel(), np.asarray(y_pred).ravel())
        if present.size > 2:
            raise ValueError(f"average: 'binary' needs two classes, the target has "
                             f"{present.size}: {present[:10].tolist()}; choose another average "
                             f"('micro', 'macro', 'weighted' or None)")
        if present.size == 2 and pos_label not in present.tolist():
            raise ValueError(f"pos_label: {pos_label!r} is not a valid label; the labels are "
                             f"{present.tolist()}")
        return float(function(y_true, y_pred, sample_weight=sample_weight, average=None,
                              labels=[pos_label], zero_division=zero_division)[0])
    return function(y_true, y_pred, sample_weight=sample_weight, average=average,
                    labels=labels, zero_division=zero_division)


def precision_score(y_true, y_pred, *, labels=None, pos_label=1, average: Optional[str] = "binary",
                    sample_weight=None, zero_division="warn"):
    """Precision with scikit-learn's signature (see :func:`mlp.metrics.precision`).

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n,)
        True and predicted labels.
    labels : array-like, default=None
    pos_label : label, default=1
        The class ``average="binary"`` scores.
    average : {"binary", "micro", "macro", "weighted"} or None, default="binary"
    sample_weight : array-like of shape (n,), default=None
    zero_division : {"warn", 0.0, 1.0, np.nan}, default="warn"
        ``"warn"`` is 0.0 (no warning is given).

    Returns
    -------
    float or numpy.ndarray
        As ``sklearn.metrics.precision_score``.
    """
    return _score(precision, y_true, y_pred, labels, pos_label, average, sample_weight,
                  zero_division)


def recall_score(y_true, y_pred, *, labels=None, pos_label=1, average: Optional[str] = "binary",
                 sample_weight=None, zero_division="warn"):
    """Recall with scikit-learn's signature; the parameters of :func:`precision_score`.

    Returns
    -------
    float or numpy.ndarray
        As ``sklearn.metrics.recall_score``.
    """
    return _score(recall, y_true, y_pred, labels, pos_label, average, sample_weight,
                  zero_division)


def f1_score(y_true, y_pred, *, labels=None, pos_label=1, average: Optional[str] = "binary",
             sample_weight=None, zero_division="warn"):
    """F1 with scikit-learn's signature; the parameters of :func:`precision_score`.

    Returns
    -------
    float or numpy.ndarray
        As ``sklearn.metrics.f1_score``.
    """
    return _score(f1, y_true, y_pred, labels, pos_label, average, sample_weight, zero_division)


def roc_auc_score(y_true, y_score, *, average: str = "macro", sample_weight=None,
                  max_fpr=None, multi_class: str = "raise", labels=None) -> float:
    """ROC AUC with scikit-learn's signature (see :func:`mlp.metrics.auc`).

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Binary labels, or class indices with ``multi_class="ovr"``.
    y_score : array-like of shape (n,) or (n, classes)
        Scores of the positive class, or one column per class.
    average : {"macro", "weighted"}, default="macro"
    sample_weight : array-like of shape (n,), default=None
    max_fpr : None
        The partial AUC is not available here; anything but ``None`` raises.
    multi_class : {"raise", "ovr"}, default="raise"
        Several score columns need ``"ovr"`` (one-vs-rest), as in scikit-learn.
    labels : None
        Anything but ``None`` raises.

    Returns
    -------
    float
        As ``sklearn.metrics.roc_auc_score``.
    """
    for name, value in (("max_fpr", max_fpr), ("labels", labels)):
        if value is not None:
            raise ValueError(f"{name}: only None is supported by mlp.metrics.roc_auc_score, got "
                             f"{value!r}; use sklearn.metrics.roc_auc_score")
    scores = np.asarray(y_score)
    several = scores.ndim == 2 and scores.shape[1] > 1
    if several and multi_class != "ovr":
        raise ValueError(f"multi_class: several score columns need multi_class='ovr' "
                         f"(one-vs-rest; 'ovo' is not available here), got {multi_class!r}")
    if multi_class not in ("raise", "ovr"):
        raise ValueError(f"multi_class: expected 'raise' or 'ovr', got {multi_class!r}")
    return auc(y_true, scores, sample_weight=sample_weight, average=average)


def top_k_accuracy_score(y_true, y_score, *, k: int = 2, normalize: bool = True,
                         sample_weight=None, labels=None) -> float:
    """Top-k accuracy with scikit-learn's signature: ``y_true`` holds labels, the columns of
    ``y_score`` follow ``labels`` (default: the sorted labels of ``y_true``).

    Parameters
    ----------
    y_true : array-like of shape (n,)
    y_score : array-like of shape (n,) or (n, classes)
    k : int, default=2
    normalize : bool, default=True
        ``False``: the (weighted) number of hits.
    sample_weight : array-like of shape (n,), default=None
    labels : array-like of shape (classes,), default=None

    Returns
    -------
    float
        As ``sklearn.metrics.top_k_accuracy_score``.
    """
    truth = np.asarray(y_true)
    classes = np.unique(truth) if labels is None else np.asarray(labels)
    scores = np.asarray(y_score)
    if scores.ndim == 2 and scores.shape[1] != classes.size:
        raise ValueError(f"y_score: expected {classes.size} columns, one per label "
                         f"{classes[:10].tolist()}, got {scores.shape[1]}; give labels=")
    unknown = np.setdiff1d(truth, classes)
    if unknown.size:
        raise ValueError(f"y_true: has labels not in labels: {unknown[:10].tolist()}")
    order = np.argsort(classes, kind="stable")
    indices = order[np.searchsorted(classes[order], truth)]
    score = top_k_accuracy(indices, scores, sample_weight=sample_weight, k=k)
    if normalize:
        return score
    weight = np.ones(truth.size) if sample_weight is None else np.asarray(sample_weight)
    return float(score * weight.sum())


def r2_score(y_true, y_pred, *, sample_weight=None, multioutput: str = "uniform_average"):
    """R² with scikit-learn's signature (see :func:`mlp.metrics.r2`).

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n,) or (n, outputs)
    sample_weight : array-like of shape (n,), default=None
    multioutput : {"uniform_average", "raw_values"}, default="uniform_average"

    Returns
    -------
    float or numpy.ndarray
        As ``sklearn.metrics.r2_score``.
    """
    if multioutput == "uniform_average":
        return r2(y_true, y_pred, sample_weight=sample_weight)
    if multioutput != "raw_values":
        raise ValueError(f"multioutput: expected 'uniform_average' or 'raw_values', got "
                         f"{multioutput!r}")
    truth, predicted = np.asarray(y_true, dtype=float), np.asarray(y_pred, dtype=float)
    truth, predicted = truth.reshape(len(truth), -1), predicted.reshape(len(predicted), -1)
    return np.array([r2(truth[:, j], predicted[:, j], sample_weight=sample_weight)
                     for j in range(truth.shape[1])])


__all__ = ["accuracy_score", "f1_score", "precision_score", "r2_score", "recall_score",
           "roc_auc_score", "top_k_accuracy_score"]
