"""The ``cpu`` backend (Cython/OpenMP kernels) against the pure-NumPy ``reference`` backend.

Every method of :class:`mlp.backends.base.Backend` is compared on float32 and float64, on shapes
drawn by Hypothesis (batch 1, width 1, odd sizes) and on fixed shapes (the benchmark layers), with
inputs in every memory layout. Tolerances are magnitude-based (see ``conftest.py``). The kernels
must also give bit-identical results with ``mlp.set_num_threads(1)`` and ``(2)``.
"""
from __future__ import annotations

import functools
import inspect
import math
from typing import Dict, Optional

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from threadpoolctl import threadpool_limits

import mlp
from mlp.backends import get_backend
from mlp.backends.base import (
    ACTIVATIONS,
    ACTIVATIONS_NEEDING_PREACTIVATION,
    DEFAULT_ALPHA,
    LOSSES,
    PROBABILITY_EPSILON,
    Backend,
    resolve_activation,
    resolve_alpha,
)

from conftest import (
    DTYPES,
    KERNEL_SETTINGS,
    LAYOUTS,
    assert_same_dtype,
    assert_unchanged,
    assert_within,
    dtypes,
    elementwise_bound,
    gemm_magnitude,
    in_layout,
    layouts,
    magnitude_bound,
    normal,
    rtol_for,
    seeds,
    sizes,
    snapshot,
    tiny_for,
    within_bound,
)

CPU = get_backend("cpu")
REF = get_backend("reference")

ACTIVATION_NAMES = ACTIVATIONS + ("silu", "identity", None)
"""Every activation and every alias."""

NON_DEFAULT_ALPHA = {"leaky_relu": 0.05, "elu": 1.7}

FIXED_GEMMS = [(64, 784, 128), (128, 512, 512), (300, 257, 129), (1, 784, 128), (64, 784, 1),
                   (33, 65, 17)]
"""(rows, inner, columns): the benchmark layers B and C, an odd shape large enough to be split
across threads with a short last part, batch 1, width 1, and a small odd shape."""


# ----------------------------------------------------------------------------- bounds
def lipschitz(alpha: float) -> float:
    """A bound on ``|f'|`` of every elementwise activation (gelu, swish peak near 1.13, 1.1)."""
    return max(1.2, abs(alpha))


def activation_forward_scale(activation: str, alpha: float, z_magnitude: np.ndarray,
                             y: np.ndarray) -> np.ndarray:
    """The ``scale`` for :func:`elementwise_bound` of ``y = f(z)``.

    ``z_magnitude`` bounds the size of the terms that formed ``z`` (``|z|`` itself for a given
    ``z``, ``|x| @ |w| + |b|`` after a GEMM); an error of ``rtol * z_magnitude`` in ``z`` moves an
    elementwise ``f(z)`` by at most ``|f'|`` times that, and a softmax row by ``2 y`` times the
    largest error in the row (plus the rounding of ``exp`` of the shifted row, of the same order).
    """
    if activation == "softmax":
        return 1.0 + 4.0 * np.abs(y) * z_magnitude.max(axis=1, keepdims=True)
    return 1.0 + lipschitz(alpha) * z_magnitude


def activation_backward_scale(activation: str, alpha: float, dy: np.ndarray,
                              y: np.ndarray) -> np.ndarray:
    """The ``scale`` for :func:`elementwise_bound` of ``dz = dy * f'(z)``: the size of the terms
    that may cancel (``1 - y**2``, ``y + alpha``, ``dy - sum(dy * y)``)."""
    dy = np.abs(np.asarray(dy, dtype=np.float64))
    y = np.abs(np.asarray(y, dtype=np.float64))
    if activation == "softmax":
        return y * (dy + (dy * y).sum(axis=1, keepdims=True))
    return dy * (1.0 + lipschitz(alpha))


def check_inplace_result(result, buffer, what: str) -> None:
    """When an output buffer was given, the call must return that very object."""
    if buffer is not None:
        assert result is buffer, f"{what}: the out buffer was not returned"


# ----------------------------------------------------------------------------- interface
@pytest.mark.parametrize("method", sorted(Backend.__abstractmethods__))
def test_signature_matches_interface(method):
    """Every interface method exists on the cpu backend with the base parameters and defaults."""
    def parameters(function):
        return [(p.name, p.kind, p.default)
                for p in inspect.signature(function).parameters.values()]

    assert parameters(getattr(type(CPU), method)) == parameters(getattr(Backend, method))


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", [None, np.float32, np.float64])
def test_array_helpers(layout, dtype):
    """asarray gives equal C-contiguous values of the asked dtype; to_numpy, empty, zeros work."""
    source = in_layout(np.arange(15, dtype=np.float64).reshape(3, 5) / 7, layout)
    got = CPU.asarray(source, dtype=dtype)
    expected = REF.asarray(source, dtype=dtype)
    assert got.flags.c_contiguous and got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(CPU.to_numpy(got), expected)
    assert isinstance(CPU.to_numpy(got), np.ndarray)
    for allocate in (CPU.empty, CPU.zeros):
        array = allocate((4, 3), np.float32)
        assert array.shape == (4, 3) and array.dtype == np.float32 and array.flags.c_contiguous
    assert not CPU.zeros((2, 5), np.float64).any()


def test_asarray_of_a_list():
    """Nested lists become C-contiguous arrays of the asked dtype."""
    got = CPU.asarray([[1, 2], [3, 4]], dtype=np.float32)
    np.testing.assert_array_equal(got, REF.asarray([[1, 2], [3, 4]], dtype=np.float32))
    assert got.dtype == np.float32 and got.flags.c_contiguous


# ----------------------------------------------------------------------------- GEMM
def check_matmul(a, b, out0, trans_a, trans_b, alpha, beta) -> None:
    """Compare ``matmul`` of both backends; ``out0`` (or None) is the initial ``out`` content."""
    dtype = a.dtype
    inputs = snapshot(a, b)
    expected = REF.matmul(a, b, out=None if out0 is None else out0.copy(), trans_a=trans_a,
                          trans_b=trans_b, alpha=alpha, beta=beta)
    out = None if out0 is None else out0.copy()
    got = CPU.matmul(a, b, out=out, trans_a=trans_a, trans_b=trans_b, alpha=alpha, beta=beta)
    check_inplace_result(got, out, "matmul")
    assert_unchanged([a, b], inputs, "matmul")
    assert_same_dtype(got, dtype, "matmul")
    magnitude = abs(alpha) * gemm_magnitude(a, b, trans_a, trans_b)
    if beta != 0:
        magnitude = magnitude + abs(beta) * np.abs(out0.astype(np.float64))
    assert_within(got, expected, magnitude_bound(magnitude, dtype),
                  f"matmul {a.shape}{'T' if trans_a else ''} @ {b.shape}{'T' if trans_b else ''}")


@KERNEL_SETTINGS
@given(m=sizes, k=sizes, n=sizes, dtype=dtypes, trans_a=st.booleans(), trans_b=st.booleans(),
       layout_a=layouts, layout_b=layouts, alpha=st.sampled_from([1.0, -0.5, 2.5]),
       beta=st.sampled_from([0.0, 1.0, -0.75]), use_out=st.booleans(), seed=seeds)
def test_matmul(m, k, n, dtype, trans_a, trans_b, layout_a, layout_b, alpha, beta, use_out, seed):
    rng = np.random.default_rng(seed)
    a = normal(rng, (k, m) if trans_a else (m, k), dtype, layout=layout_a)
    b = normal(rng, (n, k) if trans_b else (k, n), dtype, layout=layout_b)
    out0 = normal(rng, (m, n), dtype) if use_out or beta != 0 else None
    check_matmul(a, b, out0, trans_a, trans_b, alpha, beta)


@pytest.mark.parametrize("trans_a, trans_b", [(False, False), (True, False), (False, True),
                                              (True, True)])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m, k, n", FIXED_GEMMS)
def test_matmul_fixed_shapes(m, k, n, dtype, trans_a, trans_b):
    rng = np.random.default_rng(m * k * n)
    a = normal(rng, (k, m) if trans_a else (m, k), dtype)
    b = normal(rng, (n, k) if trans_b else (k, n), dtype)
    check_matmul(a, b, normal(rng, (m, n), dtype), trans_a, trans_b, 0.5, 0.25)


