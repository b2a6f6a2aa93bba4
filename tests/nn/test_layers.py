"""Layers: arguments, configs, shapes, weights as views of the model, and what each computes."""
from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.special import erf

import mlp
from mlp.layers import (LAYER_CLASSES, Activation, Dense, Dropout, Input, Layer, deserialize,
                        serialize)
from mlp.regularizers import L1L2

Z = np.array([[-3.0, -1.0, -0.25, 0.0, 0.5, 2.0, 4.0]])


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


EXPECTED = {
    "linear": lambda z: z,
    "relu": lambda z: np.maximum(z, 0),
    "leaky_relu": lambda z: np.where(z > 0, z, 0.2 * z),
    "elu": lambda z: np.where(z > 0, z, np.exp(z) - 1),
    "sigmoid": _sigmoid,
    "tanh": np.tanh,
    "softmax": lambda z: np.exp(z) / np.exp(z).sum(axis=1, keepdims=True),
    "gelu": lambda z: 0.5 * z * (1 + erf(z / np.sqrt(2))),
    "swish": lambda z: z * _sigmoid(z),
}


def identity_model(activation, width, backend, layer="dense", alpha=None):
    """A model computing ``activation(x)`` through a Dense layer of identity weights."""
    if layer == "dense":
        layers = [Dense(width, activation=activation, input_dim=width, alpha=alpha)]
    else:
        layers = [Dense(width, input_dim=width), Activation(activation, alpha=alpha)]
    model = mlp.Sequential(layers, backend=backend, dtype="float64", seed=0)
    model.build()
    model.set_weights([np.eye(width), np.zeros(width)])
    return model


# --------------------------------------------------------------------- activations
@pytest.mark.parametrize("backend", ["cpu", "reference"])
@pytest.mark.parametrize("layer", ["dense", "activation"])
@pytest.mark.parametrize("activation", list(EXPECTED))
def test_activation_values(activation, layer, backend):
    model = identity_model(activation, Z.shape[1], backend, layer)
    np.testing.assert_allclose(model.predict(Z), EXPECTED[activation](Z), rtol=1e-12,
                               atol=1e-15)


@pytest.mark.parametrize("backend", ["cpu", "reference"])
def test_alpha_of_leaky_relu_and_elu(backend):
    leaky = identity_model("leaky_relu", 7, backend, alpha=0.05)
    np.testing.assert_allclose(leaky.predict(Z), np.where(Z > 0, Z, 0.05 * Z), rtol=1e-13)
    elu = identity_model("elu", 7, backend, "activation", alpha=2.0)
    np.testing.assert_allclose(elu.predict(Z), np.where(Z > 0, Z, 2.0 * np.expm1(Z)),
                               rtol=1e-13)


def test_activation_aliases_and_defaults():
    assert Dense(2).activation == "linear"
    assert Dense(2, activation=None).activation == "linear"
    assert Dense(2, activation="silu").activation == "swish"
    assert Activation("identity").activation == "linear"
    assert Dense(2, activation="leaky_relu").alpha == 0.2        # Keras 3 default slope
    assert Dense(2, activation="elu").alpha == 1.0
    assert Activation("leaky_relu", alpha=0.3).alpha == 0.3


def test_extreme_inputs_give_no_nan():
    z = np.array([[-1e4, -500.0, 0.0, 500.0, 1e4]])
    for activation in EXPECTED:
        for backend in ("cpu", "reference"):
            out = identity_model(activation, 5, backend).predict(z)
            assert np.all(np.isfinite(out)), (activation, backend)


def test_activation_layer_equals_dense_with_activation():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 4))
    fused = mlp.Sequential([Dense(3, activation="gelu", input_dim=4)], seed=1)
    split = mlp.Sequential([Dense(3, input_dim=4), Activation("gelu")], seed=1)
    fused.build(), split.build()
    split.set_weights(fused.get_weights())
    np.testing.assert_allclose(split.predict(x), fused.predict(x), rtol=1e-6)


