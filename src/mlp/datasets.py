"""Small real datasets bundled with the package, and synthetic data generators.

The loaders read files shipped inside ``mlp/datasets_data/`` (no network access); their origin
and licence (CC BY 4.0, UCI Machine Learning Repository) are recorded in
``mlp/datasets_data/README.md`` and in each dataset's ``DESCR``.

Generators return ``X`` as float64 and class labels ``y`` as int64 of shape (n,); a model with
``dtype="float32"`` (the default) converts its inputs itself. Integer labels work directly with
``loss="sparse_categorical_crossentropy"`` and, for two classes, ``"binary_crossentropy"``; use
:func:`mlp.data.to_categorical` for one-hot targets.

Examples
--------
>>> from mlp.datasets import load_breast_cancer, make_moons
>>> X, y = load_breast_cancer(return_X_y=True)
>>> X.shape, y.shape
((569, 30), (569,))
>>> X, y = make_moons(n_samples=100, noise=0.1, seed=0)
>>> X.shape, sorted(set(y.tolist()))
((100, 2), [0, 1])
"""
from __future__ import annotations

import gzip
import io
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Dict, List, Optional, Tuple, Union

import numpy as np

from .validation import check_int, check_seed_or_random_state

__all__ = [
    "Dataset", "load_breast_cancer", "load_digits", "make_circles", "make_moons",
    "make_regression", "make_spirals", "make_xor",
]

DATA_PACKAGE = "datasets_data"

BREAST_CANCER_DESCR = """\
Breast Cancer Wisconsin (Diagnostic) dataset
============================================

569 samples, 30 real-valued features, 2 classes: 212 malignant (target 0), 357 benign
(target 1). No missing values.

Each sample describes the cell nuclei in a digitised image of a fine needle aspirate (FNA) of
a breast mass. Ten properties are measured per nucleus -- radius, texture, perimeter, area,
smoothness, compactness, concavity, concave points, symmetry and fractal dimension -- and the
features are their mean (columns 0-9), standard error (10-19) and "worst" value, the mean of
the three largest (20-29), over the nuclei of the image.

Creators: William H. Wolberg, W. Nick Street, Olvi L. Mangasarian (University of Wisconsin),
November 1995. Donor: Nick Street.

Source: W. Wolberg, O. Mangasarian, N. Street, W. Street. Breast Cancer Wisconsin
(Diagnostic). UCI Machine Learning Repository, 1993. https://doi.org/10.24432/C5DW2B
(https://archive.ics.uci.edu/dataset/17/breast+cancer+wisconsin+diagnostic).
Licence: Creative Commons Attribution 4.0 International (CC BY 4.0).

Reference: W. N. Street, W. H. Wolberg, O. L. Mangasarian. Nuclear feature extraction for
breast tumor diagnosis. IS&T/SPIE International Symposium on Electronic Imaging: Science and
Technology, vol. 1905, pp. 861-870, 1993.

The bundled copy was taken from scikit-learn's packaged copy of the UCI data (target coding
as there: 0 = malignant, 1 = benign); see mlp/datasets_data/README.md.
"""

DIGITS_DESCR = """\
Optical Recognition of Handwritten Digits dataset (8x8)
=======================================================

1797 samples, 64 integer features in 0..16, 10 classes (the digits 0-9, about 180 each).
No missing values.

Handwritten digits from preprinted forms, extracted with NIST's preprocessing programs into
normalised 32x32 bitmaps; each bitmap is divided into non-overlapping 4x4 blocks and the "on"
pixels of each block are counted, giving an 8x8 image of integers 0..16 (feature
8 * row + column is pixel (row, column)). This is the UCI test set (optdigits.tes), written by
13 people other than the 30 of the training set.

Creators: E. Alpaydin, C. Kaynak (Bogazici University, Istanbul), July 1998.

Source: E. Alpaydin, C. Kaynak. Optical Recognition of Handwritten Digits. UCI Machine
Learning Repository, 1998. https://doi.org/10.24432/C50P49
(https://archive.ics.uci.edu/dataset/80/optical+recognition+of+handwritten+digits).
Licence: Creative Commons Attribution 4.0 International (CC BY 4.0).

Reference: C. Kaynak (1995). Methods of Combining Multiple Classifiers and Their Applications
to Handwritten Digit Recognition. MSc thesis, Bogazici University. E. Alpaydin, C. Kaynak
(1998). Cascading Classifiers. Kybernetika.

The bundled copy was taken from scikit-learn's packaged copy of the UCI data; see
mlp/datasets_data/README.md.
"""

