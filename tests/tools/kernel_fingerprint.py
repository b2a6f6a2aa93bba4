"""Run a fixed set of kernels on fixed data and save every result to an ``.npz`` file.

Two builds (or two thread counts) that promise identical results must produce identical files:
``.ci/run`` compares the OpenMP build with 2 threads against the ``MLP_NO_OPENMP=1`` build, and
``tests/test_threading.py`` compares 1 thread against 2. Sizes are large enough for the kernels
to split their work across threads.

Usage: ``python tests/tools/kernel_fingerprint.py OUT.npz [--threads N]``
       ``python tests/tools/kernel_fingerprint.py --compare A.npz B.npz``
"""
import argparse
import sys

import numpy as np


def fingerprint(threads):
    """Return a dict name -> array of kernel results computed with ``threads`` threads."""
    import mlp
    from mlp.backends import get_backend

    mlp.set_num_threads(threads)
    cpu = get_backend("cpu")
    rng = np.random.default_rng(1234)
    results = {}
    for dtype in (np.float32, np.float64):
        tag = np.dtype(dtype).name
        x = rng.standard_normal((300, 500)).astype(dtype)
        w = rng.standard_normal((500, 400)).astype(dtype) * 0.05
        b = rng.standard_normal(400).astype(dtype)
        for act in ("relu", "softmax", "gelu", "tanh"):
            z = np.empty((300, 400), dtype)
            y = cpu.dense_forward(x, w, b, act, preact=z)
            dy = rng.standard_normal(y.shape).astype(dtype)
            dw, db, dx = cpu.dense_backward(x, w, y, dy, act, preact=z)
            results.update({f"{tag}_{act}_y": y, f"{tag}_{act}_dw": dw,
                            f"{tag}_{act}_db": db, f"{tag}_{act}_dx": dx})
        logits = rng.standard_normal((5000, 10)).astype(dtype) * 3
        labels = rng.integers(0, 10, 5000)
        value, grad = cpu.loss("categorical_crossentropy_from_logits", logits, labels)
        results[f"{tag}_cce"] = np.array(value)
        results[f"{tag}_cce_grad"] = grad
        param = rng.standard_normal(300_000).astype(dtype)
        m, v = np.zeros_like(param), np.zeros_like(param)
        for step in (1, 2, 3):
            grad = rng.standard_normal(param.size).astype(dtype)
            cpu.adam_update(param, grad, m, v, None, step, 1e-3, 0.9, 0.999, 1e-7)
        results[f"{tag}_adam"] = param
        results[f"{tag}_norm"] = np.array(cpu.global_norm([param, m, v]))
        results[f"{tag}_dropout"] = cpu.dropout_forward(x, 0.3, 7, 11, 2)
        gamma = rng.uniform(0.5, 1.5, 500).astype(dtype)
        beta = rng.standard_normal(500).astype(dtype)
        dy = rng.standard_normal(x.shape).astype(dtype)
        mm, mv = np.zeros(500, dtype), np.ones(500, dtype)
        xhat, inv = np.empty_like(x), np.empty(500, dtype)
        results[f"{tag}_batchnorm_y"] = cpu.batch_norm_forward(x, gamma, beta, mm, mv, 0.9,
                                                               1e-3, True, xhat=xhat,
                                                               inv_std=inv)
        results[f"{tag}_batchnorm_moving"] = np.concatenate([mm, mv])
        for name, grad in zip(("dgamma", "dbeta", "dx"),
                              cpu.batch_norm_backward(dy, xhat, gamma, inv, True)):
            results[f"{tag}_batchnorm_{name}"] = grad
        lxhat, linv = np.empty_like(x), np.empty(300, dtype)
        results[f"{tag}_layernorm_y"] = cpu.layer_norm_forward(x, gamma, beta, 1e-3,
                                                               xhat=lxhat, inv_std=linv)
        for name, grad in zip(("dgamma", "dbeta", "dx"),
                              cpu.layer_norm_backward(dy, lxhat, gamma, linv)):
            results[f"{tag}_layernorm_{name}"] = grad
    return results


def compare(path_a, path_b):
    """Return a list of the names whose arrays differ (bitwise) between two fingerprint files."""
    with np.load(path_a, allow_pickle=False) as a, np.load(path_b, allow_pickle=False) as b:
        if set(a.files) != set(b.files):
            return sorted(set(a.files) ^ set(b.files))
        return [name for name in a.files if not np.array_equal(a[name], b[name])]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", nargs="?")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--compare", nargs=2, metavar=("A", "B"))
    args = parser.parse_args(argv)
    if args.compare:
        differing = compare(*args.compare)
        if differing:
            print(f"fingerprints differ in: {', '.join(differing)}")
            return 1
        print("fingerprints identical")
        return 0
    np.savez(args.output, **fingerprint(args.threads))
    return 0


if __name__ == "__main__":
    sys.exit(main())
