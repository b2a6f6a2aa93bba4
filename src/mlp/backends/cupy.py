"""The CuPy backend: the numbers live in GPU memory; GEMMs go to cuBLAS, the rest to fused kernels.

Around each GEMM (``cupy.cublas.gemm``, which honours ``trans_*``, ``alpha``, ``beta`` and writes
into a C-contiguous ``out`` without a copy) a few custom kernels do the rest in one pass each:

* ``bias + activation`` after the forward GEMM (one ``ElementwiseKernel``; softmax adds one
  row kernel, a thread block per row with the maximum subtracted);
* the activation derivative before the backward GEMMs (one ``ElementwiseKernel`` or the softmax
  row kernel), then ``db = dz.sum(0)`` (one CuPy reduction);
* every loss with its gradient (one ``RawKernel``: a block per row writes the gradient and the
  weighted per-row loss; a deterministic CuPy sum then gives the value);
* each optimizer update over the whole flat parameter buffer (one ``ElementwiseKernel`` per
  optimizer variant, exactly the formulas of :mod:`mlp.backends.base`);
* dropout from the same counter-based hash as the CPU: the 64-bit stream key is computed on the
  host by :func:`~mlp.backends.base.dropout_stream_key`, each element ``k`` takes
  ``mix64(key + k * HASH_STEP)`` with unsigned 64-bit wraparound, so CPU and GPU masks are
  bit-identical for one seed.

A training step launches a small, fixed number of kernels and synchronises only where the
interface asks for a Python float (the loss value, ``penalty``, ``global_norm``). Beyond the
interface, :meth:`CupyBackend.loss_on_device` and :meth:`CupyBackend.penalty_on_device` return
those values as 0-d device arrays (for an engine that reads the loss once per epoch),
:meth:`CupyBackend.fits_in_memory` tells whether a data set fits on the GPU, and
:meth:`CupyBackend.synchronize` waits for the GPU (for timing).

CuPy is imported when the backend is first created, never when :mod:`mlp` is imported; a missing
CuPy, a CuPy that fails to load and a machine without a visible GPU each give a
:class:`~mlp.backends.BackendUnavailableError` that says which. Kernels are compiled once per
dtype on first use (CuPy also keeps the binaries in its on-disk cache) and held in module-level
caches.

Arrays
------
Operations accept CuPy arrays on the backend's GPU, and, for convenience, host (NumPy) inputs,
which they copy to the GPU. Buffers written in place (``out=``, ``grad=``, optimizer state,
``scale_`` / ``clip_``) must be CuPy arrays on that GPU: a NumPy buffer, or an array on another
GPU, is a clear ``ValueError``.
"""
from __future__ import annotations

import math
from typing import Any, Dict, Optional, Sequence, Tuple

import numpy as np

from . import BackendUnavailableError
from .codes import ACTIVATION_CODES, LOSS_CODES
from . import checks
from .cuda_sources import BLOCK_REDUCE, HASH, LOSS_SOURCE, MATH, NORM_SOURCE, SOFTMAX_SOURCE
from .base import (
    ACTIVATIONS_NEEDING_PREACTIVATION,
    HASH_STEP,
    LOSSES,
    PROBABILITY_EPSILON,
    Backend,
    dropout_stream_key,
    resolve_activation,
    resolve_alpha,
)

INSTALL_HINT = ("pip install 'mlp-engine[cuda12]' (CUDA 12 driver) or 'mlp-engine[cuda13]' "
                "(CUDA 13); or install the cupy-cuda12x / cupy-cuda13x wheel that matches your "
                "driver")

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))

cp: Any = None
"""The ``cupy`` module, bound by :func:`load_cupy` once CuPy imported and a GPU was found."""

MAX_BLOCK = 256
"""Threads per block of the row kernels (softmax, losses), at most: a power of two, 32 to 1024.
Their shared arrays are sized from it (``#define MLP_MAX_BLOCK``, :func:`raw_source`)."""


def _check_max_block(value: int) -> int:
    """``value`` if it is a valid :data:`MAX_BLOCK`, else a ValueError (the CUDA sources refuse
    the same values with ``#error``)."""
    if not isinstance(value, int) or value < 32 or value > 1024 or value & (value - 1):
        raise ValueError(f"MAX_BLOCK: expected a power of two between 32 and 1024, got {value!r}")
    return value


_check_max_block(MAX_BLOCK)


# =========================================================================== loading CuPy
def load_cupy():
    """Import CuPy and check that a CUDA GPU is visible; return the ``cupy`` module.

    Raises
    ------
    BackendUnavailableError
        With ``reason`` ``"not-installed"`` (no ``cupy`` module), ``"import-failed"`` (CuPy is
        there but does not load, e.g. no CUDA libraries) or ``"no-gpu"`` (CuPy loads but the
        CUDA runtime reports no device, or no usable driver).
    """
    global cp
    try:
        import cupy
    except ModuleNotFoundError as error:
        if error.name not in (None, "cupy") and not str(error.name).startswith("cupy"):
            raise BackendUnavailableError(
                f"backend 'cupy': CuPy is installed but failed to import ({error}); "
                f"reinstall it: {INSTALL_HINT}", reason="import-failed") from error
        raise BackendUnavailableError(
            f"backend 'cupy': CuPy is not installed ({INSTALL_HINT})",
            reason="not-installed") from error
    except Exception as error:  # ImportError from missing CUDA libraries, and the like
        raise BackendUnavailableError(
            f"backend 'cupy': CuPy is installed but failed to import ({type(error).__name__}: "
            f"{error}); check that the CuPy wheel matches the CUDA version of the driver "
            f"({INSTALL_HINT})", reason="import-failed") from error
    try:
        count = int(cupy.cuda.runtime.getDeviceCount())
    except Exception as error:  # CUDARuntimeError: no driver, no device, driver too old
        raise BackendUnavailableError(
            f"backend 'cupy': CuPy is installed but no CUDA GPU is visible "
            f"({type(error).__name__}: {error}); check the NVIDIA driver (nvidia-smi) and "
            f"CUDA_VISIBLE_DEVICES", reason="no-gpu") from error
    if count < 1:
        raise BackendUnavailableError(
            "backend 'cupy': CuPy is installed but no CUDA GPU is visible (the CUDA runtime "
            "reports 0 devices); check the NVIDIA driver (nvidia-smi) and CUDA_VISIBLE_DEVICES",
            reason="no-gpu")
    cp = cupy
    return cupy


