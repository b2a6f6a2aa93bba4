"""Losses: the public path ``mlp.losses`` of :mod:`mlp.nn.losses`."""
from .nn.losses import *  # noqa: F401,F403
from .nn.losses import __all__  # noqa: F401
