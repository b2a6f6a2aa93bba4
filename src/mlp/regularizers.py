"""Weight regularizers: the public path ``mlp.regularizers`` of :mod:`mlp.nn.regularizers`."""
from .nn.regularizers import *  # noqa: F401,F403
from .nn.regularizers import __all__  # noqa: F401
