"""Time every CPU kernel of mlp against the pure-NumPy reference backend, in one process.

Run from the repository root, after building the extension in place
(``python setup.py build_ext --inplace``)::

    PYTHONPATH=src python benchmarks/kernels.py                  # configs A-D, float32 (~3 min)
    PYTHONPATH=src python benchmarks/kernels.py --quick          # A and B, few repeats (< 30 s)
    PYTHONPATH=src python benchmarks/kernels.py --configs A,B --dtype float64

The shapes are those of DESIGN.md section 6 (A 30-16-1 batch 32, B 784-128-10 batch 64,
C 784-512-512-10 batch 128, D 1024-4096-4096-1024 batch 512). The machine is noisy, so the sides
of a comparison are timed in the same process, interleaved (one measurement of each side per
repeat, the order alternating between repeats), and the median over the repeats is reported.
Each measurement runs the call enough times in a row to last at least ``--min-time`` (5 ms),
after untimed warm-up calls for as long; kernels with GEMMs big enough for OpenBLAS to thread
also wait 0.12 s first, so that the previous side's idle BLAS threads stop spinning (otherwise
they slow OpenMP loops on a 2-core machine 2x or more, see ``SETTLE_SECONDS``). Dense layers use
each configuration's own activations (A ends in sigmoid, B and C in softmax, D is linear); the
elementwise kernels run at the first hidden layer's shape. Every call sees the same inputs, so at
small sizes the branch predictor may learn data-dependent branches (relu backward, np.where).

OpenMP threads are bound to cores: unless ``OMP_PROC_BIND`` is already set (or ``--no-bind`` is
given) the script re-runs itself with ``OMP_PROC_BIND=true``. This dates from the kernels'
OpenMP runtime, whose parallel regions waited for a thread stacked on a busy CPU; it binds only
the threads of the ``openmp-*`` runtime modes and of OpenBLAS now. The kernels' own pool
(``_pool.c``, the default) is not bound, and a thread that does not run simply takes no part.

The machine is shared: the script waits (up to a minute) for other processes to leave the CPUs
idle before it starts, and measures a case again, once they are quiet, when they used the CPUs
while it ran (``/proc`` accounting; up to three attempts, recorded in the JSON).

Output: markdown tables on stdout (progress goes to stderr) and the same results, with every
repeat and the machine description, as JSON in ``benchmarks/results/kernels-<date>.json``
(``kernels-<date>-quick.json`` for ``--quick``; ``--output`` overrides).

Columns of the tables
---------------------
Part 1, "kernels vs reference" (one table per configuration; mlp at ``--threads`` threads, the
reference's NumPy/BLAS at the same count):

* kernel, shape: the backend method and its operands (``x`` is ``batch x inputs``, ``w`` is
  ``inputs x units``; optimizers run over the flat parameter count of the whole network).
* cpu, reference: median time of one call of ``get_backend("cpu")`` / ``get_backend("reference")``.
* ref / cpu: reference time divided by cpu time; above 1 the kernel is faster (bold when below 1).
  A dagger marks a noisy row: some side's measurements differ by more than 1.5x, or other
  processes kept the CPUs busy during it even after measuring again (see the JSON).

Part 2, "one pool" (DESIGN.md section 3), for the GEMM kernels at B, C and D:

* omp N + blas 1: mlp's kernels with ``mlp.set_num_threads(N)``: the GEMMs are split across the
  kernels' N threads, each calling BLAS on one thread (the design's choice).
* omp 1 + blas N: ``mlp.set_num_threads(1)``, then BLAS given back its N threads with
  ``threadpool_limits(N, user_api="blas")``: our loops run serially, BLAS threads each GEMM.
* numpy (GEMM only): the bare ``np.matmul`` calls of the kernel (``x @ w``; for the backward pass
  ``x.T @ dz`` and ``dz @ w.T``) with NumPy's BLAS at N threads: no bias, activation or reduction.
* GFLOP/s: the GEMM work of the kernel divided by the "omp N + blas 1" time.
* blas / omp and numpy / omp: those times divided by the "omp N + blas 1" time; above 1 the
  design's one-pool choice is faster.

The calibration lines give NumPy's float32 matmul rate at 2048 x 2048 x 2048 with N threads and
with one (the machine's practical GEMM peak), and the cost of pinning BLAS around one call.
"""
from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import scipy
import threadpoolctl
from threadpoolctl import threadpool_limits

