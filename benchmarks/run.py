"""mlp against its peers on DESIGN.md's four networks, side by side in one process run.

Run: ``python benchmarks/run.py [--quick] [--peers mlp,numpy,torch,...] [--configs A,B,C,D]``

For each config every installed peer trains the same random float32 data (Adam, the config's
batch size) for one epoch per repeat; peers are interleaved within each repeat and the median
is reported, because the machine is shared and noisy: only ratios within one run mean anything.
Reported per config and peer: training samples/s, inference samples/s on a batch of 10 000,
single-sample predict latency, peak resident memory of a separate process training config B
(``--memory``), and each peer's training time divided by mlp's (> 1: mlp is faster).
Also: numpy GEMM calibration (GFLOP/s) and, for config D, the GEMM-only floor of one training
step with the BLAS mlp uses.

Machine states (DESIGN.md section 6): ``--load N`` starts N busy processes of its own beside the
timed rounds (each bounded in time and ended by its pid at exit), so every peer is measured with
cores taken by somebody else; ``--mixed`` measures mlp alone and with PyTorch and JAX models
trained in the same process between its epochs. Every training result carries the CPU seconds
of its epoch beside the wall seconds.

Results go to ``benchmarks/results/<date>.json`` and ``.md`` (and ``.png`` with matplotlib).
``--quick`` (CI's smoke test) runs configs A and B with mlp and numpy only, in well under 2
minutes. Set ``OPENBLAS_CORETYPE``/``OPENBLAS_L2_SIZE`` as your machine needs; this machine
forces a Haswell kernel through them, which slows every OpenBLAS user: unset both for a benchmark
(see benchmarks/README.md).
"""
from __future__ import annotations

import argparse
import atexit
import datetime
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from peers import CONFIGS, PEERS, Config, make_data  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def set_threads(threads: int) -> None:
    """Give every library the same thread count (mlp sets its OpenMP pool and BLAS)."""
    import mlp

    mlp.set_num_threads(threads)
    try:
        import torch

        torch.set_num_threads(threads)
    except ImportError:
        pass


def time_call(fn, repeats: int) -> float:
    """Median seconds of ``fn()`` over ``repeats`` calls."""
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def bench_config(config: Config, peer_names: List[str], repeats: int) -> Dict[str, Dict]:
    """Train, infer and time every peer on one config, interleaved; return their numbers."""
    x, y = make_data(config)
    peers, results = {}, {}
    for name in peer_names:
        try:
            peers[name] = PEERS[name](config, x, y)
        except ImportError as error:
            results[name] = {"skipped": f"not installed ({error})"}
    for name, peer in peers.items():
        peer.train_epoch()  # warm-up (and compilation for torch.compile / JAX)
    train = {name: [] for name in peers}
    cpu = {name: [] for name in peers}
    for _ in range(repeats):
        for name, peer in peers.items():
            # An untimed epoch first: the previous peer's thread pools keep spinning for a few
            # milliseconds after its work, and waking threads whose vCPU has gone idle costs up
            # to ~8 ms on this VM (measured: a 0.2 ms parallel pass took 5-8 ms after a 0.2 s
            # sleep). Timing the second of two back-to-back epochs measures every peer in the
            # steady state of a multi-epoch fit.
            peer.train_epoch()
            start, start_cpu = time.perf_counter(), time.process_time()
            peer.train_epoch()
            train[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)
    batch = make_data(Config(config.name, config.sizes, config.hidden, config.output,
                             config.loss, config.batch, 10_000), seed=1)[0]
    row = np.ascontiguousarray(batch[:1])
    for name, peer in peers.items():
        # the previous peer's (or the calibration's) BLAS threads spin for ~0.1 s after their
        # last call and would take a core from this peer's first inference calls
        time.sleep(0.2)
        peer.predict(batch)
        infer = time_call(lambda: peer.predict(batch), max(3, repeats))
        one = time_call(lambda: [peer.predict_one(row) for _ in range(200)], 5) / 200
        epoch = statistics.median(train[name])
        results[name] = {"train_samples_per_s": config.samples / epoch,
                         "train_epoch_s": epoch,
                         "train_cpu_s": statistics.median(cpu[name]),
                         "infer_samples_per_s": len(batch) / infer,
                         "latency_us": one * 1e6}
    base = results.get("mlp", {}).get("train_epoch_s")
    for name, numbers in results.items():
        if base and "train_epoch_s" in numbers:
            numbers["peer_time_over_mlp"] = numbers["train_epoch_s"] / base
    return results


