"""What a Keras user types (issue 12): custom losses in Python, from-logits metrics, clear
errors at the first wrong call, Keras spellings, and models that copy and pickle."""
from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

import mlp
from mlp import metrics
from mlp.backends import get_backend
from mlp.backends.cpu_plan import FusedCPUPlan
from mlp.losses import BinaryCrossentropy, Loss, MeanSquaredError
from mlp.training import plan as engine


def regression_data(n=48, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    return x, np.stack([x[:, 0] - x[:, 1], x[:, 2] ** 2], axis=1) + 0.1 * rng.normal(size=(n, 2))


def regression_model(loss, backend="cpu", seed=3):
    model = mlp.Sequential([mlp.Dense(6, activation="tanh", input_dim=3), mlp.Dense(2)],
                           seed=seed, dtype="float64", backend=backend)
    model.compile(optimizer=mlp.SGD(0.05, momentum=0.5), loss=loss)
    return model


class PythonMAE(Loss):
    """Mean absolute error written in Python: the same numbers as the "mae" kernel."""

    def call(self, y_true, y_pred):
        return np.abs(y_pred - y_true).mean(axis=-1)

    def gradient(self, y_true, y_pred):
        return np.sign(y_pred - y_true) / y_pred.shape[1]


# --------------------------------------------------------------------- custom losses
@pytest.mark.parametrize("backend", ["cpu", "reference", "cupy"])
def test_custom_loss_trains_as_written_not_as_mse(backend):
    if backend == "cupy":
        from cupy_emulator import gpu_status

        ok, why = gpu_status()
        if not ok:
            pytest.skip(f"cupy backend on a GPU: {why}")
    x, y = regression_data()
    w = np.linspace(0.5, 1.5, len(x))
    custom, kernel, mse = (regression_model(loss, backend) for loss in (PythonMAE(), "mae", "mse"))
    h_custom = custom.fit(x, y, epochs=3, batch_size=8, sample_weight=w, verbose=0)
    h_kernel = kernel.fit(x, y, epochs=3, batch_size=8, sample_weight=w, verbose=0)
    h_mse = mse.fit(x, y, epochs=3, batch_size=8, sample_weight=w, verbose=0)
    np.testing.assert_allclose(h_custom.history["loss"], h_kernel.history["loss"], rtol=1e-10)
    for a, b in zip(custom.get_weights(), kernel.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    assert not np.allclose(custom.get_weights()[0], mse.get_weights()[0])
    # it runs step by step (no kernel exists for it), and evaluate uses it too
    assert type(custom._train_plan) is engine.TrainingPlan
    result = custom.evaluate(x, y, sample_weight=w)
    assert result["loss"] == pytest.approx(
        PythonMAE()(y, custom.predict(x), sample_weight=w), rel=1e-12)
    assert result["loss"] == pytest.approx(kernel.evaluate(x, y, sample_weight=w)["loss"],
                                           rel=1e-9)


def test_custom_loss_on_a_subclass_of_a_kernel_loss_uses_its_own_methods():
    class ScaledMSE(MeanSquaredError):       # inherits kernel = "mean_squared_error"
        def call(self, y_true, y_pred):
            return 3.0 * ((y_pred - y_true) ** 2).mean(axis=-1)

        def gradient(self, y_true, y_pred):
            return 6.0 * (y_pred - y_true) / y_pred.shape[1]

    x, y = regression_data()
    scaled = regression_model(ScaledMSE())
    plain = regression_model("mse")
    h_scaled = scaled.fit(x, y, epochs=1, batch_size=48, shuffle=False, verbose=0)
    h_plain = plain.fit(x, y, epochs=1, batch_size=48, shuffle=False, verbose=0)
    assert h_scaled.history["loss"][0] == pytest.approx(3 * h_plain.history["loss"][0],
                                                        rel=1e-12)


@pytest.mark.parametrize("methods, missing", [(("call",), "gradient"), (("gradient",), "call")])
def test_custom_loss_missing_a_method_fails_at_compile(methods, missing):
    body = {name: (lambda self, y_true, y_pred: y_pred) for name in methods}
    Partial = type("Partial", (Loss,), body)
    model = regression_model("mse")
    with pytest.raises(TypeError, match=rf"Partial does not define {missing}\(y_true, y_pred\)"):
        model.compile(optimizer="sgd", loss=Partial())


def test_loss_with_neither_kernel_nor_methods_fails_at_compile():
    class Empty(Loss):
        pass

    with pytest.raises(TypeError, match=r"Empty defines no call\(y_true, y_pred\) and gradient"):
        regression_model(Empty())


def test_misspelt_kernel_name_fails_at_compile():
    class Misspelt(Loss):
        kernel = "mean_squred_error"

    with pytest.raises(ValueError, match=r"Misspelt\.kernel: expected one of .*"
                                         r"got 'mean_squred_error'"):
        regression_model(Misspelt())


@pytest.mark.parametrize("plan_class", [engine.TrainingPlan, FusedCPUPlan])
def test_plans_refuse_an_unknown_loss_kernel(plan_class):
    model = regression_model("mse")
    steps = engine.build_steps(model.layers, 3, model._param_slices, None, 0)
    grads = np.zeros_like(model.params)
    model.optimizer.build(model.params.size, model.dtype, model.backend)
    with pytest.raises(ValueError, match=r"loss_kernel: expected one of .*got 'nope'"):
        plan = plan_class(get_backend("cpu"), steps, model.params, grads, "nope",
                          model.optimizer, 8)
        plan.train_batch(np.zeros((2, 3)), np.zeros((2, 2)), None)


def test_custom_loss_shapes_are_checked():
    class Summed(PythonMAE):
        def call(self, y_true, y_pred):
            return np.abs(y_pred - y_true)      # (n, 2): not reduced over the outputs

    x, y = regression_data()
    with pytest.raises(ValueError, match=r"Summed\.call: expected the loss of each sample"):
        regression_model(Summed()).fit(x, y, epochs=1, verbose=0)


# --------------------------------------------------------------- from-logits metrics
def logits_model(from_logits=True):
    model = mlp.Sequential([mlp.Dense(1, input_dim=1)], seed=0, dtype="float64")
    model.compile(optimizer=mlp.SGD(1e-9), loss=BinaryCrossentropy(from_logits=from_logits),
                  metrics=["accuracy", "precision", "recall"])
    model.set_weights([np.ones((1, 1)), np.zeros(1)])      # the logit is x itself
    return model


def test_metrics_threshold_logits_at_zero():
    x = np.array([[-1.0], [0.2], [0.3], [0.45], [-0.2], [1.2], [-0.6], [0.1], [-0.05]])
    y = np.array([0, 1, 1, 1, 1, 1, 0, 0, 0])
    predicted = (x[:, 0] > 0).astype(int)
    expected = {"accuracy": metrics.accuracy(y, predicted),
                "precision": metrics.precision(y, predicted),
                "recall": metrics.recall(y, predicted)}
    assert expected["recall"] != metrics.recall(y, (x[:, 0] > 0.5).astype(int))
    model = logits_model()
    result = model.evaluate(x, y)
    for name, value in expected.items():
        assert result[name] == pytest.approx(value), name
    logs = model.train_on_batch(x, y, return_dict=True)
    for name, value in expected.items():
        assert logs[name] == pytest.approx(value), name
    history = model.fit(x, y, epochs=1, batch_size=3, verbose=0)
    for name, value in expected.items():
        assert history.history[name][0] == pytest.approx(value), name


def test_from_logits_on_a_sigmoid_output_fails_at_compile():
    model = mlp.Sequential([mlp.Dense(1, activation="sigmoid", input_dim=2)])
    with pytest.raises(ValueError, match=r"from_logits=True\) expects logits .* 'sigmoid'"):
        model.compile(loss=BinaryCrossentropy(from_logits=True))


# ----------------------------------------------------------- clear errors, early on
def test_softmax_over_one_unit_is_refused():
    with pytest.raises(ValueError, match="softmax over one unit"):
        mlp.Dense(1, activation="softmax")
    model = mlp.Sequential([mlp.Dense(1, input_dim=2), mlp.Activation("softmax")])
    with pytest.raises(ValueError, match="applies softmax to a width of one"):
        model.compile(optimizer="adam", loss="mse")


def test_mse_has_no_from_logits_form():
    with pytest.raises(ValueError, match="from_logits: MeanSquaredError has no from-logits"):
        MeanSquaredError(from_logits=True)


def test_keras_style_metric_functions_are_accepted():
    def mean_abs(y_true, y_pred):                       # per-sample values, as in Keras
        return np.abs(y_true - y_pred).mean(axis=-1)

    def weighted_abs(y_true, y_pred, sample_weight=None):
        return metrics.mean_absolute_error(y_true, y_pred, sample_weight=sample_weight)

    x, y = regression_data()
    w = np.linspace(0.5, 2.0, len(x))
    model = regression_model("mse")
    model.compile(optimizer="sgd", loss="mse", metrics=[mean_abs, weighted_abs, "mae"])
    history = model.fit(x, y, epochs=2, batch_size=8, sample_weight=w, verbose=0)
    np.testing.assert_allclose(history.history["mean_abs"], history.history["mae"], rtol=1e-12)
    np.testing.assert_allclose(history.history["weighted_abs"], history.history["mae"],
                               rtol=1e-12)
    result = model.evaluate(x, y)
    assert result["mean_abs"] == pytest.approx(result["mae"], rel=1e-12)


def test_metric_that_cannot_take_two_arrays_fails_at_compile():
    model = regression_model("mse")
    with pytest.raises(TypeError, match=r"metrics: expected a function f\(y_true, y_pred\)"):
        model.compile(optimizer="sgd", loss="mse", metrics=[lambda y: 0.0])


def test_weights_exist_after_compile_when_the_input_width_is_known():
    model = mlp.Sequential([mlp.Dense(4, input_dim=3), mlp.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    kernel, bias = model.layers[0].get_weights()
    assert kernel.shape == (3, 4) and bias.shape == (4,)
    assert model.layers[0].kernel.shape == (3, 4)
    unbuilt = mlp.Dense(2)
    with pytest.raises(RuntimeError, match="kernel: layer .* has no weights yet"):
        unbuilt.kernel


def test_one_sample_predict_suggests_reshape_1_minus_1():
    model = mlp.Sequential([mlp.Dense(1, input_dim=4)], seed=0)
    model.compile(optimizer="adam", loss="mse")
    with pytest.raises(ValueError, match=r"x\.reshape\(1, -1\) for a single sample"):
        model.predict(np.ones(4))


def test_keras_spellings_are_accepted(capsys):
    x, y = regression_data()
    model = mlp.Sequential([mlp.Dense(4, input_shape=(3,)), mlp.Dense(2)], seed=1)
    assert model.input_dim == 3
    with pytest.raises(ValueError, match="input_shape: expected the number of features"):
        mlp.Dense(4, input_shape=(3, 2))
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    as_dict = model.evaluate(x, y, return_dict=True)
    assert set(as_dict) == {"loss", "mae"}
    assert model.evaluate(x, y, return_dict=False) == [as_dict["loss"], as_dict["mae"]]
    model.compile(optimizer="adam", loss="mse")
    assert model.evaluate(x, y, return_dict=False) == pytest.approx(as_dict["loss"])
    stop = mlp.EarlyStopping(monitor="loss", patience=0, verbose=1, min_delta=1e9,
                             restore_best_weights=True)
    model.fit(x, y, epochs=5, verbose=0, callbacks=[stop])
    out = capsys.readouterr().out
    assert "Epoch 2: early stopping" in out
    assert "Restoring model weights from the end of the best epoch: 1." in out


# ------------------------------------------------------------------ copy and pickle
@pytest.mark.parametrize("clone", [copy.deepcopy, lambda m: pickle.loads(pickle.dumps(m))],
                         ids=["deepcopy", "pickle"])
@pytest.mark.parametrize("backend", ["cpu", "reference"])
def test_a_trained_model_copies_and_continues_exactly(clone, backend):
    x, y = regression_data()
    model = regression_model("mse", backend)
    model.compile(optimizer=mlp.Adam(0.01), loss="mse", metrics=["mae"])
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    model.predict(x[:1])                      # plans for predict exist too
    twin = clone(model)
    assert twin.backend is model.backend
    np.testing.assert_array_equal(twin.predict(x), model.predict(x))
    h_model = model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    h_twin = twin.fit(x, y, epochs=2, batch_size=8, verbose=0)
    assert h_twin.history == h_model.history
    for a, b in zip(twin.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    # the layers of the copy point at the copy's weights, not at the original's
    twin.layers[0].kernel[...] = 0
    assert np.any(model.layers[0].kernel != 0)
    assert np.all(twin.get_weights()[0] == 0)


def test_compiled_preset_metrics_pickle():
    model = regression_model("mse")
    model.compile(optimizer="adam", loss="mse", metrics=["f1_macro", "top_3_accuracy"])
    names = list(pickle.loads(pickle.dumps(model)).metrics)
    assert names == ["f1_macro", "top_3_accuracy"]


# ------------------------------------------------------------------ text labels
def test_metrics_take_text_labels():
    truth = ["cat", "dog", "cat", "dog", "cat"]
    predicted = ["cat", "cat", "cat", "dog", "dog"]
    np.testing.assert_array_equal(metrics.confusion_matrix(truth, predicted), [[2, 1], [1, 1]])
    np.testing.assert_array_equal(
        metrics.confusion_matrix(truth, predicted, labels=["dog", "cat"]), [[1, 1], [1, 2]])
    assert metrics.accuracy(truth, predicted) == pytest.approx(0.6)
    assert metrics.precision(truth, predicted) == pytest.approx((2 / 3 + 1 / 2) / 2)
    report = metrics.classification_report(truth, predicted, output_dict=True)
    assert report["cat"]["support"] == 3


def test_text_labels_against_numbers_fail_clearly():
    with pytest.raises(ValueError, match="y_true: holds text labels but y_pred holds numbers"):
        metrics.confusion_matrix(["cat", "dog"], [0, 1])


# ------------------------------------------------------------- Keras conveniences
def test_weights_get_layer_and_pop():
    model = mlp.Sequential([mlp.Dense(4, input_dim=3, name="hidden"), mlp.Dropout(0.1),
                            mlp.Dense(2, name="out")], seed=0)
    model.compile(optimizer="adam", loss="mse")
    assert [w.shape for w in model.weights] == [(3, 4), (4,), (4, 2), (2,)]
    model.get_layer("hidden").trainable = False
    assert [w.shape for w in model.trainable_weights] == [(4, 2), (2,)]
    assert [w.shape for w in model.non_trainable_weights] == [(3, 4), (4,)]
    assert model.get_layer(index=-1).name == "out"
    with pytest.raises(ValueError, match="name: no layer called 'nope'"):
        model.get_layer("nope")
    hidden = model.get_weights()[:2]
    popped = model.pop()
    assert popped.name == "out" and not popped.built
    for a, b in zip(model.get_weights(), hidden):
        np.testing.assert_array_equal(a, b)
    model.add(mlp.Dense(1, name="new_out"))
    model.compile(optimizer="adam", loss="mse")      # pop forgot the old compile settings
    x, y = regression_data()
    model.fit(x, y[:, :1], epochs=1, verbose=0)
    assert model.predict(x).shape == (len(x), 1)


def test_lambda_callback_and_clone_model():
    x, y = regression_data()
    model = regression_model("mse")
    seen = []
    batches = []
    log = mlp.LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append((epoch, logs["loss"])),
                             on_batch_end=lambda batch, logs: batches.append(batch))
    history = model.fit(x, y, epochs=2, batch_size=16, verbose=0, callbacks=[log])
    assert seen == list(enumerate(history.history["loss"]))
    assert batches == [0, 1, 2, 0, 1, 2]
    clone = mlp.clone_model(model)
    assert clone.get_config() == model.get_config() and not clone.compiled
    assert all(a is not b for a, b in zip(clone.layers, model.layers))
    fresh = regression_model("mse")                   # the weights the original started from
    for a, b in zip(clone.get_weights(), fresh.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_set_random_seed_makes_unseeded_models_reproducible():
    def unseeded_weights():
        return mlp.Sequential([mlp.Dense(3, input_dim=2)]).get_weights()[0]

    mlp.set_random_seed(7)
    first = [unseeded_weights(), unseeded_weights()]
    mlp.set_random_seed(7)
    second = [unseeded_weights(), unseeded_weights()]
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])
    assert not np.array_equal(first[0], first[1])


def test_orthogonal_and_truncated_normal_initializers():
    rng = np.random.default_rng(0)
    for shape in [(6, 4), (4, 6)]:
        q = mlp.initializers.get("orthogonal")(shape, "float64", rng)
        small = min(shape)
        gram = q.T @ q if shape[0] > shape[1] else q @ q.T
        np.testing.assert_allclose(gram, np.eye(small), atol=1e-12)
    vector = mlp.initializers.Orthogonal(gain=2.0)((4,), "float64", rng)
    assert vector.shape == (4,) and np.linalg.norm(vector) == pytest.approx(2.0)
    values = mlp.initializers.get({"class_name": "TruncatedNormal",
                                   "config": {"stddev": 0.5}})((2000,), "float64", rng)
    assert np.abs(values).max() <= 1.0 and 0.3 < values.std() < 0.5
    model = mlp.Sequential([mlp.Dense(3, input_dim=5, kernel_initializer="orthogonal")], seed=0)
    model.build()
    kernel = model.get_weights()[0]
    np.testing.assert_allclose(kernel.T @ kernel, np.eye(3), atol=1e-5)


@pytest.mark.parametrize("loss_class, out, kind", [
    (BinaryCrossentropy, 1, "binary"), (mlp.losses.CategoricalCrossentropy, 3, "one_hot")])
def test_label_smoothing_trains_on_smoothed_targets(loss_class, out, kind):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(40, 3))
    labels = rng.integers(0, out if out > 1 else 2, 40)
    y = labels.astype(float) if kind == "binary" else np.eye(out)[labels]
    smoothed = y * 0.8 + (0.1 if kind == "binary" else 0.2 / out)
    activation = "sigmoid" if out == 1 else "softmax"

    def model(loss):
        m = mlp.Sequential([mlp.Dense(4, activation="tanh", input_dim=3),
                            mlp.Dense(out, activation=activation)], seed=2, dtype="float64")
        m.compile(optimizer=mlp.Adam(0.05), loss=loss, metrics=["accuracy", "mse"])
        return m

    smooth, manual = model(loss_class(label_smoothing=0.2)), model(loss_class())
    h_smooth = smooth.fit(x, y, epochs=3, batch_size=8, validation_data=(x, y), verbose=0)
    h_manual = manual.fit(x, smoothed, epochs=3, batch_size=8, validation_data=(x, smoothed),
                          verbose=0)
    for key in ("loss", "val_loss"):
        np.testing.assert_allclose(h_smooth.history[key], h_manual.history[key], rtol=1e-12)
    # the metrics see the targets as given
    assert smooth.evaluate(x, y)["mse"] == pytest.approx(
        metrics.mean_squared_error(y.reshape(len(x), -1), smooth.predict(x)), rel=1e-12)
    assert smooth.evaluate(x, y)["loss"] == pytest.approx(manual.evaluate(x, smoothed)["loss"],
                                                          rel=1e-12)
    assert smooth.loss.get_config() == {"from_logits": False, "label_smoothing": 0.2}
    with pytest.raises(TypeError):
        mlp.losses.SparseCategoricalCrossentropy(label_smoothing=0.1)


def test_bias_regularizer_adds_its_penalty_and_gradient():
    x, y = regression_data()

    def model(backend="cpu", bias_regularizer=mlp.regularizers.L1L2(l1=0.01, l2=0.5)):
        m = mlp.Sequential([mlp.Dense(5, activation="tanh", input_dim=3,
                                      bias_regularizer=bias_regularizer),
                            mlp.Dense(2, bias_regularizer="l2")], seed=5, dtype="float64",
                           backend=backend)
        m.compile(optimizer=mlp.SGD(0.1), loss="mse")
        m.set_weights([w + 0.3 for w in m.get_weights()])
        return m

    plain, regularized = model(bias_regularizer=None), model()
    b = regularized.get_weights()[1]       # the second layers' "l2" penalties are equal
    assert regularized.evaluate(x, y)["loss"] - plain.evaluate(x, y)["loss"] == pytest.approx(
        0.01 * np.abs(b).sum() + 0.5 * (b ** 2).sum(), rel=1e-9)
    # the fused plan and the reference backend train the same
    fused, reference = model(), model("reference")
    fused.fit(x, y, epochs=2, batch_size=8, verbose=0)
    reference.fit(x, y, epochs=2, batch_size=8, verbose=0)
    assert type(fused._train_plan) is FusedCPUPlan
    for a, c in zip(fused.get_weights(), reference.get_weights()):
        np.testing.assert_allclose(a, c, rtol=1e-9, atol=1e-12)
    assert mlp.Dense(2, bias_regularizer="l1").get_config()["bias_regularizer"] is not None


# ------------------------------------------------------------- custom activations
class PythonTanh(mlp.activations.CustomActivation):
    def call(self, z):
        return np.tanh(z)

    def gradient(self, z, y):
        return 1 - y ** 2


@pytest.mark.parametrize("backend", ["cpu", "reference"])
@pytest.mark.parametrize("where", ["dense", "activation_layer"])
def test_custom_activation_trains_as_its_builtin_twin(backend, where):
    x, y = regression_data()

    def model(activation):
        layers = ([mlp.Dense(6, activation=activation, input_dim=3)] if where == "dense" else
                  [mlp.Dense(6, input_dim=3), mlp.Activation(activation)])
        m = mlp.Sequential(layers + [mlp.Dense(2)], seed=3, dtype="float64", backend=backend)
        m.compile(optimizer=mlp.SGD(0.05, momentum=0.5), loss="mse")
        return m

    custom, builtin = model(PythonTanh()), model("tanh")
    h_custom = custom.fit(x, y, epochs=3, batch_size=8, verbose=0)
    h_builtin = builtin.fit(x, y, epochs=3, batch_size=8, verbose=0)
    np.testing.assert_allclose(h_custom.history["loss"], h_builtin.history["loss"], rtol=1e-10)
    for a, b in zip(custom.get_weights(), builtin.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(custom.predict(x), builtin.predict(x), rtol=1e-9, atol=1e-12)
    assert type(custom._train_plan) is engine.TrainingPlan


def test_custom_activation_from_functions_and_its_errors(tmp_path):
    softsign = mlp.activations.custom(lambda z: z / (1 + np.abs(z)),
                                      lambda z, y: 1 / (1 + np.abs(z)) ** 2, name="softsign")
    model = mlp.Sequential([mlp.Dense(3, activation=softsign, input_dim=2), mlp.Dense(1)],
                           seed=0)
    model.compile(optimizer="adam", loss="mse")
    z = np.ones((4, 2)) @ model.get_weights()[0] + model.get_weights()[1]
    np.testing.assert_allclose(model.predict(np.ones((4, 2)))[:, 0],
                               (z / (1 + np.abs(z))) @ model.get_weights()[2][:, 0]
                               + model.get_weights()[3][0], rtol=1e-5)
    with pytest.raises(ValueError, match="save: layer .* has the custom activation"):
        model.save(tmp_path / "m.mlp")

    class NoGradient(mlp.activations.CustomActivation):
        def call(self, z):
            return z

    with pytest.raises(TypeError, match=r"NoGradient does not define gradient\(z, y\)"):
        mlp.Dense(2, activation=NoGradient())


@pytest.mark.parametrize("name", sorted(mlp.activations.PYTHON_ACTIVATIONS))
def test_python_activations_by_name_match_their_formula_and_derivative(name, tmp_path):
    activation = mlp.activations.PYTHON_ACTIVATIONS[name]
    z = np.linspace(-7.3, 7.1, 61).reshape(-1, 1) + np.array([[0.0, 0.013]])
    formulas = {
        "selu": np.where(z > 0, 1.0507009873554805 * z,
                         1.0507009873554805 * 1.6732632423543772 * (np.exp(z) - 1)),
        "softplus": np.log(1 + np.exp(z)),
        "relu6": np.minimum(np.maximum(z, 0), 6),
        "mish": z * np.tanh(np.log(1 + np.exp(z))),
        "hard_sigmoid": np.clip(z / 6 + 0.5, 0, 1),
    }
    y = activation.call(z)
    np.testing.assert_allclose(y, formulas[name], rtol=1e-12, atol=1e-12)
    eps = 1e-6
    numeric = (activation.call(z + eps) - activation.call(z - eps)) / (2 * eps)
    np.testing.assert_allclose(activation.gradient(z, y), numeric, rtol=1e-6, atol=1e-7)
    x, target = regression_data()
    model = mlp.Sequential([mlp.Dense(5, activation=name, input_dim=3), mlp.Dense(2)], seed=0)
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, target, epochs=1, verbose=0)
    model.save(tmp_path / "m.mlp")
    np.testing.assert_array_equal(mlp.load_model(tmp_path / "m.mlp").predict(x), model.predict(x))
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(model)).predict(x), model.predict(x))


