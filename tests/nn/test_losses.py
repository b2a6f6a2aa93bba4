"""Loss objects: values worked out by hand, reduction, lookup and serialisation."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

import mlp
from mlp import losses
from mlp.losses import (BinaryCrossentropy, CategoricalCrossentropy, Huber, Loss,
                        MeanAbsoluteError, MeanSquaredError, SparseCategoricalCrossentropy)

Y_REG = np.array([[1.0, 2.0], [3.0, 4.0]])
P_REG = np.array([[1.5, 2.0], [2.0, 4.0]])      # errors: (0.5, 0) and (-1, 0)


# ---------------------------------------------------------------------- regression
def test_mean_squared_error():
    # per sample: (0.25 + 0) / 2 = 0.125 and (1 + 0) / 2 = 0.5
    assert MeanSquaredError()(Y_REG, P_REG) == pytest.approx((0.125 + 0.5) / 2, rel=1e-15)


def test_mean_absolute_error():
    assert MeanAbsoluteError()(Y_REG, P_REG) == pytest.approx((0.25 + 0.5) / 2, rel=1e-15)


def test_huber_quadratic_and_linear_parts():
    # delta 1: |e| <= 1 everywhere: 0.5 e^2 -> (0.125 + 0) / 2, (0.5 + 0) / 2
    assert Huber()(Y_REG, P_REG) == pytest.approx((0.0625 + 0.25) / 2, rel=1e-15)
    # delta 0.5: e = 0.5 quadratic (0.125), e = -1 linear: 0.5 * (1 - 0.25) = 0.375
    assert Huber(delta=0.5)(Y_REG, P_REG) == pytest.approx((0.0625 + 0.1875) / 2, rel=1e-15)
    assert Huber(2.0).delta == 2.0


@pytest.mark.parametrize("delta", [0, -1, float("nan"), float("inf")])
def test_huber_delta_must_be_positive(delta):
    with pytest.raises(ValueError, match=r"delta: expected a finite number > 0"):
        Huber(delta=delta)


def test_sample_weights_reduce_as_sum_over_batch_size():
    # per-sample losses 0.125 and 0.5 weighted 1 and 3, divided by n = 2 (not by sum w)
    assert MeanSquaredError()(Y_REG, P_REG, sample_weight=[1.0, 3.0]) == pytest.approx(
        (0.125 + 1.5) / 2, rel=1e-15)
    assert MeanSquaredError()(Y_REG, P_REG, sample_weight=[0.0, 0.0]) == 0.0


def test_one_dimensional_predictions_are_one_output():
    assert MeanSquaredError()([1.0, 2.0], [2.0, 2.0]) == pytest.approx(0.5)
    assert MeanAbsoluteError()(np.array([[1.0], [2.0]]), [2.0, 2.5]) == pytest.approx(0.75)


# ------------------------------------------------------------------- classification
def test_binary_crossentropy_on_probabilities():
    value = BinaryCrossentropy()(np.array([1.0, 0.0]), np.array([0.9, 0.2]))
    assert value == pytest.approx(-(math.log(0.9) + math.log(0.8)) / 2, rel=1e-12)
    assert round(value, 4) == 0.1643


def test_binary_crossentropy_averages_over_outputs():
    y = np.array([[1.0, 0.0], [0.0, 0.0]])
    p = np.array([[0.9, 0.2], [0.5, 0.1]])
    per_sample = [-(math.log(0.9) + math.log(0.8)) / 2, -(math.log(0.5) + math.log(0.9)) / 2]
    assert BinaryCrossentropy()(y, p) == pytest.approx(np.mean(per_sample), rel=1e-12)


def test_binary_crossentropy_clips_probabilities():
    # p = 1 for a 0 target: clipped to 1 - 1e-7, loss -log(1e-7) (Keras' epsilon), not inf
    value = BinaryCrossentropy()([0.0], [1.0])
    assert value == pytest.approx(-math.log(1e-7), rel=1e-6)
    assert BinaryCrossentropy()([1.0], [1.0]) == pytest.approx(1e-7, rel=1e-3)


def test_binary_crossentropy_from_logits():
    # logits 0 and 2 for targets 1 and 0: log(2) and softplus(2)
    value = BinaryCrossentropy(from_logits=True)([1.0, 0.0], [0.0, 2.0])
    assert value == pytest.approx((math.log(2) + math.log1p(math.exp(2))) / 2, rel=1e-12)
    # stable for huge logits
    assert BinaryCrossentropy(from_logits=True)([0.0, 1.0], [1e4, -1e4]) == pytest.approx(1e4)


def test_categorical_crossentropy():
    y = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    p = np.array([[0.2, 0.7, 0.1], [0.5, 0.25, 0.25]])
    expected = -(math.log(0.7) + math.log(0.5)) / 2
    assert CategoricalCrossentropy()(y, p) == pytest.approx(expected, rel=1e-12)
    assert SparseCategoricalCrossentropy()(np.array([1, 0]), p) == pytest.approx(expected,
                                                                                rel=1e-12)
    # a column of labels is the same
    assert SparseCategoricalCrossentropy()(np.array([[1], [0]]), p) == pytest.approx(expected)


def test_categorical_crossentropy_with_soft_targets():
    y = np.array([[0.25, 0.75]])
    p = np.array([[0.5, 0.5]])
    assert CategoricalCrossentropy()(y, p) == pytest.approx(math.log(2), rel=1e-12)


def test_categorical_crossentropy_from_logits():
    z = np.array([[1.0, 2.0, 3.0]])
    expected = math.log(math.e + math.e ** 2 + math.e ** 3) - 3
    assert CategoricalCrossentropy(from_logits=True)([[0, 0, 1]], z) == pytest.approx(
        expected, rel=1e-12)
    assert SparseCategoricalCrossentropy(from_logits=True)([2], z) == pytest.approx(
        expected, rel=1e-12)
    # logits of +-1e4 stay finite
    big = CategoricalCrossentropy(from_logits=True)([[1, 0]], [[-1e4, 1e4]])
    assert big == pytest.approx(2e4)


def test_losses_match_the_metrics_and_the_model():
    """A model's evaluate() loss equals the Loss object applied to its predictions."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20, 3))
    labels = rng.integers(0, 3, 20)
    model = mlp.Sequential([mlp.Dense(3, activation="softmax", input_dim=3)], seed=0,
                           dtype="float64")
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    proba = model.predict(x)
    assert model.evaluate(x, labels)["loss"] == pytest.approx(model.loss(labels, proba),
                                                              rel=1e-10)