# ----------------------------------------------------------------------------- activations
def alpha_for(activation: Optional[str], custom: bool) -> Optional[float]:
    """A non-default ``alpha`` for leaky_relu / elu when ``custom``, else None (the default)."""
    return NON_DEFAULT_ALPHA.get(resolve_activation(activation)) if custom else None


@KERNEL_SETTINGS
@given(rows=sizes, cols=sizes, dtype=dtypes, activation=st.sampled_from(ACTIVATION_NAMES),
       custom_alpha=st.booleans(), layout=layouts,
       mode=st.sampled_from(["allocate", "out", "in place"]), seed=seeds)
def test_activation_forward(rows, cols, dtype, activation, custom_alpha, layout, mode, seed):
    rng = np.random.default_rng(seed)
    name = resolve_activation(activation)
    alpha = alpha_for(activation, custom_alpha)
    z = normal(rng, (rows, cols), dtype, scale=3.0,
               layout="C" if mode == "in place" else layout)
    expected = REF.activation_forward(z.copy(), activation, alpha)
    inputs = snapshot(z)
    out = {"allocate": None, "out": np.empty_like(z, order="C"), "in place": z}[mode]
    got = CPU.activation_forward(z, activation, alpha, out=out)
    check_inplace_result(got, out, "activation_forward")
    if mode != "in place":
        assert_unchanged([z], inputs, "activation_forward")
    assert_same_dtype(got, dtype, "activation_forward")
    scale = activation_forward_scale(name, resolve_alpha(name, alpha),
                                     np.abs(inputs[0].astype(np.float64)), expected)
    assert_within(got, expected, elementwise_bound(expected, dtype, scale),
                  f"activation_forward {activation} alpha={alpha}")


@KERNEL_SETTINGS
@given(rows=sizes, cols=sizes, dtype=dtypes, activation=st.sampled_from(ACTIVATION_NAMES),
       custom_alpha=st.booleans(), layout=layouts,
       mode=st.sampled_from(["allocate", "out", "in place"]), pass_z=st.booleans(), seed=seeds)
def test_activation_backward(rows, cols, dtype, activation, custom_alpha, layout, mode, pass_z,
                             seed):
    rng = np.random.default_rng(seed)
    name = resolve_activation(activation)
    alpha = alpha_for(activation, custom_alpha)
    z = normal(rng, (rows, cols), dtype, scale=3.0, layout=layout)
    y = in_layout(REF.activation_forward(z, activation, alpha), layout)
    dy = normal(rng, (rows, cols), dtype, layout="C" if mode == "in place" else layout)
    z_arg = z if pass_z or name in ACTIVATIONS_NEEDING_PREACTIVATION else None
    expected = REF.activation_backward(dy.copy(), y, z_arg, activation, alpha)
    inputs = snapshot(dy, y, z)
    out = {"allocate": None, "out": np.empty_like(dy, order="C"), "in place": dy}[mode]
    got = CPU.activation_backward(dy, y, z_arg, activation, alpha, out=out)
    check_inplace_result(got, out, "activation_backward")
    assert_unchanged([None if mode == "in place" else dy, y, z], inputs, "activation_backward")
    assert_same_dtype(got, dtype, "activation_backward")
    scale = activation_backward_scale(name, resolve_alpha(name, alpha), inputs[0], y)
    assert_within(got, expected, elementwise_bound(expected, dtype, scale),
                  f"activation_backward {activation} alpha={alpha}")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_activations_on_extreme_values(activation, dtype):
    """Pre-activations of +-1e4 (and the largest finite values for the bounded ones) give no NaN."""
    z = np.array([[-1e4, -30.0, -1e-3, 0.0, 1e-3, 30.0, 1e4],
                  [1e4, 1e4, -1e4, 0.0, 5.0, -5.0, 1e4]], dtype=dtype)
    expected = REF.activation_forward(z, activation)
    got = CPU.activation_forward(z, activation)
    assert np.isfinite(got).all(), f"{activation}: non-finite output {got}"
    assert_within(got, expected, elementwise_bound(expected, dtype), f"{activation} at +-1e4")
    dy = np.ones_like(z)
    expected_dz = REF.activation_backward(dy, expected, z, activation)
    got_dz = CPU.activation_backward(dy, got, z, activation)
    assert np.isfinite(got_dz).all(), f"{activation}: non-finite gradient {got_dz}"
    assert_within(got_dz, expected_dz, elementwise_bound(expected_dz, dtype),
                  f"{activation} gradient at +-1e4")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_activations_on_large_arrays(activation, dtype):
    """An odd shape of 77k elements, which the kernels cut into row blocks across threads."""
    rng = np.random.default_rng(5)
    z = normal(rng, (300, 257), dtype, scale=3.0)
    dy = normal(rng, (300, 257), dtype)
    y = CPU.activation_forward(z, activation)
    expected = REF.activation_forward(z, activation)
    alpha = resolve_alpha(activation, None)
    scale = activation_forward_scale(activation, alpha, np.abs(z.astype(np.float64)), expected)
    assert_within(y, expected, elementwise_bound(expected, dtype, scale), f"{activation} forward")
    expected_dz = REF.activation_backward(dy, expected, z, activation)
    assert_within(CPU.activation_backward(dy, expected, z, activation), expected_dz,
                  elementwise_bound(expected_dz, dtype,
                                    activation_backward_scale(activation, alpha, dy, expected)),
                  f"{activation} backward")


# ----------------------------------------------------------------------------- dense
def check_dense_forward(x, w, b, activation, alpha, use_out, use_preact) -> None:
    """Compare ``dense_forward`` (output and optional pre-activation) of both backends."""
    dtype = x.dtype
    shape = (x.shape[0], w.shape[1])
    name = resolve_activation(activation)
    expected_z = np.empty(shape, dtype)
    expected = REF.dense_forward(x, w, b, activation, alpha, preact=expected_z)
    inputs = snapshot(x, w, b)
    out = np.full(shape, np.nan, dtype) if use_out else None
    preact = np.full(shape, np.nan, dtype) if use_preact else None
    got = CPU.dense_forward(x, w, b, activation, alpha, out=out, preact=preact)
    check_inplace_result(got, out, "dense_forward")
    assert_unchanged([x, w, b], inputs, "dense_forward")
    assert_same_dtype(got, dtype, "dense_forward")
    z_magnitude = gemm_magnitude(x, w)
    if b is not None:
        z_magnitude += np.abs(b.astype(np.float64))
    what = f"dense_forward {x.shape} @ {w.shape} bias={b is not None} {activation}"
    if use_preact:
        assert_within(preact, expected_z, magnitude_bound(z_magnitude, dtype), what + " preact")
    scale = activation_forward_scale(name, resolve_alpha(name, alpha), z_magnitude, expected)
    assert_within(got, expected, elementwise_bound(expected, dtype, scale), what)


@KERNEL_SETTINGS
@given(batch=sizes, inputs=sizes, units=sizes, dtype=dtypes,
       activation=st.sampled_from(ACTIVATION_NAMES), custom_alpha=st.booleans(),
       bias=st.booleans(), use_out=st.booleans(), use_preact=st.booleans(), layout_x=layouts,
       layout_w=layouts, layout_b=layouts, seed=seeds)
def test_dense_forward(batch, inputs, units, dtype, activation, custom_alpha, bias, use_out,
                       use_preact, layout_x, layout_w, layout_b, seed):
    rng = np.random.default_rng(seed)
    x = normal(rng, (batch, inputs), dtype, layout=layout_x)
    w = normal(rng, (inputs, units), dtype, scale=1 / math.sqrt(inputs), layout=layout_w)
    b = normal(rng, (units,), dtype, layout=layout_b) if bias else None
    check_dense_forward(x, w, b, activation, alpha_for(activation, custom_alpha), use_out,
                        use_preact)


