"""Helpers of the data tools: array-likes (NumPy, pandas, sparse) and labels."""
from __future__ import annotations

from typing import Any, List, Optional, Tuple, Union

import numpy as np



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

