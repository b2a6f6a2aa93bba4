"""Tests of ``mlp.optimizers``: each ``apply`` against a plain NumPy transcription of its rule,
clipping golden values, step counting, config and state round trips, ``get``, validation and
``kernel_spec``. Every test runs on the ``reference`` and ``cpu`` backends in float32 and float64.
"""
from __future__ import annotations

import json
import math
from typing import Callable, Dict, List, NamedTuple

import numpy as np
import pytest

from mlp import optimizers
from mlp.backends import get_backend
from mlp.optimizers import SGD, Adagrad, Adam, AdamW, RMSprop
from mlp.schedules import ExponentialDecay, PiecewiseConstantDecay

TOLERANCE = {np.float32: dict(rtol=2e-5, atol=2e-6), np.float64: dict(rtol=1e-12, atol=1e-14)}
N_PARAMS = 7
N_STEPS = 4


def problem(dtype, seed: int = 0):
    """Start parameters and ``N_STEPS`` gradients of ``dtype``, as float64 copies too."""
    rng = np.random.default_rng(seed)
    params = rng.standard_normal(N_PARAMS).astype(dtype)
    grads = rng.standard_normal((N_STEPS, N_PARAMS)).astype(dtype)
    return params, grads


# ------------------------------------------------------- the rules in NumPy
# Each rule takes float64 params p, gradient g, a state dict s (filled on first use), the
# learning rate and the 1-based step t, and returns the new params. Written from the docstrings.
def sgd_rule(momentum=0.0, nesterov=False, weight_decay=0.0):
    def rule(p, g, s, lr, t):
        g = g + weight_decay * p
        if momentum == 0:
            return p - lr * g
        s["velocity"] = momentum * s.get("velocity", 0.0) + g
        direction = g + momentum * s["velocity"] if nesterov else s["velocity"]
        return p - lr * direction
    return rule


def adam_rule(beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False, weight_decay=0.0,
              decoupled=False):
    def rule(p, g, s, lr, t):
        if decoupled:
            p = p * (1 - lr * weight_decay)
        else:
            g = g + weight_decay * p
        s["m"] = beta_1 * s.get("m", 0.0) + (1 - beta_1) * g
        s["v"] = beta_2 * s.get("v", 0.0) + (1 - beta_2) * g * g
        second = s["v"]
        if amsgrad:
            s["v_max"] = second = np.maximum(s.get("v_max", 0.0), s["v"])
        m_hat = s["m"] / (1 - beta_1 ** t)
        v_hat = second / (1 - beta_2 ** t)
        return p - lr * m_hat / (np.sqrt(v_hat) + epsilon)
    return rule


def rmsprop_rule(rho=0.9, momentum=0.0, epsilon=1e-7, centered=False, weight_decay=0.0):
    def rule(p, g, s, lr, t):
        g = g + weight_decay * p
        s["mean_square"] = rho * s.get("mean_square", 0.0) + (1 - rho) * g * g
        if centered:
            s["mean_grad"] = rho * s.get("mean_grad", 0.0) + (1 - rho) * g
            denom = np.sqrt(np.maximum(s["mean_square"] - s["mean_grad"] ** 2, 0)) + epsilon
        else:
            denom = np.sqrt(s["mean_square"]) + epsilon
        if momentum == 0:
            return p - lr * g / denom
        s["velocity"] = momentum * s.get("velocity", 0.0) + g / denom
        return p - lr * s["velocity"]
    return rule


def adagrad_rule(initial_accumulator_value=0.1, epsilon=1e-7, weight_decay=0.0):
    def rule(p, g, s, lr, t):
        g = g + weight_decay * p
        s["accumulator"] = s.get("accumulator", initial_accumulator_value) + g * g
        return p - lr * g / (np.sqrt(s["accumulator"]) + epsilon)
    return rule


class Case(NamedTuple):
    """An optimizer configuration (built from a learning rate) and its NumPy rule."""

    make: Callable
    rule: Callable


