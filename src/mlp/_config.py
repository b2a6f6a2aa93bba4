"""Build and runtime configuration report (``mlp.show_config()``)."""
from __future__ import annotations

import platform
import sys
from typing import Any, Dict

from .kernels import _kernels

from ._version import __version__


def config() -> Dict[str, Any]:
    """The build and runtime configuration as a dict (what :func:`show_config` prints)."""
    from threadpoolctl import threadpool_info

    from .backends import get_backend

    blas = [
        {
            "library": info.get("internal_api"),
            "version": info.get("version"),
            "threads": info.get("num_threads"),
            "architecture": info.get("architecture"),
            "path": info.get("filepath"),
        }
        for info in threadpool_info()
        if info.get("user_api") == "blas"
    ]
    return {
        "version": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "openmp": _kernels.openmp_enabled(),
        "threads": _kernels.get_num_threads(),
        "parallel_runtime": _kernels.runtime_mode(),
        "kernel_blas": _kernels.blas_name(),
        "flush_to_zero": _kernels.ftz_supported(),
        "backend": get_backend().name,
        "blas": blas,
    }


def show_config() -> None:
    """Print the version, OpenMP status, thread counts and the BLAS libraries in use.

    Examples
    --------
    >>> import mlp
    >>> mlp.show_config()  # doctest: +SKIP
    mlp 0.1.0 ...
    """
    info = config()
    print(f"mlp {info['version']} (Python {info['python']}, {info['platform']})")
    print(f"  OpenMP:        {'on' if info['openmp'] else 'off (single-threaded kernels)'}")
    print(f"  threads:       {info['threads']} ({info['parallel_runtime']} runtime)")
    print(f"  kernels' BLAS: {info['kernel_blas']}")
    print(f"  flush-to-zero: {'yes' if info['flush_to_zero'] else 'not on this platform'}")
    print(f"  backend:       {info['backend']}")
    for lib in info["blas"]:
        print(
            f"  BLAS:          {lib['library']} {lib['version']} ({lib['architecture']}), "
            f"{lib['threads']} threads, {lib['path']}"
        )