BREAST_CANCER_TARGET_NAMES = ["malignant", "benign"]


@dataclass(eq=False)
class Dataset:
    """A bundled dataset: arrays plus what they mean.

    Attributes
    ----------
    data : ndarray of shape (n_samples, n_features)
        The features (a pandas DataFrame when loaded with ``as_frame=True``).
    target : ndarray of shape (n_samples,)
        Integer class labels (a pandas Series with ``as_frame=True``).
    feature_names : list of str
    target_names : list of str
        ``target_names[k]`` is the name of class ``k``.
    DESCR : str
        Description, origin, citation and licence.
    name : str
    images : ndarray of shape (n_samples, 8, 8), optional
        The digits as images (``load_digits`` only).
    frame : pandas.DataFrame, optional
        Features and a ``"target"`` column (``as_frame=True`` only).

    Examples
    --------
    >>> from mlp.datasets import load_digits
    >>> digits = load_digits()
    >>> digits.data.shape, digits.images.shape, digits.target_names[:3]
    ((1797, 64), (1797, 8, 8), ['0', '1', '2'])
    """

    data: Any
    target: Any
    feature_names: List[str]
    target_names: List[str]
    DESCR: str
    name: str = ""
    images: Optional[np.ndarray] = None
    frame: Any = field(default=None, repr=False)

    def __repr__(self) -> str:
        def describe(value: Any) -> str:
            return f"{type(value).__name__} {getattr(value, 'shape', '?')}"
        return (f"Dataset(name={self.name!r}, data={describe(self.data)}, "
                f"target={describe(self.target)}, target_names={self.target_names!r})")


def _open_data_file(filename: str):
    return resources.files("mlp").joinpath(DATA_PACKAGE).joinpath(filename).open("rb")


_CACHE: Dict[str, Dict[str, Any]] = {}


def _breast_cancer_arrays() -> Dict[str, Any]:
    if "breast_cancer" not in _CACHE:
        with _open_data_file("breast_cancer.csv.gz") as raw, gzip.open(raw, "rt") as text:
            header = text.readline().rstrip("\n").split(",")
            table = np.loadtxt(io.StringIO(text.read()), delimiter=",", dtype=np.float64)
        _CACHE["breast_cancer"] = {"names": header[:-1], "data": table[:, :-1],
                                   "target": table[:, -1].astype(np.int64)}
    return _CACHE["breast_cancer"]


def _digits_arrays() -> Dict[str, Any]:
    if "digits" not in _CACHE:
        with _open_data_file("digits.npz") as raw, np.load(raw, allow_pickle=False) as archive:
            _CACHE["digits"] = {"data": archive["data"], "target": archive["target"]}
    return _CACHE["digits"]


