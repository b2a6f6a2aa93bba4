"""Temporary files of saves killed mid-write are removed by the next save to the same path
(issue 15), and ``load_model`` of many layers takes time linear in their number."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np

import mlp
from mlp.saving import format as file_format

SRC = str(Path(mlp.__file__).resolve().parents[1])  # the mlp under test (source or installed)


def _temporaries(directory: Path):
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


def test_a_killed_save_leaves_a_temporary_file_the_next_save_removes(tmp_path):
    target = tmp_path / "model.mlp"
    script = textwrap.dedent(f"""
        import os, sys
        from mlp.saving import format as f
        def write(handle):
            handle.write(b"x" * 1000)
            handle.flush()
            print("writing", flush=True)
            sys.stdin.readline()   # killed here, mid-save
        f.write_atomically({str(target)!r}, write)
    """)
    for _ in range(3):
        child = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, env=dict(os.environ, PYTHONPATH=SRC))
        assert child.stdout.readline().strip() == b"writing"
        child.send_signal(signal.SIGKILL)
        child.wait()
        assert len(_temporaries(tmp_path)) == 1  # each save removed the ones before it
    model = mlp.Sequential([mlp.Dense(2, input_dim=3)], seed=0)
    model.build()
    model.save(target)
    assert _temporaries(tmp_path) == []
    np.testing.assert_array_equal(mlp.load_model(target).get_weights()[0],
                                  model.get_weights()[0])


def test_temporaries_of_running_writers_and_other_files_are_kept(tmp_path):
    prefix = ".model.mlp."
    host = file_format._host()
    alive = tmp_path / f"{prefix}{host}.{os.getpid()}.abc123.tmp"
    other_host = tmp_path / f"{prefix}elsewhere.999999999.abc.tmp"
    other_target = tmp_path / f".model.mlp.bak.{host}.999999999.abc.tmp"
    for path in (alive, other_host, other_target):
        path.write_bytes(b"x")
    assert file_format.remove_stale_temporaries(str(tmp_path), prefix) == 0
    assert len(_temporaries(tmp_path)) == 3


def test_load_model_time_is_linear_in_the_layers(tmp_path):
    def save_and_time(n):
        model = mlp.Sequential([mlp.Dense(1, input_dim=1)]
                               + [mlp.Activation("linear") for _ in range(n)], seed=0)
        model.build()
        path = tmp_path / f"m{n}.mlp"
        model.save(path)
        started = time.perf_counter()
        mlp.load_model(path)
        return time.perf_counter() - started

    save_and_time(200)
    small, large = save_and_time(2500), save_and_time(20000)
    assert large < 1.0 and large < 16 * small + 0.3, (small, large)
