"""The parts of :mod:`mlp.distributed` that need no second process."""
import sys

import numpy as np
import pytest

import mlp
import mlp.distributed
from mlp.distributed import process_group as groups
from mlp.distributed.process_group import shard_bounds


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
    assert mlp.distributed.is_root() and groups.writes_files()
    assert mlp.distributed.local_rank() == 0 and mlp.distributed.local_size() == 1
    mlp.distributed.barrier()  # nothing to wait for


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
