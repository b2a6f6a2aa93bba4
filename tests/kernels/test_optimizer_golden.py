"""Golden tests: each update rule of ``base.py`` pinned by two hand-worked steps.

Every optimizer starts from ``p0 = [1, -2, 0.5]`` with zero state and takes the gradients
``g1 = [0.5, -1, 2]`` then ``g2 = [1, 0.3, -0.4]``. The expected parameters after each step are
written out as literals; the comment above each case works the numbers out (element 0 of ``g2``
makes Adam's ``v`` grow while elements 1 and 2 make it shrink, so AMSGrad's ``v_max`` matters).
``epsilon = 0.1`` is large on purpose: it pins where epsilon enters the denominator.
"""
from __future__ import annotations

from typing import Callable, Dict, NamedTuple, Sequence

import numpy as np
import pytest


TOLERANCE = {np.float32: dict(rtol=1e-5, atol=1e-6), np.float64: dict(rtol=1e-12, atol=1e-14)}

P0 = [1.0, -2.0, 0.5]
GRADS = ([0.5, -1.0, 2.0], [1.0, 0.3, -0.4])
STATE_NAMES = ("velocity", "m", "v", "v_max", "mean_square", "mean_grad", "accumulator")


class Golden(NamedTuple):
    """One update rule: ``step(backend, param, grad, state, t)`` and the params after t = 1, 2."""

    step: Callable
    after_1: Sequence[float]
    after_2: Sequence[float]


