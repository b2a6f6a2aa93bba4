"""The confusion matrix and the classification report."""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from ..validation import check_non_negative_int
from ._common import (
    NORMALIZE,
    _arrays,
    _check_labels,
    _check_zero_division,
    _class_pair,
    _divide,
    _label_sums,
    _nan_average,
    _positions,
)


# ------------------------------------------------- confusion matrix and report
def _confusion(y_true, y_pred, labels, normalize, sample_weight) -> Tuple[np.ndarray, np.ndarray]:
    """The confusion matrix and the labels of its rows and columns."""
    if normalize not in NORMALIZE:
        raise ValueError(f"normalize: expected one of {list(NORMALIZE)}, got {normalize!r}")
    integer_weights = sample_weight is None or np.asarray(sample_weight).dtype.kind in "biu"
    y_true, y_pred, weight = _arrays(y_true, y_pred, sample_weight)
    truth, predicted = _class_pair(y_true, y_pred)
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
    check_non_negative_int("digits", digits)
    zero_division = _check_zero_division(zero_division)
    y_true, y_pred, weight = _arrays(y_true, y_pred, sample_weight)
    truth, predicted = _class_pair(y_true, y_pred)
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


__all__ = ["classification_report", "confusion_matrix"]