import mlp
from mlp._config import config as mlp_config
from mlp._threading import blas_single_thread
from mlp.backends import get_backend

RESULTS_DIR = Path(__file__).resolve().parent / "results"
ACTIVATIONS = ("relu", "sigmoid", "gelu", "softmax")
LOSSES = (
    "categorical_crossentropy_from_logits",
    "binary_crossentropy_from_logits",
    "mean_squared_error",
)
OPTIMIZERS = ("sgd_momentum", "adam", "adamw", "rmsprop", "adagrad")
CALIBRATION_SIZE = 2048
BLAS_THREADED_FLOPS = 2.0 * 65536 * 4
"""GEMMs of at least this work run multi-threaded in OpenBLAS (m * n * k >= 65536 * 4)."""
SETTLE_SECONDS = 0.12
"""Pause before timing a side after a side that may have used threaded BLAS. OpenBLAS workers
spin for 2**28 cycles (about 0.1 s here) after each call; while they do, OpenMP loops on this
2-core machine run 2x slower or worse, and the benchmark would charge one side's idle threads to
the other side."""


# ----------------------------------------------------------------------------- configurations
@dataclass(frozen=True)
class Layer:
    inputs: int
    units: int
    activation: str


@dataclass(frozen=True)
class Config:
    """One network of DESIGN.md section 6: layer sizes, activations and batch size."""

    name: str
    sizes: Tuple[int, ...]
    activations: Tuple[str, ...]
    batch: int
    repeats: int

    @property
    def layers(self) -> List[Layer]:
        return [Layer(n_in, n_out, act)
                for n_in, n_out, act in zip(self.sizes, self.sizes[1:], self.activations)]

    @property
    def parameter_count(self) -> int:
        return sum(layer.inputs * layer.units + layer.units for layer in self.layers)

    @property
    def hidden_shape(self) -> Tuple[int, int]:
        """The first hidden layer's activation shape: where the elementwise kernels are timed."""
        return self.batch, self.sizes[1]

    @property
    def output_shape(self) -> Tuple[int, int]:
        return self.batch, self.sizes[-1]

    def describe(self) -> str:
        sizes = "-".join(map(str, self.sizes))
        return f"{self.name}: {sizes}, batch {self.batch}, {', '.join(self.activations)}"


CONFIGS = {
    "A": Config("A", (30, 16, 1), ("relu", "sigmoid"), 32, repeats=9),
    "B": Config("B", (784, 128, 10), ("relu", "softmax"), 64, repeats=7),
    "C": Config("C", (784, 512, 512, 10), ("relu", "relu", "softmax"), 128, repeats=5),
    "D": Config("D", (1024, 4096, 4096, 1024), ("relu", "relu", "linear"), 512, repeats=3),
}
ONE_POOL_CONFIGS = ("B", "C", "D")
NOISY_SPREAD = 1.5
"""A row is marked noisy when a side's slowest measurement exceeds its fastest by this factor."""
QUICK_CONFIGS = "A,B"
QUICK_REPEATS = 5


# ----------------------------------------------------------------------------- timing
def _nothing() -> None:
    return None


@dataclass
class Side:
    """One contender of a comparison: a zero-argument call and what to do before timing it."""

    name: str
    call: Callable[[], object]
    prepare: Callable[[], None] = _nothing


def _seconds_per_call(call: Callable[[], object], count: int) -> float:
    start = time.perf_counter()
    for _ in range(count):
        call()
    return (time.perf_counter() - start) / count


def inner_count(call: Callable[[], object], min_time: float) -> int:
    """How many calls in a row last at least ``min_time`` seconds (``call`` is already warm)."""
    count = 1
    while True:
        total = _seconds_per_call(call, count) * count
        if total >= min_time:
            return count
        if total >= min_time / 10:
            return math.ceil(count * min_time / total * 1.1)
        count *= 10


def warm_up(call: Callable[[], object], seconds: float) -> None:
    """Call ``call`` once, then again until ``seconds`` have passed (threads woken, caches hot)."""
    end = time.perf_counter() + seconds
    call()
    while time.perf_counter() < end:
        call()


