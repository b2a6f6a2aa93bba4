"""Compare mlp's BatchNormalization / LayerNormalization with Keras 3's own, number by number.

Not part of the test suite (it needs Keras and JAX): run it by hand,

    KERAS_BACKEND=jax PYTHONPATH=src python tests/tools/keras_normalization_check.py

It builds both layers with the same weights, runs a training step's forward pass (batch
statistics and the moving update), the input and parameter gradients of ``sum(y * dy)``, and
the inference forward pass, in float64 and float32, for the reference and cpu backends, and
prints the largest absolute difference of each quantity; then trains the same network
(Dense, BatchNormalization, relu, LayerNormalization, Dense) in both for three epochs and
compares the weights, moving statistics included, and the predictions. It exits with status 1
when a difference exceeds its tolerance.
"""
from __future__ import annotations

import os
import sys

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("JAX_ENABLE_X64", "1")  # before JAX loads: Keras' float64 is float64

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402

from mlp.backends import get_backend  # noqa: E402

TOLERANCE = {"float32": 2e-5, "float64": 1e-6}
"""Keras' own float64 results on JAX's CPU backend are off the exact formula by ~3e-7
(measured: ``(x - mean) / sqrt(var + eps)`` in NumPy float64 against Keras' BatchNormalization
output), so float64 agreement is checked at 1e-6, not at float64 precision."""


def keras_step(layer, x, dy, training):
    """Keras' outputs, updated non-trainable variables and gradients (x, then trainables)."""
    trainable = [v.value for v in layer.trainable_variables]
    frozen = [v.value for v in layer.non_trainable_variables]

    def objective(x, trainable):
        kwargs = {} if training is None else {"training": training}
        y, new_frozen = layer.stateless_call(trainable, frozen, x, **kwargs)
        return jnp.sum(y * dy), (y, new_frozen)

    (_, (y, new_frozen)), (dx, dparams) = jax.value_and_grad(
        objective, argnums=(0, 1), has_aux=True)(x, trainable)
    return (np.asarray(y), [np.asarray(v) for v in new_frozen], np.asarray(dx),
            [np.asarray(g) for g in dparams])


def main() -> int:
    rng = np.random.default_rng(0)
    worst = 0.0
    failed = False
    for dtype in ("float64", "float32"):
        keras.config.set_floatx(dtype)
        x = (3 * rng.normal(size=(33, 7)) + 1).astype(dtype)
        dy = rng.normal(size=x.shape).astype(dtype)
        gamma = rng.uniform(0.5, 1.5, 7).astype(dtype)
        beta = rng.normal(size=7).astype(dtype)
        mean0 = rng.normal(size=7).astype(dtype)
        var0 = rng.uniform(0.5, 2, 7).astype(dtype)
        bn = keras.layers.BatchNormalization(momentum=0.9, dtype=dtype)
        bn.build((None, 7))
        bn.set_weights([gamma, beta, mean0, var0])
        ln = keras.layers.LayerNormalization(dtype=dtype)
        ln.build((None, 7))
        ln.set_weights([gamma, beta])
        k_train = keras_step(bn, x, dy, True)
        k_infer = keras_step(bn, x, dy, False)
        k_ln = keras_step(ln, x, dy, None)
        for name in ("reference", "cpu"):
            backend = get_backend(name)
            mm, mv = mean0.copy(), var0.copy()
            xhat, inv = np.empty_like(x), np.empty(7, dtype)
            y = backend.batch_norm_forward(x, gamma, beta, mm, mv, 0.9, 1e-3, True, xhat=xhat,
                                           inv_std=inv)
            dgamma, dbeta, dx = backend.batch_norm_backward(dy, xhat, gamma, inv, True)
            y_inf = backend.batch_norm_forward(x, gamma, beta, mean0.copy(), var0.copy(), 0.9,
                                               1e-3, False, xhat=xhat, inv_std=inv)
            _, _, dx_inf = backend.batch_norm_backward(dy, xhat, gamma, inv, False)
            lxhat, linv = np.empty_like(x), np.empty(33, dtype)
            y_ln = backend.layer_norm_forward(x, gamma, beta, 1e-3, xhat=lxhat, inv_std=linv)
            lg, lb, ldx = backend.layer_norm_backward(dy, lxhat, gamma, linv)
            pairs = {
                "bn train y": (y, k_train[0]), "bn moving_mean": (mm, k_train[1][0]),
                "bn moving_variance": (mv, k_train[1][1]), "bn dx": (dx, k_train[2]),
                "bn dgamma": (dgamma, k_train[3][0]), "bn dbeta": (dbeta, k_train[3][1]),
                "bn inference y": (y_inf, k_infer[0]), "bn inference dx": (dx_inf, k_infer[2]),
                "ln y": (y_ln, k_ln[0]), "ln dx": (ldx, k_ln[2]), "ln dgamma": (lg, k_ln[3][0]),
                "ln dbeta": (lb, k_ln[3][1]),
            }
            for what, (ours, theirs) in pairs.items():
                scale = max(1.0, float(np.abs(theirs).max()))
                diff = float(np.abs(ours.astype(np.float64) - theirs).max()) / scale
                worst = max(worst, diff)
                flag = diff > TOLERANCE[dtype]
                failed |= flag
                print(f"{dtype:8} {name:10} {what:20} max |diff| / scale = {diff:.2e}"
                      f"{'  FAIL' if flag else ''}")
    model_diff = compare_training()
    failed |= model_diff > 1e-5   # 15 steps of Keras' ~3e-7 float64 rounding, see TOLERANCE
    print(f"worst relative difference: {worst:.2e}; whole models after training: "
          f"{model_diff:.2e}")
    return 1 if failed else 0


def compare_training() -> float:
    """The same network trained by Keras and by mlp (float64, SGD, no shuffling, the same
    initial weights): Dense -> BatchNormalization -> relu -> LayerNormalization -> Dense.
    Returns the largest relative difference of the weights (moving statistics included) and
    of the predictions after three epochs."""
    import mlp

    keras.config.set_floatx("float64")
    rng = np.random.default_rng(5)
    x = rng.normal(size=(40, 6)) * 2 + 1
    y = rng.normal(size=(40, 2))
    net = keras.Sequential([keras.Input((6,)), keras.layers.Dense(5),
                            keras.layers.BatchNormalization(momentum=0.8),
                            keras.layers.Activation("relu"), keras.layers.LayerNormalization(),
                            keras.layers.Dense(2)])
    net.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
    ours = mlp.Sequential([mlp.Dense(5, input_dim=6), mlp.BatchNormalization(momentum=0.8),
                           mlp.Activation("relu"), mlp.LayerNormalization(), mlp.Dense(2)],
                          seed=0, dtype="float64")
    ours.compile(optimizer=mlp.SGD(0.05), loss="mse")
    ours.set_weights(net.get_weights())
    net.fit(x, y, epochs=3, batch_size=8, shuffle=False, verbose=0)
    ours.fit(x, y, epochs=3, batch_size=8, shuffle=False, verbose=0)
    worst = 0.0
    for index, (a, b) in enumerate(zip(ours.get_weights(), net.get_weights())):
        diff = float(np.abs(a - b).max()) / max(1.0, float(np.abs(b).max()))
        print(f"model weight {index} {tuple(a.shape)}: max |diff| / scale = {diff:.2e}")
        worst = max(worst, diff)
    diff = float(np.abs(ours.predict(x) - net.predict(x, verbose=0)).max())
    print(f"model predictions: max |diff| = {diff:.2e}")
    return max(worst, diff)


if __name__ == "__main__":
    sys.exit(main())
