"""The single-layer perceptron: the public path ``mlp.perceptron`` of :mod:`mlp.nn.perceptron`."""
from .nn.perceptron import *  # noqa: F401,F403
from .nn.perceptron import __all__  # noqa: F401