def bench_mixed(config: Config, repeats: int) -> Dict[str, Dict]:
    """mlp's epoch alone, and right after a PyTorch (fused Adam) and a JAX epoch in the same
    process: the cost of sharing the process, and the cores, with other frameworks' pools."""
    x, y = make_data(config)
    mlp_peer = PEERS["mlp"](config, x, y)
    others = {}
    for name in ("torch-fused", "jax"):
        try:
            others[name] = PEERS[name](config, x, y)
            others[name].train_epoch()
        except ImportError:
            pass
    alone, mixed = [], []
    mlp_peer.train_epoch()
    for _ in range(repeats):
        mlp_peer.train_epoch()
        start = time.perf_counter()
        mlp_peer.train_epoch()
        alone.append(time.perf_counter() - start)
        for peer in others.values():
            peer.train_epoch()
        start = time.perf_counter()
        mlp_peer.train_epoch()
        mixed.append(time.perf_counter() - start)
    a, m = statistics.median(alone), statistics.median(mixed)
    return {"peers_between": list(others), "alone_samples_per_s": config.samples / a,
            "mixed_samples_per_s": config.samples / m, "mixed_over_alone": a / m,
            "alone_epochs_s": alone, "mixed_epochs_s": mixed}


def start_load(count: int, seconds: float) -> List[subprocess.Popen]:
    """``count`` busy processes (a Python loop each) that stop by themselves after ``seconds``
    or when this process is gone, and are killed by pid when this process exits."""
    code = ("import os, time\n"
            "parent, end = os.getppid(), time.monotonic() + float(os.environ['MLP_LOAD_S'])\n"
            "while time.monotonic() < end and os.getppid() == parent:\n"
            "    for _ in range(100000): pass\n")
    env = dict(os.environ, MLP_LOAD_S=str(seconds))
    procs = [subprocess.Popen([sys.executable, "-c", code], env=env) for _ in range(count)]

    def stop():
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    atexit.register(stop)
    time.sleep(0.5)  # let the scheduler see them
    return procs


def gemm_calibration(threads: int) -> Dict[str, float]:
    """NumPy float32 GEMM speed at 2048^3 (what the BLAS can do on this machine)."""
    a = np.random.default_rng(0).standard_normal((2048, 2048)).astype(np.float32)
    a @ a
    seconds = time_call(lambda: a @ a, 5)
    return {"numpy_sgemm_2048_gflops": 2 * 2048 ** 3 / seconds / 1e9, "threads": threads}


def gemm_floor(config: Config, repeats: int) -> float:
    """Seconds per training step spent in the step's GEMMs alone, with scipy's BLAS on the run's
    thread count (its own threads, one whole GEMM per call)."""
    from scipy.linalg.blas import sgemm

    rng = np.random.default_rng(0)
    acts = [np.asfortranarray(rng.standard_normal((config.batch, w)).astype(np.float32))
            for w in config.sizes]
    weights = [np.asfortranarray(rng.standard_normal((a, b)).astype(np.float32))
               for a, b in zip(config.sizes[:-1], config.sizes[1:])]

    def step():
        for i, w in enumerate(weights):
            sgemm(1.0, acts[i], w)                       # forward
            sgemm(1.0, acts[i], acts[i + 1], trans_a=1)  # dW
            if i:
                sgemm(1.0, acts[i + 1], w, trans_b=1)    # dX
    step()
    return time_call(step, repeats)


def memory_probe(peer: str, config_key: str) -> int:
    """Peak resident memory (KiB) of a fresh process that trains ``peer`` for one epoch
    (-1 where /proc is not available or the run failed)."""
    # VmHWM, not ru_maxrss: the latter keeps the parent's peak across fork + exec
    code = (f"import sys; sys.path.insert(0, {str(Path(__file__).resolve().parent)!r});"
            f"from peers import CONFIGS, PEERS, make_data;"
            f"c = CONFIGS[{config_key!r}]; x, y = make_data(c);"
            f"PEERS[{peer!r}](c, x, y).train_epoch();"
            f"print([l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0])")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=600)
    return int(run.stdout.strip().splitlines()[-1]) if run.returncode == 0 else -1


