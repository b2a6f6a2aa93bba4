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
from ..nn.activations import CustomActivation
from ..nn.layers import Activation, Dense, Dropout, GaussianNoise, Layer
from ..nn.losses import Loss
from ..nn.network import compute_layers, walk
from ..nn.normalization import BatchNormalization, LayerNormalization


def fused_output(layers: Sequence[Layer], loss: Loss) -> Optional[str]:
    """The output activation that training folds into the loss, or ``None``.

    Sigmoid + binary cross-entropy and softmax + categorical cross-entropy train from logits.
    A custom loss in Python never fuses: it sees the model's output.
    """
    if loss.in_python or loss.from_logits or loss.fuses_with is None:
        return None
    compute = compute_layers(layers)
    last = compute[-1] if compute else None
    if isinstance(last, (Dense, Activation)) and last.activation == loss.fuses_with:
        return loss.fuses_with
    return None


def _output_activation(layers: Sequence[Layer]) -> str:
    """The activation of the last ``Dense`` / ``Activation`` layer (``"linear"`` if none)."""
    last = [layer for layer in compute_layers(layers) if isinstance(layer, (Dense, Activation))]
    return last[-1].activation if last else "linear"


def metrics_activation(layers: Sequence[Layer], loss: Loss) -> Optional[str]:
    """The activation applied to the training outputs before the metrics see them.

    A fused output is turned back into probabilities; so are the logits of a linear output
    trained with ``from_logits=True``, so that accuracy, precision and recall threshold the
    logits at 0 (a probability of 0.5), not at 0.5.
    """
    fused = fused_output(layers, loss)
    if fused is not None:
        return fused
    if (loss.from_logits and loss.fuses_with is not None and not loss.in_python
            and _output_activation(layers) == "linear"):
        return loss.fuses_with
    return None


def check_output(layers: Sequence[Layer], loss: Loss) -> None:
    """Refuse a loss whose ``from_logits=True`` contradicts a probability output.

    Raises
    ------
    ValueError
        ``from_logits=True`` on a model that ends in ``sigmoid`` or ``softmax`` (its outputs
        are probabilities, not logits).
    """
    activation = _output_activation(layers)
    if loss.from_logits and activation in ("sigmoid", "softmax"):
        raise ValueError(
            f"loss: {type(loss).__name__}(from_logits=True) expects logits (a linear last "
            f"layer), got a model that ends in {activation!r}; use from_logits=False or "
            f"activation=None on the last layer")


def build_steps(layers: Sequence[Layer], input_dim: int, param_slices: List[List[slice]],
                fused: Optional[str], model_seed: int, trainable: bool = True) -> List[Step]:
    """Describe each compute layer for the plan; ``fused`` drops the last probability activation.

    A layer is frozen when its ``trainable`` is false or ``trainable`` (the model's) is: its
    step is marked so, and its regularizer adds nothing to the loss (Keras counts the
    regularizers of trainable weights only). Gradients flow back only as far as the first
    trainable layer.
    """
    compute = compute_layers(layers)
    last_activation = max((i for i, layer in enumerate(compute)
                           if isinstance(layer, (Dense, Activation))), default=-1)
    steps: List[Step] = []
    has_params_before = False
    for index, (layer, width, out_dim) in enumerate(walk(layers, input_dim)):
        step = Step(kind="dense" if isinstance(layer, Dense) else
                    "dropout" if isinstance(layer, Dropout) else
                    "batchnorm" if isinstance(layer, BatchNormalization) else
                    "layernorm" if isinstance(layer, LayerNormalization) else
                    "noise" if isinstance(layer, GaussianNoise) else "activation",
                    index=index, in_dim=width, out_dim=out_dim,
                    need_dx=has_params_before, param_slices=param_slices[index],
                    trainable=bool(trainable and layer.trainable))
        if isinstance(layer, (Dense, Activation)):
            step.activation = "linear" if (fused and index == last_activation) else layer.activation
            step.alpha = layer.alpha
            if isinstance(layer.activation, CustomActivation):
                step.activation, step.host_activation = "linear", layer.activation
        if isinstance(layer, Dense):
            step.use_bias = layer.use_bias
            step.l1, step.l2 = _penalty(layer.kernel_regularizer, step.trainable)
            step.bias_l1, step.bias_l2 = _penalty(layer.bias_regularizer, step.trainable)
            has_params_before = has_params_before or step.trainable
        if step.is_norm:
            slices = param_slices[index]
            step.param_slices, step.state_slices = (slices[:layer.n_trained],
                                                    slices[layer.n_trained:])
            step.scale, step.use_bias, step.epsilon = layer.scale, layer.center, layer.epsilon
            step.momentum = getattr(layer, "momentum", 0.0)
            step.l1, step.l2 = _penalty(layer.gamma_regularizer, step.trainable and layer.scale)
            step.bias_l1, step.bias_l2 = _penalty(layer.beta_regularizer,
                                                  step.trainable and layer.center)
            has_params_before = has_params_before or (step.trainable and layer.n_trained > 0)
        if isinstance(layer, GaussianNoise):
            step.rate = layer.stddev
            step.seed = layer.seed if layer.seed is not None else (model_seed + 7919 * index)
        if isinstance(layer, Dropout):
            step.rate = layer.rate
            step.seed = layer.seed if layer.seed is not None else (model_seed + 7919 * index)
        steps.append(step)
    return steps


def _penalty(regularizer, applies: bool):
    """``(l1, l2)`` of a regularizer (zeros without one, or when it does not apply)."""
    if regularizer is None or not applies:
        return 0.0, 0.0
    return float(getattr(regularizer, "l1", 0.0)), float(getattr(regularizer, "l2", 0.0))


def apply_output_activation(outputs: np.ndarray, fused: Optional[str]) -> np.ndarray:
    """Turn logits of a fused output into probabilities (in place); other outputs pass through."""
    if fused == "sigmoid":
        expit(outputs, out=outputs)
    elif fused == "softmax":
        outputs -= outputs.max(axis=1, keepdims=True)
        np.exp(outputs, out=outputs)
        outputs /= outputs.sum(axis=1, keepdims=True)
    return outputs


__all__ = ["Step", "TrainingPlan", "apply_output_activation", "build_steps", "check_output",
           "fused_output", "metrics_activation"]
