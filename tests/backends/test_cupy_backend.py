"""The ``cupy`` backend (issue 6): kernels against the NumPy reference, CPU-vs-GPU agreement, the
backend switch in every form, save / load across backends, and the errors without CuPy or a GPU.

Three kinds of tests live here:

* **Everywhere** (no GPU needed): importing :mod:`mlp` never imports CuPy; asking for ``cupy``
  without CuPy, with a CuPy that fails to load, or without a GPU raises
  :class:`~mlp.backends.BackendUnavailableError` naming the cause; the backend class has the
  interface's signatures.
* **On a GPU** (``device == "cupy"``): the kernel suite of
  ``tests/kernels/test_cpu_vs_reference.py`` re-run with the cupy backend in place of ``cpu``,
  plus device-array and model-level tests. They
  skip with the reason when CuPy or a GPU is missing.
* **Emulated** (``device == "emulated"``): the same tests with a stand-in ``cupy`` module that
  compiles each ``ElementwiseKernel`` / ``ReductionKernel`` / ``RawKernel`` of the backend as
  C++ with a small CUDA shim (CUDA threads as coroutines, ``__syncthreads`` a yield) and runs
  it on the CPU. This checks the kernels' arithmetic, indexing, reductions and argument order on a
  machine without a GPU; it cannot check what only real hardware shows (NVRTC quirks, warp
  scheduling, cuBLAS, CuPy's own API). Skipped when no C++ compiler is found.

Model-level tests need the model to keep device arrays (``Sequential.predict(...,
return_device_array=True)``); they skip with that reason until the model supports it.
"""
from __future__ import annotations

import ctypes
import functools
import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import inspect
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import types
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

import numpy as np
import pytest

import mlp
from mlp import backends
from mlp.backends import ALL_BACKENDS, BackendUnavailableError, get_backend
from mlp.backends.base import ACTIVATIONS, HASH_STEP, LOSSES, Backend

HERE = Path(__file__).resolve().parents[1]  # tests/
CUPY_MODULE_PATH = Path(importlib.util.find_spec("mlp.backends.cupy").origin)
_MISSING = object()


# =========================================================================== environment
@functools.lru_cache(maxsize=None)
def gpu_status() -> Tuple[bool, str]:
    """(True, "") when CuPy imports and sees a GPU; else (False, why) for skip messages."""
    try:
        import cupy
    except Exception as error:  # ModuleNotFoundError, or CUDA libraries missing
        return False, f"CuPy is not installed or does not load ({type(error).__name__}: {error})"
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as error:
        return False, f"CuPy is installed but no CUDA GPU is visible ({error})"
    if count < 1:
        return False, "CuPy is installed but no CUDA GPU is visible (0 devices)"
    return True, ""


def compiler() -> str:
    """The C++ compiler for the emulated kernels, or "" when there is none."""
    for name in (os.environ.get("CXX", ""), "g++", "c++", "clang++"):
        if name and shutil.which(name):
            return shutil.which(name)
    return ""


@functools.lru_cache(maxsize=None)
def model_keeps_device_arrays() -> bool:
    """Whether the model supports device arrays (the model.py / engine.py part of issue 6)."""
    return "return_device_array" in inspect.signature(mlp.Sequential.predict).parameters


# =========================================================================== the C++ emulation
_SHIM = r"""
#include <cmath>
#include <math.h>
#include <cstring>
#include <cstdint>
#include <functional>
#include <vector>
#include <ucontext.h>
#define __device__
#define __forceinline__ inline
#define __global__
#define __shared__ static
struct mlp_dim3 { unsigned int x, y, z; };
static mlp_dim3 threadIdx = {0, 0, 0};
static mlp_dim3 blockIdx = {0, 0, 0};
static mlp_dim3 blockDim = {1, 1, 1};
/* CUDA threads of a block are coroutines on one OS thread: __syncthreads() hands control back to
   the scheduler, which runs every other thread of the block up to the same barrier first. */
static ucontext_t mlp_scheduler;
static ucontext_t* mlp_contexts = nullptr;
static int mlp_current = 0;
static int mlp_finished = 0;
static std::function<void()> mlp_body;
static inline void __syncthreads() { swapcontext(&mlp_contexts[mlp_current], &mlp_scheduler); }
static void mlp_entry() { mlp_body(); mlp_finished = 1; }
static void mlp_run_blocks(int grid, int block) {
    blockDim.x = block;
    std::vector<ucontext_t> contexts(block);
    std::vector<std::vector<char>> stacks(block, std::vector<char>(1 << 16));
    std::vector<char> done(block);
    mlp_contexts = contexts.data();
    for (int b = 0; b < grid; ++b) {
        blockIdx.x = b;
        for (int t = 0; t < block; ++t) {
            getcontext(&contexts[t]);
            contexts[t].uc_stack.ss_sp = stacks[t].data();
            contexts[t].uc_stack.ss_size = stacks[t].size();
            contexts[t].uc_link = &mlp_scheduler;
            makecontext(&contexts[t], mlp_entry, 0);
            done[t] = 0;
        }
        int remaining = block;
        while (remaining > 0) {
            for (int t = 0; t < block; ++t) {
                if (done[t]) continue;
                mlp_current = t;
                threadIdx.x = t;
                mlp_finished = 0;
                swapcontext(&mlp_scheduler, &contexts[t]);
                if (mlp_finished) {
                    done[t] = 1;
                    --remaining;
                }
            }
        }
    }
}
static inline double __longlong_as_double(long long v) {
    double d;
    std::memcpy(&d, &v, sizeof d);
    return d;
}
"""

_TYPE_NAMES = {"float16": "half", "float32": "float", "float64": "double", "int32": "int",
               "int64": "long long", "uint64": "unsigned long long", "bool": "bool"}
_CTYPES = {np.dtype(np.float32): ctypes.c_float, np.dtype(np.float64): ctypes.c_double,
           np.dtype(np.int32): ctypes.c_int, np.dtype(np.int64): ctypes.c_longlong,
           np.dtype(np.uint64): ctypes.c_ulonglong}
_C_SCALARS = {"float": np.dtype(np.float32), "double": np.dtype(np.float64),
              "int": np.dtype(np.int32), "long long": np.dtype(np.int64),
              "unsigned long long": np.dtype(np.uint64)}


