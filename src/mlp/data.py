"""Data preparation: train / test splits, k-fold cross-validation, one-hot labels, scalers, imputer.

Everything here works on NumPy arrays and needs nothing else at run time. pandas objects are
accepted where they make sense (anything with ``.to_numpy()``): a DataFrame's column names are
remembered by the scalers and the imputer (``feature_names_in_``), and ``train_test_split``
returns DataFrames / Series for DataFrames / Series (split with ``.iloc``). pandas is never
imported by this module.

Randomness comes only from the ``seed`` argument (``numpy.random.default_rng(seed)``): the same
seed gives the same split, and ``seed=None`` a fresh one each time.

Examples
--------
>>> import numpy as np

from .validation import check_bool, check_int, check_seed
>>> from mlp.data import train_test_split, StandardScaler
>>> X = np.arange(20.0).reshape(10, 2)
>>> y = np.array([0, 1] * 5)
>>> X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, stratify=y, seed=0)
>>> X_train.shape, X_test.shape, sorted(y_test.tolist())
((8, 2), (2, 2), [0, 1])
>>> scaler = StandardScaler().fit(X_train)
>>> X_test_scaled = scaler.transform(X_test)        # the training set's mean and scale
"""
from __future__ import annotations

import time
import warnings
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple, Union

import numpy as np

from .validation import check_bool, check_int, check_seed

__all__ = [
    "KFold", "MinMaxScaler", "SimpleImputer", "StandardScaler", "StratifiedKFold",
    "cross_validate", "one_hot", "to_categorical", "train_test_split",
]

Size = Union[int, float, None]


# ------------------------------------------------------------------------------- helpers
def _to_numpy(value: Any) -> np.ndarray:
    """An ndarray from an array-like; pandas objects through ``.to_numpy()``."""
    if hasattr(value, "to_numpy") and not isinstance(value, np.ndarray):
        return np.asarray(value.to_numpy())
    return np.asarray(value)


def _column_names(value: Any) -> Optional[List[str]]:
    """A DataFrame's column names as strings, or None for anything else."""
    columns = getattr(value, "columns", None)
    if columns is None or isinstance(value, np.ndarray):
        return None
    return [str(column) for column in columns]


def _length(value: Any, name: str) -> int:
    shape = getattr(value, "shape", None)
    if shape is not None:
        if len(shape) == 0:
            raise ValueError(f"{name}: expected an array with at least one dimension, got a "
                             f"scalar")
        return int(shape[0])
    try:
        return len(value)
    except TypeError:
        raise TypeError(f"{name}: expected an array-like with a length, got "
                        f"{type(value).__name__}") from None


def _take(value: Any, indices: np.ndarray) -> Any:
    """Rows ``indices`` of an array, a DataFrame / Series (``.iloc``) or a sparse matrix."""
    if hasattr(value, "iloc"):
        return value.iloc[indices]
    if hasattr(value, "tocsr") and hasattr(value, "nnz"):
        return value.tocsr()[indices]
    return np.asarray(value)[indices]


def _encode_labels(y: Any, name: str, n_samples: Optional[int] = None) -> np.ndarray:
    """Class codes 0..k-1, numbered in order of first appearance (as scikit-learn does).

    ``y`` may hold labels of shape (n,) or (n, 1), or one-hot / multi-column rows (n, k), in
    which case each distinct row is a class.
    """
    array = _to_numpy(y)
    if array.ndim == 0:
        raise ValueError(f"{name}: expected class labels of shape (n,) or one-hot rows (n, k), "
                         f"got a scalar")
    if n_samples is not None and array.shape[0] != n_samples:
        raise ValueError(f"{name}: expected {n_samples} labels (one per sample), got "
                         f"{array.shape[0]}")
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim == 1:
        _, first, inverse = np.unique(array, return_index=True, return_inverse=True)
    elif array.ndim == 2:
        _, first, inverse = np.unique(array, axis=0, return_index=True, return_inverse=True)
    else:
        raise ValueError(f"{name}: expected class labels of shape (n,) or one-hot rows (n, k), "
                         f"got shape {array.shape}")
    _, order = np.unique(first, return_inverse=True)
    return order.reshape(-1)[inverse.reshape(-1)]


