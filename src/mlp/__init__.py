"""mlp: multilayer perceptrons with a Keras-style API on Cython/OpenMP kernels.

The public API is re-exported here; see ``mlp.show_config()`` for the build in use.
"""
from ._config import __version__, show_config
from ._threading import get_num_threads, set_num_threads
from .backends import get_backend, set_backend, use_backend

__all__ = [
    "__version__",
    "get_backend",
    "get_num_threads",
    "set_backend",
    "set_num_threads",
    "show_config",
    "use_backend",
]
