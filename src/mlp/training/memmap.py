"""``np.memmap`` inputs read batch by batch, never copied whole.

A memory-mapped array larger than :data:`STREAM_BYTES` given to ``fit``, ``evaluate`` or
``predict`` is served as a ``Sequence`` of batches (:class:`MemmapBatches`), the path of
:mod:`mlp.training.sources`: each batch is copied out of the map (and converted to the model's
dtype) when it is used, and checked then; the pages it came from are handed back to the
system (``madvise(MADV_DONTNEED)`` on Linux and macOS, for maps opened ``"r"`` or ``"r+"``), so
the resident memory stays near one batch whatever the file's size.

With ``shuffle=True`` the *order of the batches* is shuffled each epoch (the rows of a batch
stay together, as Keras shuffles a ``PyDataset``), so the file is read in batch-sized runs;
``shuffle=False`` gives exactly the history of the same data as an in-memory array with
``shuffle=False``.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import mmap
import sys
from typing import Any, Optional, Tuple

import numpy as np

STREAM_BYTES = 64 * 2 ** 20
"""Memory maps of more bytes than this stream batch by batch; smaller ones are read whole
(as any array)."""

_MADV_DONTNEED = getattr(mmap, "MADV_DONTNEED", 4)
_PAGE = mmap.PAGESIZE


def streams(x: Any) -> bool:
    """Whether ``x`` is a memory map large enough to be read batch by batch."""
    return isinstance(x, np.memmap) and x.ndim == 2 and x.nbytes > STREAM_BYTES


def _libc_madvise():
    if not sys.platform.startswith(("linux", "darwin")):
        return None
    try:
        function = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True).madvise
    except (OSError, AttributeError):
        return None
    function.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
    function.restype = ctypes.c_int
    return function


_madvise = _libc_madvise()


def release(array: np.ndarray) -> None:
    """Hand the whole pages under ``array`` (a C-contiguous part of a memory map opened ``"r"``
    or ``"r+"``) back to the system; the file keeps the data and later reads map it again.
    Copy-on-write maps (``"c"``) keep their pages: dropping them would lose the changes."""
    if (_madvise is None or not isinstance(array, np.memmap) or array.size == 0
            or getattr(array, "mode", None) not in ("r", "r+") or not array.flags.c_contiguous):
        return
    start = array.ctypes.data
    first = -(-start // _PAGE) * _PAGE               # whole pages only: a neighbour batch
    last = (start + array.nbytes) // _PAGE * _PAGE   # may still be using the edges
    if last > first:
        _madvise(first, last - first, _MADV_DONTNEED)


def _rows(part: Any, rows: slice) -> Optional[np.ndarray]:
    """``part[rows]`` copied into memory (``None`` stays ``None``)."""
    if part is None:
        return None
    chunk = part[rows]
    copy = np.array(chunk, copy=True)
    release(chunk)
    return copy


class MemmapBatches:
    """The batches of memory-mapped ``(x, y, sample_weight)``, as a ``Sequence``: batch ``i``
    is rows ``[i * batch_size, (i + 1) * batch_size)`` of each array (in a shuffled order of
    the batches when ``rng`` is given, drawn again after every epoch).

    Parameters
    ----------
    x : np.memmap
        ``(samples, features)``.
    y, sample_weight : array-like or None
        One row per sample (memory maps too).
    batch_size : int
    rng : np.random.Generator, optional
        Shuffles the order of the batches; ``None`` keeps them in file order.
    """

    def __init__(self, x: np.ndarray, y: Any, sample_weight: Any, batch_size: int,
                 rng: Optional[np.random.Generator] = None):
        self.x, self.y, self.sample_weight = x, y, sample_weight
        for name, part in (("y", y), ("sample_weight", sample_weight)):
            if part is not None and np.shape(part)[:1] != x.shape[:1]:
                raise ValueError(f"{name}: expected {x.shape[0]} samples (as many as x), got "
                                 f"shape {np.shape(part)}")
        self.batch_size = int(batch_size)
        self.rng = rng
        self.order = np.arange(len(self))
        self._shuffle()

    def __len__(self) -> int:
        return -(-self.x.shape[0] // self.batch_size)

    def __getitem__(self, index: int) -> Tuple[Any, ...]:
        if not 0 <= index < len(self):
            raise IndexError(index)
        start = int(self.order[index]) * self.batch_size
        rows = slice(start, start + self.batch_size)
        batch = (_rows(self.x, rows), _rows(self.y, rows), _rows(self.sample_weight, rows))
        return batch if batch[2] is not None else batch[:2] if batch[1] is not None else batch[:1]

    def on_epoch_end(self) -> None:
        self._shuffle()

    def _shuffle(self) -> None:
        if self.rng is not None:
            self.order = self.rng.permutation(len(self))


__all__ = ["MemmapBatches", "STREAM_BYTES", "release", "streams"]