def compare(sides: Sequence[Side], repeats: int, min_time: float, settle: float = 0.0
            ) -> Dict[str, List[float]]:
    """Interleaved timings: per repeat, one measurement of each side (order alternating).

    Before each measurement the side is prepared, ``settle`` seconds pass (see
    :data:`SETTLE_SECONDS`) and untimed calls warm it up for ``min_time``. Returns the seconds
    per call of every measurement, by side name.
    """
    def start(side: Side) -> None:
        side.prepare()
        time.sleep(settle)
        warm_up(side.call, min_time)

    counts = {}
    for side in sides:
        start(side)
        counts[side.name] = inner_count(side.call, min_time)
    samples: Dict[str, List[float]] = {side.name: [] for side in sides}
    for repeat in range(repeats):
        for side in (sides if repeat % 2 == 0 else list(reversed(sides))):
            start(side)
            samples[side.name].append(_seconds_per_call(side.call, counts[side.name]))
    return samples


def is_noisy(samples: Dict[str, List[float]]) -> bool:
    """True when some side's measurements disagree by more than :data:`NOISY_SPREAD`."""
    return any(max(values) > NOISY_SPREAD * min(values) for values in samples.values())


def settle_time(flops: float) -> float:
    """The pause :func:`compare` needs for a case whose GEMMs do ``flops`` of work."""
    return SETTLE_SECONDS if flops >= BLAS_THREADED_FLOPS else 0.0


# ----------------------------------------------------------------------------- other processes
TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
MAX_OTHER_CPUS = 0.05
"""A case is measured again when other processes kept more CPUs than this busy meanwhile."""
MIN_OTHER_TICKS = 3
"""...and used at least this many clock ticks (one stray tick is not a disturbance)."""
MAX_ATTEMPTS = 3
QUIET_WAIT_SECONDS = 60.0


def cpu_ticks() -> Optional[Tuple[int, int]]:
    """Busy clock ticks of the whole machine and of this process, or None without /proc."""
    try:
        with open("/proc/stat", encoding="utf-8") as stat:
            machine = [int(value) for value in stat.readline().split()[1:9]]
        with open("/proc/self/stat", encoding="utf-8") as own:
            fields = own.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError, ValueError):
        return None
    idle = machine[3] + machine[4]
    return sum(machine) - idle, int(fields[11]) + int(fields[12])


def other_cpus(before: Optional[Tuple[int, int]], after: Optional[Tuple[int, int]],
               seconds: float) -> float:
    """CPUs that other processes kept busy on average between two :func:`cpu_ticks`."""
    if before is None or after is None or seconds <= 0:
        return 0.0
    ticks = (after[0] - before[0]) - (after[1] - before[1])
    if ticks < MIN_OTHER_TICKS:
        return 0.0
    return ticks / TICKS_PER_SECOND / seconds


def other_load(seconds: float = 1.0) -> float:
    """CPUs that other processes keep busy, sampled over ``seconds`` while this one sleeps."""
    before = cpu_ticks()
    time.sleep(seconds)
    return other_cpus(before, cpu_ticks(), seconds)


def wait_for_quiet(timeout: float) -> float:
    """Wait (up to ``timeout`` seconds) until other processes leave the CPUs idle; return their
    last measured load."""
    end = time.perf_counter() + timeout
    load = other_load()
    while load > MAX_OTHER_CPUS and time.perf_counter() < end:
        load = other_load()
    return load


# ----------------------------------------------------------------------------- part 1 cases
@dataclass
class Case:
    """A kernel at one shape: ``build(backend)`` allocates that backend's buffers, returns the call.

    GEMM kernels also give ``flops`` (their GEMM work) and ``numpy_gemm``: the bare ``np.matmul``
    calls they contain, for part 2.
    """

    config: str
    kernel: str
    shape: str
    build: Callable[[object], Callable[[], object]]
    flops: float = 0.0
    numpy_gemm: Optional[Callable[[], object]] = None


class Data:
    """Random operands of one dtype from one seeded generator."""

    def __init__(self, dtype: np.dtype, seed: int = 0) -> None:
        self.dtype = dtype
        self.rng = np.random.default_rng(seed)

    def normal(self, shape, scale: float = 1.0) -> np.ndarray:
        return (self.rng.standard_normal(shape) * scale).astype(self.dtype)

    def weights(self, n_in: int, n_out: int) -> np.ndarray:
        return self.normal((n_in, n_out), scale=math.sqrt(2.0 / n_in))


