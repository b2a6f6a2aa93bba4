"""Compile the ``cupy`` backend's CUDA sources with NVRTC, without a GPU.

Two parts, used by ``tests/backends/test_cuda_compile.py``:

* :class:`Nvrtc`: NVRTC through ``ctypes``, from the ``nvidia-cuda-nvrtc-cu12`` wheel (the test
  extra ``cuda-check``), a CUDA 13 wheel (``nvidia/cu13``), a CUDA toolkit on the loader's path,
  or ``$MLP_NVRTC`` (the library or its folder; ``none`` searches nowhere). NVRTC needs no GPU
  and no driver.
* CuPy's code generation for ``ElementwiseKernel`` and ``ReductionKernel``, reproduced for the
  parameter lists, bodies and options our backend gives them: CuPy builds that CUDA C only at the
  first call, on a device, so :func:`elementwise_source` / :func:`reduction_source` write the same
  text (CuPy 14's templates: the typedefs of the type map, ``CArray<type, ndim, c_contiguous,
  32-bit index>`` / ``CIndexer<ndim, 32-bit index>`` parameters, ``const`` inputs, the
  ``_raw_<name>`` references bound per element, ``reduce_type`` pasted into
  ``typedef <reduce_type> _type_reduce;``). CuPy's own headers (``<cupy/carray.cuh>`` and the
  rest) are replaced by :data:`CARRAY_STANDIN`, a small header of our own that declares the same
  class templates and members these kernels use. RawKernel sources compile as they are.

What this cannot see: CuPy's real headers, the driver's JIT, and anything that only running on a
GPU shows (``benchmarks/gpu_check.sh`` does that on a GPU machine).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import glob
import importlib.util
import os
import string
import sys
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

# =========================================================================== NVRTC
class NvrtcUnavailable(RuntimeError):
    """NVRTC could not be found or loaded (the compile tests skip with this message)."""


class CompileError(AssertionError):
    """A CUDA source did not compile; the message holds NVRTC's log and the numbered source."""


def _candidate_libraries() -> List[str]:
    found: List[str] = []
    override = os.environ.get("MLP_NVRTC", "")
    if override == "none":  # search nowhere (to test the checks without NVRTC)
        return []
    if override:
        if os.path.isdir(override):
            found += sorted(glob.glob(os.path.join(override, "libnvrtc.so*")), reverse=True)
        else:
            found.append(override)
    # the pip wheels: nvidia/cuda_nvrtc/lib (CUDA 12), nvidia/cu13/lib (CUDA 13)
    folders = []
    for module in ("nvidia.cuda_nvrtc", "nvidia.cu13", "nvidia"):
        try:
            spec = importlib.util.find_spec(module)
        except (ImportError, ValueError):
            spec = None
        if spec is not None and spec.submodule_search_locations:
            folders += list(spec.submodule_search_locations)
    for entry in sys.path:
        folders += [os.path.join(entry, "nvidia", "cuda_nvrtc"),
                    os.path.join(entry, "nvidia", "cu13")]
    for folder in folders:
        for sub in ("lib", os.path.join("cuda_nvrtc", "lib"), os.path.join("cu13", "lib")):
            pattern = os.path.join(folder, sub, "libnvrtc.so.*[0-9]")
            found += sorted(glob.glob(pattern), reverse=True)
    # a CUDA toolkit on the loader's path
    found += ["libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so"]
    name = ctypes.util.find_library("nvrtc")
    if name:
        found.append(name)
    unique = []
    for path in found:
        if "builtins" not in os.path.basename(path) and path not in unique:
            unique.append(path)
    return unique


