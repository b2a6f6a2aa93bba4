"""Build the Cython kernels, with OpenMP when the compiler supports it.

Environment variables:
    MLP_NO_OPENMP=1     build without OpenMP (single-threaded kernels, same results).
    MLP_NATIVE=1        add -march=native (local benchmarking only; never for wheels).
"""
import os
import shutil
import subprocess
import sys
import tempfile

from Cython.Build import cythonize
from setuptools import Extension, setup

OPENMP_PROBE = r"""
#include <omp.h>
int main(void) { int n = 0;
#pragma omp parallel reduction(+:n)
n += 1;
return n > 0 ? 0 : 1; }
"""


def _compiler_supports_openmp(flag):
    compiler = os.environ.get("CC", "cc")
    if shutil.which(compiler.split()[0]) is None:
        return False
    with tempfile.TemporaryDirectory() as tmp:
        source = os.path.join(tmp, "probe.c")
        with open(source, "w") as handle:
            handle.write(OPENMP_PROBE)
        result = subprocess.run(
            compiler.split() + [flag, source, "-o", os.path.join(tmp, "probe")],
            capture_output=True,
        )
        return result.returncode == 0


def _openmp_flags():
    if os.environ.get("MLP_NO_OPENMP", "0") not in ("", "0"):
        print("mlp: building WITHOUT OpenMP (MLP_NO_OPENMP set)", file=sys.stderr)
        return [], []
    if sys.platform == "win32":
        return ["/openmp"], []
    if _compiler_supports_openmp("-fopenmp"):
        return ["-fopenmp"], ["-fopenmp"]
    print("mlp: the compiler has no OpenMP; building single-threaded kernels", file=sys.stderr)
    return [], []


def _extensions():
    compile_args, link_args = _openmp_flags()
    if sys.platform != "win32":
        compile_args += ["-O3", "-fno-math-errno", "-fno-trapping-math", "-ffp-contract=off"]
        if os.environ.get("MLP_NATIVE", "0") not in ("", "0"):
            compile_args.append("-march=native")
    kernels = Extension(
        "mlp.kernels._kernels",
        ["src/mlp/kernels/_kernels.pyx", "src/mlp/kernels/_pool.c"],
        include_dirs=["src/mlp/kernels"],
        extra_compile_args=compile_args,
        extra_link_args=link_args,
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
    )
    return cythonize(
        [kernels],
        compiler_directives={
            "language_level": 3,
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
            "initializedcheck": False,
        },
    )


setup(ext_modules=_extensions())