CASES: Dict[str, Case] = {
    "sgd": Case(lambda lr: SGD(lr), sgd_rule()),
    "sgd_momentum": Case(lambda lr: SGD(lr, momentum=0.9), sgd_rule(momentum=0.9)),
    "sgd_nesterov_wd": Case(lambda lr: SGD(lr, momentum=0.8, nesterov=True, weight_decay=0.1),
                            sgd_rule(momentum=0.8, nesterov=True, weight_decay=0.1)),
    "adam": Case(lambda lr: Adam(lr), adam_rule()),
    "adam_amsgrad_l2": Case(
        lambda lr: Adam(lr, beta_1=0.5, beta_2=0.9, epsilon=0.1, amsgrad=True, weight_decay=0.1),
        adam_rule(beta_1=0.5, beta_2=0.9, epsilon=0.1, amsgrad=True, weight_decay=0.1)),
    "adamw": Case(lambda lr: AdamW(lr), adam_rule(weight_decay=0.004, decoupled=True)),
    "adamw_amsgrad": Case(lambda lr: AdamW(lr, weight_decay=0.5, amsgrad=True, epsilon=0.01),
                          adam_rule(weight_decay=0.5, amsgrad=True, epsilon=0.01,
                                    decoupled=True)),
    "rmsprop": Case(lambda lr: RMSprop(lr), rmsprop_rule()),
    "rmsprop_centered_momentum_wd": Case(
        lambda lr: RMSprop(lr, rho=0.8, momentum=0.5, epsilon=0.01, centered=True,
                           weight_decay=0.2),
        rmsprop_rule(rho=0.8, momentum=0.5, epsilon=0.01, centered=True, weight_decay=0.2)),
    "adagrad": Case(lambda lr: Adagrad(lr), adagrad_rule()),
    "adagrad_wd": Case(lambda lr: Adagrad(lr, initial_accumulator_value=0.0, epsilon=0.05,
                                          weight_decay=0.3),
                       adagrad_rule(initial_accumulator_value=0.0, epsilon=0.05,
                                    weight_decay=0.3)),
}

SCHEDULE = ExponentialDecay(0.1, decay_steps=2, decay_rate=0.5)
# 0.1 * 0.5 ** (step / 2) for steps 0..3: 0.1, 0.1 / sqrt(2), 0.05, 0.05 / sqrt(2).
SCHEDULE_RATES = [0.1, 0.07071067811865475, 0.05, 0.035355339059327376]
LEARNING_RATES = {"constant": (0.05, [0.05] * N_STEPS), "schedule": (SCHEDULE, SCHEDULE_RATES)}


@pytest.mark.parametrize("rate_kind", list(LEARNING_RATES))
@pytest.mark.parametrize("name", list(CASES))
def test_apply_matches_numpy_rule(name, rate_kind, backend, dtype):
    learning_rate, rates = LEARNING_RATES[rate_kind]
    optimizer = CASES[name].make(learning_rate)
    params, grads = problem(dtype)
    expected, state = params.astype(np.float64), {}
    for t in range(N_STEPS):
        optimizer.apply(backend, params, grads[t].copy())
        expected = CASES[name].rule(expected, grads[t].astype(np.float64), state, rates[t], t + 1)
        np.testing.assert_allclose(params, expected, err_msg=f"step {t + 1}", **TOLERANCE[dtype])
    assert params.dtype == dtype
    assert list(optimizer.slots) == sorted(state, key=list(optimizer.slot_names).index)
    for slot_name, value in state.items():
        np.testing.assert_allclose(optimizer.slots[slot_name], value, err_msg=slot_name,
                                   **TOLERANCE[dtype])


# ------------------------------------------------------------------- slots
SLOT_NAMES = [
    (lambda: SGD(), ()),
    (lambda: SGD(momentum=0.9), ("velocity",)),
    (lambda: Adam(), ("m", "v")),
    (lambda: Adam(amsgrad=True), ("m", "v", "v_max")),
    (lambda: AdamW(amsgrad=True), ("m", "v", "v_max")),
    (lambda: RMSprop(), ("mean_square",)),
    (lambda: RMSprop(momentum=0.9, centered=True), ("mean_square", "velocity", "mean_grad")),
    (lambda: RMSprop(centered=True), ("mean_square", "mean_grad")),
    (lambda: Adagrad(), ("accumulator",)),
]


@pytest.mark.parametrize("make, names", SLOT_NAMES, ids=[str(n) for _, n in SLOT_NAMES])
def test_build_allocates_slots_in_documented_order(make, names, backend, dtype):
    optimizer = make()
    optimizer.build(5, dtype, backend)
    assert optimizer.slot_names == names
    assert tuple(optimizer.slots) == names
    for slot in optimizer.slots.values():
        assert slot.shape == (5,) and slot.dtype == dtype


@pytest.mark.parametrize("initial, expected", [(None, 0.1), (0.5, 0.5), (0.0, 0.0)])
def test_adagrad_accumulator_starts_at_initial_value(initial, expected, backend, dtype):
    optimizer = Adagrad() if initial is None else Adagrad(initial_accumulator_value=initial)
    optimizer.build(3, dtype, backend)
    np.testing.assert_array_equal(optimizer.slots["accumulator"],
                                  np.full(3, expected, dtype=dtype))
    assert optimizer.slots["accumulator"].dtype == dtype


