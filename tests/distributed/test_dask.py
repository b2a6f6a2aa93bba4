"""Searches on a cluster: mlp's scikit-learn estimators under joblib's Dask (and Ray) backends.

A ``LocalCluster`` of two worker processes runs a ``GridSearchCV`` and a ``cross_validate``;
the scores must equal the serial run's bit for bit (mlp's results do not depend on the thread
count, and the estimators travel between processes by their state: parameters, configuration and
weights, never as one of mlp's files).
"""
from __future__ import annotations

import sys
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")
joblib = pytest.importorskip("joblib")

from sklearn.model_selection import GridSearchCV, cross_validate  # noqa: E402

from mlp.datasets import load_digits  # noqa: E402
from mlp.sklearn import MLPClassifier  # noqa: E402

GRID = {"alpha": [1e-4, 1e-2], "learning_rate_init": [1e-3, 1e-2]}


def _data():
    digits = load_digits()
    x = digits.data[:360] / 16.0
    return x, digits.target[:360]


def _estimator():
    return MLPClassifier(hidden_layer_sizes=(24,), max_iter=25, random_state=0)


def _search(x, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: 25 epochs on purpose
        search = GridSearchCV(_estimator(), GRID, cv=3).fit(x, y)
        scores = cross_validate(_estimator(), x, y, cv=3)
    return search, scores


def _same(serial, remote):
    (search_a, scores_a), (search_b, scores_b) = serial, remote
    np.testing.assert_array_equal(search_a.cv_results_["mean_test_score"],
                                  search_b.cv_results_["mean_test_score"])
    assert search_a.best_params_ == search_b.best_params_
    np.testing.assert_array_equal(scores_a["test_score"], scores_b["test_score"])
    for a, b in zip(search_a.best_estimator_.coefs_, search_b.best_estimator_.coefs_):
        np.testing.assert_array_equal(a, b)


def test_a_search_on_a_dask_cluster_equals_the_serial_search():
    distributed = pytest.importorskip("dask.distributed")
    x, y = _data()
    serial = _search(x, y)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        with joblib.parallel_backend("dask"):
            remote = _search(x, y)
        # the fits ran in the two worker processes: they imported the estimators
        ran_there = client.run(lambda: "mlp.sklearn" in sys.modules)
        assert len(ran_there) == 2 and all(ran_there.values())
    _same(serial, remote)


def test_a_search_on_ray_equals_the_serial_search():
    ray = pytest.importorskip("ray")
    from ray.util.joblib import register_ray

    x, y = _data()
    serial = _search(x, y)
    ray.init(num_cpus=2, include_dashboard=False)
    try:
        register_ray()
        with joblib.parallel_backend("ray"):
            remote = _search(x, y)
    finally:
        ray.shutdown()
    _same(serial, remote)
