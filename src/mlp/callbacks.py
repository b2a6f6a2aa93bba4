"""Training callbacks: the public path ``mlp.callbacks`` of :mod:`mlp.training.callbacks`, where they are defined."""
from .training.callbacks import *  # noqa: F401,F403
from .training.callbacks import __all__  # noqa: F401
