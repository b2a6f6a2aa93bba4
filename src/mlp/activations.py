"""Custom activations: the public path ``mlp.activations`` of :mod:`mlp.nn.activations`."""
from .nn.activations import *  # noqa: F401,F403
from .nn.activations import __all__  # noqa: F401
