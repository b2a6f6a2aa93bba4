"""A tiny end-to-end training run straight on the backend kernels (``mlp demo``).

It trains a 2-16-16-1 network on two interleaved spirals with Adam, calling the backend
operations one by one (forward, loss, backward, update), and reports the loss and accuracy.
The Keras-style model API builds on exactly these operations.
"""
from __future__ import annotations

import time
from typing import Dict, List

import numpy as np

from .backends import get_backend


def make_spirals(n_per_class: int, noise: float, seed: int):
    """Two interleaved spirals: X of shape (2n, 2), y in {0, 1} of shape (2n, 1)."""
    rng = np.random.default_rng(seed)
    turns = np.sqrt(rng.uniform(0.05, 1.0, n_per_class)) * 2 * np.pi
    arm = np.stack([turns * np.cos(turns), turns * np.sin(turns)], axis=1) / (2 * np.pi)
    X = np.concatenate([arm, -arm]) + rng.normal(0, noise, (2 * n_per_class, 2))
    y = np.concatenate([np.zeros(n_per_class), np.ones(n_per_class)])[:, None]
    return X, y


def train_spirals(backend_name: str = "cpu", epochs: int = 300, batch_size: int = 32,
                  seed: int = 0, dtype=np.float32, verbose: bool = True) -> Dict[str, float]:
    """Train the demo network and return its final loss and training accuracy."""
    backend = get_backend(backend_name)
    X, y = make_spirals(300, 0.02, seed)
    X, y = X.astype(dtype), y.astype(dtype)
    rng = np.random.default_rng(seed)
    sizes = [2, 16, 16, 1]
    weights: List[np.ndarray] = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        weights.append(rng.uniform(-limit, limit, (fan_in, fan_out)).astype(dtype))
        weights.append(np.zeros(fan_out, dtype=dtype))
    state = [(np.zeros(p.size, dtype), np.zeros(p.size, dtype)) for p in weights]
    activations = ["tanh", "tanh", "linear"]
    step = 0
    start = time.perf_counter()
    for epoch in range(1, epochs + 1):
        order = rng.permutation(len(X))
        total = 0.0
        for begin in range(0, len(X), batch_size):
            idx = order[begin:begin + batch_size]
            inputs = [X[idx]]
            for layer, act in enumerate(activations):
                w, b = weights[2 * layer], weights[2 * layer + 1]
                inputs.append(backend.dense_forward(inputs[-1], w, b, act))
            value, grad = backend.loss("binary_crossentropy_from_logits", inputs[-1], y[idx])
            total += value * len(idx)
            step += 1
            for layer in reversed(range(len(activations))):
                w = weights[2 * layer]
                dw, db, grad = backend.dense_backward(
                    inputs[layer], w, inputs[layer + 1], grad, activations[layer],
                    need_dx=layer > 0)
                for param, g, (m, v) in ((w, dw, state[2 * layer]),
                                         (weights[2 * layer + 1], db, state[2 * layer + 1])):
                    backend.adam_update(param.reshape(-1), g.reshape(-1), m, v, None, step,
                                        0.01, 0.9, 0.999, 1e-7)
        if verbose and (epoch % 50 == 0 or epoch == 1):
            print(f"  epoch {epoch:4d}  loss {total / len(X):.4f}")
    hidden = X
    for layer, act in enumerate(activations):
        hidden = backend.dense_forward(hidden, weights[2 * layer], weights[2 * layer + 1], act)
    accuracy = float(np.mean((hidden > 0) == (y > 0.5)))
    seconds = time.perf_counter() - start
    return {"loss": total / len(X), "accuracy": accuracy, "seconds": seconds}


def run_demo(backend_name: str = "cpu", epochs: int = 300) -> Dict[str, float]:
    """Print the demo's progress and result (the ``mlp demo`` command)."""
    print(f"mlp demo: 2-16-16-1 tanh MLP on two spirals, Adam, backend {backend_name!r}")
    result = train_spirals(backend_name, epochs=epochs)
    print(f"  final loss {result['loss']:.4f}, training accuracy {result['accuracy']:.3f}, "
          f"{result['seconds']:.2f} s")
    return result
