"""Fixtures shared by the whole suite: the ``backend`` and ``dtype`` every backend test runs over.

``backend`` takes every backend that can run here: the host backends of
:data:`mlp.backends.BACKENDS` (``reference``, the oracle, and ``cpu``); ``cupy`` on a GPU; and
``cupy-emulated``, the CuPy backend's kernels compiled as C++ and run on the CPU
(:mod:`cupy_emulator`, skipped without a C++ compiler). The two CuPy values are called through
:class:`cupy_emulator.HostAdapter`, so the tests hand them NumPy arrays as they do the others.
``dtype`` takes each float type. A test that asks for them runs once per value.
"""
from __future__ import annotations

import numpy as np
import pytest

from cupy_emulator import HostAdapter, compiler, emulated_backend, gpu_status
from mlp.backends import get_backend

BACKEND_NAMES = ["reference", "cpu", "cupy", "cupy-emulated"]
DTYPES = [np.float32, np.float64]


def _device_backend(name: str):
    """The cupy backend (on the GPU, or emulated) behind a host adapter, or a skip saying why."""
    if name == "cupy":
        ok, why = gpu_status()
        if not ok:
            pytest.skip(f"cupy backend on a GPU: {why}")
        import cupy

        return HostAdapter(get_backend("cupy"), cupy.asarray, cupy.asnumpy)
    if not compiler():
        pytest.skip("emulated cupy backend: no C++ compiler (g++ / c++) found")
    module, backend = emulated_backend()
    return HostAdapter(backend, module.cp.asarray, module.cp.asnumpy)


@pytest.fixture(params=BACKEND_NAMES)
def backend(request):
    if request.param in ("cupy", "cupy-emulated"):
        return _device_backend(request.param)
    return get_backend(request.param)


@pytest.fixture(params=DTYPES, ids=["float32", "float64"])
def dtype(request):
    return request.param
