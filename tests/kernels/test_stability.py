"""Extreme inputs: saturated activations, logits of +-1e4, probabilities of exactly 0 and 1.

Every result must be finite, keep the input dtype, and equal the mathematical limit where one is
known (a naive ``exp`` overflows to inf here and ``0 * inf`` or ``inf - inf`` gives NaN).
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from mlp.backends import get_backend
from mlp.backends.base import ACTIVATIONS, PROBABILITY_EPSILON

pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")
"""A stable form never overflows on the way: NumPy's overflow and invalid warnings are failures."""

BIG = 1e4

EXTREME_Z = [[BIG, -BIG, 0.5], [-BIG, BIG, BIG]]
"""Pre-activations at both saturations, plus one ordinary value to show nothing else breaks."""

LIMITS = {
    "linear": ([[BIG, -BIG], [-BIG, BIG]], [[1, 1], [1, 1]]),
    "relu": ([[BIG, 0], [0, BIG]], [[1, 0], [0, 1]]),
    "leaky_relu": ([[BIG, -0.2 * BIG], [-0.2 * BIG, BIG]], [[1, 0.2], [0.2, 1]]),
    "elu": ([[BIG, -1], [-1, BIG]], [[1, 0], [0, 1]]),
    "sigmoid": ([[1, 0], [0, 1]], [[0, 0], [0, 0]]),
    "tanh": ([[1, -1], [-1, 1]], [[0, 0], [0, 0]]),
    "gelu": ([[BIG, 0], [0, BIG]], [[1, 0], [0, 1]]),
    "swish": ([[BIG, 0], [0, BIG]], [[1, 0], [0, 1]]),
}
"""``(f(z), f'(z))`` on the first two columns of :data:`EXTREME_Z` for the elementwise
activations (default ``alpha``)."""


def assert_finite_in_dtype(x, dtype, what: str) -> np.ndarray:
    x = np.asarray(x)
    assert x.dtype == dtype, f"{what}: dtype {x.dtype}, expected {np.dtype(dtype)}"
    assert np.isfinite(x).all(), f"{what}: not finite: {x}"
    return x


@pytest.mark.parametrize("activation", [a for a in ACTIVATIONS if a != "softmax"])
def test_saturated_elementwise_activations(backend, dtype, activation):
    z = backend.asarray(np.array(EXTREME_Z, dtype=dtype))
    y = backend.activation_forward(z, activation)
    dz = backend.activation_backward(backend.asarray(np.ones((2, 3), dtype=dtype)), y, z,
                                     activation)
    y = assert_finite_in_dtype(backend.to_numpy(y), dtype, f"{activation} forward")
    dz = assert_finite_in_dtype(backend.to_numpy(dz), dtype, f"{activation} backward")
    expected_y, expected_dz = LIMITS[activation]
    np.testing.assert_allclose(y[:, :2], expected_y, rtol=1e-6, atol=1e-30)
    np.testing.assert_allclose(dz[:, :2], expected_dz, rtol=1e-6, atol=1e-30)


def test_saturated_softmax(backend, dtype):
    z = backend.asarray(np.array(EXTREME_Z, dtype=dtype))
    y = backend.activation_forward(z, "softmax")
    dy = backend.asarray(np.array([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]], dtype=dtype))
    dz = backend.activation_backward(dy, y, z, "softmax")
    y = assert_finite_in_dtype(backend.to_numpy(y), dtype, "softmax forward")
    dz = assert_finite_in_dtype(backend.to_numpy(dz), dtype, "softmax backward")
    np.testing.assert_allclose(y, [[1, 0, 0], [0, 0.5, 0.5]], atol=1e-30)
    # Row 2: y * (dy - sum(dy * y)) = [0, 0.5, 0.5] * ([1, 2, 3] - 2.5).
    np.testing.assert_allclose(dz, [[0, 0, 0], [0, -0.25, 0.25]], atol=1e-30)


def test_binary_crossentropy_from_extreme_logits(backend, dtype):
    # Right and confident costs 0; wrong and confident costs |z| = 1e4: mean 2e4 / 4.
    pred = backend.asarray(np.array([[BIG, -BIG, BIG, -BIG]], dtype=dtype))
    target = backend.asarray(np.array([[1.0, 0.0, 0.0, 1.0]], dtype=dtype))
    value, grad = backend.loss("binary_crossentropy_from_logits", pred, target)
    grad = assert_finite_in_dtype(backend.to_numpy(grad), dtype, "gradient")
    assert value == pytest.approx(BIG / 2, rel=1e-6)
    np.testing.assert_allclose(grad, [[0, 0, 0.25, -0.25]], atol=1e-30)