# -------------------------------------------------------------------------- Dense
def test_dense_shapes_and_counts():
    model = mlp.Sequential([Dense(5, input_dim=3), Dense(2, use_bias=False)], seed=0)
    model.build()
    first, second = model.layers
    assert first.kernel.shape == (3, 5) and first.bias.shape == (5,)
    assert second.kernel.shape == (5, 2) and second.bias is None
    assert [w.shape for w in model.get_weights()] == [(3, 5), (5,), (5, 2)]
    assert first.count_params() == 20 and second.count_params() == 10
    assert model.count_params() == 30
    assert first.output_dim(3) == 5 and first.built and first.input_dim == 3


def test_dense_default_initializers_follow_keras():
    model = mlp.Sequential([Dense(200, input_dim=100)], seed=0)
    model.build()
    kernel, bias = model.get_weights()
    limit = np.sqrt(6 / (100 + 200))                 # glorot_uniform
    assert np.all(np.abs(kernel) <= limit) and np.abs(kernel).max() > 0.9 * limit
    assert np.all(bias == 0)


def test_dense_initializers_are_used():
    model = mlp.Sequential([Dense(3, input_dim=2, kernel_initializer="ones",
                                  bias_initializer="ones")])
    model.build()
    kernel, bias = model.get_weights()
    assert np.all(kernel == 1) and np.all(bias == 1)


def test_layer_weights_are_views_of_the_model_parameters():
    model = mlp.Sequential([Dense(2, input_dim=2)], seed=0, dtype="float64")
    model.build()
    layer = model.layers[0]
    layer.kernel[...] = np.eye(2) * 3
    layer.bias[...] = [1.0, -1.0]
    np.testing.assert_array_equal(model.predict(np.array([[1.0, 2.0]])), [[4.0, 5.0]])
    model.set_weights([np.eye(2), np.zeros(2)])
    np.testing.assert_array_equal(layer.kernel, np.eye(2))


def test_layer_get_weights_are_copies_and_set_weights_checks():
    model = mlp.Sequential([Dense(2, input_dim=3, name="d")], seed=0)
    model.build()
    layer = model.layers[0]
    weights = layer.get_weights()
    weights[0][...] = 7
    assert not np.any(layer.kernel == 7)
    with pytest.raises(ValueError, match=r"weights: layer 'd' expects 2 arrays, got 1"):
        layer.set_weights(weights[:1])
    with pytest.raises(ValueError, match=r"weights\[0\]: layer 'd' expects shape \(3, 2\), "
                                         r"got \(2, 3\)"):
        layer.set_weights([np.zeros((2, 3)), np.zeros(2)])
    with pytest.raises(ValueError, match=r"weights\[1\]: expected finite numbers"):
        layer.set_weights([np.zeros((3, 2)), np.array([np.inf, 0])])
    with pytest.raises(ValueError, match=r"weights\[0\]: expected finite numbers"):
        layer.set_weights([np.full((3, 2), "a"), np.zeros(2)])
    layer.set_weights([np.ones((3, 2), dtype=np.int64), [1, 2]])
    np.testing.assert_array_equal(layer.bias, [1, 2])


def test_unbuilt_layer_set_weights():
    with pytest.raises(ValueError, match=r"not built yet"):
        Dense(2, name="lonely").set_weights([np.zeros((1, 2)), np.zeros(2)])
    assert Dense(2).count_params() == 0 and not Dense(2).built


@pytest.mark.parametrize("kwargs, message", [
    ({"units": 0}, r"units: expected a positive integer, got 0"),
    ({"units": -2}, r"units: expected a positive integer"),
    ({"units": 1.5}, r"units: expected a positive integer"),
    ({"units": True}, r"units: expected a positive integer"),
    ({"units": "4"}, r"units: expected a positive integer"),
    ({"units": 2, "input_dim": 0}, r"input_dim: expected a positive integer"),
    ({"units": 2, "input_dim": 2.0}, r"input_dim: expected a positive integer"),
    ({"units": 2, "activation": "sigmoidal"}, r"activation: unknown activation 'sigmoidal'"),
])
def test_dense_argument_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Dense(**kwargs)


def test_dense_bad_initializer_and_regularizer_names():
    with pytest.raises(ValueError, match=r"unknown initializer 'glorot'"):
        Dense(2, kernel_initializer="glorot")
    with pytest.raises(ValueError, match=r"unknown regularizer 'l3'"):
        Dense(2, kernel_regularizer="l3")


