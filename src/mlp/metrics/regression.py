"""Regression metrics: mean squared / absolute error, RMSE and R²."""
from __future__ import annotations

import warnings

import numpy as np
from ._common import _arrays, _column_means


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


__all__ = ["mean_absolute_error", "mean_squared_error", "r2", "root_mean_squared_error"]