def _gemm_shape(batch: int, layer: Layer) -> str:
    return f"x {batch}x{layer.inputs} · w {layer.inputs}x{layer.units}, {layer.activation}"


def _forward_gemm(x: np.ndarray, w: np.ndarray) -> Callable[[], object]:
    out = np.empty((x.shape[0], w.shape[1]), x.dtype)
    return lambda: np.matmul(x, w, out=out)


def matmul_case(config: Config, layer: Layer, data: Data) -> Case:
    x = data.normal((config.batch, layer.inputs))
    w = data.weights(layer.inputs, layer.units)

    def build(backend):
        out = np.empty((config.batch, layer.units), data.dtype)
        return lambda: backend.matmul(x, w, out=out)

    flops = 2.0 * config.batch * layer.inputs * layer.units
    return Case(config.name, "matmul", _gemm_shape(config.batch, layer), build, flops,
                _forward_gemm(x, w))


def dense_forward_case(config: Config, layer: Layer, data: Data) -> Case:
    x = data.normal((config.batch, layer.inputs))
    w = data.weights(layer.inputs, layer.units)
    b = data.normal(layer.units, scale=0.1)

    def build(backend):
        out = np.empty((config.batch, layer.units), data.dtype)
        return lambda: backend.dense_forward(x, w, b, layer.activation, out=out)

    flops = 2.0 * config.batch * layer.inputs * layer.units
    return Case(config.name, "dense_forward", _gemm_shape(config.batch, layer), build, flops,
                _forward_gemm(x, w))


def dense_backward_case(config: Config, layer: Layer, data: Data, need_dx: bool) -> Case:
    x = data.normal((config.batch, layer.inputs))
    w = data.weights(layer.inputs, layer.units)
    y = get_backend("reference").dense_forward(x, w, None, layer.activation)
    dy = data.normal(y.shape, scale=0.01)

    def build(backend):
        dz = np.empty_like(dy)
        dw = np.empty_like(w)
        db = np.empty(layer.units, data.dtype)
        dx = np.empty_like(x) if need_dx else None
        return lambda: backend.dense_backward(x, w, y, dy, layer.activation, dw=dw, db=db,
                                              dx=dx, need_dx=need_dx, dz=dz)

    def numpy_gemm():
        np.matmul(x.T, dy, out=numpy_dw)
        if need_dx:
            np.matmul(dy, w.T, out=numpy_dx)

    numpy_dw, numpy_dx = np.empty_like(w), np.empty_like(x)
    kernel = "dense_backward" + ("" if need_dx else " (no dx)")
    flops = 2.0 * config.batch * layer.inputs * layer.units * (2 if need_dx else 1)
    return Case(config.name, kernel, _gemm_shape(config.batch, layer), build, flops, numpy_gemm)


def _loss_target(name: str, shape: Tuple[int, int], data: Data) -> np.ndarray:
    if name.startswith("categorical"):
        return data.rng.integers(0, shape[1], size=shape[0])
    if name.startswith("binary"):
        return (data.rng.random(shape) < 0.5).astype(data.dtype)
    return data.normal(shape)


def loss_case(config: Config, name: str, data: Data) -> Case:
    shape = config.output_shape
    pred = data.normal(shape, scale=3.0)
    target = _loss_target(name, shape, data)

    def build(backend):
        grad = np.empty(shape, data.dtype)
        return lambda: backend.loss(name, pred, target, grad=grad)

    labels = ", integer labels" if target.ndim == 1 else ""
    return Case(config.name, f"loss {name}", f"{shape[0]}x{shape[1]}{labels}", build)


