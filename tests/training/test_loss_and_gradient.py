"""``Sequential.loss_and_gradient``: the full-batch loss and gradient an outside optimizer
(scipy's L-BFGS in mlp.sklearn) drives the model with; and models unpickled from read-only
(memory-mapped) buffers, as joblib hands them to workers."""
from __future__ import annotations

import numpy as np
import pytest

import mlp


def model_and_data(loss="mse", out_activation=None, outputs=2, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(40, 3))
    y = rng.normal(size=(40, outputs)) if loss == "mse" else (rng.uniform(size=(40, outputs)) > 0.5)
    model = mlp.Sequential([
        mlp.Dense(5, activation="tanh", input_dim=3, kernel_regularizer=mlp.regularizers.l2(0.05)),
        mlp.Dense(outputs, activation=out_activation)], seed=seed, dtype="float64")
    model.compile(optimizer=mlp.Adam(0.01), loss=loss)
    return model, x, y.astype(float)


@pytest.mark.parametrize("loss, activation, outputs", [
    ("mse", None, 2), ("binary_crossentropy", "sigmoid", 1),
    ("categorical_crossentropy", "softmax", 3)])
def test_the_gradient_is_the_finite_difference_of_the_loss(loss, activation, outputs):
    model, x, y = model_and_data(loss, activation, outputs)
    if loss == "categorical_crossentropy":
        y = np.eye(3)[np.argmax(y, axis=1)]
    weight = np.linspace(0.5, 1.5, len(x))
    value, gradient = model.loss_and_gradient(x, y, weight)
    assert value == pytest.approx(model.evaluate(x, y, sample_weight=weight,
                                                 batch_size=len(x))["loss"], rel=1e-12)
    start = np.array(model.params)
    numeric = np.empty_like(start)
    for i in range(start.size):
        values = []
        for step in (1e-6, -1e-6):
            model.params[:] = start
            model.params[i] += step
            values.append(model.loss_and_gradient(x, y, weight)[0])
        numeric[i] = (values[0] - values[1]) / 2e-6
    model.params[:] = start
    np.testing.assert_allclose(gradient, numeric, rtol=1e-5, atol=1e-8)


def test_it_changes_nothing_and_returns_a_copy():
    model, x, y = model_and_data()
    params = np.array(model.params)
    first = model.loss_and_gradient(x, y)
    first[1][:] = 0.0
    second = model.loss_and_gradient(x, y)
    np.testing.assert_array_equal(model.params, params)
    assert model.optimizer.iterations == 0
    assert first[0] == second[0] and np.abs(second[1]).sum() > 0


def test_it_validates_its_input_like_fit():
    model, x, y = model_and_data()
    with pytest.raises(RuntimeError, match="loss_and_gradient: the model must be compiled"):
        mlp.Sequential([mlp.Dense(1, input_dim=3)]).loss_and_gradient(x, y)
    with pytest.raises(ValueError, match="y"):
        model.loss_and_gradient(x, y[:5])
    with pytest.raises(ValueError, match="x"):
        model.loss_and_gradient(np.where(x > 1, np.nan, x), y)


def test_a_model_unpickled_from_read_only_buffers_trains(tmp_path):
    joblib = pytest.importorskip("joblib")
    model, x, y = model_and_data()
    model.fit(x, y, epochs=2, verbose=0)
    path = tmp_path / "model.joblib"
    joblib.dump(model, path)
    loaded = joblib.load(path, mmap_mode="r")
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    loaded.fit(x, y, epochs=1, verbose=0)  # writes into its own copies of the buffers
    model.fit(x, y, epochs=1, verbose=0)
    np.testing.assert_array_equal(loaded.params, model.params)
    assert loaded.optimizer.iterations == model.optimizer.iterations
