"""Saving and loading models in one safe file: a JSON header and raw tensors, no pickle.

The public face of :mod:`mlp.saving`: :mod:`mlp.saving.format` holds the file layout and
:mod:`mlp.saving.model` what a model file contains; here the functions are bound to
:class:`mlp.Sequential`.

Examples
--------
>>> import os, tempfile
>>> import numpy as np, mlp
>>> from mlp.io import load_model, save_model
>>> model = mlp.Sequential([mlp.Dense(4, activation="relu", input_dim=3), mlp.Dense(1)], seed=0)
>>> model.compile(optimizer="adam", loss="mse")
>>> path = os.path.join(tempfile.mkdtemp(), "model.mlp")
>>> save_model(model, path)
>>> x = np.ones((2, 3), dtype="float32")
>>> bool(np.array_equal(load_model(path).predict(x), model.predict(x)))
True
"""
from __future__ import annotations

from typing import Optional

from .model import Sequential
from .saving import model as _model_file
from .saving.format import FORMAT, FORMAT_VERSION, MAX_HEADER_BYTES, write_atomically


def _check_model(model, function: str) -> None:
    if not isinstance(model, Sequential):
        raise TypeError(f"{function}: model: expected a mlp.Sequential, got "
                        f"{type(model).__name__}")


def save_model(model: Sequential, path) -> None:
    """Save a model's architecture, compile settings, weights and training state to one file.

    See :func:`mlp.saving.model.save_model`; ``TypeError`` if ``model`` is not a ``Sequential``.
    """
    _check_model(model, "save_model")
    _model_file.save_model(model, path)


def load_model(path, backend: Optional[str] = None) -> Sequential:
    """Load a model written by :func:`save_model` (or ``Sequential.save``).

    See :func:`mlp.saving.model.load_model`.
    """
    return _model_file.load_model(path, Sequential, backend)


def save_weights(model: Sequential, path) -> None:
    """Save only a model's weights; see :func:`mlp.saving.model.save_weights`."""
    _check_model(model, "save_weights")
    _model_file.save_weights(model, path)


def load_weights(model: Sequential, path) -> None:
    """Load saved weights into ``model``; see :func:`mlp.saving.model.load_weights`."""
    _check_model(model, "load_weights")
    _model_file.load_weights(model, path)


__all__ = ["FORMAT", "FORMAT_VERSION", "MAX_HEADER_BYTES", "load_model", "load_weights",
           "save_model", "save_weights", "write_atomically"]
