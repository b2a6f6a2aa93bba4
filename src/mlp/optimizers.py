"""Optimizers: the public path ``mlp.optimizers`` of :mod:`mlp.optim.optimizers`."""
from .optim.optimizers import *  # noqa: F401,F403
from .optim.optimizers import __all__  # noqa: F401
