"""The kernels' parallel runtime (``_pool.c``): the same bits whoever runs which part, in any
order, on any thread count; safe from several Python threads and after ``fork``; and the
training loop's measured choice of thread count."""
import multiprocessing
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

import mlp
from mlp.kernels import _kernels

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
from kernel_fingerprint import fingerprint  # noqa: E402

MODES = [m for m in ("pool", "openmp-static", "openmp-dynamic", "reversed")
         if m in ("pool", "reversed") or _kernels.openmp_enabled()]


@pytest.fixture
def runtime():
    """Restores the thread count, runtime mode and tuning after the test."""
    threads, mode, tuning = mlp.get_num_threads(), _kernels.runtime_mode(), _kernels.thread_tuning()
    yield
    _kernels.set_runtime_mode(mode)
    _kernels.set_thread_tuning(tuning)
    mlp.set_num_threads(threads)


@pytest.fixture(scope="module")
def serial_fingerprint():
    mode = _kernels.runtime_mode()
    threads = mlp.get_num_threads()
    try:
        return fingerprint(1)
    finally:
        _kernels.set_runtime_mode(mode)
        mlp.set_num_threads(threads)


def _assert_same(reference, results):
    differing = [k for k in reference if not np.array_equal(reference[k], results[k])]
    assert not differing, f"differ from the one-thread results: {differing}"


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("threads", [2, 3, 4])
def test_every_mode_and_thread_count_gives_the_same_bits(runtime, serial_fingerprint, mode,
                                                         threads):
    _kernels.set_runtime_mode(mode)
    _assert_same(serial_fingerprint, fingerprint(threads))


def test_parts_really_run_on_workers(runtime):
    if not _kernels.threads_available():
        pytest.skip("a build without threads")
    _kernels.set_runtime_mode("pool")
    mlp.set_num_threads(2)
    a = np.random.default_rng(0).standard_normal((512, 512))
    cpu = mlp.get_backend("cpu")
    _kernels.runtime_stats(reset=True)
    for _ in range(50):
        cpu.matmul(a, a)
    stats = _kernels.runtime_stats(reset=True)
    assert stats["jobs"] + stats["serial_jobs"] >= 50
    assert stats["parts_by_workers"] > 0


def test_a_job_still_running_when_a_solo_period_ends_goes_to_the_pool(runtime):
    if not _kernels.threads_available():
        pytest.skip("a build without threads")
    _kernels.set_runtime_mode("pool")
    mlp.set_num_threads(2)
    cpu = mlp.get_backend("cpu")
    a = np.random.default_rng(0).standard_normal((1024, 1024))  # 8 parts of ~1 ms or more
    expected = cpu.matmul(a, a)
    _kernels.runtime_stats(reset=True)
    _kernels._runtime_start_solo(0.5)
    result = cpu.matmul(a, a)
    stats = _kernels.runtime_stats(reset=True)
    assert stats["jobs"] == 1 and stats["serial_jobs"] == 0  # posted after the first part
    assert np.array_equal(result, expected)
    _kernels._runtime_start_solo(10_000)
    assert np.array_equal(cpu.matmul(a, a), expected)
    assert _kernels.runtime_stats(reset=True)["serial_jobs"] == 1
    _kernels._runtime_start_solo(0)


def test_one_thread_posts_no_job(runtime):
    mlp.set_num_threads(1)
    a = np.random.default_rng(0).standard_normal((512, 512))
    _kernels.runtime_stats(reset=True)
    mlp.get_backend("cpu").matmul(a, a)
    assert _kernels.runtime_stats(reset=True)["jobs"] == 0


def test_unknown_runtime_mode_is_refused(runtime):
    with pytest.raises(ValueError, match="not available"):
        _kernels.set_runtime_mode("fibers")


def _train(seed=0, epochs=3):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((600, 784)).astype(np.float32)
    y = rng.integers(0, 10, 600)
    model = mlp.Sequential([mlp.Dense(128, activation="relu", input_dim=784),
                            mlp.Dropout(0.2), mlp.Dense(10, activation="softmax")],
                           seed=seed, dtype="float32")
    model.compile(optimizer=mlp.Adam(1e-3), loss="sparse_categorical_crossentropy")
    history = model.fit(x, y, batch_size=64, epochs=epochs, verbose=0)
    return [w.copy() for w in model.get_weights()], history.history["loss"]


@pytest.mark.parametrize("mode", MODES)
def test_training_is_bit_identical_in_every_mode(runtime, mode):
    mlp.set_num_threads(1)
    weights_1, loss_1 = _train()
    mlp.set_num_threads(2)
    _kernels.set_runtime_mode(mode)
    weights_2, loss_2 = _train()
    assert loss_1 == loss_2
    assert all(np.array_equal(a, b) for a, b in zip(weights_1, weights_2))


