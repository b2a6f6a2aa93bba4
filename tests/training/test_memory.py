"""Repeated fit / predict cycles on one model do not grow its memory (issue 15's stress test:
resident memory measured and bounded)."""
from __future__ import annotations

import gc
import os
import sys

import numpy as np
import pytest

import mlp

CYCLES = 2000


def _rss() -> int:
    with open("/proc/self/statm", "rb") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/statm")
def test_fit_predict_cycles_keep_resident_memory_flat():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 8)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.float32)
    model = mlp.Sequential([mlp.Dense(16, activation="relu", input_dim=8),
                            mlp.Dropout(0.1), mlp.Dense(1, activation="sigmoid")], seed=0)
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])

    def cycle():
        model.fit(x, y, batch_size=16, epochs=1, verbose=0)
        model.predict(x[:3])
        model.predict(x, batch_size=7)

    for _ in range(CYCLES // 10):  # warm up: plans, caches, allocator pools
        cycle()
    gc.collect()
    before = _rss()
    for _ in range(CYCLES):
        cycle()
    gc.collect()
    grown = _rss() - before
    assert grown < 8 * 1024 * 1024, f"resident memory grew by {grown / 2 ** 20:.1f} MiB"
