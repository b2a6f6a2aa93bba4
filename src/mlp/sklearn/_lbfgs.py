"""The ``lbfgs`` solver: ``scipy.optimize.minimize(method="L-BFGS-B")`` over the model's flat
parameter buffer, with the loss and its gradient from mlp's kernels in one call
(:meth:`mlp.Sequential.loss_and_gradient`) on the whole training set.

As in scikit-learn: ``max_iter`` bounds the iterations, ``max_fun`` the loss evaluations and
``tol`` is the projected-gradient tolerance (``gtol``); ``n_iter_`` is the number of iterations
run, ``loss_`` the final loss (L2 term included, divided by the sum of the sample weights), and
a run that ends before converging warns with ``ConvergenceWarning``.

With ``batch_norm=True`` every evaluation normalizes with the statistics of the whole training
set (training mode), so the objective is a deterministic function of the weights and the
moving statistics play no part in it; each evaluation still moves them a step, from whatever
they held, and so would leave them wherever the line search last was. After the minimisation
the moving statistics are therefore set to the full-batch statistics at the final weights
(one training-mode pass with momentum 0): prediction on the training set then gives exactly
the outputs whose loss was minimised, the moving average a full-batch run converges to.
"""
from __future__ import annotations

import numpy as np
import scipy.optimize

from ._warnings import convergence_warning


def fit(estimator, model, X, Y, weight) -> None:
    """Minimise the full-batch objective from the estimator's weights; leave the result in
    ``coefs_`` / ``intercepts_``."""
    n = X.shape[0]
    train_weight, scale = estimator._train_weight(weight, n, X.dtype)
    l2 = estimator.alpha * scale / (2.0 * n)
    estimator._set_l2(model, l2)
    backend = model.backend
    dtype = model.dtype

    def loss_and_gradient(flat: np.ndarray):
        model.params[...] = backend.asarray(flat.astype(dtype, copy=False))
        loss, gradient = model.loss_and_gradient(X, Y, train_weight)
        return loss, gradient.astype(np.float64)

    def report(intermediate_result) -> None:
        print(f"Iteration {report.count}, loss = {intermediate_result.fun:.8f}")
        report.count += 1

    report.count = 1
    # a copy: the model's buffer changes in place (moving statistics) at each evaluation
    start = np.array(backend.to_numpy(model.params), dtype=np.float64, copy=True)
    result = scipy.optimize.minimize(
        loss_and_gradient, start, method="L-BFGS-B", jac=True,
        callback=report if estimator.verbose else None,
        options={"maxfun": estimator.max_fun, "maxiter": estimator.max_iter,
                 "gtol": estimator.tol})
    model.params[...] = backend.asarray(result.x.astype(dtype))
    if estimator._batch_norm_layers():
        _full_batch_statistics(model, estimator._batch_norm_layers(), X, Y, train_weight)
    estimator._pull_weights()
    estimator.n_iter_ = int(result.nit)
    estimator.loss_ = estimator._reported_loss(float(result.fun), estimator._penalty(l2))
    if result.status != 0:
        message = result.message.decode() if isinstance(result.message, bytes) else str(
            result.message)
        convergence_warning(f"lbfgs failed to converge after {result.nit} iteration(s) "
                            f"(status={result.status}): {message}. Increase the number of "
                            f"iterations (max_iter={estimator.max_iter}) or max_fun "
                            f"(max_fun={estimator.max_fun}), or scale the data.")


def _full_batch_statistics(model, layers, X, Y, weight) -> None:
    """Set the moving mean and variance of the ``BatchNormalization`` ``layers`` of ``model``
    to the batch statistics of all of ``X`` at the current weights: one training-mode pass
    with their momentum 0 (the layers' momentum restored after it)."""
    momenta = [layer.momentum for layer in layers]
    try:
        for layer in layers:
            layer.momentum = 0.0
        model.compile(optimizer=model.optimizer, loss=model.loss)  # plans read the momentum
        model.loss_and_gradient(X, Y, weight)
    finally:
        for layer, momentum in zip(layers, momenta):
            layer.momentum = momentum
        model.compile(optimizer=model.optimizer, loss=model.loss)