def load_breast_cancer(return_X_y: bool = False,
                       as_frame: bool = False) -> Union[Dataset, Tuple[Any, Any]]:
    """The Wisconsin Diagnostic Breast Cancer dataset (binary classification).

    569 samples x 30 features (float64), target int64 with 0 = malignant (212 samples) and
    1 = benign (357). Loaded from a file inside the package, no network access.
    Source: UCI Machine Learning Repository (Wolberg, Street, Mangasarian), CC BY 4.0; the
    full description and citation are in ``DESCR``.

    Parameters
    ----------
    return_X_y : bool
        Return ``(data, target)`` instead of a :class:`Dataset`. Defaults to ``False``.
    as_frame : bool
        Return ``data`` as a pandas DataFrame (named columns) and ``target`` as a Series
        (needs pandas). Defaults to ``False``.

    Returns
    -------
    Dataset or tuple

    Raises
    ------
    ImportError
        ``as_frame=True`` without pandas installed.

    Examples
    --------
    >>> from mlp.datasets import load_breast_cancer
    >>> ds = load_breast_cancer()
    >>> ds.data.shape, ds.target_names, ds.feature_names[0]
    ((569, 30), ['malignant', 'benign'], 'mean radius')
    """
    arrays = _breast_cancer_arrays()
    data, target = arrays["data"].copy(), arrays["target"].copy()
    names = list(arrays["names"])
    frame = None
    if as_frame:
        data, target, frame = _as_frame("load_breast_cancer", data, target, names)
    if return_X_y:
        return data, target
    return Dataset(data=data, target=target, feature_names=names,
                   target_names=list(BREAST_CANCER_TARGET_NAMES), DESCR=BREAST_CANCER_DESCR,
                   name="breast_cancer", frame=frame)


def load_digits(return_X_y: bool = False,
                n_class: int = 10) -> Union[Dataset, Tuple[np.ndarray, np.ndarray]]:
    """The UCI optical recognition of handwritten digits dataset (8x8 images, 10 classes).

    1797 samples x 64 pixel features (float64, integers 0..16), target int64 in 0..9 (about
    180 samples per digit). Loaded from a file inside the package, no network access.
    Source: UCI Machine Learning Repository (Alpaydin, Kaynak), CC BY 4.0; see ``DESCR``.

    Parameters
    ----------
    return_X_y : bool
        Return ``(data, target)`` instead of a :class:`Dataset`. Defaults to ``False``.
    n_class : int
        Keep only the digits ``0 .. n_class - 1`` (1 to 10). Defaults to ``10``.

    Returns
    -------
    Dataset or tuple
        The dataset has ``images`` of shape (n, 8, 8) besides ``data`` of shape (n, 64).

    Raises
    ------
    ValueError
        ``n_class`` outside 1..10.

    Examples
    --------
    >>> from mlp.datasets import load_digits
    >>> X, y = load_digits(return_X_y=True, n_class=2)
    >>> X.shape, sorted(set(y.tolist())), float(X.max())
    ((360, 64), [0, 1], 16.0)
    """
    n_class = check_int("n_class", n_class, 1, wrong_type=ValueError)
    if n_class > 10:
        raise ValueError(f"n_class: expected an integer in [1, 10], got {n_class}")
    arrays = _digits_arrays()
    keep = arrays["target"] < n_class
    data = arrays["data"][keep].astype(np.float64)
    target = arrays["target"][keep].astype(np.int64)
    if return_X_y:
        return data, target
    return Dataset(data=data, target=target,
                   feature_names=[f"pixel_{row}_{column}" for row in range(8)
                                  for column in range(8)],
                   target_names=[str(digit) for digit in range(n_class)], DESCR=DIGITS_DESCR,
                   name="digits", images=data.reshape(-1, 8, 8))


def _as_frame(caller: str, data: np.ndarray, target: np.ndarray, names: List[str]):
    try:
        import pandas as pd
    except ImportError:
        raise ImportError(f"{caller}: as_frame=True needs pandas (pip install pandas); "
                          f"use as_frame=False for NumPy arrays") from None
    frame_data = pd.DataFrame(data, columns=names)
    frame_target = pd.Series(target, name="target")
    return frame_data, frame_target, pd.concat([frame_data, frame_target], axis=1)


# ------------------------------------------------------------------------------ generators
def _check_noise(noise: Any, name: str = "noise") -> float:
    if isinstance(noise, bool) or not isinstance(noise, (int, float, np.integer, np.floating)) \
            or not np.isfinite(noise) or noise < 0:
        raise ValueError(f"{name}: expected a finite number >= 0, got {noise!r}")
    return float(noise)


