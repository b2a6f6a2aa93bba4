"""Checks of the arrays and numbers handed to a host backend's operations, made before any
pointer reaches a kernel (the kernels run with bounds checks off and trust their arguments).

Each check takes ``(name, value, ...)``, returns the value ready for use and raises

    ``<name>: expected <what was expected>, got <what came in>``

(the form of :mod:`mlp.validation`): ``TypeError`` for a value of the wrong kind, ``ValueError``
for a wrong shape, size or range. Every check is O(1) except the label range check of
:func:`labels`, one pass over the labels. :func:`check_bytes` refuses an allocation larger than
the host's memory before it is attempted.
"""
from __future__ import annotations

import math
import numbers
import os
from typing import Any, Optional, Sequence, Tuple

import numpy as np

from .spec import LOSSES

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
_NUMERIC_KINDS = "biuf"
_INT64_MAX = (1 << 63) - 1


def describe(x: Any) -> str:
    """What came in, for a message: dtype and shape of an array, else the type's name."""
    if isinstance(x, np.ndarray):
        return f"{x.dtype.name} array of shape {x.shape}"
    return type(x).__name__


def _fail(name: str, expected: str, got: str, error=ValueError):
    raise error(f"{name}: expected {expected}, got {got}")


# ---------------------------------------------------------------------------------- numbers
def real(name: str, value: Any) -> float:
    """A finite real number (not a bool), as a float."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        _fail(name, "a finite number", repr(value)[:80], TypeError)
    if not math.isfinite(value):
        _fail(name, "a finite number", repr(value))
    return float(value)


def integer(name: str, value: Any, minimum: int = -(1 << 63), maximum: int = _INT64_MAX) -> int:
    """An integer (Python or NumPy, not bool) in ``[minimum, maximum]``, as an int."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        _fail(name, "an integer", repr(value)[:80], TypeError)
    if not minimum <= value <= maximum:
        _fail(name, f"an integer in [{minimum}, {maximum}]", repr(value))
    return int(value)


def fraction(name: str, value: Any) -> float:
    """A number in ``[0, 1)``, as a float."""
    value = real(name, value)
    if not 0.0 <= value < 1.0:
        _fail(name, "a number in [0, 1)", repr(value))
    return value


def float_dtype(name: str, dtype: Any) -> np.dtype:
    """``float32`` or ``float64`` as a NumPy dtype."""
    try:
        checked = np.dtype(dtype)
    except (TypeError, ValueError):
        checked = None
    if checked not in FLOAT_DTYPES:
        _fail(name, "float32 or float64", repr(dtype)[:80], TypeError)
    return checked


def shape(name: str, value: Any, ndim: Optional[int] = None) -> Tuple[int, ...]:
    """A shape: a tuple (or list) of non-negative integers (``ndim`` of them when given)."""
    dims = (value,) if isinstance(value, numbers.Integral) else value
    expected = f"a shape of {ndim} non-negative integers" if ndim else "a shape"
    if not isinstance(dims, (tuple, list)) or (ndim is not None and len(dims) != ndim) or not all(
            isinstance(d, numbers.Integral) and not isinstance(d, bool) and d >= 0
            for d in dims):
        _fail(name, expected, repr(value)[:80], TypeError)
    return tuple(int(d) for d in dims)


# ----------------------------------------------------------------------------------- arrays
def dtype_of(x: Any) -> np.dtype:
    """The float dtype the operation runs in: ``x``'s own when it is float32 / float64, else
    float64 (integers, booleans, lists)."""
    dtype = getattr(x, "dtype", None)
    if dtype is None:
        try:
            dtype = np.asarray(x).dtype
        except (TypeError, ValueError):
            return np.dtype(np.float64)
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        return np.dtype(np.float64)
    return dtype if dtype in FLOAT_DTYPES else np.dtype(np.float64)


def numeric(name: str, x: Any) -> np.ndarray:
    """``x`` as a NumPy array of numbers (bool, integer or float): no strings, objects,
    complex numbers or ragged lists."""
    if type(x) is np.ndarray and x.dtype.kind in _NUMERIC_KINDS:
        return x
    if x is None:
        _fail(name, "an array", "None", TypeError)
    try:
        array = np.asarray(x)
    except (TypeError, ValueError) as error:
        _fail(name, "a numeric array", f"{type(x).__name__} that is not one ({error})"[:200],
              TypeError)
    if array.dtype.kind not in _NUMERIC_KINDS:
        _fail(name, "a numeric array (bool, integer or float)", describe(array), TypeError)
    return array


