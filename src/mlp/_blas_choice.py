"""Which BLAS the kernels' GEMMs call, chosen once at import.

Measured with ``benchmarks/blas.py`` (single-threaded sgemm at the benchmark networks' shapes,
the way the kernels call it: one thread per part): the ``scipy-openblas32`` wheel (OpenBLAS
0.3.34, the build numpy and scipy compile against) ran 0-26 % faster than scipy's bundled
OpenBLAS 0.3.30 on a 2-core AMD EPYC (Zen 4) VM, never slower; on an Intel Sapphire Rapids VM
issue 10 measured 147-160 against 121-131 GFLOP/s at config D's shapes. So when that wheel
is installed (``pip install mlp-engine[openblas]``) the kernels use a private copy of it, loaded
with its symbols kept local (scipy keeps its own) and pinned to one thread for good: its only
caller is the kernels' pool, which owns the parallelism. Otherwise they use
``scipy.linalg.cython_blas``, which needs nothing beyond scipy.

The environment variable ``MLP_BLAS`` overrides the choice: ``scipy`` or ``scipy-openblas32``
(an error when that wheel is missing); ``auto`` (the default) as above.
"""
from __future__ import annotations

import ctypes
import importlib.util
import os
import sys
from pathlib import Path
from typing import Optional

from .kernels import _kernels

CHOICES = ("auto", "scipy", "scipy-openblas32")

_private_library: Optional[ctypes.CDLL] = None
_private_path: Optional[str] = None


def _openblas32_path() -> Optional[Path]:
    """The shared library of the installed ``scipy-openblas32`` wheel, found without importing
    the package (its import loads the library with global symbols)."""
    spec = importlib.util.find_spec("scipy_openblas32")
    if spec is None or not spec.submodule_search_locations:
        return None
    lib_dir = Path(list(spec.submodule_search_locations)[0]) / "lib"
    suffix = {"win32": ".dll", "darwin": ".dylib"}.get(sys.platform, ".so")
    candidates = sorted(lib_dir.glob(f"*scipy_openblas*{suffix}")) if lib_dir.is_dir() else []
    return candidates[0] if candidates else None


def _load_openblas32(path: Path) -> str:
    global _private_library, _private_path
    library = ctypes.CDLL(str(path), mode=getattr(ctypes, "RTLD_LOCAL", 0))
    library.scipy_openblas_set_num_threads(1)
    config = library.scipy_openblas_get_config
    config.restype = ctypes.c_char_p
    version = config().decode(errors="replace").split()[1]

    def address(name: str) -> int:
        return ctypes.cast(getattr(library, name), ctypes.c_void_p).value

    _kernels.use_blas(f"scipy-openblas32 (OpenBLAS {version}, private, 1 thread)",
                      address("scipy_sgemm_"), address("scipy_dgemm_"),
                      address("scipy_sgemv_"), address("scipy_dgemv_"))
    _private_library, _private_path = library, str(path)
    return _kernels.blas_name()


def choose(preference: Optional[str] = None) -> str:
    """Select the kernels' BLAS (``preference`` or ``$MLP_BLAS``, default ``"auto"``) and return
    its description."""
    preference = preference or os.environ.get("MLP_BLAS", "auto") or "auto"
    if preference not in CHOICES:
        raise ValueError(f"MLP_BLAS: expected one of {list(CHOICES)}, got {preference!r}")
    if preference == "scipy":
        _kernels.use_scipy_blas()
        return _kernels.blas_name()
    if _private_library is not None:
        return _load_openblas32(Path(_private_path))
    path = _openblas32_path()
    if path is None:
        if preference == "scipy-openblas32":
            raise ImportError("MLP_BLAS=scipy-openblas32, but the scipy-openblas32 wheel is not "
                              "installed; pip install mlp-engine[openblas]")
        _kernels.use_scipy_blas()
        return _kernels.blas_name()
    try:
        return _load_openblas32(path)
    except (OSError, AttributeError, IndexError) as error:
        if preference == "scipy-openblas32":
            raise ImportError(f"MLP_BLAS=scipy-openblas32: could not load {path}: {error}") from None
        _kernels.use_scipy_blas()
        return _kernels.blas_name()


def private_library_path() -> Optional[str]:
    """The file of the kernels' private BLAS, or None when they call scipy's."""
    return _private_path if is_private() else None


def is_private() -> bool:
    """True when the kernels call a private single-threaded BLAS (no pinning needed)."""
    return _kernels.blas_name() != "scipy"


choose()