@functools.lru_cache(maxsize=None)
def _build_dir() -> str:
    """Where compiled emulated kernels are kept between runs (keyed by their source's hash)."""
    user = os.getuid() if hasattr(os, "getuid") else 0
    path = os.environ.get("MLP_EMULATED_KERNEL_CACHE") or os.path.join(
        tempfile.gettempdir(), f"mlp-emulated-kernels-{user}")
    os.makedirs(path, exist_ok=True)
    return path


@functools.lru_cache(maxsize=None)
def _compile(source: str, symbol: str):
    """Compile ``source`` into a shared library (once per source) and return ``symbol``."""
    key = hashlib.sha1(source.encode()).hexdigest()[:20]
    library = os.path.join(_build_dir(), f"k{key}.so")
    if not os.path.exists(library):
        partial = f"{library[:-3]}.{os.getpid()}"
        with open(partial + ".cpp", "w") as handle:
            handle.write(source)
        result = subprocess.run(
            [compiler(), "-O1", "-std=c++17", "-shared", "-fPIC", "-pthread", "-w", "-o",
             partial + ".so", partial + ".cpp"], capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"emulated kernel did not compile:\n{result.stderr[-4000:]}\n"
                               f"--- source ---\n{source}")
        os.replace(partial + ".so", library)  # atomic: parallel runs never load half a file
        os.remove(partial + ".cpp")
    return getattr(ctypes.CDLL(library), symbol)


class FakeDevice:
    """``cupy.cuda.Device`` stand-in: one device, 0."""

    def __init__(self, device: Any = None):
        self.id = 0 if device is None else int(device)
        self.mem_info = (8 << 30, 16 << 30)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class FakeArray:
    """A "device" array: its values sit in host memory (``_a``), but like a CuPy array it refuses
    to turn into a NumPy array implicitly (``np.asarray``, ``numpy_array[...] = it``), mixes with
    NumPy arrays in no arithmetic, and takes NumPy arrays only through ``set`` / ``asarray``.
    Code that would fail on a real GPU for those reasons fails here too."""

    __slots__ = ("_a",)
    __array_ufunc__ = None  # NumPy operators defer to ours (``np.float64(2) * it``) or refuse

    def __init__(self, array: np.ndarray):
        assert isinstance(array, np.ndarray) and not isinstance(array, FakeArray)
        self._a = array

    # ------------------------------------------------------------ attributes
    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    nbytes = property(lambda self: self._a.nbytes)
    itemsize = property(lambda self: self._a.itemsize)
    strides = property(lambda self: self._a.strides)
    flags = property(lambda self: self._a.flags)
    T = property(lambda self: FakeArray(self._a.T))

    @property
    def device(self):
        return FakeDevice(0)

    @property
    def __cuda_array_interface__(self):  # marks it as a GPU array to duck-typing checks
        return {"shape": self.shape, "typestr": self.dtype.str, "version": 3,
                "data": (self._a.ctypes.data, False), "strides": self.strides}

    def __array__(self, *args, **kwargs):
        raise TypeError("Implicit conversion to a NumPy array is not allowed. Please use "
                        "`.get()` to construct a NumPy array explicitly.")

    def __len__(self):
        return len(self._a)

    def __repr__(self):
        return f"FakeArray({self._a!r})"

    # --------------------------------------------------------------- methods
    def get(self):
        return self._a.copy()

    def set(self, value):
        if not self.flags.c_contiguous:
            raise RuntimeError("Cannot set to non-contiguous array")
        value = np.asarray(value)
        if value.shape != self.shape or value.dtype != self.dtype:
            raise ValueError("Shape or dtype mismatch")
        self._a[...] = value

    def reshape(self, *shape):
        return FakeArray(self._a.reshape(*shape))

    def astype(self, dtype, copy=True):
        return FakeArray(self._a.astype(dtype, copy=True))

    def copy(self):
        return FakeArray(self._a.copy())

    def fill(self, value):
        self._a.fill(value)

    def sum(self, axis=None, dtype=None):
        return FakeArray(np.asarray(self._a.sum(axis=axis, dtype=dtype)))

    def item(self):
        return self._a.item()

    def __float__(self):
        return float(self._a)

    def __int__(self):
        return int(self._a)

    def __bool__(self):
        return bool(self._a)

    # -------------------------------------------------------------- indexing
    def __getitem__(self, key):
        return FakeArray(np.asarray(self._a[_index(key)]))

    def __setitem__(self, key, value):
        if isinstance(value, np.ndarray) and value.ndim > 0:
            raise ValueError("non-scalar numpy.ndarray cannot be used for fill")
        self._a[_index(key)] = value._a if isinstance(value, FakeArray) else value

    # ------------------------------------------------------------ arithmetic
    def _binary(self, other, operation):
        if isinstance(other, np.ndarray) and not isinstance(other, np.generic):
            raise TypeError(f"Unsupported type {type(other)}")
        other = other._a if isinstance(other, FakeArray) else other
        return FakeArray(np.asarray(operation(self._a, other)))

    def __add__(self, other):
        return self._binary(other, lambda a, b: a + b)

    def __radd__(self, other):
        return self._binary(other, lambda a, b: b + a)

    def __sub__(self, other):
        return self._binary(other, lambda a, b: a - b)

    def __rsub__(self, other):
        return self._binary(other, lambda a, b: b - a)

    def __mul__(self, other):
        return self._binary(other, lambda a, b: a * b)

    def __rmul__(self, other):
        return self._binary(other, lambda a, b: b * a)

    def __truediv__(self, other):
        return self._binary(other, lambda a, b: a / b)

    def __rtruediv__(self, other):
        return self._binary(other, lambda a, b: b / a)

    def __neg__(self):
        return FakeArray(-self._a)

    def __iadd__(self, other):
        self._a += other._a if isinstance(other, FakeArray) else other
        return self

    def __imul__(self, other):
        self._a *= other._a if isinstance(other, FakeArray) else other
        return self