def test_categorical_crossentropy_from_extreme_logits(backend, dtype):
    # Row 1 is right and confident (0); row 2 splits between two wrong classes:
    # logsumexp = 1e4 + log 2, so its loss is 2e4 + log 2; the mean is half of it.
    pred = backend.asarray(np.array([[BIG, -BIG, 0.0], [-BIG, BIG, BIG]], dtype=dtype))
    value, grad = backend.loss("categorical_crossentropy_from_logits", pred,
                               backend.asarray(np.array([0, 0])))
    grad = assert_finite_in_dtype(backend.to_numpy(grad), dtype, "gradient")
    assert value == pytest.approx(BIG + math.log(2) / 2, rel=1e-6)
    np.testing.assert_allclose(grad, [[0, 0, 0], [-0.5, 0.25, 0.25]], atol=1e-30)


def test_binary_crossentropy_of_exact_zero_and_one(backend, dtype):
    # Matched elements cost about eps, mismatched ones about -log(eps) = 16.1 (15.9 in float32,
    # where 1 - eps rounds down to 1 - 2**-23); the gradient is finite and points the right way.
    pred = backend.asarray(np.array([[0.0, 1.0, 0.0, 1.0]], dtype=dtype))
    target = backend.asarray(np.array([[0.0, 1.0, 1.0, 0.0]], dtype=dtype))
    value, grad = backend.loss("binary_crossentropy", pred, target)
    grad = assert_finite_in_dtype(backend.to_numpy(grad), dtype, "gradient")
    assert 2 * 15.9 / 4 < value < 2 * 16.2 / 4
    np.testing.assert_allclose(grad[0, :2], [0.25, -0.25], rtol=1e-5)
    assert grad[0, 2] < -1e6 and grad[0, 3] > 1e6


def test_categorical_crossentropy_of_exact_zero_and_one(backend, dtype):
    # Row 1 puts probability 1 on the right class, row 2 probability 0: -log(eps) / 2 in all.
    pred = backend.asarray(np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], dtype=dtype))
    value, grad = backend.loss("categorical_crossentropy", pred, backend.asarray(np.array([0, 0])))
    grad = assert_finite_in_dtype(backend.to_numpy(grad), dtype, "gradient")
    assert value == pytest.approx(-math.log(PROBABILITY_EPSILON) / 2, rel=1e-5)
    np.testing.assert_allclose(grad[0], [-0.5, 0, 0], rtol=1e-5)
    assert grad[1, 0] < -1e6
    np.testing.assert_array_equal(grad[1, 1:], [0, 0])


@pytest.mark.parametrize("layout", ["column", "rows"])
def test_float32_sigmoid_and_softmax_are_within_a_few_ulp(layout):
    """The CPU kernels' float32 exp is a polynomial of their own (vectorised): sigmoid and
    softmax stay within 4 float32 ulp of the float64 truth over the whole normal range, and
    the exp underneath is not allowed to drift (a 1e-5 tolerance would hide 100 ulp)."""
    cpu = get_backend("cpu")
    z = np.linspace(-80, 80, 400_003).astype(np.float32).reshape(-1, 1)
    if layout == "rows":
        z = z[:400_000].reshape(-1, 8)
    exact = 1 / (1 + np.exp(-z.astype(np.float64)))
    got = cpu.activation_forward(z, "sigmoid")
    assert got.dtype == np.float32
    np.testing.assert_array_less(np.abs(got - exact), 4 * np.spacing(exact.astype(np.float32)))
    rows = np.linspace(-40, 40, 80_000).astype(np.float32).reshape(-1, 10)
    shifted = np.exp(rows.astype(np.float64) - rows.max(1, keepdims=True))
    exact = shifted / shifted.sum(1, keepdims=True)
    got = cpu.activation_forward(rows, "softmax")
    np.testing.assert_array_less(np.abs(got - exact),
                                 4 * np.spacing(exact.astype(np.float32)) + 1e-45)


def test_float32_sigmoid_and_softmax_limits():
    """The float32 exp underneath sigmoid / softmax: results below the normal range are 0 (as
    flush-to-zero makes them), infinities give the limits, NaN stays NaN."""
    cpu = get_backend("cpu")
    z = np.array([[-np.inf], [-1e30], [-100.0], [0.0], [100.0], [1e30], [np.inf]], np.float32)
    np.testing.assert_array_equal(cpu.activation_forward(z, "sigmoid").ravel(),
                                  [0, 0, 0, 0.5, 1, 1, 1])
    assert np.isnan(cpu.activation_forward(np.array([[np.nan]], np.float32), "sigmoid")).all()
    rows = np.array([[0.0, -200.0, 1e30, -np.inf]], np.float32)
    np.testing.assert_array_equal(cpu.activation_forward(rows, "softmax"), [[0, 0, 1, 0]])