def markdown(report: Dict) -> str:
    """The results as markdown tables."""
    load = report["machine"].get("busy_processes_beside", 0)
    lines = [f"# Benchmarks {report['date']}", "",
             f"{report['machine']['cpu']}, {report['threads']} threads, float32, "
             f"{load} busy process(es) beside. "
             f"numpy sgemm 2048^3: {report['calibration']['numpy_sgemm_2048_gflops']:.1f} "
             f"GFLOP/s.", ""]
    if report.get("mixed"):
        lines += ["## mlp alone vs with PyTorch and JAX epochs between its own", "",
                  "| config | alone samples/s | mixed samples/s | mixed / alone |",
                  "|---|---:|---:|---:|"]
        lines += [f"| {key} | {r['alone_samples_per_s']:,.0f} | {r['mixed_samples_per_s']:,.0f} "
                  f"| {r['mixed_over_alone']:.2f} |" for key, r in report["mixed"].items()]
        steal = {key: report["steal_s"][key] for key in report["mixed"]
                 if key in report.get("steal_s", {})}
        if steal:
            lines += ["", "CPU time the hypervisor gave other guests during these rounds: "
                      + ", ".join(f"{key} {value:.2f} s" for key, value in steal.items())]
        lines.append("")
    for key, results in report["configs"].items():
        config = CONFIGS[key]
        lines += [f"## {config.name} {'-'.join(map(str, config.sizes))}, batch {config.batch}",
                  "", "| peer | train samples/s | peer time / mlp time | CPU s / wall s "
                  "| infer samples/s (10k) | 1-sample latency (µs) |",
                  "|---|---:|---:|---:|---:|---:|"]
        for name, r in results.items():
            if "skipped" in r:
                lines.append(f"| {name} | {r['skipped']} | | | | |")
                continue
            lines.append(f"| {name} | {r['train_samples_per_s']:,.0f} | "
                         f"{r.get('peer_time_over_mlp', float('nan')):.2f} | "
                         f"{r['train_cpu_s'] / r['train_epoch_s']:.2f} | "
                         f"{r['infer_samples_per_s']:,.0f} | {r['latency_us']:,.1f} |")
        if key in report.get("gemm_floor_s", {}):
            floor = report["gemm_floor_s"][key]
            mlp_step = results["mlp"]["train_epoch_s"] / (config.samples / config.batch)
            lines += ["", f"GEMM-only floor of one step: {floor * 1e3:.1f} ms; mlp's step: "
                          f"{mlp_step * 1e3:.1f} ms ({floor / mlp_step:.0%} of the floor's speed)"]
        if key in report.get("steal_s", {}):
            lines += ["", f"CPU time the hypervisor gave other guests during these rounds: "
                          f"{report['steal_s'][key]:.2f} s"]
        lines.append("")
    if report.get("memory_kib"):
        lines += ["## Peak resident memory, one process training config B", "",
                  "| peer | MiB |", "|---|---:|"]
        lines += [f"| {k} | {v / 1024:,.0f} |" for k, v in report["memory_kib"].items()]
    return "\n".join(lines) + "\n"