def _split_sizes(n_samples: int, test_size: Size, train_size: Size) -> Tuple[int, int]:
    """Numbers of training and test samples, with scikit-learn's rules."""
    if test_size is None and train_size is None:
        test_size = 0.25
    kinds = {}
    for name, size in (("test_size", test_size), ("train_size", train_size)):
        if size is None:
            continue
        if isinstance(size, (bool, np.bool_)) or not isinstance(
                size, (int, float, np.integer, np.floating)):
            raise TypeError(f"{name}: expected a fraction in (0, 1) or a number of samples, got "
                            f"{size!r}")
        if isinstance(size, (float, np.floating)):
            if not 0.0 < size < 1.0:
                raise ValueError(f"{name}: expected a fraction in (0, 1) or a number of samples "
                                 f"in [1, {n_samples - 1}], got {size!r}")
            kinds[name] = "fraction"
        else:
            if not 1 <= size < n_samples:
                raise ValueError(f"{name}: expected a number of samples in [1, {n_samples - 1}] "
                                 f"(or a fraction in (0, 1)), got {size!r} for {n_samples} "
                                 f"samples")
            kinds[name] = "count"
    if (kinds.get("test_size") == kinds.get("train_size") == "fraction"
            and test_size + train_size > 1):
        raise ValueError(f"test_size, train_size: expected fractions summing to at most 1, got "
                         f"{test_size} + {train_size} = {test_size + train_size}")
    n_test = None if test_size is None else (
        int(np.ceil(test_size * n_samples)) if kinds["test_size"] == "fraction" else int(test_size))
    n_train = None if train_size is None else (
        int(np.floor(train_size * n_samples)) if kinds["train_size"] == "fraction"
        else int(train_size))
    if n_train is None:
        n_train = n_samples - n_test
    elif n_test is None:
        n_test = n_samples - n_train
    if n_train + n_test > n_samples:
        raise ValueError(f"test_size, train_size: {n_test} test + {n_train} training samples "
                         f"exceed the {n_samples} samples available")
    if n_train == 0 or n_test == 0:
        which = "training" if n_train == 0 else "test"
        raise ValueError(f"test_size, train_size: with {n_samples} samples, test_size="
                         f"{test_size!r} and train_size={train_size!r} the {which} set would be "
                         f"empty")
    return n_train, n_test


def _apportion(counts: np.ndarray, total: int, rng: Optional[np.random.Generator]) -> np.ndarray:
    """Split ``total`` draws among classes in proportion to ``counts`` (largest remainder).

    Each class gets ``floor(total * p)`` or one more, so it is within one sample of its exact
    share; ties between equal remainders are broken at random (or by class order without rng).
    """
    numerators = total * counts
    base = numerators // counts.sum()
    remainders = numerators - base * counts.sum()
    missing = int(total - base.sum())
    if missing:
        candidates = np.arange(len(counts)) if rng is None else rng.permutation(len(counts))
        order = candidates[np.argsort(-remainders[candidates], kind="stable")]
        base[order[:missing]] += 1
    return base


def _stratified_indices(classes: np.ndarray, n_train: int, n_test: int, shuffle: bool,
                        rng: np.random.Generator) -> Tuple[np.ndarray, np.ndarray]:
    counts = np.bincount(classes)
    if counts.min() < 2:
        raise ValueError(f"stratify: the least populated class has only {int(counts.min())} "
                         f"member; every class needs at least 2 to appear in both sets")
    for name, size in (("train_size", n_train), ("test_size", n_test)):
        if size < len(counts):
            set_name = "training" if name == "train_size" else "test"
            raise ValueError(f"{name}: the {set_name} set would hold {size} samples, fewer than "
                             f"the {len(counts)} classes in stratify")
    tie_rng = rng if shuffle else None
    test_counts = _apportion(counts, n_test, tie_rng)
    train_counts = _apportion(counts - test_counts, n_train, tie_rng)
    train_parts, test_parts = [], []
    for label, (n_tr, n_te) in enumerate(zip(train_counts, test_counts)):
        members = np.flatnonzero(classes == label)
        if shuffle:
            members = rng.permutation(members)
        train_parts.append(members[:n_tr])
        test_parts.append(members[n_tr:n_tr + n_te])
    train, test = np.concatenate(train_parts), np.concatenate(test_parts)
    if shuffle:
        return rng.permutation(train), rng.permutation(test)
    return np.sort(train), np.sort(test)