def keras_nadam(steps, grads, lr=0.01, b1=0.9, b2=0.999, eps=1e-7):
    """Keras 3's Nadam written out (its update_step), for a few steps on a vector."""
    p, m, v, u_product = np.array([1.0, -2.0, 0.5]), np.zeros(3), np.zeros(3), 1.0
    for t in range(1, steps + 1):
        g = grads[t - 1]
        u_t = b1 * (1 - 0.5 * 0.96 ** (0.004 * t))
        u_t_1 = b1 * (1 - 0.5 * 0.96 ** (0.004 * (t + 1)))
        u_product_t = u_product * u_t
        u_product_t_1 = u_product_t * u_t_1
        m = m + (g - m) * (1 - b1)
        v = v + (g ** 2 - v) * (1 - b2)
        m_hat = u_t_1 * m / (1 - u_product_t_1) + (1 - u_t) * g / (1 - u_product_t)
        p = p - m_hat * lr / (np.sqrt(v / (1 - b2 ** t)) + eps)
        u_product = u_product_t
    return p


def keras_adamax(steps, grads, lr=0.01, b1=0.9, b2=0.999, eps=1e-7):
    p, m, u = np.array([1.0, -2.0, 0.5]), np.zeros(3), np.zeros(3)
    for t in range(1, steps + 1):
        g = grads[t - 1]
        m = m + (g - m) * (1 - b1)
        u = np.maximum(b2 * u, np.abs(g))
        p = p - lr * m / ((1 - b1 ** t) * (u + eps))
    return p


