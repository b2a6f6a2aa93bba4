"""The processes of one data-parallel training: an MPI communicator, the few collective
operations training needs, and the process-wide choice of that communicator.

mpi4py is imported only when :func:`init` runs, so that ``import mlp`` never needs it. Every
message is a NumPy buffer (MPI's upper-case operations); text (the logs every rank must agree on,
the settings compared at the start of ``fit``) travels as UTF-8 JSON bytes, never pickled.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
import traceback
from typing import Any, Dict, List, Optional

import numpy as np

MISSING_MPI = ("mlp.distributed needs mpi4py and an MPI library: pip install "
               "'mlp-engine[mpi]' (mpi4py and MPICH from wheels), or mpi4py built against the "
               "system's MPI")


def _mpi():
    try:
        from mpi4py import MPI
    except ImportError as error:
        raise ImportError(MISSING_MPI) from error
    return MPI


def shard_bounds(rows: int, parts: int) -> np.ndarray:
    """Where each of ``parts`` ranks' rows of a batch of ``rows`` rows begin (``parts + 1``
    offsets): contiguous shards in rank order whose sizes differ by at most one, the larger ones
    first. A rank's shard may be empty when ``rows < parts``.

    >>> shard_bounds(10, 3).tolist()
    [0, 4, 7, 10]
    """
    base, extra = divmod(rows, parts)
    sizes = np.full(parts, base, dtype=np.int64)
    sizes[:extra] += 1
    return np.concatenate(([0], np.cumsum(sizes)))


class ProcessGroup:
    """The ranks of an MPI communicator, as data-parallel training uses them.

    Parameters
    ----------
    comm : mpi4py.MPI.Comm
        The communicator; every rank of it takes part in every ``fit``.
    """

    def __init__(self, comm):
        self._MPI = _mpi()
        self.comm = comm
        self.rank = int(comm.Get_rank())
        self.size = int(comm.Get_size())
        local = comm.Split_type(self._MPI.COMM_TYPE_SHARED, key=self.rank)
        try:
            self.local_rank = int(local.Get_rank())
            self.local_size = int(local.Get_size())
            self.cores_here = _cores_of_ranks(self._MPI, local)
        finally:
            local.Free()

    @property
    def is_root(self) -> bool:
        """Whether this is rank 0: the one that prints progress and writes files."""
        return self.rank == 0

    def allreduce_(self, array: np.ndarray) -> None:
        """Replace ``array`` (contiguous) on every rank by its elementwise sum over the ranks."""
        self.comm.Allreduce(self._MPI.IN_PLACE, array, op=self._MPI.SUM)

    def barrier(self) -> None:
        """Wait until every rank got here (e.g. before reading a file rank 0 wrote)."""
        self.comm.Barrier()

    def broadcast_(self, array: np.ndarray) -> None:
        """Overwrite ``array`` (contiguous) on every rank with rank 0's."""
        self.comm.Bcast(array, root=0)

    def gather_rows(self, local: np.ndarray, counts: np.ndarray) -> np.ndarray:
        """Every rank's ``local`` rows, rank after rank; ``counts[r]`` is rank ``r``'s row count."""
        width = int(np.prod(local.shape[1:], dtype=np.int64))
        out = np.empty((int(counts.sum()),) + local.shape[1:], dtype=local.dtype)
        sizes = counts * width
        displacements = np.concatenate(([0], np.cumsum(sizes)[:-1]))
        self.comm.Allgatherv(np.ascontiguousarray(local),
                             [out, sizes.tolist(), displacements.tolist(),
                              _mpi_type(self._MPI, local.dtype)])
        return out

    def broadcast_text(self, text: Optional[str]) -> str:
        """Rank 0's ``text`` on every rank (others pass anything)."""
        data = (text or "").encode("utf-8") if self.is_root else b""
        length = np.array([len(data)], dtype=np.int64)
        self.broadcast_(length)
        buffer = np.frombuffer(data, dtype=np.uint8).copy() if self.is_root else np.empty(
            int(length[0]), dtype=np.uint8)
        self.broadcast_(buffer)
        return buffer.tobytes().decode("utf-8")

    def gather_text(self, text: str) -> List[str]:
        """Every rank's ``text``, in rank order, on every rank."""
        data = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
        lengths = np.zeros(self.size, dtype=np.int64)
        lengths[self.rank] = data.size
        self.allreduce_(lengths)
        out = np.empty(int(lengths.sum()), dtype=np.uint8)
        displacements = np.concatenate(([0], np.cumsum(lengths)[:-1]))
        self.comm.Allgatherv(data, [out, lengths.tolist(), displacements.tolist(),
                                    self._MPI.BYTE])
        return [out[d:d + n].tobytes().decode("utf-8") for d, n in zip(displacements, lengths)]

    def agree(self, what: str, settings: Dict[str, Any]) -> None:
        """Raise the same ``ValueError`` on every rank when ``settings`` differ between ranks.

        A rank whose data or arguments differ from the others' would otherwise make the
        collective operations of training wait for each other forever, or train on wrong rows.
        """
        mine = json.dumps(settings, sort_keys=True, default=str)
        everyone = [json.loads(text) for text in self.gather_text(mine)]
        differing = sorted(key for key in settings
                           if any(other.get(key) != everyone[0].get(key) for other in everyone))
        if differing:
            detail = "; ".join(f"{key}: " + ", ".join(
                f"rank {r} {other.get(key)!r}" for r, other in enumerate(everyone))
                for key in differing)
            raise ValueError(f"{what}: every rank must pass the same data and arguments, got "
                             f"different ones ({detail})")

    def broadcast_json(self, value: Any) -> Any:
        """Rank 0's ``value`` (anything JSON holds) on every rank."""
        return json.loads(self.broadcast_text(json.dumps(value) if self.is_root else None))

    def broadcast_logs(self, logs: Dict[str, float]) -> Dict[str, float]:
        """Rank 0's epoch logs on every rank, so that callbacks decide once for all ranks."""
        return {key: float(value) for key, value in self.broadcast_json(logs).items()}

    def abort(self, code: int = 1) -> None:
        """End every rank of the job now (MPI_Abort)."""
        sys.stderr.flush()
        self.comm.Abort(code)

    def abort_after(self, where: str, error: BaseException) -> None:
        """Report ``error`` of this rank and end the job: the other ranks would wait forever in
        the next collective operation."""
        sys.stderr.write(f"mlp.distributed: rank {self.rank} of {self.size} failed in {where} "
                         f"({type(error).__name__}: {error}); aborting the MPI job\n")
        traceback.print_exception(type(error), error, error.__traceback__, file=sys.stderr)
        self.abort(1)