GOLDEN: Dict[str, Golden] = {
    # p1 = p0 - 0.1 g1; p2 = p1 - 0.1 g2.
    "sgd": Golden(
        lambda b, p, g, s, t: b.sgd_update(p, g, None, lr=0.1),
        [0.95, -1.9, 0.3], [0.85, -1.93, 0.34]),
    # v1 = g1, p1 = p0 - 0.1 v1; v2 = 0.9 v1 + g2 = [1.45, -0.6, 1.4], p2 = p1 - 0.1 v2.
    "sgd_momentum": Golden(
        lambda b, p, g, s, t: b.sgd_update(p, g, s["velocity"], lr=0.1, momentum=0.9),
        [0.95, -1.9, 0.3], [0.805, -1.84, 0.16]),
    # v1 = g1, d1 = g1 + 0.9 v1 = [0.95, -1.9, 3.8]; v2 = [1.45, -0.6, 1.4],
    # d2 = g2 + 0.9 v2 = [2.305, -0.24, 0.86]; p_t = p_{t-1} - 0.1 d_t.
    "sgd_nesterov": Golden(
        lambda b, p, g, s, t: b.sgd_update(p, g, s["velocity"], lr=0.1, momentum=0.9,
                                           nesterov=True),
        [0.905, -1.81, 0.12], [0.6745, -1.786, 0.034]),
    # d1 = g1 + 0.1 p0 = [0.6, -1.2, 2.05]; d2 = g2 + 0.1 p1 = [1.094, 0.112, -0.3705].
    "sgd_weight_decay": Golden(
        lambda b, p, g, s, t: b.sgd_update(p, g, None, lr=0.1, weight_decay=0.1),
        [0.94, -1.88, 0.295], [0.8306, -1.8912, 0.33205]),
    # b1 = 0.5, b2 = 0.9, eps = 0.1. t=1: m_hat = g1, sqrt(v_hat) = |g1|, so
    # p1 = p0 - 0.1 g1 / (|g1| + 0.1) = p0 - [0.5/6, -1/11, 2/21].
    # t=2: m = [0.625, -0.1, 0.3], m_hat = m / 0.75; v = [0.1225, 0.099, 0.376], v_hat = v / 0.19;
    # p2 = p1 - 0.1 m_hat / (sqrt(v_hat) + 0.1), e.g. element 0 moves by 0.0922895681480953.
    "adam": Golden(
        lambda b, p, g, s, t: b.adam_update(p, g, s["m"], s["v"], None, t, lr=0.1, beta_1=0.5,
                                            beta_2=0.9, epsilon=0.1),
        [0.9166666666666666, -1.9090909090909092, 0.40476190476190477],
        [0.8243770985185713, -1.8928671461787294, 0.3782147118234808]),
    # As "adam" with g_t = grad_t + 0.1 p_{t-1}: g1 = [0.6, -1.2, 2.05], so
    # p1 = p0 - 0.1 g1 / (|g1| + 0.1) = p0 - [0.6/7, -1.2/13, 2.05/21.5]; g2 = g2 + 0.1 p1.
    "adam_l2": Golden(
        lambda b, p, g, s, t: b.adam_update(p, g, s["m"], s["v"], None, t, lr=0.1, beta_1=0.5,
                                            beta_2=0.9, epsilon=0.1, weight_decay=0.1),
        [0.9142857142857143, -1.9076923076923078, 0.4046511627906977],
        [0.820871651576826, -1.8724999739128365, 0.37574581637714716]),
    # Decoupled: p *= 1 - 0.1 * 0.1 first, then the "adam" step on the raw gradient:
    # p1 = 0.99 p0 - [0.5/6, -1/11, 2/21] = [0.90666.., -1.88909.., 0.39976..].
    "adamw": Golden(
        lambda b, p, g, s, t: b.adam_update(p, g, s["m"], s["v"], None, t, lr=0.1, beta_1=0.5,
                                            beta_2=0.9, epsilon=0.1, weight_decay=0.1,
                                            decoupled=True),
        [0.9066666666666666, -1.8890909090909092, 0.39976190476190476],
        [0.8053104318519047, -1.8539762370878203, 0.3692170927758618]),
    # As "adam" at t=1; at t=2 v_max = max(v1, v2) = [0.1225, 0.1, 0.4] replaces v for elements
    # 1 and 2 (their v shrank from [0.1, 0.4] to [0.099, 0.376]); element 0 equals "adam".
    "amsgrad": Golden(
        lambda b, p, g, s, t: b.adam_update(p, g, s["m"], s["v"], s["v_max"], t, lr=0.1,
                                            beta_1=0.5, beta_2=0.9, epsilon=0.1, amsgrad=True),
        [0.9166666666666666, -1.9090909090909092, 0.40476190476190477],
        [0.8243770985185713, -1.8929386172090332, 0.3789713018941023]),
    # rho = 0.9, eps = 0.1: ms1 = 0.1 g1**2 = [0.025, 0.1, 0.4],
    # p1 = p0 - 0.1 g1 / (sqrt(ms1) + 0.1);
    # ms2 = 0.9 ms1 + 0.1 g2**2 = [0.1225, 0.099, 0.376], p2 = p1 - 0.1 g2 / (sqrt(ms2) + 0.1).
    "rmsprop": Golden(
        lambda b, p, g, s, t: b.rmsprop_update(p, g, s["mean_square"], lr=0.1, rho=0.9,
                                               epsilon=0.1),
        [0.8062870566386034, -1.7597469266479577, 0.22694588100837126],
        [0.5840648344163812, -1.83209838320449, 0.2830320437045719]),
    # vel1 = g1 / (sqrt(ms1) + 0.1) = [1.93713, -2.40253, 2.73054], p1 as "rmsprop";
    # vel2 = 0.9 vel1 + g2 / (sqrt(ms2) + 0.1) = [3.96564, -1.43876, 1.89663], p2 = p1 - 0.1 vel2.
    "rmsprop_momentum": Golden(
        lambda b, p, g, s, t: b.rmsprop_update(p, g, s["mean_square"], lr=0.1, rho=0.9,
                                               epsilon=0.1, momentum=0.9, velocity=s["velocity"]),
        [0.8062870566386034, -1.7597469266479577, 0.22694588100837132],
        [0.4097231853911243, -1.615870617187652, 0.037283336612106144]),
    # mg1 = 0.1 g1, ms1 - mg1**2 = 0.09 g1**2, so p1 = p0 - 0.1 g1 / (0.3 |g1| + 0.1)
    # = [0.8, -1.75, 0.2142857]; mg2 = 0.9 mg1 + 0.1 g2 = [0.145, -0.06, 0.14],
    # p2 = p1 - 0.1 g2 / (sqrt(ms2 - mg2**2) + 0.1).
    "rmsprop_centered": Golden(
        lambda b, p, g, s, t: b.rmsprop_update(p, g, s["mean_square"], lr=0.1, rho=0.9,
                                               epsilon=0.1, centered=True,
                                               mean_grad=s["mean_grad"]),
        [0.8, -1.75, 0.21428571428571425],
        [0.5610807229036026, -1.8233731513687155, 0.2716751441083438]),
    # acc1 = g1**2, p1 = p0 - 0.1 g1 / (|g1| + 0.1) = p0 - [0.5/6, -1/11, 2/21];
    # acc2 = [1.25, 1.09, 4.16], p2 = p1 - 0.1 g2 / (sqrt(acc2) + 0.1).
    "adagrad": Golden(
        lambda b, p, g, s, t: b.adagrad_update(p, g, s["accumulator"], lr=0.1, epsilon=0.1),
        [0.9166666666666666, -1.9090909090909092, 0.40476190476190477],
        [0.8345671514449009, -1.9353139827267718, 0.42345691975406974]),
}


