"""The ``lbfgs`` solver: ``scipy.optimize.minimize(method="L-BFGS-B")`` over the model's flat
parameter buffer, with the loss and its gradient from mlp's kernels in one call
(:meth:`mlp.Sequential.loss_and_gradient`) on the whole training set.

As in scikit-learn: ``max_iter`` bounds the iterations, ``max_fun`` the loss evaluations and
``tol`` is the projected-gradient tolerance (``gtol``); ``n_iter_`` is the number of iterations
run, ``loss_`` the final loss (L2 term included, divided by the sum of the sample weights), and
a run that ends before converging warns with ``ConvergenceWarning``.
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
    start = np.asarray(backend.to_numpy(model.params), dtype=np.float64)
    result = scipy.optimize.minimize(
        loss_and_gradient, start, method="L-BFGS-B", jac=True,
        callback=report if estimator.verbose else None,
        options={"maxfun": estimator.max_fun, "maxiter": estimator.max_iter,
                 "gtol": estimator.tol})
    model.params[...] = backend.asarray(result.x.astype(dtype))
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