def _mpi_type(MPI, dtype: np.dtype):
    """The MPI datatype of a NumPy dtype used for rows (floats of the model's dtype)."""
    return {np.dtype(np.float64): MPI.DOUBLE, np.dtype(np.float32): MPI.FLOAT}[np.dtype(dtype)]


_current: Optional[ProcessGroup] = None


def current() -> Optional[ProcessGroup]:
    """The group :func:`init` set up, or ``None``."""
    return _current


def writes_files() -> bool:
    """Whether this process writes the files of a training (model files, checkpoints): rank 0
    of a group, or a process that is not part of one."""
    return _current is None or _current.is_root


def init(comm=None, threads: Optional[int] = None, abort_on_error: bool = True) -> ProcessGroup:
    """Join data-parallel training over MPI (see :mod:`mlp.distributed`); returns the group.

    Parameters
    ----------
    comm : mpi4py.MPI.Comm, optional
        The ranks that train together. Defaults to ``MPI.COMM_WORLD``.
    threads : int, optional
        Threads of this rank. Defaults to ``OMP_NUM_THREADS`` when set, else the cores this
        process may run on, at most the CPUs that all ranks of this machine may run on divided
        by their number (ranks x threads never oversubscribe).
    abort_on_error : bool
        Install an exception hook that aborts the whole MPI job when an uncaught exception
        ends this rank's script (default), so the other ranks do not wait forever.

    Called again, it returns the same group (``comm`` must then be left out or be the same).

    Raises
    ------
    ImportError
        mpi4py or the MPI library is missing (the message says what to install).
    """
    global _current
    if _current is not None:
        if comm is not None and comm is not _current.comm:
            raise ValueError("comm: mlp.distributed.init() was already called with another "
                             "communicator")
        return _current
    MPI = _mpi()
    group = ProcessGroup(MPI.COMM_WORLD if comm is None else comm)
    from .._threading import set_num_threads
    set_num_threads(_threads_per_rank(group) if threads is None else threads)
    if abort_on_error and group.size > 1:
        _abort_on_uncaught_exception(group)
    _current = group
    return group


