"""``cross_validate``: fit and evaluate a model on each fold of a split."""
from __future__ import annotations

import time
from typing import Any, Callable, Dict, List, Optional, Union

import numpy as np

from ..validation import check_bool, check_int, check_seed_or_random_state
from ._common import _length, _to_numpy
from .splits import KFold, StratifiedKFold


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
                   verbose: int = 0, random_state: Any = None) -> Dict[str, Any]:
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
    random_state : int or numpy.random.RandomState, optional
        scikit-learn's name for ``seed`` (give one of the two).
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
    seed = check_seed_or_random_state(seed, random_state)
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
        return splitter_class(n_splits, shuffle=True, seed=seed)
    if isinstance(cv, (str, bytes)) or not (callable(getattr(cv, "split", None))
                                            and callable(getattr(cv, "get_n_splits", None))):
        raise TypeError(f"cv: expected a number of folds >= 2 or a KFold / StratifiedKFold, "
                         f"got {cv!r}")
    if stratified is not None:
        raise ValueError(f"stratified: only used when cv is a number of folds, got "
                         f"stratified={stratified!r} with cv={cv!r}")
    return cv


__all__ = ["cross_validate"]
