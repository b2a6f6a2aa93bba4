"""Data-parallel training over MPI: one training shared by several processes.

Start the same script on every rank, with every rank loading the same data::

    # train.py, run as:  mpirun -n 4 python train.py
    import mlp
    import mlp.distributed

    mlp.distributed.init()              # or fit(..., distributed=True)
    x, y = load_the_same_data_everywhere()
    model = mlp.Sequential([mlp.layers.Dense(64, activation="relu", input_dim=x.shape[1]),
                            mlp.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    model.fit(x, y, batch_size=32, epochs=10)   # 32 rows per rank, 128 per step
    model.save("model.mlp")             # rank 0 writes; the others do nothing

What happens (see :mod:`mlp.distributed.plan`): rank 0's initial weights and optimizer state go
to every rank; every epoch uses rank 0's shuffled order; each step, each rank runs forward and
backward on its shard of a global batch of ``ranks x batch_size`` samples, and one allreduce over
the flat gradient buffer sums the shards' gradients, so every rank takes the same optimizer step
and the weights stay identical. The result equals training on one process with
``batch_size=ranks x batch_size`` on the same data order, dropout and sample / class weights
included, up to the order of floating-point sums (float64: within 1e-10). Validation runs on
every rank; the epoch logs of rank 0 are given to all, so callbacks (``EarlyStopping``,
``ReduceLROnPlateau``, ...) decide once. Only rank 0 prints progress and writes files
(``model.save``, ``save_weights``, ``ModelCheckpoint``). An exception that ends one rank's script
aborts the whole job (``MPI_Abort``) instead of leaving the others waiting.

Threads: each rank uses the cores it may run on (one with ``mpirun --bind-to core``), at most the
machine's cores divided by the ranks on it, unless ``OMP_NUM_THREADS`` says
otherwise: ranks x threads never oversubscribe by default.

Training runs step by step (the CPU's whole-epoch kernel cannot stop between a backward pass and
the optimizer step for the allreduce): expect each rank to be somewhat slower than
single-process training on small networks. The layers that use a batch's statistics
(normalization over the batch) would see one shard's statistics; data generators are refused.

Needs ``mpi4py`` and an MPI library: ``pip install 'mlp-engine[mpi]'`` (MPICH from wheels; a
system MPI works with mpi4py built against it).
"""
from __future__ import annotations

from .cluster import MISSING_MPI, Cluster, current, init


def is_initialized() -> bool:
    """Whether :func:`init` was called in this process."""
    return current() is not None


def rank() -> int:
    """This process's rank (0 when :func:`init` was not called)."""
    cluster = current()
    return 0 if cluster is None else cluster.rank


def size() -> int:
    """The number of ranks (1 when :func:`init` was not called)."""
    cluster = current()
    return 1 if cluster is None else cluster.size


def is_root() -> bool:
    """Whether this process is rank 0, the one that prints and writes files (also ``True``
    when :func:`init` was not called)."""
    return rank() == 0


__all__ = ["Cluster", "MISSING_MPI", "current", "init", "is_initialized", "is_root", "rank",
           "size"]