def test_build_is_idempotent_for_the_same_size(backend):
    optimizer = Adam()
    optimizer.build(4, np.float32, backend)
    slots = dict(optimizer.slots)
    optimizer.build(4, "float32", backend)
    assert all(optimizer.slots[name] is slots[name] for name in slots)


def test_build_for_another_size_or_dtype_is_refused(backend):
    optimizer = Adam()
    optimizer.build(4, np.float32, backend)
    with pytest.raises(ValueError, match="n_params, dtype: expected 4 float32 parameters "
                                         r"\(this optimizer already holds state"):
        optimizer.build(5, np.float32, backend)
    with pytest.raises(ValueError, match=r"got \(4, 'float64'\)"):
        optimizer.build(4, np.float64, backend)


def test_build_on_another_backend_moves_the_state():
    optimizer = Adagrad(initial_accumulator_value=0.25)
    optimizer.build(3, np.float64, get_backend("reference"))
    optimizer.build(3, np.float64, get_backend("cpu"))
    np.testing.assert_array_equal(optimizer.slots["accumulator"], [0.25, 0.25, 0.25])


@pytest.mark.parametrize("n_params, dtype, error, message", [
    (0, np.float32, ValueError, "n_params: expected an integer >= 1, got 0"),
    (2.0, np.float32, TypeError, "n_params: expected an integer >= 1, got 2.0"),
    (3, np.int32, ValueError, "dtype: expected float32 or float64, got <class 'numpy.int32'>"),
    (3, "complex", ValueError, "dtype: expected float32 or float64, got 'complex'"),
])
def test_build_validates_its_arguments(n_params, dtype, error, message):
    with pytest.raises(error, match=message):
        Adam().build(n_params, dtype, get_backend("reference"))


# ---------------------------------------------------------------- clipping
def apply_sgd_from_zero(backend, dtype, grads, segments=None, **clip):
    """Apply ``SGD(1.0, **clip)`` to zero params: the result is minus the clipped gradient."""
    params = np.zeros(len(grads), dtype=dtype)
    grads = np.array(grads, dtype=dtype)
    SGD(1.0, **clip).apply(backend, params, grads, segments)
    return params, grads


CLIP_GOLDEN = [
    # Each element to [-0.5, 0.5].
    ([1.0, -2.0, 0.25], None, dict(clipvalue=0.5), [0.5, -0.5, 0.25]),
    # Segment norms 5, 0.5 and 1: the first is scaled by 1/5, the others are within the limit.
    ([3.0, 4.0, 0.3, 0.4, 1.0, 0.0], [(0, 2), (2, 4), (4, 6)], dict(clipnorm=1.0),
     [0.6, 0.8, 0.3, 0.4, 1.0, 0.0]),
    # Per segment: [3] has norm 3 -> [2.5]; [0, 4] has norm 4 -> [0, 2.5].
    ([3.0, 0.0, 4.0], [(0, 1), (1, 3)], dict(clipnorm=2.5), [2.5, 0.0, 2.5]),
    # Without segments the whole buffer is one tensor: norm 5 -> scaled by 2.5 / 5.
    ([3.0, 0.0, 4.0], None, dict(clipnorm=2.5), [1.5, 0.0, 2.0]),
    # Global norm 5 whatever the segments.
    ([3.0, 0.0, 4.0], [(0, 1), (1, 3)], dict(global_clipnorm=2.5), [1.5, 0.0, 2.0]),
    # Norm below the limit: unchanged.
    ([0.3, 0.4], None, dict(global_clipnorm=1.0), [0.3, 0.4]),
    # clipvalue first: [3, 9] -> [3, 4] (norm 5) -> [0.6, 0.8]. Norm first would give
    # [3, 9] / sqrt(90) = [0.316.., 0.948..].
    ([3.0, 9.0], None, dict(clipvalue=4.0, global_clipnorm=1.0), [0.6, 0.8]),
    # clipvalue, then clipnorm per segment: [5, -5, 1] -> [2, -2, 1]; [2, -2] norm 2.828.. is
    # scaled to norm 1 -> [0.7071.., -0.7071..]; [1] stays.
    ([5.0, -5.0, 1.0], [(0, 2), (2, 3)], dict(clipvalue=2.0, clipnorm=1.0),
     [0.7071067811865476, -0.7071067811865476, 1.0]),
]


@pytest.mark.parametrize("grads, segments, clip, expected", CLIP_GOLDEN)
def test_clipping_golden_values(grads, segments, clip, expected, backend, dtype):
    params, clipped = apply_sgd_from_zero(backend, dtype, grads, segments, **clip)
    np.testing.assert_allclose(clipped, expected, **TOLERANCE[dtype])
    np.testing.assert_allclose(params, -np.array(expected), **TOLERANCE[dtype])


