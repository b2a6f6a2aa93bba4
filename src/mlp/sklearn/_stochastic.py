"""The ``sgd`` / ``adam`` solvers: scikit-learn's epoch loop over mlp's whole-epoch ``fit``.

One ``model.fit(..., epochs=max_iter)`` trains (each epoch one call into the kernels); an epoch
callback applies scikit-learn's rules between epochs and stops ``fit`` when they say so (a
``fit`` per epoch cost about a millisecond each, more than the epochs of a small data set):

- ``loss_`` / ``loss_curve_``: the mean over the epoch's batches of each batch's loss, L2 term
  included, weighted by the batch's rows;
- without ``early_stopping``, an epoch "does not improve" when its loss is above
  ``best_loss_ - tol``; with it, when the validation score (accuracy, or R^2) is below
  ``best_validation_score_ + tol``, on ``validation_fraction`` of the data held out (stratified
  for single-output classification), and the best weights are restored at the end;
- more than ``n_iter_no_change`` such epochs in a row stop training, or with
  ``learning_rate="adaptive"`` divide the learning rate by 5 (:mod:`._learning_rate`);
- reaching ``max_iter`` warns with ``ConvergenceWarning``; ``partial_fit`` runs one epoch.
"""
from __future__ import annotations

import warnings

import numpy as np
from sklearn.base import is_classifier
from sklearn.model_selection import train_test_split

from ..callbacks import Callback
from ._learning_rate import EpochLearningRate
from ._warnings import convergence_warning


def split(estimator, X, Y, weight, random_state, incremental: bool):
    """``(X, Y, weight, validation)``: the training data, and with ``early_stopping`` the
    held-out ``(X_val, y_val, weight_val)`` (else ``None``)."""
    if not estimator.early_stopping:
        return X, Y, weight, None
    if incremental:
        raise ValueError("early_stopping: partial_fit does not support early_stopping=True "
                         "(it trains one epoch on the data it is given)")
    return _hold_out(estimator, X, Y, weight, random_state)


def fit(estimator, model, X, Y, weight, validation, incremental: bool) -> None:
    """Train ``model`` (holding the estimator's weights) as scikit-learn's ``_fit_stochastic``
    does, on the training part from :func:`split`, and leave the result in ``coefs_`` /
    ``intercepts_``."""
    n = X.shape[0]
    batch_size = _batch_size(estimator.batch_size, n)
    train_weight, scale = estimator._train_weight(weight, n, X.dtype)
    l2 = estimator.alpha * scale / (2.0 * batch_size)
    estimator._set_l2(model, l2)
    if not incremental or not hasattr(estimator, "_rate"):
        estimator._rate = EpochLearningRate(estimator.solver, estimator.learning_rate,
                                            estimator.learning_rate_init, estimator.power_t)
    rate = estimator._rate
    estimator.n_iter_ = 0
    rules = _SklearnEpochs(estimator, rate, validation, l2, n, incremental)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RuntimeWarning)
        history = model.fit(X, Y, batch_size=batch_size,
                            epochs=1 if incremental else estimator.max_iter,
                            shuffle=estimator.shuffle, sample_weight=train_weight, verbose=0,
                            callbacks=[rules])
    for warning in caught:
        if history.stopped_reason != "non_finite_loss" or not issubclass(
                warning.category, RuntimeWarning):
            warnings.warn_explicit(warning.message, warning.category, warning.filename,
                                   warning.lineno)
    if history.stopped_reason == "non_finite_loss":
        estimator._pull_weights()
        raise ValueError("fit: the solver produced non-finite weights or loss; scale the "
                         "inputs (e.g. with StandardScaler) or lower learning_rate_init")
    if not incremental and not rules.converged and estimator.n_iter_ == estimator.max_iter:
        convergence_warning(f"Stochastic Optimizer: Maximum iterations ({estimator.max_iter}) "
                            f"reached and the optimization hasn't converged yet.")
    if estimator.early_stopping:
        estimator._restore_best_weights()