@pytest.mark.parametrize("name, reference", [("nadam", keras_nadam), ("adamax", keras_adamax)])
def test_nadam_and_adamax_follow_keras(name, reference, tmp_path):
    grads = np.random.default_rng(0).normal(size=(5, 3))
    optimizer = mlp.optimizers.get({"class_name": name, "config": {"learning_rate": 0.01}})
    params = np.array([1.0, -2.0, 0.5])
    for g in grads:
        optimizer.apply(get_backend("reference"), params, g.copy())
    np.testing.assert_allclose(params, reference(5, grads), rtol=1e-12)
    # in a model: the same on the cpu and reference backends, saved and continued exactly
    x, y = regression_data()
    models = []
    for backend in ("cpu", "reference"):
        model = regression_model("mse", backend)
        model.compile(optimizer=name, loss="mse")
        model.fit(x, y, epochs=2, batch_size=8, verbose=0)
        models.append(model)
    for a, b in zip(*(m.get_weights() for m in models)):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    models[0].save(tmp_path / "m.mlp")
    loaded = mlp.load_model(tmp_path / "m.mlp")
    models[0].fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0)
    loaded.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0)
    for a, b in zip(models[0].get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_gaussian_noise_perturbs_training_only_and_reproducibly(tmp_path):
    x, y = regression_data()

    def model(stddev, backend="cpu"):
        m = mlp.Sequential([mlp.Input((3,)), mlp.GaussianNoise(stddev),
                            mlp.Dense(4, activation="tanh"), mlp.Dense(2)], seed=8,
                           dtype="float64", backend=backend)
        m.compile(optimizer=mlp.SGD(0.05), loss="mse")
        return m

    noisy, again, reference, quiet = model(0.5), model(0.5), model(0.5, "reference"), model(0.0)
    np.testing.assert_array_equal(noisy.predict(x), quiet.predict(x))   # inference: no noise
    for m in (noisy, again, reference, quiet):
        m.fit(x, y, epochs=2, batch_size=8, verbose=0)
    assert type(noisy._train_plan) is engine.TrainingPlan
    for a, b, c in zip(noisy.get_weights(), again.get_weights(), reference.get_weights()):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_allclose(a, c, rtol=1e-9, atol=1e-12)
    assert not np.allclose(noisy.get_weights()[0], quiet.get_weights()[0])
    noisy.save(tmp_path / "n.mlp")
    loaded = mlp.load_model(tmp_path / "n.mlp")
    assert loaded.layers[1].stddev == 0.5
    np.testing.assert_array_equal(loaded.predict(x), noisy.predict(x))
    with pytest.raises(ValueError, match="stddev: expected a finite number >= 0"):
        mlp.GaussianNoise(-1.0)
