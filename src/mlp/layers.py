"""Layers: the public path ``mlp.layers`` of :mod:`mlp.nn.layers` and
:mod:`mlp.nn.normalization`."""
from .nn.layers import *  # noqa: F401,F403
from .nn.layers import __all__ as _layers_all
from .nn.normalization import BatchNormalization, LayerNormalization  # noqa: F401

__all__ = list(_layers_all) + ["BatchNormalization", "LayerNormalization"]