class Nvrtc:
    """The NVRTC library: :meth:`compile` a source for one architecture."""

    def __init__(self, path: Optional[str] = None):
        errors = []
        self.lib = None
        for candidate in ([path] if path else _candidate_libraries()):
            try:
                folder = os.path.dirname(candidate)
                if folder:  # NVRTC loads its builtins library by name: load it first
                    for builtins in glob.glob(os.path.join(folder, "libnvrtc-builtins.so*")):
                        ctypes.CDLL(builtins, mode=ctypes.RTLD_GLOBAL)
                        break
                self.lib = ctypes.CDLL(candidate)
                self.path = candidate
                break
            except OSError as error:
                errors.append(f"{candidate}: {error}")
        if self.lib is None:
            raise NvrtcUnavailable(
                "NVRTC not found (pip install 'mlp-engine[cuda-check]' brings "
                "nvidia-cuda-nvrtc-cu12; or set MLP_NVRTC); tried: " + "; ".join(errors[:6]))
        lib = self.lib
        lib.nvrtcGetErrorString.restype = ctypes.c_char_p
        lib.nvrtcCreateProgram.argtypes = [
            ctypes.POINTER(ctypes.c_void_p), ctypes.c_char_p, ctypes.c_char_p, ctypes.c_int,
            ctypes.POINTER(ctypes.c_char_p), ctypes.POINTER(ctypes.c_char_p)]
        lib.nvrtcCompileProgram.argtypes = [ctypes.c_void_p, ctypes.c_int,
                                            ctypes.POINTER(ctypes.c_char_p)]
        lib.nvrtcGetProgramLogSize.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_size_t)]
        lib.nvrtcGetProgramLog.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        lib.nvrtcDestroyProgram.argtypes = [ctypes.POINTER(ctypes.c_void_p)]
        for kind in ("CUBIN", "PTX"):
            getattr(lib, f"nvrtcGet{kind}Size").argtypes = [ctypes.c_void_p,
                                                            ctypes.POINTER(ctypes.c_size_t)]
            getattr(lib, f"nvrtcGet{kind}").argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        major, minor = ctypes.c_int(), ctypes.c_int()
        self._check(lib.nvrtcVersion(ctypes.byref(major), ctypes.byref(minor)), "nvrtcVersion")
        self.version = (major.value, minor.value)

    def _check(self, result: int, what: str) -> None:
        if result != 0:
            message = self.lib.nvrtcGetErrorString(result).decode()
            raise RuntimeError(f"{what}: {message} ({result})")

    def supported_archs(self) -> List[int]:
        count = ctypes.c_int()
        self._check(self.lib.nvrtcGetNumSupportedArchs(ctypes.byref(count)), "archs")
        archs = (ctypes.c_int * count.value)()
        self._check(self.lib.nvrtcGetSupportedArchs(archs), "archs")
        return list(archs)

    def compile(self, source: str, name: str, options: Sequence[str] = (),
                headers: Optional[Dict[str, str]] = None) -> Tuple[bytes, str]:
        """Compile ``source``; return (CUBIN or PTX, log). A failure raises
        :class:`CompileError` with the log and the numbered source."""
        headers = headers or {}
        program = ctypes.c_void_p()
        contents = (ctypes.c_char_p * max(1, len(headers)))(*[v.encode() for v in headers.values()])
        names = (ctypes.c_char_p * max(1, len(headers)))(*[k.encode() for k in headers])
        self._check(self.lib.nvrtcCreateProgram(ctypes.byref(program), source.encode(),
                                                f"{name}.cu".encode(), len(headers), contents,
                                                names), "nvrtcCreateProgram")
        try:
            encoded = [o.encode() for o in options]
            array = (ctypes.c_char_p * max(1, len(encoded)))(*encoded)
            result = self.lib.nvrtcCompileProgram(program, len(encoded), array)
            size = ctypes.c_size_t()
            self.lib.nvrtcGetProgramLogSize(program, ctypes.byref(size))
            log = ctypes.create_string_buffer(size.value)
            self.lib.nvrtcGetProgramLog(program, log)
            log_text = log.value.decode(errors="replace")
            if result != 0:
                numbered = "\n".join(f"{n:4d}  {line}"
                                     for n, line in enumerate(source.splitlines(), 1))
                raise CompileError(
                    f"NVRTC {self.version[0]}.{self.version[1]} could not compile {name} "
                    f"({' '.join(options)}): "
                    f"{self.lib.nvrtcGetErrorString(result).decode()}\n--- NVRTC log ---\n"
                    f"{log_text}\n--- source ---\n{numbered}")
            kind = "CUBIN" if any(o.startswith("-arch=sm_") for o in options) else "PTX"
            self._check(getattr(self.lib, f"nvrtcGet{kind}Size")(program, ctypes.byref(size)),
                        kind)
            binary = ctypes.create_string_buffer(size.value)
            self._check(getattr(self.lib, f"nvrtcGet{kind}")(program, binary), kind)
            return binary.raw, log_text
        finally:
            self.lib.nvrtcDestroyProgram(ctypes.byref(program))


