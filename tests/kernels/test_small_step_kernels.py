"""The loops that a small network's step spends its time in, checked to the bit where they
promise bits and to a few ulp where they compute a transcendental.

- binary cross-entropy from logits in float32 (``_simd.h``: one exp for the loss and the
  sigmoid, a vectorised log1p), against the float64 formula;
- a GEMM with k = 1 (the input gradient of a one-unit layer), an outer product outside BLAS:
  each element is one product (then alpha), so for alpha = 1 it equals NumPy's exactly;
- the ReLU / linear backward with its bias sums, in groups of 16 columns kept in registers:
  the sums must still be the in-order double sums of the rows, for every width around the
  group size and for every column offset of a tile;
- the bias + ReLU epilogue of the forward GEMM, in one pass per row (and one pass in all for a
  one-unit layer).
"""
from __future__ import annotations

import numpy as np
import pytest

from mlp.backends import get_backend
from mlp.backends.codes import LOSS_CODES
from mlp.kernels import _kernels

CPU = get_backend("cpu")
EPS32 = float(np.finfo(np.float32).eps)


def _bce_logits_rows(pred, target, weight=None):
    """(row losses, gradient) of the float32 kernel for ``pred`` / ``target`` of shape (n, m)."""
    pred = np.ascontiguousarray(pred, np.float32)
    target = np.ascontiguousarray(target, np.float32)
    grad = np.empty_like(pred)
    row_loss = np.empty(pred.shape[0])
    w = None if weight is None else np.ascontiguousarray(weight, np.float32)
    mean = _kernels.loss(LOSS_CODES["binary_crossentropy_from_logits"], pred, target, None, w,
                         grad, row_loss, 1.0, 1e-7)
    return mean, row_loss, grad


def _bce_logits_exact(e, t):
    e, t = e.astype(np.float64), t.astype(np.float64)
    loss = np.maximum(e, 0) - e * t + np.log1p(np.exp(-np.abs(e)))
    return loss, 0.5 * (1 + np.tanh(e / 2)) - t


def test_bce_from_logits_is_within_a_few_ulp_of_float64():
    logits = np.concatenate([np.linspace(-100, 100, 40_001), [0.0, -0.0, 1e-30, -1e-30, 87.3,
                                                             -87.3, 88.5, -88.5, 1e4, -1e4]])
    e = logits.astype(np.float32)
    for t_value in (0.0, 1.0, 0.3):
        t = np.full_like(e, t_value)
        mean, rows, grad = _bce_logits_rows(e[:, None], t[:, None])
        loss, g = _bce_logits_exact(e, t)
        # max(e, 0) - e t is rounded like |e| in float32; log1p(exp(-|e|)) within 4 ulp
        bound = 4 * EPS32 * (np.abs(e.astype(np.float64)) + loss) + 1e-37
        assert np.all(np.abs(rows - loss) <= bound), np.max(np.abs(rows - loss) / bound)
        n = len(e)
        assert np.all(np.abs(grad[:, 0].astype(np.float64) * n - g)
                      <= 4 * EPS32 * (np.abs(g) + 1 + t_value) + 1e-37)
        assert mean == pytest.approx(rows.sum() / n, rel=1e-12)


def test_bce_from_logits_log1p_part_is_accurate_relative_to_itself():
    # t = 0, e < 0: the loss is log1p(exp(e)) alone, down to values near 1e-35
    e = np.linspace(-80, 0, 20_001).astype(np.float32)
    _, rows, _ = _bce_logits_rows(e[:, None], np.zeros((len(e), 1), np.float32))
    exact, _ = _bce_logits_exact(e, np.zeros_like(e))
    assert np.all(np.abs(rows - exact) <= 4 * EPS32 * exact), np.max(np.abs(rows - exact) / exact)


@pytest.mark.parametrize("m", [1, 3, 17])
def test_bce_from_logits_rows_and_weights(m):
    rng = np.random.default_rng(m)
    e = (rng.standard_normal((33, m)) * 6).astype(np.float32)
    t = rng.random((33, m)).astype(np.float32)
    w = rng.random(33).astype(np.float32) * 3
    mean, rows, grad = _bce_logits_rows(e, t, w)
    loss, g = _bce_logits_exact(e, t)
    expected_rows = w.astype(np.float64) * loss.mean(axis=1)
    np.testing.assert_allclose(rows, expected_rows, rtol=2e-6, atol=1e-7)
    expected_grad = g * (w.astype(np.float64) / 33 / m)[:, None]
    np.testing.assert_allclose(grad, expected_grad, rtol=4e-6, atol=1e-9)
    assert mean == pytest.approx(rows.sum() / 33, rel=1e-12)