def _index(key):
    """An index with device index arrays replaced by their values (CuPy also accepts NumPy)."""
    if isinstance(key, tuple):
        return tuple(_index(k) for k in key)
    return key._a if isinstance(key, FakeArray) else key


def _host(value, what: str) -> np.ndarray:
    """The values of a device array; a host array where a device one is needed is an error."""
    if not isinstance(value, FakeArray):
        raise TypeError(f"emulated cupy: {what} must be a device array, got {type(value)}")
    return value._a


def _require_device(value, what: str) -> None:
    _host(value, what)


def _params(spec: str) -> List[Tuple[str, str]]:
    params = []
    for piece in spec.split(","):
        words = piece.split()
        if words:
            params.append((words[-2], words[-1]))
    return params


def _is_array(value) -> bool:
    return isinstance(value, (FakeArray, np.ndarray)) and not isinstance(value, np.generic)


class FakeElementwiseKernel:
    """``cupy.ElementwiseKernel``: the body runs in a C++ loop over the broadcast elements."""

    def __init__(self, in_params, out_params, operation, name="kernel", preamble="", **kwargs):
        self.ins, self.outs = _params(in_params), _params(out_params)
        self.operation, self.name, self.preamble = operation, name, preamble

    def _source(self, t, arrays_in) -> str:
        def ctype(typ):
            return "T" if typ == "T" else _TYPE_NAMES[typ]

        params = ["long long _n"]
        loads = []
        for typ, name in self.ins:
            if arrays_in[name]:
                params.append(f"const {ctype(typ)}* _in_{name}")
                loads.append(f"const {ctype(typ)} {name} = _in_{name}[i];")
            else:
                params.append(f"{ctype(typ)} {name}")
        for typ, name in self.outs:
            params.append(f"{ctype(typ)}* _out_{name}")
            loads.append(f"{ctype(typ)}& {name} = _out_{name}[i];")
        typedef = f"typedef {_TYPE_NAMES[np.dtype(t).name]} T;\n" if t is not None else ""
        return (_SHIM + typedef + self.preamble + f"\nextern \"C\" void mlp_ew({', '.join(params)})"
                " {\n  for (long long i = 0; i < _n; ++i) {\n    " + "\n    ".join(loads)
                + "\n    {\n" + self.operation + "\n    }\n  }\n}\n")

    def __call__(self, *args, **kwargs):
        ins, outs = args[:len(self.ins)], list(args[len(self.ins):])
        t = None
        for (typ, name), value in zip(self.ins + self.outs, list(ins) + outs):
            if _is_array(value):
                _require_device(value, f"argument {name!r} of {self.name}")
                if typ == "T":
                    if t is not None and value.dtype != t:
                        raise TypeError(f"Type is mismatched. {name} {value.dtype} {t} T")
                    t = value.dtype
                elif value.dtype != np.dtype(typ):
                    raise TypeError(f"Type is mismatched. {name} {value.dtype} {typ}")
        arrays = [v for v in list(ins) + outs if _is_array(v)]
        shape = np.broadcast_shapes(*[a.shape for a in arrays])
        if not outs:
            outs = [FakeArray(np.zeros(shape, t if typ == "T" else typ)) for typ, _ in self.outs]
        arrays_in = {name: _is_array(v) for (_, name), v in zip(self.ins, ins)}
        c_args: List[Any] = [ctypes.c_longlong(int(np.prod(shape)))]
        keep = []
        for (typ, _), value in zip(self.ins, ins):
            dtype = t if typ == "T" else np.dtype(typ)
            if _is_array(value):
                buffer = np.ascontiguousarray(np.broadcast_to(value._a, shape))
                keep.append(buffer)
                c_args.append(ctypes.c_void_p(buffer.ctypes.data))
            else:
                c_args.append(_CTYPES[np.dtype(dtype)](np.dtype(dtype).type(value)))
        writeback = []
        for value in outs:
            if value.shape != shape:
                raise ValueError(f"Out shape is mismatched: {value.shape} while {shape} is "
                                 f"expected.")
            target = value._a
            buffer = target if target.flags.c_contiguous else np.ascontiguousarray(target)
            if buffer is not target:
                writeback.append((target, buffer))
            c_args.append(ctypes.c_void_p(buffer.ctypes.data))
        if int(np.prod(shape)):
            _compile(self._source(t, arrays_in), "mlp_ew")(*c_args)
        for target, buffer in writeback:
            target[...] = buffer
        return outs[0] if len(outs) == 1 else tuple(outs)


class FakeReductionKernel:
    """``cupy.ReductionKernel`` for ``sum(map_expr(x))`` into a float64 scalar."""

    def __init__(self, in_params, out_params, map_expr, reduce_expr, post_map_expr, identity,
                 name="reduce_kernel", reduce_type=None, **kwargs):
        (self.in_type, self.in_name), = _params(in_params)
        self.map_expr, self.reduce_expr, self.identity = map_expr, reduce_expr, identity

    def __call__(self, x):
        values = _host(x, "the input of a reduction")
        source = (_SHIM + f"typedef {_TYPE_NAMES[x.dtype.name]} T;\n"
                  f"extern \"C\" double mlp_reduce(long long _n, const T* _in) {{\n"
                  f"  double _acc = {self.identity};\n"
                  f"  for (long long i = 0; i < _n; ++i) {{\n"
                  f"    const T {self.in_name} = _in[i];\n"
                  f"    const double a = _acc;\n    const double b = ({self.map_expr});\n"
                  f"    _acc = {self.reduce_expr};\n  }}\n  return _acc;\n}}\n")
        function = _compile(source, "mlp_reduce")
        function.restype = ctypes.c_double
        buffer = np.ascontiguousarray(values)
        value = function(ctypes.c_longlong(buffer.size), ctypes.c_void_p(buffer.ctypes.data))
        return FakeArray(np.array(value, dtype=np.float64))


