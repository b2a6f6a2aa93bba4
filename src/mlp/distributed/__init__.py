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

What happens (see :mod:`mlp.distributed.plan`): rank 0's seed (from which the dropout masks
derive), initial weights and optimizer state go to every rank, and every rank must have built
the same model, compiled it the same way and passed the same data and arguments (else every rank
raises the same ``ValueError``); every epoch uses rank 0's shuffled order; each step, each rank
runs forward and backward on its shard of a global batch of ``ranks x batch_size`` samples, and
one allreduce over the flat gradient buffer sums the shards' gradients, so every rank takes the
same optimizer step and the weights stay identical. The result equals training on one process with
``batch_size=ranks x batch_size`` on the same data order, dropout and sample / class weights
included, up to the order of floating-point sums (float64: within 1e-10). Validation is
predicted in shards and scored on every rank. Rank 0's callbacks decide for all: its epoch logs,
its ``stop_training``, its learning rate (``ReduceLROnPlateau``), after a batch its decision to
stop, and at the end its weights (``EarlyStopping(restore_best_weights=True)``) and history are
given to every rank, so callbacks may run on every rank or, as in Horovod scripts, on rank 0
only. Only rank 0 prints progress and callback messages and writes files (``model.save``,
``save_weights``, ``ModelCheckpoint``, ``CSVLogger``); call :func:`barrier` before other ranks
read such a file. An exception in one rank's ``fit``, or one that ends one rank's script, aborts
the whole job (``MPI_Abort``) instead of leaving the others waiting; ``sys.exit`` on one rank
does not go through Python's exception hook, so start scripts with ``mpiexec -n N python -m
mpi4py train.py`` to cover it too.

``batch_size`` is per rank, as in Horovod and PyTorch's DDP (Keras' ``tf.distribute`` takes the
global batch). After :func:`init`, every ``fit`` is collective: a ``fit`` that only some ranks
run (rank 0 fine-tuning alone, a per-rank sweep) needs ``distributed=False``. ``train_on_batch``
always trains this process alone.

Threads: each rank uses the cores it may run on (one with ``mpirun --bind-to core``), at most the
machine's cores divided by the ranks on it, unless ``OMP_NUM_THREADS`` says
otherwise: ranks x threads never oversubscribe by default.

Training runs step by step (the CPU's whole-epoch kernel cannot stop between a backward pass and
the optimizer step for the allreduce): expect each rank to be somewhat slower than
single-process training on small networks. A trainable ``BatchNormalization`` (whose batch
statistics each rank would compute over its shard only), GPU backends and data generators are
refused with a clear error.

Needs ``mpi4py`` and an MPI library: ``pip install 'mlp-engine[mpi]'`` (MPICH from wheels; a
system MPI works with mpi4py built against it).
"""
from __future__ import annotations

from .process_group import ProcessGroup, current, init


def is_initialized() -> bool:
    """Whether :func:`init` was called in this process."""
    return current() is not None


def rank() -> int:
    """This process's rank (0 when :func:`init` was not called)."""
    group = current()
    return 0 if group is None else group.rank


def size() -> int:
    """The number of ranks (1 when :func:`init` was not called)."""
    group = current()
    return 1 if group is None else group.size


def local_rank() -> int:
    """This process's rank among the ranks on its machine (0 when :func:`init` was not
    called)."""
    group = current()
    return 0 if group is None else group.local_rank


def local_size() -> int:
    """The number of ranks on this machine (1 when :func:`init` was not called)."""
    group = current()
    return 1 if group is None else group.local_size


def barrier() -> None:
    """Wait until every rank calls it (nothing without :func:`init`)."""
    group = current()
    if group is not None:
        group.barrier()


def is_root() -> bool:
    """Whether this process is rank 0, the one that prints and writes files (also ``True``
    when :func:`init` was not called)."""
    return rank() == 0


__all__ = ["ProcessGroup", "barrier", "current", "init", "is_initialized", "is_root",
           "local_rank", "local_size", "rank", "size"]