def _threads_per_rank(group: ProcessGroup) -> int:
    """Threads for this rank so that the ranks on one machine never oversubscribe its cores:
    the cores this process may run on (one under ``mpirun --bind-to core``), at most the
    CPUs all ranks of this machine may run on divided by their number; or the count the user
    chose with ``OMP_NUM_THREADS`` (as for a single process)."""
    chosen = os.environ.get("OMP_NUM_THREADS", "").strip()
    if chosen:
        try:
            value = int(chosen.split(",")[0])
        except ValueError:
            value = 0
        if value < 1:
            raise ValueError(f"OMP_NUM_THREADS: expected a positive integer, got {chosen!r}")
        return value
    return max(1, min(len(_affinity()), group.cores_here // group.local_size))


def _affinity() -> List[int]:
    """The CPUs this process may run on."""
    try:
        return sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return list(range(os.cpu_count() or 1))


def _cores_of_ranks(MPI, local) -> int:
    """How many CPUs the ranks of this machine (``local``) may run on together: the union of
    their affinities (a cpuset of Slurm, docker or taskset, not the machine's core count)."""
    mine = np.zeros(max(os.cpu_count() or 1, max(_affinity()) + 1), dtype=np.int32)
    mine[_affinity()] = 1
    size = np.array([mine.size], dtype=np.int64)
    local.Allreduce(MPI.IN_PLACE, size, op=MPI.MAX)
    union = np.zeros(int(size[0]), dtype=np.int32)
    union[:mine.size] = mine
    local.Allreduce(MPI.IN_PLACE, union, op=MPI.MAX)
    return int(union.sum())


def _abort_on_uncaught_exception(group: ProcessGroup) -> None:
    """An exception that ends one rank's script ends the job: the others would wait forever in
    the next collective operation otherwise."""
    previous = sys.excepthook

    def hook(kind, value, trace):
        try:
            sys.stderr.write(f"mlp.distributed: rank {group.rank} of {group.size} failed; "
                             f"aborting the MPI job\n")
            previous(kind, value, trace)
            sys.stderr.flush()
        finally:
            group.abort(1)

    sys.excepthook = hook


def group_for(distributed: Optional[bool]):
    """The :class:`ProcessGroup` ``fit`` trains over, or ``None`` (this process alone, also on
    a group of one rank)."""
    if distributed is not None and not isinstance(distributed, (bool, np.bool_)):
        raise TypeError(f"distributed: expected True, False or None, got "
                        f"{type(distributed).__name__}")
    if distributed is False:
        return None
    group = init() if distributed else current()
    return group if group is not None and group.size > 1 else None


def data_fingerprint(x, target, weight, validation) -> Dict[str, Any]:
    """What every rank of a distributed ``fit`` must have alike: shape, dtype and a hash of
    the bytes of every k-th row (cheap, and different when a rank was given another part or
    another order of the data)."""
    def summary(name, array):
        if array is None:
            return {name: None}
        array = np.asarray(array)
        rows = np.ascontiguousarray(array[::max(1, len(array) // 1024)])
        digest = hashlib.blake2b(rows.tobytes(), digest_size=16).hexdigest()
        return {name: [list(array.shape), str(array.dtype), digest]}
    found = summary("x", x) | summary("y", target) | summary("sample_weight", weight)
    if validation is not None:
        found |= (summary("val_x", validation[0]) | summary("val_y", validation[1])
                  | summary("val_sample_weight", validation[2]))
    return found


def reset() -> None:
    """Forget the group (tests; the MPI library itself stays initialized)."""
    global _current
    _current = None


__all__ = ["MISSING_MPI", "ProcessGroup", "current", "data_fingerprint", "group_for", "init",
           "reset", "shard_bounds", "writes_files"]