# ------------------------------------------------------------------------------- splits
def train_test_split(*arrays: Any, test_size: Size = None, train_size: Size = None,
                     shuffle: bool = True, stratify: Any = None,
                     seed: Optional[int] = None) -> List[Any]:
    """Split arrays into random training and test subsets (scikit-learn's semantics).

    Parameters
    ----------
    *arrays : array-likes of the same length
        Arrays, lists, pandas DataFrames / Series or scipy sparse matrices. All are split with
        the same row indices.
    test_size : float or int, optional
        A fraction in (0, 1) of the samples (rounded up) or a number of samples. Defaults to
        ``0.25`` when ``train_size`` is also None, else to the complement of ``train_size``.
    train_size : float or int, optional
        A fraction in (0, 1) (rounded down) or a number of samples. Defaults to the complement
        of ``test_size``. When both are given and sum to less than the data, the rest is unused.
    shuffle : bool
        Shuffle before splitting. Without shuffling the first ``n_train`` samples train and the
        next ``n_test`` test. Defaults to ``True``.
    stratify : array-like, optional
        Class labels, shape (n,) or one-hot (n, k): each class then has the same share in both
        sets as in the data, to within one sample. Works with ``shuffle=False`` too (the first
        members of each class train). Defaults to None (no stratification).
    seed : int, optional
        Seeds the shuffle; the same seed gives the same split. Defaults to a fresh random split.

    Returns
    -------
    list
        ``[a_train, a_test, b_train, b_test, ...]`` for the arrays in order. Lists come back as
        NumPy arrays; DataFrames, Series and sparse matrices keep their type.

    Raises
    ------
    ValueError
        No arrays, arrays of different lengths, sizes outside their range or summing to more
        than the data, an empty training or test set, or ``stratify`` with a class of a single
        member or more classes than a set has samples.

    Examples
    --------
    >>> import numpy as np
    >>> X, y = np.arange(10).reshape(5, 2), np.arange(5)
    >>> X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=2, seed=0)
    >>> X_train.shape, X_test.shape
    ((3, 2), (2, 2))
    >>> train_test_split(y, shuffle=False, test_size=0.4)
    [array([0, 1, 2]), array([3, 4])]
    """
    if not arrays:
        raise ValueError("arrays: expected at least one array to split, got none")
    lengths = [_length(array, f"arrays[{i}]") for i, array in enumerate(arrays)]
    if len(set(lengths)) != 1:
        raise ValueError(f"arrays: expected arrays of the same length, got lengths {lengths}")
    n_samples = lengths[0]
    if n_samples < 2:
        raise ValueError(f"arrays: expected at least 2 samples to split, got {n_samples}")
    shuffle = check_bool("shuffle", shuffle)
    rng = np.random.default_rng(check_seed("seed", seed))
    n_train, n_test = _split_sizes(n_samples, test_size, train_size)
    if stratify is not None:
        classes = _encode_labels(stratify, "stratify", n_samples)
        train, test = _stratified_indices(classes, n_train, n_test, shuffle, rng)
    elif shuffle:
        permutation = rng.permutation(n_samples)
        test, train = permutation[:n_test], permutation[n_test:n_test + n_train]
    else:
        train, test = np.arange(n_train), np.arange(n_train, n_train + n_test)
    return [part for array in arrays for part in (_take(array, train), _take(array, test))]