@pytest.mark.parametrize("activation", ["relu", "softmax", "gelu"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("batch, inputs, units", FIXED_GEMMS)
def test_dense_forward_fixed_shapes(batch, inputs, units, dtype, activation):
    rng = np.random.default_rng(batch + inputs + units)
    x = normal(rng, (batch, inputs), dtype)
    w = normal(rng, (inputs, units), dtype, scale=1 / math.sqrt(inputs))
    check_dense_forward(x, w, normal(rng, (units,), dtype), activation, None, True, True)


def check_dense_backward(x, w, z, dy, activation, alpha, need_dx, need_db, use_buffers,
                         dz_mode) -> None:
    """Compare the three gradients of ``dense_backward``; ``dz_mode`` is "none", "buffer" or "dy".

    The forward output ``y`` is laid out in memory like ``dy``.
    """
    dtype = x.dtype
    name = resolve_activation(activation)
    y = REF.activation_forward(z, activation, alpha)
    y = in_layout(y, "F" if dy.flags.f_contiguous and not dy.flags.c_contiguous else "C")
    preact = z if name in ACTIVATIONS_NEEDING_PREACTIVATION else None
    expected_dw, expected_db, expected_dx = REF.dense_backward(
        x, w, y, dy.copy(), activation, alpha, preact=preact)
    dy_in = np.ascontiguousarray(dy).copy() if dz_mode == "dy" else dy
    inputs = snapshot(x, w, y, dy, z)
    buffers = {
        "dw": np.full(w.shape, np.nan, dtype) if use_buffers else None,
        "db": np.full(w.shape[1], np.nan, dtype) if use_buffers and need_db else None,
        "dx": np.full(x.shape, np.nan, dtype) if use_buffers and need_dx else None,
        "dz": {"none": None, "buffer": np.empty(dy.shape, dtype), "dy": dy_in}[dz_mode],
    }
    dw, db, dx = CPU.dense_backward(x, w, y, dy_in, activation, alpha, preact=preact,
                                    need_dx=need_dx, need_db=need_db, **buffers)
    for result, key in ((dw, "dw"), (db, "db"), (dx, "dx")):
        check_inplace_result(result, buffers[key], f"dense_backward {key}")
    assert_unchanged([x, w, y, dy, z], inputs, "dense_backward")
    assert (db is None) == (not need_db) and (dx is None) == (not need_dx)

    dz_magnitude = np.abs(REF.activation_backward(dy, y, preact, activation, alpha)).astype(
        np.float64) + activation_backward_scale(name, resolve_alpha(name, alpha), dy, y)
    what = f"dense_backward {x.shape} @ {w.shape} {activation}"
    assert_same_dtype(dw, dtype, what)
    assert_within(dw, expected_dw, magnitude_bound(gemm_magnitude(x, dz_magnitude, trans_a=True),
                                                   dtype), what + " dw")
    if need_db:
        assert_within(db, expected_db, magnitude_bound(dz_magnitude.sum(axis=0), dtype),
                      what + " db")
    if need_dx:
        assert_within(dx, expected_dx, magnitude_bound(gemm_magnitude(dz_magnitude, w,
                                                                      trans_b=True), dtype),
                      what + " dx")
    if dz_mode != "none":
        expected_dz = REF.activation_backward(dy, y, preact, activation, alpha)
        assert_within(buffers["dz"], expected_dz, magnitude_bound(dz_magnitude, dtype),
                      what + " dz workspace")


@KERNEL_SETTINGS
@given(batch=sizes, inputs=sizes, units=sizes, dtype=dtypes,
       activation=st.sampled_from(ACTIVATION_NAMES), custom_alpha=st.booleans(),
       need_dx=st.booleans(), need_db=st.booleans(), use_buffers=st.booleans(),
       dz_mode=st.sampled_from(["none", "buffer", "dy"]), layout_x=layouts, layout_w=layouts,
       layout_dy=layouts, seed=seeds)
def test_dense_backward(batch, inputs, units, dtype, activation, custom_alpha, need_dx, need_db,
                        use_buffers, dz_mode, layout_x, layout_w, layout_dy, seed):
    rng = np.random.default_rng(seed)
    x = normal(rng, (batch, inputs), dtype, layout=layout_x)
    w = normal(rng, (inputs, units), dtype, scale=1 / math.sqrt(inputs), layout=layout_w)
    z = normal(rng, (batch, units), dtype, scale=2.0, layout=layout_dy)
    dy = normal(rng, (batch, units), dtype, layout=layout_dy)
    check_dense_backward(x, w, z, dy, activation, alpha_for(activation, custom_alpha), need_dx,
                         need_db, use_buffers, dz_mode)


@pytest.mark.parametrize("activation", ["relu", "softmax", "swish"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("batch, inputs, units", FIXED_GEMMS)
def test_dense_backward_fixed_shapes(batch, inputs, units, dtype, activation):
    rng = np.random.default_rng(batch * inputs + units)
    x = normal(rng, (batch, inputs), dtype)
    w = normal(rng, (inputs, units), dtype, scale=1 / math.sqrt(inputs))
    z = normal(rng, (batch, units), dtype, scale=2.0)
    dy = normal(rng, (batch, units), dtype)
    check_dense_backward(x, w, z, dy, activation, None, True, True, True, "buffer")


# ----------------------------------------------------------------------------- losses
def loss_inputs(rng, name: str, rows: int, cols: int, dtype):
    """Predictions and a dense target of the kind loss ``name`` expects.

    Probabilities include exact 0 and 1 (clipped by the loss); regression targets include exact
    ties ``pred == target`` (where ``sign(e)`` is 0); class rows sum to 1.
    """
    if name in ("binary_crossentropy", "categorical_crossentropy"):
        logits = 3 * rng.standard_normal((rows, cols))
        pred = 1 / (1 + np.exp(-logits)) if name.startswith("binary") else REF.activation_forward(
            logits, "softmax")
        pred[rng.random((rows, cols)) < 0.05] = 0.0
        pred[rng.random((rows, cols)) < 0.05] = 1.0
    elif name.endswith("from_logits"):
        pred = 4 * rng.standard_normal((rows, cols))
    else:
        pred = rng.standard_normal((rows, cols))
    if name.startswith("categorical"):
        target = np.eye(cols)[rng.integers(0, cols, rows)]
    elif name.startswith("binary"):
        target = np.where(rng.random((rows, cols)) < 0.3, rng.random((rows, cols)),
                          rng.integers(0, 2, (rows, cols)))
    else:
        target = rng.standard_normal((rows, cols))
        ties = rng.random((rows, cols)) < 0.1
        target[ties] = pred[ties]
    return pred.astype(dtype), target.astype(dtype)


def loss_magnitudes(name: str, pred, target, weight, delta: float):
    """Sizes of the terms behind a loss value and its gradient (float64).

    Returns
    -------
    (value_magnitude, grad_scale) : a float bounding the summed absolute per-element terms of the
        weighted mean loss, and an array bounding the terms that may cancel in each gradient element
        (e.g. ``sigmoid(z)`` and ``t`` in ``sigmoid(z) - t``), both including the row weights.
    """
    p = np.asarray(pred, dtype=np.float64)
    t = np.abs(np.asarray(target, dtype=np.float64))
    rows, cols = p.shape
    size = np.abs(p) + t
    clipped = np.clip(p, PROBABILITY_EPSILON, 1 - PROBABILITY_EPSILON)
    if name == "mean_squared_error":
        terms, grad = size ** 2 / cols, 2 * size / cols
    elif name == "mean_absolute_error":
        terms, grad = size / cols, np.full(p.shape, 1.0 / cols)
    elif name == "huber":
        terms, grad = size * (size + delta) / cols, size / cols
    elif name == "binary_crossentropy":
        logs = t * np.abs(np.log(clipped)) + np.abs(1 - t) * np.abs(np.log1p(-clipped))
        terms = (logs + 1) / cols
        grad = (clipped + t) / (clipped * (1 - clipped)) / cols
    elif name == "binary_crossentropy_from_logits":
        terms = (np.abs(p) * (1 + t) + 1) / cols
        grad = (0.5 * (1 + np.tanh(p / 2)) + t) / cols
    elif name == "categorical_crossentropy":
        terms, grad = t * (np.abs(np.log(clipped)) + 1), t / clipped
    else:
        top = np.abs(p).max(axis=1, keepdims=True)
        terms = t * (np.abs(p) + top + math.log(cols) + 1)
        grad = REF.activation_forward(p, "softmax") * t.sum(axis=1, keepdims=True) + t
    w = np.ones(rows) if weight is None else np.abs(np.asarray(weight, dtype=np.float64))
    value_magnitude = float(np.dot(w, terms.sum(axis=1))) / rows
    return value_magnitude, grad * (w / rows)[:, np.newaxis]


def check_loss(name, pred, target, weight, delta, use_grad) -> None:
    """Compare value and gradient of ``loss`` on both backends; ``target`` may be labels."""
    dtype = pred.dtype
    expected_value, expected_grad = REF.loss(name, pred, target, sample_weight=weight,
                                             delta=delta)
    inputs = snapshot(pred, target, weight)
    grad = np.full(pred.shape, np.nan, dtype) if use_grad else None
    value, got_grad = CPU.loss(name, pred, target, sample_weight=weight, grad=grad, delta=delta)
    check_inplace_result(got_grad, grad, "loss grad")
    assert_unchanged([pred, target, weight], inputs, "loss")
    assert isinstance(value, float), f"loss {name}: value is {type(value).__name__}, not float"
    assert_same_dtype(got_grad, dtype, f"loss {name} grad")
    dense_target = np.asarray(target)
    if dense_target.ndim == 1:
        dense_target = np.eye(pred.shape[1])[dense_target]
    value_magnitude, grad_scale = loss_magnitudes(name, pred, dense_target, weight, delta)
    what = (f"loss {name} {pred.shape} weighted={weight is not None} "
            f"target={np.asarray(target).dtype}")
    assert_within(value, expected_value, magnitude_bound(abs(expected_value) + value_magnitude,
                                                         dtype), what + " value")
    assert_within(got_grad, expected_grad, elementwise_bound(expected_grad, dtype, grad_scale),
                  what + " grad")


@KERNEL_SETTINGS
@given(rows=sizes, cols=sizes, dtype=dtypes, name=st.sampled_from(LOSSES),
       labels=st.sampled_from([None, np.int64, np.int32]), weighted=st.booleans(),
       delta=st.sampled_from([1.0, 0.5, 2.0]), use_grad=st.booleans(), layout_pred=layouts,
       layout_target=layouts, seed=seeds)
def test_loss(rows, cols, dtype, name, labels, weighted, delta, use_grad, layout_pred,
              layout_target, seed):
    """Every loss, with and without weights, dense / one-hot and integer (int64, int32) targets."""
    rng = np.random.default_rng(seed)
    pred, target = loss_inputs(rng, name, rows, cols, dtype)
    if labels is not None and name.startswith("categorical"):
        target = in_layout(target.argmax(axis=1).astype(labels), layout_target)
    else:
        target = in_layout(target, layout_target)
    weight = None
    if weighted:
        weight = rng.uniform(0, 2, rows).astype(dtype)
        weight[rng.random(rows) < 0.2] = 0.0
        weight = in_layout(weight, layout_target)
    check_loss(name, in_layout(pred, layout_pred), target, weight, delta, use_grad)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", LOSSES)
def test_loss_on_many_rows(name, dtype):
    """4096 rows of 10 outputs (a long sum), weighted, integer labels for the categorical ones."""
    rng = np.random.default_rng(7)
    pred, target = loss_inputs(rng, name, 4096, 10, dtype)
    if name.startswith("categorical"):
        target = target.argmax(axis=1)
    check_loss(name, pred, target, rng.uniform(0, 2, 4096).astype(dtype), 1.0, True)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", LOSSES)
def test_loss_on_extreme_values(name, dtype):
    """Logits of +-1e4 and probabilities of exactly 0 and 1 give finite, agreeing results."""
    if name.endswith("from_logits"):
        pred = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 1e4], [-1e4, -1e4, -1e4]], dtype=dtype)
    else:
        pred = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.5, 0.5, 0.0]], dtype=dtype)
    target = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]], dtype=dtype)
    value, grad = CPU.loss(name, pred, target)
    assert math.isfinite(value) and np.isfinite(grad).all(), f"{name}: {value}, {grad}"
    check_loss(name, pred, target, None, 1.0, False)