def _optimizer_call(backend, name: str, param: np.ndarray, grad: np.ndarray
                    ) -> Callable[[], object]:
    """One update of optimizer ``name`` with its state buffers allocated for ``param``."""
    def state() -> np.ndarray:
        return np.zeros_like(param)

    if name == "sgd_momentum":
        velocity = state()
        return lambda: backend.sgd_update(param, grad, velocity, lr=0.01, momentum=0.9)
    if name in ("adam", "adamw"):
        m, v = state(), state()
        decay = 0.01 if name == "adamw" else 0.0
        return lambda: backend.adam_update(param, grad, m, v, None, step=10, lr=1e-3,
                                           beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                                           weight_decay=decay, decoupled=name == "adamw")
    if name == "rmsprop":
        mean_square = state()
        return lambda: backend.rmsprop_update(param, grad, mean_square, lr=1e-3, rho=0.9,
                                              epsilon=1e-7)
    if name == "adagrad":
        accumulator = state()
        return lambda: backend.adagrad_update(param, grad, accumulator, lr=1e-3, epsilon=1e-7)
    raise ValueError(f"optimizer: unknown optimizer {name!r}. Known: {list(OPTIMIZERS)}.")


def optimizer_case(config: Config, name: str, data: Data) -> Case:
    count = config.parameter_count
    initial = data.normal(count, scale=0.05)
    grad = data.normal(count, scale=0.01)

    def build(backend):
        return _optimizer_call(backend, name, initial.copy(), grad)

    return Case(config.name, f"{name}_update", f"{count:,} params", build)


def dropout_case(config: Config, data: Data) -> Case:
    x = data.normal(config.hidden_shape)

    def build(backend):
        out = np.empty_like(x)
        return lambda: backend.dropout_forward(x, 0.5, seed=0, step=1, layer=0, out=out)

    rows, cols = config.hidden_shape
    return Case(config.name, "dropout_forward", f"{rows}x{cols}, rate 0.5", build)


def global_norm_case(config: Config, data: Data) -> Case:
    arrays = []
    for layer in config.layers:
        arrays += [data.normal((layer.inputs, layer.units)), data.normal(layer.units)]

    def build(backend):
        return lambda: backend.global_norm(arrays)

    shape = f"{len(arrays)} arrays, {config.parameter_count:,} params"
    return Case(config.name, "global_norm", shape, build)


def activation_cases(config: Config, data: Data) -> Iterator[Case]:
    rows, cols = config.hidden_shape
    z = data.normal(config.hidden_shape, scale=2.0)
    dy = data.normal(config.hidden_shape, scale=0.01)
    for name in ACTIVATIONS:
        y = get_backend("reference").activation_forward(z, name)

        def build_forward(backend, name=name):
            out = np.empty_like(z)
            return lambda: backend.activation_forward(z, name, out=out)

        def build_backward(backend, name=name, y=y):
            out = np.empty_like(z)
            return lambda: backend.activation_backward(dy, y, z, name, out=out)

        yield Case(config.name, f"activation_forward {name}", f"{rows}x{cols}", build_forward)
        yield Case(config.name, f"activation_backward {name}", f"{rows}x{cols}", build_backward)


def kernel_cases(config: Config, dtype: np.dtype) -> Iterator[Case]:
    """Every part-1 case of one configuration, built lazily (config D's buffers are large)."""
    data = Data(dtype)
    for layer in config.layers:
        yield dense_forward_case(config, layer, data)
    yield dense_backward_case(config, config.layers[0], data, need_dx=False)
    for layer in config.layers:
        yield dense_backward_case(config, layer, data, need_dx=True)
    for name in LOSSES:
        yield loss_case(config, name, data)
    for name in OPTIMIZERS:
        yield optimizer_case(config, name, data)
    yield dropout_case(config, data)
    yield global_norm_case(config, data)
    yield from activation_cases(config, data)


# ----------------------------------------------------------------------------- part 2 cases
def gemm_cases(config: Config, dtype: np.dtype) -> Iterator[Case]:
    """Every GEMM kernel of one configuration: matmul, dense_forward, dense_backward per layer."""
    data = Data(dtype)
    for layer in config.layers:
        yield matmul_case(config, layer, data)
        yield dense_forward_case(config, layer, data)
        yield dense_backward_case(config, layer, data, need_dx=True)


def one_pool_sides(case: Case, threads: int) -> List[Side]:
    """The three ways of threading one GEMM kernel (see the module docstring)."""
    def omp_pool() -> None:
        mlp.set_num_threads(threads)

    def blas_pool() -> None:
        mlp.set_num_threads(1)
        threadpool_limits(threads, user_api="blas")

    mlp_call = case.build(get_backend("cpu"))
    return [
        Side(f"omp {threads} + blas 1", mlp_call, omp_pool),
        Side(f"omp 1 + blas {threads}", mlp_call, blas_pool),
        Side("numpy (GEMM only)", case.numpy_gemm, omp_pool),
    ]


