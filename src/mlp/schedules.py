"""Learning-rate schedules: the public path ``mlp.schedules`` of :mod:`mlp.optim.schedules`."""
from .optim.schedules import *  # noqa: F401,F403
from .optim.schedules import __all__  # noqa: F401
