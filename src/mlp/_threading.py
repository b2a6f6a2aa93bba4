"""Thread control: our OpenMP pool and the BLAS pool, governed together.

DESIGN.md section 3: one thread pool works at a time. While the kernels split a GEMM across
OpenMP threads, each thread calls single-threaded BLAS, so BLAS is pinned to one thread for the
duration (:func:`blas_single_thread`).
"""
from __future__ import annotations

import contextlib
import operator
from typing import Iterator, Optional

from .kernels import _kernels

_controller = None


def _blas_controller():
    """The threadpoolctl controller of the loaded BLAS libraries (created once, it is slow)."""
    global _controller
    if _controller is None:
        from threadpoolctl import ThreadpoolController

        _controller = ThreadpoolController().select(user_api="blas")
    return _controller


def set_num_threads(n: int) -> None:
    """Set how many threads mlp uses: its OpenMP pool, and the BLAS pool outside mlp's kernels.

    Parameters
    ----------
    n : int
        At least 1. Without OpenMP (see :func:`mlp.show_config`) the kernels stay single-threaded.

    Examples
    --------
    >>> import mlp
    >>> mlp.set_num_threads(1)
    >>> mlp.get_num_threads()
    1
    """
    try:
        n = operator.index(n)
    except TypeError:
        raise TypeError(f"n: expected an integer number of threads, got {type(n).__name__}") from None
    if n < 1:
        raise ValueError(f"n: expected at least 1 thread, got {n}")
    _kernels.set_num_threads(n)
    _blas_controller().limit(limits=n)


def get_num_threads() -> int:
    """The number of threads mlp's kernels use (1 when built without OpenMP)."""
    return _kernels.get_num_threads()


PIN_MIN_FLOPS = 1e6
"""GEMM work below which pinning BLAS is skipped: its few microseconds would dominate the call,
and BLAS runs such small products on one thread anyway."""


def needs_pinning(flops: Optional[float]) -> bool:
    """Whether :func:`blas_single_thread` would pin BLAS for work of ``flops``."""
    return _kernels.get_num_threads() >= 2 and (flops is None or flops >= PIN_MIN_FLOPS)


@contextlib.contextmanager
def blas_single_thread(flops: Optional[float] = None) -> Iterator[None]:
    """Pin every loaded BLAS to one thread inside the block, when mlp's pool is multi-threaded.

    mlp splits large GEMMs across its own OpenMP threads, each calling single-threaded BLAS;
    and for mid-size products BLAS' own threads are slower than one thread (measured: a
    10000x30x16 product takes 2.2x longer on 2 OpenBLAS threads). ``flops``, the GEMM work in
    the block, skips the pinning for tiny calls (below :data:`PIN_MIN_FLOPS`); ``None`` always
    pins (``fit`` pins once for the whole call).
    """
    if not needs_pinning(flops):
        yield
        return
    libraries = _blas_controller().lib_controllers
    previous = [library.get_num_threads() for library in libraries]
    for library in libraries:
        library.set_num_threads(1)
    try:
        yield
    finally:
        for library, count in zip(libraries, previous):
            library.set_num_threads(count)
