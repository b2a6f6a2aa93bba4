"""Single-threaded GEMM speed of the BLAS libraries the kernels can call, at the benchmark
networks' shapes: scipy's bundled OpenBLAS (``scipy.linalg.cython_blas``) and the
``scipy-openblas32`` wheel, when installed. The kernels split GEMMs into parts and call BLAS on
one thread per part, so this is the number that matters to them.

Run: ``python benchmarks/blas.py [--threads N] [--repeats R]``; results go to
``benchmarks/results/blas-<date>.json`` with the CPU model.
"""
from __future__ import annotations

import argparse
import ctypes
import datetime
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import RESULTS, _cpu_name  # noqa: E402

SHAPES = {
    # name: (m, n, k, transpose A, transpose B), row-major C (m x n)
    "B forward 64x128x784": (64, 128, 784, False, False),
    "B dW 784x128x64": (784, 128, 64, True, False),
    "C forward 128x512x784": (128, 512, 784, False, False),
    "C dW 512x512x128": (512, 512, 128, True, False),
    "D forward 512x4096x4096": (512, 4096, 4096, False, False),
    "D dW 4096x4096x512": (4096, 4096, 512, True, False),
    "D dX 512x4096x4096": (512, 4096, 4096, False, True),
    "D part 64x4096x4096": (64, 4096, 4096, False, False),
}
ROW_MAJOR, NO_TRANS, TRANS = 101, 111, 112


def libraries():
    """name -> (ctypes library, symbol prefix) for each installed candidate."""
    import glob
    import os

    import scipy

    found = {}
    bundled = glob.glob(os.path.join(os.path.dirname(scipy.__file__) + ".libs",
                                     "libscipy_openblas*"))
    if bundled:
        found["scipy bundled"] = ctypes.CDLL(bundled[0])
    from mlp import _blas_choice

    path = _blas_choice._openblas32_path()
    if path is not None:
        found["scipy-openblas32"] = ctypes.CDLL(str(path))
    return found


def describe(library) -> str:
    config = library.scipy_openblas_get_config
    config.restype = ctypes.c_char_p
    return config().decode()


def measure(threads: int, repeats: int):
    libs = libraries()
    for library in libs.values():
        library.scipy_openblas_set_num_threads(threads)
    rng = np.random.default_rng(0)
    samples = {}
    for _ in range(repeats):
        for shape, (m, n, k, ta, tb) in SHAPES.items():
            a = rng.standard_normal((k, m) if ta else (m, k)).astype(np.float32)
            b = rng.standard_normal((n, k) if tb else (k, n)).astype(np.float32)
            c = np.empty((m, n), np.float32)
            for name, library in libs.items():
                args = (ROW_MAJOR, TRANS if ta else NO_TRANS, TRANS if tb else NO_TRANS, m, n, k,
                        ctypes.c_float(1.0), a.ctypes.data_as(ctypes.c_void_p), a.shape[1],
                        b.ctypes.data_as(ctypes.c_void_p), b.shape[1], ctypes.c_float(0.0),
                        c.ctypes.data_as(ctypes.c_void_p), n)
                sgemm = library.scipy_cblas_sgemm
                sgemm(*args)
                calls = max(3, int(1e9 / (2 * m * n * k)))
                start = time.perf_counter()
                for _ in range(calls):
                    sgemm(*args)
                seconds = (time.perf_counter() - start) / calls
                samples.setdefault(shape, {}).setdefault(name, []).append(2 * m * n * k / seconds / 1e9)
    return {name: describe(lib) for name, lib in libs.items()}, {
        shape: {name: statistics.median(v) for name, v in by_lib.items()}
        for shape, by_lib in samples.items()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    described, gflops = measure(args.threads, args.repeats)
    names = list(described)
    lines = [f"{_cpu_name()}, sgemm, {args.threads} thread(s), GFLOP/s (median of "
             f"{args.repeats})", "", "| shape | " + " | ".join(names) + " |",
             "|---|" + "---:|" * len(names)]
    for shape, by_lib in gflops.items():
        lines.append(f"| {shape} | " + " | ".join(f"{by_lib[n]:.1f}" for n in names) + " |")
    text = "\n".join(lines) + "\n"
    print(text)
    for name, config in described.items():
        print(f"{name}: {config}")
    args.output.mkdir(parents=True, exist_ok=True)
    path = args.output / f"blas-{datetime.date.today().isoformat()}-{args.threads}t.json"
    path.write_text(json.dumps({"cpu": _cpu_name(), "threads": args.threads,
                                "libraries": described, "gflops": gflops}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