class FakeRawKernel:
    """``cupy.RawKernel``: blocks run one after another; a block's threads are coroutines."""

    def __init__(self, code: str, name: str, **kwargs):
        match = re.search(r'extern\s+"C"\s+__global__\s+void\s+' + name + r"\s*\(([^)]*)\)",
                          code, re.S)
        assert match, f"kernel {name} not found"
        self.params = []
        for piece in match.group(1).split(","):
            piece = " ".join(piece.split())
            pname = re.findall(r"\w+", piece)[-1]
            ptype = piece[:piece.rfind(pname)].strip()
            self.params.append((ptype, pname))
        names = ", ".join(p for _, p in self.params)
        self.source = (
            _SHIM + code + f"\nextern \"C\" void mlp_launch(int _grid, int _block, "
            f"{', '.join(' '.join(p) for p in self.params)}) {{\n"
            f"  mlp_body = [&]() {{ {name}({names}); }};\n"
            "  mlp_run_blocks(_grid, _block);\n  mlp_body = nullptr;\n}\n")
        self.t = re.search(r"typedef\s+(\w+)\s+T;", code).group(1)

    def __call__(self, grid, block, args):
        assert len(args) == len(self.params), "wrong number of kernel arguments"
        assert block[0] & (block[0] - 1) == 0 and 0 < block[0] <= 1024
        c_args: List[Any] = [ctypes.c_int(grid[0]), ctypes.c_int(block[0])]
        for (ptype, pname), value in zip(self.params, args):
            if "*" in ptype:
                values = _host(value, f"argument {pname!r}")
                assert values.flags.c_contiguous, f"{pname}: not C-contiguous"
                c_args.append(ctypes.c_void_p(values.ctypes.data))
                continue
            base = ptype.replace("const", "").strip()
            want = _C_SCALARS[self.t if base == "T" else base]
            got = np.asarray(value).dtype
            assert got == want, f"{pname}: {got} passed for a {ptype} parameter"
            c_args.append(_CTYPES[want](want.type(value)))
        _compile(self.source, "mlp_launch")(*c_args)


def _fake_gemm(transa, transb, a, b, out=None, alpha=1.0, beta=0.0):
    left = _host(a, "gemm a").astype(np.float64)
    right = _host(b, "gemm b").astype(np.float64)
    target = _host(out, "gemm out")
    left = left.T if transa == "T" else left
    right = right.T if transb == "T" else right
    product = alpha * (left @ right)
    if beta != 0:
        product = product + beta * target.astype(np.float64)
    target[...] = product
    return out


def make_fake_cupy() -> types.ModuleType:
    """A ``cupy`` module whose arrays live on the host and whose kernels are compiled C++."""
    fake = types.ModuleType("cupy")
    fake.__version__ = "emulated"
    fake.ndarray = FakeArray

    def asarray(x, dtype=None, order=None):
        if isinstance(x, FakeArray):
            if dtype is None or x.dtype == np.dtype(dtype):
                return x
            return x.astype(dtype)
        return FakeArray(np.array(x, dtype=dtype, order=order or "K", copy=True))

    def ascontiguousarray(x, dtype=None):
        if isinstance(x, FakeArray):
            if x.flags.c_contiguous and (dtype is None or x.dtype == np.dtype(dtype)):
                return x
            return FakeArray(np.array(x._a, dtype=dtype, order="C", copy=True))
        return FakeArray(np.array(x, dtype=dtype, order="C", copy=True))

    def asnumpy(x):
        return x._a.copy() if isinstance(x, FakeArray) else np.asarray(x)

    def copyto(dst, src):
        np.copyto(_host(dst, "copyto dst"), _host(src, "copyto src"))

    def total(a, axis=None, dtype=None, out=None):
        result = np.sum(_host(a, "sum input"), axis=axis, dtype=dtype,
                        out=None if out is None else _host(out, "sum out"))
        return out if out is not None else FakeArray(np.asarray(result))

    fake.asarray = asarray
    fake.ascontiguousarray = ascontiguousarray
    fake.asnumpy = asnumpy
    fake.empty = lambda shape, dtype=float: FakeArray(np.empty(shape, dtype))
    fake.zeros = lambda shape, dtype=float: FakeArray(np.zeros(shape, dtype))
    fake.ones = lambda shape, dtype=float: FakeArray(np.ones(shape, dtype))
    fake.copyto = copyto
    fake.sum = total
    fake.matmul = lambda a, b: FakeArray(_host(a, "matmul a") @ _host(b, "matmul b"))
    fake.ElementwiseKernel = FakeElementwiseKernel
    fake.ReductionKernel = FakeReductionKernel
    fake.RawKernel = FakeRawKernel
    fake.cublas = types.SimpleNamespace(gemm=_fake_gemm)
    fake.get_default_memory_pool = lambda: types.SimpleNamespace(free_bytes=lambda: 0)
    fake.cuda = types.SimpleNamespace(
        Device=FakeDevice,
        runtime=types.SimpleNamespace(getDeviceCount=lambda: 1),
        get_current_stream=lambda: types.SimpleNamespace(synchronize=lambda: None))
    return fake


