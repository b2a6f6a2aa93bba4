"""The training loops compared by ``benchmarks/run.py``: mlp and each peer, written the fastest
idiomatic way its own documentation recommends.

Every peer is a function ``build(config, x, y) -> Peer`` where ``Peer.train_epoch()`` trains one
epoch over ``x`` with the config's batch size, ``Peer.predict(x)`` runs inference and
``Peer.predict_one(row)`` predicts a single sample. Peers that are not installed raise
``ImportError`` from ``build`` and are skipped.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, List

import numpy as np


@dataclass(frozen=True)
class Config:
    """One network of DESIGN.md section 6."""

    name: str
    sizes: List[int]
    hidden: str
    output: str          # "sigmoid", "softmax" or "linear"
    loss: str            # "bce", "cce" or "mse"
    batch: int
    samples: int         # training samples per epoch in the benchmark

    @property
    def flops_per_sample(self) -> float:
        """Forward + backward multiply-adds x 2 (the GEMM work of one training sample)."""
        pairs = zip(self.sizes[:-1], self.sizes[1:])
        return 2.0 * 3 * sum(a * b for a, b in pairs)


CONFIGS = {
    "A": Config("A tabular", [30, 16, 1], "relu", "sigmoid", "bce", 32, 64_000),
    "B": Config("B mnist", [784, 128, 10], "relu", "softmax", "cce", 64, 12_800),
    "C": Config("C medium", [784, 512, 512, 10], "relu", "softmax", "cce", 128, 5_120),
    "D": Config("D wide", [1024, 4096, 4096, 1024], "relu", "linear", "mse", 512, 4_096),
}
"""Epochs are short so that a full run fits in minutes, but at least 8 steps long: with D's
earlier 2-step epochs, the fixed cost of a ``fit`` call (input checks, the start-of-epoch
snapshot) weighed 4x more than in any real data set's epoch."""


