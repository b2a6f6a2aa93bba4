"""The single-layer perceptron: the public path ``mlp.perceptron`` of :mod:`mlp.nn.perceptron`, where they are defined."""
from .nn.perceptron import *  # noqa: F401,F403
from .nn.perceptron import __all__  # noqa: F401