# ----------------------------------------------------------------------------- optimizers
OPTIMIZERS = [
    ("sgd", dict(lr=0.1)),
    ("sgd", dict(lr=0.1, weight_decay=0.01)),
    ("sgd", dict(lr=0.05, momentum=0.9)),
    ("sgd", dict(lr=0.05, momentum=0.9, nesterov=True)),
    ("sgd", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01)),
    ("adam", dict(lr=1e-3, beta_1=0.9, beta_2=0.999, epsilon=1e-7)),
    ("adam", dict(lr=1e-3, beta_1=0.9, beta_2=0.999, epsilon=1e-7, weight_decay=0.01)),
    ("adam", dict(lr=1e-3, beta_1=0.8, beta_2=0.99, epsilon=1e-8, weight_decay=0.01,
                  decoupled=True)),
    ("adam", dict(lr=1e-3, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=True)),
    ("adam", dict(lr=1e-2, beta_1=0.9, beta_2=0.999, epsilon=1e-7, weight_decay=0.1,
                  decoupled=True, amsgrad=True)),
    ("rmsprop", dict(lr=1e-3, rho=0.9, epsilon=1e-7)),
    ("rmsprop", dict(lr=1e-3, rho=0.9, epsilon=1e-7, momentum=0.9)),
    ("rmsprop", dict(lr=1e-3, rho=0.9, epsilon=1e-7, centered=True)),
    ("rmsprop", dict(lr=1e-3, rho=0.95, epsilon=1e-7, momentum=0.5, centered=True,
                     weight_decay=0.01)),
    ("adagrad", dict(lr=0.01, epsilon=1e-7)),
    ("adagrad", dict(lr=0.01, epsilon=1e-7, weight_decay=0.01)),
]
"""(optimizer, hyper-parameters): plain, momentum, Nesterov, L2 / decoupled weight decay, AMSGrad,
centered RMSprop."""


def optimizer_state(kind: str, hyper: Dict, size: int, dtype) -> Dict[str, np.ndarray]:
    """The zero-initialised state buffers the optimizer ``kind`` needs with ``hyper``."""
    names = {
        "sgd": ["velocity"] if hyper.get("momentum", 0) > 0 else [],
        "adam": ["m", "v"] + (["v_max"] if hyper.get("amsgrad") else []),
        "rmsprop": (["mean_square"] + (["velocity"] if hyper.get("momentum", 0) > 0 else [])
                    + (["mean_grad"] if hyper.get("centered") else [])),
        "adagrad": ["accumulator"],
    }[kind]
    return {name: np.zeros(size, dtype) for name in names}


def optimizer_step(backend, kind: str, hyper: Dict, param, grad, state: Dict, step: int) -> None:
    """One in-place update of ``param`` and ``state`` by ``backend``."""
    if kind == "sgd":
        backend.sgd_update(param, grad, state.get("velocity"), **hyper)
    elif kind == "adam":
        backend.adam_update(param, grad, state["m"], state["v"], state.get("v_max"), step, **hyper)
    elif kind == "rmsprop":
        backend.rmsprop_update(param, grad, state["mean_square"], velocity=state.get("velocity"),
                               mean_grad=state.get("mean_grad"), **hyper)
    else:
        backend.adagrad_update(param, grad, state["accumulator"], **hyper)


def update_magnitudes(kind: str, hyper: Dict, param, grad, state: Dict, step: int):
    """Sizes of the terms behind one update: the reference update of ``|param|``, ``|grad|`` and
    ``|state|`` with ``lr`` negated, which turns every subtraction of the rule into an addition."""
    param, grad = np.abs(param), np.abs(grad)
    state = {name: np.abs(value) for name, value in state.items()}
    optimizer_step(REF, kind, dict(hyper, lr=-hyper["lr"]), param, grad, state, step)
    return param, state


