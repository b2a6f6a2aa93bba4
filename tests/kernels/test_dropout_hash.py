"""The dropout mask: the counter-based hash of ``base.py``, reproduced exactly by every backend.

The scalar :func:`~mlp.backends.base.dropout_uniform` is the specification; a backend's whole-array
mask must agree with it element by element (``k`` = row-major flat index), bit for bit.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlp.backends import get_backend
from mlp.backends.base import dropout_uniform

BACKEND_NAMES = ["reference", "cpu"]
DTYPES = [np.float32, np.float64]


def scalar_uniforms(shape, seed: int, step: int, layer: int) -> np.ndarray:
    """``dropout_uniform`` for every element of ``shape``, one Python call per element."""
    size = int(np.prod(shape))
    return np.array([dropout_uniform(seed, step, layer, k) for k in range(size)]).reshape(shape)


def expected_mask(shape, rate: float, seed: int, step: int, layer: int, dtype) -> np.ndarray:
    """The mask built from the scalar hash: 0 where ``uniform < rate``, else ``1 / (1 - rate)``."""
    keep = dtype(1.0 / (1.0 - rate))
    return np.where(scalar_uniforms(shape, seed, step, layer) < rate, dtype(0), keep)


def mask(backend, shape, rate, seed=0, step=0, layer=0, dtype=np.float64) -> np.ndarray:
    return backend.to_numpy(backend.dropout_mask(shape, rate, seed, step, layer, dtype))


@settings(max_examples=40, deadline=None)
@given(
    rows=st.integers(1, 4),
    cols=st.integers(1, 6),
    rate=st.floats(0.0, 0.95),
    seed=st.integers(0, 2**64 - 1),
    step=st.integers(0, 2**40),
    layer=st.integers(0, 2**16),
    dtype=st.sampled_from(DTYPES),
)
@pytest.mark.parametrize("backend_name", BACKEND_NAMES)
def test_mask_equals_scalar_hash(backend_name, rows, cols, rate, seed, step, layer, dtype):
    backend = get_backend(backend_name)
    actual = mask(backend, (rows, cols), rate, seed, step, layer, dtype)
    assert actual.dtype == dtype
    np.testing.assert_array_equal(actual, expected_mask((rows, cols), rate, seed, step, layer,
                                                        dtype))


def test_element_whose_uniform_equals_the_rate_is_kept(backend):
    # Dropped means uniform < rate, strictly: with rate set to one element's own uniform, that
    # element is kept and exactly the elements with smaller uniforms are dropped.
    shape, seed, step, layer = (3, 5), 11, 4, 2
    uniforms = scalar_uniforms(shape, seed, step, layer)
    rate = float(np.sort(uniforms, axis=None)[7])
    actual = mask(backend, shape, rate, seed, step, layer)
    np.testing.assert_array_equal(actual == 0, uniforms < rate)
    assert np.count_nonzero(actual == 0) == 7


def test_rate_zero_keeps_everything(backend, dtype):
    x = np.random.default_rng(0).standard_normal((7, 9)).astype(dtype)
    np.testing.assert_array_equal(mask(backend, x.shape, 0.0, 5, 6, 7, dtype), np.ones_like(x))
    out = backend.dropout_forward(backend.asarray(x), 0.0, 5, 6, 7)
    np.testing.assert_array_equal(backend.to_numpy(out), x)


@pytest.mark.parametrize("rate", [0.1, 0.3, 0.5, 0.9])
def test_kept_fraction_is_one_minus_rate(backend, rate):
    # 10**6 Bernoulli draws: the standard deviation of the kept fraction is below 5e-4.
    kept = np.count_nonzero(mask(backend, (1000, 1000), rate, seed=123, step=9, layer=1))
    assert abs(kept / 10**6 - (1 - rate)) < 3e-3


@pytest.mark.parametrize("changed", ["seed", "step", "layer"])
def test_a_different_stream_gives_a_different_mask(backend, changed):
    # Two independent masks at rate 0.5 disagree on about half of their 4096 elements.
    args = dict(seed=1, step=2, layer=3)
    base = mask(backend, (64, 64), 0.5, **args)
    args[changed] += 1
    other = mask(backend, (64, 64), 0.5, **args)
    assert 0.4 < np.mean(base != other) < 0.6


def test_same_arguments_give_identical_masks(backend, dtype):
    first = mask(backend, (33, 17), 0.4, 2**63 + 5, 1000, 4, dtype)
    second = mask(backend, (33, 17), 0.4, 2**63 + 5, 1000, 4, dtype)
    np.testing.assert_array_equal(first, second)
    assert 0 < np.count_nonzero(first) < first.size


@pytest.mark.parametrize("rate", [0.25, 0.5, 0.75])
def test_mask_values_are_zero_or_inverse_keep_probability(backend, dtype, rate):
    values = np.unique(mask(backend, (40, 50), rate, 8, 1, 0, dtype))
    np.testing.assert_array_equal(values, np.array([0.0, 1.0 / (1.0 - rate)], dtype=dtype))


@pytest.mark.parametrize("direction", ["dropout_forward", "dropout_backward"])
def test_forward_and_backward_multiply_by_the_mask(backend, dtype, direction):
    rate, seed, step, layer = 0.3, 42, 17, 5
    x = np.random.default_rng(1).standard_normal((6, 11)).astype(dtype)
    expected = x * mask(backend, x.shape, rate, seed, step, layer, dtype)
    apply = getattr(backend, direction)
    np.testing.assert_array_equal(backend.to_numpy(apply(backend.asarray(x), rate, seed, step,
                                                         layer)), expected)
    in_place = backend.asarray(x.copy())
    returned = apply(in_place, rate, seed, step, layer, out=in_place)
    np.testing.assert_array_equal(backend.to_numpy(in_place), expected)
    assert returned is in_place