def test_dense_regularizer_adds_to_the_loss():
    x = np.ones((4, 2))
    y = np.zeros(4)
    plain = mlp.Sequential([Dense(1, input_dim=2)], seed=0, dtype="float64")
    reg = mlp.Sequential([Dense(1, input_dim=2, kernel_regularizer=L1L2(l1=0.5, l2=0.25))],
                         seed=0, dtype="float64")
    for model in (plain, reg):
        model.compile(optimizer="sgd", loss="mse")
        model.build()
        model.set_weights([np.array([[1.0], [-2.0]]), np.zeros(1)])
    assert reg.evaluate(x, y)["loss"] == pytest.approx(
        plain.evaluate(x, y)["loss"] + 0.5 * 3 + 0.25 * 5, rel=1e-12)


# ------------------------------------------------------------------------- Dropout
@pytest.mark.parametrize("rate", [-0.1, 1.0, 1.5, "0.5", True, None])
def test_dropout_rate_errors(rate):
    with pytest.raises(ValueError, match=r"rate: expected a number in \[0, 1\)"):
        Dropout(rate)


@pytest.mark.parametrize("seed", [-1, 1.5, "3"])
def test_dropout_seed_errors(seed):
    with pytest.raises(ValueError, match=r"seed: expected a non-negative integer or None"):
        Dropout(0.5, seed=seed)


def test_dropout_is_identity_at_inference():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 4))
    model = mlp.Sequential([Dense(4, input_dim=4), Dropout(0.9)], seed=0, dtype="float64")
    model.build()
    model.set_weights([np.eye(4), np.zeros(4)])
    np.testing.assert_array_equal(model.predict(x), x)


@pytest.mark.parametrize("backend", ["cpu", "reference"])
def test_dropout_while_training_zeroes_a_fraction_and_rescales(backend):
    rate, rows, width = 0.3, 200, 50
    model = mlp.Sequential([Dense(width, input_dim=width), Dropout(rate)], seed=0,
                           backend=backend, dtype="float64")
    model.compile(optimizer="sgd", loss="mse")
    model.build()
    model.set_weights([np.eye(width), np.zeros(width)])
    x = np.random.default_rng(1).uniform(1, 2, size=(rows, width))
    plan = model._plan(rows)
    out = np.array(plan.forward(x, rows, training=True, step_number=0))
    dropped = out == 0
    assert abs(dropped.mean() - rate) < 0.02
    np.testing.assert_allclose(out[~dropped], x[~dropped] / (1 - rate), rtol=1e-14)
    again = np.array(plan.forward(x, rows, training=True, step_number=0))
    np.testing.assert_array_equal(again, out)                   # same step, same mask
    other = np.array(plan.forward(x, rows, training=True, step_number=1))
    assert not np.array_equal(other == 0, dropped)              # next step, new mask


def test_dropout_seed_fixes_the_mask_whatever_the_model_seed():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(30, 4))
    y = rng.normal(size=(30, 1))

    def train(model_seed, dropout_seed):
        model = mlp.Sequential([Dense(8, activation="relu", input_dim=4),
                                Dropout(0.5, seed=dropout_seed), Dense(1)],
                               seed=model_seed, dtype="float64")
        model.compile(optimizer="sgd", loss="mse")
        model.build()
        model.set_weights(reference_weights)
        model.fit(x, y, epochs=1, batch_size=30, shuffle=False, verbose=0)
        return model.get_weights()

    base = mlp.Sequential([Dense(8, input_dim=4), Dense(1)], seed=5)
    base.build()
    reference_weights = base.get_weights()
    a, b, c = train(1, 7), train(2, 7), train(1, 8)
    for wa, wb in zip(a, b):
        np.testing.assert_array_equal(wa, wb)
    assert not np.array_equal(a[0], c[0])


# ------------------------------------------------------------------------- Input
def test_input_shapes():
    assert Input(3).shape == (3,)
    assert Input((3,)).shape == (3,)
    assert Input([4]).shape == (4,)
    for bad in [(3, 2), (0,), 0, (), (2.5,)]:
        with pytest.raises(ValueError, match=r"shape: expected the number of features"):
            Input(bad)


