"""Initializers: shapes and dtypes, reproducibility, the statistics Keras defines, get/serialize."""
import doctest
import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import ndtr
from scipy.stats import truncnorm

from mlp.nn import initializers
from mlp.initializers import (
    INITIALIZERS,
    TRUNCATED_NORMAL_STDDEV,
    Constant,
    GlorotNormal,
    GlorotUniform,
    HeNormal,
    HeUniform,
    Initializer,
    LecunNormal,
    LecunUniform,
    Ones,
    RandomNormal,
    RandomUniform,
    VarianceScaling,
    Zeros,
    compute_fans,
)

SHAPE = (300, 500)
FAN_IN, FAN_OUT = SHAPE

# class -> (variance Keras defines for SHAPE, is it a truncated normal)
SCALING = {
    GlorotUniform: (2 / (FAN_IN + FAN_OUT), False),
    GlorotNormal: (2 / (FAN_IN + FAN_OUT), True),
    HeUniform: (2 / FAN_IN, False),
    HeNormal: (2 / FAN_IN, True),
    LecunUniform: (1 / FAN_IN, False),
    LecunNormal: (1 / FAN_IN, True),
}


def rng(seed=0):
    return np.random.default_rng(seed)


@pytest.mark.parametrize("name", INITIALIZERS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(3, 4), (7,), (1, 1)])
def test_every_initializer_returns_its_shape_and_dtype(name, dtype, shape):
    values = initializers.get(name)(shape, dtype, rng())
    assert values.shape == shape
    assert values.dtype == dtype
    assert values.flags.c_contiguous
    assert np.isfinite(values).all()


def test_an_int_shape_means_a_vector_and_the_default_dtype_is_float32():
    values = GlorotUniform()(5, rng=rng())
    assert values.shape == (5,)
    assert values.dtype == np.float32


def test_float32_values_are_the_float64_draws_cast():
    init = HeNormal()
    single = init(SHAPE, np.float32, rng(3))
    assert np.array_equal(single, init(SHAPE, np.float64, rng(3)).astype(np.float32))


@pytest.mark.parametrize("name", ["glorot_uniform", "he_normal", "lecun_normal", "random_normal",
                                  "random_uniform"])
def test_the_same_seed_gives_the_same_values_and_another_seed_others(name):
    init = initializers.get(name)
    assert np.array_equal(init((20, 10), "float64", rng(7)), init((20, 10), "float64", rng(7)))
    assert not np.array_equal(init((20, 10), "float64", rng(7)), init((20, 10), "float64", rng(8)))


def test_without_an_rng_each_call_draws_fresh_values():
    init = RandomNormal()
    assert not np.array_equal(init((50,)), init((50,)))


@pytest.mark.parametrize("cls", list(SCALING))
def test_variance_scaling_family_has_the_keras_variance(cls):
    variance, _ = SCALING[cls]
    values = cls()(SHAPE, np.float64, rng(1))
    assert values.mean() == pytest.approx(0.0, abs=0.02 * math.sqrt(variance))
    assert values.var() == pytest.approx(variance, rel=0.02)


@pytest.mark.parametrize("cls", [cls for cls, (_, normal) in SCALING.items() if not normal])
def test_uniform_variants_stay_within_the_keras_limit_and_fill_it(cls):
    variance, _ = SCALING[cls]
    limit = math.sqrt(3 * variance)
    values = cls()(SHAPE, np.float64, rng(2))
    assert np.abs(values).max() <= limit
    assert np.abs(values).max() > 0.999 * limit


@pytest.mark.parametrize("cls", [cls for cls, (_, normal) in SCALING.items() if normal])
def test_normal_variants_are_truncated_at_two_stddev_by_redrawing_not_clipping(cls):
    variance, _ = SCALING[cls]
    stddev = math.sqrt(variance) / TRUNCATED_NORMAL_STDDEV
    values = cls()(SHAPE, np.float64, rng(4))
    assert np.abs(values).max() <= 2 * stddev
    # clipping would pile 4.6 % of the values on the bounds; a truncated normal puts 0.11 % in
    # the last hundredth of a stddev, and near the bounds it keeps the density of a normal
    assert np.mean(np.abs(values) > 1.99 * stddev) < 0.002
    near = 2 * (ndtr(2) - ndtr(1.9)) / (ndtr(2) - ndtr(-2))
    assert np.mean(np.abs(values) > 1.9 * stddev) == pytest.approx(near, rel=0.1)


def test_the_stddev_correction_is_the_stddev_of_a_standard_normal_cut_at_two():
    assert TRUNCATED_NORMAL_STDDEV == pytest.approx(truncnorm(-2, 2).std(), rel=1e-12)