def test_clip_gradients_alone_leaves_state_alone(backend):
    optimizer = Adam(clipnorm=1.0)
    grads = np.array([3.0, 4.0])
    optimizer.clip_gradients(backend, grads)
    np.testing.assert_allclose(grads, [0.6, 0.8], rtol=1e-12)
    assert optimizer.iterations == 0 and optimizer.slots == {}


@pytest.mark.parametrize("segments, message", [
    ([(0, 2), (2, 5)], r"segments\[1\]: expected a pair \(start, stop\) with "
                       r"0 <= start <= stop <= 4, got \(2, 5\)"),
    ([(3, 1)], r"segments\[0\]: .* got \(3, 1\)"),
    ([(0, 1, 2)], r"segments\[0\]: .* got \(0, 1, 2\)"),
    ([(0.0, 2)], r"segments\[0\]: .* got \(0.0, 2\)"),
])
def test_bad_segments_are_rejected(segments, message, backend):
    with pytest.raises(ValueError, match=message):
        SGD(clipnorm=1.0).apply(backend, np.zeros(4), np.ones(4), segments)


# ------------------------------------------------------ steps and the rate
def test_iterations_count_and_schedule_uses_the_zero_based_step(backend, dtype):
    # Rate 1.0 for steps 0 and 1 (step <= 1), then 0.1: params 0 -> -1 -> -2 -> -2.1.
    optimizer = SGD(PiecewiseConstantDecay([1], [1.0, 0.1]))
    params = np.zeros(2, dtype=dtype)
    for iterations, expected in enumerate([-1.0, -2.0, -2.1], start=1):
        optimizer.apply(backend, params, np.ones(2, dtype=dtype))
        assert optimizer.iterations == iterations
        np.testing.assert_allclose(params, [expected, expected], **TOLERANCE[dtype])


def test_adam_first_step_uses_step_one(backend):
    # With t = 1 both bias corrections cancel the (1 - beta) factors: the step is
    # lr * g / (|g| + eps) = 0.1 * 2 / 2.5 = 0.08.
    params = np.array([1.0])
    Adam(0.1, beta_1=0.5, beta_2=0.9, epsilon=0.5).apply(backend, params, np.array([2.0]))
    np.testing.assert_allclose(params, [0.92], rtol=1e-12)


def test_learning_rates_of_a_range_of_updates():
    scheduled = SGD(SCHEDULE).learning_rates(1, 3)
    assert scheduled.dtype == np.float64
    np.testing.assert_allclose(scheduled, SCHEDULE_RATES[1:4], rtol=1e-15)
    constant = SGD(0.25).learning_rates(7, 4)
    np.testing.assert_array_equal(constant, [0.25] * 4)
    assert SGD(0.25).learning_rates(0, 0).shape == (0,)
    with pytest.raises(ValueError, match="learning_rate"):
        SGD(lambda step: -1.0).learning_rates(0, 2)

    class Halving(SGD):                          # a subclass that reads the rate its own way
        def learning_rate_at(self, step):
            return 0.5 ** step

    np.testing.assert_array_equal(Halving(1.0).learning_rates(1, 3), [0.5, 0.25, 0.125])


def test_learning_rate_at_and_setter():
    optimizer = SGD(SCHEDULE)
    assert optimizer.learning_rate is SCHEDULE
    assert optimizer.learning_rate_at(3) == pytest.approx(SCHEDULE_RATES[3], rel=1e-15)
    optimizer.learning_rate = 0.5
    assert optimizer.learning_rate_at(3) == 0.5
    with pytest.raises(ValueError, match="learning_rate: expected a number > 0"):
        optimizer.learning_rate = -0.5
    assert optimizer.learning_rate == 0.5


def test_plain_callable_learning_rate_is_used(backend):
    optimizer = SGD(lambda step: 0.5 ** step)
    params = np.zeros(1)
    for _ in range(3):
        optimizer.apply(backend, params, np.ones(1))
    np.testing.assert_allclose(params, [-(1 + 0.5 + 0.25)], rtol=1e-12)


@pytest.mark.parametrize("bad", [-0.1, math.inf, "fast", None])
def test_schedule_returning_a_bad_rate_is_reported(bad, backend):
    optimizer = SGD(lambda step: bad)
    with pytest.raises(ValueError, match="learning_rate: expected the schedule to return a finite "
                                         f"number >= 0 at step 0, got {bad!r}"):
        optimizer.apply(backend, np.zeros(2), np.ones(2))
    assert optimizer.iterations == 0