# ----------------------------------------------------------------------------- runs
@dataclass
class Measured:
    """The timings of one case and the conditions they were taken in."""

    case: Case
    sides: List[Side]
    samples: Dict[str, List[float]]
    other_cpus: float
    attempts: int

    @property
    def noisy(self) -> bool:
        return is_noisy(self.samples) or self.other_cpus > MAX_OTHER_CPUS

    def medians(self) -> List[float]:
        return [median(self.samples[side.name]) for side in self.sides]

    def record(self) -> dict:
        return {"config": self.case.config, "kernel": self.case.kernel, "shape": self.case.shape,
                "noisy": self.noisy, "other_cpus": self.other_cpus, "attempts": self.attempts,
                "samples_s": self.samples}


def measure(cases: Iterable[Case], make_sides: Callable[[Case], List[Side]], repeats: int,
            min_time: float) -> Iterator[Measured]:
    """Time the sides of each case with :func:`compare`.

    A case during which other processes used the CPUs is measured again (up to
    :data:`MAX_ATTEMPTS` times) once they are quiet. After a case whose GEMMs may run on BLAS
    threads, the next case starts after :data:`SETTLE_SECONDS` too, so that it does not meet
    those threads still spinning.
    """
    pause = 0.0
    for case in cases:
        settle = settle_time(case.flops)
        if not settle:
            time.sleep(pause)
        sides = make_sides(case)
        for attempt in range(1, MAX_ATTEMPTS + 1):
            before, started = cpu_ticks(), time.perf_counter()
            samples = compare(sides, repeats, min_time, settle)
            load = other_cpus(before, cpu_ticks(), time.perf_counter() - started)
            if load <= MAX_OTHER_CPUS or attempt == MAX_ATTEMPTS:
                break
            progress(f"  {case.config} {case.kernel} ({case.shape}): other processes kept "
                     f"{load:.2f} CPUs busy; measuring again when they are quiet")
            wait_for_quiet(QUIET_WAIT_SECONDS)
        yield Measured(case, sides, samples, load, attempt)
        pause = settle


def run_kernels(configs: Sequence[Config], dtype: np.dtype, repeats: Optional[int],
                min_time: float) -> List[dict]:
    cpu, reference = get_backend("cpu"), get_backend("reference")

    def sides(case: Case) -> List[Side]:
        return [Side("cpu", case.build(cpu)), Side("reference", case.build(reference))]

    rows = []
    for config in configs:
        progress(f"part 1, {config.describe()}")
        for measured in measure(kernel_cases(config, dtype), sides,
                                repeats or config.repeats, min_time):
            cpu_time, ref_time = measured.medians()
            rows.append({**measured.record(), "cpu_s": cpu_time, "reference_s": ref_time,
                         "ratio": ref_time / cpu_time})
    return rows


def run_one_pool(configs: Sequence[Config], dtype: np.dtype, threads: int,
                 repeats: Optional[int], min_time: float) -> List[dict]:
    def sides(case: Case) -> List[Side]:
        return one_pool_sides(case, threads)

    rows = []
    try:
        for config in configs:
            progress(f"part 2, {config.describe()}")
            for measured in measure(gemm_cases(config, dtype), sides,
                                    repeats or config.repeats, min_time):
                times = measured.medians()
                omp, blas, bare = times
                flops = measured.case.flops
                rows.append({
                    **measured.record(), "flops": flops,
                    "times_s": {side.name: t for side, t in zip(measured.sides, times)},
                    "gflops": flops / omp / 1e9, "blas_over_omp": blas / omp,
                    "numpy_over_omp": bare / omp,
                })
    finally:
        mlp.set_num_threads(threads)
    return rows


def gemm_gflops(dtype: np.dtype, threads: int, repeats: int) -> float:
    """NumPy matmul rate at CALIBRATION_SIZE cubed with BLAS at ``threads`` threads."""
    n = CALIBRATION_SIZE
    a = Data(dtype).normal((n, n))
    out = np.empty_like(a)
    with threadpool_limits(threads, user_api="blas"):
        np.matmul(a, a, out=out)
        seconds = min(_seconds_per_call(lambda: np.matmul(a, a, out=out), 1)
                      for _ in range(repeats))
    return 2.0 * n ** 3 / seconds / 1e9


