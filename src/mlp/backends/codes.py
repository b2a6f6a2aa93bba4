"""The integer codes the compiled kernels (Cython on the CPU, CUDA on the GPU) know names by:
one table, read by every caller of a kernel (:mod:`.cpu`, :mod:`.cpu_plan`, :mod:`.cupy`).

The kernels' own enums (``A_*``, ``L_*``, ``STEP_*`` and ``OptimizerArgs.kind`` in
``mlp/kernels/_kernels.pyx``; the ``act`` and loss switches of the CUDA sources in
:mod:`.cuda_sources`) use these values.
"""
from __future__ import annotations

from .spec import ACTIVATIONS, LOSSES

ACTIVATION_CODES = {name: code for code, name in enumerate(ACTIVATIONS)}
"""0 linear, 1 relu, 2 leaky_relu, 3 elu, 4 sigmoid, 5 tanh, 6 softmax, 7 gelu, 8 swish."""

LOSS_CODES = {name: code for code, name in enumerate(LOSSES)}
"""0 mean_squared_error, 1 mean_absolute_error, 2 huber, 3 binary_crossentropy,
4 binary_crossentropy_from_logits, 5 categorical_crossentropy,
6 categorical_crossentropy_from_logits."""

OPTIMIZER_CODES = {"sgd": 0, "adam": 1, "rmsprop": 2, "adagrad": 3}
"""``OptimizerArgs.kind``: the update rule of an optimizer spec (see ``Optimizer.kernel_spec``)."""

STEP_CODES = {"dense": 0, "dropout": 1, "activation": 2, "batchnorm": 3, "layernorm": 4}
"""``StepSpec.kind`` of the whole-epoch plan."""

assert ACTIVATIONS == ("linear", "relu", "leaky_relu", "elu", "sigmoid", "tanh", "softmax",
                       "gelu", "swish"), "the kernels' activation codes follow this order"
assert LOSSES == ("mean_squared_error", "mean_absolute_error", "huber", "binary_crossentropy",
                  "binary_crossentropy_from_logits", "categorical_crossentropy",
                  "categorical_crossentropy_from_logits"), "the kernels' loss codes follow it"

__all__ = ["ACTIVATION_CODES", "LOSS_CODES", "OPTIMIZER_CODES", "STEP_CODES"]
