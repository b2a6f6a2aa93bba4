"""Regularizers: penalties worked out by hand, Keras defaults, get/serialize, validation."""
import doctest
import json

import numpy as np
import pytest

from mlp.nn import regularizers
from mlp.regularizers import L1, L1L2, L2, REGULARIZERS, Regularizer, l1, l1_l2, l2

# sum |w| = 1 + 2 + 3 + 4 = 10, sum w**2 = 1 + 4 + 9 + 16 = 30
W = np.array([[1.0, -2.0], [3.0, -4.0]])


@pytest.mark.parametrize("reg, penalty", [
    (L1L2(l1=0.5, l2=0.25), 0.5 * 10 + 0.25 * 30),
    (L1L2(l1=0.5), 5.0),
    (L1L2(l2=0.25), 7.5),
    (L1L2(), 0.0),
    (L1(0.1), 1.0),
    (L2(0.1), 3.0),
    (l1_l2(), 0.01 * 10 + 0.01 * 30),
])
def test_penalty_is_l1_sum_abs_plus_l2_sum_squares(reg, penalty):
    assert reg(W) == pytest.approx(penalty, rel=1e-15)


def test_penalty_of_a_vector_and_of_a_list():
    assert L1L2(l1=1.0, l2=1.0)([0.5, -1.5]) == pytest.approx((0.5 + 1.5) + (0.25 + 2.25))


def test_penalty_is_a_python_float_computed_in_float64():
    w = np.array([1e20, -1e20], dtype=np.float32)  # each square overflows float32
    penalty = L2(1.0)(w)
    assert type(penalty) is float
    assert penalty == pytest.approx(2 * float(np.float32(1e20)) ** 2, rel=1e-12)
    small = np.full(1_000_000, 0.1, dtype=np.float32)
    assert L1(1.0)(small) == pytest.approx(1_000_000 * float(np.float32(0.1)), rel=1e-12)


def test_a_zero_coefficient_ignores_the_matching_term():
    assert L1(1.0)(np.array([np.inf])) == np.inf
    assert L2(1.0)(np.array([-3.0])) == 9.0


def test_keras_defaults():
    assert (l1().l1, l1().l2) == (0.01, 0.0)
    assert (l2().l1, l2().l2) == (0.0, 0.01)
    assert (l1_l2().l1, l1_l2().l2) == (0.01, 0.01)
    assert (L1().l1, L2().l2) == (0.01, 0.01)
    assert (L1L2().l1, L1L2().l2) == (0.0, 0.0)


@pytest.mark.parametrize("reg", [L1(0.3), L2(0.3), L1L2(0.1, 0.2), l1(), l2(), l1_l2()])
def test_every_regularizer_has_the_float_attributes_the_engine_reads(reg):
    assert type(reg.l1) is float and type(reg.l2) is float
    assert isinstance(reg, L1L2) and isinstance(reg, Regularizer)


def test_coefficients_are_stored_as_floats():
    reg = L1L2(l1=1, l2=np.float32(0.5))
    assert (reg.l1, reg.l2) == (1.0, 0.5)
    assert type(reg.l1) is float and type(reg.l2) is float


def test_factories_return_the_matching_classes():
    assert type(l1(0.2)) is L1 and l1(0.2).l1 == 0.2
    assert type(l2(0.2)) is L2 and l2(0.2).l2 == 0.2
    assert type(l1_l2(0.2, 0.3)) is L1L2 and (l1_l2(0.2, 0.3).l1, l1_l2(0.2, 0.3).l2) == (0.2, 0.3)


@pytest.mark.parametrize("name, cls, coefficients", [
    ("l1", L1, (0.01, 0.0)),
    ("l2", L2, (0.0, 0.01)),
    ("l1_l2", L1L2, (0.01, 0.01)),
])
def test_get_by_name(name, cls, coefficients):
    reg = regularizers.get(name)
    assert type(reg) is cls
    assert (reg.l1, reg.l2) == coefficients


def test_get_none_is_none_and_an_instance_is_returned_unchanged():
    assert regularizers.get(None) is None
    reg = L2(0.5)
    assert regularizers.get(reg) is reg


@pytest.mark.parametrize("reg", [L1(0.3), L2(0.004), L1L2(0.1, 0.2), L1L2()])
def test_serialize_then_get_round_trips_through_json(reg):
    data = json.loads(json.dumps(regularizers.serialize(reg)))
    again = regularizers.get(data)
    assert type(again) is type(reg)
    assert (again.l1, again.l2) == (reg.l1, reg.l2)


def test_serialize_writes_class_name_and_config():
    assert regularizers.serialize(L1(0.3)) == {"class_name": "L1", "config": {"l1": 0.3}}
    assert regularizers.serialize(L1L2(0.1, 0.2)) == {
        "class_name": "L1L2", "config": {"l1": 0.1, "l2": 0.2}}
    assert regularizers.get({"class_name": "L2"}).l2 == 0.01


def test_repr_shows_the_config():
    assert repr(L1L2(0.1, 0.2)) == "L1L2(l1=0.1, l2=0.2)"
    assert repr(L2()) == "L2(l2=0.01)"


def test_an_unknown_name_lists_the_supported_ones():
    with pytest.raises(ValueError, match="unknown regularizer 'l3'") as err:
        regularizers.get("l3")
    assert str(list(REGULARIZERS)) in str(err.value)
    assert list(REGULARIZERS) == ["l1", "l2", "l1_l2"]


def test_bad_dicts_name_what_is_wrong():
    expected = r"'class_name' to be one of \['L1', 'L2', 'L1L2'\], got 'L3'"
    with pytest.raises(ValueError, match=expected):
        regularizers.get({"class_name": "L3", "config": {}})
    with pytest.raises(ValueError, match="got None"):
        regularizers.get({"config": {}})
    with pytest.raises(TypeError, match="'config' to be a dict, got str"):
        regularizers.get({"class_name": "L1", "config": "0.1"})
    with pytest.raises(TypeError, match="identifier: bad config for L1: .*'l2'"):
        regularizers.get({"class_name": "L1", "config": {"l2": 0.1}})


@pytest.mark.parametrize("identifier", [0.01, ["l1"], L1L2])
def test_get_rejects_other_types(identifier):
    with pytest.raises(TypeError, match="identifier: expected None, a regularizer name"):
        regularizers.get(identifier)


def test_serialize_rejects_a_non_regularizer():
    with pytest.raises(TypeError, match="regularizer: expected a Regularizer instance, got str"):
        regularizers.serialize("l1")


@pytest.mark.parametrize("make, error, message", [
    (lambda: L1L2(l1=-0.1), ValueError, "l1: expected a finite number >= 0, got -0.1"),
    (lambda: L1L2(l2=float("nan")), ValueError, "l2: expected a finite number >= 0, got nan"),
    (lambda: L1(float("inf")), ValueError, "l1: expected a finite number >= 0, got inf"),
    (lambda: L2(-1), ValueError, "l2: expected a finite number >= 0, got -1"),
    (lambda: l1_l2(l2="0.1"), TypeError, "l2: expected a finite number >= 0, got str '0.1'"),
    (lambda: l1(None), TypeError, "l1: expected a finite number >= 0, got NoneType None"),
    (lambda: l2(True), TypeError, "l2: expected a finite number >= 0, got bool True"),
])
def test_bad_coefficients_name_the_argument_and_the_value(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_the_docstring_examples_run():
    result = doctest.testmod(regularizers)
    assert result.attempted > 0
    assert result.failed == 0
