"""scikit-learn estimators on mlp's engine: :class:`MLPClassifier` and :class:`MLPRegressor`.

Drop-ins for ``sklearn.neural_network.MLPClassifier`` / ``MLPRegressor``: the same constructor
parameters (names, defaults, meaning), fitted attributes and methods, trained by mlp's kernels;
plus what scikit-learn's estimators lack (``dropout``, ``batch_norm``, ``class_weight``,
``backend``, ``n_threads``, ``dtype``). They pass scikit-learn's estimator checks, so ``Pipeline``,
``GridSearchCV``, ``cross_val_score``, ``clone`` and joblib work with them.

scikit-learn is an optional dependency (``pip install mlp-engine[sklearn]``); this package is
the only part of mlp that imports it.

Examples
--------
>>> from sklearn.datasets import load_digits
>>> from sklearn.model_selection import cross_val_score
>>> from mlp.sklearn import MLPClassifier
>>> X, y = load_digits(return_X_y=True)
>>> scores = cross_val_score(MLPClassifier(max_iter=50, random_state=0), X / 16, y, cv=3)
>>> bool(scores.mean() > 0.85)
True
"""
try:
    import sklearn  # noqa: F401
except ImportError as error:  # pragma: no cover - exercised in an environment without it
    raise ImportError(
        "mlp.sklearn needs scikit-learn, which is not installed; install it with "
        "pip install 'mlp-engine[sklearn]' (or pip install scikit-learn)") from error

from ._classifier import MLPClassifier
from ._regressor import MLPRegressor

__all__ = ["MLPClassifier", "MLPRegressor"]