# =========================================================================== CuPy's templates
CUPY_HEADER = ("#include <cupy/complex.cuh>\n#include <cupy/carray.cuh>\n"
               "#include <cupy/atomics.cuh>\n#include <cupy/math_constants.h>\n")
"""The includes CuPy puts in front of every ElementwiseKernel / ReductionKernel source."""

CARRAY_STANDIN = r"""
// Stand-in for <cupy/carray.cuh>, written for mlp's compile check: the class templates and
// members that ElementwiseKernel / ReductionKernel code uses, with CuPy's signatures.
#pragma once
typedef decltype((char*)0 - (char*)0) ptrdiff_t;
typedef decltype(sizeof(int)) size_t;

template <bool B, class T, class F> struct mlp_conditional { typedef T type; };
template <class T, class F> struct mlp_conditional<false, T, F> { typedef F type; };

#define CUPY_FOR(i, n) \
    for (ptrdiff_t i = static_cast<ptrdiff_t>(blockIdx.x) * blockDim.x + threadIdx.x; \
         i < (n); i += static_cast<ptrdiff_t>(blockDim.x) * gridDim.x)

template <typename T, int _ndim, bool _c_contiguous = false, bool _use_32bit_indexing = false>
class CArray {
public:
    static const int ndim = _ndim;
    typedef typename mlp_conditional<_use_32bit_indexing, int, ptrdiff_t>::type index_t;
private:
    T* data_;
    ptrdiff_t size_;
    ptrdiff_t shape_[_ndim];
    ptrdiff_t strides_[_ndim];
public:
    __device__ ptrdiff_t size() const { return size_; }
    __device__ const ptrdiff_t* shape() const { return shape_; }
    __device__ const ptrdiff_t* strides() const { return strides_; }
    template <typename Int>
    __device__ T& operator[](const Int (&idx)[_ndim]) {
        return const_cast<T&>(const_cast<const CArray&>(*this)[idx]);
    }
    template <typename Int>
    __device__ const T& operator[](const Int (&idx)[_ndim]) const {
        index_t offset = 0;
        for (int dim = 0; dim < _ndim; ++dim)
            offset += static_cast<index_t>(strides_[dim]) * static_cast<index_t>(idx[dim]);
        return *reinterpret_cast<const T*>(reinterpret_cast<const char*>(data_) + offset);
    }
    __device__ T& operator[](ptrdiff_t i) {
        return const_cast<T&>(const_cast<const CArray&>(*this)[i]);
    }
    __device__ const T& operator[](ptrdiff_t i) const {
        if (_c_contiguous) return data_[static_cast<index_t>(i)];
        index_t offset = 0;
        for (int dim = _ndim; --dim > 0; ) {
            const index_t extent = static_cast<index_t>(shape_[dim]);
            offset += static_cast<index_t>(strides_[dim]) * (static_cast<index_t>(i) % extent);
            i /= extent;
        }
        offset += static_cast<index_t>(strides_[0]) * static_cast<index_t>(i);
        return *reinterpret_cast<const T*>(reinterpret_cast<const char*>(data_) + offset);
    }
};

template <typename T, bool _use_32bit_indexing>
class CArray<T, 0, true, _use_32bit_indexing> {
public:
    static const int ndim = 0;
private:
    T* data_;
    ptrdiff_t size_;
public:
    __device__ ptrdiff_t size() const { return size_; }
    template <typename U> __device__ T& operator[](const U&) { return *data_; }
    template <typename U> __device__ T operator[](const U&) const { return *data_; }
};

template <int _ndim, bool _use_32bit_indexing = false>
class CIndexer {
public:
    static const int ndim = _ndim;
private:
    ptrdiff_t size_;
    ptrdiff_t shape_[_ndim];
    ptrdiff_t index_[_ndim];
    template <typename I> __device__ void _set(I i) {
        for (int dim = _ndim; --dim > 0; ) {
            const I extent = static_cast<I>(shape_[dim]);
            index_[dim] = i % extent;
            i /= extent;
        }
        index_[0] = i;
    }
public:
    __device__ ptrdiff_t size() const { return size_; }
    __device__ const ptrdiff_t (&get() const)[_ndim] { return index_; }
    __device__ void set(ptrdiff_t i) {
        if (_ndim == 1) index_[0] = i;
        else if (!_use_32bit_indexing && size_ > (1LL << 31))
            _set(static_cast<unsigned long long>(i));
        else _set(static_cast<unsigned int>(i));
    }
};

template <bool _use_32bit_indexing>
class CIndexer<0, _use_32bit_indexing> {
public:
    static const int ndim = 0;
private:
    ptrdiff_t size_;
public:
    __device__ ptrdiff_t size() const { return size_; }
    __device__ void set(ptrdiff_t) {}
    __device__ const ptrdiff_t* get() const { return 0; }
};
"""