@pytest.mark.parametrize("params, grads, message", [
    (np.zeros((2, 2)), np.zeros((2, 2)), r"params: expected a flat 1-D array, got \(2, 2\)"),
    (np.zeros(3), np.zeros(4), r"grads: expected a float64 array of shape \(3,\) like params"),
    (np.zeros(3), np.zeros(3, dtype=np.float32), r"grads: .* got float32 array of shape \(3,\)"),
])
def test_apply_rejects_mismatched_buffers(params, grads, message, backend):
    with pytest.raises(ValueError, match=message):
        SGD().apply(backend, params, grads)


# ------------------------------------------------------------------ config
CONFIGURED = [
    SGD(SCHEDULE, momentum=0.9, nesterov=True, weight_decay=0.01, clipvalue=2.0),
    Adam(0.01, beta_1=0.8, beta_2=0.99, epsilon=1e-6, amsgrad=True, weight_decay=0.1,
         clipnorm=1.0),
    AdamW(PiecewiseConstantDecay([2], [0.01, 0.001]), weight_decay=0.05, global_clipnorm=1.0),
    RMSprop(0.01, rho=0.8, momentum=0.5, epsilon=1e-5, centered=True, weight_decay=0.1),
    Adagrad(0.1, initial_accumulator_value=0.2, epsilon=1e-6, weight_decay=0.1, clipvalue=0.5),
]
IDS = [type(optimizer).__name__ for optimizer in CONFIGURED]


def fresh(optimizer):
    """A new optimizer of the same configuration (no state)."""
    return type(optimizer).from_config(optimizer.get_config())


@pytest.mark.parametrize("optimizer", CONFIGURED, ids=IDS)
def test_config_round_trip_through_json_gives_identical_steps(optimizer, backend, dtype):
    original = fresh(optimizer)
    clone = type(original).from_config(json.loads(json.dumps(original.get_config())))
    assert clone.get_config() == original.get_config()
    params, grads = problem(dtype)
    clone_params = params.copy()
    for t in range(N_STEPS):
        original.apply(backend, params, grads[t].copy(), [(0, 3), (3, N_PARAMS)])
        clone.apply(backend, clone_params, grads[t].copy(), [(0, 3), (3, N_PARAMS)])
    np.testing.assert_array_equal(clone_params, params)
    assert not np.array_equal(params, problem(dtype)[0])


def test_get_config_lists_every_argument():
    assert AdamW().get_config() == {
        "learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7,
        "amsgrad": False, "weight_decay": 0.004, "clipnorm": None, "clipvalue": None,
        "global_clipnorm": None}
    assert SGD(SCHEDULE).get_config()["learning_rate"] == {
        "class_name": "ExponentialDecay",
        "config": {"initial_learning_rate": 0.1, "decay_steps": 2.0, "decay_rate": 0.5,
                   "staircase": False}}


def test_plain_callable_learning_rate_cannot_be_serialised():
    optimizer = Adam(lambda step: 0.1)
    with pytest.raises(TypeError, match="learning_rate: expected a number or a "
                                        "mlp.schedules.LearningRateSchedule to serialise"):
        optimizer.get_config()
    with pytest.raises(TypeError, match="a plain callable has no config"):
        optimizers.serialize(optimizer)


DEFAULTS = [
    (SGD, {"learning_rate": 0.01, "momentum": 0.0, "nesterov": False, "weight_decay": 0.0}),
    (Adam, {"learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7,
            "amsgrad": False, "weight_decay": 0.0}),
    (AdamW, {"learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7,
             "amsgrad": False, "weight_decay": 0.004}),
    (RMSprop, {"learning_rate": 0.001, "rho": 0.9, "momentum": 0.0, "epsilon": 1e-7,
               "centered": False, "weight_decay": 0.0}),
    (Adagrad, {"learning_rate": 0.001, "initial_accumulator_value": 0.1, "epsilon": 1e-7,
               "weight_decay": 0.0}),
]


@pytest.mark.parametrize("cls, expected", DEFAULTS, ids=[c.__name__ for c, _ in DEFAULTS])
def test_defaults_are_keras_defaults(cls, expected):
    config = cls().get_config()
    assert config == {**expected, "clipnorm": None, "clipvalue": None, "global_clipnorm": None}