_C_TYPES = {np.dtype(np.float32): "float", np.dtype(np.float64): "double"}
"""The C type of each float dtype. CuPy pastes C types (``reduce_type``, RawKernel typedefs)
into the source verbatim, where a NumPy name such as ``float64`` does not compile."""

RAW_KERNELS = {"mlp_softmax_rows": SOFTMAX_SOURCE, "mlp_softmax_grad_rows": SOFTMAX_SOURCE,
               "mlp_loss_rows": LOSS_SOURCE, "mlp_batchnorm_forward": NORM_SOURCE,
               "mlp_norm_grads": NORM_SOURCE, "mlp_layernorm_forward": NORM_SOURCE,
               "mlp_layernorm_dx": NORM_SOURCE}
"""Every RawKernel of the backend: its name and the source that holds it."""


# =========================================================================== kernel caches
_elementwise: Dict[str, Any] = {}
"""``ElementwiseKernel`` / ``ReductionKernel`` objects by name (each compiles once per dtype)."""
_raw: Dict[Tuple[str, np.dtype], Any] = {}
"""``RawKernel`` objects by (name, dtype)."""


def _ew(name: str, in_params: str, out_params: str, body: str, preamble: str = MATH):
    """The ElementwiseKernel ``name``, created on first use."""
    kernel = _elementwise.get(name)
    if kernel is None:
        kernel = cp.ElementwiseKernel(in_params, out_params, body, name, preamble=preamble)
        _elementwise[name] = kernel
    return kernel


def _reduction(name: str, map_expr: str):
    """A ``sum(map_expr(x))`` ReductionKernel accumulating in double, created on first use.

    ``reduce_type`` is C (CuPy writes ``typedef <reduce_type> _type_reduce;``); the parameter
    types are NumPy names, which CuPy translates.
    """
    kernel = _elementwise.get(name)
    if kernel is None:
        kernel = cp.ReductionKernel("T x", "float64 y", map_expr, "a + b", "y = a", "0", name,
                                    reduce_type=_C_TYPES[np.dtype(np.float64)])
        _elementwise[name] = kernel
    return kernel


def _sum_abs_kernel():
    return _reduction("mlp_sum_abs", "fabs((double)x)")


def _sum_sq_kernel():
    return _reduction("mlp_sum_sq", "(double)x * (double)x")


def raw_source(name: str, dtype: Any) -> str:
    """The CUDA C source that the RawKernel ``name`` is compiled from for ``dtype``."""
    return (f"typedef {_C_TYPES[np.dtype(dtype)]} T;\n#define MLP_MAX_BLOCK {MAX_BLOCK}\n"
            + MATH + BLOCK_REDUCE + RAW_KERNELS[name])


def _raw_kernel(name: str, dtype: np.dtype):
    """The RawKernel ``name`` compiled for ``dtype`` (as the typedef ``T``)."""
    key = (name, np.dtype(dtype))
    kernel = _raw.get(key)
    if kernel is None:
        kernel = cp.RawKernel(raw_source(name, dtype), name)
        _raw[key] = kernel
    return kernel


def _bias_act_kernel(with_bias: bool, with_preact: bool):
    """``y = f(z [+ b])`` and optionally ``pre = z [+ b]``; ``b`` broadcasts along rows."""
    name = f"mlp_act_forward{'_bias' if with_bias else ''}{'_pre' if with_preact else ''}"
    in_params = "T z" + (", T b" if with_bias else "") + ", float64 alpha, int32 act"
    out_params = "T y" + (", T pre" if with_preact else "")
    body = ("const T v = z" + (" + b" if with_bias else "") + ";\n"
            + ("pre = v;\n" if with_preact else "")
            + "y = mlp_act(v, act, (T)alpha);")
    return _ew(name, in_params, out_params, body)


def _act_grad_kernel():
    return _ew("mlp_act_backward", "T dy, T y, T z, float64 alpha, int32 act", "T dz",
               "dz = mlp_act_grad(dy, y, z, act, (T)alpha);")


def _dropout_kernel():
    return _ew("mlp_dropout", "T x, uint64 key, float64 rate, T keep", "T y",
               f"""
               const unsigned long long bits =
                   mlp_mix64(key + (unsigned long long)i * {HASH_STEP:#x}ULL);
               const double u = (double)(bits >> 40) * 5.9604644775390625e-08;
               const T mask = u >= rate ? keep : (T)0;
               y = x * mask;
               """, preamble=HASH)


def _sgd_kernel(momentum: bool):
    if not momentum:
        return _ew("mlp_sgd", "T grad, T lr, T wd", "T param",
                   "const T g = grad + wd * param;\n"
                   "param = param - lr * g;")
    return _ew("mlp_sgd_momentum", "T grad, T lr, T wd, T mu, int32 nesterov",
               "T param, T velocity",
               "const T g = grad + wd * param;\n"
               "const T v = mu * velocity + g;\n"
               "velocity = v;\n"
               "const T d = nesterov ? g + mu * v : v;\n"
               "param = param - lr * d;")