def test_a_truncated_normal_has_the_target_stddev():
    values = VarianceScaling(scale=3.0)((10_000,), np.float64, rng(5))  # fan_in = 10_000
    assert values.std() == pytest.approx(math.sqrt(3 / 10_000), rel=0.03)


@pytest.mark.parametrize("shape, fans", [((3, 5), (3, 5)), ((7,), (7, 7))])
def test_fans_follow_keras(shape, fans):
    assert compute_fans(shape) == fans


def test_fan_out_mode_uses_the_units():
    values = VarianceScaling(scale=1.0, mode="fan_out", distribution="uniform")((4, 100), "float64",
                                                                                rng())
    assert np.abs(values).max() <= math.sqrt(3 / 100)
    assert np.abs(values).max() > math.sqrt(3 / 100) * 0.9


def test_a_vector_uses_its_length_as_both_fans():
    values = HeUniform()((10_000,), np.float64, rng(6))
    assert np.abs(values).max() <= math.sqrt(6 / 10_000)
    assert values.var() == pytest.approx(2 / 10_000, rel=0.05)


def test_an_empty_dimension_draws_an_empty_array_without_dividing_by_zero():
    assert GlorotNormal()((0, 4), np.float32, rng()).shape == (0, 4)


@given(rows=st.integers(1, 40), cols=st.integers(1, 40), seed=st.integers(0, 2**32 - 1))
@settings(max_examples=50, deadline=None)
def test_glorot_uniform_is_always_within_its_limit(rows, cols, seed):
    values = GlorotUniform()((rows, cols), np.float64, rng(seed))
    assert np.abs(values).max() <= math.sqrt(6 / (rows + cols))


def test_constant_initializers_are_exact():
    assert np.array_equal(Zeros()((2, 3), np.float32), np.zeros((2, 3), np.float32))
    assert np.array_equal(Ones()((4,), np.float64), np.ones(4))
    assert np.array_equal(Constant(-0.25)((2, 2), np.float64), np.full((2, 2), -0.25))
    assert Constant()((3,), np.float64).tolist() == [0.0, 0.0, 0.0]


def test_random_normal_has_its_mean_and_stddev():
    values = RandomNormal(mean=1.5, stddev=0.2)((200_000,), np.float64, rng())
    assert values.mean() == pytest.approx(1.5, abs=0.002)
    assert values.std() == pytest.approx(0.2, rel=0.01)
    # not truncated: some values lie beyond 3 stddev
    assert np.any(np.abs(values - 1.5) > 3 * 0.2)


def test_random_uniform_fills_its_range():
    values = RandomUniform(minval=2.0, maxval=3.0)((100_000,), np.float64, rng())
    assert values.min() >= 2.0 and values.max() < 3.0
    assert values.mean() == pytest.approx(2.5, abs=0.005)


def test_default_random_initializers_follow_keras():
    assert RandomNormal().get_config() == {"mean": 0.0, "stddev": 0.05}
    assert RandomUniform().get_config() == {"minval": -0.05, "maxval": 0.05}
    assert Constant().get_config() == {"value": 0.0}


@pytest.mark.parametrize("init", [
    Zeros(), Ones(), Constant(0.3), RandomNormal(0.1, 0.5), RandomUniform(-1.0, 2.0),
    VarianceScaling(2.0, "fan_avg", "uniform"), GlorotUniform(), GlorotNormal(), HeUniform(),
    HeNormal(), LecunUniform(), LecunNormal(),
])
def test_serialize_then_get_round_trips_through_json(init):
    data = json.loads(json.dumps(initializers.serialize(init)))
    again = initializers.get(data)
    assert type(again) is type(init)
    assert again.get_config() == init.get_config()
    assert np.array_equal(again((5, 3), np.float64, rng(9)), init((5, 3), np.float64, rng(9)))


def test_serialize_writes_class_name_and_config():
    assert initializers.serialize(RandomUniform(-1.0, 1.0)) == {
        "class_name": "RandomUniform", "config": {"minval": -1.0, "maxval": 1.0}}
    assert initializers.serialize(HeNormal()) == {"class_name": "HeNormal", "config": {}}


@pytest.mark.parametrize("name, cls", [
    ("glorot_uniform", GlorotUniform), ("glorot_normal", GlorotNormal), ("he_uniform", HeUniform),
    ("he_normal", HeNormal), ("lecun_uniform", LecunUniform), ("lecun_normal", LecunNormal),
    ("zeros", Zeros), ("ones", Ones), ("constant", Constant), ("random_normal", RandomNormal),
    ("normal", RandomNormal), ("random_uniform", RandomUniform), ("uniform", RandomUniform),
    ("GlorotUniform", GlorotUniform),
])
def test_get_by_name(name, cls):
    assert type(initializers.get(name)) is cls


