"""Backend selection: where the numbers live and which kernels compute them.

``cpu`` (Cython + OpenMP, the default), ``reference`` (pure NumPy, the test oracle) and ``cupy``
(NVIDIA GPUs; needs the optional CuPy extra, ``pip install 'mlp-engine[cuda12]'``). The active
default comes from, in order: :func:`use_backend` / :func:`set_backend`, then the
``MLP_BACKEND`` environment variable, then ``"cpu"``.

Backends are imported when first asked for: importing :mod:`mlp` never imports CuPy. Asking for
``cupy`` where CuPy is missing, does not load, or sees no GPU raises
:class:`BackendUnavailableError`, whose message says which.

Examples
--------
>>> import mlp
>>> with mlp.use_backend("reference"):
...     mlp.get_backend().name
'reference'
"""
from __future__ import annotations

import contextlib
import importlib
import os
import threading
from typing import Dict, Iterator, Optional, Union

from .base import Backend

_MODULES = {"cpu": ".cpu", "reference": ".reference", "cupy": ".cupy"}
_CLASSES = {"cpu": "CPUBackend", "reference": "ReferenceBackend", "cupy": "CupyBackend"}
BACKENDS = ("cpu", "reference")
"""The backends that work on every machine (host memory)."""
OPTIONAL_BACKENDS = ("cupy",)
"""Backends that need an optional extra and hardware (``cupy``: CuPy and an NVIDIA GPU)."""
ALL_BACKENDS = BACKENDS + OPTIONAL_BACKENDS
"""Names accepted by :func:`set_backend`, :func:`use_backend` and ``MLP_BACKEND``."""


class BackendUnavailableError(RuntimeError):
    """A known backend cannot run here (e.g. ``cupy`` without CuPy or without a GPU).

    ``reason`` says why in one word: ``"not-installed"``, ``"import-failed"`` or ``"no-gpu"``.
    """

    def __init__(self, message: str, reason: str = "unavailable"):
        super().__init__(message)
        self.reason = reason

_instances: Dict[str, Backend] = {}
_state = threading.local()
_global_default: Optional[str] = None


def _check_name(name: object, argument: str) -> str:
    if not isinstance(name, str) or name.lower() not in _MODULES:
        raise ValueError(
            f"{argument}: unknown backend {name!r}. Valid backends are {list(ALL_BACKENDS)}."
        )
    return name.lower()


def get_backend(name: Union[str, Backend, None] = None) -> Backend:
    """Return the backend instance called ``name``, or the active default when ``name`` is None.

    Parameters
    ----------
    name : str, Backend or None
        One of :data:`BACKENDS`; a ``Backend`` instance is returned unchanged.

    Raises
    ------
    ValueError
        If the name is unknown (the message lists the valid ones).
    BackendUnavailableError
        If the backend cannot run here (``cupy`` without CuPy or without a GPU).
    """
    if isinstance(name, Backend):
        return name
    if name is None:
        name = _active_name()
    else:
        name = _check_name(name, "backend")
    if name not in _instances:
        module = importlib.import_module(_MODULES[name], __name__)
        _instances[name] = getattr(module, _CLASSES[name])()
    return _instances[name]


def available_backends() -> tuple:
    """The names of :data:`ALL_BACKENDS` that can run here (``cupy`` only with CuPy and a GPU).

    Checking ``cupy`` imports CuPy when it is installed.
    """
    names = list(BACKENDS)
    for name in OPTIONAL_BACKENDS:
        try:
            get_backend(name)
        except BackendUnavailableError:
            continue
        names.append(name)
    return tuple(names)


def _active_name() -> str:
    stack = getattr(_state, "stack", None)
    if stack:
        return stack[-1]
    if _global_default is not None:
        return _global_default
    env = os.environ.get("MLP_BACKEND")
    if env:
        return _check_name(env, "MLP_BACKEND environment variable")
    return "cpu"


def set_backend(name: str) -> None:
    """Make ``name`` the default backend for models created from now on.

    Raises
    ------
    ValueError
        If the name is unknown (the message lists the valid ones).
    BackendUnavailableError
        If the backend cannot run here (``cupy`` without CuPy or without a GPU).
    """
    global _global_default
    name = _check_name(name, "backend")
    get_backend(name)
    _global_default = name


@contextlib.contextmanager
def use_backend(name: str) -> Iterator[Backend]:
    """Context manager that makes ``name`` the default backend inside the ``with`` block.

    Examples
    --------
    >>> import mlp
    >>> with mlp.use_backend("reference") as backend:
    ...     backend.name
    'reference'
    """
    name = _check_name(name, "backend")
    backend = get_backend(name)
    stack = getattr(_state, "stack", None)
    if stack is None:
        stack = _state.stack = []
    stack.append(name)
    try:
        yield backend
    finally:
        stack.pop()


__all__ = ["ALL_BACKENDS", "Backend", "BackendUnavailableError", "BACKENDS", "OPTIONAL_BACKENDS",
           "available_backends", "get_backend", "set_backend", "use_backend"]