@functools.lru_cache(maxsize=None)
def emulated_backend():
    """A CupyBackend from a private copy of ``mlp/backends/cupy.py`` bound to the fake cupy."""
    fake = make_fake_cupy()
    spec = importlib.util.spec_from_file_location("mlp.backends._cupy_emulated",
                                                  CUPY_MODULE_PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    saved = sys.modules.get("cupy", _MISSING)
    sys.modules["cupy"] = fake
    try:
        backend = module.CupyBackend()
    finally:
        if saved is _MISSING:
            sys.modules.pop("cupy", None)
        else:
            sys.modules["cupy"] = saved
    return module, backend


# =========================================================================== the kernel suite
def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@functools.lru_cache(maxsize=None)
def kernel_suite():
    """A private copy of ``tests/kernels/test_cpu_vs_reference.py`` whose ``CPU`` we replace."""
    helpers = _load("mlp_cupy_suite_helpers", HERE / "kernels" / "conftest.py")
    saved = sys.modules.get("conftest", _MISSING)
    sys.modules["conftest"] = helpers
    try:
        return _load("mlp_cupy_suite", HERE / "kernels" / "test_cpu_vs_reference.py")
    finally:
        if saved is _MISSING:
            sys.modules.pop("conftest", None)
        else:
            sys.modules["conftest"] = saved


class HostAdapter:
    """Calls a device backend with host (NumPy) arguments, as the kernel suite calls ``CPU``.

    Each NumPy argument is copied to the device once (one copy per object, so aliasing such as
    ``out=z`` is kept); after the call every writeable argument gets its device copy's values back
    (unchanged inputs stay equal; a kernel that wrongly writes an input is still caught), and
    results are returned as NumPy arrays, the caller's own object where the result is the device
    copy of an argument (so ``result is out`` holds).
    """

    def __init__(self, backend, to_device: Callable, to_host: Callable):
        self.backend, self.to_device, self.to_host = backend, to_device, to_host
        self.calls = 0  # backend methods called through the adapter

    def __getattr__(self, method):
        target = getattr(self.backend, method)
        if not callable(target):
            return target

        def call(*args, **kwargs):
            self.calls += 1
            copies: Dict[int, Tuple[np.ndarray, Any]] = {}

            def down(value):
                if isinstance(value, np.ndarray):
                    if id(value) not in copies:
                        copies[id(value)] = (value, self.to_device(value))
                    return copies[id(value)][1]
                if isinstance(value, list) and any(isinstance(v, np.ndarray) for v in value):
                    return [down(v) for v in value]
                return value

            result = target(*[down(a) for a in args], **{k: down(v) for k, v in kwargs.items()})
            for host, device in copies.values():
                if host.flags.writeable:
                    host[...] = self.to_host(device)
            owners = {id(device): host for host, device in copies.values()}

            def up(value):
                if value is None or isinstance(value, (bool, int, float)):
                    return value
                if isinstance(value, tuple):
                    return tuple(up(v) for v in value)
                if id(value) in owners:
                    return owners[id(value)]
                return self.to_host(value)

            return up(result)

        return call


class Device:
    """One way of running the cupy backend: on the GPU, or emulated on the CPU."""

    def __init__(self, kind: str):
        self.kind = kind
        if kind == "cupy":
            ok, why = gpu_status()
            if not ok:
                pytest.skip(f"cupy backend on a GPU: {why}")
            import cupy

            self.cp = cupy
            self.backend = get_backend("cupy")
            self.module = sys.modules["mlp.backends.cupy"]
        else:
            if not compiler():
                pytest.skip("emulated cupy backend: no C++ compiler (g++ / c++) found")
            self.module, self.backend = emulated_backend()
            self.cp = self.module.cp
        self.adapter = HostAdapter(self.backend, self.cp.asarray, self.cp.asnumpy)

    def suite(self):
        """The kernel suite with this backend behind its ``CPU`` name."""
        suite = kernel_suite()
        suite.CPU = self.adapter
        return suite

    def host(self, x) -> np.ndarray:
        return self.cp.asnumpy(x)

    def dev(self, x):
        return self.cp.asarray(x)


@pytest.fixture(scope="module", params=["cupy", "emulated"])
def device(request):
    return Device(request.param)


@pytest.fixture
def gpu():
    """The real cupy backend (skips with the reason without CuPy or a GPU)."""
    pytest.importorskip("cupy", reason="CuPy is not installed")
    return Device("cupy")


# =========================================================================== everywhere
def test_cupy_is_a_known_backend_name():
    assert "cupy" in ALL_BACKENDS
    with pytest.raises(ValueError, match=r"unknown backend 'tpu'.*'cupy'"):
        get_backend("tpu")


def test_importing_mlp_does_not_import_cupy():
    code = ("import sys, numpy as np, mlp\n"
            "m = mlp.Sequential([mlp.Dense(2, input_dim=3)], seed=0)\n"
            "m.predict(np.zeros((1, 3), 'float32'))\n"
            "import mlp.backends.cupy\n"
            "loaded = sorted(n for n in sys.modules if n == 'cupy' or n.startswith('cupy.'))\n"
            "print(loaded)\n")
    env = dict(os.environ)
    env.pop("MLP_BACKEND", None)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]", f"importing mlp imported {out.stdout.strip()}"


def test_backend_class_has_the_interface_signatures():
    """Checked on the class, so it runs without CuPy: every interface method, same parameters
    and defaults, nothing left abstract."""
    module = importlib.import_module("mlp.backends.cupy")
    cls = module.CupyBackend
    assert not getattr(cls, "__abstractmethods__", ())
    for name in Backend.__abstractmethods__:
        base = inspect.signature(getattr(Backend, name))
        mine = inspect.signature(getattr(cls, name))
        assert [(p.name, p.kind, p.default) for p in mine.parameters.values()] == [
            (p.name, p.kind, p.default) for p in base.parameters.values()], name


def test_kernel_constants_match_the_base_spec():
    module = importlib.import_module("mlp.backends.cupy")
    assert list(module.LOSS_CODES) == list(LOSSES)
    assert set(module.ACTIVATION_CODES) == set(ACTIVATIONS)
    source = inspect.getsource(module._dropout_kernel)
    assert "HASH_STEP" in source and HASH_STEP == 0x9E3779B97F4A7C15
    sources = importlib.import_module("mlp.backends.cuda_sources")
    assert "0xBF58476D1CE4E5B9ULL" in sources.HASH and "0x94D049BB133111EBULL" in sources.HASH
    assert "5.9604644775390625e-08" in source and 5.9604644775390625e-08 == 2.0 ** -24


@pytest.fixture
def fresh_registry(monkeypatch):
    """Forget created backends and any global default, so a cupy request really happens."""
    monkeypatch.setattr(backends, "_instances", {})
    monkeypatch.setattr(backends, "_global_default", None)
    monkeypatch.delenv("MLP_BACKEND", raising=False)
    monkeypatch.setattr(importlib.import_module("mlp.backends.cupy"), "cp", None)


def _every_request():
    """Each way a user asks for the cupy backend."""
    return {
        "get_backend": lambda: get_backend("cupy"),
        "set_backend": lambda: mlp.set_backend("cupy"),
        "use_backend": lambda: mlp.use_backend("cupy").__enter__(),
        "Sequential(backend=...)": lambda: mlp.Sequential([mlp.Dense(1, input_dim=2)],
                                                          backend="cupy"),
        "model.to": lambda: mlp.Sequential([mlp.Dense(1, input_dim=2)], seed=0,
                                           backend="cpu").to("cupy"),
    }


