"""Rosenblatt's perceptron (1958): the single-neuron ancestor of the multilayer perceptron."""
from __future__ import annotations

import functools
import numbers
import warnings
from typing import Any, Dict, List, Optional

import numpy as np

from ..validation import check_int


def _as_numeric(name: str, value: Any) -> np.ndarray:
    """Return ``value`` as a NumPy array of booleans, integers or floats, or raise."""
    if hasattr(value, "toarray") or hasattr(value, "tocsr"):  # a SciPy sparse matrix / array
        raise TypeError(f"{name}: sparse input is not supported (Sparse data was passed, but "
                        f"dense data is required); pass {name}.toarray()")
    try:
        arr = np.asarray(value)
    except ValueError as err:
        raise ValueError(f"{name}: expected a rectangular numeric array, got {err}") from None
    if arr.dtype.kind == "c":
        raise ValueError(f"{name}: Complex data not supported; expected real numbers, got "
                         f"dtype {arr.dtype}")
    if arr.dtype.kind == "O":  # numbers held as Python objects; anything else fails here
        arr = arr.astype(np.float64)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name}: expected a numeric array, got dtype {arr.dtype}")
    return arr


def _check_X(X: Any) -> np.ndarray:
    """Return ``X`` as a finite 2-D float64 array with at least one row and one column."""
    arr = _as_numeric("X", X)
    if arr.ndim != 2:
        raise ValueError(
            f"X: expected a 2-D array (n_samples, n_features), got a {arr.ndim}-D array of "
            f"shape {arr.shape}; Reshape your data: X.reshape(-1, 1) for a single feature"
        )
    for axis, what in ((0, "sample"), (1, "feature")):
        if arr.shape[axis] == 0:
            raise ValueError(f"X: expected at least one sample and one feature, got "
                             f"0 {what}(s) (shape={arr.shape}) while a minimum of 1 is "
                             f"required.")
    arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        raise ValueError("X: expected finite values, got NaN or infinity")
    return arr


def _check_y(y: Any, n_samples: int) -> np.ndarray:
    """Return ``y`` as a 1-D array of ``n_samples`` labels (numbers, booleans or strings).

    A column vector ``(n_samples, 1)`` is accepted with a warning, as scikit-learn's
    estimators accept it (``DataConversionWarning`` when scikit-learn is installed).
    """
    if y is None:
        raise ValueError("y: Perceptron requires y to be passed, but the target y is None")
    try:
        arr = np.asarray(y)
    except ValueError as err:
        raise ValueError(f"y: expected a 1-D array of labels, got {err}") from None
    if arr.ndim == 2 and arr.shape[1] == 1:
        warnings.warn("A column-vector y was passed when a 1d array was expected; it is "
                      "read as y.ravel()", _data_conversion_warning(), stacklevel=4)
        arr = arr.ravel()
    if arr.ndim != 1:
        raise ValueError(f"y: expected a 1-D array of labels, got shape {arr.shape}")
    if arr.shape[0] != n_samples:
        raise ValueError(f"y: expected {n_samples} labels, one per row of X, got {arr.shape[0]}")
    if arr.dtype.kind not in "biufUSO":
        raise TypeError(f"y: expected labels (numbers, booleans or strings), got dtype "
                        f"{arr.dtype}")
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise ValueError("y: expected finite labels, got NaN or infinity")
    if arr.dtype.kind == "f" and not np.array_equal(arr, np.round(arr)):
        raise ValueError("y: Unknown label type: continuous; expected class labels (two "
                         "values), got fractional numbers")
    return arr


def _data_conversion_warning() -> type:
    """scikit-learn's ``DataConversionWarning`` when it is installed, else ``UserWarning``."""
    try:
        from sklearn.exceptions import DataConversionWarning
    except ImportError:
        return UserWarning
    return DataConversionWarning


class NotFittedError(RuntimeError, ValueError, AttributeError):
    """A method that needs a fitted model was called before ``fit``. A ``RuntimeError``, and
    also a ``ValueError`` / ``AttributeError`` as scikit-learn's ``NotFittedError`` is."""


@functools.lru_cache(maxsize=None)
def _not_fitted_error() -> type:
    """:class:`NotFittedError`, also a ``sklearn.exceptions.NotFittedError`` when
    scikit-learn is installed (so that scikit-learn's tools recognise it)."""
    try:
        from sklearn.exceptions import NotFittedError as SklearnNotFittedError
    except ImportError:
        return NotFittedError
    return type("NotFittedError", (NotFittedError, SklearnNotFittedError),
                {"__module__": __name__, "__doc__": NotFittedError.__doc__})


