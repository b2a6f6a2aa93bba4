"""Data-parallel training: each rank trains on its shard of every global batch.

A global batch is ``ranks x batch_size`` consecutive samples of the epoch's order (the last one
shorter). Rank ``r`` runs the forward and backward pass on its contiguous shard of it
(:func:`~mlp.distributed.process_group.shard_bounds`); its gradients, scaled by its share of the
rows, are summed over the ranks with one allreduce per step over the flat gradient buffer, which
carries the scaled batch loss in one extra element. The batch loss is a mean over rows, so the
sum is the gradient of the whole global batch, and the optimizer's step, the same on every rank,
keeps the weights identical everywhere. With batch callbacks, rank 0's decision to end the epoch
after a step is broadcast too. Dropout masks and Gaussian noise are those of the whole
global batch (:attr:`TrainingPlan.mask_rows <mlp.backends.base.TrainingPlan.mask_rows>`), so the
result is that of one process training with the global batch, up to the order of float sums.
"""
from __future__ import annotations

from typing import List, Optional, Tuple

import numpy as np

from ..backends.base import BatchHooks, TrainingPlan
from .process_group import ProcessGroup, shard_bounds


class DataParallelPlan:
    """A step-by-step :class:`~mlp.backends.base.TrainingPlan` whose epochs are shared by the
    ranks of a :class:`~mlp.distributed.process_group.ProcessGroup`.

    Parameters
    ----------
    plan : TrainingPlan
        The rank's own plan, with ``plan.grads`` the first ``params.size`` elements of
        ``buffer``; its workspaces hold one rank's shard (``batch_size`` rows).
    group : ProcessGroup
    buffer : ndarray
        The gradients and one more element for the batch loss: what each step allreduces.
    """

    def __init__(self, plan: TrainingPlan, group: ProcessGroup, buffer: np.ndarray):
        if buffer.shape[0] != plan.params.shape[0] + 1 or not np.shares_memory(buffer,
                                                                               plan.grads):
            raise ValueError("buffer: expected the plan's gradients followed by one element")
        if any(step.kind == "batchnorm" and step.trainable for step in plan.steps):
            raise ValueError(
                "model: a trainable BatchNormalization normalizes with the statistics of each "
                "batch, of which every rank sees only its shard; distributed training refuses "
                "it (use LayerNormalization, or freeze the layer with trainable=False)")
        self.plan = plan
        self.group = group
        self.buffer = buffer

    outputs_needed: bool = True
    """Whether every rank needs the training outputs of the whole epoch (its metrics); when not,
    each rank keeps only the rows it computed and the epoch's gather is skipped."""

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
        plan, group, buffer = self.plan, self.group, self.buffer
        if batch_size > plan.batch_size:
            raise ValueError(f"batch_size: the plan holds {plan.batch_size} rows, got "
                             f"{batch_size}")
        backend = plan.backend
        grads = plan.grads
        loss_share = buffer[-1:]
        global_batch = batch_size * group.size
        total, seen = loss_sum, 0
        shards: List[Tuple[int, np.ndarray]] = []
        try:
            for batch, begin in enumerate(range(0, len(order), global_batch)):
                indices = order[begin:begin + global_batch]
                rows = int(indices.shape[0])
                bounds = shard_bounds(rows, group.size)
                low, high = int(bounds[group.rank]), int(bounds[group.rank + 1])
                if hooks is not None:
                    hooks.begin(batch)
                if high > low:
                    mine = indices[low:high]
                    plan.mask_rows = (low, rows)
                    value = plan.compute_gradients(x[mine], target[mine],
                                                   None if weight is None else weight[mine])
                    share = (high - low) / rows
                    backend.scale_(grads, share)
                    # the batch loss is summed in the model's dtype (float32: ~1e-7 relative)
                    loss_share[0] = share * float(value)
                    outputs[begin + low:begin + high] = plan.outputs[-1][:high - low]
                else:
                    buffer[:] = 0
                group.allreduce_(buffer)
                value = float(loss_share[0]) + plan.penalty()
                plan.apply_gradients()
                shards.append((begin, bounds))
                total += value * rows
                seen += rows
                if hooks is not None and self._root_stops(hooks.end(batch, value)):
                    break
        finally:
            plan.mask_rows = None
        if self.outputs_needed:
            self._share_outputs(outputs, shards)
        return float(total), seen

    def _root_stops(self, stop: bool) -> bool:
        """Rank 0's answer to "stop the epoch here?" (its batch callbacks decide for all)."""
        flag = np.array([bool(stop)], dtype=np.int8)
        self.group.broadcast_(flag)
        return bool(flag[0])

    def _share_outputs(self, outputs, shards: List[Tuple[int, np.ndarray]]) -> None:
        """Give every rank the outputs the other ranks computed in this epoch."""
        group = self.group
        if not shards:
            return
        positions = [np.concatenate([np.arange(begin + bounds[r], begin + bounds[r + 1])
                                     for begin, bounds in shards]) for r in range(group.size)]
        counts = np.array([p.size for p in positions], dtype=np.int64)
        gathered = group.gather_rows(np.asarray(outputs[positions[group.rank]]), counts)
        outputs[np.concatenate(positions)] = gathered

    def broadcast_state(self) -> None:
        """Rank 0's weights and optimizer state on every rank (at the start of ``fit``)."""
        group = self.group
        group.broadcast_(self.plan.params)
        optimizer = self.plan.optimizer
        for name in sorted(optimizer.slots):
            slot = optimizer.slots[name]
            if not isinstance(slot, np.ndarray):
                raise TypeError(f"optimizer: slot {name!r} is a {type(slot).__name__}, not a "
                                f"NumPy array; distributed training runs on host backends")
            group.broadcast_(slot)
        iterations = np.array([optimizer.iterations], dtype=np.int64)
        group.broadcast_(iterations)
        optimizer.iterations = int(iterations[0])


__all__ = ["DataParallelPlan"]