def _class_sizes(n_samples: int, n_classes: int) -> np.ndarray:
    """As equal as possible: the first ``n_samples % n_classes`` classes get one more."""
    sizes = np.full(n_classes, n_samples // n_classes)
    sizes[:n_samples % n_classes] += 1
    return sizes


def _shuffled(rng: np.random.Generator, X: np.ndarray, y: np.ndarray):
    order = rng.permutation(len(y))
    return np.ascontiguousarray(X[order]), np.ascontiguousarray(y[order])


def make_xor(n_samples: int = 200, noise: float = 0.1,
             seed: Optional[int] = None,
             random_state: Any = None) -> Tuple[np.ndarray, np.ndarray]:
    """The XOR problem: noisy points around the four corners of the unit square.

    Corners (0, 0) and (1, 1) are class 0, (0, 1) and (1, 0) class 1; the samples are spread
    over the corners as evenly as possible (class sizes differ by at most one), Gaussian noise
    of standard deviation ``noise`` is added to the coordinates, and the samples are shuffled.
    Not linearly separable: a perceptron fails, an MLP with one hidden layer succeeds.

    Parameters
    ----------
    n_samples : int
        At least 4. Defaults to ``200``.
    noise : float
        Standard deviation of the Gaussian noise, >= 0. Defaults to ``0.1``.
    seed : int, optional
        The same seed gives the same data. Defaults to fresh random data.
    random_state : int or numpy.random.RandomState, optional
        scikit-learn's name for ``seed`` (give one of the two).

    Returns
    -------
    X : ndarray of float64, shape (n_samples, 2)
    y : ndarray of int64, shape (n_samples,)

    Examples
    --------
    >>> from mlp.datasets import make_xor
    >>> X, y = make_xor(n_samples=8, noise=0.0, seed=0)
    >>> bool(((X[:, 0] != X[:, 1]) == y).all())
    True
    """
    n_samples = check_int("n_samples", n_samples, 4, wrong_type=ValueError)
    noise = _check_noise(noise)
    rng = np.random.default_rng(check_seed_or_random_state(seed, random_state))
    corners = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 1.0], [1.0, 0.0]])
    corner = np.repeat(np.arange(4), _class_sizes(n_samples, 4))
    X = corners[corner] + rng.normal(0.0, noise, (n_samples, 2))
    y = (corners[corner, 0] != corners[corner, 1]).astype(np.int64)
    return _shuffled(rng, X, y)


def make_moons(n_samples: int = 200, noise: float = 0.1,
               seed: Optional[int] = None,
               random_state: Any = None) -> Tuple[np.ndarray, np.ndarray]:
    """Two interleaving half circles (scikit-learn's ``make_moons`` construction).

    Class 0 is the upper half circle of radius 1 around (0, 0), class 1 the lower half circle
    around (1, 0.5); class 0 gets ``n_samples // 2`` points, evenly spaced along its arc, class
    1 the rest. Gaussian noise of standard deviation ``noise`` is added; samples are shuffled.

    Parameters
    ----------
    n_samples : int
        At least 2. Defaults to ``200``.
    noise : float
        Standard deviation of the Gaussian noise, >= 0. Defaults to ``0.1``.
    seed : int, optional
        The same seed gives the same data. Defaults to fresh random data.
    random_state : int or numpy.random.RandomState, optional
        scikit-learn's name for ``seed`` (give one of the two).

    Returns
    -------
    X : ndarray of float64, shape (n_samples, 2)
    y : ndarray of int64, shape (n_samples,)

    Examples
    --------
    >>> from mlp.datasets import make_moons
    >>> X, y = make_moons(n_samples=100, seed=0)
    >>> X.shape, int(y.sum())
    ((100, 2), 50)
    """
    n_samples = check_int("n_samples", n_samples, 2, wrong_type=ValueError)
    noise = _check_noise(noise)
    rng = np.random.default_rng(check_seed_or_random_state(seed, random_state))
    n_outer = n_samples // 2
    n_inner = n_samples - n_outer
    outer = np.linspace(0.0, np.pi, n_outer)
    inner = np.linspace(0.0, np.pi, n_inner)
    X = np.concatenate([np.stack([np.cos(outer), np.sin(outer)], axis=1),
                        np.stack([1.0 - np.cos(inner), 0.5 - np.sin(inner)], axis=1)])
    y = np.concatenate([np.zeros(n_outer, np.int64), np.ones(n_inner, np.int64)])
    X = X + rng.normal(0.0, noise, X.shape)
    return _shuffled(rng, X, y)