def pin_overhead(samples: int = 2000) -> float:
    """Seconds to enter and leave :func:`mlp._threading.blas_single_thread` once."""
    def pin() -> None:
        with blas_single_thread():
            pass

    pin()
    return _seconds_per_call(pin, samples)


def run_calibration(dtypes: Sequence[np.dtype], threads: int, repeats: int) -> dict:
    progress("calibration")
    rates = {}
    for dtype in dtypes:
        for count in sorted({threads, 1}, reverse=True):
            rates[f"{np.dtype(dtype).name}, {count} thread{'s' * (count > 1)}"] = gemm_gflops(
                dtype, count, repeats)
    return {"matmul_size": CALIBRATION_SIZE, "matmul_gflops": rates,
            "blas_pin_s": pin_overhead()}


# ----------------------------------------------------------------------------- reporting
def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def fmt_time(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} µs"
    if seconds < 1.0:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def fmt_ratio(ratio: float, noisy: bool = False) -> str:
    text = f"{ratio:.2f}" + (" †" if noisy else "")
    return f"**{text}**" if ratio < 1.0 else text


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    aligns = ["---"] * 2 + ["--:"] * (len(header) - 2)
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(aligns) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def kernels_report(rows: Sequence[dict], configs: Sequence[Config], threads: int) -> str:
    parts = []
    for config in configs:
        table = [[row["kernel"], row["shape"], fmt_time(row["cpu_s"]),
                  fmt_time(row["reference_s"]), fmt_ratio(row["ratio"], row["noisy"])]
                 for row in rows if row["config"] == config.name]
        parts.append(f"### Config {config.describe()} ({threads} threads)\n\n"
                     + markdown_table(["kernel", "shape", "cpu", "reference", "ref / cpu"],
                                      table))
    return "\n\n".join(parts)


def one_pool_report(rows: Sequence[dict], threads: int) -> str:
    names = [f"omp {threads} + blas 1", f"omp 1 + blas {threads}", "numpy (GEMM only)"]
    table = [[f"{row['config']} {row['kernel']}", row["shape"]]
             + [fmt_time(row["times_s"][name]) for name in names]
             + [f"{row['gflops']:.0f}", fmt_ratio(row["blas_over_omp"], row["noisy"]),
                fmt_ratio(row["numpy_over_omp"], row["noisy"])]
             for row in rows]
    header = ["kernel", "shape", *names, "GFLOP/s", "blas / omp", "numpy / omp"]
    return markdown_table(header, table)


def calibration_report(calibration: dict) -> str:
    n = calibration["matmul_size"]
    lines = [f"- numpy matmul {n}x{n}x{n}, {label}: {rate:.0f} GFLOP/s"
             for label, rate in calibration["matmul_gflops"].items()]
    lines.append(f"- BLAS pin (blas_single_thread enter + exit): "
                 f"{fmt_time(calibration['blas_pin_s'])} per call")
    return "\n".join(lines)


