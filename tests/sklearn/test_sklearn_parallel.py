"""Nested parallelism: joblib's workers and ``threadpoolctl`` limit mlp's thread pool, and a
search over mlp's estimators scores the same with any ``n_jobs``."""
from __future__ import annotations

import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn.datasets import load_digits  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_validate  # noqa: E402
from threadpoolctl import threadpool_info, threadpool_limits  # noqa: E402

import mlp  # noqa: E402
from mlp.sklearn import MLPClassifier  # noqa: E402


@pytest.fixture(scope="module")
def data():
    X, y = load_digits(return_X_y=True)
    return X[:450] / 16.0, y[:450]


def small_classifier():
    return MLPClassifier(hidden_layer_sizes=(24,), max_iter=15, random_state=0)


@pytest.fixture
def two_threads():
    before = mlp.get_num_threads()
    mlp.set_num_threads(2)
    yield
    mlp.set_num_threads(before)


def test_threadpoolctl_sees_and_limits_the_kernel_pool(two_threads):
    pools = [info for info in threadpool_info() if info["internal_api"] == "mlp"]
    assert len(pools) == 1 and pools[0]["user_api"] == "openmp"
    assert pools[0]["num_threads"] == 2
    with threadpool_limits(limits=1):
        assert mlp.get_num_threads() == 1
    assert mlp.get_num_threads() == 2
    with threadpool_limits(limits=1, user_api="openmp"):
        assert mlp.get_num_threads() == 1
    with threadpool_limits(limits=1, user_api="blas"):  # BLAS only: the kernels keep theirs
        assert mlp.get_num_threads() == 2


def test_omp_num_threads_is_honoured_at_import():
    environment = dict(os.environ, OMP_NUM_THREADS="1")
    run = subprocess.run([sys.executable, "-c", "import mlp; print(mlp.get_num_threads())"],
                         capture_output=True, text=True, env=environment, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "1"


def test_cross_validation_workers_do_not_oversubscribe_and_score_the_same(data):
    X, y = data

    def kernel_threads(estimator, X_, y_):  # runs where the fold was fitted
        import mlp as worker_mlp

        return float(worker_mlp.get_num_threads())

    scoring = {"accuracy": "accuracy", "threads": kernel_threads}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        alone = cross_validate(small_classifier(), X, y, cv=3, n_jobs=1, scoring=scoring)
        nested = cross_validate(small_classifier(), X, y, cv=3, n_jobs=2, scoring=scoring)
    np.testing.assert_array_equal(nested["test_accuracy"], alone["test_accuracy"])
    cores = os.cpu_count() or 1
    assert (nested["test_threads"] <= max(cores // 2, 1)).all()  # each of 2 workers its share
    assert (alone["test_threads"] == mlp.get_num_threads()).all()


def test_grid_search_scores_the_same_with_two_jobs(data):
    X, y = data
    grid = {"alpha": [1e-4, 1e-1], "hidden_layer_sizes": [(16,), (24,)]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        alone = GridSearchCV(small_classifier(), grid, cv=3, n_jobs=1).fit(X, y)
        nested = GridSearchCV(small_classifier(), grid, cv=3, n_jobs=2).fit(X, y)
    np.testing.assert_array_equal(nested.cv_results_["mean_test_score"],
                                  alone.cv_results_["mean_test_score"])
    assert nested.best_params_ == alone.best_params_
    np.testing.assert_array_equal(nested.predict(X), alone.predict(X))
