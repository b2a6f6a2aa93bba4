"""What every backend implements, by name: the activations, the losses, their constants and the
dropout hash (the scalar reference every backend's dropout reproduces). No arrays, no backend.
"""
from __future__ import annotations

import math
import numbers
from typing import Optional

ACTIVATIONS = (
    "linear",
    "relu",
    "leaky_relu",
    "elu",
    "sigmoid",
    "tanh",
    "softmax",
    "gelu",
    "swish",
)
"""Activation names every backend implements (``"silu"`` is accepted as an alias of ``"swish"``)."""

ACTIVATION_ALIASES = {"silu": "swish", None: "linear", "identity": "linear"}

DEFAULT_ALPHA = {"leaky_relu": 0.2, "elu": 1.0}
"""Default ``alpha`` per activation: the negative slope of leaky ReLU (Keras' default 0.2) and
the saturation value of ELU. Other activations ignore ``alpha``."""

ACTIVATIONS_NEEDING_PREACTIVATION = ("gelu", "swish")
"""Activations whose derivative needs the pre-activation ``z``; the others use the output ``y``."""

LOSSES = (
    "mean_squared_error",
    "mean_absolute_error",
    "huber",
    "binary_crossentropy",
    "binary_crossentropy_from_logits",
    "categorical_crossentropy",
    "categorical_crossentropy_from_logits",
)
"""Loss names every backend implements. The two categorical losses accept one-hot (2-D) or integer
(1-D) targets."""

PROBABILITY_EPSILON = 1e-7
"""Probabilities are clipped to ``[eps, 1 - eps]`` by the losses that take probabilities (Keras' value)."""

HASH_STEP = 0x9E3779B97F4A7C15
"""Odd 64-bit constant that spaces consecutive element counters in the dropout hash."""


def resolve_activation(name: Optional[str]) -> str:
    """Return the canonical activation name for ``name`` (aliases resolved).

    Raises
    ------
    ValueError
        If ``name`` is not a known activation; the message lists the supported ones.
    """
    hashable = name is None or isinstance(name, str)
    canonical = ACTIVATION_ALIASES.get(name, name) if hashable else name
    if not isinstance(canonical, str) or canonical not in ACTIVATIONS:
        raise ValueError(
            f"activation: unknown activation {name!r:.80}. Supported activations are "
            f"{list(ACTIVATIONS) + ['silu']}."
        )
    return canonical


MAX_ALPHA = 3.4028234663852886e38
"""The largest ``|alpha|``: float32's largest number, so that ``alpha`` is finite in every dtype
the kernels apply it in (a larger one turns into infinity in a float32 model)."""


def resolve_alpha(activation: str, alpha: Optional[float]) -> float:
    """Return ``alpha`` or, when it is ``None``, the activation's default from :data:`DEFAULT_ALPHA`.

    Raises
    ------
    TypeError
        If ``alpha`` is not a real number.
    ValueError
        If it is not finite, or larger in magnitude than :data:`MAX_ALPHA`.
    """
    expected = "a finite number or None, of magnitude at most 3.4e38 (float32's largest)"
    if alpha is None:
        return float(DEFAULT_ALPHA.get(activation, 0.0))
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real):
        raise TypeError(f"alpha: expected {expected}, got {alpha!r:.80}")
    if not math.isfinite(alpha) or abs(alpha) > MAX_ALPHA:
        raise ValueError(f"alpha: expected {expected}, got {alpha!r}")
    return float(alpha)


MASK64 = (1 << 64) - 1


def mix64(z: int) -> int:
    """The SplitMix64 finaliser on a Python int (mod 2**64): the scalar form of the dropout hash."""
    z &= MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def dropout_stream_key(seed: int, step: int, layer: int) -> int:
    """The 64-bit key of one (seed, step, layer) stream: ``mix64(mix64(mix64(seed) + step) + layer)``.

    Element ``k`` of the stream is ``mix64(key + k * HASH_STEP)``; its top 24 bits scaled by
    ``2**-24`` give a uniform number in ``[0, 1)``. Every backend implements exactly this.
    """
    return mix64((mix64((mix64(seed) + step) & MASK64) + layer) & MASK64)


def dropout_uniform(seed: int, step: int, layer: int, index: int) -> float:
    """The uniform number in ``[0, 1)`` drawn for one element (scalar reference of the hash)."""
    key = dropout_stream_key(seed, step, layer)
    bits = mix64((key + index * HASH_STEP) & MASK64)
    return (bits >> 40) * 2.0 ** -24
