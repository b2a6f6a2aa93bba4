"""Data-parallel training over MPI (mlp.distributed): samples/s and scaling efficiency.

Run: ``python benchmarks/distributed.py [--configs C,D] [--grid 1x1,2x1,1x2] [--epochs 3]``

Each grid entry ``RxT`` is one ``mpiexec -n R`` job whose ranks use ``T`` threads each
(``OMP_NUM_THREADS``; pass ``--bind`` to add ``-bind-to core``-style binding flags of your MPI).
Every job trains the config's network on the same random float32 data with the config's global
batch (each rank ``batch / R`` rows: the training a single process does with that batch), Adam,
for ``--epochs`` epochs after one warm-up epoch, and reports the median epoch's samples/s and the
share of the step spent in the allreduce. Beside the jobs, one process without MPI trains with
``R x T`` threads (``fit`` on its whole-epoch kernel): the alternative on one machine.

Scaling efficiency of ``RxT`` = samples/s of ``RxT`` / (``R`` x samples/s of ``1xT``): 100 % is
perfect data-parallel scaling. On a 2-core machine only ``1x1``, ``2x1`` and ``1x2`` fit; the
``16cores`` preset (``--grid 16cores``) is ``1x4,2x4,4x4`` and ``1x1,2x1,4x1,8x1,16x1,1x16``
for a 16-core machine; the issue's target is >= 80 % at 4 ranks on D.

Results go to ``benchmarks/results/distributed-<date>.json`` and ``.md``. Needs the ``mpi``
extra (``pip install 'mlp-engine[mpi]'``).
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from peers import CONFIGS, make_data  # noqa: E402
from run import _cpu_name  # noqa: E402

RESULTS = HERE / "results"
PRESETS = {"here": "1x1,2x1,1x2", "16cores": "1x1,2x1,4x1,8x1,16x1,1x4,2x4,4x4,1x16"}
LOSSES = {"bce": "binary_crossentropy", "cce": "sparse_categorical_crossentropy", "mse": "mse"}


def build_model(config):
    import mlp

    sizes = config.sizes
    layers = [mlp.Dense(sizes[1], activation=config.hidden, input_dim=sizes[0])]
    layers += [mlp.Dense(width, activation=config.hidden) for width in sizes[2:-1]]
    layers.append(mlp.Dense(sizes[-1], activation=config.output))
    model = mlp.Sequential(layers, seed=0, dtype=np.float32)
    model.compile(optimizer=mlp.Adam(1e-3), loss=LOSSES[config.loss])
    return model


def worker(args) -> None:
    """One rank of a job: train, time the epochs and the allreduces, rank 0 writes the result."""
    import mlp
    import mlp.distributed

    group = mlp.distributed.init()
    config = CONFIGS[args.config]
    x, y = make_data(config)
    model = build_model(config)
    spent = [0.0]
    summed = group.allreduce_

    def timed_sum(array):
        started = time.perf_counter()
        summed(array)
        spent[0] += time.perf_counter() - started

    group.allreduce_ = timed_sum
    per_rank = max(1, config.batch // group.size)
    model.fit(x, y, batch_size=per_rank, epochs=1, verbose=0)  # warm-up
    times, shares = [], []
    for _ in range(args.epochs):
        spent[0] = 0.0
        started = time.perf_counter()
        model.fit(x, y, batch_size=per_rank, epochs=1, verbose=0)
        times.append(time.perf_counter() - started)
        shares.append(spent[0] / times[-1])
    if group.is_root:
        Path(args.out).write_text(json.dumps({
            "ranks": group.size, "threads": mlp.get_num_threads(),
            "samples_per_s": len(x) / statistics.median(times),
            "allreduce_share": statistics.median(shares)}))


def single_process(config_key: str, threads: int, epochs: int) -> float:
    """samples/s of one process without MPI, ``threads`` threads, the whole-epoch kernel."""
    code = (f"import sys, time, statistics; sys.path.insert(0, {str(HERE)!r});"
            f"import mlp; from distributed import build_model; from peers import CONFIGS, make_data;"
            f"mlp.set_num_threads({threads}); c = CONFIGS[{config_key!r}]; x, y = make_data(c);"
            f"m = build_model(c); m.fit(x, y, batch_size=c.batch, epochs=1, verbose=0); t = []\n"
            f"for _ in range({epochs}):\n"
            f"    s = time.perf_counter(); m.fit(x, y, batch_size=c.batch, epochs=1, verbose=0);"
            f" t.append(time.perf_counter() - s)\n"
            f"print(len(x) / statistics.median(t))")
    output = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                            text=True, timeout=1800).stdout
    return float(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", default="C,D")
    parser.add_argument("--grid", default="here", help=f"RxT,... or a preset: {PRESETS}")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--bind", default="", help="extra mpiexec flags, e.g. '-bind-to core'")
    parser.add_argument("--output", default=None)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--config", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    search = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    mpiexec = shutil.which("mpiexec", path=search)
    if mpiexec is None:
        sys.exit("mpiexec not found: pip install 'mlp-engine[mpi]'")
    grid = [tuple(int(v) for v in entry.split("x"))
            for entry in PRESETS.get(args.grid, args.grid).split(",")]
    rows = []
    for key in args.configs.split(","):
        baseline = {}
        for ranks, threads in grid:
            out = Path(f"/tmp/mlp-distributed-{os.getpid()}.json")
            env = dict(os.environ, OMP_NUM_THREADS=str(threads))
            subprocess.run([mpiexec, "-n", str(ranks), *args.bind.split(), sys.executable,
                            __file__, "--worker", "--config", key, "--epochs", str(args.epochs),
                            "--out", str(out)], check=True, env=env, timeout=3600)
            result = json.loads(out.read_text())
            out.unlink()
            alone = single_process(key, ranks * threads, args.epochs)
            if ranks == 1:
                baseline[threads] = result["samples_per_s"]
            one_rank = baseline.get(threads)
            rows.append(dict(result, config=key, one_process_same_cores=alone,
                             efficiency=None if one_rank is None else
                             result["samples_per_s"] / (ranks * one_rank)))
            print(json.dumps(rows[-1]), flush=True)
    stamp = datetime.date.today().isoformat()
    path = Path(args.output) if args.output else RESULTS / f"distributed-{stamp}"
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"cpu_model": _cpu_name(), "logical_cpus": os.cpu_count(), "rows": rows,
               "epochs": args.epochs, "grid": args.grid}
    path.with_suffix(".json").write_text(json.dumps(payload, indent=2))
    lines = [f"# mlp.distributed, {stamp}", "", f"CPU: {payload['cpu_model']}, "
             f"{payload['logical_cpus']} logical CPUs", "",
             "| config | ranks x threads | samples/s | allreduce share | scaling efficiency | "
             "one process, same cores | distributed / one process |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for row in rows:
        efficiency = "—" if row["efficiency"] is None else f"{100 * row['efficiency']:.0f} %"
        lines.append(f"| {row['config']} | {row['ranks']} x {row['threads']} | "
                     f"{row['samples_per_s']:,.0f} | {100 * row['allreduce_share']:.1f} % | "
                     f"{efficiency} | {row['one_process_same_cores']:,.0f} | "
                     f"{row['samples_per_s'] / row['one_process_same_cores']:.2f} |")
    path.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