class _SklearnEpochs(Callback):
    """scikit-learn's per-epoch rules as an epoch callback of ``fit``: the learning rate of
    each epoch, ``loss_`` / ``loss_curve_``, the no-improvement counter, and stopping."""

    def __init__(self, estimator, rate: EpochLearningRate, validation, l2: float, rows: int,
                 incremental: bool):
        super().__init__()
        self.estimator, self.rate, self.validation = estimator, rate, validation
        self.l2, self.rows, self.incremental = l2, rows, incremental
        self.converged = False

    def on_epoch_begin(self, epoch, logs=None):
        self.model.optimizer.learning_rate = self.rate.value

    def on_epoch_end(self, epoch, logs=None):
        estimator, rate = self.estimator, self.rate
        estimator._pull_weights()
        estimator.n_iter_ += 1
        estimator.loss_ = estimator._reported_loss(float(logs["loss"]),
                                                   estimator._penalty(self.l2))
        estimator.t_ += self.rows
        estimator.loss_curve_.append(estimator.loss_)
        if estimator.verbose:
            print(f"Iteration {estimator.n_iter_}, loss = {estimator.loss_:.8f}")
        _count_no_improvement(estimator, self.validation)
        rate.epoch_end(estimator.t_)
        if estimator._no_improvement_count > estimator.n_iter_no_change:
            what = ("Validation score" if estimator.early_stopping else "Training loss")
            message = (f"{what} did not improve more than tol={estimator.tol:f} for "
                       f"{estimator.n_iter_no_change} consecutive epochs.")
            if rate.plateau(message, estimator.verbose):
                self.converged = True
                self.model.stop_training = True
                return
            estimator._no_improvement_count = 0


def _batch_size(batch_size, n: int) -> int:
    """scikit-learn's rule: ``"auto"`` is ``min(200, n)``; a larger size is clipped (with a
    warning)."""
    if batch_size == "auto":
        return min(200, n)
    if batch_size > n:
        warnings.warn(f"batch_size: got {batch_size}, more than the {n} training samples; "
                      f"it is clipped to {n}", UserWarning, stacklevel=5)
    return int(np.clip(batch_size, 1, n))


def _hold_out(estimator, X, Y, weight, random_state):
    """The training part and ``(X_val, y_val, weight_val)`` for ``early_stopping``."""
    stratify = Y if is_classifier(estimator) and Y.shape[1] == 1 else None
    arrays = (X, Y) if weight is None else (X, Y, weight)
    parts = train_test_split(*arrays, random_state=random_state,
                             test_size=estimator.validation_fraction, stratify=stratify)
    if weight is None:
        X_train, X_val, Y_train, Y_val = parts
        w_train = w_val = None
    else:
        X_train, X_val, Y_train, Y_val, w_train, w_val = parts
    if X_val.shape[0] < 2:
        raise ValueError(f"validation_fraction: the validation set has {X_val.shape[0]} "
                         f"sample(s), fewer than 2; increase validation_fraction (got "
                         f"{estimator.validation_fraction}) or give more samples")
    return (np.ascontiguousarray(X_train), np.ascontiguousarray(Y_train), w_train,
            (X_val, estimator._score_targets(Y_val), w_val))


def _count_no_improvement(estimator, validation) -> None:
    """scikit-learn's counter of epochs without improvement, and the best loss / score."""
    if validation is not None:
        score = estimator._score_fitted(*validation)
        estimator.validation_scores_.append(score)
        if estimator.verbose:
            print(f"Validation score: {score:f}")
        if score < estimator.best_validation_score_ + estimator.tol:
            estimator._no_improvement_count += 1
        else:
            estimator._no_improvement_count = 0
        if score > estimator.best_validation_score_:
            estimator.best_validation_score_ = score
            estimator._keep_best_weights()
        return
    loss = estimator.loss_curve_[-1]
    if loss > estimator.best_loss_ - estimator.tol:
        estimator._no_improvement_count += 1
    else:
        estimator._no_improvement_count = 0
    if loss < estimator.best_loss_:
        estimator.best_loss_ = loss