def array(name: str, x: Any, dtype: Optional[np.dtype] = None, ndim: Optional[int] = None,
          contiguous: bool = False) -> np.ndarray:
    """``x`` as a numeric array with ``ndim`` dimensions, converted to ``dtype`` (and made
    C-contiguous with ``contiguous``) when asked; the same object when it already is one."""
    if (type(x) is np.ndarray and (dtype is None or x.dtype == dtype)
            and (ndim is None or x.ndim == ndim) and (not contiguous or x.flags.c_contiguous)
            and x.dtype.kind in _NUMERIC_KINDS):
        return x
    x = numeric(name, x)
    if ndim is not None and x.ndim != ndim:
        _fail(name, f"a {ndim}-D array", describe(x))
    if contiguous:
        return np.ascontiguousarray(x, dtype=dtype)
    return x if dtype is None else x.astype(dtype, copy=False)


def same_shape(name: str, x: np.ndarray, expected: Sequence[int], like: str = "") -> None:
    """``x.shape == expected``; ``like`` names what the shape comes from."""
    if x.shape != tuple(expected):
        _fail(name, f"shape {tuple(expected)}{' like ' + like if like else ''}", str(x.shape))


def vector(name: str, x: Any, length: int, dtype: Optional[np.dtype] = None,
           contiguous: bool = False) -> np.ndarray:
    """``x`` flattened to ``length`` elements (a ``(length,)`` or ``(1, length)`` array)."""
    x = numeric(name, x)
    if x.size != length or (x.ndim > 1 and max(x.shape) != x.size):
        _fail(name, f"{length} values (shape ({length},))", describe(x))
    return array(name, x.reshape(-1), dtype, 1, contiguous)


def labels(name: str, target: np.ndarray, rows: int, classes: int) -> np.ndarray:
    """Class indices: ``rows`` integers in ``[0, classes)``, as a C-contiguous int64 array
    (float labels must hold whole numbers)."""
    if target.shape != (rows,):
        _fail(name, f"{rows} class indices (shape ({rows},))", describe(target))
    if target.dtype.kind == "f":
        if not np.all(np.isfinite(target)) or not np.all(target == np.floor(target)):
            _fail(name, "integer class indices", "non-integer or non-finite values")
    if rows:
        low, high = target.min(), target.max()
        if low < 0 or high >= classes:
            _fail(name, f"class indices in [0, {classes - 1}] ({classes} columns of pred)",
                  f"values from {low} to {high}")
    return np.ascontiguousarray(target, dtype=np.int64)


def out_buffer(name: str, out: Any, expected: Sequence[int], dtype: np.dtype) -> np.ndarray:
    """A caller's output buffer: a writeable C-contiguous array of ``dtype`` and shape
    ``expected``; without one, a new array (refused first when it would not fit in memory)."""
    expected = tuple(expected)
    if out is None:
        check_bytes(name, math.prod(expected) * dtype.itemsize, f"shape {expected}")
        return np.empty(expected, dtype=dtype)
    if (not isinstance(out, np.ndarray) or out.shape != expected or out.dtype != dtype
            or not out.flags.c_contiguous or not out.flags.writeable):
        got = (f"{out.dtype.name} {out.shape} (C-contiguous: {out.flags.c_contiguous}, "
               f"writeable: {out.flags.writeable})" if isinstance(out, np.ndarray)
               else type(out).__name__)
        _fail(name, f"a writeable C-contiguous {dtype.name} array of shape {expected}", got)
    return out


def flat_buffer(name: str, x: Any, dtype: Optional[np.dtype] = None,
                size: Optional[int] = None) -> np.ndarray:
    """A buffer updated in place: a writeable 1-D C-contiguous float array (of ``dtype`` and
    ``size`` elements when given)."""
    if (not isinstance(x, np.ndarray) or x.ndim != 1 or not x.flags.c_contiguous
            or not x.flags.writeable or (dtype is not None and x.dtype != dtype)
            or x.dtype not in FLOAT_DTYPES or (size is not None and x.size != size)):
        got = (f"{x.dtype.name} {x.shape} (C-contiguous: {x.flags.c_contiguous}, writeable: "
               f"{x.flags.writeable})" if isinstance(x, np.ndarray) else type(x).__name__)
        want = np.dtype(dtype).name if dtype is not None else "float32 or float64"
        length = f" of {size} elements" if size is not None else ""
        _fail(name, f"a writeable 1-D C-contiguous {want} buffer{length}", got)
    return x


def flat_like(name: str, x: Any, param: np.ndarray) -> np.ndarray:
    """``x`` (any shape) as a C-contiguous 1-D array of ``param``'s dtype and size."""
    x = numeric(name, x)
    if x.size != param.size:
        _fail(name, f"{param.size} elements (as param)", describe(x))
    return np.ascontiguousarray(x, dtype=param.dtype).reshape(-1)