def test_bce_from_logits_keeps_nan():
    e = np.array([[np.nan], [1.0]], np.float32)
    _, rows, grad = _bce_logits_rows(e, np.ones_like(e))
    assert np.isnan(rows[0]) and np.isnan(grad[0, 0])
    assert np.isfinite(rows[1]) and np.isfinite(grad[1, 0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("trans_b", [False, True])
@pytest.mark.parametrize("m,n", [(1, 1), (1, 7), (5, 1), (32, 16), (17, 65), (64, 3)])
def test_gemm_with_one_inner_dimension_is_numpys_outer_product(dtype, trans_a, trans_b, m, n):
    rng = np.random.default_rng(m * 100 + n)
    a_col = rng.standard_normal(m).astype(dtype)
    b_row = rng.standard_normal(n).astype(dtype)
    a_col[0] = -0.0                                # a product of -0
    a = a_col[None, :] if trans_a else a_col[:, None]
    b = b_row[:, None] if trans_b else b_row[None, :]
    for alpha in (1.0, -0.5, 3.0):
        out = CPU.matmul(a, b, trans_a=trans_a, trans_b=trans_b, alpha=alpha)
        # each element one product then alpha, as BLAS rounds it for alpha = 1
        expected = dtype(alpha) * np.multiply.outer(a_col, b_row)
        np.testing.assert_array_equal(out, expected)
        assert np.array_equal(np.signbit(out), np.signbit(expected))  # -0.0 stays -0.0
    # and NumPy's own product (its BLAS, a different code path) agrees for alpha = 1
    np.testing.assert_array_equal(CPU.matmul(a, b, trans_a=trans_a, trans_b=trans_b),
                                  (a.T if trans_a else a) @ (b.T if trans_b else b))


def test_gemm_with_one_inner_dimension_and_alpha_zero_is_zero():
    a = np.array([[np.inf], [1.0]], np.float32)
    b = np.array([[2.0, np.nan]], np.float32)
    np.testing.assert_array_equal(CPU.matmul(a, b, alpha=0.0), np.zeros((2, 2), np.float32))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("activation", ["relu", "linear"])
@pytest.mark.parametrize("rows", [1, 7, 64])
@pytest.mark.parametrize("units", [1, 2, 15, 16, 17, 31, 33, 100, 130])
def test_relu_backward_bias_sums_are_in_order_double_sums(dtype, activation, rows, units):
    rng = np.random.default_rng(rows * 1000 + units)
    x = rng.standard_normal((rows, 5)).astype(dtype)
    w = rng.standard_normal((5, units)).astype(dtype)
    y = rng.standard_normal((rows, units)).astype(dtype)
    y[y < 0] = 0
    dy = (rng.standard_normal((rows, units)) * 10).astype(dtype)
    if rows > 1 and units > 2:
        dy[0, 1], y[0, 1] = np.nan, 0.0          # masked by relu
        dy[1, 2], y[1, 2] = -0.0, 1.0            # -0.0 passes through with its sign
        y[1, 0] = np.nan                          # NaN output: not > 0, so the gradient is 0
    _, db, _ = CPU.dense_backward(x, w, y, dy, activation=activation)
    dz = np.where(y > 0, dy, dtype(0)) if activation == "relu" else dy
    acc = np.zeros(units, np.float64)
    for row in dz:                                 # the documented order: row after row
        acc += row.astype(np.float64)
    np.testing.assert_array_equal(db, acc.astype(dtype))
    if activation == "relu" and rows > 1 and units > 2:
        dz_kernel = np.empty_like(dy)
        CPU.dense_backward(x, w, y, dy, activation=activation, dz=dz_kernel)
        np.testing.assert_array_equal(dz_kernel, dz)
        assert np.signbit(dz_kernel[1, 2])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("rows,units", [(16, 600), (512, 600)])
def test_relu_backward_bias_sums_on_large_tiles(dtype, rows, units):
    # 512 x 600 tiles exceed the 256 KiB of the grouped-column path: the row-streaming path
    # must give the same in-order sums
    rng = np.random.default_rng(rows)
    x = rng.standard_normal((rows, 3)).astype(dtype)
    w = rng.standard_normal((3, units)).astype(dtype)
    y = np.maximum(rng.standard_normal((rows, units)), 0).astype(dtype)
    dy = rng.standard_normal((rows, units)).astype(dtype)
    dz = np.empty_like(dy)
    _, db, _ = CPU.dense_backward(x, w, y, dy, activation="relu", dz=dz)
    expected = np.where(y > 0, dy, dtype(0))
    np.testing.assert_array_equal(dz, expected)
    acc = np.zeros(units, np.float64)
    for row in expected:
        acc += row.astype(np.float64)
    np.testing.assert_array_equal(db, acc.astype(dtype))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bias_and_relu_epilogue_on_column_parts(dtype):
    # 64 x 512 @ 512 x 640 is cut into column parts: the epilogue runs on blocks with c0 > 0
    rng = np.random.default_rng(7)
    x = rng.standard_normal((64, 512)).astype(dtype)
    w = rng.standard_normal((512, 640)).astype(dtype)
    b = rng.standard_normal(640).astype(dtype)
    b[5], b[400] = np.nan, np.inf                  # one column in each part
    preact = np.empty((64, 640), dtype)
    out = CPU.dense_forward(x, w, b, activation="relu", preact=preact)
    z = CPU.matmul(x, w) + b
    np.testing.assert_array_equal(preact, z)
    np.testing.assert_array_equal(out, np.where(z <= 0, dtype(0), z))
    assert np.isnan(out[:, 5]).all() and np.isposinf(out[:, 400]).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("activation", ["relu", "linear", "sigmoid"])
@pytest.mark.parametrize("units", [1, 15, 16, 17, 40])
@pytest.mark.parametrize("bias", [True, False])
def test_bias_and_activation_epilogue(dtype, activation, units, bias):
    rng = np.random.default_rng(units)
    x = rng.standard_normal((9, 4)).astype(dtype)
    w = rng.standard_normal((4, units)).astype(dtype)
    b = rng.standard_normal(units).astype(dtype) if bias else None
    preact = np.empty((9, units), dtype)
    out = CPU.dense_forward(x, w, b, activation=activation, preact=preact)
    z = CPU.matmul(x, w)
    if bias:
        z = z + b
    np.testing.assert_array_equal(preact, z)
    if activation == "relu":
        np.testing.assert_array_equal(out, np.where(z <= 0, dtype(0), z))
    elif activation == "linear":
        np.testing.assert_array_equal(out, z)
    else:
        np.testing.assert_allclose(out, 1 / (1 + np.exp(-z.astype(np.float64))), rtol=1e-6)