def test_input_layer_has_no_parameters_and_no_row_in_the_model():
    model = mlp.Sequential([Input((3,)), Dense(2)])
    model.build()
    assert model.count_params() == 8
    assert len(model.get_weights()) == 2


# ---------------------------------------------------------------- names and configs
def test_default_names_are_unique_and_snake_case():
    a, b = Dense(1), Dense(1)
    assert a.name != b.name and a.name.startswith("dense")
    assert Dropout(0.1).name.startswith("dropout")
    assert Activation("relu").name.startswith("activation")
    assert Dense(1, name="head").name == "head"
    assert repr(Dense(1, name="head")) == "<Dense 'head'>"


@pytest.mark.parametrize("layer", [
    Input((7,), name="in"),
    Dense(3, activation="silu", use_bias=False, kernel_initializer="he_normal",
          bias_initializer="ones", kernel_regularizer=L1L2(0.1, 0.2), input_dim=4, alpha=None,
          name="d"),
    Dense(2, activation="leaky_relu", alpha=0.1, name="leaky"),
    Dropout(0.25, seed=9, name="drop"),
    Activation("elu", alpha=0.5, name="act"),
])
def test_serialize_round_trip_through_json(layer):
    config = json.loads(json.dumps(serialize(layer)))
    assert config["class_name"] == type(layer).__name__
    rebuilt = deserialize(config)
    assert type(rebuilt) is type(layer)
    assert rebuilt.get_config() == layer.get_config()


def test_dense_config_contents():
    config = Dense(3, activation="tanh", kernel_regularizer="l2", input_dim=4,
                   name="d").get_config()
    assert config["units"] == 3 and config["activation"] == "tanh"
    assert config["use_bias"] is True and config["input_dim"] == 4
    assert config["kernel_initializer"]["class_name"] == "GlorotUniform"
    assert config["bias_initializer"]["class_name"] == "Zeros"
    assert config["kernel_regularizer"] == {"class_name": "L2", "config": {"l2": 0.01}}
    assert Dense(1).get_config()["kernel_regularizer"] is None


def test_deserialize_unknown_class():
    with pytest.raises(ValueError, match=r"unknown layer class 'Conv2D'; known are "
                                         r"\['Activation', 'BatchNormalization', 'Dense', "
                                         r"'Dropout', 'GaussianNoise', 'Input', "
                                         r"'LayerNormalization'\]"):
        deserialize({"class_name": "Conv2D", "config": {}})
    with pytest.raises(ValueError, match=r"unknown layer class None"):
        deserialize("Dense")
    assert set(LAYER_CLASSES) == {"Input", "Dense", "Dropout", "Activation", "GaussianNoise",
                                  "BatchNormalization", "LayerNormalization"}


def test_model_config_round_trip_gives_the_same_model():
    model = mlp.Sequential([Input((4,)), Dense(3, activation="relu"), Dropout(0.2),
                            Dense(2, activation="softmax")], seed=3, dtype="float64",
                           name="m")
    config = json.loads(json.dumps(model.get_config()))
    clone = mlp.Sequential.from_config(config)
    assert clone.get_config() == model.get_config()
    model.build(), clone.build()
    for a, b in zip(model.get_weights(), clone.get_weights()):
        np.testing.assert_array_equal(a, b)                    # same seed, same weights


def test_base_layer_defaults():
    layer = Layer(name="plain")
    assert layer.output_dim(5) == 5 and layer.param_shapes(5) == []
    assert layer.get_config() == {"name": "plain"}


def test_a_layer_in_two_models_is_shared_or_refused():
    d1, d2 = Dense(4, input_dim=3), Dense(1)
    first = mlp.Sequential([d1, d2], seed=0, dtype="float64")
    first.build()
    x = np.ones((2, 3))
    try:
        second = mlp.Sequential([d1, d2], seed=1, dtype="float64")
        second.build()
    except ValueError:
        return
    zeros = [np.zeros_like(w) for w in first.get_weights()]
    first.set_weights(zeros)
    np.testing.assert_array_equal(first.predict(x), np.zeros((2, 1)))


def test_duplicate_layer_names_are_refused():
    with pytest.raises(ValueError, match="name"):
        mlp.Sequential([Dense(2, name="x", input_dim=2), Dense(2, name="x")])
