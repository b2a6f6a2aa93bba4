"""Weight regularizers: L1 and L2 penalties added to the loss, with Keras semantics.

For a weight tensor ``w`` the penalty is ``l1 * sum(|w|) + l2 * sum(w ** 2)``, and its gradient,
which the training engine adds to the weight gradient in its kernels, is
``l1 * sign(w) + 2 * l2 * w``. The engine reads only the attributes ``l1`` and ``l2``, so every
regularizer here is an :class:`L1L2`.

Examples
--------
>>> import numpy as np
>>> from mlp import regularizers
>>> reg = regularizers.get("l2")
>>> reg.l1, reg.l2
(0.0, 0.01)
>>> reg(np.array([[1.0, -2.0], [3.0, -4.0]]))
0.3
>>> regularizers.serialize(regularizers.l1_l2(l1=0.001, l2=0.01))
{'class_name': 'L1L2', 'config': {'l1': 0.001, 'l2': 0.01}}
"""
from __future__ import annotations

import math
import numbers
from typing import Any, Dict, Optional, Union

import numpy as np


def _coefficient(name: str, value: Any) -> float:
    """Return ``value`` as a float, or raise if it is not a finite number >= 0."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"{name}: expected a finite number >= 0, got {type(value).__name__} {value!r}"
        )
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name}: expected a finite number >= 0, got {value!r}")
    return float(value)


class Regularizer:
    """Base class: a callable that maps a weight tensor to a scalar penalty added to the loss."""

    def __call__(self, weights: Any) -> float:
        """Return the penalty for ``weights``."""
        raise NotImplementedError

    def get_config(self) -> Dict[str, Any]:
        """Return the constructor arguments as a JSON-serialisable dict."""
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class L1L2(Regularizer):
    """Penalty ``l1 * sum(|w|) + l2 * sum(w ** 2)``.

    Parameters
    ----------
    l1 : float, optional
        L1 coefficient, finite and >= 0. Defaults to ``0.0``.
    l2 : float, optional
        L2 coefficient, finite and >= 0. Defaults to ``0.0``.

    Attributes
    ----------
    l1, l2 : float
        The coefficients; the training engine reads these two attributes and adds the penalty
        gradient ``l1 * sign(w) + 2 * l2 * w`` to the weight gradient.

    Examples
    --------
    >>> L1L2(l1=0.5, l2=0.25)([[1.0, -2.0], [3.0, -4.0]])  # 0.5 * 10 + 0.25 * 30
    12.5
    """

    def __init__(self, l1: float = 0.0, l2: float = 0.0) -> None:
        self.l1 = _coefficient("l1", l1)
        self.l2 = _coefficient("l2", l2)

    def __call__(self, weights: Any) -> float:
        """Return ``l1 * sum(|w|) + l2 * sum(w ** 2)``, computed in float64.

        Parameters
        ----------
        weights : array_like
            A weight tensor of any shape.

        Returns
        -------
        float
        """
        w = np.asarray(weights, dtype=np.float64)
        penalty = 0.0
        if self.l1:
            penalty += self.l1 * float(np.sum(np.abs(w)))
        if self.l2:
            penalty += self.l2 * float(np.sum(np.square(w)))
        return penalty

    def get_config(self) -> Dict[str, Any]:
        """Return ``{"l1": l1, "l2": l2}``."""
        return {"l1": self.l1, "l2": self.l2}


class L1(L1L2):
    """Penalty ``l1 * sum(|w|)``: an :class:`L1L2` with ``l2 = 0``.

    Parameters
    ----------
    l1 : float, optional
        L1 coefficient, finite and >= 0. Defaults to ``0.01``.
    """

    def __init__(self, l1: float = 0.01) -> None:
        super().__init__(l1=l1, l2=0.0)

    def get_config(self) -> Dict[str, Any]:
        """Return ``{"l1": l1}``."""
        return {"l1": self.l1}


class L2(L1L2):
    """Penalty ``l2 * sum(w ** 2)``: an :class:`L1L2` with ``l1 = 0``.

    Parameters
    ----------
    l2 : float, optional
        L2 coefficient, finite and >= 0. Defaults to ``0.01``.
    """

    def __init__(self, l2: float = 0.01) -> None:
        super().__init__(l1=0.0, l2=l2)

    def get_config(self) -> Dict[str, Any]:
        """Return ``{"l2": l2}``."""
        return {"l2": self.l2}


def l1(l1: float = 0.01) -> L1:
    """Return an L1 penalty ``l1 * sum(|w|)``.

    Parameters
    ----------
    l1 : float, optional
        Finite and >= 0. Defaults to ``0.01``.

    Returns
    -------
    L1
    """
    return L1(l1=l1)


def l2(l2: float = 0.01) -> L2:
    """Return an L2 penalty ``l2 * sum(w ** 2)``.

    Parameters
    ----------
    l2 : float, optional
        Finite and >= 0. Defaults to ``0.01``.

    Returns
    -------
    L2
    """
    return L2(l2=l2)


def l1_l2(l1: float = 0.01, l2: float = 0.01) -> L1L2:
    """Return the combined penalty ``l1 * sum(|w|) + l2 * sum(w ** 2)``.

    Parameters
    ----------
    l1, l2 : float, optional
        Finite and >= 0. Both default to ``0.01`` (unlike the :class:`L1L2` constructor, whose
        defaults are 0).

    Returns
    -------
    L1L2
    """
    return L1L2(l1=l1, l2=l2)


_NAMES = {"l1": l1, "l2": l2, "l1_l2": l1_l2}
REGULARIZERS = tuple(_NAMES)
"""Names accepted by :func:`get`."""

_CLASSES = {cls.__name__: cls for cls in (L1, L2, L1L2)}


def _from_dict(identifier: Dict[str, Any]) -> L1L2:
    """Build a regularizer from ``{"class_name": ..., "config": {...}}``."""
    name = identifier.get("class_name")
    cls = _CLASSES.get(name) if isinstance(name, str) else None
    if cls is None:
        raise ValueError(
            f"identifier: expected 'class_name' to be one of {list(_CLASSES)}, got {name!r}"
        )
    config = identifier.get("config") or {}
    if not isinstance(config, dict):
        raise TypeError(f"identifier: expected 'config' to be a dict, got {type(config).__name__}")
    try:
        return cls(**config)
    except TypeError as err:
        raise TypeError(f"identifier: bad config for {cls.__name__}: {err}") from None


def get(identifier: Union[None, str, Dict[str, Any], Regularizer]) -> Optional[Regularizer]:
    """Return the regularizer an identifier names, or None for None.

    Parameters
    ----------
    identifier : None, str, dict or Regularizer
        None (no regularization); ``"l1"``, ``"l2"`` or ``"l1_l2"`` (coefficients 0.01); a
        ``{"class_name": ..., "config": {...}}`` dict as written by :func:`serialize`; or a
        :class:`Regularizer` instance (returned unchanged).

    Returns
    -------
    Regularizer or None

    Raises
    ------
    ValueError
        If the name or class name is unknown (the message lists the valid ones).
    TypeError
        If ``identifier`` is of another type.

    Examples
    --------
    >>> get("l1_l2")
    L1L2(l1=0.01, l2=0.01)
    >>> get({"class_name": "L2", "config": {"l2": 0.001}})
    L2(l2=0.001)
    """
    if identifier is None or isinstance(identifier, Regularizer):
        return identifier
    if isinstance(identifier, str):
        if identifier not in _NAMES:
            raise ValueError(
                f"identifier: unknown regularizer {identifier!r}. "
                f"Supported regularizers are {list(REGULARIZERS)}."
            )
        return _NAMES[identifier]()
    if isinstance(identifier, dict):
        return _from_dict(identifier)
    raise TypeError(
        "identifier: expected None, a regularizer name, a {'class_name', 'config'} dict or a "
        f"Regularizer instance, got {type(identifier).__name__} {identifier!r}"
    )


def serialize(regularizer: Regularizer) -> Dict[str, Any]:
    """Return ``{"class_name": ..., "config": {...}}``, the JSON form :func:`get` reads back.

    Parameters
    ----------
    regularizer : Regularizer

    Returns
    -------
    dict
    """
    if not isinstance(regularizer, Regularizer):
        raise TypeError(
            f"regularizer: expected a Regularizer instance, got {type(regularizer).__name__}"
        )
    return {"class_name": type(regularizer).__name__, "config": regularizer.get_config()}


__all__ = ["Regularizer", "L1L2", "L1", "L2", "l1", "l2", "l1_l2", "REGULARIZERS", "get",
    "serialize"]