@pytest.mark.parametrize("request_form", list(_every_request()))
def test_without_cupy_the_error_says_cupy_is_not_installed(fresh_registry, monkeypatch,
                                                          request_form):
    monkeypatch.setitem(sys.modules, "cupy", None)  # "import cupy" now fails as if not installed
    with pytest.raises(BackendUnavailableError, match=r"CuPy is not installed.*pip install") as e:
        _every_request()[request_form]()
    assert e.value.reason == "not-installed"
    assert mlp.get_backend().name == "cpu"  # a failed switch leaves the default alone


def _fake_cupy_without_gpu(count=0, error=None):
    def device_count():
        if error is not None:
            raise error
        return count

    fake = types.ModuleType("cupy")
    fake.cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=device_count))
    return fake


class CUDARuntimeError(RuntimeError):
    """Like ``cupy_backends.cuda.api.runtime.CUDARuntimeError``."""


@pytest.mark.parametrize("request_form", list(_every_request()))
@pytest.mark.parametrize("fake", [
    _fake_cupy_without_gpu(count=0),
    _fake_cupy_without_gpu(error=CUDARuntimeError("cudaErrorNoDevice: no CUDA-capable device "
                                                  "is detected")),
], ids=["zero-devices", "runtime-error"])
def test_without_a_gpu_the_error_says_no_gpu(fresh_registry, monkeypatch, request_form, fake):
    monkeypatch.setitem(sys.modules, "cupy", fake)
    with pytest.raises(BackendUnavailableError,
                       match=r"CuPy is installed but no CUDA GPU is visible") as e:
        _every_request()[request_form]()
    assert e.value.reason == "no-gpu"
    assert "not installed" not in str(e.value)


