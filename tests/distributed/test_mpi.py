"""Data-parallel training over MPI (:mod:`mlp.distributed`), run for real with ``mpiexec``.

Each case starts ``mpiexec -n N`` on :mod:`mpi_worker` under a timeout and compares what every
rank ended with against one process training the same model with the global batch (``N x
batch_size``) on the same data order: float64 within 1e-10. Needs mpi4py and an MPI library
(the ``mpi`` extra, part of the ``test`` extra); skipped without them unless ``MLP_REQUIRE_MPI``
is set (CI), where a missing MPI fails.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import mlp
from case_models import build_case

HERE = Path(__file__).resolve().parent
TIMEOUT = 180


def _mpiexec():
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        found = None
    else:
        search = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
        found = shutil.which("mpiexec", path=search) or shutil.which("mpirun", path=search)
    if found is None:
        if os.environ.get("MLP_REQUIRE_MPI"):
            pytest.fail("MLP_REQUIRE_MPI is set but mpi4py or mpiexec is missing")
        pytest.skip("mpi4py and an MPI library are not installed (pip install 'mlp-engine[mpi]')")
    return found


def run_ranks(case, tmp_path, ranks, expect_failure=False):
    """Run ``case`` on ``ranks`` processes; the per-rank results (or the failed process)."""
    mpiexec = _mpiexec()
    spec = tmp_path / "case.json"
    spec.write_text(json.dumps(dict(case, ranks=ranks)))
    env = dict(os.environ)
    # the ranks import the mlp under test (an installed copy in CI) and the case helpers here
    env["PYTHONPATH"] = os.pathsep.join([str(Path(mlp.__file__).parents[1]), str(HERE)])
    env["OMP_NUM_THREADS"] = "1"
    process = subprocess.run([mpiexec, "-n", str(ranks), sys.executable, str(HERE / "mpi_worker.py"),
                              str(spec), str(tmp_path)], capture_output=True, text=True,
                             timeout=TIMEOUT, env=env)
    if expect_failure:
        return process
    assert process.returncode == 0, process.stdout + process.stderr
    results = []
    for rank in range(ranks):
        info = json.loads((tmp_path / f"rank{rank}.json").read_text())
        weights_file = tmp_path / f"rank{rank}.npz"
        if weights_file.exists():
            with np.load(weights_file) as data:
                info["weights"] = [data[f"arr_{i}"] for i in range(len(data.files))]
        results.append(info)
    return results


def single_process(case, ranks, seed=None):
    """One process training ``case`` with the global batch (``seed``: rank 0's model seed)."""
    case = dict(case, ranks=ranks, callbacks_on="all")
    if seed is not None:
        case["seed"] = seed
    model, fit = build_case(case, single=True)
    history = model.fit(**fit)
    return model, history


def assert_as_one_process(results, model, history):
    """Every rank ended with the weights, step count and history of the one process; the
    weights are the same bits on every rank; one gradient allreduce per step."""
    expected = model.get_weights()
    for result in results:
        assert result["iterations"] == model.optimizer.iterations
        assert result["gradient_allreduces"] == model.optimizer.iterations
        assert result["pickled_predicts_alike"]
        for got, want in zip(result["weights"], expected):
            np.testing.assert_allclose(got, want, rtol=0, atol=1e-10)
        assert set(result["history"]) == set(history.history)
        for key, values in history.history.items():
            np.testing.assert_allclose(result["history"][key], values, rtol=1e-10, atol=1e-12,
                                       err_msg=key)
    for other in results[1:]:
        for a, b in zip(results[0]["weights"], other["weights"]):
            assert np.array_equal(a, b)


BASE = dict(rows=203, batch_size=16, epochs=3, dropout=0.25, sample_weight=True,
            validation=True)

CASES = {
    "dropout+sample_weight+partial_batch": (BASE, 2),
    "three_uneven_shards": (dict(BASE, rows=50, batch_size=7), 3),
    "last_batch_smaller_than_ranks": (dict(BASE, rows=2 * 3 * 4 + 1, batch_size=4,
                                           dropout=0.0, noise=0.1), 3),
    "softmax+class_weight+nesterov": (dict(rows=91, batch_size=8, classes=3,
                                           class_weight=True, optimizer="sgd",
                                           noise=0.2), 2),
    "layer_normalization": (dict(BASE, layernorm=True), 2),
    "rmsprop_no_shuffle": (dict(rows=64, batch_size=5, optimizer="rmsprop", shuffle=False), 2),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_ranks_train_as_one_process_with_the_global_batch(name, tmp_path):
    case, ranks = CASES[name]
    results = run_ranks(case, tmp_path, ranks)
    assert [r["size"] for r in results] == [ranks] * ranks
    assert [r["threads"] for r in results] == [1] * ranks  # OMP_NUM_THREADS=1 (run_ranks)
    assert [r["local"] for r in results] == [[r, ranks] for r in range(ranks)]  # one machine
    assert_as_one_process(results, *single_process(case, ranks))


def test_ranks_without_a_seed_take_rank_zeros(tmp_path):
    """``seed=None`` draws a seed per process; the dropout masks must still be rank 0's."""
    results = run_ranks(dict(BASE, seed="none"), tmp_path, 2)
    assert results[0]["seed"] == results[1]["seed"]
    assert_as_one_process(results, *single_process(BASE, 2, seed=results[0]["seed"]))


@pytest.mark.parametrize("where", ["all", "root"])
def test_callbacks_of_rank_zero_decide_for_every_rank(where, tmp_path):
    """EarlyStopping (restoring the best weights) and ReduceLROnPlateau on every rank, or on
    rank 0 only as Horovod scripts do: no rank waits, and all end as one process would."""
    case = dict(BASE, epochs=6, early_stopping=0.05, reduce_lr=True, callbacks_on=where)
    results = run_ranks(case, tmp_path, 2)
    model, history = single_process(case, 2)
    assert history.stopped_epoch is not None and len(history.history["loss"]) < 6
    assert {r["stopped_epoch"] for r in results} == {history.stopped_epoch}
    assert_as_one_process(results, model, history)


def test_float32_ranks_agree_and_track_one_process(tmp_path):
    case = dict(BASE, dtype="float32")
    results = run_ranks(case, tmp_path, 2)
    model, _ = single_process(case, 2)
    for a, b in zip(results[0]["weights"], results[1]["weights"]):
        assert np.array_equal(a, b)
    for got, want in zip(results[0]["weights"], model.get_weights()):
        np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("case,names", [
    (dict(BASE, different_data_on_rank=1), "x:"),
    (dict(BASE, permuted_on_rank=1), "x:"),
    (dict(BASE, learning_rates=[0.01, 0.1]), "optimizer:"),
], ids=["other_data", "same_rows_another_order", "another_learning_rate"])
def test_ranks_that_differ_get_the_same_clear_error(case, names, tmp_path):
    for result in run_ranks(case, tmp_path, 2):
        assert "every rank must pass the same data and arguments" in result["error"]
        assert names in result["error"]


def test_only_rank_zero_prints_and_logs(tmp_path):
    log = tmp_path / "log.csv"
    case = dict(BASE, epochs=6, early_stopping=1e9, verbose=1, csv_logger=str(log))
    mpiexec = _mpiexec()
    spec = tmp_path / "case.json"
    spec.write_text(json.dumps(dict(case, ranks=2)))
    env = dict(os.environ, OMP_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([str(Path(mlp.__file__).parents[1]), str(HERE)]))
    process = subprocess.run([mpiexec, "-n", "2", sys.executable, str(HERE / "mpi_worker.py"),
                              str(spec), str(tmp_path)], capture_output=True, text=True,
                             timeout=TIMEOUT, env=env, check=True)
    epochs = len(json.loads((tmp_path / "rank0.json").read_text())["history"]["loss"])
    assert process.stdout.count("Epoch 1/6") == 1
    assert process.stdout.count("early stopping") == 1
    # a step count of global batches: 203 rows in steps of 2 x 16
    assert "7/7" in process.stdout
    lines = log.read_text().splitlines()
    assert lines[0].startswith("epoch,") and len(lines) == 1 + epochs


def test_a_rank_failing_inside_fit_ends_the_job(tmp_path):
    """Only rank 0 opens the CSV log; a folder that does not exist fails it there alone."""
    case = dict(BASE, csv_logger=str(tmp_path / "missing" / "log.csv"))
    process = run_ranks(case, tmp_path, 2, expect_failure=True)
    assert process.returncode != 0
    assert "rank 0 of 2 failed in fit (FileNotFoundError" in process.stderr


def test_only_rank_zero_writes_the_model(tmp_path):
    run_ranks(dict(BASE, epochs=1, save=True), tmp_path, 2)
    assert (tmp_path / "model-0.mlp").exists()
    assert not (tmp_path / "model-1.mlp").exists()
    loaded = mlp.load_model(tmp_path / "model-0.mlp")
    assert loaded.optimizer.iterations > 0


def test_a_failing_rank_ends_the_job_instead_of_hanging(tmp_path):
    process = run_ranks(dict(BASE, fail_on_rank=1), tmp_path, 2, expect_failure=True)
    assert process.returncode != 0
    assert "planted failure on rank 1" in process.stderr
    assert "aborting the MPI job" in process.stderr


def test_ranks_share_the_cores(tmp_path):
    case = dict(BASE, epochs=1)
    mpiexec = _mpiexec()
    spec = tmp_path / "case.json"
    spec.write_text(json.dumps(dict(case, ranks=2)))
    env = dict(os.environ)
    env.pop("OMP_NUM_THREADS", None)
    env["PYTHONPATH"] = os.pathsep.join([str(Path(mlp.__file__).parents[1]), str(HERE)])
    subprocess.run([mpiexec, "-n", "2", sys.executable, str(HERE / "mpi_worker.py"), str(spec),
                    str(tmp_path)], check=True, timeout=TIMEOUT, env=env, capture_output=True)
    cores = len(os.sched_getaffinity(0))
    for rank in range(2):
        threads = json.loads((tmp_path / f"rank{rank}.json").read_text())["threads"]
        assert threads == max(1, cores // 2)


def test_a_trainable_batch_normalization_is_refused_on_every_rank(tmp_path):
    results = run_ranks(dict(BASE, batchnorm=True), tmp_path, 2)
    for result in results:
        assert "BatchNormalization" in result["error"] and "shard" in result["error"]