def check_optimizer_steps(kind: str, hyper: Dict, size: int, dtype, steps: int, seed: int) -> None:
    """Run ``steps`` updates; before each, both backends start from the same param and state."""
    rng = np.random.default_rng(seed)
    param = normal(rng, (size,), dtype)
    param[rng.random(size) < 0.05] = 0.0
    state = optimizer_state(kind, hyper, size, dtype)
    for step in range(1, steps + 1):
        grad = normal(rng, (size,), dtype, scale=float(rng.uniform(0.01, 10)))
        inputs = snapshot(grad)
        expected_param, expected_state = param.copy(), {k: v.copy() for k, v in state.items()}
        optimizer_step(REF, kind, hyper, expected_param, grad, expected_state, step)
        got_param, got_state = param.copy(), {k: v.copy() for k, v in state.items()}
        optimizer_step(CPU, kind, hyper, got_param, grad, got_state, step)
        assert_unchanged([grad], inputs, f"{kind} grad")
        param_magnitude, state_magnitude = update_magnitudes(kind, hyper, param, grad, state, step)
        what = f"{kind} {hyper} size={size} step={step}"
        assert_within(got_param, expected_param,
                      magnitude_bound(np.abs(expected_param) + param_magnitude, dtype),
                      what + " param")
        for name in state:
            assert_same_dtype(got_state[name], dtype, what + " " + name)
            assert_within(got_state[name], expected_state[name],
                          magnitude_bound(np.abs(expected_state[name]) + state_magnitude[name],
                                          dtype), what + " " + name)
        param, state = expected_param, expected_state


@pytest.mark.parametrize("size", [1, 17, 1000, 40001])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind, hyper", OPTIMIZERS,
                         ids=[f"{kind}-{'-'.join(hyper)}" for kind, hyper in OPTIMIZERS])
def test_optimizer_update(kind, hyper, dtype, size):
    """Five steps of every optimizer variant (bias corrections change with the step count)."""
    check_optimizer_steps(kind, hyper, size, dtype, steps=5, seed=size)


# ----------------------------------------------------------------------------- helpers
@KERNEL_SETTINGS
@given(size=st.one_of(sizes, st.just(40001)), dtype=dtypes,
       l1=st.sampled_from([0.0, 1e-3, 0.5]), l2=st.sampled_from([0.0, 1e-4, 0.3]),
       layout=layouts, seed=seeds)
def test_penalty_and_its_gradient(size, dtype, l1, l2, layout, seed):
    rng = np.random.default_rng(seed)
    param = normal(rng, (size,), dtype)
    param[rng.random(size) < 0.1] = 0.0
    grad = normal(rng, (size,), dtype)
    expected_grad, got_grad = grad.copy(), grad.copy()
    REF.add_penalty_gradient(expected_grad, param, l1, l2)
    CPU.add_penalty_gradient(got_grad, param, l1, l2)
    assert_within(got_grad, expected_grad,
                  elementwise_bound(expected_grad, dtype,
                                    np.abs(grad) + l1 + 2 * l2 * np.abs(param)),
                  f"add_penalty_gradient l1={l1} l2={l2}")
    viewed = in_layout(param.reshape(1, size), layout)
    inputs = snapshot(viewed)
    expected = REF.penalty(viewed, l1, l2)
    got = CPU.penalty(viewed, l1, l2)
    assert_unchanged([viewed], inputs, "penalty")
    assert isinstance(got, float)
    assert_within(got, expected, magnitude_bound(expected, dtype), f"penalty l1={l1} l2={l2}")


@KERNEL_SETTINGS
@given(shapes=st.lists(st.tuples(sizes, sizes), min_size=0, max_size=4), vector=st.booleans(),
       dtype=dtypes, layout=layouts, seed=seeds)
def test_global_norm(shapes, vector, dtype, layout, seed):
    rng = np.random.default_rng(seed)
    arrays = [normal(rng, shape, dtype, scale=float(rng.uniform(1e-3, 1e3)), layout=layout)
              for shape in shapes]
    if vector:
        arrays.append(normal(rng, (40001,), dtype))
    inputs = snapshot(*arrays)
    expected = REF.global_norm(arrays)
    got = CPU.global_norm(arrays)
    assert_unchanged(arrays, inputs, "global_norm")
    assert isinstance(got, float)
    assert_within(got, expected, magnitude_bound(expected, dtype), "global_norm")


@KERNEL_SETTINGS
@given(size=st.one_of(sizes, st.just(40001)), dtype=dtypes,
       factor=st.sampled_from([0.0, 0.37, 1.0, -2.5, 1e-3]),
       limit=st.sampled_from([0.0, 0.5, 1.0, 3.0]), seed=seeds)
def test_scale_and_clip(size, dtype, factor, limit, seed):
    rng = np.random.default_rng(seed)
    x = normal(rng, (size,), dtype, scale=2.0)
    expected, got = x.copy(), x.copy()
    REF.scale_(expected, factor)
    CPU.scale_(got, factor)
    assert_within(got, expected, elementwise_bound(expected, dtype, 0.0), f"scale_ {factor}")
    expected = got.copy()
    REF.clip_(expected, limit)
    CPU.clip_(got, limit)
    np.testing.assert_array_equal(got, expected, err_msg=f"clip_ {limit}")


# ----------------------------------------------------------------------------- dropout
dropout_rates = st.sampled_from([0.0, 0.1, 0.5, 0.9, 0.999])
dropout_counters = st.one_of(st.integers(0, 5), st.integers(0, 2**64 - 1))


@KERNEL_SETTINGS
@given(rows=sizes, cols=sizes, dtype=dtypes, rate=dropout_rates, seed=dropout_counters,
       step=dropout_counters, layer=st.integers(0, 1000))
def test_dropout_mask_is_bit_identical(rows, cols, dtype, rate, seed, step, layer):
    """The mask equals the reference exactly (the same counter-based hash), in either dtype."""
    expected = REF.dropout_mask((rows, cols), rate, seed, step, layer, dtype)
    got = CPU.dropout_mask((rows, cols), rate, seed, step, layer, dtype)
    assert_same_dtype(got, dtype, "dropout_mask")
    np.testing.assert_array_equal(got, expected, err_msg="dropout_mask")


@KERNEL_SETTINGS
@given(rows=sizes, cols=sizes, dtype=dtypes, rate=dropout_rates, seed=dropout_counters,
       step=dropout_counters, layer=st.integers(0, 1000),
       method=st.sampled_from(["dropout_forward", "dropout_backward"]),
       mode=st.sampled_from(["allocate", "out", "in place"]), layout=layouts, data_seed=seeds)
def test_dropout_forward_and_backward_are_bit_identical(rows, cols, dtype, rate, seed, step, layer,
                                                        method, mode, layout, data_seed):
    """``x * mask`` equals the reference exactly; the backward pass regenerates the same mask."""
    rng = np.random.default_rng(data_seed)
    x = normal(rng, (rows, cols), dtype, layout="C" if mode == "in place" else layout)
    expected = getattr(REF, method)(x.copy(), rate, seed, step, layer)
    inputs = snapshot(x)
    out = {"allocate": None, "out": np.empty((rows, cols), dtype), "in place": x}[mode]
    got = getattr(CPU, method)(x, rate, seed, step, layer, out=out)
    check_inplace_result(got, out, method)
    if mode != "in place":
        assert_unchanged([x], inputs, method)
    assert_same_dtype(got, dtype, method)
    np.testing.assert_array_equal(got, expected, err_msg=method)


@pytest.mark.parametrize("dtype", DTYPES)
def test_dropout_on_a_large_array(dtype):
    """77k elements, cut into chunks across threads, still give the reference's exact result."""
    x = normal(np.random.default_rng(6), (300, 257), dtype)
    expected = REF.dropout_forward(x, 0.4, 2**40 + 3, 17, 2)
    np.testing.assert_array_equal(CPU.dropout_forward(x, 0.4, 2**40 + 3, 17, 2), expected)
    np.testing.assert_array_equal(CPU.dropout_backward(x, 0.4, 2**40 + 3, 17, 2), expected)


def test_dropout_drops_about_rate():
    """The shared hash is usable as a mask: the dropped fraction is close to the rate."""
    mask = CPU.dropout_mask((256, 256), 0.3, 12345, 1, 0, np.float32)
    assert abs((mask == 0).mean() - 0.3) < 0.01
    np.testing.assert_array_equal(np.unique(mask), np.array([0.0, 1 / 0.7], dtype=np.float32))


