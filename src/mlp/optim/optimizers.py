"""Optimizers: hyperparameters and state over flat buffers, updated by a backend kernel.

Each optimizer holds its hyperparameters, a step counter (``iterations``) and its state *slots*:
one flat 1-D array per slot, as long as the flat parameter buffer of the whole model. One call to
:meth:`Optimizer.apply` clips the flat gradient as configured and runs the backend's fused update
(``sgd_update``, ``adam_update``, ``rmsprop_update`` or ``adagrad_update`` of
:class:`mlp.backends.base.Backend`) over the whole buffer in one pass.

Defaults follow Keras (users arrive from Keras); the update *formulas* are PyTorch's, written out
in each class docstring, which also says where they differ from Keras.

Examples
--------
>>> import numpy as np
>>> import mlp.optimizers as optimizers
>>> from mlp.backends import get_backend
>>> optimizer = optimizers.get("adam")
>>> params = np.array([1.0, -1.0]); grads = np.array([0.5, -0.5])
>>> optimizer.apply(get_backend("reference"), params, grads)
>>> params, optimizer.iterations
(array([ 0.999, -0.999]), 1)
"""
from __future__ import annotations

from typing import Any, Dict, Mapping, Type, Union

from ..validation import fail
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .nadam import Adamax, Nadam
from .base import LearningRate, Optimizer
from .rmsprop import RMSprop
from .sgd import SGD


# --------------------------------------------------------------- registry
OPTIMIZERS: Dict[str, Type[Optimizer]] = {
    cls.__name__.lower(): cls for cls in (SGD, Adam, AdamW, RMSprop, Adagrad, Nadam, Adamax)
}
"""The optimizers by lower-case name, as :func:`get` knows them."""


def _lookup(name: str, argument: str) -> Type[Optimizer]:
    """The optimizer class called ``name`` (case-insensitive)."""
    cls = OPTIMIZERS.get(name.lower()) if isinstance(name, str) else None
    if cls is None:
        fail(argument, f"one of {sorted(OPTIMIZERS)} (case-insensitive)", name)
    return cls


def serialize(optimizer: Optimizer) -> Dict[str, Any]:
    """``{"class_name": ..., "config": ...}`` for an optimizer, read back by :func:`get`.

    Raises
    ------
    TypeError
        If ``optimizer`` is not an :class:`Optimizer`, or its learning rate is a plain callable.
    """
    if not isinstance(optimizer, Optimizer):
        fail("optimizer", "an mlp.optimizers.Optimizer", optimizer, TypeError)
    return {"class_name": type(optimizer).__name__, "config": optimizer.get_config()}


def deserialize(config: Mapping[str, Any]) -> Optimizer:
    """Rebuild an optimizer from the dict written by :func:`serialize`.

    Raises
    ------
    TypeError
        If ``config`` is not a dict with the keys ``"class_name"`` and ``"config"``.
    ValueError
        If the class name is unknown (the message lists the valid ones).
    """
    if not isinstance(config, Mapping) or not {"class_name", "config"} <= set(config):
        fail("config", 'a dict with the keys "class_name" and "config"', config, TypeError)
    return _lookup(config["class_name"], "class_name").from_config(config["config"])


def get(identifier: Union[Optimizer, str, Mapping[str, Any]]) -> Optimizer:
    """An optimizer from an instance (returned as is), a name, or a serialised dict.

    Parameters
    ----------
    identifier : Optimizer, str or dict
        A name is one of :data:`OPTIMIZERS` (case-insensitive) and gives its defaults; a dict is
        the output of :func:`serialize`.

    Raises
    ------
    ValueError
        If the name is unknown (the message lists the valid ones).
    TypeError
        If ``identifier`` is of another type.

    Examples
    --------
    >>> from mlp.optimizers import get
    >>> get("RMSprop").learning_rate
    0.001
    >>> get({"class_name": "SGD", "config": {"momentum": 0.9}}).momentum
    0.9
    """
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str):
        return _lookup(identifier, "optimizer")()
    if isinstance(identifier, Mapping):
        return deserialize(identifier)
    fail("optimizer", f"an Optimizer, a name in {sorted(OPTIMIZERS)} or a serialised dict",
          identifier, TypeError)


__all__ = [
    "Adagrad",
    "Adam",
    "AdamW",
    "Adamax",
    "Nadam",
    "LearningRate",
    "OPTIMIZERS",
    "Optimizer",
    "RMSprop",
    "SGD",
    "deserialize",
    "get",
    "serialize",
]