HEADERS = {
    "cupy/carray.cuh": CARRAY_STANDIN,
    "cupy/complex.cuh": "#pragma once\n// stand-in: mlp's kernels use no complex numbers\n",
    "cupy/atomics.cuh": "#pragma once\n// stand-in: mlp's kernels use no CuPy atomics\n",
    "cupy/math_constants.h": "#pragma once\n// stand-in: mlp's kernels use no CuPy constants\n",
}
"""In-memory headers for the generated sources (the names CuPy's sources include)."""

CUPY_OPTIONS = ("--std=c++14",)
"""The options CuPy adds to every NVRTC compilation (besides include paths)."""

_TYPENAMES = {"float16": "float16", "float32": "float", "float64": "double", "int8": "signed char",
              "int16": "short", "int32": "int", "int64": "long long", "uint8": "unsigned char",
              "uint16": "unsigned short", "uint32": "unsigned int",
              "uint64": "unsigned long long", "bool": "bool"}


def typename(dtype) -> str:
    """CuPy's ``get_typename``: the C type of a dtype."""
    return _TYPENAMES[np.dtype(dtype).name]


@dataclass
class Param:
    """CuPy's ``ParameterInfo``: ``[raw] type name``; ``ctype`` is the placeholder or C type."""

    name: str
    ctype: str
    dtype: Optional[np.dtype]
    raw: bool
    is_const: bool


def parse_params(spec: str, is_const: bool) -> List[Param]:
    params = []
    for piece in spec.split(","):
        words = piece.split()
        if not words:
            continue
        if len(words) < 2:
            raise ValueError(f"Syntax error: {piece}")
        typ, name = words[-2:]
        raw = False
        for word in words[:-2]:
            if word == "raw":
                raw = True
            elif word == "_non_const":
                is_const = False
            else:
                raise ValueError(f'Unknown keyword "{word}"')
        if len(typ) == 1:
            params.append(Param(name, typ, None, raw, is_const))
        else:
            dtype = np.dtype(typ)
            if dtype.name != typ:
                raise ValueError(f"Wrong type {typ}")
            params.append(Param(name, typename(dtype), dtype, raw, is_const))
    return params


