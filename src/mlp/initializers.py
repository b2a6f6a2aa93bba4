"""Weight initializers: the public path ``mlp.initializers`` of :mod:`mlp.nn.initializers`."""
from .nn.initializers import *  # noqa: F401,F403
from .nn.initializers import __all__  # noqa: F401