class _BrokenCupyFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds a ``cupy`` whose import fails as when the CUDA libraries are missing."""

    def find_spec(self, name, path=None, target=None):
        if name == "cupy":
            return importlib.machinery.ModuleSpec(name, self)
        return None

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        raise ImportError("libcudart.so.12: cannot open shared object file")


def test_a_cupy_that_fails_to_load_is_named(fresh_registry, monkeypatch):
    monkeypatch.delitem(sys.modules, "cupy", raising=False)
    monkeypatch.setattr(sys, "meta_path", [_BrokenCupyFinder()] + sys.meta_path)
    with pytest.raises(BackendUnavailableError, match=r"CuPy is installed but failed to import.*"
                                                      r"libcudart") as e:
        get_backend("cupy")
    assert e.value.reason == "import-failed"


def test_environment_variable_without_cupy_names_the_cause():
    """``MLP_BACKEND=cupy`` where CuPy cannot be imported: a clear error at first use."""
    code = ("import sys; sys.modules['cupy'] = None\n"
            "import mlp\n"
            "mlp.Sequential([mlp.Dense(1, input_dim=2)])\n")
    env = dict(os.environ, MLP_BACKEND="cupy")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=False)
    assert out.returncode != 0
    assert "BackendUnavailableError" in out.stderr
    assert "CuPy is not installed" in out.stderr


def test_available_backends_lists_cupy_only_with_a_gpu(fresh_registry, monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)
    assert backends.available_backends() == ("cpu", "reference")
    monkeypatch.setitem(sys.modules, "cupy", _fake_cupy_without_gpu(count=0))
    assert "cupy" not in backends.available_backends()


def test_emulated_cupy_is_not_the_real_module():
    """The emulation never leaks into the real backend module or into ``sys.modules``."""
    if not compiler():
        pytest.skip("no C++ compiler for the emulated kernels")
    module, backend = emulated_backend()
    assert module is not sys.modules.get("mlp.backends.cupy")
    assert getattr(sys.modules.get("cupy"), "__version__", None) != "emulated"
    assert backend.name == "cupy"


# =========================================================================== the kernel suite
PROPERTY_TESTS = [
    "test_matmul",
    "test_activation_forward",
    "test_activation_backward",
    "test_dense_forward",
    "test_dense_backward",
    "test_loss",
    "test_penalty_and_its_gradient",
    "test_global_norm",
    "test_scale_and_clip",
    "test_dropout_mask_is_bit_identical",
    "test_dropout_forward_and_backward_are_bit_identical",
]
"""Hypothesis tests of the kernel suite: random shapes (batch 1, width 1, odd sizes), both dtypes,
every memory layout, every activation / loss, in-place and allocating calls."""


@pytest.mark.parametrize("test_name", PROPERTY_TESTS)
def test_kernel_suite_properties(device, test_name):
    calls = device.adapter.calls
    getattr(device.suite(), test_name)()
    assert device.adapter.calls > calls, "the suite did not run through the cupy backend"


@pytest.mark.parametrize("m, k, n", [(64, 784, 128), (300, 257, 129), (1, 784, 128),
                                     (64, 784, 1), (33, 65, 17)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matmul_fixed_shapes(device, m, k, n, dtype):
    suite = device.suite()
    device.adapter.calls = 0
    for trans_a in (False, True):
        for trans_b in (False, True):
            suite.test_matmul_fixed_shapes(m, k, n, dtype, trans_a, trans_b)
    assert device.adapter.calls >= 4, "the suite did not run through the cupy backend"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("batch, inputs, units", [(64, 784, 128), (128, 512, 10), (1, 17, 1),
                                                  (300, 257, 129)])
def test_dense_fixed_shapes(device, batch, inputs, units, dtype):
    suite = device.suite()
    calls = device.adapter.calls
    for activation in ("relu", "softmax", "gelu", "swish"):
        suite.test_dense_forward_fixed_shapes(batch, inputs, units, dtype, activation)
        suite.test_dense_backward_fixed_shapes(batch, inputs, units, dtype, activation)
    assert device.adapter.calls > calls, "the suite did not run through the cupy backend"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_activations_extreme_and_large(device, activation, dtype):
    suite = device.suite()
    calls = device.adapter.calls
    suite.test_activations_on_extreme_values(activation, dtype)
    suite.test_activations_on_large_arrays(activation, dtype)
    assert device.adapter.calls > calls, "the suite did not run through the cupy backend"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", LOSSES)
def test_losses_many_rows_and_extremes(device, name, dtype):
    suite = device.suite()
    calls = device.adapter.calls
    suite.test_loss_on_many_rows(name, dtype)
    suite.test_loss_on_extreme_values(name, dtype)
    assert device.adapter.calls > calls, "the suite did not run through the cupy backend"


def _optimizer_cases():
    suite = kernel_suite()
    return [pytest.param(kind, hyper, id=f"{kind}-{'-'.join(hyper)}")
            for kind, hyper in suite.OPTIMIZERS]


@pytest.mark.parametrize("size", [1, 17, 40001])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind, hyper", _optimizer_cases())
def test_optimizer_updates(device, kind, hyper, dtype, size):
    calls = device.adapter.calls
    device.suite().test_optimizer_update(kind, hyper, dtype, size)
    assert device.adapter.calls > calls, "the suite did not run through the cupy backend"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dropout_large_and_rate(device, dtype):
    suite = device.suite()
    calls = device.adapter.calls
    suite.test_dropout_on_a_large_array(dtype)
    suite.test_dropout_drops_about_rate()
    assert device.adapter.calls > calls, "the suite did not run through the cupy backend"


# =========================================================================== device arrays
@pytest.mark.parametrize("dtype", [None, np.float32, np.float64])
def test_array_helpers(device, dtype):
    backend, cp = device.backend, device.cp
    host = np.asfortranarray(np.arange(15, dtype=np.float64).reshape(3, 5) / 7)
    got = backend.asarray(host, dtype=dtype)
    assert isinstance(got, cp.ndarray) and got.flags.c_contiguous
    assert got.dtype == (np.float64 if dtype is None else dtype)
    np.testing.assert_array_equal(backend.to_numpy(got), host.astype(got.dtype))
    assert type(backend.to_numpy(got)) is np.ndarray
    assert backend.asarray(got) is got  # already there: no copy
    for allocate in (backend.empty, backend.zeros):
        array = allocate((4, 3), np.float32)
        assert isinstance(array, cp.ndarray) and array.shape == (4, 3)
        assert array.dtype == np.float32 and array.flags.c_contiguous
    assert not backend.to_numpy(backend.zeros((2, 5), np.float64)).any()


def test_host_buffers_are_refused_with_a_clear_error(device):
    backend = device.backend
    z = backend.asarray(np.ones((2, 3), np.float32))
    with pytest.raises(ValueError, match=r"out: expected a CuPy array .* NumPy"):
        backend.activation_forward(z, "relu", out=np.empty((2, 3), np.float32))
    with pytest.raises(ValueError, match=r"param: expected a 1-D C-contiguous CuPy array"):
        backend.sgd_update(np.ones(3, np.float32), np.ones(3, np.float32), None, lr=0.1)
    with pytest.raises(ValueError, match=r"out: required when beta"):
        backend.matmul(z, z, trans_b=True, beta=1.0)


def test_ops_return_device_arrays_and_accept_host_inputs(device):
    backend, cp = device.backend, device.cp
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 4)).astype(np.float32)
    w = rng.standard_normal((4, 3)).astype(np.float32)
    y = backend.dense_forward(x, w, None, "tanh")
    assert isinstance(y, cp.ndarray)
    np.testing.assert_allclose(device.host(y), np.tanh(x @ w), rtol=1e-5, atol=1e-6)
    value, grad = backend.loss("mean_squared_error", y, np.zeros((5, 3), np.float32))
    assert isinstance(value, float) and isinstance(grad, cp.ndarray)
    on_device, _ = backend.loss_on_device("mean_squared_error", y, np.zeros((5, 3), np.float32))
    assert isinstance(on_device, cp.ndarray) and on_device.shape == ()
    assert float(on_device) == pytest.approx(value, rel=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cpu_and_gpu_dropout_masks_are_identical(device, dtype):
    """Same (seed, step, layer) -> the same mask, bit for bit, CPU and GPU."""
    cpu = get_backend("cpu")
    for seed, step, layer in [(0, 0, 0), (12345, 1, 2), (2**63 + 5, 2**40, 7),
                              (2**64 - 1, 2**64 - 1, 1000)]:
        for rate in (0.1, 0.5, 0.9):
            expected = cpu.dropout_mask((67, 129), rate, seed, step, layer, dtype)
            got = device.host(device.backend.dropout_mask((67, 129), rate, seed, step, layer,
                                                          dtype))
            np.testing.assert_array_equal(got, expected)
    x = np.random.default_rng(1).standard_normal((64, 1000)).astype(dtype)
    np.testing.assert_array_equal(
        device.host(device.backend.dropout_forward(device.dev(x), 0.3, 7, 3, 1)),
        cpu.dropout_forward(x, 0.3, 7, 3, 1))


def test_kernels_are_compiled_once(device):
    backend, module = device.backend, device.module
    z = backend.asarray(np.ones((3, 4), np.float32))
    backend.activation_forward(z, "relu")
    backend.activation_forward(z, "elu")
    count = len(module._elementwise)
    kernel = module._elementwise["mlp_act_forward"]
    backend.activation_forward(z, "gelu")
    assert len(module._elementwise) == count and module._elementwise["mlp_act_forward"] is kernel
    backend.activation_forward(z, "softmax")
    backend.activation_forward(backend.asarray(np.ones((3, 4))), "softmax")
    raws = dict(module._raw)
    backend.activation_forward(z, "softmax")
    assert dict(module._raw) == raws


def test_loss_labels_out_of_range_never_read_out_of_bounds(device):
    """A bad class index gives NaN (validation upstream gives the user a clear error), never a
    read or write outside the rows."""
    backend = device.backend
    pred = backend.asarray(np.zeros((3, 4), np.float32))
    for name in ("categorical_crossentropy", "categorical_crossentropy_from_logits"):
        value, grad = backend.loss(name, pred, np.array([0, 4, -1]))
        assert math.isnan(value)
        assert np.isfinite(device.host(grad)).all()


# =========================================================================== models
needs_model_support = pytest.mark.skipif(
    not model_keeps_device_arrays(),
    reason="the model does not keep device arrays yet (Sequential.predict has no "
           "return_device_array; see the model.py / engine.py changes of issue 6)")


@pytest.fixture
def on_device(device, monkeypatch):
    """Make ``get_backend("cupy")`` hand out this device's backend (the emulated one too)."""
    monkeypatch.setitem(backends._instances, "cupy", device.backend)
    monkeypatch.setattr(backends, "_global_default", None)
    monkeypatch.delenv("MLP_BACKEND", raising=False)
    return device