# ----------------------------------------------------------------------------- thread count
@pytest.fixture
def run_with_threads():
    """Return ``run(n, fn)``: call ``fn()`` after ``mlp.set_num_threads(n)``, which sets the
    OpenMP pool of the kernels and the BLAS pool together.

    mlp's thread count and the BLAS libraries' own counts are restored afterwards.
    """
    original = mlp.get_num_threads()

    def run(n_threads, fn):
        with threadpool_limits(limits=None, user_api="blas"):
            mlp.set_num_threads(n_threads)
            try:
                return fn()
            finally:
                mlp.set_num_threads(original)

    yield run
    assert mlp.get_num_threads() == original


def assert_thread_invariant(run_with_threads, fn, what: str) -> None:
    """``fn()`` returns a tuple of arrays / floats that must be bit-identical on 1 and 2 threads."""
    one = run_with_threads(1, fn)
    two = run_with_threads(2, fn)
    for index, (a, b) in enumerate(zip(one, two)):
        np.testing.assert_array_equal(a, b,
                                      err_msg=f"{what}: output {index} differs, 1 vs 2 threads")


@functools.lru_cache(maxsize=None)
def large_inputs(dtype) -> Dict[str, np.ndarray]:
    """Read-only inputs large enough that every kernel splits its work across threads."""
    rng = np.random.default_rng(2024)
    arrays = {
        "a": normal(rng, (512, 1024), dtype),
        "b": normal(rng, (1024, 1024), dtype, scale=1 / 32),
        "bias": normal(rng, (1024,), dtype),
        "dy": normal(rng, (512, 1024), dtype),
        "flat": normal(rng, (1_000_000,), dtype),
        "grad": normal(rng, (1_000_000,), dtype),
    }
    for array in arrays.values():
        array.flags.writeable = False
    return arrays


@pytest.mark.parametrize("dtype", DTYPES)
def test_gemm_and_dense_are_thread_invariant(run_with_threads, dtype):
    data = large_inputs(dtype)
    a, b, bias, dy = data["a"], data["b"], data["bias"], data["dy"]

    def dense():
        preact = np.empty((512, 1024), dtype)
        y = CPU.dense_forward(a, b, bias, "gelu", preact=preact)
        grads = CPU.dense_backward(a, b, y, dy, "gelu", preact=preact)
        return (CPU.matmul(a, b), CPU.matmul(a, a, trans_b=True), CPU.matmul(a, dy, trans_a=True),
                y, preact) + grads

    assert_thread_invariant(run_with_threads, dense, "matmul / dense")
    # config C's mid-size products, cut into fewer, larger parts than the big ones above
    mid = (lambda: (CPU.dense_forward(a[:128, :784], b[:784, :512], bias[:512], "relu"),)
           + CPU.dense_backward(a[:128, :512], b[:512, :512], a[:128, :512], dy[:128, :512],
                                "relu"))
    assert_thread_invariant(run_with_threads, mid, "mid-size dense")
    z = a.astype(np.float64)[:, :64].astype(dtype)
    softmax = (lambda: (CPU.dense_forward(a, b[:, :64], bias[:64], "softmax"),
                        CPU.activation_forward(z, "softmax"),
                        CPU.activation_backward(dy[:, :64], CPU.activation_forward(z, "softmax"),
                                                None, "softmax")))
    assert_thread_invariant(run_with_threads, softmax, "softmax")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", LOSSES)
def test_losses_are_thread_invariant(run_with_threads, name, dtype):
    rng = np.random.default_rng(3)
    rows = 2 * mlp.kernels._kernels.parallel_thresholds()[0] // 10  # large enough to be split
    pred, target = loss_inputs(rng, name, rows, 10, dtype)
    weight = rng.uniform(0, 2, rows).astype(dtype)
    labels = target.argmax(axis=1) if name.startswith("categorical") else target
    assert_thread_invariant(
        run_with_threads,
        lambda: CPU.loss(name, pred, labels, sample_weight=weight), f"loss {name}")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind, hyper", OPTIMIZERS,
                         ids=[f"{kind}-{'-'.join(hyper)}" for kind, hyper in OPTIMIZERS])
def test_optimizers_are_thread_invariant(run_with_threads, kind, hyper, dtype):
    data = large_inputs(dtype)

    def two_steps():
        param = data["flat"].copy()
        state = optimizer_state(kind, hyper, param.size, dtype)
        for step in (1, 2):
            optimizer_step(CPU, kind, hyper, param, data["grad"], state, step)
        return (param,) + tuple(state.values())

    assert_thread_invariant(run_with_threads, two_steps, f"{kind} {hyper}")


@pytest.mark.parametrize("dtype", DTYPES)
def test_reductions_and_elementwise_are_thread_invariant(run_with_threads, dtype):
    data = large_inputs(dtype)
    flat, grad, dy = data["flat"], data["grad"], data["dy"]

    def helpers():
        penalised, scaled, clipped = grad.copy(), flat.copy(), flat.copy()
        CPU.add_penalty_gradient(penalised, flat, 1e-3, 1e-2)
        CPU.scale_(scaled, 0.37)
        CPU.clip_(clipped, 0.5)
        y = CPU.activation_forward(dy, "tanh")
        return (CPU.global_norm([flat, grad, dy]), CPU.penalty(flat, 0.1, 0.2), penalised,
                scaled, clipped, y, CPU.activation_backward(dy, y, None, "tanh"),
                CPU.dropout_forward(dy, 0.3, 11, 2, 1))

    assert_thread_invariant(run_with_threads, helpers, "reductions / elementwise")


# ----------------------------------------------------------------------------- the harness
def test_gemm_bound_accepts_a_correctly_rounded_product():
    """The GEMM tolerance is not too tight: the exactly rounded float32 product passes against
    NumPy's float32 BLAS result for the benchmark's K=784."""
    rng = np.random.default_rng(0)
    a = normal(rng, (64, 784), np.float32)
    b = normal(rng, (784, 128), np.float32)
    exact = (a.astype(np.float64) @ b.astype(np.float64)).astype(np.float32)
    assert within_bound(a @ b, exact, magnitude_bound(gemm_magnitude(a, b), np.float32)).all()


@pytest.mark.parametrize("dtype", DTYPES)
def test_gemm_bound_rejects_wrong_kernels(dtype):
    """The GEMM tolerance catches the bugs a kernel may have: a dropped term of the inner sum, a
    shifted row, a missing bias, an operand transposed, one element off by a relative 1e-3 (1e-9
    for float64)."""
    rng = np.random.default_rng(1)
    a = normal(rng, (128, 512), dtype)
    b = normal(rng, (512, 512), dtype)
    bias = normal(rng, (512,), dtype, scale=0.1)
    right = a @ b + bias
    bound = magnitude_bound(gemm_magnitude(a, b) + np.abs(bias), dtype)
    perturbed = right.copy()
    perturbed[77, 300] *= 1 + (1e-3 if dtype == np.float32 else 1e-9)
    wrong = {
        "dropped last term": a[:, :-1] @ b[:-1] + bias,
        "shifted row": np.roll(right, 1, axis=0),
        "missing bias": a @ b,
        "transposed operand": a @ b.T + bias,
        "one element perturbed": perturbed,
    }
    for bug, result in wrong.items():
        assert not within_bound(result, right, bound).all(), f"{bug} not detected"
    assert within_bound(right, right, bound).all()


