"""Thread control, thread-count invariance of results, flush-to-zero, BLAS pinning."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from threadpoolctl import threadpool_info

import mlp
from mlp.kernels import _kernels
from mlp._threading import blas_single_thread

FINGERPRINT = Path(__file__).parent / "tools" / "kernel_fingerprint.py"


@pytest.fixture
def restore_threads():
    before = mlp.get_num_threads()
    yield
    mlp.set_num_threads(before)


def test_set_and_get_num_threads(restore_threads):
    mlp.set_num_threads(1)
    assert mlp.get_num_threads() == 1
    mlp.set_num_threads(2)
    assert mlp.get_num_threads() == (2 if _kernels.threads_available() else 1)


def test_set_num_threads_also_sets_blas(restore_threads):
    mlp.set_num_threads(1)
    blas = [info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"]
    assert blas and all(count == 1 for count in blas)


@pytest.mark.parametrize("bad, error", [(0, ValueError), (-3, ValueError), (1.5, TypeError),
                                        ("2", TypeError)])
def test_set_num_threads_rejects_bad_values(bad, error):
    with pytest.raises(error, match="^n: expected"):
        mlp.set_num_threads(bad)


@pytest.fixture
def scipy_blas():
    """The kernels on scipy's BLAS (the one that needs pinning); the import-time choice after."""
    from mlp import _blas_choice

    _blas_choice.choose("scipy")
    yield
    _blas_choice.choose()


def test_blas_is_pinned_only_inside_the_block(restore_threads, scipy_blas):
    mlp.set_num_threads(2)

    def blas_threads():
        return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]

    before = blas_threads()
    with blas_single_thread(flops=1e12):
        inside = blas_threads()
    assert all(count == 1 for count in inside) or not _kernels.threads_available()
    assert blas_threads() == before
    with blas_single_thread(flops=10.0):
        assert blas_threads() == before


def test_results_identical_with_one_and_two_threads(tmp_path):
    files = []
    for threads in (1, 2):
        out = tmp_path / f"t{threads}.npz"
        run = subprocess.run([sys.executable, str(FINGERPRINT), str(out), "--threads",
                              str(threads)], capture_output=True, text=True)
        assert run.returncode == 0, run.stderr
        files.append(out)
    run = subprocess.run([sys.executable, str(FINGERPRINT), "--compare", *map(str, files)],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


@pytest.mark.skipif(not _kernels.ftz_supported(), reason="no flush-to-zero control on this CPU")
def test_flush_to_zero_inside_kernels_and_restored_after():
    assert not _kernels.ftz_active()
    assert _kernels.ftz_active_in_kernel()
    cpu = mlp.get_backend("cpu")
    cpu.dense_forward(np.ones((4, 3)), np.ones((3, 2)), None, "relu")
    assert not _kernels.ftz_active()
    # the caller's arithmetic keeps denormals after a kernel call
    tiny = np.array([1e-310]) * np.array([1.0])
    assert tiny[0] != 0.0


@pytest.mark.skipif(not _kernels.ftz_supported(), reason="no flush-to-zero control on this CPU")
def test_kernels_flush_denormal_results_to_zero():
    cpu = mlp.get_backend("cpu")
    x = np.full((1, 1), 1e-200)
    w = np.full((1, 1), 1e-120)
    assert cpu.dense_forward(x, w, None, "linear")[0, 0] == 0.0
    assert (x @ w)[0, 0] != 0.0  # the same product outside our kernels is denormal, not zero


def test_clean_interpreter_import_loads_openmp():
    code = (
        "import mlp.kernels._kernels as k, sys\n"
        "maps = open('/proc/self/maps').read() if sys.platform == 'linux' else ''\n"
        "print(k.openmp_enabled(), 'libgomp' in maps or 'libomp' in maps)\n"
    )
    env = {key: value for key, value in os.environ.items() if not key.startswith("OMP_")}
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stderr
    enabled, linked = run.stdout.split()
    if enabled == "True" and sys.platform == "linux":
        assert linked == "True"


def test_omp_num_threads_sets_the_default():
    env = dict(os.environ, OMP_NUM_THREADS="1")
    code = "import mlp; print(mlp.get_num_threads())"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "1"