@dataclass(frozen=True)
class ArrayArg:
    """An ndarray argument as CuPy sees it after broadcasting and ``reduce_dims``."""

    ndim: int
    c_contiguous: bool
    index_32_bits: bool


def _bind(params: List[Param], args, t_dtype) -> Tuple[List[str], List[str]]:
    """Kernel parameter declarations and the per-element bindings of CuPy's ElementwiseKernel."""
    declarations, bindings = [], []
    for param, arg in zip(params, args):
        dtype = param.dtype if param.dtype is not None else np.dtype(t_dtype)
        const = "const " if param.is_const else ""
        if isinstance(arg, ArrayArg):
            ctype = (f"CArray<{typename(dtype)}, {arg.ndim}, {int(arg.c_contiguous)}, "
                     f"{int(arg.index_32_bits)}>")
            var = param.name if param.raw else "_raw_" + param.name
            declarations.append(f"{const}{ctype} {var}")
            if not param.raw:
                bindings.append((f"const {param.ctype} &{param.name}" if param.is_const
                                 else f"{param.ctype} &{param.name}")
                                + f" = _raw_{param.name}[_ind.get()];")
        else:  # a scalar, passed by value
            declarations.append(f"{const}{typename(dtype)} {param.name}")
    return declarations, bindings


def elementwise_source(in_params: str, out_params: str, operation: str, name: str,
                       preamble: str, t_dtype, scalars: Sequence[str], ndim: int = 1,
                       index_32_bits: bool = True,
                       non_contiguous: Sequence[str] = ()) -> str:
    """The CUDA C of ``cupy.ElementwiseKernel(in_params, out_params, operation, name,
    preamble=preamble)`` called with ``T`` bound to ``t_dtype``, the inputs named in ``scalars``
    passed as scalars and the other arguments as arrays of ``ndim`` dimensions (after CuPy's
    ``reduce_dims``), C-contiguous except those in ``non_contiguous``."""
    ins, outs = parse_params(in_params, True), parse_params(out_params, False)
    unknown = set(scalars) - {p.name for p in ins}
    if unknown:
        raise ValueError(f"{name}: no input parameter {sorted(unknown)}")
    args = [None if p.name in scalars else
            ArrayArg(ndim, p.name not in non_contiguous, index_32_bits) for p in ins + outs]
    declarations, bindings = _bind(ins + outs, args, t_dtype)
    declarations.append(f"CIndexer<{ndim}, {int(index_32_bits)}> _ind")
    placeholders = sorted({p.ctype for p in ins + outs if p.dtype is None})
    typedefs = "".join(f"typedef {typename(t_dtype)} {c};\n" for c in placeholders)
    body = "\n".join(bindings + [operation])
    return CUPY_HEADER + string.Template('''
    ${typedef_preamble}
    ${preamble}
    extern "C" __global__ void ${name}(${params}) {
      ${loop_prep};
      #pragma unroll 1
      CUPY_FOR(i, _ind.size()) {
        _ind.set(i);
        ${operation};
      }
      ${after_loop};
    }
    ''').substitute(typedef_preamble=typedefs, preamble=preamble, name=name,
                    params=", ".join(declarations), operation=body, loop_prep="",
                    after_loop="")


