"""What ``compile()`` hands a backend to plan: the layers as :class:`Step` descriptions.

The model's backend turns them into its plan (:meth:`Backend.make_plan
<mlp.backends.base.Backend.make_plan>`: by default the step-by-step :class:`TrainingPlan`,
on the CPU a whole epoch in one call into Cython). Here: which output activation training folds
into the loss, the steps, and turning fused logits back into probabilities.
"""
from __future__ import annotations

from typing import List, Optional, Sequence

import numpy as np
from scipy.special import expit

from ..backends.base import Step, TrainingPlan
from ..nn.layers import Activation, Dense, Dropout, Layer
from ..nn.losses import Loss
from ..nn.network import compute_layers, walk


def fused_output(layers: Sequence[Layer], loss: Loss) -> Optional[str]:
    """The output activation that training folds into the loss, or ``None``.

    Sigmoid + binary cross-entropy and softmax + categorical cross-entropy train from logits.
    """
    if loss.from_logits or loss.fuses_with is None:
        return None
    compute = compute_layers(layers)
    last = compute[-1] if compute else None
    if isinstance(last, (Dense, Activation)) and last.activation == loss.fuses_with:
        return loss.fuses_with
    return None


def build_steps(layers: Sequence[Layer], input_dim: int, param_slices: List[List[slice]],
                fused: Optional[str], model_seed: int) -> List[Step]:
    """Describe each compute layer for the plan; ``fused`` drops the last probability activation."""
    compute = compute_layers(layers)
    last_activation = max((i for i, layer in enumerate(compute)
                           if isinstance(layer, (Dense, Activation))), default=-1)
    steps: List[Step] = []
    has_params_before = False
    for index, (layer, width, out_dim) in enumerate(walk(layers, input_dim)):
        step = Step(kind="dense" if isinstance(layer, Dense) else
                    "dropout" if isinstance(layer, Dropout) else "activation",
                    index=index, in_dim=width, out_dim=out_dim,
                    need_dx=has_params_before, param_slices=param_slices[index])
        if isinstance(layer, (Dense, Activation)):
            step.activation = "linear" if (fused and index == last_activation) else layer.activation
            step.alpha = layer.alpha
        if isinstance(layer, Dense):
            step.use_bias = layer.use_bias
            regularizer = layer.kernel_regularizer
            step.l1 = float(getattr(regularizer, "l1", 0.0)) if regularizer else 0.0
            step.l2 = float(getattr(regularizer, "l2", 0.0)) if regularizer else 0.0
            has_params_before = True
        if isinstance(layer, Dropout):
            step.rate = layer.rate
            step.seed = layer.seed if layer.seed is not None else (model_seed + 7919 * index)
        steps.append(step)
    return steps


def apply_output_activation(outputs: np.ndarray, fused: Optional[str]) -> np.ndarray:
    """Turn logits of a fused output into probabilities (in place); other outputs pass through."""
    if fused == "sigmoid":
        expit(outputs, out=outputs)
    elif fused == "softmax":
        outputs -= outputs.max(axis=1, keepdims=True)
        np.exp(outputs, out=outputs)
        outputs /= outputs.sum(axis=1, keepdims=True)
    return outputs


__all__ = ["Step", "TrainingPlan", "apply_output_activation", "build_steps", "fused_output"]
