"""The parts of :mod:`mlp.distributed` that need no second process."""
import sys

import numpy as np
import pytest

import mlp
import mlp.distributed
from mlp.distributed import cluster as clusters
from mlp.distributed.cluster import shard_bounds


@pytest.mark.parametrize("rows,parts", [(10, 3), (1, 3), (0, 2), (7, 7), (1000, 4), (5, 1)])
def test_shards_cover_the_batch_contiguously_and_evenly(rows, parts):
    bounds = shard_bounds(rows, parts)
    assert bounds[0] == 0 and bounds[-1] == rows and len(bounds) == parts + 1
    sizes = np.diff(bounds)
    assert sizes.min() >= 0 and sizes.max() - sizes.min() <= 1
    assert list(sizes) == sorted(sizes, reverse=True)


def test_without_init_the_process_is_rank_zero_of_one():
    assert not mlp.distributed.is_initialized()
    assert mlp.distributed.rank() == 0 and mlp.distributed.size() == 1
    assert mlp.distributed.is_root() and clusters.writes_files()


def test_a_missing_mpi4py_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "mpi4py", None)
    with pytest.raises(ImportError, match=r"mlp-engine\[mpi\]"):
        mlp.distributed.init()
    assert not mlp.distributed.is_initialized()


def test_fit_refuses_a_distributed_that_is_not_a_bool():
    model = mlp.Sequential([mlp.Dense(1, input_dim=2)])
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(TypeError, match="distributed: expected True, False or None, got str"):
        model.fit(np.zeros((4, 2)), np.zeros(4), distributed="yes", verbose=0)


def test_one_rank_trains_as_one_process(tmp_path):
    pytest.importorskip("mpi4py")
    x = np.random.default_rng(0).normal(size=(40, 3))
    y = x.sum(axis=1)
    results, threads = [], mlp.get_num_threads()
    for distributed in (False, True):
        model = mlp.Sequential([mlp.Dense(4, activation="relu", input_dim=3), mlp.Dense(1)],
                               seed=1)
        model.compile(optimizer="adam", loss="mse")
        try:
            model.fit(x, y, batch_size=8, epochs=2, verbose=0, distributed=distributed)
        finally:
            clusters.reset()
            mlp.set_num_threads(threads)  # init() chose this rank's threads
        results.append(model.get_weights())
    for a, b in zip(*results):
        assert np.array_equal(a, b)  # a cluster of one rank takes the usual path