# ---------------------------------------------------------------- kernels and fusion
def test_kernels_and_fusion_attributes():
    assert BinaryCrossentropy().fuses_with == "sigmoid"
    assert CategoricalCrossentropy().fuses_with == "softmax"
    assert SparseCategoricalCrossentropy().fuses_with == "softmax"
    assert MeanSquaredError().fuses_with is None
    assert BinaryCrossentropy().train_kernel == "binary_crossentropy"
    assert BinaryCrossentropy(from_logits=True).train_kernel == "binary_crossentropy_from_logits"
    assert CategoricalCrossentropy(True).train_kernel == "categorical_crossentropy_from_logits"
    assert SparseCategoricalCrossentropy().targets == "labels"
    assert CategoricalCrossentropy().targets == "one_hot"
    assert BinaryCrossentropy().targets == "binary"
    assert Huber().targets == "values"


# --------------------------------------------------------------------- get/serialize
@pytest.mark.parametrize("name, cls", [
    ("mse", MeanSquaredError), ("mean_squared_error", MeanSquaredError),
    ("MSE", MeanSquaredError), ("mae", MeanAbsoluteError),
    ("mean_absolute_error", MeanAbsoluteError), ("huber", Huber),
    ("binary_crossentropy", BinaryCrossentropy),
    ("categorical_crossentropy", CategoricalCrossentropy),
    ("sparse_categorical_crossentropy", SparseCategoricalCrossentropy),
])
def test_get_by_name(name, cls):
    loss = losses.get(name)
    assert type(loss) is cls
    assert not loss.from_logits


def test_get_passes_instances_through():
    loss = Huber(0.3)
    assert losses.get(loss) is loss


def test_get_unknown_name_lists_the_supported_ones():
    with pytest.raises(ValueError, match=r"loss: unknown loss 'hinge'. Supported losses are "
                                         r"\['binary_crossentropy', 'categorical_crossentropy', "
                                         r"'huber', 'mae'"):
        losses.get("hinge")


@pytest.mark.parametrize("bad", [lambda y, p: 0.0, 3, None, {"class_name": "Hinge"}])
def test_get_other_types(bad):
    with pytest.raises(TypeError, match=r"loss: expected a loss name, a mlp.losses.Loss or a "
                                        r"config dict"):
        losses.get(bad)


@pytest.mark.parametrize("loss", [
    MeanSquaredError(), MeanAbsoluteError(), Huber(delta=0.25), BinaryCrossentropy(),
    BinaryCrossentropy(from_logits=True), CategoricalCrossentropy(from_logits=True),
    SparseCategoricalCrossentropy(), SparseCategoricalCrossentropy(from_logits=True),
])
def test_serialize_round_trip(loss):
    config = json.loads(json.dumps(losses.serialize(loss)))
    assert config["class_name"] == type(loss).__name__
    rebuilt = losses.get(config)
    assert type(rebuilt) is type(loss)
    assert rebuilt.get_config() == loss.get_config()
    assert rebuilt.from_logits == loss.from_logits
    assert getattr(rebuilt, "delta", None) == getattr(loss, "delta", None)


def test_configs():
    assert MeanSquaredError().get_config() == {}
    assert Huber(0.5).get_config() == {"delta": 0.5}
    assert BinaryCrossentropy(True).get_config() == {"from_logits": True}
    assert repr(Huber(0.5)) == "Huber(delta=0.5)"
    assert repr(CategoricalCrossentropy()) == "CategoricalCrossentropy(from_logits=False)"
    assert issubclass(SparseCategoricalCrossentropy, Loss)