def machine_info() -> dict:
    return {
        "cpu_model": cpu_model(),
        "logical_cpus": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "threadpoolctl": threadpoolctl.__version__,
        "mlp": mlp_config(),
    }


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def write_json(path: Path, payload: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
    progress(f"results written to {path}")


# ----------------------------------------------------------------------------- command line
def openmp_environment() -> Dict[str, str]:
    """The environment variables that steer libgomp and OpenBLAS in this process."""
    return {name: value for name, value in sorted(os.environ.items())
            if name.startswith(("OMP_", "GOMP_", "OPENBLAS_"))}


def rerun_with_bound_threads() -> None:
    """Replace this process by the same command with ``OMP_PROC_BIND=true``.

    libgomp reads the variable when it is loaded (with ``mlp``), so it cannot be set later.
    """
    progress("re-running with OMP_PROC_BIND=true (threads bound to cores; see --no-bind)")
    os.environ["OMP_PROC_BIND"] = "true"
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, *sys.argv])


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", default=None,
                        help="comma-separated configurations among A,B,C,D (default: all; "
                             f"{QUICK_CONFIGS} with --quick)")
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    parser.add_argument("--threads", type=int, default=2,
                        help="threads for mlp and BLAS (default: 2)")
    parser.add_argument("--quick", action="store_true",
                        help=f"configs {QUICK_CONFIGS} unless --configs, {QUICK_REPEATS} repeats")
    parser.add_argument("--repeats", type=int, default=None,
                        help="measurements per side (default: per configuration, 3 to 9)")
    parser.add_argument("--min-time", type=float, default=5e-3,
                        help="seconds each measurement lasts at least (default: 0.005)")
    parser.add_argument("--no-bind", action="store_true",
                        help="keep the OpenMP threads unbound (do not set OMP_PROC_BIND=true)")
    parser.add_argument("--output", type=Path, default=None,
                        help="JSON file (default: benchmarks/results/kernels-<date>[-quick].json)")
    args = parser.parse_args(argv)
    names = (args.configs or (QUICK_CONFIGS if args.quick else ",".join(CONFIGS))).upper()
    unknown = [name for name in names.split(",") if name not in CONFIGS]
    if unknown:
        parser.error(f"--configs: unknown configuration(s) {unknown}. Known: {list(CONFIGS)}.")
    args.config_list = [CONFIGS[name] for name in names.split(",")]
    if args.quick and args.repeats is None:
        args.repeats = QUICK_REPEATS
    if args.threads < 1 or (args.repeats is not None and args.repeats < 1):
        parser.error("--threads and --repeats: expected at least 1")
    return args


def default_output(quick: bool) -> Path:
    suffix = "-quick" if quick else ""
    return RESULTS_DIR / f"kernels-{datetime.date.today().isoformat()}{suffix}.json"


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    if argv is None and not args.no_bind and "OMP_PROC_BIND" not in os.environ:
        rerun_with_bound_threads()
    dtype = np.dtype(args.dtype)
    configs = args.config_list
    one_pool_configs = [config for config in configs if config.name in ONE_POOL_CONFIGS]
    load = {"before": wait_for_quiet(QUIET_WAIT_SECONDS)}
    if load["before"] > MAX_OTHER_CPUS:
        progress(f"warning: other processes keep {load['before']:.1f} CPUs busy; "
                 "multi-threaded timings will suffer")
    started = time.perf_counter()
    mlp.set_num_threads(args.threads)

    calibration = run_calibration(sorted({np.dtype(np.float32), dtype}, key=str), args.threads,
                                  repeats=args.repeats or 3)
    kernel_rows = run_kernels(configs, dtype, args.repeats, args.min_time)
    pool_rows = run_one_pool(one_pool_configs, dtype, args.threads, args.repeats, args.min_time)
    elapsed = time.perf_counter() - started
    load["after"] = other_load()

    print(f"## mlp kernels vs the NumPy reference ({dtype.name}, {args.threads} threads)\n")
    print(f"Machine: {cpu_model()}, {os.cpu_count()} logical CPUs; numpy {np.__version__}, "
          f"scipy {scipy.__version__}. Median of interleaved repeats, each >= "
          f"{args.min_time * 1e3:g} ms. Run time {elapsed:.0f} s. CPUs busy with other "
          f"processes: {load['before']:.2f} before, {load['after']:.2f} after. "
          f"OMP_PROC_BIND={os.environ.get('OMP_PROC_BIND', '(unset)')}. Ratios above 1 favour "
          f"mlp's kernels; † marks a noisy row (measurements differ by more than "
          f"{NOISY_SPREAD:g}x, or other processes were busy).\n")
    print("### GEMM calibration\n\n" + calibration_report(calibration) + "\n")
    print(kernels_report(kernel_rows, configs, args.threads) + "\n")
    if pool_rows:
        print(f"### One pool: OpenMP-split GEMMs vs BLAS threads ({dtype.name})\n")
        print(one_pool_report(pool_rows, args.threads))

    write_json(args.output or default_output(args.quick), {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "arguments": {"configs": [config.name for config in configs], "dtype": dtype.name,
                      "threads": args.threads, "quick": args.quick, "repeats": args.repeats,
                      "min_time_s": args.min_time},
        "elapsed_s": elapsed,
        "machine": machine_info(),
        "environment": openmp_environment(),
        "busy_cpus_other_processes": load,
        "calibration": calibration,
        "kernels": kernel_rows,
        "one_pool": pool_rows,
    })


if __name__ == "__main__":
    main()