def make_data(config: Config, seed: int = 0):
    """Random float32 inputs and targets of the config's shape (labels for the classifiers)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((config.samples, config.sizes[0])).astype(np.float32)
    if config.loss == "bce":
        y = (rng.random(config.samples) > 0.5).astype(np.float32)
    elif config.loss == "cce":
        y = rng.integers(0, config.sizes[-1], config.samples)
    else:
        y = rng.standard_normal((config.samples, config.sizes[-1])).astype(np.float32)
    return x, y


@dataclass
class Peer:
    train_epoch: Callable[[], None]
    predict: Callable[[np.ndarray], np.ndarray]
    predict_one: Callable[[np.ndarray], np.ndarray]


# ----------------------------------------------------------------------------------------- mlp
def build_mlp(config: Config, x, y) -> Peer:
    import mlp

    layers = [mlp.Dense(config.sizes[1], activation=config.hidden, input_dim=config.sizes[0])]
    layers += [mlp.Dense(width, activation=config.hidden) for width in config.sizes[2:-1]]
    layers.append(mlp.Dense(config.sizes[-1], activation=config.output))
    model = mlp.Sequential(layers, seed=0)
    loss = {"bce": "binary_crossentropy", "cce": "sparse_categorical_crossentropy",
            "mse": "mse"}[config.loss]
    model.compile(optimizer=mlp.Adam(1e-3), loss=loss)
    return Peer(lambda: model.fit(x, y, batch_size=config.batch, epochs=1, verbose=0),
                lambda data: model.predict(data, batch_size=len(data)),
                model.predict)


def _mlp_variant(config: Config, x, y, threads=None, blas_only=False, runtime=None,
                 tuning=True, blas=None) -> Peer:
    """mlp with other thread settings for its calls only, restored afterwards: ``threads`` for
    mlp and its BLAS together; ``blas_only``: mlp's own loops on one thread, BLAS on the run's
    thread count with its own threads; ``runtime`` another parallel runtime of the kernels
    (``"openmp-static"``: the one before the pool); ``tuning=False`` keeps the configured thread
    count in every training step instead of letting the loop choose by measurement; ``blas``
    another BLAS for the kernels (``"scipy"``: scipy's bundled OpenBLAS)."""
    import contextlib

    import mlp
    from mlp import _blas_choice
    from mlp.kernels import _kernels
    from mlp._threading import _blas_controller

    peer = build_mlp(config, x, y)

    @contextlib.contextmanager
    def settings():
        before = mlp.get_num_threads()
        mode, tuned = _kernels.runtime_mode(), _kernels.thread_tuning()
        _kernels.set_thread_tuning(tuning)
        if threads is not None:
            mlp.set_num_threads(threads)
        if blas_only:
            mlp.set_num_threads(1)
            _blas_controller().limit(limits=before)
        if runtime is not None:
            _kernels.set_runtime_mode(runtime)
        if blas is not None:
            _blas_choice.choose(blas)
        try:
            yield
        finally:
            if blas is not None:
                _blas_choice.choose()
            _kernels.set_runtime_mode(mode)
            _kernels.set_thread_tuning(tuned)
            mlp.set_num_threads(before)

    def wrap(fn):
        def call(*args):
            with settings():
                return fn(*args)
        return call

    return Peer(wrap(peer.train_epoch), wrap(peer.predict), wrap(peer.predict_one))


# --------------------------------------------------------------------------------------- numpy
def build_numpy(config: Config, x, y) -> Peer:
    """A plain NumPy MLP with Adam, written the straightforward way."""
    rng = np.random.default_rng(0)
    params = []
    for fan_in, fan_out in zip(config.sizes[:-1], config.sizes[1:]):
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        params += [rng.uniform(-limit, limit, (fan_in, fan_out)).astype(np.float32),
                   np.zeros(fan_out, np.float32)]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    target = np.eye(config.sizes[-1], dtype=np.float32)[y] if config.loss == "cce" else (
        y.reshape(len(y), -1))
    step_count = [0]

    def forward(data):
        hidden = [data]
        for i in range(0, len(params), 2):
            z = hidden[-1] @ params[i] + params[i + 1]
            hidden.append(np.maximum(z, 0) if i < len(params) - 2 else z)
        return hidden

    def output(z):
        if config.loss == "bce":
            return 1 / (1 + np.exp(-z))
        if config.loss == "cce":
            e = np.exp(z - z.max(axis=1, keepdims=True))
            return e / e.sum(axis=1, keepdims=True)
        return z

    def step(xb, tb):
        hidden = forward(xb)
        delta = output(hidden[-1]) - tb
        delta /= len(xb) * (tb.shape[1] / 2 if config.loss == "mse" else 1)
        grads = [None] * len(params)
        for i in range(len(params) - 2, -1, -2):
            grads[i] = hidden[i // 2].T @ delta
            grads[i + 1] = delta.sum(axis=0)
            if i:
                delta = (delta @ params[i].T) * (hidden[i // 2] > 0)
        step_count[0] += 1
        t = step_count[0]
        for p, g, m_, v_ in zip(params, grads, m, v):
            m_ *= 0.9
            m_ += 0.1 * g
            v_ *= 0.999
            v_ += 0.001 * g * g
            p -= 1e-3 * (m_ / (1 - 0.9 ** t)) / (np.sqrt(v_ / (1 - 0.999 ** t)) + 1e-7)

    def epoch():
        order = rng.permutation(len(x))
        for begin in range(0, len(x), config.batch):
            idx = order[begin:begin + config.batch]
            step(x[idx], target[idx])

    return Peer(epoch, lambda data: output(forward(data)[-1]),
                lambda row: output(forward(row)[-1]))


# --------------------------------------------------------------------------------------- torch
def _torch_net(config: Config):
    import torch

    torch.manual_seed(0)
    modules = []
    for i, (fan_in, fan_out) in enumerate(zip(config.sizes[:-1], config.sizes[1:])):
        modules.append(torch.nn.Linear(fan_in, fan_out))
        if i < len(config.sizes) - 2:
            modules.append(torch.nn.ReLU())
    return torch.nn.Sequential(*modules)


def _torch_loss(config: Config):
    import torch

    return {"bce": torch.nn.BCEWithLogitsLoss(), "cce": torch.nn.CrossEntropyLoss(),
            "mse": torch.nn.MSELoss()}[config.loss]


def _torch_peer(config: Config, x, y, fused: bool, compiled: bool) -> Peer:
    import torch

    net = _torch_net(config)
    loss_fn = _torch_loss(config)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3, **({"fused": True} if fused else {}))
    xt = torch.from_numpy(x)
    yt = torch.from_numpy(y if config.loss != "bce" else y.reshape(-1, 1))

    def train_step(xb, yb):
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(net(xb), yb)
        loss.backward()
        optimizer.step()

    step = torch.compile(train_step) if compiled else train_step
    head = {"bce": torch.sigmoid, "cce": lambda z: torch.softmax(z, dim=1),
            "mse": lambda z: z}[config.loss]

    def infer(data):
        with torch.inference_mode():
            return head(net(torch.from_numpy(data))).numpy()

    def epoch():
        torch.set_flush_denormal(fused)
        order = torch.randperm(len(xt))
        for begin in range(0, len(xt), config.batch):
            idx = order[begin:begin + config.batch]
            step(xt[idx], yt[idx])
        torch.set_flush_denormal(False)

    return Peer(epoch, infer, infer)


def build_torch(config, x, y) -> Peer:
    return _torch_peer(config, x, y, fused=False, compiled=False)


def build_torch_fused(config, x, y) -> Peer:
    """Fused Adam with flush-to-zero: PyTorch's fastest eager CPU setting."""
    return _torch_peer(config, x, y, fused=True, compiled=False)


def build_torch_compile(config, x, y) -> Peer:
    return _torch_peer(config, x, y, fused=False, compiled=True)


# ----------------------------------------------------------------------------------------- jax
def build_jax(config: Config, x, y, shuffle: bool = True) -> Peer:
    """A whole epoch compiled as one ``lax.scan`` over the shuffled batches (JAX's strongest
    form). ``shuffle=False`` (peer ``jax-fixed-order``) scans the same batches in the same
    order every epoch, with no gather: faster, but not how anyone trains."""
    import jax
    import jax.numpy as jnp

    key = jax.random.PRNGKey(0)
    params = []
    for fan_in, fan_out in zip(config.sizes[:-1], config.sizes[1:]):
        key, sub = jax.random.split(key)
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        params.append((jax.random.uniform(sub, (fan_in, fan_out), jnp.float32, -limit, limit),
                       jnp.zeros(fan_out, jnp.float32)))

    def forward(p, data):
        h = data
        for i, (w, b) in enumerate(p):
            h = h @ w + b
            if i < len(p) - 1:
                h = jax.nn.relu(h)
        return h

    def loss_fn(p, xb, yb):
        z = forward(p, xb)
        if config.loss == "bce":
            return jnp.mean(jnp.maximum(z, 0) - z * yb + jnp.log1p(jnp.exp(-jnp.abs(z))))
        if config.loss == "cce":
            return jnp.mean(jax.nn.logsumexp(z, axis=1) - jnp.take_along_axis(
                z, yb[:, None], axis=1)[:, 0])
        return jnp.mean((z - yb) ** 2)

    def adam(state, grads):
        p, m, v, t = state
        t = t + 1
        m = jax.tree_util.tree_map(lambda a, g: 0.9 * a + 0.1 * g, m, grads)
        v = jax.tree_util.tree_map(lambda a, g: 0.999 * a + 0.001 * g * g, v, grads)
        p = jax.tree_util.tree_map(
            lambda w, a, b: w - 1e-3 * (a / (1 - 0.9 ** t)) / (jnp.sqrt(b / (1 - 0.999 ** t))
                                                                + 1e-7), p, m, v)
        return p, m, v, t

    n_batches = len(x) // config.batch
    target = y.reshape(-1, 1) if config.loss == "bce" else y

    def scan_batches(state, xs, ys):
        def body(carry, batch):
            grads = jax.grad(loss_fn)(carry[0], *batch)
            return adam(carry, grads), None
        return jax.lax.scan(body, state, (xs, ys))[0]

    used = n_batches * config.batch

    @jax.jit
    def shuffled_epoch(state, perm, x_all, y_all):
        # shuffled each epoch, as every other peer's loop is (JAX's tutorials draw a NumPy
        # permutation per epoch; jax.random.permutation is a sort, 3x slower here on A)
        xs = x_all[perm].reshape(n_batches, config.batch, -1)
        ys = y_all[perm].reshape((n_batches, config.batch) + y_all.shape[1:])
        return scan_batches(state, xs, ys)

    fixed_epoch = jax.jit(scan_batches)
    zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
    state = [(params, zeros, zeros, 0.0)]
    x_all, y_all = jnp.asarray(x), jnp.asarray(target)
    xs = x_all[:used].reshape(n_batches, config.batch, -1)
    ys = y_all[:used].reshape((n_batches, config.batch) + target.shape[1:])
    rng = np.random.default_rng(1)
    infer = jax.jit(lambda p, data: forward(p, data))

    def epoch():
        if shuffle:
            state[0] = shuffled_epoch(state[0], rng.permutation(len(x))[:used], x_all, y_all)
        else:
            state[0] = fixed_epoch(state[0], xs, ys)
        jax.block_until_ready(state[0][0])

    return Peer(epoch, lambda data: np.asarray(infer(state[0][0], data)),
                lambda row: np.asarray(infer(state[0][0], row)))


# --------------------------------------------------------------------------------------- keras
KERAS_STEPS_PER_EXECUTION = 32


def build_keras(config: Config, x, y) -> Peer:
    """Keras 3 ``fit``, one epoch per call, on the backend ``KERAS_BACKEND`` names (JAX when
    unset: its train step is compiled by XLA). As Keras' docs advise for small models,
    ``steps_per_execution`` runs several steps per compiled call; single samples go through
    ``model(x)``, which the docs recommend over ``predict`` for inputs that fit in one batch."""
    import os

    os.environ.setdefault("KERAS_BACKEND", "jax")
    import keras

    keras.utils.set_random_seed(0)
    layers = [keras.Input((config.sizes[0],))]
    layers += [keras.layers.Dense(width, activation="relu") for width in config.sizes[1:-1]]
    layers.append(keras.layers.Dense(config.sizes[-1], activation=config.output))
    model = keras.Sequential(layers)
    loss = {"bce": "binary_crossentropy", "cce": "sparse_categorical_crossentropy",
            "mse": "mse"}[config.loss]
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=loss,
                  steps_per_execution=KERAS_STEPS_PER_EXECUTION)
    return Peer(lambda: model.fit(x, y, batch_size=config.batch, epochs=1, verbose=0),
                lambda data: model.predict(data, batch_size=len(data), verbose=0),
                lambda row: np.asarray(model(row, training=False)))


# ------------------------------------------------------------------------------------- sklearn
def build_sklearn(config: Config, x, y) -> Peer:
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier, MLPRegressor

    cls = MLPRegressor if config.loss == "mse" else MLPClassifier
    model = cls(hidden_layer_sizes=tuple(config.sizes[1:-1]), activation="relu", solver="adam",
                batch_size=config.batch, learning_rate_init=1e-3, max_iter=1, warm_start=True,
                shuffle=True, random_state=0, tol=0.0, n_iter_no_change=10 ** 9, alpha=0.0)

    def epoch():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(x, y)

    predict = model.predict if config.loss == "mse" else model.predict_proba
    return Peer(epoch, predict, predict)


PEERS = {
    "mlp": build_mlp,
    "mlp-1t": lambda config, x, y: _mlp_variant(config, x, y, threads=1),
    "mlp-blas-threads": lambda config, x, y: _mlp_variant(config, x, y, blas_only=True),
    "mlp-openmp": lambda config, x, y: _mlp_variant(config, x, y, runtime="openmp-static",
                                                    tuning=False),
    "mlp-untuned": lambda config, x, y: _mlp_variant(config, x, y, tuning=False),
    "mlp-scipy-blas": lambda config, x, y: _mlp_variant(config, x, y, blas="scipy"),
    "numpy": build_numpy,
    "torch": build_torch,
    "torch-fused": build_torch_fused,
    "torch-compile": build_torch_compile,
    "jax": build_jax,
    "jax-fixed-order": lambda config, x, y: build_jax(config, x, y, shuffle=False),
    "keras": build_keras,
    "sklearn": build_sklearn,
}
"""Peer name -> builder. ``mlp-1t`` is mlp on one thread (BLAS too); ``mlp-blas-threads``
runs mlp's loops on one thread and lets BLAS use two threads of its own (the usual alternative
to splitting GEMMs ourselves); ``mlp-openmp`` runs the kernels' parts through one OpenMP
parallel region per job on every step, as mlp did before its own pool; ``mlp-untuned`` is mlp's
pool on every step, without the loop's measured choice of thread count; ``mlp-scipy-blas``
calls scipy's bundled OpenBLAS instead of the private ``scipy-openblas32`` copy. ``torch-fused`` is PyTorch eager with fused Adam and flush-to-zero;
``jax-fixed-order`` is the JAX scan without the per-epoch shuffle every other peer does."""
