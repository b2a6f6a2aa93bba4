"""Rosenblatt's perceptron (1958): the single-neuron ancestor of the multilayer perceptron."""
from __future__ import annotations

import numbers
from typing import Any, Dict, List, Optional

import numpy as np

from ..validation import check_int


def _as_numeric(name: str, value: Any) -> np.ndarray:
    """Return ``value`` as a NumPy array of booleans, integers or floats, or raise."""
    try:
        arr = np.asarray(value)
    except ValueError as err:
        raise ValueError(f"{name}: expected a rectangular numeric array, got {err}") from None
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name}: expected a numeric array, got dtype {arr.dtype}")
    return arr


def _check_X(X: Any) -> np.ndarray:
    """Return ``X`` as a finite 2-D float64 array with at least one row and one column."""
    arr = _as_numeric("X", X)
    if arr.ndim != 2:
        raise ValueError(
            f"X: expected a 2-D array (n_samples, n_features), got a {arr.ndim}-D array of "
            f"shape {arr.shape}; reshape a single feature with X.reshape(-1, 1)"
        )
    if arr.size == 0:
        raise ValueError(f"X: expected at least one sample and one feature, got shape {arr.shape}")
    arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        raise ValueError("X: expected finite values, got NaN or infinity")
    return arr


def _check_y(y: Any, n_samples: int) -> np.ndarray:
    """Return ``y`` as a 1-D int array of 0/1 labels with ``n_samples`` entries."""
    arr = _as_numeric("y", y)
    if arr.ndim != 1:
        raise ValueError(f"y: expected a 1-D array of labels, got shape {arr.shape}")
    if arr.shape[0] != n_samples:
        raise ValueError(f"y: expected {n_samples} labels, one per row of X, got {arr.shape[0]}")
    bad = arr[(arr != 0) & (arr != 1)]
    if bad.size:
        raise ValueError(
            f"y: expected labels in {{0, 1}} (or booleans), got {np.unique(bad)[:5].tolist()}"
        )
    return arr.astype(np.int64)


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

    Attributes
    ----------
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
        if not isinstance(shuffle, (bool, np.bool_)):
            raise TypeError(f"shuffle: expected a bool, got {type(shuffle).__name__} {shuffle!r}")
        self.learning_rate = _check_learning_rate(learning_rate)
        self.max_epochs = check_int("max_epochs", max_epochs, 1, wrong_type=ValueError,
                                    expected="an int >= 1")
        self.shuffle = bool(shuffle)
        self.seed = None if seed is None else check_int("seed", seed, 0, wrong_type=ValueError,
                                                            expected="an int >= 0")

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

    def fit(self, X: Any, y: Any) -> "Perceptron":
        """Train with the perceptron rule until an epoch makes no mistake or ``max_epochs``.

        Parameters
        ----------
        X : array_like of shape (n_samples, n_features)
            Finite numeric inputs.
        y : array_like of shape (n_samples,)
            Labels 0 or 1 (booleans accepted).

        Returns
        -------
        Perceptron
            ``self``, fitted.
        """
        X = _check_X(X)
        y = _check_y(y, X.shape[0])
        rng = np.random.default_rng(self.seed)
        self.weights_ = np.zeros(X.shape[1])
        self.bias_ = 0.0
        self.errors_: List[int] = []
        for _ in range(self.max_epochs):
            order = rng.permutation(X.shape[0]) if self.shuffle else range(X.shape[0])
            self.errors_.append(self._epoch(X, y, order))
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
                self.weights_ += self.learning_rate * error * X[i]
                self.bias_ += self.learning_rate * error
                mistakes += 1
        return mistakes

    def predict(self, X: Any) -> np.ndarray:
        """Return the predicted labels ``1 if w @ x + b >= 0 else 0``.

        Parameters
        ----------
        X : array_like of shape (n_samples, n_features)
            Finite numeric inputs with as many features as in :meth:`fit`.

        Returns
        -------
        numpy.ndarray of shape (n_samples,)
            int64 labels 0 or 1.

        Raises
        ------
        RuntimeError
            If the perceptron has not been fitted.
        """
        if not hasattr(self, "weights_"):
            raise RuntimeError("Perceptron: expected a fitted perceptron, call fit(X, y) first")
        X = _check_X(X)
        if X.shape[1] != self.weights_.shape[0]:
            raise ValueError(
                f"X: expected {self.weights_.shape[0]} features, as in fit, got {X.shape[1]}"
            )
        return _step(X @ self.weights_ + self.bias_)

    def score(self, X: Any, y: Any) -> float:
        """Return the accuracy: the fraction of samples whose label is predicted right.

        Parameters
        ----------
        X : array_like of shape (n_samples, n_features)
        y : array_like of shape (n_samples,)
            Labels 0 or 1 (booleans accepted).

        Returns
        -------
        float
        """
        predictions = self.predict(X)
        return float(np.mean(predictions == _check_y(y, predictions.shape[0])))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"Perceptron({args})"


__all__ = ["Perceptron"]