def make_circles(n_samples: int = 200, noise: float = 0.05, factor: float = 0.5,
                 seed: Optional[int] = None,
                 random_state: Any = None) -> Tuple[np.ndarray, np.ndarray]:
    """A small circle inside a large one (scikit-learn's ``make_circles`` construction).

    Class 0 is the circle of radius 1 (``n_samples // 2`` evenly spaced points), class 1 the
    circle of radius ``factor`` (the rest). Gaussian noise of standard deviation ``noise`` is
    added; samples are shuffled.

    Parameters
    ----------
    n_samples : int
        At least 2. Defaults to ``200``.
    noise : float
        Standard deviation of the Gaussian noise, >= 0. Defaults to ``0.05``.
    factor : float
        Radius of the inner circle, in (0, 1). Defaults to ``0.5``.
    seed : int, optional
        The same seed gives the same data. Defaults to fresh random data.
    random_state : int or numpy.random.RandomState, optional
        scikit-learn's name for ``seed`` (give one of the two).

    Returns
    -------
    X : ndarray of float64, shape (n_samples, 2)
    y : ndarray of int64, shape (n_samples,)

    Examples
    --------
    >>> import numpy as np
    >>> from mlp.datasets import make_circles
    >>> X, y = make_circles(n_samples=10, noise=0.0, factor=0.3, seed=0)
    >>> np.round(np.hypot(X[:, 0], X[:, 1])[np.argsort(y)], 2).tolist()
    [1.0, 1.0, 1.0, 1.0, 1.0, 0.3, 0.3, 0.3, 0.3, 0.3]
    """
    n_samples = check_int("n_samples", n_samples, 2, wrong_type=ValueError)
    noise = _check_noise(noise)
    if isinstance(factor, bool) or not isinstance(factor, (int, float, np.number)) \
            or not 0.0 < factor < 1.0:
        raise ValueError(f"factor: expected a number in (0, 1), got {factor!r}")
    rng = np.random.default_rng(check_seed_or_random_state(seed, random_state))
    n_outer = n_samples // 2
    n_inner = n_samples - n_outer
    outer = np.linspace(0.0, 2.0 * np.pi, n_outer, endpoint=False)
    inner = np.linspace(0.0, 2.0 * np.pi, n_inner, endpoint=False)
    X = np.concatenate([np.stack([np.cos(outer), np.sin(outer)], axis=1),
                        factor * np.stack([np.cos(inner), np.sin(inner)], axis=1)])
    y = np.concatenate([np.zeros(n_outer, np.int64), np.ones(n_inner, np.int64)])
    X = X + rng.normal(0.0, noise, X.shape)
    return _shuffled(rng, X, y)


