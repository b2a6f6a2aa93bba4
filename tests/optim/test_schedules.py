"""Tests of ``mlp.schedules``: values at chosen steps worked out by hand, validation and
serialisation."""
from __future__ import annotations

import json
import math

import pytest

from mlp import schedules
from mlp.schedules import (
    CosineDecay,
    ExponentialDecay,
    InverseTimeDecay,
    LearningRateSchedule,
    PiecewiseConstantDecay,
    StepDecay,
)

# Each case: a schedule and {step: expected rate}, the rates worked out by hand in the comment.
VALUE_CASES = [
    # 0.1 * 0.5 ** (step / 10): 0.5 ** 0.5 = 0.70710678..., 0.5 ** 2.5 = 0.17677669...
    (ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5),
     {0: 0.1, 5: 0.07071067811865475, 10: 0.05, 25: 0.017677669529663688}),
    # Staircase: exponent floor(step / 10): 0, 0, 1, 2.
    (ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5, staircase=True),
     {0: 0.1, 9: 0.1, 10: 0.05, 25: 0.025}),
    # 1 / (1 + 0.5 * step / 2): steps 1, 2, 6 give 1/1.25, 1/1.5, 1/2.5.
    (InverseTimeDecay(1.0, decay_steps=2, decay_rate=0.5),
     {0: 1.0, 1: 0.8, 2: 2 / 3, 6: 0.4}),
    # Staircase: floor(step / 2) = 0, 1, 3 for steps 1, 3, 6.
    (InverseTimeDecay(1.0, decay_steps=2, decay_rate=0.5, staircase=True),
     {1: 1.0, 3: 2 / 3, 6: 0.4}),
    # A boundary belongs to the interval it ends (Keras: step <= boundary).
    (PiecewiseConstantDecay([10, 20], [0.1, 0.01, 0.001]),
     {0: 0.1, 10: 0.1, 11: 0.01, 20: 0.01, 21: 0.001, 1000: 0.001}),
    # 0.5 * 0.1 ** floor(step / 3).
    (StepDecay(0.5, step_size=3),
     {0: 0.5, 2: 0.5, 3: 0.05, 5: 0.05, 6: 0.005, 9: 0.0005}),
    (StepDecay(2.0, step_size=1, gamma=0.5), {0: 2.0, 1: 1.0, 3: 0.25}),
    # 0.8 * 0.5 * (1 + cos(pi * step / 4)) + 0.2: cos(pi/4) = 0.70710678... gives 0.88284271...;
    # step 2 gives 0.8 * 0.5 + 0.2 = 0.6; from step 4 on it stays at alpha * 1.0 = 0.2.
    (CosineDecay(1.0, decay_steps=4, alpha=0.2),
     {0: 1.0, 1: 0.882842712474619, 2: 0.6, 4: 0.2, 10: 0.2}),
    # Warmup 0 -> 2 over 4 steps (0.5 per step), then cosine from 2 to 0 over 4 steps.
    (CosineDecay(0.0, decay_steps=4, warmup_target=2.0, warmup_steps=4),
     {0: 0.0, 1: 0.5, 2: 1.0, 3: 1.5, 4: 2.0, 6: 1.0, 8: 0.0, 100: 0.0}),
    # Warmup 1 -> 3 over 2 steps, then decay from 3 to alpha * 3 = 1.5 over 2 steps.
    (CosineDecay(1.0, decay_steps=2, alpha=0.5, warmup_target=3.0, warmup_steps=2),
     {1: 2.0, 2: 3.0, 3: 2.25, 4: 1.5, 50: 1.5}),
]


@pytest.mark.parametrize("schedule, expected", VALUE_CASES, ids=lambda x: repr(x)[:40])
def test_values_at_chosen_steps(schedule, expected):
    for step, value in expected.items():
        got = schedule(step)
        assert isinstance(got, float), f"step {step}: {type(got).__name__} is not a float"
        assert got == pytest.approx(value, rel=1e-12, abs=1e-15), f"step {step}"


def test_piecewise_constant_accepts_float_boundaries():
    schedule = PiecewiseConstantDecay([1.5], [1.0, 0.25])
    assert [schedule(step) for step in range(3)] == [1.0, 1.0, 0.25]


ROUND_TRIP_SCHEDULES = [case[0] for case in VALUE_CASES]


@pytest.mark.parametrize("schedule", ROUND_TRIP_SCHEDULES, ids=lambda x: repr(x)[:40])
def test_serialize_deserialize_round_trip(schedule):
    text = json.dumps(schedules.serialize(schedule))
    rebuilt = schedules.deserialize(json.loads(text))
    assert type(rebuilt) is type(schedule)
    assert rebuilt.get_config() == schedule.get_config()
    assert [rebuilt(step) for step in range(30)] == [schedule(step) for step in range(30)]


def test_serialize_writes_class_name_and_config():
    assert schedules.serialize(StepDecay(0.5, step_size=3)) == {
        "class_name": "StepDecay",
        "config": {"initial_learning_rate": 0.5, "step_size": 3, "gamma": 0.1},
    }


def test_from_config_rebuilds_equal_schedule():
    schedule = CosineDecay(0.0, 10, alpha=0.1, warmup_target=1.0, warmup_steps=5)
    rebuilt = CosineDecay.from_config(schedule.get_config())
    assert rebuilt.get_config() == schedule.get_config()
    assert rebuilt(7) == schedule(7)


def test_deserialize_ignores_extra_keys_like_keras_writes():
    config = {"module": "keras.optimizers.schedules", "class_name": "ExponentialDecay",
              "config": {"initial_learning_rate": 1.0, "decay_steps": 1, "decay_rate": 0.5},
              "registered_name": None}
    assert schedules.deserialize(config)(2) == 0.25


