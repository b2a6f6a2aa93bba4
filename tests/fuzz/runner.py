"""Run fuzz cases in worker processes and count their outcomes.

Each case goes to a worker subprocess (:mod:`worker`), which answers before it takes the next
one; a worker that dies (a segfault: ``crash``) or does not answer in time (``hang``) is
replaced and the run goes on with the next case, so one process can never hide another
case's outcome. Outcome classes: ``clear`` / ``ran`` / ``unclear`` / ``crash`` / ``hang`` /
``silent_nan`` / ``silent_divergence`` / ``silent_load``.

Usage (from the repository root, kernels built in place)::

    PYTHONPATH=src python tests/fuzz/runner.py            # the bounded run CI does (~1,000)
    PYTHONPATH=src python tests/fuzz/runner.py --long     # 6,000 cases, several minutes
    PYTHONPATH=src python tests/fuzz/runner.py --cases 300 --seed 7 --show unclear
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, Iterable, List, Optional

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from cases import generate  # noqa: E402

OUTCOMES = ("clear", "ran", "unclear", "crash", "hang", "silent_nan", "silent_divergence",
            "silent_load")
BAD = ("unclear", "crash", "hang", "silent_nan", "silent_divergence", "silent_load")
ADDRESS_SPACE = 3 * 1024 ** 3
"""Address-space limit of a worker: a case that allocates past it fails in the worker only."""


class _Worker:
    def __init__(self, env: Dict[str, str]):
        self.process = subprocess.Popen(
            [sys.executable, str(HERE / "worker.py")], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True, bufsize=1)
        if self._read(120.0) is None:
            raise RuntimeError("fuzz worker did not start")

    def _read(self, timeout: float) -> Optional[dict]:
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        if not ready:
            return None
        line = self.process.stdout.readline()
        return json.loads(line) if line else None

    def ask(self, case: dict, timeout: float) -> dict:
        try:
            self.process.stdin.write(json.dumps(case) + "\n")
            self.process.stdin.flush()
        except BrokenPipeError:
            return {"outcome": "crash", "error": "the worker was gone"}
        started = time.monotonic()
        answer = self._read(timeout)
        if answer is not None:
            return answer
        if self.process.poll() is None and time.monotonic() - started >= timeout:
            self.stop()
            return {"outcome": "hang", "error": f"no answer in {timeout:.0f} s"}
        code = self.process.wait()
        return {"outcome": "crash", "error": f"the worker exited with {code}"}

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


def _package_root() -> str:
    """The folder holding the ``mlp`` package this interpreter imports."""
    import importlib.util

    spec = importlib.util.find_spec("mlp")
    if spec is None or spec.origin is None:
        return str(HERE.parents[1] / "src")
    return str(Path(spec.origin).resolve().parents[1])


def run_cases(cases: Iterable[dict], timeout: float = 30.0,
              address_space: int = ADDRESS_SPACE) -> List[dict]:
    """Each case's answer (``outcome``, ``error`` when it raised), in order."""
    env = dict(os.environ)
    # the mlp this process would import (the source tree, or an installed copy as in CI);
    # MLP_FUZZ_SRC points the workers at another tree, to compare
    src = os.environ.get("MLP_FUZZ_SRC", _package_root())
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    env["MLP_FUZZ_ADDRESS_SPACE"] = str(address_space)
    env.setdefault("OMP_NUM_THREADS", "1")
    results: List[dict] = []
    worker: Optional[_Worker] = None
    try:
        for case in cases:
            if worker is None:
                worker = _Worker(env)
            answer = worker.ask(case, timeout)
            answer["case"] = case
            results.append(answer)
            if answer["outcome"] in ("crash", "hang"):
                worker.stop()
                worker = None
    finally:
        if worker is not None:
            worker.stop()
    return results


def count(results: Iterable[dict]) -> Dict[str, int]:
    counts = collections.Counter(r["outcome"] for r in results)
    return {name: counts.get(name, 0) for name in OUTCOMES}


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--long", action="store_true", help="6,000 cases (default 1,000)")
    parser.add_argument("--cases", type=int, default=None)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per case")
    parser.add_argument("--show", default=",".join(BAD),
                        help="outcomes whose cases are printed")
    options = parser.parse_args(argv)
    n = options.cases or (6000 if options.long else 1000)
    started = time.monotonic()
    results = run_cases(generate(options.seed, n), options.timeout)
    show = set(options.show.split(","))
    for result in results:
        if result["outcome"] in show:
            print(json.dumps({"outcome": result["outcome"], "error": result.get("error"),
                              "case": result["case"]}))
    counts = count(results)
    families = collections.Counter(r["case"]["family"] for r in results)
    summary = ", ".join(f"{k} {v}" for k, v in counts.items())
    print(f"{n} cases ({dict(families)}), seed {options.seed}, "
          f"{time.monotonic() - started:.0f} s: {summary}")
    return 1 if any(counts[k] for k in BAD) else 0


if __name__ == "__main__":
    sys.exit(main())
