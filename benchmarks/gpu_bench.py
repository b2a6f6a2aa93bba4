"""mlp's cupy backend against PyTorch CUDA eager on DESIGN.md's configs B, C and D, on one GPU.

Run: ``python benchmarks/gpu_bench.py [--configs B,C,D] [--repeats 5] [--json PATH]``

For each config, every peer trains one epoch of the same random float32 data, already in GPU
memory, with Adam (lr 1e-3) and the config's batch size; peers are interleaved within each repeat
and the median is reported. Timings wait for the GPU (``synchronize``) at the end of each epoch
only, as a training loop would. Peers:

* ``mlp fit``: ``Sequential(..., backend="cupy").fit(x, y, epochs=1)`` with CuPy input (needs the
  model to accept device arrays; otherwise the row says why it could not run);
* ``mlp ops``: the same network driven directly through the cupy backend's operations (cuBLAS
  GEMMs + the fused kernels, loss kept on the GPU): what the engine can reach per step;
* ``torch eager``: ``nn.Sequential`` + ``torch.optim.Adam`` on CUDA, and ``torch fused`` with
  ``Adam(fused=True)``; TF32 is off for both (FP32 GEMMs, as mlp's).

Reported: training samples/s, inference samples/s (batch 10 000) and the ratio of each peer's
training throughput to ``mlp ops`` (above 1: that peer is faster). Results are printed as a
markdown table and written as JSON (``--json``, default ``benchmarks/results/gpu_bench.json``).
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np


@dataclass
class Config:
    name: str
    layers: Tuple[int, ...]
    loss: str            # "cce" (softmax + categorical cross-entropy) or "mse"
    batch: int
    steps: int           # optimizer steps per timed epoch


CONFIGS = {
    "B": Config("B", (784, 128, 10), "cce", 64, 200),
    "C": Config("C", (784, 512, 512, 10), "cce", 128, 200),
    "D": Config("D", (1024, 4096, 4096, 1024), "mse", 512, 40),
}
INFERENCE_ROWS = 10_000


def make_data(cp, config: Config, rows: int, seed: int = 0):
    """Random float32 features and targets in GPU memory (class indices for "cce")."""
    rng = cp.random.default_rng(seed) if hasattr(cp.random, "default_rng") else None
    if rng is not None:
        x = rng.standard_normal((rows, config.layers[0]), dtype=np.float32)
    else:  # pragma: no cover - old CuPy
        x = cp.random.standard_normal((rows, config.layers[0])).astype(np.float32)
    if config.loss == "cce":
        y = cp.random.randint(0, config.layers[-1], rows).astype(np.int64)
    else:
        y = cp.random.standard_normal((rows, config.layers[-1])).astype(np.float32)
    return x, y


# ------------------------------------------------------------------------------ mlp
def mlp_fit_trainer(cp, config: Config, x, y):
    import mlp

    layers = [mlp.Dense(config.layers[1], activation="relu", input_dim=config.layers[0])]
    for width in config.layers[2:-1]:
        layers.append(mlp.Dense(width, activation="relu"))
    layers.append(mlp.Dense(config.layers[-1],
                            activation="softmax" if config.loss == "cce" else None))
    model = mlp.Sequential(layers, seed=0, backend="cupy")
    model.compile(optimizer=mlp.Adam(1e-3),
                  loss="sparse_categorical_crossentropy" if config.loss == "cce" else "mse")

    def epoch():
        model.fit(x, y, epochs=1, batch_size=config.batch, verbose=0)

    def infer(xi):
        return model.predict(xi, batch_size=INFERENCE_ROWS, return_device_array=True)

    return epoch, infer


def mlp_ops_trainer(cp, config: Config, x, y):
    """The network through the backend's operations only: dense_forward, loss_on_device,
    dense_backward and one Adam update over the flat parameter buffer per step."""
    from mlp.backends import get_backend

    backend = get_backend("cupy")
    sizes = config.layers
    rng = np.random.default_rng(0)
    host, shapes = [], []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        host.append(rng.uniform(-limit, limit, fan_in * fan_out))
        host.append(np.zeros(fan_out))
        shapes += [(fan_in, fan_out), (fan_out,)]
    params = backend.asarray(np.concatenate(host).astype(np.float32))
    grads = backend.zeros(params.shape, np.float32)
    m = backend.zeros(params.shape, np.float32)
    v = backend.zeros(params.shape, np.float32)

    def views(flat):
        out, offset = [], 0
        for shape in shapes:
            size = int(np.prod(shape))
            out.append(flat[offset:offset + size].reshape(shape))
            offset += size
        return out

    p_views, g_views = views(params), views(grads)
    n_layers = len(sizes) - 1
    acts = ["relu"] * (n_layers - 1) + ["linear"]
    loss = "categorical_crossentropy_from_logits" if config.loss == "cce" else "mean_squared_error"
    outs = [backend.empty((config.batch, w), np.float32) for w in sizes[1:]]
    douts = [backend.empty((config.batch, w), np.float32) for w in sizes[1:]]
    state = {"step": 0}

    def forward(xb, buffers):
        h = xb
        for layer in range(n_layers):
            h = backend.dense_forward(h, p_views[2 * layer], p_views[2 * layer + 1], acts[layer],
                                      out=None if buffers is None else buffers[layer][:len(xb)])
        return h

    def step(xb, tb):
        rows = xb.shape[0]
        out = forward(xb, outs)
        value, _ = backend.loss_on_device(loss, out, tb, grad=douts[-1][:rows])
        for layer in range(n_layers - 1, -1, -1):
            x_in = xb if layer == 0 else outs[layer - 1][:rows]
            dy = douts[layer][:rows]  # dz overwrites dy (the same object: in place)
            backend.dense_backward(x_in, p_views[2 * layer], outs[layer][:rows], dy, acts[layer],
                                   dw=g_views[2 * layer], db=g_views[2 * layer + 1],
                                   dx=douts[layer - 1][:rows] if layer else None,
                                   need_dx=layer > 0, dz=dy)
        state["step"] += 1
        backend.adam_update(params, grads, m, v, None, state["step"], 1e-3, 0.9, 0.999, 1e-7)
        return value

    def epoch():
        order = cp.random.permutation(x.shape[0])
        total = 0.0
        for begin in range(0, x.shape[0], config.batch):
            idx = order[begin:begin + config.batch]
            total = total + step(x[idx], y[idx])
        return total

    def infer(xi):
        h = xi
        for layer in range(n_layers):
            h = backend.dense_forward(h, p_views[2 * layer], p_views[2 * layer + 1],
                                      "softmax" if (layer == n_layers - 1 and config.loss == "cce")
                                      else acts[layer])
        return h

    return epoch, infer


# ------------------------------------------------------------------------------ torch
def torch_trainer(cp, config: Config, x, y, fused: bool):
    import torch

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.manual_seed(0)
    layers: List = []
    for index, (fan_in, fan_out) in enumerate(zip(config.layers[:-1], config.layers[1:])):
        layers.append(torch.nn.Linear(fan_in, fan_out))
        if index < len(config.layers) - 2:
            layers.append(torch.nn.ReLU())
    net = torch.nn.Sequential(*layers).cuda()
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3, eps=1e-7, fused=fused)
    criterion = torch.nn.CrossEntropyLoss() if config.loss == "cce" else torch.nn.MSELoss()
    xt = torch.as_tensor(x, device="cuda")
    yt = torch.as_tensor(y, device="cuda")

    def epoch():
        order = torch.randperm(xt.shape[0], device="cuda")
        total = torch.zeros((), device="cuda")
        for begin in range(0, xt.shape[0], config.batch):
            idx = order[begin:begin + config.batch]
            optimizer.zero_grad(set_to_none=True)
            loss = criterion(net(xt[idx]), yt[idx])
            loss.backward()
            optimizer.step()
            total += loss.detach()
        return total

    def infer(xi):
        with torch.no_grad():
            out = net(torch.as_tensor(xi, device="cuda"))
            return torch.softmax(out, 1) if config.loss == "cce" else out

    return epoch, infer


def torch_cuda_available() -> Tuple[bool, str]:
    try:
        import torch
    except Exception as error:
        return False, f"PyTorch not importable ({error})"
    if not torch.cuda.is_available():
        return False, f"PyTorch {torch.__version__} has no CUDA device"
    return True, f"PyTorch {torch.__version__}, CUDA {torch.version.cuda}"


# ------------------------------------------------------------------------------ timing
def timed(cp, fn: Callable, *args) -> float:
    """Seconds of ``fn(*args)`` until the GPU is done; a scalar result (an epoch's loss) is
    read back to the host, as a training loop would."""
    cp.cuda.Device().synchronize()
    start = time.perf_counter()
    result = fn(*args)
    if result is not None and getattr(result, "size", 0) == 1 and hasattr(result, "item"):
        result.item()
    cp.cuda.Device().synchronize()
    return time.perf_counter() - start


def run_config(cp, config: Config, repeats: int, peers: Dict[str, Callable]) -> Dict:
    rows = config.batch * config.steps
    x, y = make_data(cp, config, rows)
    xi = make_data(cp, config, INFERENCE_ROWS, seed=1)[0]
    trainers, errors = {}, {}
    for name, make in peers.items():
        try:
            epoch, infer = make(cp, config, x, y)
            timed(cp, epoch)           # warm-up: kernel compilation, cuBLAS heuristics, pools
            timed(cp, infer, xi)
            trainers[name] = (epoch, infer)
        except Exception as error:  # a peer that cannot run is reported, not fatal
            errors[name] = f"{type(error).__name__}: {error}"[:300]
    train: Dict[str, List[float]] = {name: [] for name in trainers}
    infer_t: Dict[str, List[float]] = {name: [] for name in trainers}
    for _ in range(repeats):
        for name, (epoch, infer) in trainers.items():
            train[name].append(timed(cp, epoch))
            infer_t[name].append(timed(cp, infer, xi))
    result = {"config": config.name, "layers": list(config.layers), "batch": config.batch,
              "samples_per_epoch": rows, "peers": {}, "errors": errors}
    for name in trainers:
        seconds = statistics.median(train[name])
        result["peers"][name] = {
            "train_samples_per_s": rows / seconds,
            "train_seconds_median": seconds,
            "step_ms": 1e3 * seconds / config.steps,
            "infer_samples_per_s": INFERENCE_ROWS / statistics.median(infer_t[name]),
        }
    base = result["peers"].get("mlp ops")
    for entry in result["peers"].values():
        entry["ratio_to_mlp_ops"] = (entry["train_samples_per_s"] / base["train_samples_per_s"]
                                     if base else None)
    return result


def markdown(results: List[Dict]) -> str:
    lines = ["| config | peer | train samples/s | ms/step | infer samples/s | train ratio "
             "(peer / mlp ops) |", "|---|---|---:|---:|---:|---:|"]
    for result in results:
        for name, entry in result["peers"].items():
            ratio = entry["ratio_to_mlp_ops"]
            lines.append(f"| {result['config']} | {name} | {entry['train_samples_per_s']:,.0f} | "
                         f"{entry['step_ms']:.3f} | {entry['infer_samples_per_s']:,.0f} | "
                         f"{'' if ratio is None else f'{ratio:.2f}'} |")
        for name, error in result["errors"].items():
            lines.append(f"| {result['config']} | {name} | n/a: {error} | | | |")
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", default="B,C,D")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", default=str(Path(__file__).resolve().parent / "results"
                                               / "gpu_bench.json"))
    args = parser.parse_args(argv)
    names = [n.strip().upper() for n in args.configs.split(",") if n.strip()]
    unknown = [n for n in names if n not in CONFIGS]
    if unknown:
        parser.error(f"--configs: unknown {unknown}; known: {list(CONFIGS)}")

    from mlp.backends import BackendUnavailableError, get_backend

    try:
        get_backend("cupy")
    except BackendUnavailableError as error:
        print(f"gpu_bench: the cupy backend is not available here: {error}")
        return 2
    import cupy as cp

    device = cp.cuda.runtime.getDeviceProperties(cp.cuda.Device().id)
    gpu = device["name"].decode() if isinstance(device["name"], bytes) else str(device["name"])
    peers: Dict[str, Callable] = {"mlp ops": mlp_ops_trainer, "mlp fit": mlp_fit_trainer}
    torch_ok, torch_info = torch_cuda_available()
    if torch_ok:
        peers["torch eager"] = lambda cp_, c, x, y: torch_trainer(cp_, c, x, y, fused=False)
        peers["torch fused"] = lambda cp_, c, x, y: torch_trainer(cp_, c, x, y, fused=True)
    print(f"GPU: {gpu}; CuPy {cp.__version__}; {torch_info}; Python {platform.python_version()}")
    results = []
    for name in names:
        started = time.perf_counter()
        results.append(run_config(cp, CONFIGS[name], args.repeats, peers))
        print(f"config {name}: {time.perf_counter() - started:.1f}s", flush=True)
    table = markdown(results)
    print(table)
    payload = {"gpu": gpu, "cupy": cp.__version__, "torch": torch_info,
               "python": platform.python_version(), "dtype": "float32", "tf32": False,
               "results": results}
    try:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(payload, indent=2))
        print(f"wrote {args.json}")
    except OSError as error:
        print(f"could not write {args.json}: {error}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
