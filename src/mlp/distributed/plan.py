"""Data-parallel training: each rank trains on its shard of every global batch.

A global batch is ``ranks x batch_size`` consecutive samples of the epoch's order (the last one
shorter). Rank ``r`` runs the forward and backward pass on its contiguous shard of it
(:func:`~mlp.distributed.cluster.shard_bounds`); its gradients, scaled by its share of the rows,
are summed over the ranks with one allreduce per step over the flat gradient buffer, which
carries the scaled batch loss in two extra elements. The batch loss is a mean over rows, so the
sum is the gradient of the whole global batch, and the optimizer's step, the same on every rank,
keeps the weights identical everywhere. Dropout masks and Gaussian noise are those of the whole
global batch (:attr:`TrainingPlan.mask_rows <mlp.backends.base.TrainingPlan.mask_rows>`), so the
result is that of one process training with the global batch, up to the order of float sums.
"""
from __future__ import annotations

from typing import List, Optional, Tuple

import numpy as np

from ..backends.base import BatchHooks, TrainingPlan
from .cluster import Cluster, shard_bounds


class DataParallelPlan:
    """A step-by-step :class:`~mlp.backends.base.TrainingPlan` whose epochs are shared by the
    ranks of a :class:`~mlp.distributed.cluster.Cluster`.

    Parameters
    ----------
    plan : TrainingPlan
        The rank's own plan, with ``plan.grads`` the first ``params.size`` elements of
        ``buffer``; its workspaces hold one rank's shard (``batch_size`` rows).
    cluster : Cluster
    buffer : ndarray
        The gradients and two more elements for the batch loss: what each step allreduces.
    """

    def __init__(self, plan: TrainingPlan, cluster: Cluster, buffer: np.ndarray):
        if buffer.shape[0] != plan.params.shape[0] + 2 or not np.shares_memory(buffer,
                                                                               plan.grads):
            raise ValueError("buffer: expected the plan's gradients followed by two elements")
        if any(step.kind == "batchnorm" and step.trainable for step in plan.steps):
            raise ValueError(
                "model: a trainable BatchNormalization normalizes with the statistics of each "
                "batch, of which every rank sees only its shard; distributed training refuses "
                "it (use LayerNormalization, or freeze the layer with trainable=False)")
        self.plan = plan
        self.cluster = cluster
        self.buffer = buffer

    # what the trainer reads of a plan
    batch_size = property(lambda self: self.plan.batch_size)
    params = property(lambda self: self.plan.params)
    steps = property(lambda self: self.plan.steps)
    optimizer = property(lambda self: self.plan.optimizer)
    fused = property(lambda self: self.plan.fused)

    def train_epoch(self, x, target, weight, order, batch_size: int, outputs,
                    hooks: Optional[BatchHooks] = None,
                    loss_sum: float = 0.0) -> Tuple[float, int]:
        """Train on the epoch's ``order`` (the same on every rank) in global batches of
        ``ranks x batch_size`` samples; as :meth:`TrainingPlan.train_epoch
        <mlp.backends.base.TrainingPlan.train_epoch>`, with the loss and ``outputs`` of the whole
        global batches on every rank."""
        plan, cluster, buffer = self.plan, self.cluster, self.buffer
        if batch_size > plan.batch_size:
            raise ValueError(f"batch_size: the plan holds {plan.batch_size} rows, got "
                             f"{batch_size}")
        backend = plan.backend
        grads = plan.grads
        loss_parts = buffer[-2:]
        global_batch = batch_size * cluster.size
        total, seen = loss_sum, 0
        shards: List[Tuple[int, np.ndarray]] = []
        try:
            for batch, begin in enumerate(range(0, len(order), global_batch)):
                indices = order[begin:begin + global_batch]
                rows = int(indices.shape[0])
                bounds = shard_bounds(rows, cluster.size)
                low, high = int(bounds[cluster.rank]), int(bounds[cluster.rank + 1])
                if hooks is not None:
                    hooks.begin(batch)
                if high > low:
                    mine = indices[low:high]
                    plan.mask_rows = (low, rows)
                    value = plan.compute_gradients(x[mine], target[mine],
                                                   None if weight is None else weight[mine])
                    share = (high - low) / rows
                    backend.scale_(grads, share)
                    # the loss share in two floats of the buffer's dtype: their sum keeps
                    # about twice that dtype's precision through the allreduce
                    scaled = share * float(value)
                    loss_parts[0] = scaled
                    loss_parts[1] = scaled - float(loss_parts[0])
                    outputs[begin + low:begin + high] = plan.outputs[-1][:high - low]
                else:
                    buffer[:] = 0
                cluster.sum_(buffer)
                value = float(loss_parts[0]) + float(loss_parts[1]) + plan.penalty()
                plan.apply_gradients()
                shards.append((begin, bounds))
                total += value * rows
                seen += rows
                if hooks is not None and hooks.end(batch, value):
                    break
        finally:
            plan.mask_rows = None
        self._share_outputs(outputs, shards)
        return float(total), seen

    def _share_outputs(self, outputs, shards: List[Tuple[int, np.ndarray]]) -> None:
        """Give every rank the outputs the other ranks computed in this epoch."""
        cluster = self.cluster
        if not shards:
            return
        positions = [np.concatenate([np.arange(begin + bounds[r], begin + bounds[r + 1])
                                     for begin, bounds in shards]) for r in range(cluster.size)]
        counts = np.array([p.size for p in positions], dtype=np.int64)
        gathered = cluster.gather_rows(np.asarray(outputs[positions[cluster.rank]]), counts)
        outputs[np.concatenate(positions)] = gathered

    def broadcast_state(self) -> None:
        """Rank 0's weights and optimizer state on every rank (at the start of ``fit``)."""
        cluster = self.cluster
        cluster.broadcast_(self.plan.params)
        optimizer = self.plan.optimizer
        for name in sorted(optimizer.slots):
            slot = optimizer.slots[name]
            if isinstance(slot, np.ndarray):
                cluster.broadcast_(slot)
        iterations = np.array([optimizer.iterations], dtype=np.int64)
        cluster.broadcast_(iterations)
        optimizer.iterations = int(iterations[0])


__all__ = ["DataParallelPlan"]