def _train_normalized(seed=0, epochs=2):
    """A network with batch and layer normalization, its batches large enough (300 x 128)
    that their kernels run in parts on several threads."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((600, 64)).astype(np.float32) * 3 + 1
    y = rng.integers(0, 10, 600)
    model = mlp.Sequential([mlp.Dense(128, input_dim=64), mlp.BatchNormalization(),
                            mlp.Activation("relu"), mlp.LayerNormalization(),
                            mlp.Dense(10, activation="softmax")], seed=seed, dtype="float32")
    model.compile(optimizer=mlp.Adam(1e-3), loss="sparse_categorical_crossentropy")
    history = model.fit(x, y, batch_size=300, epochs=epochs, verbose=0)
    return [w.copy() for w in model.get_weights()] + [model.predict(x)], history.history["loss"]


@pytest.mark.parametrize("mode", MODES)
def test_normalized_training_is_bit_identical_in_every_mode(runtime, mode):
    mlp.set_num_threads(1)
    weights_1, loss_1 = _train_normalized()
    mlp.set_num_threads(2)
    _kernels.set_runtime_mode(mode)
    weights_2, loss_2 = _train_normalized()
    assert loss_1 == loss_2
    assert all(np.array_equal(a, b) for a, b in zip(weights_1, weights_2))


def test_thread_tuning_changes_no_bit(runtime):
    mlp.set_num_threads(2)
    _kernels.set_thread_tuning(False)
    weights_fixed, loss_fixed = _train(epochs=4)
    _kernels.set_thread_tuning(True)
    weights_tuned, loss_tuned = _train(epochs=4)
    assert loss_fixed == loss_tuned
    assert all(np.array_equal(a, b) for a, b in zip(weights_fixed, weights_tuned))


def test_workers_are_kept_awake_only_inside_a_many_thread_epoch(runtime):
    mlp.set_num_threads(2)
    _kernels.set_thread_tuning(True)
    seen = []
    rng = np.random.default_rng(0)
    x = rng.standard_normal((512, 64)).astype(np.float32)
    y = rng.standard_normal((512, 8)).astype(np.float32)
    model = mlp.Sequential([mlp.Dense(256, activation="relu", input_dim=64), mlp.Dense(8)])
    model.compile(optimizer="adam", loss="mse")
    # batch callbacks run between calls into the fused epoch: the flag is off there
    probe = mlp.LambdaCallback(on_batch_end=lambda batch, logs:
                               seen.append(_kernels._runtime_keeping_awake()))
    model.fit(x, y, batch_size=64, epochs=2, verbose=0, callbacks=[probe])
    model.fit(x, y, batch_size=64, epochs=2, verbose=0)
    assert seen and not any(seen)
    assert not _kernels._runtime_keeping_awake()


def test_concurrent_callers_get_correct_results(runtime):
    mlp.set_num_threads(2)
    cpu = mlp.get_backend("cpu")
    rng = np.random.default_rng(3)
    inputs = [rng.standard_normal((300, 400)) for _ in range(4)]
    w = rng.standard_normal((400, 300))
    expected = [cpu.dense_forward(x, w, None, "relu") for x in inputs]
    failures = []

    def work(k):
        for _ in range(20):
            if not np.array_equal(cpu.dense_forward(inputs[k], w, None, "relu"), expected[k]):
                failures.append(k)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a caller hung"
    assert not failures


def _gemm_in_child(queue):
    a = np.random.default_rng(5).standard_normal((400, 400))
    queue.put(mlp.get_backend("cpu").matmul(a, a))


@pytest.mark.skipif(sys.platform != "linux", reason="fork start method")
def test_pool_works_in_a_forked_child(runtime):
    mlp.set_num_threads(2)
    a = np.random.default_rng(5).standard_normal((400, 400))
    expected = mlp.get_backend("cpu").matmul(a, a)  # the parent's workers exist now
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_gemm_in_child, args=(queue,))
    child.start()
    result = queue.get(timeout=60)
    child.join(timeout=60)
    assert child.exitcode == 0
    assert np.array_equal(result, expected)


# ------------------------------------------------------------------------- the tuner's policy
# Steps of 64 rows at 100 us a row take 6.4 ms, longer than a trial block's 4 ms: each block is
# one step, and a trial is six steps alternating two threads and one.
TRIAL = [2, 1, 2, 1, 2, 1]


def test_tuner_keeps_many_threads_when_they_are_faster():
    picked = _kernels._tuner_replay(ns_per_row_many=100_000, ns_per_row_one=200_000, steps=150)
    assert picked[:6] == TRIAL
    assert set(picked[6:]) == {2}


def test_tuner_falls_back_to_one_thread_when_two_do_not_pay():
    picked = _kernels._tuner_replay(ns_per_row_many=100_000, ns_per_row_one=90_000, steps=40)
    assert picked[:6] == TRIAL
    assert set(picked[6:40]) == {1}


def test_tuner_needs_a_clear_win_for_one_thread():
    # 3 % faster on one thread: many threads stay (a wrong choice of one costs more)
    picked = _kernels._tuner_replay(ns_per_row_many=100_000, ns_per_row_one=97_000, steps=40)
    assert set(picked[6:]) == {2}


def test_tuner_checks_a_choice_of_one_thread_again_soon():
    # one thread wins each trial: the first exploit phase lasts the 0.2 s minimum (~35 steps of
    # 5.76 ms), then a new trial; two threads are tried again every time
    picked = _kernels._tuner_replay(ns_per_row_many=100_000, ns_per_row_one=90_000, steps=200)
    assert set(picked[6:41]) == {1}
    assert picked[41:47] == TRIAL
    assert picked[47:].count(2) >= 3


def test_tuner_goes_back_to_many_threads_when_the_load_goes():
    # one thread faster for 300 steps (a busy core), then two threads twice as fast: within
    # the next exploit phase plus a trial the loop is back on two threads
    picked = _kernels._tuner_replay(ns_per_row_many=100_000, ns_per_row_one=90_000, steps=600,
                                    switch_at=300, ns_per_row_many_after=45_000,
                                    ns_per_row_one_after=90_000)
    assert picked[6:300].count(1) > 200
    assert picked[420:].count(1) <= 3  # only a trial's one-thread blocks


def test_tuner_scores_each_arm_by_its_median_block():
    # interference slows the first two-thread block fourfold; the other two blocks decide
    picked = _kernels._tuner_replay(ns_per_row_many=100_000, ns_per_row_one=200_000, steps=30,
                                    slow_steps={0: 4.0})
    assert set(picked[6:]) == {2}
    # and the first one-thread block: the same choice
    picked = _kernels._tuner_replay(ns_per_row_many=100_000, ns_per_row_one=200_000, steps=30,
                                    slow_steps={1: 4.0})
    assert set(picked[6:]) == {2}


def test_one_lucky_block_of_many_threads_does_not_win():
    # beside a busy process two of the three two-thread blocks lose a time slice; the third
    # ran while the other process was off its core. One thread is faster on average.
    picked = _kernels._tuner_replay(ns_per_row_many=100_000, ns_per_row_one=130_000, steps=30,
                                    slow_steps={0: 2.5, 4: 2.5})
    assert picked[:6] == TRIAL
    assert set(picked[6:30]) == {1}


def test_short_steps_make_longer_blocks():
    # 64 rows at 100 ns: 6.4 us steps; blocks of 16 steps, 96 steps of trial
    picked = _kernels._tuner_replay(ns_per_row_many=100, ns_per_row_one=200, steps=200)
    assert picked[:16] == [2] * 16 and picked[16:32] == [1] * 16
    assert set(picked[96:]) == {2}


@pytest.fixture
def scipy_blas():
    """The kernels on scipy's BLAS for the test, the import-time choice restored after."""
    from mlp import _blas_choice

    _blas_choice.choose("scipy")
    yield
    _blas_choice.choose()