def _adam_kernel(amsgrad: bool):
    name = "mlp_adam_amsgrad" if amsgrad else "mlp_adam"
    out_params = "T param, T m1, T m2" + (", T m2max" if amsgrad else "")
    second = ("const T s = (m2max > vv || m2max != m2max) ? m2max : vv;\n"
              "m2max = s;\n") if amsgrad else "const T s = vv;\n"
    return _ew(name,
               "T grad, T lr, T wd, T decay, T b1, T omb1, T b2, T omb2, T bc1, T bc2, T eps, "
               "int32 decoupled",
               out_params,
               "T p = param;\n"
               "T g;\n"
               "if (decoupled) { p = p * decay; g = grad; } else { g = grad + wd * p; }\n"
               "const T mm = b1 * m1 + omb1 * g;\n"
               "m1 = mm;\n"
               "const T vv = b2 * m2 + omb2 * g * g;\n"
               "m2 = vv;\n"
               + second +
               "param = p - lr * (mm / bc1) / (mlp_sqrt(s / bc2) + eps);")


def _rmsprop_kernel(momentum: bool, centered: bool):
    name = f"mlp_rmsprop{'_momentum' if momentum else ''}{'_centered' if centered else ''}"
    out_params = ("T param, T ms" + (", T mg" if centered else "")
                  + (", T vel" if momentum else ""))
    body = ("const T g = grad + wd * param;\n"
            "const T s2 = rho * ms + omr * g * g;\n"
            "ms = s2;\n")
    if centered:
        body += ("const T a = rho * mg + omr * g;\n"
                 "mg = a;\n"
                 "const T var = s2 - a * a;\n"
                 "const T denom = mlp_sqrt(var < (T)0 ? (T)0 : var) + eps;\n")
    else:
        body += "const T denom = mlp_sqrt(s2) + eps;\n"
    if momentum:
        body += ("const T u = mu * vel + g / denom;\n"
                 "vel = u;\n"
                 "param = param - lr * u;")
    else:
        body += "param = param - lr * g / denom;"
    return _ew(name, "T grad, T lr, T wd, T rho, T omr, T eps, T mu", out_params, body)


def _adagrad_kernel():
    return _ew("mlp_adagrad", "T grad, T lr, T wd, T eps", "T param, T acc",
               "const T g = grad + wd * param;\n"
               "const T a = acc + g * g;\n"
               "acc = a;\n"
               "param = param - lr * g / (mlp_sqrt(a) + eps);")


def _penalty_grad_kernel():
    return _ew("mlp_penalty_grad", "T param, T l1, T l2x2", "T grad",
               "grad = grad + (l1 * mlp_sign(param) + l2x2 * param);")


def _scale_kernel():
    return _ew("mlp_scale", "T factor", "T x", "x = x * factor;")


def _clip_kernel():
    return _ew("mlp_clip", "T limit", "T x",
               "const T lo = -limit;\n"
               "x = x < lo ? lo : (x > limit ? limit : x);")


def every_kernel() -> Dict[str, Any]:
    """Create every kernel the backend can launch, each variant once, and return them by name
    (RawKernels as ``name[float32]`` / ``name[float64]``). For compile checks: with CuPy's own
    classes this compiles nothing yet (CuPy compiles at the first call)."""
    for with_bias in (False, True):
        for with_preact in (False, True):
            _bias_act_kernel(with_bias, with_preact)
    _act_grad_kernel()
    _dropout_kernel()
    for flag in (False, True):
        _sgd_kernel(flag)
        _adam_kernel(flag)
        for centered in (False, True):
            _rmsprop_kernel(flag, centered)
    _adagrad_kernel()
    _penalty_grad_kernel()
    _scale_kernel()
    _clip_kernel()
    _sum_abs_kernel()
    _sum_sq_kernel()
    kernels = dict(_elementwise)
    for name in RAW_KERNELS:
        for dtype in FLOAT_DTYPES:
            kernels[f"{name}[{dtype.name}]"] = _raw_kernel(name, dtype)
    return kernels


def _block_for(cols: int) -> int:
    """Threads per row block: the smallest power of two >= cols, between 32 and MAX_BLOCK."""
    block = 32
    while block < cols and block < MAX_BLOCK:
        block *= 2
    return block


# =========================================================================== helpers
def _empty_row_loss(name: str, with_labels: bool) -> float:
    """The per-row loss of a row with no outputs, as the reference backend computes it: a mean
    over no values is NaN, a sum over none 0; a class index never fits in no classes."""
    if name in ("categorical_crossentropy", "categorical_crossentropy_from_logits"):
        return math.nan if with_labels else 0.0
    return math.nan


def _dtype_of(x) -> np.dtype:
    dtype = np.dtype(x.dtype) if hasattr(x, "dtype") else np.asarray(x).dtype
    return dtype if dtype in FLOAT_DTYPES else np.dtype(np.float64)


def _extent(x) -> Tuple[int, int]:
    """The device byte range ``[start, stop)`` that array ``x`` spans (empty: ``(0, 0)``)."""
    if x.size == 0:
        return 0, 0
    start = stop = int(x.__cuda_array_interface__["data"][0])
    for extent, stride in zip(x.shape, x.strides):
        if stride >= 0:
            stop += (extent - 1) * stride
        else:
            start += (extent - 1) * stride
    return start, stop + x.itemsize


def _overlap(a, b) -> bool:
    """Whether the device memory of arrays ``a`` and ``b`` may overlap (same bytes)."""
    a_start, a_stop = _extent(a)
    b_start, b_stop = _extent(b)
    return a_start < b_stop and b_start < a_stop


def _describe(x) -> str:
    if isinstance(x, np.ndarray):
        return f"a NumPy (host) array {x.dtype.name} {x.shape}"
    if cp is not None and isinstance(x, cp.ndarray):
        return (f"a CuPy array {x.dtype.name} {x.shape} on GPU {x.device.id} "
                f"(C-contiguous: {x.flags.c_contiguous})")
    return type(x).__name__