@pytest.mark.parametrize("rule", sorted(GOLDEN))
def test_update_rule_matches_hand_worked_steps(backend, dtype, rule):
    golden = GOLDEN[rule]
    param = backend.asarray(np.array(P0, dtype=dtype))
    state = {name: backend.zeros((len(P0),), dtype) for name in STATE_NAMES}
    for t, (grad, expected) in enumerate(zip(GRADS, (golden.after_1, golden.after_2)), start=1):
        golden.step(backend, param, backend.asarray(np.array(grad, dtype=dtype)), state, t)
        result = backend.to_numpy(param)
        assert result.dtype == dtype
        np.testing.assert_allclose(result, expected, err_msg=f"{rule}, step {t}",
                                   **TOLERANCE[dtype])


def test_add_penalty_gradient_adds_to_the_gradient(backend, dtype):
    # grad += 0.1 sign(p) + 2 * 0.01 p, with sign(0) = 0:
    # [0.5 + 0.1 + 0.02, -1 - 0.1 - 0.04, 0.25 + 0 + 0, 0 + 0.1 + 0.01].
    grad = backend.asarray(np.array([0.5, -1.0, 0.25, 0.0], dtype=dtype))
    param = backend.asarray(np.array([1.0, -2.0, 0.0, 0.5], dtype=dtype))
    backend.add_penalty_gradient(grad, param, l1=0.1, l2=0.01)
    np.testing.assert_allclose(backend.to_numpy(grad), [0.62, -1.14, 0.25, 0.11],
                               **TOLERANCE[dtype])


def test_penalty_value(backend, dtype):
    # 0.1 * (1 + 2 + 0 + 0.5) + 0.01 * (1 + 4 + 0 + 0.25) = 0.35 + 0.0525.
    param = backend.asarray(np.array([1.0, -2.0, 0.0, 0.5], dtype=dtype))
    value = backend.penalty(param, l1=0.1, l2=0.01)
    assert isinstance(value, float)
    assert value == pytest.approx(0.4025, rel=TOLERANCE[dtype]["rtol"])


def test_clip_in_place(backend, dtype):
    x = backend.asarray(np.array([-3.0, 0.5, 2.0, -0.2, 1.0], dtype=dtype))
    backend.clip_(x, 1.0)
    np.testing.assert_array_equal(backend.to_numpy(x), np.array([-1.0, 0.5, 1.0, -0.2, 1.0],
                                                                dtype=dtype))


def test_scale_in_place(backend, dtype):
    x = backend.asarray(np.array([1.0, -2.0, 0.5], dtype=dtype))
    backend.scale_(x, 0.25)
    np.testing.assert_array_equal(backend.to_numpy(x), np.array([0.25, -0.5, 0.125], dtype=dtype))


def test_global_norm_over_arrays_of_any_shape(backend, dtype):
    # sqrt(3**2 + 4**2 + 12**2) = 13; the 2-D array counts element by element.
    arrays = [backend.asarray(np.array([3.0, 4.0], dtype=dtype)),
              backend.asarray(np.array([[12.0]], dtype=dtype))]
    value = backend.global_norm(arrays)
    assert isinstance(value, float)
    assert value == pytest.approx(13.0, rel=TOLERANCE[dtype]["rtol"])


def test_centered_rmsprop_stays_finite_under_a_constant_gradient(backend, dtype):
    # with a constant gradient, mean_square - mean_grad**2 is 0 up to rounding, which can make
    # it slightly negative: the update must clamp it rather than take the root of a negative
    rng = np.random.default_rng(3)
    param = rng.standard_normal(2000).astype(dtype)
    grad = rng.standard_normal(2000).astype(dtype)
    mean_square, mean_grad = np.zeros_like(param), np.zeros_like(param)
    for _ in range(300):
        backend.rmsprop_update(param, grad, mean_square, 1e-3, 0.9, 1e-7, centered=True,
                               mean_grad=mean_grad)
    assert np.all(np.isfinite(param))