def test_deserialize_unknown_class_lists_valid_names():
    with pytest.raises(ValueError) as info:
        schedules.deserialize({"class_name": "LinearWarmup", "config": {}})
    message = str(info.value)
    assert "class_name" in message and "'LinearWarmup'" in message
    for name in ("CosineDecay", "ExponentialDecay", "InverseTimeDecay",
                 "PiecewiseConstantDecay", "StepDecay"):
        assert name in message


@pytest.mark.parametrize("config", [None, "ExponentialDecay", {"class_name": "StepDecay"}])
def test_deserialize_rejects_malformed_dicts(config):
    with pytest.raises(TypeError, match='config: expected a dict with the keys "class_name"'):
        schedules.deserialize(config)


def test_from_config_rejects_non_dict():
    with pytest.raises(TypeError, match="config: expected a dict of constructor arguments"):
        StepDecay.from_config([0.1, 3])


def test_plain_callable_cannot_be_serialised():
    with pytest.raises(TypeError, match="plain callables cannot be serialised"):
        schedules.serialize(lambda step: 0.1)


def test_subclass_without_get_config_says_so():
    class Constant(LearningRateSchedule):
        def __call__(self, step):
            return 0.1

    with pytest.raises(NotImplementedError, match="Constant.get_config: not implemented"):
        schedules.serialize(Constant())


def test_repr_shows_arguments():
    assert repr(StepDecay(0.5, step_size=3)) == (
        "StepDecay(initial_learning_rate=0.5, step_size=3, gamma=0.1)")


BAD_ARGUMENTS = [
    (lambda: ExponentialDecay(-0.1, 10, 0.5), ValueError,
     "initial_learning_rate: expected a finite number >= 0, got -0.1"),
    (lambda: ExponentialDecay("0.1", 10, 0.5), TypeError,
     "initial_learning_rate: expected a finite number >= 0, got '0.1'"),
    (lambda: ExponentialDecay(math.nan, 10, 0.5), ValueError, "initial_learning_rate: .* got nan"),
    (lambda: ExponentialDecay(0.1, 0, 0.5), ValueError,
     "decay_steps: expected a finite number > 0, got 0"),
    (lambda: ExponentialDecay(0.1, 10, 0.0), ValueError,
     "decay_rate: expected a finite number > 0, got 0.0"),
    (lambda: ExponentialDecay(0.1, 10, 0.5, staircase="yes"), TypeError,
     "staircase: expected True or False, got 'yes'"),
    (lambda: InverseTimeDecay(0.1, 10, -1.0), ValueError,
     "decay_rate: expected a finite number >= 0, got -1.0"),
    (lambda: InverseTimeDecay(0.1, -5, 1.0), ValueError, "decay_steps: .* got -5"),
    (lambda: PiecewiseConstantDecay([20, 10], [1.0, 0.5, 0.1]), ValueError,
     r"boundaries: expected a non-empty, strictly increasing sequence of numbers, got \[20, 10\]"),
    (lambda: PiecewiseConstantDecay([], [1.0]), ValueError, r"boundaries: .* got \[\]"),
    (lambda: PiecewiseConstantDecay(10, [1.0, 0.5]), TypeError, "boundaries: .* got 10"),
    (lambda: PiecewiseConstantDecay([10], [1.0]), ValueError,
     r"values: expected a sequence of 2 numbers >= 0 \(one more than boundaries\), got \[1.0\]"),
    (lambda: PiecewiseConstantDecay([10], [1.0, -0.5]), ValueError,
     r"values\[1\]: expected a finite number >= 0, got -0.5"),
    (lambda: PiecewiseConstantDecay([10, "20"], [1.0, 0.5, 0.1]), TypeError,
     r"boundaries\[1\]: expected a finite number, got '20'"),
    (lambda: StepDecay(0.1, step_size=0), ValueError, "step_size: expected an integer >= 1, got 0"),
    (lambda: StepDecay(0.1, step_size=2.5), TypeError,
     "step_size: expected an integer >= 1, got 2.5"),
    (lambda: StepDecay(0.1, step_size=2, gamma=0), ValueError,
     "gamma: expected a finite number > 0, got 0"),
    (lambda: CosineDecay(0.1, 0), ValueError, "decay_steps: expected a finite number > 0, got 0"),
    (lambda: CosineDecay(0.1, 10, alpha=1.5), ValueError,
     r"alpha: expected a number in \[0, 1\], got 1.5"),
    (lambda: CosineDecay(0.1, 10, warmup_target=-1.0, warmup_steps=5), ValueError,
     "warmup_target: expected a finite number >= 0, got -1.0"),
    (lambda: CosineDecay(0.1, 10, warmup_target=1.0, warmup_steps=-1), ValueError,
     "warmup_steps: expected a finite number >= 0, got -1"),
    (lambda: CosineDecay(0.1, 10, warmup_steps=5), ValueError,
     r"warmup_steps: expected 0 when warmup_target is None \(set warmup_target to warm up\), "
     r"got 5"),
]


@pytest.mark.parametrize("build, error, message", BAD_ARGUMENTS,
                         ids=[case[2][:40] for case in BAD_ARGUMENTS])
def test_constructor_validation_messages(build, error, message):
    with pytest.raises(error, match=message):
        build()


def test_cosine_decay_with_explicit_no_warmup():
    schedule = CosineDecay(2.0, decay_steps=2, warmup_target=None, warmup_steps=0)
    assert [schedule(step) for step in range(4)] == [2.0, 1.0, 0.0, 0.0]