def norm_operands(x: Any, gamma: Any, beta: Any, contiguous: bool = False):
    """``(x, gamma, beta)`` of a normalization forward pass: ``x`` a 2-D float array with at
    least one feature, ``gamma`` / ``beta`` ``None`` or one value per feature of ``x``'s dtype."""
    x = array("x", x, dtype_of(x), 2, contiguous)
    if x.shape[1] == 0:
        _fail("x", "at least one feature (column)", describe(x))
    features = x.shape[1]
    gamma = None if gamma is None else vector("gamma", gamma, features, x.dtype, contiguous)
    beta = None if beta is None else vector("beta", beta, features, x.dtype, contiguous)
    return x, gamma, beta


def norm_settings(epsilon: Any, momentum: Any = 0.0) -> Tuple[float, float]:
    """``epsilon`` a finite number > 0 and ``momentum`` in ``[0, 1]``."""
    epsilon = real("epsilon", epsilon)
    if epsilon <= 0:
        _fail("epsilon", "a finite number > 0", repr(epsilon))
    momentum = real("momentum", momentum)
    if not 0.0 <= momentum <= 1.0:
        _fail("momentum", "a number in [0, 1]", repr(momentum))
    return epsilon, momentum


def norm_backward_operands(dy: Any, xhat: Any, gamma: Any, inv_std: Any, stats: int,
                           contiguous: bool = False):
    """``(dy, xhat, gamma, inv_std)`` of a normalization backward pass: ``xhat`` of ``dy``'s
    shape, ``gamma`` ``None`` or one value per feature, ``inv_std`` ``stats`` values."""
    dy = array("dy", dy, dtype_of(dy), 2, contiguous)
    if dy.shape[1] == 0:
        _fail("dy", "at least one feature (column)", describe(dy))
    xhat = array("xhat", xhat, dy.dtype, 2, contiguous)
    same_shape("xhat", xhat, dy.shape, "dy")
    gamma = None if gamma is None else vector("gamma", gamma, dy.shape[1], dy.dtype, contiguous)
    inv_std = vector("inv_std", inv_std, stats, dy.dtype, contiguous)
    return dy, xhat, gamma, inv_std


def sequence(name: str, value: Any) -> list:
    """A list, tuple or other iterable of items (not a string), as a list."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        _fail(name, "a sequence of arrays", type(value).__name__, TypeError)
    return list(value)


def loss_operands(name: Any, pred: Any, target: Any, sample_weight: Any,
                  dtype: Optional[np.dtype] = None, contiguous: bool = False):
    """The operands of ``Backend.loss``: ``(pred, target, labels, weight)``, ``pred`` 2-D and
    non-empty, exactly one of ``target`` (pred's shape) and ``labels`` (1-D class indices of a
    categorical loss) not None, ``weight`` (rows,) or None."""
    if not isinstance(name, str) or name not in LOSSES:
        raise ValueError(f"name: unknown loss {name!r:.80}. Supported losses are "
                         f"{list(LOSSES)}.")
    pred = array("pred", pred, dtype, 2, contiguous)
    rows, cols = pred.shape
    if rows == 0 or cols == 0:
        _fail("pred", "at least one row and one column", f"shape {pred.shape}")
    target = numeric("target", target)
    class_indices = None
    if target.ndim == 1 and name.startswith("categorical"):
        class_indices, target = labels("target", target, rows, cols), None
    else:
        target = array("target", target, dtype or pred.dtype, None, contiguous)
        same_shape("target", target, pred.shape, "pred")
    weight = None
    if sample_weight is not None:
        weight = vector("sample_weight", sample_weight, rows, dtype or pred.dtype, contiguous)
    return pred, target, class_indices, weight


def dropout_args(rate: Any, seed: Any, step: Any, layer: Any) -> Tuple[float, int, int, int]:
    """``rate`` in ``[0, 1)`` and the integers of the dropout hash (any 64-bit value)."""
    low, high = -(1 << 63), (1 << 64) - 1
    return (fraction("rate", rate), integer("seed", seed, low, high),
            integer("step", step, low, high), integer("layer", layer, low, high))


# ----------------------------------------------------------------------------------- memory
_memory_limit: Optional[int] = None
_address_limit: Optional[int] = None
_CHEAP_BYTES = 64 << 20
"""Below this, :func:`check_bytes` compares with the cached limit only (no system call), unless
it is asked to count the libraries' lazy mappings (``for_plan``)."""
_LIBRARY_BYTES_PER_THREAD = 48 << 20
"""Address space a thread of the kernels may map the first time it runs: OpenBLAS's GEMM work
buffer (32 MiB, mapped at the thread's first GEMM) and the thread's stack (8 MiB), rounded up."""
_ALLOCATOR_BYTES = 64 << 20
"""Address space kept back for the allocator and the caller's own BLAS buffer."""


