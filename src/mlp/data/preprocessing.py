"""Transformers fitted on training data: ``StandardScaler``, ``MinMaxScaler``, ``SimpleImputer``."""
from __future__ import annotations

from typing import Any, Optional, Tuple

import numpy as np

from ..validation import check_bool
from ._common import _column_names, _to_numpy


# ---------------------------------------------------------------------- transformers
class _Transformer:
    """Shared checks of the scalers and the imputer: fit / transform / fit_transform."""

    _fitted_attribute = ""
    _param_names: Tuple[str, ...] = ()

    def fit_transform(self, X: Any, y: Any = None) -> np.ndarray:
        """``fit(X)`` then ``transform(X)``; ``y`` is ignored."""
        return self.fit(X).transform(X)

    def __repr__(self) -> str:
        params = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._param_names)
        return f"{type(self).__name__}({params})"

    def _matrix(self, X: Any, allow_nan: bool = True) -> np.ndarray:
        """X as a 2-D float array (float32 kept, everything else float64); a copy."""
        array = _to_numpy(X)
        if array.dtype.kind not in "biuf":
            raise TypeError(f"X: expected a numeric array, got dtype {array.dtype}"
                            + (" — encode strings or categories as numbers first"
                               if array.dtype.kind in "OUS" else ""))
        if array.ndim != 2:
            hint = (" (use X.reshape(-1, 1) for a single feature)" if array.ndim == 1 else "")
            raise ValueError(f"X: expected a 2-D array (samples, features), got shape "
                             f"{array.shape}{hint}")
        dtype = np.float32 if array.dtype == np.float32 else np.float64
        array = np.array(array, dtype=dtype, copy=True)
        if np.isinf(array).any():
            raise ValueError("X: expected finite numbers or NaN, got infinite value(s)")
        if not allow_nan and np.isnan(array).any():
            raise ValueError("X: expected no NaN, got NaN value(s)")
        return array

    def _fit_matrix(self, X: Any, allow_nan: bool = True) -> np.ndarray:
        array = self._matrix(X, allow_nan)
        if array.shape[0] == 0 or array.shape[1] == 0:
            raise ValueError(f"X: expected at least one sample and one feature, got shape "
                             f"{array.shape}")
        self.n_features_in_ = array.shape[1]
        names = _column_names(X)
        if names is not None:
            self.feature_names_in_ = names
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        return array

    def _transform_matrix(self, X: Any, method: str, allow_nan: bool = True) -> np.ndarray:
        if not hasattr(self, self._fitted_attribute):
            name = type(self).__name__
            raise RuntimeError(f"{name}.{method}: this {name} is not fitted yet; call "
                               f"fit(X) first")
        array = self._matrix(X, allow_nan)
        if array.shape[1] != self.n_features_in_:
            raise ValueError(f"X: expected {self.n_features_in_} features (as in fit), got "
                             f"{array.shape[1]}")
        names = _column_names(X)
        fitted_names = getattr(self, "feature_names_in_", None)
        if names is not None and fitted_names is not None and names != fitted_names:
            raise ValueError(f"X: expected the columns seen in fit {fitted_names}, got {names}")
        return array


