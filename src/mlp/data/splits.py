"""Splitting data: ``train_test_split``, ``KFold`` and ``StratifiedKFold``."""
from __future__ import annotations

import warnings
from typing import Any, Iterator, List, Optional, Tuple

import numpy as np

from ..validation import check_bool, check_int, check_seed_or_random_state
from ._common import Size, _encode_labels, _length, _split_sizes, _stratified_indices, _take


# ------------------------------------------------------------------------------- splits
def train_test_split(*arrays: Any, test_size: Size = None, train_size: Size = None,
                     shuffle: bool = True, stratify: Any = None,
                     seed: Optional[int] = None, random_state: Any = None) -> List[Any]:
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
    random_state : int or numpy.random.RandomState, optional
        scikit-learn's name for ``seed`` (give one of the two).

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
    rng = np.random.default_rng(check_seed_or_random_state(seed, random_state))
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
    random_state : int or numpy.random.RandomState, optional
        scikit-learn's name for ``seed`` (give one of the two).

    Examples
    --------
    >>> import numpy as np
    >>> for train, test in KFold(n_splits=3).split(np.zeros((7, 2))):
    ...     print(train, test)
    [3 4 5 6] [0 1 2]
    [0 1 2 5 6] [3 4]
    [0 1 2 3 4] [5 6]
    """

    def __init__(self, n_splits: int = 5, shuffle: bool = False, seed: Optional[int] = None,
                 random_state: Any = None):
        self.n_splits = check_int("n_splits", n_splits, 2, wrong_type=ValueError)
        self.shuffle = check_bool("shuffle", shuffle)
        self.seed = check_seed_or_random_state(seed, random_state)
        if not self.shuffle and self.seed is not None:
            raise ValueError(f"seed: has no effect when shuffle=False; pass shuffle=True or "
                             f"leave seed=None, got seed={seed!r}")

    @property
    def random_state(self) -> Optional[int]:
        """scikit-learn's name for :attr:`seed`."""
        return self.seed

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
    random_state : int or numpy.random.RandomState, optional
        scikit-learn's name for ``seed`` (give one of the two).

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


__all__ = ["KFold", "StratifiedKFold", "train_test_split"]