class CupyBackend(Backend):
    """CuPy kernels on the GPU: cuBLAS GEMMs plus fused elementwise / row kernels.

    Parameters
    ----------
    device : int, optional
        The CUDA device to work on; defaults to CuPy's current device when the backend is created.

    Raises
    ------
    BackendUnavailableError
        When CuPy is not installed, does not load, or sees no GPU (the message says which).
    """

    name = "cupy"
    keeps_loss_on_device = True
    takes_device_arrays = True

    def __init__(self, device: Optional[int] = None):
        cupy = load_cupy()
        self.device_id = int(cupy.cuda.Device().id if device is None else device)
        try:
            from cupy import cublas as cupy_cublas
            self._cublas_gemm = getattr(cupy_cublas, "gemm", None)
        except Exception:  # pragma: no cover - very old CuPy
            self._cublas_gemm = None

    # ----------------------------------------------------------------- helpers
    def _check_device(self, x, name: str) -> None:
        device = x.device.id
        if device != self.device_id:
            raise ValueError(
                f"{name}: the array is on GPU {device} but this cupy backend works on GPU "
                f"{self.device_id}; copy it first (with cupy.cuda.Device({self.device_id}): "
                f"cupy.asarray(x))")

    def _dev(self, x, dtype, name: str, contiguous: bool = True):
        """``x`` as a CuPy array of ``dtype`` on this GPU, C-contiguous (or F when allowed).

        Host arrays (NumPy, lists) are copied to the GPU; device arrays are used as they are
        when they already fit.
        """
        if isinstance(x, cp.ndarray):
            self._check_device(x, name)
            if x.dtype != dtype:
                x = x.astype(dtype)
            if contiguous and not x.flags.c_contiguous:
                x = cp.ascontiguousarray(x)
            elif not (x.flags.c_contiguous or x.flags.f_contiguous):
                x = cp.ascontiguousarray(x)
            return x
        if hasattr(x, "__cuda_array_interface__"):  # another GPU library's array
            return self._dev(cp.asarray(x), dtype, name, contiguous)
        with cp.cuda.Device(self.device_id):
            return cp.asarray(np.asarray(x, dtype=dtype, order="C"))

    def _out(self, out, shape, dtype, name: str = "out"):
        """Check (or allocate) a C-contiguous output buffer on this GPU."""
        shape = tuple(int(s) for s in shape)
        if out is None:
            with cp.cuda.Device(self.device_id):
                return cp.empty(shape, dtype=dtype)
        if not isinstance(out, cp.ndarray):
            raise ValueError(
                f"{name}: expected a CuPy array on GPU {self.device_id} (the cupy backend "
                f"writes its results in GPU memory), got {_describe(out)}; allocate it with "
                f"backend.empty(...) or move it with backend.asarray(...)")
        self._check_device(out, name)
        if out.shape != shape or out.dtype != dtype or not out.flags.c_contiguous:
            raise ValueError(
                f"{name}: expected a C-contiguous {np.dtype(dtype).name} array of shape "
                f"{shape}, got {out.dtype.name} {out.shape} "
                f"(C-contiguous: {out.flags.c_contiguous})")
        return out

    def _flat(self, x, name: str, dtype=None):
        """Check a buffer updated in place: a 1-D C-contiguous float CuPy array on this GPU."""
        if not isinstance(x, cp.ndarray):
            raise ValueError(
                f"{name}: expected a 1-D C-contiguous CuPy array on GPU {self.device_id} (it is "
                f"updated in place in GPU memory), got {_describe(x)}")
        self._check_device(x, name)
        if (x.ndim != 1 or not x.flags.c_contiguous or x.dtype not in FLOAT_DTYPES
                or (dtype is not None and x.dtype != dtype)):
            want = np.dtype(dtype).name if dtype is not None else "float32 or float64"
            raise ValueError(f"{name}: expected a 1-D C-contiguous {want} buffer, got "
                             f"{x.dtype.name} {x.shape} (C-contiguous: {x.flags.c_contiguous})")
        return x

    def _grad_of(self, grad, param):
        """The gradient of ``param`` as a flat device array of its dtype and size."""
        grad = self._dev(grad, param.dtype, "grad").reshape(-1)
        if grad.size != param.size:
            raise ValueError(f"grad: expected {param.size} elements like param, got {grad.size}")
        return grad

    def _gemm(self, trans_a: bool, trans_b: bool, a, b, out, alpha: float, beta: float) -> None:
        """``out = alpha * op(a) @ op(b) + beta * out`` through cuBLAS, written into ``out``."""
        if out.size == 0:
            return
        inner = a.shape[0] if trans_a else a.shape[1]
        if inner == 0:
            if beta == 0.0:
                out.fill(0)
            else:
                self.scale_(out.reshape(-1), beta)
            return
        if self._cublas_gemm is not None:
            self._cublas_gemm("T" if trans_a else "N", "T" if trans_b else "N", a, b, out=out,
                              alpha=float(alpha), beta=float(beta))
            return
        product = cp.matmul(a.T if trans_a else a, b.T if trans_b else b)  # pragma: no cover
        if beta == 0.0:  # pragma: no cover
            cp.multiply(product, out.dtype.type(alpha), out=out)
        else:  # pragma: no cover
            out *= out.dtype.type(beta)
            out += out.dtype.type(alpha) * product

    def _softmax(self, z, y) -> None:
        rows, cols = z.shape
        if rows == 0 or cols == 0:
            return
        kernel = _raw_kernel("mlp_softmax_rows", np.dtype(z.dtype))
        kernel((rows,), (_block_for(cols),), (z, y, np.int64(rows), np.int64(cols)))

    def _softmax_grad(self, dy, y, dz) -> None:
        rows, cols = dy.shape
        if rows == 0 or cols == 0:
            return
        kernel = _raw_kernel("mlp_softmax_grad_rows", np.dtype(dy.dtype))
        kernel((rows,), (_block_for(cols),), (dy, y, dz, np.int64(rows), np.int64(cols)))

    def _bias_act(self, z, b, activation: str, alpha: float, y, preact) -> None:
        """``y = f(z + b)`` (softmax: ``z + b`` only), ``preact = z + b`` when given."""
        code = ACTIVATION_CODES["linear" if activation == "softmax" else activation]
        if code == 0 and b is None and preact is None and y is z:
            return
        kernel = _bias_act_kernel(b is not None, preact is not None)
        args = [z] + ([b] if b is not None else []) + [np.float64(alpha), np.int32(code), y]
        if preact is not None:
            args.append(preact)
        kernel(*args)

    # ------------------------------------------------------------------ arrays
    def asarray(self, x: Any, dtype: Any = None) -> Any:
        if isinstance(x, cp.ndarray) or hasattr(x, "__cuda_array_interface__"):
            x = cp.asarray(x)
            self._check_device(x, "x")
            return cp.ascontiguousarray(x, dtype=dtype)
        with cp.cuda.Device(self.device_id):
            return cp.asarray(np.asarray(x, dtype=dtype, order="C"))

    def to_numpy(self, x: Any) -> Any:
        if isinstance(x, cp.ndarray):
            return cp.asnumpy(x)
        return np.asarray(x)

    def empty(self, shape: Sequence[int], dtype: Any) -> Any:
        with cp.cuda.Device(self.device_id):
            return cp.empty(shape, dtype=dtype)

    def zeros(self, shape: Sequence[int], dtype: Any) -> Any:
        with cp.cuda.Device(self.device_id):
            return cp.zeros(shape, dtype=dtype)

    def fits_in_memory(self, nbytes: int, fraction: float = 0.5) -> bool:
        """Whether ``nbytes`` more would take at most ``fraction`` of the GPU's free memory
        (CuPy's pool of freed blocks counted as free). Not part of the interface: the model uses
        it to decide whether a training set moves to the GPU at once or batch by batch."""
        free, _total = cp.cuda.Device(self.device_id).mem_info
        free += cp.get_default_memory_pool().free_bytes()
        return nbytes <= fraction * free

    def synchronize(self) -> None:
        """Wait for every kernel queued on the current stream (for timing; not in the interface)."""
        cp.cuda.get_current_stream().synchronize()

    # -------------------------------------------------------------------- GEMM
    def matmul(self, a, b, out=None, trans_a: bool = False, trans_b: bool = False,
               alpha: float = 1.0, beta: float = 0.0):
        dtype = _dtype_of(a)
        a = self._dev(a, dtype, "a", contiguous=False)
        b = self._dev(b, dtype, "b", contiguous=False)
        m, k = (a.shape[1], a.shape[0]) if trans_a else a.shape
        k_b, n = (b.shape[1], b.shape[0]) if trans_b else b.shape
        if k != k_b:
            raise ValueError(f"b: inner dimensions do not match: op(a) is {(m, k)}, op(b) is "
                             f"{(k_b, n)}")
        if beta != 0.0 and out is None:
            raise ValueError("out: required when beta is not 0 (it is accumulated into)")
        out = self._out(out, (m, n), dtype)
        self._gemm(bool(trans_a), bool(trans_b), a, b, out, alpha, beta)
        return out

    # ------------------------------------------------------------- activations
    def activation_forward(self, z, activation: str, alpha: Optional[float] = None, out=None):
        activation = resolve_activation(activation)
        dtype = _dtype_of(z)
        z = self._dev(z, dtype, "z")
        out = self._out(out, z.shape, dtype)
        if activation == "softmax":
            self._softmax(z, out)
        else:
            self._bias_act(z, None, activation, resolve_alpha(activation, alpha), out, None)
        return out

    def activation_backward(self, dy, y, z, activation: str, alpha: Optional[float] = None,
                            out=None):
        activation = resolve_activation(activation)
        dtype = _dtype_of(dy)
        dy = self._dev(dy, dtype, "dy")
        y = self._dev(y, dtype, "y")
        z = self._preact(z, activation, dtype)
        out = self._out(out, dy.shape, dtype)
        self._act_grad(dy, y, z, activation, resolve_alpha(activation, alpha), out)
        return out

    def _preact(self, z, activation: str, dtype):
        if activation not in ACTIVATIONS_NEEDING_PREACTIVATION:
            return None
        if z is None:
            raise ValueError(f"z: the derivative of {activation!r} needs the pre-activation, "
                             f"got None")
        return self._dev(z, dtype, "z")

    def _act_grad(self, dy, y, z, activation: str, alpha: float, dz) -> None:
        """``dz = dy * f'(z)`` (``dz`` may be ``dy``); ``z`` is None unless gelu / swish."""
        if activation == "softmax":
            self._softmax_grad(dy, y, dz)
        elif activation == "linear":
            if dz is not dy:
                cp.copyto(dz, dy)
        else:
            _act_grad_kernel()(dy, y, y if z is None else z, np.float64(alpha),
                               np.int32(ACTIVATION_CODES[activation]), dz)

    # ------------------------------------------------------------------- dense
    def dense_forward(self, x, w, b, activation: str = "linear", alpha: Optional[float] = None,
                      out=None, preact=None):
        activation = resolve_activation(activation)
        dtype = _dtype_of(x)
        x = self._dev(x, dtype, "x", contiguous=False)
        w = self._dev(w, dtype, "w", contiguous=False)
        if x.ndim != 2 or w.ndim != 2 or x.shape[1] != w.shape[0]:
            raise ValueError(f"w: expected shape ({x.shape[-1]}, units) for x of shape "
                             f"{x.shape}, got {w.shape}")
        shape = (x.shape[0], w.shape[1])
        if b is not None:
            b = self._dev(b, dtype, "b").reshape(-1)
            if b.shape != (shape[1],):
                raise ValueError(f"b: expected shape ({shape[1]},), got {b.shape}")
        out = self._out(out, shape, dtype)
        preact = None if preact is None else self._out(preact, shape, dtype, "preact")
        self._gemm(False, False, x, w, out, 1.0, 0.0)
        self._bias_act(out, b, activation, resolve_alpha(activation, alpha), out, preact)
        if activation == "softmax":
            self._softmax(out, out)
        return out

    def dense_backward(self, x, w, y, dy, activation: str = "linear",
                       alpha: Optional[float] = None, preact=None, dw=None, db=None, dx=None,
                       need_dx: bool = True, need_db: bool = True, dz=None
                       ) -> Tuple[Any, Any, Any]:
        activation = resolve_activation(activation)
        dtype = _dtype_of(x)
        x = self._dev(x, dtype, "x", contiguous=False)
        w = self._dev(w, dtype, "w", contiguous=False)
        if dz is not None and dz is dy:  # in place: dz overwrites dy
            dy = dz = self._out(dz, getattr(dz, "shape", ()), dtype, "dz")
        else:
            dy = self._dev(dy, dtype, "dy")
            dz = self._out(dz, dy.shape, dtype, "dz")
        y = self._dev(y, dtype, "y")
        preact = self._preact(preact, activation, dtype)
        dw = self._out(dw, w.shape, dtype, "dw")
        db = self._out(db, (w.shape[1],), dtype, "db") if need_db else None
        dx = self._out(dx, x.shape, dtype, "dx") if need_dx else None
        self._act_grad(dy, y, preact, activation, resolve_alpha(activation, alpha), dz)
        if need_db:
            cp.sum(dz, axis=0, out=db)
        self._gemm(True, False, x, dz, dw, 1.0, 0.0)
        if need_dx:
            self._gemm(False, True, dz, w, dx, 1.0, 0.0)
        return dw, db, dx

    # ------------------------------------------------------------------ losses
    def loss(self, name: str, pred, target, sample_weight=None, grad=None, delta: float = 1.0
             ) -> Tuple[float, Any]:
        total, grad, rows = self._loss(name, pred, target, sample_weight, grad, delta)
        return float(total) / rows, grad  # the one synchronisation of a training step

    def loss_on_device(self, name: str, pred, target, sample_weight=None, grad=None,
                       delta: float = 1.0) -> Tuple[Any, Any]:
        """:meth:`loss` without the synchronisation: the value is a 0-d float64 CuPy array.

        Not part of the :class:`~mlp.backends.base.Backend` interface; for an engine that sums
        batch losses on the GPU and reads them once per epoch.
        """
        total, grad, rows = self._loss(name, pred, target, sample_weight, grad, delta)
        return total / rows, grad

    def _loss(self, name, pred, target, sample_weight, grad, delta):
        if name not in LOSSES:
            raise ValueError(f"name: unknown loss {name!r}. Supported losses are {list(LOSSES)}.")
        dtype = _dtype_of(pred)
        pred = self._dev(pred, dtype, "pred")
        if pred.ndim != 2:
            raise ValueError(f"pred: expected a 2-D (batch, outputs) array, got {pred.shape}")
        rows, cols = pred.shape
        target_ndim = target.ndim if hasattr(target, "ndim") else np.ndim(target)
        labels = None
        if target_ndim == 1 and name.startswith("categorical"):
            labels = self._dev(target, np.dtype(np.int64), "target")
            if labels.shape != (rows,):
                raise ValueError(f"target: expected {rows} class indices, got {labels.shape}")
            target = None
        else:
            target = self._dev(target, dtype, "target")
            if target.shape != pred.shape:
                raise ValueError(f"target: expected shape {pred.shape} like pred, got "
                                 f"{target.shape}")
        weight = None
        if sample_weight is not None:
            weight = self._dev(sample_weight, dtype, "sample_weight").reshape(-1)
            if weight.shape != (rows,):
                raise ValueError(f"sample_weight: expected ({rows},), got {weight.shape}")
        grad = self._out(grad, pred.shape, dtype, "grad")
        # The kernel reads pred / target / weight after it has written parts of grad (the
        # softmax of the logits losses is kept in grad), so they must not share memory.
        for other, what in ((pred, "pred"), (target, "target"), (labels, "target"),
                            (weight, "sample_weight")):
            if other is not None and _overlap(grad, other):
                raise ValueError(f"grad: must not share memory with {what} (the loss kernel "
                                 f"reads {what} after writing grad); pass another buffer, or "
                                 f"grad=None for a new one")
        with cp.cuda.Device(self.device_id):
            row_loss = cp.empty(rows, dtype=np.float64)
        if rows and not cols:
            row_loss.fill(_empty_row_loss(name, labels is not None))
            if weight is not None:
                row_loss *= weight.astype(np.float64)
        elif rows:
            kernel = _raw_kernel("mlp_loss_rows", dtype)
            scalar = dtype.type
            kernel((rows,), (_block_for(cols),), (
                pred, pred if target is None else target, pred if labels is None else labels,
                pred if weight is None else weight, grad, row_loss, np.int64(rows),
                np.int64(cols), np.int32(LOSS_CODES[name]), np.int32(target is not None),
                np.int32(labels is not None), np.int32(weight is not None),
                scalar(1.0 / rows), scalar(delta), scalar(PROBABILITY_EPSILON)))
        return row_loss.sum(), grad, max(rows, 1)

    # -------------------------------------------------------------- optimizers
    def sgd_update(self, param, grad, velocity, lr: float, momentum: float = 0.0,
                   nesterov: bool = False, weight_decay: float = 0.0) -> None:
        param = self._flat(param, "param")
        grad = self._grad_of(grad, param)
        t = param.dtype.type
        if momentum != 0.0:
            velocity = self._flat(velocity, "velocity", param.dtype)
            _sgd_kernel(True)(grad, t(lr), t(weight_decay), t(momentum), np.int32(bool(nesterov)),
                              param, velocity)
        else:
            _sgd_kernel(False)(grad, t(lr), t(weight_decay), param)

    def adam_update(self, param, grad, m, v, v_max, step: int, lr: float, beta_1: float,
                    beta_2: float, epsilon: float, weight_decay: float = 0.0,
                    decoupled: bool = False, amsgrad: bool = False) -> None:
        param = self._flat(param, "param")
        grad = self._grad_of(grad, param)
        m = self._flat(m, "m", param.dtype)
        v = self._flat(v, "v", param.dtype)
        t = param.dtype.type
        # Scalars are formed in double precision on the host, as the reference's Python floats,
        # then rounded once to the parameter dtype.
        args = [grad, t(lr), t(weight_decay), t(1.0 - lr * weight_decay), t(beta_1),
                t(1.0 - beta_1), t(beta_2), t(1.0 - beta_2), t(1.0 - beta_1 ** step),
                t(1.0 - beta_2 ** step), t(epsilon), np.int32(bool(decoupled)), param, m, v]
        if amsgrad:
            args.append(self._flat(v_max, "v_max", param.dtype))
        _adam_kernel(bool(amsgrad))(*args)

    def rmsprop_update(self, param, grad, mean_square, lr: float, rho: float, epsilon: float,
                       momentum: float = 0.0, velocity=None, centered: bool = False,
                       mean_grad=None, weight_decay: float = 0.0) -> None:
        param = self._flat(param, "param")
        grad = self._grad_of(grad, param)
        mean_square = self._flat(mean_square, "mean_square", param.dtype)
        t = param.dtype.type
        use_momentum = momentum > 0
        args = [grad, t(lr), t(weight_decay), t(rho), t(1.0 - rho), t(epsilon), t(momentum),
                param, mean_square]
        if centered:
            args.append(self._flat(mean_grad, "mean_grad", param.dtype))
        if use_momentum:
            args.append(self._flat(velocity, "velocity", param.dtype))
        _rmsprop_kernel(use_momentum, bool(centered))(*args)

    def adagrad_update(self, param, grad, accumulator, lr: float, epsilon: float,
                       weight_decay: float = 0.0) -> None:
        param = self._flat(param, "param")
        grad = self._grad_of(grad, param)
        accumulator = self._flat(accumulator, "accumulator", param.dtype)
        t = param.dtype.type
        _adagrad_kernel()(grad, t(lr), t(weight_decay), t(epsilon), param, accumulator)

    def add_penalty_gradient(self, grad, param, l1: float = 0.0, l2: float = 0.0) -> None:
        grad = self._flat(grad, "grad")
        param = self._dev(param, grad.dtype, "param").reshape(-1)
        if param.size != grad.size:
            raise ValueError(f"param: expected {grad.size} elements like grad, got {param.size}")
        t = grad.dtype.type
        _penalty_grad_kernel()(param, t(l1), t(2 * l2), grad)

    def penalty(self, param, l1: float = 0.0, l2: float = 0.0) -> float:
        return float(self.penalty_on_device(param, l1, l2))

    def penalty_on_device(self, param, l1: float = 0.0, l2: float = 0.0):
        """:meth:`penalty` as a 0-d float64 CuPy array (no synchronisation; not in the
        interface)."""
        param = self._dev(param, _dtype_of(param), "param", contiguous=False)
        value = cp.zeros((), dtype=np.float64)
        if l1:
            value = value + float(l1) * _sum_abs_kernel()(param)
        if l2:
            value = value + float(l2) * _sum_sq_kernel()(param)
        return value

    def global_norm(self, arrays: Sequence[Any]) -> float:
        total = None
        for index, array in enumerate(arrays):
            array = self._dev(array, _dtype_of(array), f"arrays[{index}]", contiguous=False)
            squares = _sum_sq_kernel()(array)
            total = squares if total is None else total + squares
        return 0.0 if total is None else math.sqrt(float(total))

    def scale_(self, x, factor: float) -> None:
        x = self._flat(x, "x")
        _scale_kernel()(x.dtype.type(factor), x)

    def clip_(self, x, limit: float) -> None:
        x = self._flat(x, "x")
        _clip_kernel()(x.dtype.type(limit), x)

    # ----------------------------------------------------------------- dropout
    def dropout_mask(self, shape: Tuple[int, int], rate: float, seed: int, step: int,
                     layer: int, dtype: Any):
        with cp.cuda.Device(self.device_id):
            ones = cp.ones(tuple(shape), dtype=dtype)
        return self.dropout_forward(ones, rate, seed, step, layer, out=ones)

    def dropout_forward(self, x, rate: float, seed: int, step: int, layer: int, out=None):
        dtype = _dtype_of(x)
        x = self._dev(x, dtype, "x")
        out = self._out(out, x.shape, dtype)
        if x.size:
            key = dropout_stream_key(int(seed), int(step), int(layer))
            keep = dtype.type(1.0 / (1.0 - rate))
            # 1-D views: the kernel's index i is then the row-major flat index k of the hash.
            # In place, one view object serves as input and output (CuPy would copy an input
            # that is another view of an output's memory).
            flat_x = x.reshape(-1)
            flat_out = flat_x if out is x else out.reshape(-1)
            _dropout_kernel()(flat_x, np.uint64(key), np.float64(rate), keep, flat_out)
        return out

    def dropout_backward(self, dy, rate: float, seed: int, step: int, layer: int, out=None):
        return self.dropout_forward(dy, rate, seed, step, layer, out=out)

    # ----------------------------------------------------------- normalization
    def _norm_input(self, x, name: str):
        dtype = _dtype_of(x)
        x = self._dev(x, dtype, name)
        if x.ndim != 2 or x.shape[1] == 0:
            raise ValueError(f"{name}: expected a 2-D (batch, features) array with at least one "
                             f"feature, got shape {x.shape}")
        return x

    def _norm_vector(self, v, length: int, dtype, name: str):
        if v is None:
            return None
        v = self._dev(v, dtype, name).reshape(-1)
        if v.shape != (length,):
            raise ValueError(f"{name}: expected {length} values (shape ({length},)), got "
                             f"shape {v.shape}")
        return v

    def _stats_buffer(self, buffer, length: int, dtype, name: str):
        return self._out(buffer, (length,), dtype, name)

    def batch_norm_forward(self, x, gamma, beta, moving_mean, moving_variance,
                           momentum: float = 0.99, epsilon: float = 1e-3, training: bool = True,
                           out=None, xhat=None, inv_std=None):
        epsilon, momentum = checks.norm_settings(epsilon, momentum)
        x = self._norm_input(x, "x")
        rows, cols = x.shape
        dtype = x.dtype
        gamma = self._norm_vector(gamma, cols, dtype, "gamma")
        beta = self._norm_vector(beta, cols, dtype, "beta")
        mm = self._flat(moving_mean, "moving_mean", dtype)
        mv = self._flat(moving_variance, "moving_variance", dtype)
        for buffer, name in ((mm, "moving_mean"), (mv, "moving_variance")):
            if buffer.size != cols:
                raise ValueError(f"{name}: expected {cols} elements (one per feature), got "
                                 f"{buffer.size}")
        if training and rows == 0:
            raise ValueError(f"x: expected at least one row in training mode (the batch "
                             f"statistics of no rows are undefined), got shape {x.shape}")
        out = self._out(out, x.shape, dtype)
        xhat = None if xhat is None else self._out(xhat, x.shape, dtype, "xhat")
        inv = self._stats_buffer(inv_std, cols, dtype, "inv_std")
        kernel = _raw_kernel("mlp_batchnorm_forward", np.dtype(dtype))
        kernel((cols,), (_block_for(rows),), (
            x, x if gamma is None else gamma, x if beta is None else beta, mm, mv, out,
            out if xhat is None else xhat, inv, np.int64(rows), np.int64(cols),
            np.int32(bool(training)), np.int32(gamma is not None), np.int32(beta is not None),
            np.int32(xhat is not None), np.float64(momentum), np.float64(epsilon)))
        return out

    def _norm_grads(self, dy, xhat, gamma, inv, training, dgamma, dbeta, dx, need_dgamma,
                    need_dbeta, need_dx, with_dx_kernel: bool):
        rows, cols = dy.shape
        dtype = dy.dtype
        dgamma = self._out(dgamma, (cols,), dtype, "dgamma") if need_dgamma else None
        dbeta = self._out(dbeta, (cols,), dtype, "dbeta") if need_dbeta else None
        dx = self._out(dx, dy.shape, dtype, "dx") if need_dx else None
        kernel = _raw_kernel("mlp_norm_grads", np.dtype(dtype))
        if dgamma is not None or dbeta is not None or (dx is not None and with_dx_kernel):
            kernel((cols,), (_block_for(rows),), (
                dy, xhat, dy if gamma is None else gamma, inv,
                dy if dgamma is None else dgamma, dy if dbeta is None else dbeta,
                dy if dx is None else dx, np.int64(rows), np.int64(cols),
                np.int32(bool(training)), np.int32(gamma is not None),
                np.int32(dgamma is not None), np.int32(dbeta is not None),
                np.int32(dx is not None and with_dx_kernel)))
        return dgamma, dbeta, dx

    def _norm_backward_operands(self, dy, xhat, gamma, inv_std, stats_of_rows: bool):
        dy = self._norm_input(dy, "dy")
        xhat = self._dev(xhat, dy.dtype, "xhat")
        if xhat.shape != dy.shape:
            raise ValueError(f"xhat: expected shape {dy.shape} like dy, got {xhat.shape}")
        gamma = self._norm_vector(gamma, dy.shape[1], dy.dtype, "gamma")
        inv = self._norm_vector(inv_std, dy.shape[0] if stats_of_rows else dy.shape[1],
                                dy.dtype, "inv_std")
        if inv is None:
            raise ValueError("inv_std: expected the forward pass' inverse standard deviations, "
                             "got None")
        return dy, xhat, gamma, inv

    def batch_norm_backward(self, dy, xhat, gamma, inv_std, training: bool = True,
                            dgamma=None, dbeta=None, dx=None, need_dgamma: bool = True,
                            need_dbeta: bool = True, need_dx: bool = True):
        dy, xhat, gamma, inv = self._norm_backward_operands(dy, xhat, gamma, inv_std, False)
        return self._norm_grads(dy, xhat, gamma, inv, training, dgamma, dbeta, dx, need_dgamma,
                                need_dbeta, need_dx, True)

    def layer_norm_forward(self, x, gamma, beta, epsilon: float = 1e-3, out=None, xhat=None,
                           inv_std=None):
        epsilon, _ = checks.norm_settings(epsilon)
        x = self._norm_input(x, "x")
        rows, cols = x.shape
        dtype = x.dtype
        gamma = self._norm_vector(gamma, cols, dtype, "gamma")
        beta = self._norm_vector(beta, cols, dtype, "beta")
        out = self._out(out, x.shape, dtype)
        xhat = None if xhat is None else self._out(xhat, x.shape, dtype, "xhat")
        inv = self._stats_buffer(inv_std, rows, dtype, "inv_std")
        if rows:
            kernel = _raw_kernel("mlp_layernorm_forward", np.dtype(dtype))
            kernel((rows,), (_block_for(cols),), (
                x, x if gamma is None else gamma, x if beta is None else beta, out,
                out if xhat is None else xhat, inv, np.int64(rows), np.int64(cols),
                np.int32(gamma is not None), np.int32(beta is not None),
                np.int32(xhat is not None), np.float64(epsilon)))
        return out

    def layer_norm_backward(self, dy, xhat, gamma, inv_std, dgamma=None, dbeta=None, dx=None,
                            need_dgamma: bool = True, need_dbeta: bool = True,
                            need_dx: bool = True):
        dy, xhat, gamma, inv = self._norm_backward_operands(dy, xhat, gamma, inv_std, True)
        # the parameter gradients first: dx may be dy
        dgamma, dbeta, dx = self._norm_grads(dy, xhat, gamma, inv, False, dgamma, dbeta, dx,
                                             need_dgamma, need_dbeta, need_dx, False)
        if dx is not None and dy.shape[0]:
            rows, cols = dy.shape
            kernel = _raw_kernel("mlp_layernorm_dx", np.dtype(dy.dtype))
            kernel((rows,), (_block_for(cols),), (
                dy, xhat, dy if gamma is None else gamma, inv, dx, np.int64(rows),
                np.int64(cols), np.int32(gamma is not None)))
        return dgamma, dbeta, dx
