"""mlp.sklearn.MLPClassifier against scikit-learn's MLPClassifier, same parameters, same data.

Each problem is fitted by both estimators with identical constructor arguments (the same
``random_state`` starts both from the same weights), interleaved in one process and
alternating which goes first; the report gives the median fit time of each, their ratio, and
the test accuracy of each (mean over the repeats, one ``random_state`` per repeat).

Problems (float32 inputs, which both estimators train in):

- ``digits``: scikit-learn's 8x8 digits (1,797 samples, 64 features, 10 classes), 75 / 25 split;
- ``mnist-random``: an MNIST-sized problem of random data: 784 features, 10 classes, each class
  a random template plus noise (``--samples`` training samples, default 20,000; 60,000 with
  ``--full``), 10,000 test samples.

Usage::

    python benchmarks/sklearn_estimators.py                    # both problems, 3 repeats
    python benchmarks/sklearn_estimators.py --problems digits --repeats 5
    python benchmarks/sklearn_estimators.py --full             # 60,000 training samples

Results go to ``benchmarks/results/<date>-sklearn.json`` and ``.md``.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Callable, Dict, List, Tuple

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import _cpu_name, set_threads  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"

Problem = Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def digits() -> Problem:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    return tuple(train_test_split(X, y, test_size=0.25, random_state=0, stratify=y))


def mnist_random(samples: int, test: int = 10_000, seed: int = 0) -> Problem:
    """Random MNIST-shaped data a small network can learn but not trivially."""
    rng = np.random.default_rng(seed)
    templates = rng.normal(size=(10, 784)).astype(np.float32)
    y = rng.integers(0, 10, samples + test)
    X = 0.15 * templates[y] + rng.normal(size=(samples + test, 784)).astype(np.float32)
    return X[:samples], X[samples:], y[:samples], y[samples:]


PARAMETERS = {
    "digits": dict(hidden_layer_sizes=(100,), max_iter=200),
    "mnist-random": dict(hidden_layer_sizes=(100,), max_iter=10),
}
"""Beyond scikit-learn's defaults (adam, batch_size="auto", alpha=1e-4, tol=1e-4, ...)."""


def fit_once(estimator_class, parameters: Dict, problem: Problem, seed: int) -> Dict:
    X_train, X_test, y_train, y_test = problem
    model = estimator_class(**parameters, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning at max_iter, for both alike
        started = time.perf_counter()
        model.fit(X_train, y_train)
        seconds = time.perf_counter() - started
    return {"seconds": seconds, "accuracy": float(model.score(X_test, y_test)),
            "epochs": int(model.n_iter_)}


def bench(name: str, problem: Problem, parameters: Dict, repeats: int,
          solvers: List[str]) -> List[Dict]:
    from sklearn.neural_network import MLPClassifier as SklearnMLP

    from mlp.sklearn import MLPClassifier as MlpMLP

    rows = []
    for solver in solvers:
        options = dict(parameters, solver=solver)
        runs: Dict[str, List[Dict]] = {"mlp": [], "sklearn": []}
        peers: List[Tuple[str, Callable]] = [("mlp", MlpMLP), ("sklearn", SklearnMLP)]
        fit_once(MlpMLP, dict(options, max_iter=1), problem, 0)  # warm the plans and pools
        for repeat in range(repeats):
            for peer, estimator in (peers if repeat % 2 == 0 else peers[::-1]):
                runs[peer].append(fit_once(estimator, options, problem, repeat))
        mlp_time = statistics.median(r["seconds"] for r in runs["mlp"])
        sk_time = statistics.median(r["seconds"] for r in runs["sklearn"])
        row = {
            "problem": name, "solver": solver, "parameters": options,
            "train_samples": int(problem[0].shape[0]), "test_samples": int(problem[1].shape[0]),
            "mlp_seconds": mlp_time, "sklearn_seconds": sk_time, "speedup": sk_time / mlp_time,
            "mlp_accuracy": float(np.mean([r["accuracy"] for r in runs["mlp"]])),
            "sklearn_accuracy": float(np.mean([r["accuracy"] for r in runs["sklearn"]])),
            "mlp_epochs": [r["epochs"] for r in runs["mlp"]],
            "sklearn_epochs": [r["epochs"] for r in runs["sklearn"]],
            "runs": runs,
        }
        rows.append(row)
        print(f"{name:13s} {solver:6s} mlp {mlp_time:7.2f} s  sklearn {sk_time:7.2f} s  "
              f"{row['speedup']:5.1f}x  accuracy {row['mlp_accuracy']:.4f} vs "
              f"{row['sklearn_accuracy']:.4f}", flush=True)
    return rows


def markdown(report: Dict) -> str:
    machine = report["machine"]
    lines = [f"mlp.sklearn.MLPClassifier vs sklearn.neural_network.MLPClassifier "
             f"(scikit-learn {machine['sklearn']}), {machine['cpu']}, {machine['threads']} "
             f"threads, {report['repeats']} repeats, median fit time", "",
             "| problem | solver | train / test | mlp fit | sklearn fit | speed-up | mlp acc. "
             "| sklearn acc. | epochs mlp / sklearn |",
             "|---|---|---|---:|---:|---:|---:|---:|---|"]
    for row in report["rows"]:
        lines.append(
            f"| {row['problem']} | {row['solver']} | {row['train_samples']:,} / "
            f"{row['test_samples']:,} | {row['mlp_seconds']:.2f} s | "
            f"{row['sklearn_seconds']:.2f} s | {row['speedup']:.1f}x | "
            f"{row['mlp_accuracy']:.4f} | {row['sklearn_accuracy']:.4f} | "
            f"{row['mlp_epochs']} / {row['sklearn_epochs']} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", default="digits,mnist-random")
    parser.add_argument("--solvers", default="adam",
                        help="comma-separated, of adam, sgd, lbfgs (default: adam)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--samples", type=int, default=20_000)
    parser.add_argument("--full", action="store_true", help="60,000 training samples")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", default=None, help="file stem under benchmarks/results")
    args = parser.parse_args(argv)
    import sklearn

    set_threads(args.threads)
    solvers = args.solvers.split(",")
    rows = []
    for name in args.problems.split(","):
        problem = digits() if name == "digits" else mnist_random(
            60_000 if args.full else args.samples)
        rows += bench(name, problem, PARAMETERS[name], args.repeats, solvers)
    report = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "repeats": args.repeats, "rows": rows,
        "machine": {"cpu": _cpu_name(), "cpus": os.cpu_count(), "threads": args.threads,
                    "platform": platform.platform(), "python": platform.python_version(),
                    "sklearn": sklearn.__version__, "numpy": np.__version__,
                    "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE")},
    }
    RESULTS.mkdir(exist_ok=True)
    stem = args.output or f"{datetime.date.today().isoformat()}-sklearn"
    (RESULTS / f"{stem}.json").write_text(json.dumps(report, indent=1))
    table = markdown(report)
    (RESULTS / f"{stem}.md").write_text(table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
