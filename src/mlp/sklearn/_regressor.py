"""``MLPRegressor``: scikit-learn's multilayer-perceptron regressor on mlp's engine."""
from __future__ import annotations

import numpy as np
from sklearn.base import RegressorMixin
from sklearn.metrics import r2_score
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import column_or_1d, validate_data

from ._base import BaseMLP, has_partial_fit, store_parameters
from ._docs import splice


class MLPRegressor(RegressorMixin, BaseMLP):
    """Multilayer-perceptron regressor: scikit-learn's ``MLPRegressor`` on mlp's kernels.

    It minimises half the squared error with linear outputs (one per target column), with the
    parameters, attributes and rules of ``sklearn.neural_network.MLPRegressor``.

    Parameters
    ----------
    loss : {{"squared_error"}}, default="squared_error"
        Half the squared error. scikit-learn's ``"poisson"`` is not available here.
    {parameters}

    Attributes
    ----------
    {attributes}

    Notes
    -----
    {notes}
    With several targets, scikit-learn's ``loss_`` averages the squared error over them while
    its gradient sums it; this estimator follows the gradient and reports ``loss_`` as
    scikit-learn does (the L2 part of it taken at the end of the epoch). With ``"lbfgs"`` and
    several targets it minimises the summed error with its true gradient, where scikit-learn's
    line search sees the averaged loss beside the summed gradient: the weights then differ
    (with one target both are the same).

    Examples
    --------
    >>> import numpy as np
    >>> from mlp.sklearn import MLPRegressor
    >>> X = np.random.default_rng(0).uniform(-1, 1, size=(200, 2))
    >>> y = X[:, 0] - 2 * X[:, 1]
    >>> reg = MLPRegressor(hidden_layer_sizes=(16,), solver="lbfgs", random_state=0).fit(X, y)
    >>> bool(reg.score(X, y) > 0.99)
    True
    """

    _parameter_constraints: dict = {
        **BaseMLP._parameter_constraints,
        "loss": [StrOptions({"squared_error"})],
    }

    def __init__(self, loss="squared_error", hidden_layer_sizes=(100,), activation="relu", *,
                 solver="adam", alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000,
                 dropout=0.0, batch_norm=False, backend="cpu", n_threads=None, dtype=None):
        store_parameters(self, locals())

    @available_if(has_partial_fit)
    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over ``(X, y)``, from the current weights (or ``coefs_`` /
        ``intercepts_`` set by hand).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self : MLPRegressor
        """
        self._validate_params()
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)

    def _validate_input(self, X, y, incremental: bool, reset: bool):
        X, y = validate_data(self, X, y, accept_sparse=["csr", "csc"], multi_output=True,
                             y_numeric=True, dtype=(np.float64, np.float32), reset=reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        return X, y

    def _output_activation(self, Y: np.ndarray) -> str:
        return "identity"

    def _loss_name(self) -> str:
        return "mse"

    def _output_factor(self) -> float:
        # scikit-learn's gradient is that of half the squared error summed over the targets
        return self.n_outputs_ / 2.0

    def _reported_loss(self, loss: float, penalty: float) -> float:
        # ... and its loss_ averages the squared error over them
        return (loss - penalty) / self.n_outputs_ + penalty

    def _score_targets(self, Y: np.ndarray):
        return Y

    def _score_outputs(self, y, outputs: np.ndarray, sample_weight) -> float:
        return r2_score(y, outputs, sample_weight=sample_weight)

    def predict(self, X):
        """The predicted targets.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_targets)
        """
        outputs = self._forward(X)
        return outputs.ravel() if outputs.shape[1] == 1 else outputs


MLPRegressor.__doc__ = splice(MLPRegressor.__doc__)
