"""The bounded fuzz run of CI: seeded cases over the public backend operations and the model
API, each run in a worker subprocess (see :mod:`runner`); no case may crash, hang, leave
non-finite weights silently or fail with a message that does not name its argument.

The long run: ``PYTHONPATH=src python tests/fuzz/runner.py --long``.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from runner import BAD, count, run_cases  # noqa: E402
from cases import generate  # noqa: E402

CI_CASES = int(os.environ.get("MLP_FUZZ_CASES", "1000"))


def test_the_generator_is_seeded():
    assert generate(3, 20) == generate(3, 20)
    assert generate(3, 20) != generate(4, 20)
    assert {case["family"] for case in generate(0, 10)} == {"op", "model", "file"}


def test_a_crash_and_a_hang_are_counted_as_such():
    crash = {"family": "op", "backend": "cpu", "op": "__crash__", "args": [], "kwargs": {},
             "index": 0, "seed": 0}
    results = run_cases([dict(crash, op="__crash__"), dict(crash, op="__hang__", index=1),
                         dict(crash, op="dense_forward", index=2, args=[[[1.0]], [[2.0]], None])],
                        timeout=5)
    assert [r["outcome"] for r in results] == ["crash", "hang", "ran"]


@pytest.mark.parametrize("seed", [2026])
def test_the_bounded_fuzz_run_finds_nothing(seed):
    results = run_cases(generate(seed, CI_CASES), timeout=30)
    counts = count(results)
    bad = [(r["outcome"], r.get("error"), r["case"]) for r in results if r["outcome"] in BAD]
    assert not bad, f"{counts}; first: {bad[:3]}"
    assert counts["clear"] > CI_CASES // 10 and counts["ran"] > CI_CASES // 10, counts
