"""BatchNormalization and LayerNormalization in models (issue 12): Keras' semantics while
training and at inference, freezing, the flat buffer's untrained moving statistics, the fused
CPU plan bit-identical to the step-by-step plan, backends agreeing, saving and loading exactly,
and the digits dataset trained to >= 0.95 test accuracy in both flows."""
from __future__ import annotations

import doctest

import numpy as np
import pytest

import mlp
from mlp.backends.cpu_plan import FusedCPUPlan
from mlp.nn import normalization
from mlp.training import plan as engine


def data(n=48, features=5, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features)) * rng.uniform(0.5, 4.0, features) + 2.0
    return x, np.eye(classes)[rng.integers(0, classes, n)]


def bn_model(backend="cpu", dtype="float64", optimizer=None, first_frozen=False, seed=3,
             momentum=0.9):
    layers = [mlp.BatchNormalization(input_dim=5, momentum=momentum, gamma_regularizer="l2"),
              mlp.Dense(8, kernel_regularizer="l2"),
              mlp.BatchNormalization(center=False, momentum=momentum),
              mlp.Activation("relu"),
              mlp.Dropout(0.1),
              mlp.LayerNormalization(beta_regularizer=mlp.regularizers.L1L2(1e-3, 1e-2)),
              mlp.Dense(6, activation="tanh"),
              mlp.LayerNormalization(scale=False),
              mlp.Dense(3, activation="softmax")]
    layers[0].trainable = not first_frozen
    model = mlp.Sequential(layers, seed=seed, backend=backend, dtype=dtype)
    model.compile(optimizer=optimizer or mlp.AdamW(0.01, weight_decay=0.1),
                  loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def step_plan(model, batch_size):
    """Give ``model`` the step-by-step TrainingPlan model._plan would build."""
    fused = engine.fused_output(model.layers, model.loss)
    steps = engine.build_steps(model.layers, model.input_dim, model._param_slices, fused,
                               model.seed)
    model.optimizer.build(model.params.size, model.dtype, model.backend)
    plan = engine.TrainingPlan(model.backend, steps, model.params,
                               model.backend.zeros(model.params.shape, model.dtype),
                               model.loss.logits_kernel if fused else model.loss.train_kernel,
                               model.optimizer, batch_size)
    plan.fused = fused
    model._train_plan = plan
    return plan


# ----------------------------------------------------------------------- the layers
def test_the_docstring_examples_run():
    result = doctest.testmod(normalization)
    assert result.attempted > 0
    assert result.failed == 0


def test_keras_defaults_weights_and_summary():
    bn, ln = mlp.BatchNormalization(), mlp.LayerNormalization()
    assert (bn.momentum, bn.epsilon, bn.center, bn.scale) == (0.99, 1e-3, True, True)
    assert (ln.epsilon, ln.center, ln.scale) == (1e-3, True, True)
    model = mlp.Sequential([mlp.Dense(4, input_dim=3), bn, ln, mlp.Dense(1)], seed=0)
    model.build()
    gamma, beta, moving_mean, moving_variance = bn.get_weights()
    assert [gamma.tolist(), beta.tolist()] == [[1.0] * 4, [0.0] * 4]
    assert [moving_mean.tolist(), moving_variance.tolist()] == [[0.0] * 4, [1.0] * 4]
    assert bn.moving_mean is model.weights[4] and bn.moving_variance is model.weights[5]
    assert [w.shape for w in ln.get_weights()] == [(4,), (4,)]
    lines = []
    model.summary(print_fn=lines.append)
    assert "Total params: 45" in lines[-3]            # 16 + 16 + 8 + 5
    assert "Trainable params: 37" in lines[-2]
    assert "Non-trainable params: 8" in lines[-1]     # the moving statistics
    assert len(model.trainable_weights) == 2 + 2 + 2 + 2
    assert [w.shape for w in model.non_trainable_weights] == [(4,), (4,)]
    bn.trainable = False
    lines.clear()
    model.summary(print_fn=lines.append)
    assert "Non-trainable params: 16" in lines[-1]


FIRST_LAYERS = {
    "BatchNormalization": lambda **kw: mlp.BatchNormalization(**kw),
    "LayerNormalization": lambda **kw: mlp.LayerNormalization(**kw),
    "Dropout": lambda **kw: mlp.Dropout(0.1, **kw),
    "Activation": lambda **kw: mlp.Activation("tanh", **kw),
    "GaussianNoise": lambda **kw: mlp.GaussianNoise(0.1, **kw),
    "Dense": lambda **kw: mlp.Dense(3, **kw),
}


@pytest.mark.parametrize("kind", list(FIRST_LAYERS))
@pytest.mark.parametrize("declare", [{"input_dim": 3}, {"input_shape": (3,)}])
def test_every_layer_can_be_the_first(kind, declare):
    make = FIRST_LAYERS[kind]
    model = mlp.Sequential([make(**declare), mlp.Dense(2)], seed=0)
    assert model.input_dim == 3
    model.compile("sgd", "mse")
    assert model.built and model.predict(np.ones((2, 3))).shape == (2, 2)
    assert mlp.Sequential.from_config(model.get_config()).input_dim == 3
    with pytest.raises(ValueError, match="input_dim: only the first layer may declare it"):
        mlp.Sequential([mlp.Dense(3, input_dim=3), make(input_dim=3)])
    with pytest.raises(ValueError, match=r"^input_shape: expected the same width as "
                                         r"input_dim=3, got \(4,\)"):
        make(input_dim=3, input_shape=(4,))


def test_center_and_scale_choose_the_weights():
    model = mlp.Sequential([mlp.BatchNormalization(input_dim=2, center=False),
                            mlp.LayerNormalization(scale=False),
                            mlp.BatchNormalization(center=False, scale=False)], seed=0)
    model.build()
    bn, ln, plain = model.layers
    assert [w.tolist() for w in bn.get_weights()] == [[1, 1], [0, 0], [1, 1]]
    assert bn.beta is None and ln.gamma is None and plain.gamma is None
    assert len(ln.get_weights()) == 1 and len(plain.get_weights()) == 2


@pytest.mark.parametrize("kwargs, message", [
    ({"momentum": 1.5}, r"^momentum: expected a number in \[0, 1\], got 1.5"),
    ({"epsilon": 0}, r"^epsilon: expected a finite number > 0, got 0"),
    ({"center": "yes"}, r"^center: expected True or False, got 'yes'"),
    ({"axis": 0}, r"^axis: expected -1 or 1"),
    ({"input_shape": (3, 2)}, r"^input_shape: expected the number of features as \(n,\)"),
    ({"gamma_initializer": "nope"}, r"nope"),
])
def test_bad_arguments_are_refused_naming_them(kwargs, message):
    with pytest.raises((ValueError, TypeError), match=message):
        mlp.BatchNormalization(**kwargs)


def test_negative_moving_variance_is_refused():
    model = mlp.Sequential([mlp.BatchNormalization(input_dim=2)], seed=0)
    model.build()
    with pytest.raises(ValueError, match=r"weights\[3\]: expected a moving variance >= 0"):
        model.layers[0].set_weights([np.ones(2), np.zeros(2), np.zeros(2), -np.ones(2)])


def test_config_round_trip():
    model = bn_model()
    clone = mlp.Sequential.from_config(model.get_config())
    assert clone.get_config() == model.get_config()
    assert [type(layer) for layer in clone.layers] == [type(layer) for layer in model.layers]


# ---------------------------------------------------------------- training semantics
@pytest.mark.parametrize("backend", ["cpu", "reference"])
def test_one_training_step_follows_keras(backend):
    """Batch statistics while training, the moving update from the biased variance, moving
    statistics at inference; gamma and beta trained, the moving statistics not."""
    x, _ = data(n=16)
    y = np.random.default_rng(1).normal(size=(16, 5))
    model = mlp.Sequential([mlp.BatchNormalization(input_dim=5, momentum=0.8)], seed=0,
                           backend=backend, dtype="float64")
    model.compile(mlp.SGD(0.1, weight_decay=0.5), "mse")
    gamma, beta, mean0, var0 = model.get_weights()
    model.train_on_batch(x, y)
    gamma1, beta1, mean1, var1 = model.get_weights()
    mean, var = x.mean(axis=0), x.var(axis=0)
    np.testing.assert_allclose(mean1, mean0 * 0.8 + mean * 0.2, rtol=1e-13)
    np.testing.assert_allclose(var1, var0 * 0.8 + var * 0.2, rtol=1e-13)
    xhat = (x - mean) / np.sqrt(var + 1e-3)
    dy = 2 * (xhat - y) / y.size          # MSE's gradient of gamma * xhat + beta
    dgamma, dbeta = (dy * xhat).sum(0), dy.sum(0)
    np.testing.assert_allclose(gamma1, gamma - 0.1 * (dgamma + 0.5 * gamma), rtol=1e-12)
    np.testing.assert_allclose(beta1, beta - 0.1 * (dbeta + 0.5 * beta), atol=1e-15)
    expected = gamma1 * (x - mean1) / np.sqrt(var1 + 1e-3) + beta1
    np.testing.assert_allclose(model.predict(x), expected, rtol=1e-12)
    evaluated = model.evaluate(x, y)["loss"]
    assert evaluated == pytest.approx(np.mean((expected - y) ** 2), rel=1e-12)


@pytest.mark.parametrize("backend", ["cpu", "reference"])
def test_frozen_batch_norm_runs_in_inference_mode(backend):
    """Keras 3: ``trainable=False`` uses and keeps the moving statistics, trains no gamma /
    beta, and the layers before it train through its fixed affine map."""
    x, y = data()
    model = bn_model(backend, first_frozen=True)
    before = model.get_weights()
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    after = model.get_weights()
    for index in range(4):                      # gamma, beta, moving mean and variance
        assert np.array_equal(after[index], before[index])
    assert not np.array_equal(after[4], before[4])   # the Dense kernel behind it trains
    assert not np.array_equal(after[8], before[8])   # the second BN's moving mean moves
    gamma, beta, mean, var = model.layers[0].get_weights()
    probe = mlp.Sequential([mlp.BatchNormalization(input_dim=5)], seed=0, dtype="float64")
    probe.build()
    probe.layers[0].set_weights([gamma, beta, mean, var])
    np.testing.assert_allclose(probe.predict(x), gamma * (x - mean) / np.sqrt(var + 1e-3)
                               + beta, rtol=1e-12)


def test_the_model_frozen_freezes_the_moving_statistics():
    x, y = data()
    model = bn_model()
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    model.trainable = False
    model.compile(mlp.SGD(0.1), "categorical_crossentropy")
    before = model.get_weights()
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    for a, b in zip(before, model.get_weights()):
        assert np.array_equal(a, b)


@pytest.mark.parametrize("optimizer", ["adamw", "sgd_momentum", "rmsprop", "nadam"])
def test_optimizer_never_touches_the_moving_statistics(optimizer):
    """No update, no weight decay and no optimizer state on the moving statistics: with
    momentum 1 they stay at their initial values however long the model trains."""
    make = {"adamw": lambda: mlp.AdamW(0.05, weight_decay=0.5),
            "sgd_momentum": lambda: mlp.SGD(0.05, momentum=0.9, weight_decay=0.5),
            "rmsprop": lambda: mlp.RMSprop(0.01, weight_decay=0.5),
            "nadam": lambda: mlp.Nadam(0.01)}[optimizer]
    x, y = data()
    model = bn_model(optimizer=make(), momentum=1.0)
    model.fit(x, y, epochs=3, batch_size=8, verbose=0)
    bn = model.layers[0]
    assert np.array_equal(bn.moving_mean, np.zeros(5))
    assert np.array_equal(bn.moving_variance, np.ones(5))
    state = model._param_slices[0][2:]
    for slot in model.optimizer.slots.values():
        for part in state:
            assert not np.asarray(slot)[part].any()


# -------------------------------------------------------- plans and backends agree
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("first_frozen", [False, True], ids=["trained", "first_frozen"])
@pytest.mark.parametrize("optimizer", ["adamw", "sgd"])
def test_fused_plan_equals_step_plan_bit_for_bit(dtype, first_frozen, optimizer):
    make = {"adamw": lambda: mlp.AdamW(0.01, weight_decay=0.1, global_clipnorm=0.5),
            "sgd": lambda: mlp.SGD(0.05, momentum=0.9, clipnorm=0.3)}[optimizer]
    x, y = data(n=45)
    fused = bn_model(dtype=dtype, optimizer=make(), first_frozen=first_frozen)
    step = bn_model(dtype=dtype, optimizer=make(), first_frozen=first_frozen)
    plan = step_plan(step, 8)
    h_fused = fused.fit(x, y, epochs=3, batch_size=8, verbose=0)
    h_step = step.fit(x, y, epochs=3, batch_size=8, verbose=0)
    assert type(fused._train_plan) is FusedCPUPlan and step._train_plan is plan
    for a, b in zip(fused.get_weights(), step.get_weights()):
        assert np.array_equal(a, b), np.abs(a - b).max()
    for name, slot in fused.optimizer.slots.items():
        assert np.array_equal(slot, step.optimizer.slots[name]), name
    assert h_fused.history["loss"] == h_step.history["loss"]
    assert np.array_equal(fused.predict(x), step.predict(x))


def test_cpu_equals_reference():
    x, y = data(n=40)
    cpu, ref = bn_model("cpu"), bn_model("reference")
    h_cpu = cpu.fit(x, y, epochs=3, batch_size=8, verbose=0).history["loss"]
    h_ref = ref.fit(x, y, epochs=3, batch_size=8, verbose=0).history["loss"]
    np.testing.assert_allclose(h_cpu, h_ref, rtol=1e-9)
    for a, b in zip(cpu.get_weights(), ref.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(cpu.predict(x), ref.predict(x), rtol=1e-7, atol=1e-9)


def test_training_is_bit_identical_on_one_and_two_threads():
    x, y = data(n=600, features=5)
    results = []
    original = mlp.get_num_threads()
    try:
        for threads in (1, 2):
            mlp.set_num_threads(threads)
            model = mlp.Sequential([mlp.Dense(256, input_dim=5), mlp.BatchNormalization(),
                                    mlp.Activation("relu"), mlp.LayerNormalization(),
                                    mlp.Dense(3, activation="softmax")], seed=1,
                                   dtype="float32")
            model.compile("adam", "categorical_crossentropy")
            model.fit(x, y, epochs=2, batch_size=300, verbose=0)  # 300 x 256: split in parts
            results.append(model.get_weights() + [model.predict(x)])
    finally:
        mlp.set_num_threads(original)
    for a, b in zip(*results):
        assert np.array_equal(a, b)


def test_gradient_of_a_model_matches_finite_differences():
    """The whole network's gradient, through BN in training mode and LN, in float64."""
    x, y = data(n=12)
    model = mlp.Sequential([mlp.BatchNormalization(input_dim=5), mlp.Dense(4),
                            mlp.LayerNormalization(), mlp.Dense(3)], seed=2, dtype="float64",
                           backend="cpu")
    model.compile(mlp.SGD(1.0), "mse")
    plan = model._plan(12)
    start = model.params.copy()

    def loss_at(params):
        """The loss of the training-time output (batch statistics) at ``params``."""
        model.params[...] = params
        return float(np.mean((plan.forward(x, 12, training=True) - y) ** 2))

    numeric = np.zeros_like(start)
    trained = (model._param_slices[0][:2] + model._param_slices[1] + model._param_slices[2]
               + model._param_slices[3])
    for part in trained:
        for i in range(part.start, part.stop):
            p = start.copy()
            p[i] += 1e-6
            up = loss_at(p)
            p[i] -= 2e-6
            numeric[i] = (up - loss_at(p)) / 2e-6
    model.params[...] = start
    model.train_on_batch(x, y)  # SGD(1.0): params - grads
    analytic = start - model.params
    for part in trained:
        np.testing.assert_allclose(analytic[part], numeric[part], rtol=1e-5, atol=1e-8)


# --------------------------------------------------------------- saving and loading
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_save_and_load_keep_the_moving_statistics(tmp_path, dtype):
    x, y = data()
    model = bn_model(dtype=dtype)
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    path = tmp_path / "bn.mlp"
    model.save(path)
    loaded = mlp.load_model(path)
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    assert np.array_equal(model.predict(x), loaded.predict(x))
    assert loaded.evaluate(x, y) == model.evaluate(x, y)
    # training continues exactly: same weights, moving statistics and optimizer state
    model.fit(x, y, epochs=1, batch_size=8, verbose=0, shuffle=False)
    loaded.fit(x, y, epochs=1, batch_size=8, verbose=0, shuffle=False)
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        assert np.array_equal(a, b)
    weights = tmp_path / "bn.weights"
    model.save_weights(weights)
    other = bn_model(dtype=dtype, seed=99)
    other.load_weights(weights)
    assert np.array_equal(other.layers[0].moving_variance, model.layers[0].moving_variance)


# ------------------------------------------------------------------- digits, two flows
def _split():
    x, y = mlp.datasets.load_digits(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(x))
    x, y = x[order].astype(np.float32), y[order]
    cut = int(0.75 * len(x))
    return x[:cut], x[cut:], y[:cut], y[cut:]


@pytest.mark.parametrize("layer", ["batch", "layer"])
def test_digits_train_to_095_sequential_flow(layer):
    x_train, x_test, y_train, y_test = _split()
    norm = mlp.BatchNormalization if layer == "batch" else mlp.LayerNormalization
    model = mlp.Sequential([mlp.Dense(64, input_dim=64), norm(), mlp.Activation("relu"),
                            mlp.Dropout(0.2), mlp.Dense(10, activation="softmax")], seed=0)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=30, batch_size=32, verbose=0)
    accuracy = model.evaluate(x_test, y_test)["accuracy"]
    assert accuracy >= 0.95, accuracy


def test_digits_train_to_095_add_flow():
    x_train, x_test, y_train, y_test = _split()
    model = mlp.Sequential(seed=1)
    model.add(mlp.Input((64,)))
    model.add(mlp.BatchNormalization())          # as the first layer: scales the raw pixels
    model.add(mlp.Dense(64))
    model.add(mlp.BatchNormalization())
    model.add(mlp.Activation("relu"))
    model.add(mlp.Dense(10, activation="softmax"))
    model.compile(optimizer=mlp.Adam(1e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=30, batch_size=32, verbose=0,
              validation_data=(x_test, y_test))
    predicted = model.predict(x_test).argmax(axis=1)
    assert np.mean(predicted == y_test) >= 0.95


def test_pickle_deepcopy_and_clone_keep_the_layers():
    import copy
    import pickle

    x, y = data()
    model = bn_model()
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    for other in (pickle.loads(pickle.dumps(model)), copy.deepcopy(model)):
        assert np.array_equal(other.predict(x), model.predict(x))
        assert np.array_equal(other.layers[0].moving_mean, model.layers[0].moving_mean)
        assert other.layers[0].moving_mean is other.weights[2]
    clone = mlp.clone_model(model)
    assert [type(a) for a in clone.layers] == [type(b) for b in model.layers]
    clone.build()
    assert np.array_equal(clone.layers[0].moving_variance, np.ones(5))


@pytest.mark.parametrize("backend", ["cpu", "reference"])
def test_gamma_and_beta_regularizers_add_to_the_loss(backend):
    """Keras' ``gamma_regularizer`` / ``beta_regularizer``: their penalty is in the loss and
    its gradient in the update (SGD without momentum: one step moves gamma by lr * 2 l2
    gamma more than without), frozen layers' is not."""
    x, y = data(n=16)
    runs = {}
    for reg in (None, mlp.regularizers.L2(0.5)):
        model = mlp.Sequential([mlp.BatchNormalization(input_dim=5, gamma_regularizer=reg,
                                                       beta_regularizer=reg),
                                mlp.Dense(3, activation="softmax")], seed=0,
                               backend=backend, dtype="float64")
        model.compile(mlp.SGD(0.1), "categorical_crossentropy")
        gamma0 = model.layers[0].get_weights()[0]
        beta0 = model.layers[0].get_weights()[1] + 0.5
        model.layers[0].set_weights([gamma0, beta0] + model.layers[0].get_weights()[2:])
        runs[reg is None] = (model, model.evaluate(x, y)["loss"], gamma0, beta0)
        model.train_on_batch(x, y)
    (plain, loss_plain, gamma0, beta0), (regular, loss_reg, _, _) = runs[True], runs[False]
    assert loss_reg == pytest.approx(loss_plain + 0.5 * (np.sum(gamma0 ** 2)
                                                          + np.sum(beta0 ** 2)), rel=1e-12)
    moved = plain.layers[0].get_weights()[0] - regular.layers[0].get_weights()[0]
    np.testing.assert_allclose(moved, 0.1 * 2 * 0.5 * gamma0, rtol=1e-10)
    regular.layers[0].trainable = False
    frozen_loss = regular.evaluate(x, y)["loss"]
    regular.layers[0].trainable = True
    assert frozen_loss < regular.evaluate(x, y)["loss"]