def make_spirals(n_samples: int = 200, n_classes: int = 2, noise: float = 0.1,
                 seed: Optional[int] = None,
                 random_state: Any = None) -> Tuple[np.ndarray, np.ndarray]:
    """Interleaved spiral arms, one per class.

    Each arm is the spiral ``r = t / (2 pi)``, at angle ``t`` rotated by ``2 pi k / n_classes``
    for class ``k`` (so arms never cross), over ``t = 2 pi sqrt(u)`` with ``u`` uniform in
    [0.05, 1] (``t`` from about 1.4 to 2 pi, roughly uniform density along the arm).
    Class sizes differ by at most one. Gaussian noise of standard deviation ``noise`` is added;
    samples are shuffled.

    Parameters
    ----------
    n_samples : int
        At least ``n_classes``. Defaults to ``200``.
    n_classes : int
        Number of arms / classes, at least 2. Defaults to ``2``.
    noise : float
        Standard deviation of the Gaussian noise, >= 0. Defaults to ``0.1``.
    seed : int, optional
        The same seed gives the same data. Defaults to fresh random data.
    random_state : int or numpy.random.RandomState, optional
        scikit-learn's name for ``seed`` (give one of the two).

    Returns
    -------
    X : ndarray of float64, shape (n_samples, 2)
    y : ndarray of int64, shape (n_samples,)

    Examples
    --------
    >>> import numpy as np
    >>> from mlp.datasets import make_spirals
    >>> X, y = make_spirals(n_samples=300, n_classes=3, seed=0)
    >>> X.shape, np.bincount(y).tolist()
    ((300, 2), [100, 100, 100])
    """
    n_classes = check_int("n_classes", n_classes, 2, wrong_type=ValueError)
    n_samples = check_int("n_samples", n_samples, 1, wrong_type=ValueError)
    if n_samples < n_classes:
        raise ValueError(f"n_samples: expected at least n_classes={n_classes}, got {n_samples}")
    noise = _check_noise(noise)
    rng = np.random.default_rng(check_seed_or_random_state(seed, random_state))
    sizes = _class_sizes(n_samples, n_classes)
    y = np.repeat(np.arange(n_classes, dtype=np.int64), sizes)
    turns = np.sqrt(rng.uniform(0.05, 1.0, n_samples)) * 2.0 * np.pi
    angle = turns + 2.0 * np.pi * y / n_classes
    radius = turns / (2.0 * np.pi)
    X = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1)
    X = X + rng.normal(0.0, noise, X.shape)
    return _shuffled(rng, X, y)


def make_regression(n_samples: int = 200, n_features: int = 5, noise: float = 0.1,
                    seed: Optional[int] = None, coef: bool = False,
                    random_state: Any = None):
    """A linear regression problem: ``y = X @ w + noise``.

    ``X`` has independent standard normal features, the weights ``w`` are drawn from a
    standard normal distribution, and Gaussian noise of standard deviation ``noise`` is added
    to ``y``. There is no intercept.

    Parameters
    ----------
    n_samples : int
        At least 1. Defaults to ``200``.
    n_features : int
        At least 1. Defaults to ``5``.
    noise : float
        Standard deviation of the noise on ``y``, >= 0. Defaults to ``0.1``.
    seed : int, optional
        The same seed gives the same data. Defaults to fresh random data.
    random_state : int or numpy.random.RandomState, optional
        scikit-learn's name for ``seed`` (give one of the two).
    coef : bool
        Also return the true weights ``w``. Defaults to ``False``.

    Returns
    -------
    X : ndarray of float64, shape (n_samples, n_features)
    y : ndarray of float64, shape (n_samples,)
    w : ndarray of float64, shape (n_features,)
        Only with ``coef=True``.

    Examples
    --------
    >>> import numpy as np
    >>> from mlp.datasets import make_regression
    >>> X, y, w = make_regression(n_samples=50, n_features=3, noise=0.0, seed=0, coef=True)
    >>> X.shape, y.shape, bool(np.allclose(X @ w, y))
    ((50, 3), (50,), True)
    """
    n_samples = check_int("n_samples", n_samples, 1, wrong_type=ValueError)
    n_features = check_int("n_features", n_features, 1, wrong_type=ValueError)
    noise = _check_noise(noise)
    rng = np.random.default_rng(check_seed_or_random_state(seed, random_state))
    X = rng.standard_normal((n_samples, n_features))
    weights = rng.standard_normal(n_features)
    y = X @ weights + rng.normal(0.0, noise, n_samples)
    return (X, y, weights) if coef else (X, y)
