"""Model settings from the fuzz pass of issue 15: sizes refused before they are allocated,
``batch_size`` capped at the data, clear errors for odd settings, and a linear ``add()``."""
from __future__ import annotations

import sys
import time
import warnings

import numpy as np
import pytest

import mlp
from mlp.backends import checks


def test_dtype_that_is_not_a_dtype_names_the_argument():
    with pytest.raises(ValueError, match=r"^dtype: expected one of \['float32', 'float64'\], "
                                         "got 3"):
        mlp.Sequential(dtype=3)


@pytest.mark.parametrize("units", [10 ** 9, 10 ** 12])
def test_a_layer_too_wide_for_memory_is_refused_before_allocating(units):
    model = mlp.Sequential([mlp.Dense(units, input_dim=30)])
    with pytest.raises(ValueError, match=r"^units: expected layer widths whose buffers fit in "
                                         r"memory \(at most .*\), got Dense 'dense.*' of "
                                         rf"{units} units on 30 inputs: .* weights in the model "
                                         r"\(.*iB\)"):
        model.build()
    assert not model.built


def test_an_input_too_wide_names_input_dim():
    model = mlp.Sequential([mlp.Dense(2, input_dim=10 ** 11)])
    with pytest.raises(ValueError, match="^input_dim: expected layer widths"):
        model.build()


def test_a_batch_too_large_for_memory_is_refused_with_its_bytes(monkeypatch):
    model = mlp.Sequential([mlp.Dense(64, activation="relu", input_dim=4), mlp.Dense(1)], seed=0)
    model.compile(optimizer="sgd", loss="mse")
    x = np.ones((5000, 4), np.float32)
    model.fit(x[:10], np.ones(10), verbose=0)
    monkeypatch.setattr(checks, "_memory_limit", 1 << 20)
    with pytest.raises(ValueError, match=r"^batch_size: expected a batch size whose buffers fit "
                                         r"in memory \(at most 1 MiB\), got 5000 rows "
                                         r"\(2.\d+ MiB\)"):
        model.fit(x, np.ones(5000), batch_size=5000, verbose=0)


@pytest.mark.parametrize("backend", ["cpu", "reference"])
def test_batch_size_larger_than_the_data_is_capped_at_its_rows(backend):
    model = mlp.Sequential([mlp.Dense(3, activation="relu", input_dim=2), mlp.Dense(1)], seed=0,
                           backend=backend)
    model.compile(optimizer="sgd", loss="mse")
    x = np.ones((20, 2), np.float32)
    twin = mlp.Sequential([mlp.Dense(3, activation="relu", input_dim=2), mlp.Dense(1)], seed=0,
                          backend=backend)
    twin.compile(optimizer="sgd", loss="mse")
    model.fit(x, np.ones(20), batch_size=10 ** 12, epochs=2, verbose=0)
    twin.fit(x, np.ones(20), batch_size=20, epochs=2, verbose=0)
    np.testing.assert_array_equal(model.params, twin.params)
    assert model._train_plan.batch_size == 20
    np.testing.assert_array_equal(model.predict(x, batch_size=10 ** 12), twin.predict(x))
    assert model.evaluate(x, np.ones(20), batch_size=10 ** 12) == twin.evaluate(x, np.ones(20))


def test_batch_size_larger_than_a_generators_batches_is_capped_too():
    # before: predict on a generator sized its workspaces by batch_size (10**12: refused)
    model = mlp.Sequential([mlp.Dense(3, activation="relu", input_dim=2), mlp.Dense(1)], seed=0)
    x = np.random.default_rng(0).normal(size=(20, 2)).astype(np.float32)
    batches = (x[i:i + 10] for i in (0, 10))
    np.testing.assert_array_equal(model.predict(batches, batch_size=10 ** 12), model.predict(x))