def _is_constant(var: np.ndarray, mean: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Variances that are zero up to rounding (scikit-learn's bound)."""
    eps = np.finfo(np.float64).eps
    return var <= counts * eps * var + (counts * mean * eps) ** 2


def _column_counts(array: np.ndarray) -> np.ndarray:
    counts = np.sum(~np.isnan(array), axis=0)
    empty = np.flatnonzero(counts == 0)
    if empty.size:
        raise ValueError(f"X: column(s) {empty.tolist()} hold only NaN; their statistics are "
                         f"undefined — drop or impute them first")
    return counts


class StandardScaler(_Transformer):
    """Standardise features: ``z = (x - mean_) / scale_``, statistics from the training data.

    Fit on the training set only and transform the test set with the same statistics.
    Statistics are computed in float64; float32 input gives float32 output, other numeric input
    float64. NaN values are ignored by ``fit`` (NaN-aware mean and variance) and kept as NaN by
    ``transform``, as in scikit-learn. A constant column gets ``scale_ = 1`` (it becomes all
    zeros, no division by zero).

    Parameters
    ----------
    with_mean : bool
        Subtract the mean. Defaults to ``True``.
    with_std : bool
        Divide by the standard deviation. Defaults to ``True``.

    Attributes
    ----------
    mean_ : ndarray of shape (n_features,)
        Per-feature mean (float64), also computed when ``with_mean=False``.
    var_ : ndarray of shape (n_features,) or None
        Per-feature population variance (``ddof=0``), exactly 0 for constant columns; None when
        ``with_std=False``.
    scale_ : ndarray of shape (n_features,) or None
        ``sqrt(var_)``, with 1 for constant columns; None when ``with_std=False``.
    n_samples_seen_ : ndarray of int of shape (n_features,)
        Non-NaN values per column.
    n_features_in_ : int
    feature_names_in_ : list of str
        Only when fitted on a DataFrame; ``transform`` then checks the column names.

    Examples
    --------
    >>> import numpy as np
    >>> X_train = np.array([[0.0, 1.0], [2.0, 1.0], [4.0, 1.0]])
    >>> scaler = StandardScaler().fit(X_train)
    >>> scaler.mean_, scaler.scale_
    (array([2., 1.]), array([1.63299316, 1.        ]))
    >>> scaler.transform([[2.0, 5.0]])
    array([[0., 4.]])
    >>> np.allclose(scaler.inverse_transform(scaler.transform(X_train)), X_train)
    True
    """

    _fitted_attribute = "mean_"
    _param_names = ("with_mean", "with_std")

    def __init__(self, with_mean: bool = True, with_std: bool = True):
        self.with_mean = check_bool("with_mean", with_mean)
        self.with_std = check_bool("with_std", with_std)

    def fit(self, X: Any, y: Any = None) -> "StandardScaler":
        """Compute the mean and standard deviation of each column of ``X``; returns self.

        Raises
        ------
        ValueError
            ``X`` not 2-D, empty, with infinite values or with a column of only NaN.
        """
        array = self._fit_matrix(X).astype(np.float64)
        counts = _column_counts(array)
        mean = np.nanmean(array, axis=0)
        self.n_samples_seen_ = counts
        if self.with_std:
            var = np.nanvar(array, axis=0)
            constant = _is_constant(var, mean, counts)
            self.var_ = np.where(constant, 0.0, var)
            self.scale_ = np.where(constant, 1.0, np.sqrt(var))
        else:
            self.var_ = None
            self.scale_ = None
        self.mean_ = mean
        return self

    def transform(self, X: Any) -> np.ndarray:
        """Standardise ``X`` with the fitted statistics (NaN stays NaN); returns a new array.

        Raises
        ------
        RuntimeError
            Before ``fit``.
        ValueError
            A different number of features (or column names) than in ``fit``.
        """
        array = self._transform_matrix(X, "transform")
        if self.with_mean:
            array -= self.mean_.astype(array.dtype)
        if self.with_std:
            array /= self.scale_.astype(array.dtype)
        return array

    def inverse_transform(self, X: Any) -> np.ndarray:
        """Undo :meth:`transform`: ``x = z * scale_ + mean_``; returns a new array."""
        array = self._transform_matrix(X, "inverse_transform")
        if self.with_std:
            array *= self.scale_.astype(array.dtype)
        if self.with_mean:
            array += self.mean_.astype(array.dtype)
        return array


class MinMaxScaler(_Transformer):
    """Scale each feature linearly so the training data spans ``feature_range``.

    ``x_scaled = x * scale_ + min_`` with ``scale_ = (hi - lo) / (data_max_ - data_min_)`` and
    ``min_ = lo - data_min_ * scale_``. Test data may fall outside the range (no clipping).
    A constant column is treated as having range 1 (it maps to ``lo``). NaN values are ignored
    by ``fit`` and kept by ``transform``. float32 input gives float32 output, other numeric
    input float64.

    Parameters
    ----------
    feature_range : tuple (lo, hi)
        Target range, ``lo < hi``. Defaults to ``(0, 1)``.

    Attributes
    ----------
    data_min_, data_max_, data_range_ : ndarray of shape (n_features,)
        Per-feature minimum, maximum and their difference in the training data.
    scale_, min_ : ndarray of shape (n_features,)
        The affine map above.
    n_features_in_ : int
    feature_names_in_ : list of str
        Only when fitted on a DataFrame.

    Examples
    --------
    >>> import numpy as np
    >>> scaler = MinMaxScaler().fit(np.array([[1.0, -1.0], [3.0, 1.0]]))
    >>> scaler.transform([[2.0, 0.0], [5.0, 1.0]])
    array([[0.5, 0.5],
           [2. , 1. ]])
    >>> scaler.inverse_transform([[0.0, 1.0]])
    array([[1., 1.]])
    """

    _fitted_attribute = "scale_"
    _param_names = ("feature_range",)

    def __init__(self, feature_range: Tuple[float, float] = (0, 1)):
        try:
            lo, hi = (float(bound) for bound in feature_range)
        except (TypeError, ValueError):
            raise ValueError(f"feature_range: expected a pair (lo, hi) of numbers, got "
                             f"{feature_range!r}") from None
        if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
            raise ValueError(f"feature_range: expected finite lo < hi, got {feature_range!r}")
        self.feature_range = tuple(feature_range)

    def fit(self, X: Any, y: Any = None) -> "MinMaxScaler":
        """Compute each column's minimum and maximum; returns self.

        Raises
        ------
        ValueError
            ``X`` not 2-D, empty, with infinite values or with a column of only NaN.
        """
        array = self._fit_matrix(X).astype(np.float64)
        _column_counts(array)
        lo, hi = (float(bound) for bound in self.feature_range)
        data_min, data_max = np.nanmin(array, axis=0), np.nanmax(array, axis=0)
        data_range = data_max - data_min
        safe_range = np.where(data_range < 10 * np.finfo(np.float64).eps, 1.0, data_range)
        self.data_min_, self.data_max_, self.data_range_ = data_min, data_max, data_range
        self.scale_ = (hi - lo) / safe_range
        self.min_ = lo - data_min * self.scale_
        return self

    def transform(self, X: Any) -> np.ndarray:
        """Scale ``X`` with the fitted map (NaN stays NaN); returns a new array.

        Raises
        ------
        RuntimeError
            Before ``fit``.
        ValueError
            A different number of features (or column names) than in ``fit``.
        """
        array = self._transform_matrix(X, "transform")
        array *= self.scale_.astype(array.dtype)
        array += self.min_.astype(array.dtype)
        return array

    def inverse_transform(self, X: Any) -> np.ndarray:
        """Undo :meth:`transform`: ``x = (x_scaled - min_) / scale_``; returns a new array."""
        array = self._transform_matrix(X, "inverse_transform")
        array -= self.min_.astype(array.dtype)
        array /= self.scale_.astype(array.dtype)
        return array


STRATEGIES = ("mean", "median", "most_frequent", "constant")


class SimpleImputer(_Transformer):
    """Replace missing values with a per-column statistic of the training data.

    Parameters
    ----------
    strategy : {"mean", "median", "most_frequent", "constant"}
        The column mean, median, most frequent value (the smallest one on ties), or
        ``fill_value``. Defaults to ``"mean"``.
    fill_value : number, optional
        The value for ``strategy="constant"`` (ignored otherwise). Defaults to ``0``.
    missing_values : number or NaN
        The marker of a missing entry. Defaults to ``np.nan``. With a number, ``X`` must not
        contain NaN.

    Attributes
    ----------
    statistics_ : ndarray of shape (n_features,)
        The fill value of each column (float64).
    n_features_in_ : int
    feature_names_in_ : list of str
        Only when fitted on a DataFrame.

    Notes
    -----
    The output is float (float32 kept, other input float64). A column with no observed value
    cannot give a mean, median or mode: ``fit`` raises an error naming it (use
    ``strategy="constant"`` or drop it).

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[1.0, np.nan], [3.0, 4.0], [np.nan, 4.0], [8.0, 1.0]])
    >>> imputer = SimpleImputer(strategy="median").fit(X)
    >>> imputer.statistics_
    array([3., 4.])
    >>> imputer.transform([[np.nan, np.nan]])
    array([[3., 4.]])
    """

    _fitted_attribute = "statistics_"
    _param_names = ("strategy", "fill_value", "missing_values")

    def __init__(self, strategy: str = "mean", fill_value: Optional[float] = None,
                 missing_values: float = np.nan):
        if strategy not in STRATEGIES:
            raise ValueError(f"strategy: expected one of {list(STRATEGIES)}, got {strategy!r}")
        if fill_value is not None and (
                isinstance(fill_value, bool) or not isinstance(fill_value, (int, float, np.number))
                or not np.isfinite(fill_value)):
            raise ValueError(f"fill_value: expected a finite number or None, got {fill_value!r}")
        if isinstance(missing_values, bool) or not isinstance(
                missing_values, (int, float, np.number)) or np.isinf(missing_values):
            raise ValueError(f"missing_values: expected NaN or a finite number, got "
                             f"{missing_values!r}")
        self.strategy = strategy
        self.fill_value = fill_value
        self.missing_values = missing_values

    def _missing(self, array: np.ndarray) -> np.ndarray:
        if np.isnan(self.missing_values):
            return np.isnan(array)
        if np.isnan(array).any():
            raise ValueError(f"X: contains NaN but missing_values={self.missing_values!r}; "
                             f"use missing_values=np.nan or remove the NaN")
        return array == self.missing_values

    def fit(self, X: Any, y: Any = None) -> "SimpleImputer":
        """Compute each column's fill value from its non-missing entries; returns self.

        Raises
        ------
        ValueError
            ``X`` not 2-D, empty or with infinite values; a column with only missing values
            (unless ``strategy="constant"``).
        """
        array = self._fit_matrix(X).astype(np.float64)
        missing = self._missing(array)
        if self.strategy == "constant":
            fill = 0.0 if self.fill_value is None else float(self.fill_value)
            self.statistics_ = np.full(array.shape[1], fill)
            return self
        empty = np.flatnonzero(missing.all(axis=0))
        if empty.size:
            raise ValueError(f"X: column(s) {empty.tolist()} hold only missing values; "
                             f"strategy={self.strategy!r} cannot compute a fill value for them "
                             f"— drop them or use strategy='constant'")
        statistics = np.empty(array.shape[1])
        for column in range(array.shape[1]):
            values = array[~missing[:, column], column]
            if self.strategy == "mean":
                statistics[column] = values.mean()
            elif self.strategy == "median":
                statistics[column] = np.median(values)
            else:
                unique, counts = np.unique(values, return_counts=True)
                statistics[column] = unique[np.argmax(counts)]
        self.statistics_ = statistics
        return self

    def transform(self, X: Any) -> np.ndarray:
        """``X`` with each missing entry replaced by its column's statistic; a new array.

        Raises
        ------
        RuntimeError
            Before ``fit``.
        ValueError
            A different number of features (or column names) than in ``fit``.
        """
        array = self._transform_matrix(X, "transform")
        missing = self._missing(array)
        fill = np.broadcast_to(self.statistics_.astype(array.dtype), array.shape)
        array[missing] = fill[missing]
        return array


__all__ = ["MinMaxScaler", "SimpleImputer", "StandardScaler"]