class AddressSpaceError(MemoryError, ValueError):
    """Buffers that do not fit in the address space a process limit (``ulimit -v``,
    ``RLIMIT_AS``) leaves: a ``MemoryError`` (what it is), and a ``ValueError`` as every other
    size check of :func:`check_bytes` raises."""


def _library_reserve() -> int:
    """Address space kept back under a limit for what the libraries map lazily, inside a
    kernel call where a failure cannot be caught: OpenBLAS retries a failed buffer ``mmap``
    forever (0.3.30) or exits the process (0.3.34), so it must never fail."""
    try:
        from .._threading import get_num_threads
        threads = get_num_threads()
    except ImportError:              # no compiled kernels: NumPy's BLAS only
        threads = os.cpu_count() or 1
    return _ALLOCATOR_BYTES + _LIBRARY_BYTES_PER_THREAD * max(threads, 1)


def memory_limit() -> int:
    """The most bytes one allocation may take here: the host's physical memory, or the
    process' address-space / data limit when lower (``2**63`` when neither is known). Read
    once and cached."""
    global _memory_limit
    if _memory_limit is None:
        limits = [_INT64_MAX]
        try:
            limits.append(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
        except (AttributeError, OSError, ValueError):
            pass
        address = _read_address_limit()
        _memory_limit = min(limits + ([address] if address else []))
    return _memory_limit


def _read_address_limit() -> Optional[int]:
    """The process' address-space / data limit (the lower), or None; also kept for
    :func:`_address_space_left` (read again before each plan: a program may lower its limits
    with :func:`resource.setrlimit` after mlp was first used)."""
    global _address_limit
    address = None
    try:
        import resource
        for which in (resource.RLIMIT_AS, resource.RLIMIT_DATA):
            soft = resource.getrlimit(which)[0]
            if soft != resource.RLIM_INFINITY and soft > 0:
                address = min(address or soft, soft)
    except (ImportError, AttributeError, OSError, ValueError):
        pass
    _address_limit = address
    return address


def _address_space_left() -> Optional[int]:
    """Bytes of address space the process may still map under its limit (Linux), less the
    :func:`_library_reserve`, or None without a limit."""
    if _address_limit is None:
        return None
    try:
        with open("/proc/self/statm", "rb") as statm:
            mapped = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None
    return max(_address_limit - mapped - _library_reserve(), 0)


def format_bytes(n: float) -> str:
    """``n`` bytes for a reader: ``"512 B"``, ``"1.5 MiB"``, ``"7.28 TiB"``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.3g} {unit}"
        n /= 1024
    return f"{n:.3g} EiB"  # pragma: no cover


def check_bytes(name: str, nbytes: float, got: str, what: str = "a size",
                for_plan: bool = False) -> None:
    """Refuse, before allocating, ``nbytes`` that exceed :func:`memory_limit`.

    The message names the argument, the bytes asked for and the limit::

        batch_size: expected a size whose buffers fit in memory (at most 15.6 GiB), got
        1000000000000 (7.28 TiB of workspaces)

    Under an address-space limit, ``nbytes`` must also fit in what the limit leaves after the
    :func:`_library_reserve` (an :class:`AddressSpaceError`): for sizes above
    ``_CHEAP_BYTES``, and for any size when ``for_plan`` (the buffers of a plan, which a kernel
    call follows: the call must find the space its libraries map lazily).
    """
    limit = memory_limit()
    if for_plan:
        _read_address_limit()
    if nbytes > limit:
        raise ValueError(f"{name}: expected {what} whose buffers fit in memory (at most "
                         f"{format_bytes(limit)}), got {got} ({format_bytes(nbytes)})")
    if _address_limit is None or not (for_plan or nbytes > _CHEAP_BYTES):
        return
    left = _address_space_left()
    if left is not None and nbytes > left:
        raise AddressSpaceError(
            f"{name}: expected {what} whose buffers fit in the address space left under the "
            f"process' limit (ulimit -v / RLIMIT_AS of {format_bytes(_address_limit)}: "
            f"{format_bytes(left)} left after {format_bytes(_library_reserve())} kept for the "
            f"BLAS work buffers and thread stacks the kernels map on first use), got {got} "
            f"({format_bytes(nbytes)}); raise the limit or free memory")


__all__ = ["AddressSpaceError", "FLOAT_DTYPES", "array", "check_bytes", "describe",
           "dropout_args", "dtype_of", "flat_buffer", "flat_like", "float_dtype",
           "format_bytes", "fraction", "integer", "labels", "loss_operands", "memory_limit",
           "numeric", "out_buffer", "real", "same_shape", "sequence", "shape", "vector"]
