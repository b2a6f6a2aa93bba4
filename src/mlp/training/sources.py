"""Data that is not one array: batches from a Python generator or iterator, or from an object
with ``__len__`` and ``__getitem__(i)`` (Keras' ``PyDataset`` / ``Sequence`` protocol).

Each batch is ``x``, ``(x,)``, ``(x, y)`` or ``(x, y, sample_weight)``. ``fit`` trains on the
batches as they come, one plan call per batch, carrying the epoch's loss sum from batch to batch
as the array path does: the same batches in the same order give exactly the history of
training on the arrays with ``shuffle=False``.
"""
from __future__ import annotations

from typing import Any, Iterator, Optional, Tuple

import numpy as np

from ..validation import check_positive_int

Batch = Tuple[Any, Any, Any]


def is_batch_source(x: Any) -> bool:
    """Whether ``x`` is a generator, an iterator or a ``Sequence`` of batches rather than an
    array (NumPy arrays, lists, tuples, pandas objects and GPU arrays are arrays)."""
    if x is None or isinstance(x, (np.ndarray, list, tuple, dict, str, bytes)):
        return False
    if any(hasattr(x, attribute) for attribute in (
            "__array__", "__array_interface__", "__cuda_array_interface__", "to_numpy")):
        return False
    if hasattr(x, "__getitem__") and hasattr(x, "__len__"):
        return True
    return hasattr(x, "__next__") or hasattr(x, "__iter__")


def _unpack(name: str, item: Any, index: int) -> Batch:
    """``(x, y, sample_weight)`` of one batch (missing parts are ``None``)."""
    if not isinstance(item, tuple):
        return item, None, None
    if not 1 <= len(item) <= 3:
        raise ValueError(f"{name}: expected batch {index} as x, (x,), (x, y) or "
                         f"(x, y, sample_weight), got a tuple of {len(item)}")
    return tuple(item) + (None,) * (3 - len(item))  # type: ignore[return-value]


class BatchSource:
    """The batches of one epoch after another from a generator, an iterator or a Sequence.

    Parameters
    ----------
    name : str
        The argument's name, for messages.
    source : generator, iterator or Sequence
    steps : int, optional
        Batches per epoch. Defaults to ``len(source)`` for a Sequence and to "until the
        iterator ends" for a generator (which then serves one epoch only).
    """

    def __init__(self, name: str, source: Any, steps: Optional[int] = None):
        self.name = name
        self.source = source
        self.is_sequence = hasattr(source, "__getitem__") and hasattr(source, "__len__")
        if steps is not None:
            steps = check_positive_int("steps", steps)
        if self.is_sequence:
            length = len(source)
            steps = length if steps is None else min(steps, length)
        else:
            self._iterator = iter(source)
        self.steps = steps

    def epoch(self) -> Iterator[Batch]:
        """The batches of the next epoch."""
        if self.is_sequence:
            for index in range(self.steps):
                yield _unpack(self.name, self.source[index], index)
            on_epoch_end = getattr(self.source, "on_epoch_end", None)
            if callable(on_epoch_end):
                on_epoch_end()
            return
        count = 0
        while self.steps is None or count < self.steps:
            try:
                item = next(self._iterator)
            except StopIteration:
                return
            yield _unpack(self.name, item, count)
            count += 1


__all__ = ["BatchSource", "is_batch_source"]