# ------------------------------------------------------------------- state
@pytest.mark.parametrize("optimizer", CONFIGURED, ids=IDS)
def test_state_round_trip_continues_bit_identically(optimizer, backend, dtype):
    original = fresh(optimizer)
    params, grads = problem(dtype)
    for t in range(N_STEPS - 1):
        original.apply(backend, params, grads[t].copy())
    state = original.state_dict()
    restored = fresh(optimizer)
    restored.load_state_dict(state, backend)
    assert restored.iterations == N_STEPS - 1
    restored_params = params.copy()
    original.apply(backend, params, grads[-1].copy())
    restored.apply(backend, restored_params, grads[-1].copy())
    np.testing.assert_array_equal(restored_params, params)
    for name in original.slot_names:
        np.testing.assert_array_equal(restored.slots[name], original.slots[name])


def test_state_dict_shape_and_copies(backend):
    optimizer = Adam()
    assert optimizer.state_dict() == {"iterations": 0, "slots": {}}
    optimizer.apply(backend, np.ones(3), np.ones(3))
    state = optimizer.state_dict()
    assert state["iterations"] == 1
    assert list(state["slots"]) == ["m", "v"]
    assert all(type(a) is np.ndarray and a.shape == (3,) for a in state["slots"].values())
    state["slots"]["m"][:] = 42.0
    assert not np.any(optimizer.slots["m"] == 42.0)


def test_load_into_built_optimizer_keeps_slot_buffers(backend):
    source = Adam()
    source.apply(backend, np.ones(3), np.full(3, 0.5))
    target = Adam()
    target.build(3, np.float64, backend)
    buffers = dict(target.slots)
    target.load_state_dict(source.state_dict(), backend)
    assert all(target.slots[name] is buffers[name] for name in buffers)
    np.testing.assert_array_equal(target.slots["m"], source.slots["m"])


def test_load_state_from_another_backend():
    source = RMSprop(0.01, momentum=0.9)
    source_params, grads = problem(np.float64)
    target_params = source_params.copy()
    source.apply(get_backend("reference"), source_params, grads[0].copy())
    target = RMSprop(0.01, momentum=0.9)
    target.load_state_dict(source.state_dict(), get_backend("cpu"))
    target_params[:] = source_params
    source.apply(get_backend("reference"), source_params, grads[1].copy())
    target.apply(get_backend("cpu"), target_params, grads[1].copy())
    np.testing.assert_allclose(target_params, source_params, **TOLERANCE[np.float64])


def test_state_of_unbuilt_optimizer_loads_into_unbuilt_optimizer(backend):
    target = Adam()
    target.load_state_dict({"iterations": 0, "slots": {}}, backend)
    assert target.iterations == 0 and target.slots == {}


def built_adam(backend, n=3, dtype=np.float64) -> Adam:
    optimizer = Adam()
    optimizer.apply(backend, np.ones(n, dtype=dtype), np.ones(n, dtype=dtype))
    return optimizer


def good_state(n=3, dtype=np.float64) -> dict:
    return {"iterations": 5, "slots": {"m": np.zeros(n, dtype), "v": np.zeros(n, dtype)}}


BAD_STATES: List = [
    ([1, 2], TypeError, r"state: expected a dict \{\"iterations\": int, \"slots\""),
    ({"iterations": 1}, TypeError, r"got \['iterations'\]"),
    ({**good_state(), "extra": 1}, TypeError, r"got \['extra', 'iterations', 'slots'\]"),
    ({**good_state(), "iterations": -1}, ValueError,
     r"state\['iterations'\]: expected an integer in \[0, 2\*\*53\], got -1"),
    ({**good_state(), "iterations": "5"}, TypeError, r"state\['iterations'\]: .* got '5'"),
    ({"iterations": 5, "slots": {"m": np.zeros(3)}}, ValueError,
     r"state\['slots'\]: expected the slots \['m', 'v'\] of this Adam, got \['m'\]"),
    ({"iterations": 5, "slots": {"m": np.zeros(3), "velocity": np.zeros(3)}}, ValueError,
     r"got \['m', 'velocity'\]"),
    ({"iterations": 5, "slots": {}}, ValueError, r"got \[\]"),
    (good_state(n=4), ValueError,
     r"state\['slots'\]\['m'\]: expected a float64 array of shape \(3,\), "
     r"got float64 array of shape \(4,\)"),
    (good_state(dtype=np.float32), ValueError, r"got float32 array of shape \(3,\)"),
    ({"iterations": 5, "slots": {"m": np.zeros(3), "v": np.zeros((3, 1))}}, ValueError,
     r"state\['slots'\]\['v'\]: .* got float64 array of shape \(3, 1\)"),
]


@pytest.mark.parametrize("state, error, message", BAD_STATES,
                         ids=[f"bad{i}" for i in range(len(BAD_STATES))])
