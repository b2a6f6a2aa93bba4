"""Shared helpers for comparing a backend with the NumPy reference (``test_cpu_vs_reference.py``).

Tolerances
----------
A correct floating-point implementation of a *sum* (GEMM, column sums, loss values) may differ from
another correct one by a few rounding errors of the **summed magnitudes**, not of the result: when
terms cancel, the result can be far smaller than the error each term carries. So every comparison
here takes an elementwise bound ``rtol * magnitude + tiny`` where ``magnitude`` is the size of the
terms that produced each element (``|A| @ |B|`` for a GEMM, ``sum |dz|`` for a bias gradient, the
result plus a unit-scale term for an elementwise op on unit-scale data). ``rtol`` is per dtype
(:data:`RTOL`) and ``tiny`` is a few times the smallest normal number, since the compiled kernels
flush denormals to zero.
"""
from __future__ import annotations

from typing import Dict, Optional, Sequence, Union

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

DTYPES = (np.float32, np.float64)

RTOL: Dict[type, float] = {np.float32: 1e-5, np.float64: 1e-12}
"""Relative tolerance per dtype (about 84 ulps for float32, 4500 ulps for float64)."""

ODD_SIZES = (1, 2, 3, 17, 33, 65)
"""Sizes that catch off-by-one and vector-remainder bugs (batch 1, width 1, odd widths)."""

LAYOUTS = ("C", "F", "strided", "reversed")
"""How an input array sits in memory, see :func:`in_layout`."""

KERNEL_SETTINGS = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
"""Hypothesis settings for the kernel comparisons: few examples, no deadline (first calls warm up
OpenMP and BLAS)."""

sizes = st.one_of(st.sampled_from(ODD_SIZES), st.integers(1, 80))
"""Strategy for one dimension: an odd / edge size or any size up to 80."""

dtypes = st.sampled_from(DTYPES)
layouts = st.sampled_from(LAYOUTS)
seeds = st.integers(0, 2**32 - 1)

Bound = Union[float, np.ndarray]


def rtol_for(dtype) -> float:
    """The relative tolerance of :data:`RTOL` for ``dtype``."""
    return RTOL[np.dtype(dtype).type]


def tiny_for(dtype) -> float:
    """An absolute floor below which differences do not count: 16 smallest normals of ``dtype``.

    The compiled kernels flush denormal results to zero; NumPy keeps them.
    """
    return 16 * float(np.finfo(dtype).tiny)


def in_layout(x: np.ndarray, layout: str) -> np.ndarray:
    """Return an array equal to ``x`` whose memory layout is ``layout``.

    * ``"C"``: C-contiguous.
    * ``"F"``: Fortran-order, i.e. the transposed view of a C-contiguous array.
    * ``"strided"``: every other element of the last axis of a wider array; for floats the gaps hold
      NaN, so a kernel that reads the wrong memory produces NaN (integer gaps hold 0).
    * ``"reversed"``: negative strides on every axis (a reversed view of a reversed copy).
    """
    if layout == "C":
        return np.ascontiguousarray(x)
    if layout == "F":
        return np.asfortranarray(x)
    if layout == "strided":
        gap = np.nan if np.issubdtype(x.dtype, np.floating) else 0
        wide = np.full(x.shape[:-1] + (2 * x.shape[-1],), gap, dtype=x.dtype)
        wide[..., ::2] = x
        return wide[..., ::2]
    if layout == "reversed":
        flip = (slice(None, None, -1),) * x.ndim
        return np.ascontiguousarray(x[flip])[flip]
    raise ValueError(f"layout: unknown layout {layout!r}; expected one of {LAYOUTS}")


def normal(rng: np.random.Generator, shape: Sequence[int], dtype, scale: float = 1.0,
           layout: str = "C") -> np.ndarray:
    """Normal random numbers of ``dtype``, standard deviation ``scale``, laid out as ``layout``."""
    return in_layout((scale * rng.standard_normal(shape)).astype(dtype), layout)


def within_bound(actual, expected, bound: Bound) -> np.ndarray:
    """Where ``|actual - expected| <= bound`` (NaN matching NaN, inf matching inf), as booleans."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        close = np.abs(actual - expected) <= bound
    same_special = (np.isnan(actual) & np.isnan(expected)) | (
        np.isinf(actual) & (actual == expected))
    return close | same_special


def assert_within(actual, expected, bound: Bound, what: str) -> None:
    """Assert ``|actual - expected| <= bound`` elementwise; the message names the worst element.

    Shapes must match exactly (no broadcasting of a wrong shape into a right one).
    """
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    assert actual.shape == expected.shape, (
        f"{what}: shape {actual.shape} != expected {expected.shape}")
    ok = within_bound(actual, expected, bound)
    if ok.all():
        return
    bound = np.broadcast_to(np.asarray(bound, dtype=np.float64), actual.shape)
    error = np.abs(actual.astype(np.float64) - expected.astype(np.float64))
    ratio = np.where(ok, 0.0, np.nan_to_num(error / np.maximum(bound, 1e-300), nan=np.inf))
    worst = np.unravel_index(int(np.argmax(ratio)), actual.shape) if actual.ndim else ()
    raise AssertionError(
        f"{what}: {int((~ok).sum())} of {ok.size} elements outside the bound; worst at index "
        f"{tuple(int(i) for i in worst)}: got {actual[worst]!r}, expected {expected[worst]!r}, "
        f"|diff| {error[worst]:.3e} > bound {bound[worst]:.3e}"
    )


def elementwise_bound(expected, dtype, scale: Bound = 1.0) -> np.ndarray:
    """Bound for an elementwise result: ``rtol * (|expected| + scale) + tiny``.

    ``scale`` is the size of the terms that cancel in the computation (1 for unit-scale data).
    """
    magnitude = np.abs(np.asarray(expected, dtype=np.float64)) + scale
    return rtol_for(dtype) * magnitude + tiny_for(dtype)


def magnitude_bound(magnitude, dtype) -> np.ndarray:
    """Bound for a sum of terms of total absolute size ``magnitude``: rtol * magnitude + tiny."""
    return rtol_for(dtype) * np.asarray(magnitude, dtype=np.float64) + tiny_for(dtype)


def gemm_magnitude(a, b, trans_a: bool = False, trans_b: bool = False) -> np.ndarray:
    """``|op(a)| @ |op(b)|`` in float64: the size of the terms summed into each GEMM output."""
    a = np.abs(np.asarray(a, dtype=np.float64))
    b = np.abs(np.asarray(b, dtype=np.float64))
    return (a.T if trans_a else a) @ (b.T if trans_b else b)


def assert_same_dtype(result, dtype, what: str) -> None:
    """Assert that a returned array kept the input dtype (float32 stays float32)."""
    assert np.asarray(result).dtype == np.dtype(dtype), (
        f"{what}: dtype {np.asarray(result).dtype} != {np.dtype(dtype)}")


def snapshot(*arrays: Optional[np.ndarray]) -> list:
    """Copies of ``arrays`` (``None`` kept) to check later that a call left its inputs untouched."""
    return [None if a is None else np.array(a, copy=True) for a in arrays]


def assert_unchanged(arrays: Sequence[Optional[np.ndarray]], copies: Sequence, what: str) -> None:
    """Assert every array still equals its :func:`snapshot` bit for bit (NaN gaps included)."""
    for index, (array, copy) in enumerate(zip(arrays, copies)):
        if array is not None:
            np.testing.assert_array_equal(array, copy, err_msg=f"{what}: input {index} modified")