def _data(n=96, features=6, classes=3, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, features)).astype(dtype)
    y = (x[:, :classes] + 0.1 * rng.standard_normal((n, classes))).argmax(axis=1)
    return x, y


def _model(backend, dtype="float32", seed=3, features=6, classes=3):
    model = mlp.Sequential([mlp.Dense(16, activation="relu", input_dim=features),
                            mlp.Dropout(0.25),
                            mlp.Dense(8, activation="tanh"),
                            mlp.Dense(classes, activation="softmax")],
                           seed=seed, dtype=dtype, backend=backend)
    model.compile(optimizer=mlp.Adam(1e-2), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


@needs_model_support
def test_switch_in_every_form(on_device):
    assert mlp.Sequential([mlp.Dense(1, input_dim=2)], backend="cupy").backend.name == "cupy"
    with mlp.use_backend("cupy"):
        assert mlp.Sequential([mlp.Dense(1, input_dim=2)]).backend.name == "cupy"
    assert mlp.Sequential([mlp.Dense(1, input_dim=2)]).backend.name == "cpu"
    try:
        mlp.set_backend("cupy")
        model = mlp.Sequential([mlp.Dense(1, input_dim=2)])
    finally:
        mlp.set_backend("cpu")
    assert model.backend.name == "cupy"  # the model keeps its backend
    moved = mlp.Sequential([mlp.Dense(2, input_dim=3)], seed=0, backend="cpu")
    before = moved.predict(np.ones((2, 3), np.float32))
    assert moved.to("cupy") is moved and moved.backend.name == "cupy"
    assert isinstance(moved.params, on_device.cp.ndarray)
    np.testing.assert_allclose(moved.predict(np.ones((2, 3), np.float32)), before, rtol=1e-6)
    assert [w.shape for w in moved.get_weights()] == [(3, 2), (2,)]
    assert all(type(w) is np.ndarray for w in moved.get_weights())


def test_environment_variable_selects_cupy(gpu):
    code = ("import mlp\n"
            "m = mlp.Sequential([mlp.Dense(1, input_dim=2)])\n"
            "print(mlp.get_backend().name, m.backend.name)\n")
    env = dict(os.environ, MLP_BACKEND="cupy")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["cupy", "cupy"]


@needs_model_support
@pytest.mark.parametrize("dtype, rtol", [("float64", 1e-9), ("float32", 2e-3)])
def test_cpu_and_gpu_training_agree(on_device, dtype, rtol):
    """Same seed on both backends: same dropout masks, so the same weights and history up to
    floating-point rounding (float32 tolerance for float32)."""
    x, y = _data(dtype=np.dtype(dtype))
    runs = {}
    for backend in ("cpu", "cupy"):
        model = _model(backend, dtype=dtype)
        history = model.fit(x, y, epochs=3, batch_size=16, verbose=0, shuffle=True)
        runs[backend] = (model.get_weights(), history.history, model.predict(x))
    for got, expected in zip(runs["cupy"][0], runs["cpu"][0]):
        np.testing.assert_allclose(got, expected, rtol=rtol, atol=rtol)
    for key, values in runs["cpu"][1].items():
        # an accuracy may move by a sample whose probability sits at a class boundary
        atol = 2.5 / len(x) if "accuracy" in key and dtype == "float32" else rtol
        np.testing.assert_allclose(runs["cupy"][1][key], values, rtol=rtol, atol=atol,
                                   err_msg=key)
    np.testing.assert_allclose(runs["cupy"][2], runs["cpu"][2], rtol=rtol, atol=rtol)


@needs_model_support
def test_predict_returns_numpy_unless_asked(on_device):
    x, y = _data()
    model = _model("cupy")
    model.fit(x, y, epochs=1, batch_size=32, verbose=0)
    out = model.predict(x)
    assert type(out) is np.ndarray and out.shape == (len(x), 3)
    on_gpu = model.predict(x, return_device_array=True)
    assert isinstance(on_gpu, on_device.cp.ndarray)
    np.testing.assert_array_equal(on_device.host(on_gpu), out)


@needs_model_support
def test_fit_evaluate_predict_accept_device_arrays(on_device):
    x, y = _data()
    model = _model("cupy")
    xd, yd = on_device.dev(x), on_device.dev(y)
    model.fit(xd, yd, epochs=2, batch_size=16, verbose=0, validation_data=(xd, yd))
    logs = model.evaluate(xd, yd)
    assert set(logs) == {"loss", "accuracy"} and math.isfinite(logs["loss"])
    np.testing.assert_allclose(model.predict(xd), model.predict(x), rtol=1e-6)


@needs_model_support
def test_device_arrays_on_a_cpu_model_give_a_clear_error(on_device):
    x, y = _data()
    model = _model("cpu")
    with pytest.raises((TypeError, ValueError), match=r"(?i)gpu|cupy|device"):
        model.fit(on_device.dev(x), y, epochs=1, verbose=0)
    with pytest.raises((TypeError, ValueError), match=r"(?i)gpu|cupy|device"):
        model.predict(on_device.dev(x))


@needs_model_support
@pytest.mark.parametrize("trained_on, loaded_on", [("cupy", "cpu"), ("cpu", "cupy")])
def test_save_on_one_backend_load_on_the_other(on_device, tmp_path, trained_on, loaded_on):
    x, y = _data()
    model = _model(trained_on)
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    path = tmp_path / "model.mlp"
    model.save(path)
    loaded = mlp.load_model(path, backend=loaded_on)
    assert loaded.backend.name == loaded_on
    for got, expected in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(got, expected)
    np.testing.assert_allclose(loaded.predict(x), model.predict(x), rtol=1e-5, atol=1e-6)
    # training continues from the saved optimizer state on the new backend
    loaded.fit(x, y, epochs=1, batch_size=16, verbose=0)
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    for got, expected in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_allclose(got, expected, rtol=2e-3, atol=2e-3)