def test_load_state_dict_rejects_mismatches_and_changes_nothing(state, error, message, backend):
    optimizer = built_adam(backend)
    before = optimizer.state_dict()
    with pytest.raises(error, match=message):
        optimizer.load_state_dict(state, backend)
    assert optimizer.iterations == before["iterations"]
    for name, value in before["slots"].items():
        np.testing.assert_array_equal(optimizer.slots[name], value)


@pytest.mark.parametrize("slots, message", [
    ({"m": np.zeros((2, 2)), "v": np.zeros((2, 2))},
     r"state\['slots'\]\['m'\]: expected a non-empty 1-D float32 or float64 array, "
     r"got float64 array of shape \(2, 2\)"),
    ({"m": np.zeros(3, dtype=np.int64), "v": np.zeros(3, dtype=np.int64)},
     r"got int64 array of shape \(3,\)"),
    ({"m": np.zeros(3), "v": np.zeros(2)}, r"state\['slots'\]\['v'\]: expected a float64 array "
                                           r"of shape \(3,\)"),
])
def test_load_into_unbuilt_optimizer_checks_the_slots(slots, message, backend):
    optimizer = Adam()
    with pytest.raises(ValueError, match=message):
        optimizer.load_state_dict({"iterations": 1, "slots": slots}, backend)
    assert optimizer.slots == {} and optimizer.iterations == 0


# --------------------------------------------------------------------- get
@pytest.mark.parametrize("name, cls", [("sgd", SGD), ("Adam", Adam), ("ADAMW", AdamW),
                                       ("rmsprop", RMSprop), ("Adagrad", Adagrad)])
def test_get_by_name_gives_defaults(name, cls):
    optimizer = optimizers.get(name)
    assert type(optimizer) is cls
    assert optimizer.get_config() == cls().get_config()


def test_get_by_dict_and_instance():
    optimizer = Adam(0.01, amsgrad=True, clipnorm=2.0)
    assert optimizers.get(optimizer) is optimizer
    rebuilt = optimizers.get(json.loads(json.dumps(optimizers.serialize(optimizer))))
    assert type(rebuilt) is Adam and rebuilt is not optimizer
    assert rebuilt.get_config() == optimizer.get_config()
    assert optimizers.get({"class_name": "sgd", "config": {"momentum": 0.5}}).momentum == 0.5


def test_get_unknown_name_lists_valid_ones():
    with pytest.raises(ValueError, match=r"optimizer: expected one of \['adagrad', 'adam', "
                                         r"'adamax', 'adamw', 'nadam', 'rmsprop', 'sgd'\] "
                                         r"\(case-insensitive\), got 'adadelta'"):
        optimizers.get("adadelta")
    with pytest.raises(ValueError, match=r"class_name: expected one of .* got 'Lion'"):
        optimizers.get({"class_name": "Lion", "config": {}})


@pytest.mark.parametrize("identifier", [42, None, ["adam"]])
def test_get_rejects_other_types(identifier):
    with pytest.raises(TypeError, match="optimizer: expected an Optimizer, a name in"):
        optimizers.get(identifier)


def test_serialize_rejects_non_optimizers():
    with pytest.raises(TypeError, match="optimizer: expected an mlp.optimizers.Optimizer"):
        optimizers.serialize("adam")