@pytest.mark.parametrize("dtype", DTYPES)
def test_loss_and_activation_bounds_reject_wrong_kernels(dtype):
    """Elementwise and loss tolerances catch a wrong alpha, a forgotten weight and a mean taken
    over the wrong axis."""
    rng = np.random.default_rng(2)
    z = normal(rng, (33, 17), dtype, scale=3.0)
    expected = REF.activation_forward(z, "elu", 1.7)
    wrong_alpha = REF.activation_forward(z, "elu", DEFAULT_ALPHA["elu"])
    scale = activation_forward_scale("elu", 1.7, np.abs(z.astype(np.float64)), expected)
    assert not within_bound(wrong_alpha, expected, elementwise_bound(expected, dtype, scale)).all()

    pred, target = loss_inputs(rng, "mean_squared_error", 33, 17, dtype)
    weight = rng.uniform(0.5, 2, 33).astype(dtype)
    value, grad = REF.loss("mean_squared_error", pred, target, sample_weight=weight)
    unweighted, unweighted_grad = REF.loss("mean_squared_error", pred, target)
    magnitude, grad_scale = loss_magnitudes("mean_squared_error", pred, target, weight, 1.0)
    assert not within_bound(unweighted, value, magnitude_bound(abs(value) + magnitude, dtype))
    assert not within_bound(unweighted_grad, grad, elementwise_bound(grad, dtype, grad_scale)).all()
    assert not within_bound(value * 17, value, magnitude_bound(abs(value) + magnitude, dtype))
    assert rtol_for(dtype) * magnitude + tiny_for(dtype) < 1e-3 * abs(value)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_all_finite_finds_every_bad_value_on_either_side_of_the_split(dtype):
    """``all_finite`` (the NaN / inf check of every input, split across threads above a size
    threshold) agrees with NumPy wherever the bad value sits: first and last element, part
    boundaries, and in arrays just below and above the threshold."""
    threshold = 64 * mlp.kernels._kernels.parallel_thresholds()[0]  # ALL_FINITE_PAR_FACTOR
    rng = np.random.default_rng(5)
    for size in (1, 7, threshold - 1, threshold + 8197):
        x = rng.standard_normal(size).astype(dtype)
        assert mlp.kernels._kernels.all_finite(x)
        for position in {0, size - 1, size // 2, min(size - 1, 8192), min(size - 1, 8191)}:
            for bad in (np.nan, np.inf, -np.inf):
                y = x.copy()
                y[position] = bad
                assert not mlp.kernels._kernels.all_finite(y), (size, position, bad)
    assert mlp.kernels._kernels.all_finite(np.zeros(0, dtype))
    big = np.full(threshold * 2, np.finfo(dtype).max, dtype)
    assert mlp.kernels._kernels.all_finite(big)


# ----------------------------------------------------------------------------- normalization
def norm_inputs(rng, rows: int, cols: int, dtype, layout: str, with_gamma: bool,
                with_beta: bool):
    """Features off-centre and of various scales (so the mean matters), and gamma / beta
    (``None`` when left out)."""
    scale = rng.uniform(0.5, 3.0, cols)
    x = in_layout((rng.standard_normal((rows, cols)) * scale + 2.0).astype(dtype), layout)
    gamma = rng.uniform(0.5, 1.5, cols).astype(dtype) if with_gamma else None
    beta = rng.standard_normal(cols).astype(dtype) if with_beta else None
    return x, gamma, beta


def norm_output_bound(x, mean, inv, gamma, beta, dtype) -> np.ndarray:
    """Bound of ``gamma * (x - mean) * inv + beta``: the size of every term, not of the result
    (``x - mean`` cancels; a mean one rounding apart moves every output by ``|mean| inv``)."""
    g = 1.0 if gamma is None else np.abs(np.asarray(gamma, np.float64))
    b = 0.0 if beta is None else np.abs(np.asarray(beta, np.float64))
    size = (np.abs(np.asarray(x, np.float64)) + np.abs(mean) + 1.0) * np.abs(inv) * g + b
    return magnitude_bound(size, dtype)


def check_batch_norm_forward(x, gamma, beta, training, momentum, dtype):
    cols = x.shape[1]
    rng = np.random.default_rng(cols)
    mean0 = rng.standard_normal(cols).astype(dtype)
    var0 = rng.uniform(0.5, 2.0, cols).astype(dtype)
    results = {}
    inputs = [x, gamma, beta]
    before = snapshot(*inputs)
    for backend in (CPU, REF):
        mm, mv = mean0.copy(), var0.copy()
        xhat, inv = np.empty(x.shape, dtype), np.empty(cols, dtype)
        out = np.empty(x.shape, dtype)
        y = backend.batch_norm_forward(x, gamma, beta, mm, mv, momentum, 1e-3, training, out=out,
                                       xhat=xhat, inv_std=inv)
        check_inplace_result(y, out, "batch_norm_forward")
        results[backend is CPU] = (y, mm, mv, xhat, inv)
    assert_unchanged(inputs, before, "batch_norm_forward")
    (y, mm, mv, xhat, inv), (y_r, mm_r, mv_r, xhat_r, inv_r) = results[True], results[False]
    for got in (y, mm, mv, xhat, inv):
        assert_same_dtype(got, dtype, "batch_norm_forward")
    wide = np.asarray(x, np.float64)
    mean = wide.mean(axis=0) if training else mean0
    assert_within(inv, inv_r, elementwise_bound(inv_r, dtype, 0.0), "batch_norm inv_std")
    assert_within(xhat, xhat_r, norm_output_bound(wide, mean, inv_r, None, None, dtype),
                  "batch_norm xhat")
    assert_within(y, y_r, norm_output_bound(wide, mean, inv_r, gamma, beta, dtype),
                  "batch_norm y")
    variance = wide.var(axis=0) if training else var0
    for got, expected, start, batch in ((mm, mm_r, mean0, mean), (mv, mv_r, var0, variance)):
        size = np.abs(start.astype(np.float64)) + np.abs(batch)
        assert_within(got, expected, magnitude_bound(size, dtype), "batch_norm moving stats")
    if not training:
        np.testing.assert_array_equal(mm, mean0)
        np.testing.assert_array_equal(mv, var0)


@KERNEL_SETTINGS
@given(rows=sizes, cols=sizes, dtype=dtypes, layout=layouts, seed=seeds,
       training=st.booleans(), with_gamma=st.booleans(), with_beta=st.booleans(),
       momentum=st.sampled_from([0.0, 0.5, 0.99, 1.0]))
def test_batch_norm_forward(rows, cols, dtype, layout, seed, training, with_gamma, with_beta,
                            momentum):
    x, gamma, beta = norm_inputs(np.random.default_rng(seed), rows, cols, dtype, layout,
                                 with_gamma, with_beta)
    check_batch_norm_forward(x, gamma, beta, training, momentum, dtype)


def norm_backward_bounds(dy, xhat, scale, rows_axis: int, dtype, training: bool = True):
    """Bounds of (dgamma, dbeta, dx): sums over the rows of |dy xhat| and |dy|, and ``|k|``
    times the size of ``dy - mean(dy) - xhat mean(dy xhat)`` (means along ``rows_axis``)."""
    dy = np.abs(np.asarray(dy, np.float64))
    xhat = np.abs(np.asarray(xhat, np.float64))
    dgamma = magnitude_bound((dy * xhat).sum(axis=0), dtype)
    dbeta = magnitude_bound(dy.sum(axis=0), dtype)
    terms = dy
    if training:
        terms = (dy + dy.mean(axis=rows_axis, keepdims=True)
                 + xhat * (dy * xhat).mean(axis=rows_axis, keepdims=True))
    return dgamma, dbeta, magnitude_bound(np.abs(scale) * terms, dtype)


def check_norm_backward(kind, dy, xhat, gamma, inv, training, needs, dtype):
    inputs = [dy, xhat, gamma, inv]
    before = snapshot(*inputs)
    flags = dict(zip(("need_dgamma", "need_dbeta", "need_dx"), needs))
    results = {}
    for backend in (CPU, REF):
        if kind == "batch":
            results[backend is CPU] = backend.batch_norm_backward(dy, xhat, gamma, inv, training,
                                                                  **flags)
        else:
            results[backend is CPU] = backend.layer_norm_backward(dy, xhat, gamma, inv, **flags)
    assert_unchanged(inputs, before, f"{kind}_norm_backward")
    g = 1.0 if gamma is None else np.asarray(gamma, np.float64)
    inv64 = np.asarray(inv, np.float64)
    scale = g * (inv64 if kind == "batch" else inv64[:, np.newaxis])
    bounds = norm_backward_bounds(dy, xhat, scale, 0 if kind == "batch" else 1, dtype,
                                  training or kind == "layer")
    for name, got, expected, bound, needed in zip(("dgamma", "dbeta", "dx"), results[True],
                                                   results[False], bounds, needs):
        if not needed:
            assert got is None and expected is None, name
            continue
        assert_same_dtype(got, dtype, name)
        assert_within(got, expected, bound, f"{kind}_norm_backward {name}")


@KERNEL_SETTINGS
@given(rows=sizes, cols=sizes, dtype=dtypes, layout=layouts, seed=seeds,
       training=st.booleans(), with_gamma=st.booleans(),
       needs=st.tuples(st.booleans(), st.booleans(), st.booleans()))
def test_batch_norm_backward(rows, cols, dtype, layout, seed, training, with_gamma, needs):
    rng = np.random.default_rng(seed)
    x, gamma, _ = norm_inputs(rng, rows, cols, dtype, "C", with_gamma, False)
    xhat, inv = np.empty(x.shape, dtype), np.empty(cols, dtype)
    REF.batch_norm_forward(x, gamma, None, np.zeros(cols, dtype), np.ones(cols, dtype), 0.9,
                           1e-3, training, xhat=xhat, inv_std=inv)
    dy = normal(rng, x.shape, dtype, layout=layout)
    check_norm_backward("batch", dy, in_layout(xhat, layout), gamma, inv, training, needs,
                        dtype)


@KERNEL_SETTINGS
@given(rows=sizes, cols=sizes, dtype=dtypes, layout=layouts, seed=seeds,
       with_gamma=st.booleans(), with_beta=st.booleans())
def test_layer_norm_forward(rows, cols, dtype, layout, seed, with_gamma, with_beta):
    x, gamma, beta = norm_inputs(np.random.default_rng(seed), rows, cols, dtype, layout,
                                 with_gamma, with_beta)
    before = snapshot(x, gamma, beta)
    results = {}
    for backend in (CPU, REF):
        xhat, inv = np.empty(x.shape, dtype), np.empty(rows, dtype)
        y = backend.layer_norm_forward(x, gamma, beta, 1e-3, xhat=xhat, inv_std=inv)
        results[backend is CPU] = (y, xhat, inv)
    assert_unchanged([x, gamma, beta], before, "layer_norm_forward")
    (y, xhat, inv), (y_r, xhat_r, inv_r) = results[True], results[False]
    wide = np.asarray(x, np.float64)
    mean = wide.mean(axis=1, keepdims=True)
    assert_same_dtype(y, dtype, "layer_norm_forward")
    assert_within(inv, inv_r, elementwise_bound(inv_r, dtype, 0.0), "layer_norm inv_std")
    inv_col = inv_r.astype(np.float64)[:, np.newaxis]
    assert_within(xhat, xhat_r, norm_output_bound(wide, mean, inv_col, None, None, dtype),
                  "layer_norm xhat")
    assert_within(y, y_r, norm_output_bound(wide, mean, inv_col, gamma, beta, dtype),
                  "layer_norm y")


@KERNEL_SETTINGS
@given(rows=sizes, cols=sizes, dtype=dtypes, layout=layouts, seed=seeds,
       with_gamma=st.booleans(), needs=st.tuples(st.booleans(), st.booleans(), st.booleans()))
def test_layer_norm_backward(rows, cols, dtype, layout, seed, with_gamma, needs):
    rng = np.random.default_rng(seed)
    x, gamma, _ = norm_inputs(rng, rows, cols, dtype, "C", with_gamma, False)
    xhat, inv = np.empty(x.shape, dtype), np.empty(rows, dtype)
    REF.layer_norm_forward(x, gamma, None, 1e-3, xhat=xhat, inv_std=inv)
    dy = normal(rng, x.shape, dtype, layout=layout)
    check_norm_backward("layer", dy, in_layout(xhat, layout), gamma, inv, True, needs, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("rows, cols", [(64, 128), (1, 17), (300, 1), (128, 1030)])
def test_normalization_fixed_shapes(rows, cols, dtype):
    """The benchmark's hidden width, batch 1, width 1, and more columns than one tile holds."""
    rng = np.random.default_rng(rows + cols)
    x, gamma, beta = norm_inputs(rng, rows, cols, dtype, "C", True, True)
    for training in (True, False):
        check_batch_norm_forward(x, gamma, beta, training, 0.99, dtype)
    xhat, inv = np.empty(x.shape, dtype), np.empty(cols, dtype)
    REF.batch_norm_forward(x, gamma, beta, np.zeros(cols, dtype), np.ones(cols, dtype), 0.9,
                           1e-3, True, xhat=xhat, inv_std=inv)
    dy = normal(rng, x.shape, dtype)
    check_norm_backward("batch", dy, xhat, gamma, inv, True, (True, True, True), dtype)
    xhat, inv = np.empty(x.shape, dtype), np.empty(rows, dtype)
    REF.layer_norm_forward(x, gamma, beta, 1e-3, xhat=xhat, inv_std=inv)
    check_norm_backward("layer", dy, xhat, gamma, inv, True, (True, True, True), dtype)


def test_normalization_bad_arguments_name_the_argument():
    x = np.ones((4, 3))
    ones = np.ones(3)
    with pytest.raises(ValueError, match=r"^gamma: expected 3 values"):
        CPU.batch_norm_forward(x, np.ones(4), None, ones.copy(), ones.copy())
    with pytest.raises(ValueError, match=r"^epsilon: expected a finite number > 0, got 0.0"):
        CPU.layer_norm_forward(x, None, None, epsilon=0.0)
    with pytest.raises(ValueError, match=r"^momentum: expected a number in \[0, 1\], got 1.5"):
        CPU.batch_norm_forward(x, None, None, ones.copy(), ones.copy(), momentum=1.5)
    with pytest.raises(ValueError, match=r"^moving_variance: expected a writeable 1-D"):
        CPU.batch_norm_forward(x, None, None, ones.copy(), ones.astype(np.float32))
    with pytest.raises(ValueError, match=r"^x: expected at least one row in training mode"):
        CPU.batch_norm_forward(np.ones((0, 3)), None, None, ones.copy(), ones.copy())
    with pytest.raises(ValueError, match=r"^x: expected at least one feature"):
        CPU.layer_norm_forward(np.ones((2, 0)), None, None)
    with pytest.raises(ValueError, match=r"^xhat: expected shape \(4, 3\) like dy"):
        CPU.layer_norm_backward(x, np.ones((4, 2)), None, np.ones(4))
    with pytest.raises(ValueError, match=r"^inv_std: expected 3 values"):
        CPU.batch_norm_backward(x, x, None, np.ones(4))


def test_normalization_with_no_rows():
    """Inference over no rows gives no rows (and the moving statistics' inv_std); backward
    passes over no rows give zero parameter gradients."""
    mm, mv = np.zeros(3), np.full(3, 3.0)
    inv = np.empty(3)
    y = CPU.batch_norm_forward(np.ones((0, 3)), None, None, mm, mv, training=False,
                               inv_std=inv)
    assert y.shape == (0, 3)
    np.testing.assert_allclose(inv, 1 / np.sqrt(3.0 + 1e-3))
    dgamma, dbeta, dx = CPU.batch_norm_backward(np.ones((0, 3)), np.ones((0, 3)), None, inv)
    assert dx.shape == (0, 3) and not dgamma.any() and not dbeta.any()
    assert CPU.layer_norm_forward(np.ones((0, 3)), None, None).shape == (0, 3)


@pytest.mark.parametrize("dtype", DTYPES)
def test_normalization_is_thread_invariant(run_with_threads, dtype):
    data = large_inputs(dtype)
    x, dy, gamma, beta = data["a"], data["dy"], data["bias"], data["bias"][::-1].copy()

    def normalize():
        cols, rows = x.shape[1], x.shape[0]
        mm, mv = np.zeros(cols, dtype), np.ones(cols, dtype)
        xhat, inv = np.empty(x.shape, dtype), np.empty(cols, dtype)
        y = CPU.batch_norm_forward(x, gamma, beta, mm, mv, 0.9, 1e-3, True, xhat=xhat,
                                   inv_std=inv)
        bn = CPU.batch_norm_backward(dy, xhat, gamma, inv, True)
        lxhat, linv = np.empty(x.shape, dtype), np.empty(rows, dtype)
        ly = CPU.layer_norm_forward(x, gamma, beta, 1e-3, xhat=lxhat, inv_std=linv)
        ln = CPU.layer_norm_backward(dy, lxhat, gamma, linv)
        # tall and narrow: one column tile, many row parts
        tall = x.reshape(-1, 8)
        ty = CPU.layer_norm_forward(tall, None, None)
        tb = CPU.batch_norm_forward(tall, None, None, np.zeros(8, dtype), np.ones(8, dtype))
        return (y, mm, mv, xhat, inv, ly, lxhat, linv, ty, tb) + bn + ln

    assert_thread_invariant(run_with_threads, normalize, "batch / layer normalization")