def test_weights_that_diverge_under_a_bounded_loss_stop_fit():
    # inputs of 1e38 are finite in float32; a sigmoid output keeps the clipped loss finite while
    # the weights overflow: fit must stop and say so, not return NaN weights silently
    x = np.full((8, 3), 1e38, np.float32)
    y = np.array([0, 1] * 4, np.float32)
    model = mlp.Sequential([mlp.Dense(4, activation="relu", input_dim=3),
                            mlp.Dense(1, activation="sigmoid")], seed=0)
    model.compile(optimizer=mlp.SGD(10.0), loss="binary_crossentropy")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = model.fit(x, y, epochs=3, verbose=0)
    assert np.all(np.isfinite(model.params))  # before: NaN weights kept from epoch 1
    assert history.stopped_reason == "non_finite_loss" and history.stopped_epoch == 0
    assert any(str(w.message).startswith("fit: the weights became NaN or infinite")
               for w in caught)


def test_add_is_linear_in_the_number_of_layers():
    def build(n):
        started = time.perf_counter()
        mlp.Sequential([mlp.Dense(1, input_dim=1)] + [mlp.Activation("linear")
                                                      for _ in range(n)])
        return time.perf_counter() - started

    build(100)
    small, large = build(2000), build(16000)
    assert large < 16 * small + 0.5, (small, large)


def test_layers_changed_directly_are_still_checked_for_names():
    model = mlp.Sequential([mlp.Dense(2, input_dim=1, name="a")])
    model.layers.append(mlp.Dense(2, name="b"))
    with pytest.raises(ValueError, match="^layer: the name 'b' is already used"):
        model.add(mlp.Dense(2, name="b"))


# ---------------------------------------------------- address-space limits (issue 17)
_UNDER_A_LIMIT = """
import os, resource, sys, time
sys.path.insert(0, {src!r})
import numpy as np, mlp
from mlp.backends import checks
units, rows = {units}, 2
model = mlp.Sequential([mlp.Dense(units, activation="softmax", input_dim=5)], seed=0)
model.compile(optimizer="adam", loss="categorical_crossentropy")
x = np.ones((rows, 5), np.float32)
y = np.zeros((rows, units), np.float32)
y[:, 0] = 1
with open("/proc/self/statm") as statm:
    mapped = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
limit = mapped + {headroom_mib} * 2 ** 20   # lowered after mlp was first used
resource.setrlimit(resource.RLIMIT_AS, (limit, resource.getrlimit(resource.RLIMIT_AS)[1]))
try:
    model.fit(x, y, epochs=1, verbose=0)
    print("RAN")
except MemoryError as error:
    print("ERROR", type(error).__name__, isinstance(error, ValueError), error)
"""


def _fit_under_a_limit(units: int, headroom_mib: int) -> str:
    import os
    import subprocess
    import sys
    from pathlib import Path

    src = str(Path(mlp.__file__).resolve().parents[1])
    env = dict(os.environ, MLP_BLAS="scipy", OMP_NUM_THREADS="2")
    script = _UNDER_A_LIMIT.format(src=src, units=units, headroom_mib=headroom_mib)
    try:
        run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                             timeout=60, env=env)
    except subprocess.TimeoutExpired:
        pytest.fail("fit hung under the address-space limit (OpenBLAS retrying its buffer)")
    assert run.returncode == 0, (run.returncode, run.stdout, run.stderr[-2000:])
    return run.stdout


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS and /proc: Linux")
def test_a_small_fit_with_no_room_for_the_blas_buffers_is_a_clear_memory_error():
    # before: OpenBLAS's first GEMM on a kernel thread failed to map its 32 MiB buffer and
    # retried forever (scipy's 0.3.30: millions of failed mmap / mbind) or exited the process
    out = _fit_under_a_limit(units=10, headroom_mib=20)
    assert out.startswith("ERROR AddressSpaceError True units: expected layer widths whose "
                          "buffers fit in the address space left under the process' limit"), out
    assert "kept for the BLAS work buffers and thread stacks" in out


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS and /proc: Linux")
def test_a_million_unit_softmax_under_a_limit_names_the_layer_or_runs():
    out = _fit_under_a_limit(units=10 ** 6, headroom_mib=250)
    assert out.startswith("ERROR AddressSpaceError True units:"), out
    assert "(the widest layer: Dense 'dense' of 1000000 units)" in out
    out = _fit_under_a_limit(units=10 ** 6, headroom_mib=1200)
    assert out.strip() == "RAN", out