# -------------------------------------------------------------- validation
BAD_HYPERPARAMETERS = [
    (lambda: SGD(0), ValueError,
     r"learning_rate: expected a number > 0 or a schedule \(a callable of the step\), got 0"),
    (lambda: SGD(math.nan), ValueError, "learning_rate: .* got nan"),
    (lambda: SGD("fast"), TypeError, "learning_rate: .* got 'fast'"),
    (lambda: SGD(ExponentialDecay), TypeError, "learning_rate: .* got <class"),
    (lambda: SGD(momentum=1.0), ValueError, r"momentum: expected a number in \[0, 1\), got 1.0"),
    (lambda: SGD(momentum=-0.1), ValueError, r"momentum: .* got -0.1"),
    (lambda: SGD(nesterov=True), ValueError,
     r"nesterov: expected False when momentum is 0 \(Nesterov needs momentum > 0\), got True"),
    (lambda: SGD(momentum=0.9, nesterov="yes"), TypeError,
     "nesterov: expected True or False, got 'yes'"),
    (lambda: SGD(weight_decay=-1), ValueError,
     "weight_decay: expected a finite number >= 0, got -1"),
    (lambda: Adam(beta_1=1.0), ValueError, r"beta_1: expected a number in \[0, 1\), got 1.0"),
    (lambda: Adam(beta_2=-0.5), ValueError, r"beta_2: .* got -0.5"),
    (lambda: Adam(epsilon=0), ValueError, "epsilon: expected a finite number > 0, got 0"),
    (lambda: Adam(amsgrad=1), TypeError, "amsgrad: expected True or False, got 1"),
    (lambda: AdamW(weight_decay=-0.1), ValueError, "weight_decay: .* got -0.1"),
    (lambda: RMSprop(rho=1.0), ValueError, r"rho: expected a number in \[0, 1\), got 1.0"),
    (lambda: RMSprop(momentum=1.5), ValueError, "momentum: .* got 1.5"),
    (lambda: RMSprop(epsilon=-1e-7), ValueError, "epsilon: .* got -1e-07"),
    (lambda: RMSprop(centered=None), TypeError, "centered: expected True or False, got None"),
    (lambda: Adagrad(initial_accumulator_value=-0.1), ValueError,
     "initial_accumulator_value: expected a finite number >= 0, got -0.1"),
    (lambda: Adagrad(epsilon=math.nan), ValueError, "epsilon: .* got nan"),
    (lambda: Adam(clipnorm=0), ValueError, "clipnorm: expected a finite number > 0, got 0"),
    (lambda: Adam(clipvalue=-1.0), ValueError, "clipvalue: .* got -1.0"),
    (lambda: Adam(global_clipnorm=math.inf), ValueError, "global_clipnorm: .* got inf"),
    (lambda: Adam(clipnorm="1"), TypeError, "clipnorm: .* got '1'"),
    (lambda: Adam(clipnorm=1.0, global_clipnorm=2.0), ValueError,
     r"clipnorm, global_clipnorm: expected at most one of them set, got \(1.0, 2.0\)"),
]


@pytest.mark.parametrize("build, error, message", BAD_HYPERPARAMETERS,
                         ids=[case[2][:30] for case in BAD_HYPERPARAMETERS])
def test_constructor_validation_messages(build, error, message):
    with pytest.raises(error, match=message):
        build()


def test_clipvalue_with_clipnorm_is_allowed():
    optimizer = SGD(clipvalue=1.0, clipnorm=2.0)
    assert (optimizer.clipvalue, optimizer.clipnorm) == (1.0, 2.0)


# ------------------------------------------------------------- kernel_spec
KERNEL_SPECS = [
    (SGD(0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
     {"kind": "sgd", "momentum": 0.9, "nesterov": True, "weight_decay": 0.01}),
    (Adam(amsgrad=True, weight_decay=0.1),
     {"kind": "adam", "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7, "weight_decay": 0.1,
      "decoupled": False, "amsgrad": True}),
    (AdamW(),
     {"kind": "adam", "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7, "weight_decay": 0.004,
      "decoupled": True, "amsgrad": False}),
    (RMSprop(rho=0.8, momentum=0.5, centered=True),
     {"kind": "rmsprop", "rho": 0.8, "epsilon": 1e-7, "momentum": 0.5, "centered": True,
      "weight_decay": 0.0}),
    (Adagrad(epsilon=1e-6),
     {"kind": "adagrad", "epsilon": 1e-6, "weight_decay": 0.0}),
]


@pytest.mark.parametrize("optimizer, expected", KERNEL_SPECS,
                         ids=[type(o).__name__ for o, _ in KERNEL_SPECS])
def test_kernel_spec_contents(optimizer, expected):
    assert optimizer.kernel_spec() == expected


UPDATE_BUFFERS = {"sgd": ("velocity",), "adam": ("m", "v", "v_max"),
                  "rmsprop": ("mean_square", "velocity", "mean_grad"), "adagrad": ("accumulator",)}
"""Each backend update's state-buffer arguments (those a slot may fill; the rest get None)."""


@pytest.mark.parametrize("name", list(CASES))
def test_kernel_spec_drives_the_backend_update_like_apply(name, backend, dtype):
    """A fused engine calling ``<kind>_update(**spec)`` itself takes the steps ``apply`` takes."""
    by_apply, by_spec = CASES[name].make(SCHEDULE), CASES[name].make(SCHEDULE)
    params, grads = problem(dtype)
    engine_params = params.copy()
    by_spec.build(N_PARAMS, dtype, backend)
    spec = by_spec.kernel_spec()
    update = getattr(backend, f"{spec.pop('kind')}_update")
    for t in range(N_STEPS):
        by_apply.apply(backend, params, grads[t].copy())
        buffers = {arg: by_spec.slots.get(arg) for arg in UPDATE_BUFFERS[by_spec.kind]}
        step = {"step": t + 1} if by_spec.kind == "adam" else {}
        update(engine_params, grads[t].copy(), lr=by_spec.learning_rate_at(t), **buffers,
               **step, **spec)
    np.testing.assert_array_equal(engine_params, params)
