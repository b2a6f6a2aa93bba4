"""The walk over a stack of layers, written once: which layers compute, and the width and the
weight shapes each one sees.

The model (building, binding, summary), the training plan and model saving all walk the
network through these functions.
"""
from __future__ import annotations

from typing import Iterator, List, Sequence, Tuple

from .layers import Input, Layer
from .normalization import BatchNormalization, LayerNormalization  # noqa: F401 (registered)


def compute_layers(layers: Sequence[Layer]) -> List[Layer]:
    """The layers that compute something (``Input`` only declares the width)."""
    return [layer for layer in layers if not isinstance(layer, Input)]


def walk(layers: Sequence[Layer], input_dim: int) -> Iterator[Tuple[Layer, int, int]]:
    """``(layer, in_width, out_width)`` for each compute layer, from the input to the output."""
    width = input_dim
    for layer in compute_layers(layers):
        out = layer.output_dim(width)
        yield layer, width, out
        width = out


def param_shapes(layers: Sequence[Layer], input_dim: int) -> List[List[Tuple[int, ...]]]:
    """The shapes of each compute layer's weight arrays (kernel then bias), layer by layer."""
    return [list(layer.param_shapes(width)) for layer, width, _ in walk(layers, input_dim)]


def flat_param_shapes(layers: Sequence[Layer], input_dim: int) -> List[List[int]]:
    """Every weight array's shape as a list of ints, in layer order (as ``get_weights``)."""
    return [[int(d) for d in shape] for shapes in param_shapes(layers, input_dim)
            for shape in shapes]


__all__ = ["compute_layers", "flat_param_shapes", "param_shapes", "walk"]
