"""Fixtures shared by the whole suite: the ``backend`` and ``dtype`` every backend test runs over.

``backend`` takes each host backend (:data:`mlp.backends.BACKENDS`: ``reference``, the oracle,
and ``cpu``); ``dtype`` each float type. A test module that asks for them runs once per value.
The CuPy backend has its own module (``tests/backends/test_cupy_backend.py``), on a GPU or
emulated.
"""
from __future__ import annotations

import numpy as np
import pytest

from mlp.backends import get_backend

BACKEND_NAMES = ["reference", "cpu"]
DTYPES = [np.float32, np.float64]


@pytest.fixture(params=BACKEND_NAMES)
def backend(request):
    return get_backend(request.param)


@pytest.fixture(params=DTYPES, ids=["float32", "float64"])
def dtype(request):
    return request.param
