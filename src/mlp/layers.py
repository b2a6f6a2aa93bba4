"""Layers: the public path ``mlp.layers`` of :mod:`mlp.nn.layers`."""
from .nn.layers import *  # noqa: F401,F403
from .nn.layers import __all__  # noqa: F401
