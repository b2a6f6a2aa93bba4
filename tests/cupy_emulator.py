"""The ``cupy`` backend without a GPU: a stand-in ``cupy`` module that compiles each
``ElementwiseKernel`` / ``ReductionKernel`` / ``RawKernel`` of :mod:`mlp.backends.cupy` as C++
with a small CUDA shim (CUDA threads as coroutines, ``__syncthreads`` a yield) and runs it on
the CPU, and :class:`HostAdapter`, which lets a device backend be called with NumPy arrays.

Used by ``tests/backends/test_cupy_backend.py`` and, as the ``cupy-emulated`` value of the
``backend`` fixture, by every test of ``tests/conftest.py``'s backend suite.
"""
from __future__ import annotations

import ctypes
import functools
import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import inspect
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

import mlp

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
    """``[(type, name)]`` of a CuPy parameter list, refused as CuPy refuses it: a type is one
    letter (a type placeholder such as ``T``) or a NumPy dtype name (``float64``, not
    ``double``)."""
    params = []
    for piece in spec.split(","):
        words = piece.split()
        if not words:
            continue
        if len(words) < 2 or any(w != "raw" for w in words[:-2]):
            raise ValueError(f"emulated cupy: syntax error in parameter {piece.strip()!r}")
        typ, name = words[-2], words[-1]
        if len(typ) != 1 and typ not in _TYPE_NAMES:
            raise ValueError(f"emulated cupy: wrong type {typ!r} in parameter {piece.strip()!r} "
                             f"(CuPy takes a one-letter placeholder or a NumPy dtype name)")
        params.append((typ, name))
    return params


_C_TYPE_WORDS = set(_TYPE_NAMES.values()) | {"long", "unsigned", "short", "char", "signed"}

CALLS: set = set()
"""``(kernel name, dtype name, scalar parameter names)`` of every ElementwiseKernel call the
emulator ran, for ``tests/backends/test_cuda_compile.py``'s check of its call table."""


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
        CALLS.add((self.name, None if t is None else np.dtype(t).name,
                   frozenset(name for name, is_array in arrays_in.items() if not is_array)))
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
    """``cupy.ReductionKernel`` of one input array reduced whole into one scalar output.

    The C++ follows CuPy's template where it matters for what compiles: ``reduce_type`` pasted
    verbatim into ``typedef <reduce_type> _type_reduce;`` (so a NumPy name such as ``float64`` is
    refused, as NVRTC refuses it), ``REDUCE(a, b)`` / ``POST_MAP(a)`` macros, the output bound as
    a reference of its C type; the sum runs sequentially on the host.
    """

    def __init__(self, in_params, out_params, map_expr, reduce_expr, post_map_expr, identity,
                 name="reduce_kernel", reduce_type=None, **kwargs):
        (self.in_type, self.in_name), = _params(in_params)
        (self.out_type, self.out_name), = _params(out_params)
        if len(self.out_type) == 1:
            raise NotImplementedError("emulated cupy: a reduction output of a placeholder type")
        if reduce_type is None:
            reduce_type = _TYPE_NAMES[self.out_type]
        if not set(str(reduce_type).split()) <= _C_TYPE_WORDS | {"T"}:
            raise ValueError(
                f"emulated cupy: reduce_type {reduce_type!r} is not a C type; CuPy pastes it "
                f"into 'typedef {reduce_type} _type_reduce;', which NVRTC rejects (use e.g. "
                f"'double')")
        self.map_expr, self.reduce_expr, self.identity = map_expr, reduce_expr, identity
        self.post_map_expr, self.reduce_type, self.name = post_map_expr, reduce_type, name

    def __call__(self, x):
        values = _host(x, "the input of a reduction")
        if self.in_type != "T" and x.dtype != np.dtype(self.in_type):
            raise TypeError(f"Type is mismatched. {self.in_name} {x.dtype} {self.in_type}")
        out_c = _TYPE_NAMES[self.out_type]
        source = (_SHIM + f"typedef {_TYPE_NAMES[x.dtype.name]} T;\n"
                  f"#define REDUCE(a, b) ({self.reduce_expr})\n"
                  f"#define POST_MAP(a) ({self.post_map_expr})\n"
                  f"typedef {self.reduce_type} _type_reduce;\n"
                  f"extern \"C\" void mlp_reduce(long long _n, const T* _raw_{self.in_name}, "
                  f"{out_c}* _raw_{self.out_name}) {{\n"
                  f"  _type_reduce _s = _type_reduce({self.identity});\n"
                  f"  for (long long _j = 0; _j < _n; ++_j) {{\n"
                  f"    const T {self.in_name} = _raw_{self.in_name}[_j];\n"
                  f"    _type_reduce _a = static_cast<_type_reduce>({self.map_expr});\n"
                  f"    _s = REDUCE(_s, _a);\n  }}\n"
                  f"  {out_c} &{self.out_name} = _raw_{self.out_name}[0];\n"
                  f"  POST_MAP(_s);\n}}\n")
        function = _compile(source, "mlp_reduce")
        buffer = np.ascontiguousarray(values)
        out = np.zeros((), dtype=np.dtype(self.out_type))
        function(ctypes.c_longlong(buffer.size), ctypes.c_void_p(buffer.ctypes.data),
                 ctypes.c_void_p(out.ctypes.data))
        return FakeArray(out)


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
        # the shared arrays' size: a launch with more threads per block would overrun them
        limit = re.search(r"#define\s+MLP_MAX_BLOCK\s+(\d+)", code)
        self.max_block = int(limit.group(1)) if limit else 1024

    def __call__(self, grid, block, args):
        assert len(args) == len(self.params), "wrong number of kernel arguments"
        assert block[0] & (block[0] - 1) == 0 and 0 < block[0] <= 1024
        assert block[0] <= self.max_block, (
            f"{block[0]} threads per block, but the kernel's shared arrays hold "
            f"MLP_MAX_BLOCK = {self.max_block}")
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