class KFold:
    """K-fold cross-validation indices: each sample is in the test fold exactly once.

    The first ``n % n_splits`` folds have ``n // n_splits + 1`` samples, the others
    ``n // n_splits`` — the same folds as scikit-learn's ``KFold`` (identical indices when
    ``shuffle=False``).

    Parameters
    ----------
    n_splits : int
        Number of folds, at least 2. Defaults to ``5``.
    shuffle : bool
        Shuffle the samples before cutting them into folds. Defaults to ``False`` (contiguous
        folds in data order).
    seed : int, optional
        Seeds the shuffle (only with ``shuffle=True``); each ``split`` call with the same seed
        gives the same folds. Defaults to fresh random folds on each call.

    Examples
    --------
    >>> import numpy as np
    >>> for train, test in KFold(n_splits=3).split(np.zeros((7, 2))):
    ...     print(train, test)
    [3 4 5 6] [0 1 2]
    [0 1 2 5 6] [3 4]
    [0 1 2 3 4] [5 6]
    """

    def __init__(self, n_splits: int = 5, shuffle: bool = False, seed: Optional[int] = None):
        self.n_splits = check_int("n_splits", n_splits, 2, wrong_type=ValueError)
        self.shuffle = check_bool("shuffle", shuffle)
        self.seed = check_seed("seed", seed)
        if not self.shuffle and self.seed is not None:
            raise ValueError(f"seed: has no effect when shuffle=False; pass shuffle=True or "
                             f"leave seed=None, got seed={seed!r}")

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(n_splits={self.n_splits}, shuffle={self.shuffle}, "
                f"seed={self.seed})")

    def get_n_splits(self, X: Any = None, y: Any = None) -> int:
        """The number of folds (``X`` and ``y`` are accepted for compatibility and ignored)."""
        return self.n_splits

    def _check_n_samples(self, X: Any) -> int:
        n_samples = _length(X, "X")
        if self.n_splits > n_samples:
            raise ValueError(f"n_splits: expected at most the number of samples ({n_samples}), "
                             f"got {self.n_splits}")
        return n_samples

    def _test_folds(self, n_samples: int, y: Any) -> np.ndarray:
        """The fold number of each sample."""
        indices = np.arange(n_samples)
        if self.shuffle:
            np.random.default_rng(self.seed).shuffle(indices)
        sizes = np.full(self.n_splits, n_samples // self.n_splits)
        sizes[:n_samples % self.n_splits] += 1
        folds = np.empty(n_samples, dtype=np.int64)
        folds[indices] = np.repeat(np.arange(self.n_splits), sizes)
        return folds

    def split(self, X: Any, y: Any = None) -> Iterator[Tuple[np.ndarray, np.ndarray]]:
        """Yield ``(train_indices, test_indices)`` for each fold, both sorted ascending.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Only its length is used.
        y : array-like, optional
            Ignored by ``KFold``; class labels for ``StratifiedKFold``.

        Raises
        ------
        ValueError
            If there are fewer samples than folds.
        """
        n_samples = self._check_n_samples(X)
        folds = self._test_folds(n_samples, y)
        for fold in range(self.n_splits):
            in_test = folds == fold
            yield np.flatnonzero(~in_test), np.flatnonzero(in_test)


class StratifiedKFold(KFold):
    """K-fold cross-validation that keeps each class's share in every fold.

    The allocation is scikit-learn's (>= 0.22): classes numbered by first appearance, their
    members dealt round-robin to the folds, each class's members kept in data order within its
    folds; with ``shuffle=False`` the folds equal scikit-learn's ``StratifiedKFold`` exactly.

    Parameters
    ----------
    n_splits : int
        Number of folds, at least 2. Defaults to ``5``.
    shuffle : bool
        Shuffle each class's members before assigning them to folds. Defaults to ``False``.
    seed : int, optional
        Seeds the shuffle (only with ``shuffle=True``). Defaults to fresh random folds.

    Warns
    -----
    UserWarning
        When a class has fewer members than ``n_splits`` (some folds then lack it).

    Examples
    --------
    >>> import numpy as np
    >>> y = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    >>> for train, test in StratifiedKFold(n_splits=2).split(np.zeros((8, 1)), y):
    ...     print(test, y[test])
    [0 1 4 5] [0 0 1 1]
    [2 3 6 7] [0 0 1 1]
    """

    def split(self, X: Any, y: Any = None) -> Iterator[Tuple[np.ndarray, np.ndarray]]:
        """Yield ``(train_indices, test_indices)`` for each fold, both sorted ascending.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Only its length is used.
        y : array-like of shape (n_samples,) or one-hot (n_samples, n_classes)
            Class labels to stratify on.

        Raises
        ------
        ValueError
            If ``y`` is missing or of another length than ``X``, or if every class has fewer
            members than ``n_splits``.
        """
        if y is None:
            raise ValueError("y: StratifiedKFold needs the class labels, got None")
        return super().split(X, y)

    def _test_folds(self, n_samples: int, y: Any) -> np.ndarray:
        classes = _encode_labels(y, "y", n_samples)
        counts = np.bincount(classes)
        if np.all(counts < self.n_splits):
            raise ValueError(f"n_splits: expected at most the size of the largest class "
                             f"({int(counts.max())}), got {self.n_splits}")
        if counts.min() < self.n_splits:
            warnings.warn(f"y: the least populated class has only {int(counts.min())} members, "
                          f"fewer than n_splits={self.n_splits}", UserWarning, stacklevel=3)
        rng = np.random.default_rng(self.seed) if self.shuffle else None
        ordered = np.sort(classes)
        allocation = np.array([np.bincount(ordered[i::self.n_splits], minlength=len(counts))
                               for i in range(self.n_splits)])
        folds = np.empty(n_samples, dtype=np.int64)
        for label in range(len(counts)):
            fold_of_member = np.repeat(np.arange(self.n_splits), allocation[:, label])
            if rng is not None:
                rng.shuffle(fold_of_member)
            folds[classes == label] = fold_of_member
        return folds


# ------------------------------------------------------------------------ cross-validation
def _looks_like_labels(y: np.ndarray) -> bool:
    """Whether ``y`` holds class labels: integers / booleans, 0/1 floats, or one-hot rows."""
    if y.dtype.kind not in "biuf" or y.size == 0:
        return False
    column = y[:, 0] if y.ndim == 2 and y.shape[1] == 1 else y
    if column.ndim == 1:
        return column.dtype.kind in "biu" or bool(np.all((column == 0) | (column == 1)))
    if column.ndim == 2:
        binary = np.all((column == 0) | (column == 1))
        return bool(binary and np.all(column.sum(axis=1) == 1))
    return False


def _per_sample_kwargs(kwargs: Dict[str, Any], indices: np.ndarray, n_samples: int,
                       ) -> Dict[str, Any]:
    """``kwargs`` with a per-sample ``sample_weight`` restricted to ``indices``."""
    weight = kwargs.get("sample_weight")
    if weight is None or _length(weight, "sample_weight") != n_samples:
        return kwargs
    return {**kwargs, "sample_weight": _to_numpy(weight)[indices]}


def cross_validate(build_model: Callable[[], Any], X: Any, y: Any,
                   cv: Union[int, KFold] = 5, fit_kwargs: Optional[Dict[str, Any]] = None,
                   evaluate_kwargs: Optional[Dict[str, Any]] = None,
                   stratified: Optional[bool] = None, seed: Optional[int] = None,
                   verbose: int = 0) -> Dict[str, Any]:
    """Train and score a fresh model on each cross-validation fold.

    For each fold, ``build_model()`` makes a new compiled model, ``model.fit`` trains it on the
    other folds and ``model.evaluate`` scores it on this one.

    Parameters
    ----------
    build_model : callable
        Called with no arguments once per fold; returns a new compiled ``mlp.Sequential`` (or
        any object with Keras-style ``fit(x, y, **kw)`` and ``evaluate(x, y, **kw)`` returning a
        dict of scores).
    X, y : array-like
        Features (n, ...) and targets (n, ...); DataFrames / Series are converted with
        ``.to_numpy()``.
    cv : int or KFold or StratifiedKFold
        Number of folds (at least 2), or a splitter object (anything with ``split(X, y)`` and
        ``get_n_splits()``, e.g. scikit-learn's). With an int the folds are shuffled with ``seed``. Defaults to ``5``.
    fit_kwargs : dict, optional
        Passed to every ``fit`` call (``epochs``, ``batch_size``, ``callbacks``...); ``verbose``
        defaults to 0. A ``sample_weight`` with one weight per sample of ``X`` is restricted to
        the fold's training samples.
    evaluate_kwargs : dict, optional
        Passed to every ``evaluate`` call; a per-sample ``sample_weight`` is restricted to the
        fold's test samples.
    stratified : bool, optional
        Only with an int ``cv``: use ``StratifiedKFold`` instead of ``KFold``. Defaults to True
        when ``y`` looks like class labels — an integer or boolean array, a float array of only
        0 and 1 (shape (n,) or (n, 1)), or one-hot rows (n, k) — and to False otherwise.
    seed : int, optional
        Seeds the shuffling of the folds (only with an int ``cv``). Defaults to fresh folds.
    verbose : int
        1 prints each fold's scores. Defaults to ``0`` (silent).

    Returns
    -------
    dict
        For each score that ``evaluate`` returns (``"loss"`` first, then the compiled metrics,
        e.g. ``"accuracy"``) a float64 array of shape ``(n_splits,)`` of the per-fold values;
        ``"mean"`` and ``"std"``: dicts mapping the same names to the mean and the population
        standard deviation (``ddof=0``) over the folds, as floats. E.g.
        ``{"loss": array([...]), "accuracy": array([...]), "mean": {"loss": 0.31,
        "accuracy": 0.9}, "std": {"loss": 0.02, "accuracy": 0.01}}``.

    Raises
    ------
    TypeError
        If ``build_model`` is not callable or returns something without ``fit`` /
        ``evaluate``, or ``cv`` is neither an int nor a splitter.
    ValueError
        If ``X`` and ``y`` differ in length, ``cv`` is an int below 2,
        ``stratified`` is given with a splitter object, or ``build_model`` returns the same model
        object twice.

    Examples
    --------
    >>> import numpy as np, mlp
    >>> from mlp.data import cross_validate
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(60, 3)); y = (X[:, 0] > 0).astype(int)
    >>> def build():
    ...     model = mlp.Sequential([mlp.Dense(1, activation="sigmoid", input_dim=3)], seed=0)
    ...     model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    ...     return model
    >>> scores = cross_validate(build, X, y, cv=3, fit_kwargs={"epochs": 2}, seed=0)
    >>> scores["accuracy"].shape, sorted(scores["mean"])
    ((3,), ['accuracy', 'loss'])
    """
    if not callable(build_model):
        raise TypeError(f"build_model: expected a function returning a new compiled model, got "
                        f"{type(build_model).__name__}")
    X_array, y_array = _to_numpy(X), _to_numpy(y)
    n_samples = _length(X_array, "X")
    if _length(y_array, "y") != n_samples:
        raise ValueError(f"y: expected {n_samples} targets (as many as X), got "
                         f"{_length(y_array, 'y')}")
    splitter = _make_splitter(cv, y_array, stratified, seed)
    fit_kwargs = {"verbose": 0, **(fit_kwargs or {})}
    evaluate_kwargs = dict(evaluate_kwargs or {})
    verbose = int(verbose)
    scores: Dict[str, List[float]] = {}
    previous = None
    folds = list(splitter.split(X_array, y_array))
    for fold, (train, test) in enumerate(folds):
        started = time.perf_counter()
        model = build_model()
        if not (hasattr(model, "fit") and hasattr(model, "evaluate")):
            raise TypeError(f"build_model: expected it to return a compiled model with fit and "
                            f"evaluate, got {type(model).__name__}")
        if model is previous:
            raise ValueError("build_model: returned the same model object twice; it must build "
                             "a new model on each call so folds do not share weights")
        previous = model
        model.fit(X_array[train], y_array[train],
                  **_per_sample_kwargs(fit_kwargs, train, n_samples))
        logs = model.evaluate(X_array[test], y_array[test],
                              **_per_sample_kwargs(evaluate_kwargs, test, n_samples))
        if not isinstance(logs, dict):
            logs = {"loss": logs}
        if fold == 0:
            if {"mean", "std"} & set(logs):
                raise ValueError("build_model: evaluate returned a score named 'mean' or 'std', "
                                 "which clash with the result's summary keys")
            scores = {name: [] for name in logs}
        elif set(logs) != set(scores):
            raise ValueError(f"build_model: fold {fold + 1} returned scores {sorted(logs)}, "
                             f"fold 1 returned {sorted(scores)}")
        for name, value in logs.items():
            scores[name].append(float(value))
        if verbose:
            parts = " - ".join(f"{name}: {float(value):.4f}" for name, value in logs.items())
            print(f"Fold {fold + 1}/{len(folds)} - {time.perf_counter() - started:.2f}s - "
                  f"train {len(train)}, test {len(test)} - {parts}", flush=True)
    result: Dict[str, Any] = {name: np.asarray(values, dtype=np.float64)
                              for name, values in scores.items()}
    result["mean"] = {name: float(np.mean(values)) for name, values in scores.items()}
    result["std"] = {name: float(np.std(values)) for name, values in scores.items()}
    return result


def _make_splitter(cv: Any, y: np.ndarray, stratified: Optional[bool],
                   seed: Optional[int]) -> Any:
    if isinstance(cv, (int, np.integer)) and not isinstance(cv, bool):
        n_splits = check_int("cv", cv, 2, wrong_type=ValueError)
        if stratified is None:
            stratified = _looks_like_labels(y)
        splitter_class = StratifiedKFold if check_bool("stratified", stratified) else KFold
        return splitter_class(n_splits, shuffle=True, seed=check_seed("seed", seed))
    if isinstance(cv, (str, bytes)) or not (callable(getattr(cv, "split", None))
                                            and callable(getattr(cv, "get_n_splits", None))):
        raise TypeError(f"cv: expected a number of folds >= 2 or a KFold / StratifiedKFold, "
                         f"got {cv!r}")
    if stratified is not None:
        raise ValueError(f"stratified: only used when cv is a number of folds, got "
                         f"stratified={stratified!r} with cv={cv!r}")
    return cv


# ------------------------------------------------------------------------------ one-hot
def to_categorical(y: Any, num_classes: Optional[int] = None,
                   dtype: Any = "float32") -> np.ndarray:
    """One-hot encode integer class labels (Keras' ``to_categorical``).

    Parameters
    ----------
    y : array-like of int
        Class labels in ``[0, num_classes)``, any shape; a trailing axis of size 1 is dropped.
        Floats are accepted when they hold whole numbers.
    num_classes : int, optional
        Number of classes. Defaults to ``max(y) + 1``.
    dtype : dtype
        Of the result. Defaults to ``"float32"``.

    Returns
    -------
    ndarray of shape ``y.shape + (num_classes,)``

    Raises
    ------
    TypeError
        Non-numeric labels (strings, objects).
    ValueError
        Negative, non-integer or non-finite labels, labels >= ``num_classes``, or empty ``y``
        without ``num_classes``.

    Examples
    --------
    >>> to_categorical([0, 2, 1])
    array([[1., 0., 0.],
           [0., 0., 1.],
           [0., 1., 0.]], dtype=float32)
    >>> to_categorical([1], num_classes=4, dtype=int)
    array([[0, 1, 0, 0]])
    """
    labels = _to_numpy(y)
    if labels.dtype.kind not in "biuf":
        raise TypeError(f"y: expected integer class labels, got dtype {labels.dtype}")
    if labels.ndim > 1 and labels.shape[-1] == 1:
        labels = labels[..., 0]
    if labels.dtype.kind == "f":
        bad = ~np.isfinite(labels) | (labels != np.round(labels))
        if np.any(bad):
            raise ValueError(f"y: expected integer class labels, got non-integer value "
                             f"{float(labels[bad].flat[0])!r}")
    labels = labels.astype(np.int64)
    if labels.size and labels.min() < 0:
        raise ValueError(f"y: expected class labels >= 0, got {int(labels.min())}")
    if num_classes is None:
        if labels.size == 0:
            raise ValueError("num_classes: cannot be inferred from an empty y; pass it")
        num_classes = int(labels.max()) + 1
    else:
        num_classes = check_int("num_classes", num_classes, 1, wrong_type=ValueError)
        if labels.size and labels.max() >= num_classes:
            raise ValueError(f"y: expected class labels in [0, {num_classes - 1}] for "
                             f"num_classes={num_classes}, got {int(labels.max())}")
    dtype = np.dtype(dtype)
    if dtype.kind not in "biuf":
        raise TypeError(f"dtype: expected a numeric dtype, got {dtype}")
    encoded = np.zeros((labels.size, num_classes), dtype=dtype)
    encoded[np.arange(labels.size), labels.reshape(-1)] = 1
    return encoded.reshape(labels.shape + (num_classes,))


one_hot = to_categorical


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