def _check_learning_rate(value: Any) -> float:
    """Return ``value`` as a float, or raise if it is not a finite number > 0."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not (
        np.isfinite(value) and value > 0
    ):
        raise ValueError(f"learning_rate: expected a finite number > 0, got {value!r}")
    return float(value)


def _step(z: Any) -> Any:
    """Heaviside step: 1 where ``z >= 0``, else 0 (int64)."""
    return np.asarray(z >= 0).astype(np.int64)


class Perceptron:
    """Rosenblatt's perceptron: a linear threshold unit trained by error correction.

    The model computes a weighted sum of the inputs plus a bias and passes it through the
    Heaviside step, ``y_hat = 1 if w @ x + b >= 0 else 0``. Training starts from ``w = 0``,
    ``b = 0`` and visits the samples one at a time (in a fresh random order each epoch when
    ``shuffle`` is set); after each sample it applies the perceptron rule::

        w += learning_rate * (y - y_hat) * x
        b += learning_rate * (y - y_hat)

    which changes nothing when the prediction is right and moves the decision boundary towards
    the misclassified sample otherwise. Training stops after an epoch without mistakes
    (``converged_`` is then True) or after ``max_epochs`` epochs.

    By the perceptron convergence theorem (Novikoff, 1962) the rule makes at most
    ``(R / gamma) ** 2`` mistakes when the classes are linearly separable with margin ``gamma``
    and the inputs (with a constant 1 appended for the bias) have norm at most ``R``. When they
    are not separable it never converges: the weights cycle for ever. XOR is the classic case
    (Minsky & Papert, 1969): no line puts (0, 1) and (1, 0) on one side and (0, 0) and (1, 1) on
    the other, so a single perceptron cannot learn it, while a multilayer perceptron with one
    hidden layer can.

    Parameters
    ----------
    learning_rate : float, optional
        Step size, finite and > 0. Defaults to ``1.0``. From the zero start it only scales the
        weights, so in exact arithmetic the predictions and mistakes do not depend on it.
    max_epochs : int, optional
        Most passes over the data, >= 1. Defaults to ``100``.
    shuffle : bool, optional
        Visit the samples in a new random order each epoch. Defaults to ``True``.
    seed : int or None, optional
        Seed of the shuffling order (a non-negative int), or None for a fresh one each fit.
        Defaults to ``None``.

    Labels may be any two classes (numbers, booleans, strings): ``y`` above is 1 for
    ``classes_[1]`` and 0 for ``classes_[0]``. The parameters are checked by :meth:`fit`, and
    the class follows scikit-learn's estimator API (``get_params`` / ``set_params``,
    ``__sklearn_tags__``), so ``clone``, ``cross_val_score`` and ``GridSearchCV`` take it.

    Attributes
    ----------
    classes_ : numpy.ndarray of shape (2,)
        The two labels, sorted.
    n_features_in_ : int
        Features seen in :meth:`fit`.
    weights_ : numpy.ndarray of shape (n_features,)
        The learned weights (float64).
    bias_ : float
        The learned bias.
    converged_ : bool
        True when the last epoch made no mistake.
    n_epochs_ : int
        Epochs run.
    errors_ : list of int
        Mistakes (updates) in each epoch.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
    >>> and_ = Perceptron(seed=0).fit(X, [0, 0, 0, 1])
    >>> and_.converged_, and_.predict(X)
    (True, array([0, 0, 0, 1]))

    XOR is not linearly separable: the perceptron never converges.

    >>> xor = Perceptron(max_epochs=50, seed=0).fit(X, [0, 1, 1, 0])
    >>> xor.converged_, xor.n_epochs_, xor.score(X, [0, 1, 1, 0]) < 1.0
    (False, 50, True)
    """

    def __init__(
        self,
        learning_rate: float = 1.0,
        max_epochs: int = 100,
        shuffle: bool = True,
        seed: Optional[int] = None,
    ) -> None:
        # stored as given and checked by fit, as scikit-learn's estimators do (clone and
        # set_params must not fail on a value that fit would refuse)
        self.learning_rate = learning_rate
        self.max_epochs = max_epochs
        self.shuffle = shuffle
        self.seed = seed

    def _checked_parameters(self):
        """``(learning_rate, max_epochs, shuffle, seed)``, validated."""
        if not isinstance(self.shuffle, (bool, np.bool_)):
            raise TypeError(f"shuffle: expected a bool, got {type(self.shuffle).__name__} "
                            f"{self.shuffle!r}")
        learning_rate = _check_learning_rate(self.learning_rate)
        max_epochs = check_int("max_epochs", self.max_epochs, 1, wrong_type=ValueError,
                               expected="an int >= 1")
        seed = None if self.seed is None else check_int("seed", self.seed, 0,
                                                        wrong_type=ValueError,
                                                        expected="an int >= 0")
        return learning_rate, max_epochs, bool(self.shuffle), seed

    def get_params(self, deep: bool = True) -> Dict[str, Any]:
        """Return the constructor arguments.

        Parameters
        ----------
        deep : bool, optional
            Ignored (there are no sub-estimators); present for scikit-learn compatibility.

        Returns
        -------
        dict
            ``learning_rate``, ``max_epochs``, ``shuffle`` and ``seed``.
        """
        return {
            "learning_rate": self.learning_rate,
            "max_epochs": self.max_epochs,
            "shuffle": self.shuffle,
            "seed": self.seed,
        }

    def set_params(self, **params: Any) -> "Perceptron":
        """Set constructor arguments by name (checked at the next :meth:`fit`); return self.

        Raises
        ------
        ValueError
            For a name that is not a parameter (the message lists them).
        """
        valid = self.get_params()
        for name, value in params.items():
            if name not in valid:
                raise ValueError(f"set_params: {name!r} is not a parameter of Perceptron; "
                                 f"the parameters are {sorted(valid)}")
            setattr(self, name, value)
        return self

    def __sklearn_tags__(self):
        """scikit-learn's description of this estimator: a binary classifier (it needs
        scikit-learn, imported here only)."""
        try:
            from sklearn.utils import ClassifierTags, InputTags, Tags, TargetTags
        except ImportError as error:
            raise ImportError("Perceptron.__sklearn_tags__ needs scikit-learn; install it with "
                              "pip install 'mlp-engine[sklearn]'") from error
        return Tags(estimator_type="classifier", target_tags=TargetTags(required=True),
                    classifier_tags=ClassifierTags(multi_class=False),
                    input_tags=InputTags())

    def fit(self, X: Any, y: Any) -> "Perceptron":
        """Train with the perceptron rule until an epoch makes no mistake or ``max_epochs``.

        Parameters
        ----------
        X : array_like of shape (n_samples, n_features)
            Finite numeric inputs.
        y : array_like of shape (n_samples,)
            Two classes: any labels (numbers, booleans, strings); ``classes_[1]`` (the larger
            one, as ``numpy.unique`` sorts them) is the positive class. Labels 0 and 1 (or
            booleans) always give ``classes_ == [0, 1]``, also when ``y`` holds one of them.

        Returns
        -------
        Perceptron
            ``self``, fitted.

        Raises
        ------
        ValueError
            When ``y`` holds one class, or more than two.
        """
        learning_rate, max_epochs, shuffle, seed = self._checked_parameters()
        X = _check_X(X)
        y = _check_y(y, X.shape[0])
        classes, targets = np.unique(y, return_inverse=True)
        if y.dtype.kind in "biuf" and np.isin(classes, (0, 1)).all():
            # 0/1 labels mean what they say, also when y holds one of them only
            classes = np.array([0, 1], dtype=y.dtype)
            targets = y.astype(np.int64)
        if len(classes) != 2:
            shown = f"{classes[:5].tolist()}{' ...' if len(classes) > 5 else ''}"
            if len(classes) == 1:
                raise ValueError(f"y: expected two classes (a perceptron is a binary "
                                 f"classifier), got one class: {shown}")
            raise ValueError(f"y: Only binary classification is supported; expected two "
                             f"classes, got {len(classes)}: {shown}")
        rng = np.random.default_rng(seed)
        self._learning_rate = learning_rate
        self.classes_ = classes
        self.n_features_in_ = X.shape[1]
        self.weights_ = np.zeros(X.shape[1])
        self.bias_ = 0.0
        self.errors_: List[int] = []
        for _ in range(max_epochs):
            order = rng.permutation(X.shape[0]) if shuffle else range(X.shape[0])
            self.errors_.append(self._epoch(X, targets.astype(np.int64), order))
            if self.errors_[-1] == 0:
                break
        self.n_epochs_ = len(self.errors_)
        self.converged_ = self.errors_[-1] == 0
        return self

    def _epoch(self, X: np.ndarray, y: np.ndarray, order: Any) -> int:
        """Apply the perceptron rule to the samples in ``order``; return the mistakes made."""
        mistakes = 0
        for i in order:
            error = int(y[i] - _step(X[i] @ self.weights_ + self.bias_))
            if error:
                self.weights_ += self._learning_rate * error * X[i]
                self.bias_ += self._learning_rate * error
                mistakes += 1
        return mistakes

    def predict(self, X: Any) -> np.ndarray:
        """Return the predicted labels: ``classes_[1]`` where ``w @ x + b >= 0``, else
        ``classes_[0]`` (for 0/1 labels, int64 ones and zeros).

        Parameters
        ----------
        X : array_like of shape (n_samples, n_features)
            Finite numeric inputs with as many features as in :meth:`fit`.

        Returns
        -------
        numpy.ndarray of shape (n_samples,)
            Labels of ``classes_``.

        Raises
        ------
        NotFittedError
            If the perceptron has not been fitted (a ``RuntimeError``).
        """
        if not hasattr(self, "weights_"):
            raise _not_fitted_error()("Perceptron: expected a fitted perceptron, call fit(X, "
                                      "y) first")
        X = _check_X(X)
        if X.shape[1] != self.weights_.shape[0]:
            raise ValueError(
                f"X has {X.shape[1]} features, but Perceptron is expecting "
                f"{self.weights_.shape[0]} features as input (as in fit)"
            )
        return self.classes_[_step(X @ self.weights_ + self.bias_)]

    def score(self, X: Any, y: Any) -> float:
        """Return the accuracy: the fraction of samples whose label is predicted right.

        Parameters
        ----------
        X : array_like of shape (n_samples, n_features)
        y : array_like of shape (n_samples,)
            Labels.

        Returns
        -------
        float
        """
        predictions = self.predict(X)
        return float(np.mean(predictions == _check_y(y, predictions.shape[0])))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"Perceptron({args})"


__all__ = ["NotFittedError", "Perceptron"]
