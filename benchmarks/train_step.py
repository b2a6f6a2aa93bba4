"""One training step of DESIGN.md's config B (784-128-10, relu / softmax, categorical
cross-entropy, Adam, batch 64, float32): mlp against a plain NumPy loop and PyTorch eager,
measured in one process, interleaved, median of repeats.

Run: ``python benchmarks/train_step.py [--repeats 7] [--samples 6400] [--threads 2]``

Each repeat trains every peer for one epoch of ``--samples`` random samples and times it; the
table reports the median time per step, samples per second and the ratio of each peer's time to
mlp's (above 1 means mlp is faster). PyTorch runs twice: as written by most users, and with
``torch.set_flush_denormal(True)`` (its best CPU setting).
"""
from __future__ import annotations

import argparse
import statistics
import time
from typing import Callable, Dict, List

import numpy as np

import mlp

LAYERS = (784, 128, 10)


def make_data(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, LAYERS[0])).astype(np.float32)
    y = rng.integers(0, LAYERS[-1], n)
    return x, y


def mlp_trainer(x, y, batch: int) -> Callable[[], None]:
    model = mlp.Sequential([mlp.Dense(LAYERS[1], activation="relu", input_dim=LAYERS[0]),
                            mlp.Dense(LAYERS[2], activation="softmax")], seed=0)
    model.compile(optimizer=mlp.Adam(1e-3), loss="sparse_categorical_crossentropy")
    return lambda: model.fit(x, y, batch_size=batch, epochs=1, verbose=0)


def numpy_trainer(x, y, batch: int) -> Callable[[], None]:
    """A plain NumPy MLP with Adam, written the straightforward way."""
    rng = np.random.default_rng(0)
    shapes = [(LAYERS[0], LAYERS[1]), (LAYERS[1],), (LAYERS[1], LAYERS[2]), (LAYERS[2],)]
    params = [(rng.standard_normal(s) * 0.05).astype(np.float32) for s in shapes]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    state = {"t": 0}
    one_hot = np.eye(LAYERS[-1], dtype=np.float32)[y]

    def step(xb, tb):
        w1, b1, w2, b2 = params
        h = np.maximum(xb @ w1 + b1, 0)
        z = h @ w2 + b2
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        dz = (p - tb) / len(xb)
        dh = (dz @ w2.T) * (h > 0)
        grads = [xb.T @ dh, dh.sum(0), h.T @ dz, dz.sum(0)]
        state["t"] += 1
        t = state["t"]
        for p_, g, m_, v_ in zip(params, grads, m, v):
            m_ *= 0.9
            m_ += 0.1 * g
            v_ *= 0.999
            v_ += 0.001 * g * g
            p_ -= 1e-3 * (m_ / (1 - 0.9 ** t)) / (np.sqrt(v_ / (1 - 0.999 ** t)) + 1e-7)

    def epoch():
        order = rng.permutation(len(x))
        for begin in range(0, len(x), batch):
            idx = order[begin:begin + batch]
            step(x[idx], one_hot[idx])

    return epoch


def torch_trainer(x, y, batch: int, flush_denormal: bool) -> Callable[[], None]:
    import torch

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(LAYERS[0], LAYERS[1]), torch.nn.ReLU(),
                              torch.nn.Linear(LAYERS[1], LAYERS[2]))
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)

    def epoch():
        torch.set_flush_denormal(flush_denormal)
        order = torch.randperm(len(xt))
        for begin in range(0, len(xt), batch):
            idx = order[begin:begin + batch]
            optimizer.zero_grad()
            loss = loss_fn(net(xt[idx]), yt[idx])
            loss.backward()
            optimizer.step()
        torch.set_flush_denormal(False)

    return epoch


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--samples", type=int, default=6400)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    mlp.set_num_threads(args.threads)
    x, y = make_data(args.samples)
    peers: Dict[str, Callable[[], None]] = {
        "mlp": mlp_trainer(x, y, args.batch),
        "numpy": numpy_trainer(x, y, args.batch),
    }
    try:
        import torch

        torch.set_num_threads(args.threads)
        peers["torch eager"] = torch_trainer(x, y, args.batch, False)
        peers["torch eager + flush denormal"] = torch_trainer(x, y, args.batch, True)
    except ImportError:
        print("(PyTorch not installed: skipped)")
    times: Dict[str, List[float]] = {name: [] for name in peers}
    for fn in peers.values():
        fn()  # warm-up
    for _ in range(args.repeats):
        for name, fn in peers.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    steps = -(-args.samples // args.batch)
    base = statistics.median(times["mlp"])
    print(f"config B, batch {args.batch}, {args.threads} threads, median of {args.repeats}")
    print("| peer | time per step (µs) | samples/s | peer time / mlp time |")
    print("|---|---:|---:|---:|")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"| {name} | {median / steps * 1e6:,.1f} | {args.samples / median:,.0f} | "
              f"{median / base:.2f} |")


if __name__ == "__main__":
    main()
