"""Thread control: the kernels' thread pool and the BLAS pool, governed together.

DESIGN.md section 3: one thread pool works at a time. While the kernels split a GEMM across
their threads, each thread calls single-threaded BLAS, so BLAS is pinned to one thread for the
duration (:func:`blas_single_thread`).
"""
from __future__ import annotations

import contextlib
import operator
import os
import threading
from typing import Iterator, List, Optional, Tuple

from threadpoolctl import LibController, register

from . import _blas_choice
from ._version import __version__
from .kernels import _kernels

_controller = None


class KernelPoolController(LibController):
    """threadpoolctl's view of mlp's kernel thread pool, so that ``threadpool_limits`` (which
    joblib, scikit-learn and users call to stop nested parallelism from oversubscribing the
    cores) limits it as it limits OpenMP: the pool replaces OpenMP in mlp's kernels, so it is
    listed under ``user_api="openmp"``, ``internal_api="mlp"``.

    The count it sets is :func:`set_num_threads`' for the kernels (threadpoolctl sets the BLAS
    libraries itself). ``OMP_NUM_THREADS``, which joblib's workers get, is read when mlp is
    imported (:func:`mlp.kernels._kernels.default_num_threads`).
    """

    user_api = "openmp"
    internal_api = "mlp"
    filename_prefixes = ("_kernels",)
    check_symbols = ("mlp_runtime_default_threads",)

    def get_num_threads(self) -> int:
        """The kernels' thread count (:func:`get_num_threads`)."""
        return _kernels.get_num_threads()

    def set_num_threads(self, num_threads: int) -> None:
        """Set the kernels' thread count (at least 1); BLAS is threadpoolctl's to set."""
        _kernels.set_num_threads(max(1, int(num_threads)))

    def get_version(self) -> str:
        """mlp's version."""
        return __version__


register(KernelPoolController)


def _blas_controller():
    """The threadpoolctl controller of the loaded BLAS libraries but the kernels' private one,
    which stays on one thread (created once, it is slow)."""
    global _controller
    if _controller is None:
        from threadpoolctl import ThreadpoolController

        private = _blas_choice.private_library_path()
        libraries = ThreadpoolController().select(user_api="blas")
        paths = [lib.filepath for lib in libraries.lib_controllers
                 if private is None or not _same_file(lib.filepath, private)]
        _controller = libraries.select(filepath=paths)
    return _controller


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def set_num_threads(n: int) -> None:
    """Set how many threads mlp uses: its kernels' pool, and the BLAS pool outside the kernels.

    Parameters
    ----------
    n : int
        At least 1. In a build without threads (see :func:`mlp.show_config`) the kernels stay
        single-threaded. During ``fit`` the training loop may run a step on one thread when it
        measures that the others do not pay (a busy core); results are the same bits either way.

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
    for library in _blas_controller().lib_controllers:
        _set_blas_threads(library, n)


def get_num_threads() -> int:
    """The number of threads mlp's kernels use (1 in a build without threads)."""
    return _kernels.get_num_threads()


PIN_MIN_FLOPS = 1e6
"""GEMM work below which pinning BLAS is skipped: its few microseconds would dominate the call,
and BLAS runs such small products on one thread anyway."""


def needs_pinning(flops: Optional[float]) -> bool:
    """Whether :func:`blas_single_thread` would pin BLAS for work of ``flops`` (never when the
    kernels call a private BLAS, which stays on one thread for good)."""
    return (_kernels.get_num_threads() >= 2 and not _blas_choice.is_private()
            and (flops is None or flops >= PIN_MIN_FLOPS))


_pin_lock = threading.Lock()
_pin_depth = 0
_pin_saved: List[Tuple[object, int]] = []


@contextlib.contextmanager
def blas_single_thread(flops: Optional[float] = None) -> Iterator[None]:
    """Pin every loaded BLAS to one thread inside the block, when mlp's pool is multi-threaded.

    mlp splits large GEMMs across its own threads, each calling single-threaded BLAS; and for
    mid-size products BLAS' own threads are slower than one thread (measured: a 10000x30x16
    product takes 2.2x longer on 2 OpenBLAS threads). ``flops``, the GEMM work in the block,
    skips the pinning for tiny calls (below :data:`PIN_MIN_FLOPS`); ``None`` always pins (``fit``
    pins once for the whole call).

    The BLAS thread count is global to the process, so blocks entered from several Python
    threads at once share one pinning: the first block in pins, the last one out restores
    (without that, one thread's restore let another thread's GEMM parts run multi-threaded BLAS,
    whose results differ in the last bits).
    """
    global _pin_depth, _pin_saved
    if not needs_pinning(flops):
        yield
        return
    with _pin_lock:
        if _pin_depth == 0:
            libraries = _blas_controller().lib_controllers
            _pin_saved = [(library, library.get_num_threads()) for library in libraries]
            for library in libraries:
                _set_blas_threads(library, 1)
        _pin_depth += 1
    try:
        yield
    finally:
        with _pin_lock:
            _pin_depth -= 1
            if _pin_depth == 0:
                for library, count in _pin_saved:
                    _set_blas_threads(library, count)
                _pin_saved = []


def _set_blas_threads(library, count: int) -> None:
    """Set a BLAS library's thread count from whichever Python thread we are on.

    threadpoolctl (3.8) lets only one Python thread change OpenBLAS' process-wide count and
    silently ignores the others, so a ``predict`` from a worker thread would run our GEMM parts
    on multi-threaded BLAS (slower, and other bits). Its per-library setter does the change.
    """
    getattr(library, "_real_set_num_threads", library.set_num_threads)(count)