def reduction_source(in_params: str, out_params: str, map_expr: str, reduce_expr: str,
                     post_map_expr: str, identity: str, name: str, reduce_type: Optional[str],
                     preamble: str, t_dtype, in_ndim: int = 1, index_64_bits: bool = False,
                     block_size: int = 512) -> str:
    """The CUDA C of ``cupy.ReductionKernel(...)`` reducing one ``in_ndim``-dimensional array
    (``T`` bound to ``t_dtype``) whole into a 0-d output, as CuPy 14 writes it; ``IndexT`` is
    64-bit when more than 2**31 - 1 elements go into one output."""
    ins, outs = parse_params(in_params, True), parse_params(out_params, False)
    if reduce_type is None:
        reduce_type = outs[0].ctype
    params = ins + outs
    args = [ArrayArg(in_ndim, True, not index_64_bits) for _ in ins] + \
           [ArrayArg(0, True, True) for _ in outs]
    declarations, _ = _bind(params, args, t_dtype)
    declarations += [f"CIndexer<{in_ndim}, {int(not index_64_bits)}> _in_ind",
                     "CIndexer<0, 1> _out_ind", "const int _block_stride"]
    placeholders = sorted({p.ctype for p in params if p.dtype is None})
    typedefs = "".join(f"typedef {typename(t_dtype)} {c};\n" for c in placeholders)
    typedefs += f"typedef {'long long' if index_64_bits else 'int'} IndexT;\n"
    input_expr = "\n".join(f"const {p.ctype} {p.name} = _raw_{p.name}[_in_ind.get()];"
                           for p in ins if not p.raw)
    output_expr = "\n".join(f"{p.ctype} &{p.name} = _raw_{p.name}[_out_ind.get()];"
                            for p in outs if not p.raw)
    return CUPY_HEADER + string.Template('''
${type_preamble}
${preamble}
#define REDUCE(a, b) (${reduce_expr})
#define POST_MAP(a) (${post_map_expr})
#define _REDUCE(_offset) if (_tid < _offset) { \\
  _type_reduce _a = _sdata[_tid], _b = _sdata[(_tid + _offset)]; \\
  _sdata[_tid] = REDUCE(_a, _b); \\
}

typedef ${reduce_type} _type_reduce;
extern "C" __global__ void ${name}(${params}) {
  __shared__ char _sdata_raw[${block_size} * sizeof(_type_reduce)];
  _type_reduce *_sdata = reinterpret_cast<_type_reduce*>(_sdata_raw);
  unsigned int _tid = threadIdx.x;

  IndexT _J_offset = _tid >> __popc(_block_stride - 1);
  ptrdiff_t _j_offset = (ptrdiff_t)_J_offset * _out_ind.size();
  IndexT _J_stride = ${block_size} >> __popc(_block_stride - 1);
  ptrdiff_t _j_stride = (ptrdiff_t)_J_stride * _out_ind.size();

  for (ptrdiff_t _i_base = (ptrdiff_t)blockIdx.x * _block_stride;
       _i_base < _out_ind.size();
       _i_base += (ptrdiff_t)gridDim.x * _block_stride) {
    _type_reduce _s = _type_reduce(${identity});
    ptrdiff_t _i = _i_base + (_tid & (_block_stride - 1));
    IndexT _J = _J_offset;
    for (ptrdiff_t _j = _i + _j_offset; _j < _in_ind.size();
         _j += _j_stride, _J += _J_stride) {
      _in_ind.set(_j);
      ${input_expr}
      _type_reduce _a = static_cast<_type_reduce>(${pre_map_expr});
      _s = REDUCE(_s, _a);
    }
    _sdata[_tid] = _s;
    __syncthreads();
    for (unsigned int _block = ${block_size} / 2;
         _block >= _block_stride; _block >>= 1) {
      if (_tid < _block) {
        _REDUCE(_block);
      }
      __syncthreads();
    }
    if (_tid < _block_stride) {
      _s = _sdata[_tid];
    }
    if (_tid < _block_stride && _i < _out_ind.size()) {
      _out_ind.set(static_cast<ptrdiff_t>(_i));
      ${output_expr}
      POST_MAP(_s);
    }
  }
}''').substitute(type_preamble=typedefs, preamble=preamble, reduce_expr=reduce_expr,
                 post_map_expr=post_map_expr, reduce_type=reduce_type, name=name,
                 params=", ".join(declarations), block_size=block_size, identity=identity,
                 input_expr=input_expr, pre_map_expr=map_expr, output_expr=output_expr)