def test_get_returns_an_instance_unchanged():
    init = Constant(2.0)
    assert initializers.get(init) is init


def test_get_a_dict_without_config_uses_the_defaults():
    assert initializers.get({"class_name": "he_uniform"}).get_config() == {}
    assert initializers.get({"class_name": "RandomNormal"}).stddev == 0.05


def test_an_unknown_name_lists_the_supported_ones():
    with pytest.raises(ValueError, match="unknown initializer 'glorot'") as err:
        initializers.get("glorot")
    assert "'glorot_uniform'" in str(err.value) and "'he_normal'" in str(err.value)
    with pytest.raises(ValueError, match="Supported initializers"):
        initializers.get({"class_name": "Identity", "config": {}})


@pytest.mark.parametrize("identifier", [None, 3, ["zeros"]])
def test_get_rejects_other_types(identifier):
    with pytest.raises(TypeError, match="identifier: expected an initializer name"):
        initializers.get(identifier)


def test_get_rejects_bad_dicts():
    with pytest.raises(ValueError, match="'class_name' and 'config', got keys \\['config'\\]"):
        initializers.get({"config": {}})
    with pytest.raises(TypeError, match="'config' to be a dict, got list"):
        initializers.get({"class_name": "Zeros", "config": [1]})
    with pytest.raises(TypeError, match="identifier: bad config for Zeros"):
        initializers.get({"class_name": "Zeros", "config": {"value": 1.0}})


def test_serialize_rejects_a_non_initializer():
    with pytest.raises(TypeError, match="initializer: expected an Initializer instance, got str"):
        initializers.serialize("zeros")


@pytest.mark.parametrize("make, error, message", [
    (lambda: RandomNormal(stddev=0.0), ValueError, "stddev: expected a number > 0, got 0.0"),
    (lambda: RandomNormal(stddev=-1), ValueError, "stddev: expected a number > 0, got -1"),
    (lambda: RandomNormal(mean=float("nan")), ValueError,
     "mean: expected a finite number, got nan"),
    (lambda: RandomUniform(1.0, 1.0), ValueError,
     "minval, maxval: expected minval < maxval, got minval=1.0, maxval=1.0"),
    (lambda: RandomUniform(maxval=float("inf")), ValueError, "maxval: expected a finite number"),
    (lambda: Constant(float("inf")), ValueError, "value: expected a finite number, got inf"),
    (lambda: Constant("1"), TypeError, "value: expected a real number, got str '1'"),
    (lambda: Constant(True), TypeError, "value: expected a real number, got bool"),
    (lambda: VarianceScaling(scale=0), ValueError, "scale: expected a number > 0, got 0"),
    (lambda: VarianceScaling(mode="fan"), ValueError, "mode: expected one of \\['fan_in'"),
    (lambda: VarianceScaling(distribution="normal"), ValueError,
     "distribution: expected one of \\['truncated_normal', 'uniform'\\], got 'normal'"),
])
def test_bad_arguments_name_the_argument_and_the_value(make, error, message):
    with pytest.raises(error, match=message):
        make()


@pytest.mark.parametrize("call, error, message", [
    (lambda: Zeros()((2, 2), np.int32), ValueError,
     "dtype: expected a floating dtype \\(float32, float64\\), got int32"),
    (lambda: Zeros()((2, 2), "banana"), TypeError,
     "dtype: expected a floating dtype, got 'banana'"),
    (lambda: Zeros()((2, -1)), ValueError,
     "shape: expected a tuple of non-negative ints, got \\(2, -1\\)"),
    (lambda: Zeros()((2.5,)), ValueError, "shape: expected a tuple of non-negative ints, got"),
    (lambda: Zeros()(None), TypeError,
     "shape: expected a tuple of non-negative ints, got NoneType"),
    (lambda: GlorotUniform()((2, 3, 4), "float32", rng()), ValueError,
     "shape: expected a 1-D \\(units,\\) or 2-D \\(inputs, units\\) shape, got \\(2, 3, 4\\)"),
    (lambda: GlorotUniform()((2, 3), "float32", 0), TypeError,
     "rng: expected a numpy.random.Generator or None, got int"),
])
def test_bad_call_arguments_name_the_argument_and_the_value(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_a_custom_initializer_only_implements_draw():
    class Arange(Initializer):
        def draw(self, shape, rng):
            return np.arange(np.prod(shape), dtype=np.float64).reshape(shape)

    assert Arange()((2, 2), np.float32).tolist() == [[0.0, 1.0], [2.0, 3.0]]
    assert repr(Arange()) == "Arange()"
    assert repr(RandomNormal()) == "RandomNormal(mean=0.0, stddev=0.05)"


def test_the_docstring_examples_run():
    result = doctest.testmod(initializers)
    assert result.attempted > 0
    assert result.failed == 0
