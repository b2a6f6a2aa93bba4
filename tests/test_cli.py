"""The command line: ``mlp demo`` trains end to end, ``mlp info`` reports the build."""
import subprocess
import sys

import mlp
from mlp._demo import train_spirals


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "mlp", *args], capture_output=True, text=True,
                          timeout=300)


def test_demo_learns_the_spirals():
    result = train_spirals("cpu", epochs=150, verbose=False)
    assert result["accuracy"] >= 0.97
    assert result["loss"] < 0.1


def test_demo_gives_the_same_numbers_on_cpu_and_reference_in_float64():
    import numpy as np

    cpu = train_spirals("cpu", epochs=5, verbose=False, dtype=np.float64)
    reference = train_spirals("reference", epochs=5, verbose=False, dtype=np.float64)
    assert abs(cpu["loss"] - reference["loss"]) < 1e-9


def test_demo_command_prints_progress_and_accuracy():
    run = run_cli("demo", "--epochs", "50")
    assert run.returncode == 0, run.stderr
    assert "epoch   50" in run.stdout and "training accuracy" in run.stdout


def test_demo_rejects_bad_epochs():
    run = run_cli("demo", "--epochs", "0")
    assert run.returncode == 2
    assert "--epochs must be at least 1, got 0" in run.stderr


def test_info_command_shows_openmp_and_blas():
    run = run_cli("info")
    assert run.returncode == 0, run.stderr
    assert f"mlp {mlp.__version__}" in run.stdout
    assert "OpenMP:" in run.stdout and "BLAS:" in run.stdout


def test_config_dict_describes_the_build():
    config = mlp._config.config()
    assert config["openmp"] == mlp._kernels.openmp_enabled()
    assert config["threads"] == mlp.get_num_threads()
    assert config["blas"], "threadpoolctl found no BLAS"