def plot(report: Dict, path: Path) -> None:
    """A bar chart of training throughput relative to mlp, when matplotlib is installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    keys = list(report["configs"])
    if not keys:
        return
    names = sorted({n for r in report["configs"].values() for n in r
                    if "train_samples_per_s" in r[n]})
    fig, ax = plt.subplots(figsize=(9, 4))
    width = 0.8 / max(len(names), 1)
    for i, name in enumerate(names):
        values = [report["configs"][k].get(name, {}).get("train_samples_per_s", 0) /
                  report["configs"][k]["mlp"]["train_samples_per_s"] for k in keys]
        ax.bar(np.arange(len(keys)) + i * width, values, width, label=name)
    ax.set_xticks(np.arange(len(keys)) + 0.4 - width / 2, keys)
    ax.set_ylabel("training throughput / mlp's")
    ax.set_yscale("log")
    ax.axhline(1.0, color="black", linewidth=0.6)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # beside, not on, bars
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="A and B, mlp and numpy, few repeats")
    parser.add_argument("--peers", default=",".join(PEERS))
    parser.add_argument("--configs", default="A,B,C,D")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--memory", action="store_true", help="also measure peak memory (B)")
    parser.add_argument("--load", type=int, default=0, metavar="N",
                        help="busy processes beside the timed rounds")
    parser.add_argument("--load-seconds", type=float, default=3600.0,
                        help="the longest the busy processes run")
    parser.add_argument("--mixed", action="store_true",
                        help="mlp alone vs with PyTorch and JAX epochs between its own")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    peer_names = ["mlp", "numpy"] if args.quick else args.peers.split(",")
    config_keys = ["A", "B"] if args.quick else args.configs.split(",")
    repeats = 2 if args.quick else args.repeats
    unknown = [p for p in peer_names if p not in PEERS] + [c for c in config_keys
                                                           if c not in CONFIGS]
    if unknown or "mlp" not in peer_names:
        parser.error(f"unknown peers/configs {unknown} (mlp is always needed); peers are "
                     f"{list(PEERS)}, configs {list(CONFIGS)}")
    set_threads(args.threads)
    import mlp
    from mlp.kernels import _kernels

    if args.load:
        start_load(args.load, args.load_seconds)

    report = {"date": datetime.date.today().isoformat(), "threads": args.threads,
              "machine": {"cpu": _cpu_name(), "platform": platform.platform(),
                          "python": platform.python_version(),
                          "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE"),
                          "cpus": os.cpu_count(), "busy_processes_beside": args.load},
              "mlp": mlp._config.config(), "calibration": gemm_calibration(args.threads),
              "configs": {}, "gemm_floor_s": {}, "steal_s": {}}
    for key in config_keys:
        config = CONFIGS[key]
        if args.quick:
            config = Config(config.name, config.sizes, config.hidden, config.output,
                            config.loss, config.batch, min(config.samples, 6_400))
            CONFIGS[key] = config
        print(f"{config.name}...", file=sys.stderr, flush=True)
        _kernels.runtime_stats(reset=True)
        steal = _steal_seconds()
        if args.mixed:
            report.setdefault("mixed", {})[key] = bench_mixed(config, repeats)
            report["steal_s"][key] = _steal_seconds() - steal
            continue
        report["configs"][key] = bench_config(config, peer_names, repeats)
        report["configs"][key]["mlp"]["runtime_stats"] = _kernels.runtime_stats(reset=True)
        report["steal_s"][key] = _steal_seconds() - steal
        if key == "D":
            report["gemm_floor_s"][key] = gemm_floor(config, repeats)
    if args.memory:
        report["memory_kib"] = {name: memory_probe(name, "B") for name in peer_names}
    report["mlp"]["peak_rss_kib_this_run"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    args.output.mkdir(parents=True, exist_ok=True)
    suffix = ("-quick" if args.quick else "") + (f"-load{args.load}" if args.load else "") + (
        "-mixed" if args.mixed else "")
    stem = args.output / (report["date"] + suffix)
    stem.with_suffix(".json").write_text(json.dumps(report, indent=2, default=str))
    text = markdown(report)
    stem.with_suffix(".md").write_text(text)
    plot(report, stem.with_suffix(".png"))
    print(text)
    return 0


def _cpu_name() -> str:
    """The CPU's model name, with family / model numbers and its widest vector ISA on Linux
    (a VM often shows only "AMD EPYC" or "Intel Xeon Processor")."""
    try:
        fields = {}
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key in fields:
                if key == "processor":
                    break
                continue
            fields[key] = value.strip()
        if "model name" in fields:
            flags = fields.get("flags", "").split()
            isa = next((f for f in ("avx512f", "avx2", "avx") if f in flags), None)
            extra = [f"family {fields['cpu family']} model {fields['model']}"
                     if "cpu family" in fields and "model" in fields else None, isa]
            extra = ", ".join(e for e in extra if e)
            return fields["model name"] + (f" ({extra})" if extra else "")
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _steal_seconds() -> float:
    """CPU seconds the hypervisor gave other guests so far, all CPUs together (Linux /proc/stat;
    0 elsewhere): the part of a VM's noise that can be read off."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()
        return int(fields[8]) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


if __name__ == "__main__":
    sys.exit(main())