def test_blas_is_pinned_from_any_python_thread(runtime, scipy_blas):
    from threadpoolctl import threadpool_info

    from mlp._threading import blas_single_thread

    mlp.set_num_threads(2)
    seen = []

    def inside():
        with blas_single_thread(flops=1e12):
            seen.extend(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas")

    worker = threading.Thread(target=inside)
    worker.start()
    worker.join()
    assert seen and set(seen) == {1}


def test_both_blas_choices_agree_with_each_other(runtime):
    from mlp import _blas_choice

    if not _blas_choice.is_private():
        pytest.skip("scipy-openblas32 is not installed: one BLAS only")
    on_private = fingerprint(2)
    try:
        _blas_choice.choose("scipy")
        on_scipy = fingerprint(2)
    finally:
        _blas_choice.choose()
    for name, value in on_private.items():
        tol = 1e-4 if "float32" in name else 1e-10
        np.testing.assert_allclose(on_scipy[name], value, rtol=tol, atol=tol, err_msg=name)


def test_private_blas_stays_on_one_thread(runtime):
    from mlp import _blas_choice

    if not _blas_choice.is_private():
        pytest.skip("scipy-openblas32 is not installed")
    from threadpoolctl import threadpool_info

    mlp.set_num_threads(2)
    private = _blas_choice.private_library_path()
    counts = [i["num_threads"] for i in threadpool_info() if i["filepath"] == private]
    assert counts == [1]


def test_unknown_blas_choice_is_refused():
    from mlp import _blas_choice

    with pytest.raises(ValueError, match="MLP_BLAS: expected one of"):
        _blas_choice.choose("mkl-please")


def test_set_num_threads_reaches_blas_from_any_python_thread(runtime):
    from threadpoolctl import threadpool_info

    from mlp import _blas_choice

    private = _blas_choice.private_library_path()
    worker = threading.Thread(target=mlp.set_num_threads, args=(1,))
    worker.start()
    worker.join()
    counts = {i["filepath"]: i["num_threads"] for i in threadpool_info()
              if i["user_api"] == "blas"}
    assert counts and set(counts.values()) == {1}
    mlp.set_num_threads(2)
    counts = {i["filepath"]: i["num_threads"] for i in threadpool_info()
              if i["user_api"] == "blas" and i["filepath"] != private}
    assert set(counts.values()) == {2}
