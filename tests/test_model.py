"""Sequential: the Keras-style API end to end, and clear errors for every misuse."""
from __future__ import annotations

import importlib.util
import warnings

import numpy as np
import pytest

import mlp
import mlp.backends
from mlp.losses import BinaryCrossentropy


def binary_data(n=120, d=30, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype(dtype)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(dtype)
    return x, y


def small_model(out=1, activation="sigmoid", loss="binary_crossentropy", optimizer="sgd",
                metrics=None, backend=None, seed=0, dtype="float64", n_in=3, compile=True):
    model = mlp.Sequential([mlp.Dense(4, activation="tanh", input_dim=n_in),
                            mlp.Dense(out, activation=activation)], seed=seed, backend=backend,
                           dtype=dtype)
    if compile:
        model.compile(optimizer=optimizer, loss=loss, metrics=metrics)
    return model


def bce(y, p):
    p = np.clip(p, 1e-7, 1 - 1e-7)
    return -(y * np.log(p) + (1 - y) * np.log1p(-p))


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3))
    return x, (x[:, 0] > 0).astype(np.float64)


# ------------------------------------------------------------------- the design example
def test_design_section_1_example_runs_as_written(capsys):
    X_train, y_train = binary_data(200)
    X_test, y_test = binary_data(50, seed=1)
    X_new = X_test[:7]
    model = mlp.Sequential([
        mlp.Dense(64, activation="relu", input_dim=30),
        mlp.Dropout(0.2),
        mlp.Dense(1, activation="sigmoid"),
    ], seed=0)
    model.compile(optimizer=mlp.Adam(1e-3), loss="binary_crossentropy",
                  metrics=["accuracy", "precision", "recall", "f1"])
    history = model.fit(X_train, y_train, epochs=100, batch_size=32, validation_split=0.2,
                        callbacks=[mlp.EarlyStopping(patience=5, restore_best_weights=True)])
    printed = capsys.readouterr().out.strip().splitlines()      # verbose="auto": one line/epoch
    assert isinstance(history, mlp.History) and history is model.history
    keys = ["loss", "accuracy", "precision", "recall", "f1"]
    assert list(history.history) == keys + [f"val_{k}" for k in keys]
    n_epochs = len(history.epoch)
    assert 1 <= n_epochs <= 100 and history.epoch == list(range(n_epochs))
    assert len(printed) == n_epochs and "val_loss:" in printed[-1]
    assert all(len(v) == n_epochs for v in history.history.values())
    assert history.history["loss"][-1] < history.history["loss"][0]
    result = model.evaluate(X_test, y_test)
    assert isinstance(result, dict) and list(result) == keys
    assert all(isinstance(v, float) and np.isfinite(v) for v in result.values())
    assert result["accuracy"] > 0.8
    for key in keys[1:]:
        assert 0.0 <= result[key] <= 1.0
    proba = model.predict(X_new)
    assert proba.shape == (7, 1) and proba.dtype == np.float32
    assert np.all((proba > 0) & (proba < 1))


@pytest.mark.skipif(importlib.util.find_spec("mlp.io") is None, reason="mlp.io not written yet")
def test_design_section_1_example_saves(tmp_path):
    X_train, y_train = binary_data(64)
    model = mlp.Sequential([mlp.Dense(8, activation="relu", input_dim=30), mlp.Dropout(0.2),
                            mlp.Dense(1, activation="sigmoid")], seed=0)
    model.compile(optimizer=mlp.Adam(1e-3), loss="binary_crossentropy", metrics=["accuracy"])
    model.fit(X_train, y_train, epochs=2, verbose=0)
    model.save(tmp_path / "model.mlp")
    assert (tmp_path / "model.mlp").is_file()


def test_xor_is_learned_exactly():
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
    y = np.array([0, 1, 1, 0], dtype=np.float32)
    model = mlp.Sequential([mlp.Dense(4, activation="tanh", input_dim=2),
                            mlp.Dense(1, activation="sigmoid")], seed=3)
    model.compile(optimizer=mlp.Adam(0.05), loss="binary_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=300, batch_size=4, verbose=0)
    assert history.history["accuracy"][-1] == 1.0
    assert history.history["loss"][-1] < 0.05
    proba = model.predict(x).ravel()
    np.testing.assert_array_equal(proba > 0.5, y.astype(bool))
    assert model.evaluate(x, y)["accuracy"] == 1.0


# ------------------------------------------------------------------ predict / evaluate
def test_predict_returns_probabilities(data):
    x, _ = data
    labels = (x[:, 0] > 0).astype(int) + (x[:, 1] > 0).astype(int)
    softmax = small_model(3, "softmax", "sparse_categorical_crossentropy", optimizer="adam")
    softmax.fit(x, labels, epochs=3, verbose=0)
    proba = softmax.predict(x)
    assert proba.shape == (40, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    assert np.all(proba > 0)
    classes = softmax.predict(x).argmax(1)
    assert classes.shape == (40,) and set(classes) <= {0, 1, 2}
    sigmoid = small_model()
    sigmoid.fit(x, data[1], epochs=2, verbose=0)
    p = sigmoid.predict(x)
    assert p.shape == (40, 1) and np.all((p > 0) & (p < 1))
    assert isinstance(p, np.ndarray)


def test_predict_in_chunks_equals_one_chunk(data):
    x, y = data
    model = small_model()
    model.fit(x, y, epochs=2, verbose=0)
    np.testing.assert_allclose(model.predict(x, batch_size=7), model.predict(x, batch_size=64),
                               rtol=1e-13)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_small_predict_path_matches_the_general_path(dtype, monkeypatch):
    """predict's short path for a few rows in the model's layout (no conversion) gives the
    bits of the general path, reports bad rows like it, and sees every weight change."""
    from mlp.backends.cpu_plan import FusedCPUPlan

    taken = []
    short_path = FusedCPUPlan.predict_small
    monkeypatch.setattr(FusedCPUPlan, "predict_small",
                        lambda plan, x: taken.append(short_path(plan, x)) or taken[-1])
    x, y = binary_data(60, 5, dtype=dtype)
    model = small_model(n_in=5, dtype=dtype, optimizer="adam")
    model.fit(x, y, epochs=2, verbose=0)
    row = np.ascontiguousarray(x[:1])
    general = model.predict(x[:1].tolist())  # a list: converted on the general path
    assert not taken
    fast = model.predict(row)
    assert len(taken) == 1 and taken[0] is fast
    assert fast.dtype == np.dtype(dtype) and fast.shape == (1, 1)
    frozen = row.copy()
    frozen.flags.writeable = False  # e.g. a memory-mapped data set
    np.testing.assert_array_equal(model.predict(frozen), fast)
    np.testing.assert_array_equal(fast, general)
    # other layouts and dtypes take the general path to the same numbers
    other = np.float32 if dtype == "float64" else np.float64
    np.testing.assert_allclose(model.predict(x[:3].astype(other)), model.predict(x[:3]),
                               rtol=1e-6)
    np.testing.assert_array_equal(model.predict(np.asfortranarray(x[:4])), model.predict(x[:4]))
    np.testing.assert_array_equal(model.predict(x[:8:2]), model.predict(x[[0, 2, 4, 6]]))
    bad = row.copy()
    bad[0, 2] = np.nan
    with pytest.raises(ValueError, match="x"):
        model.predict(bad)
    with pytest.raises(ValueError, match="x"):
        model.predict(np.ones((1, 4), dtype))
    with pytest.raises(ValueError, match="batch_size"):
        model.predict(row, batch_size=0)
    with pytest.raises(ValueError, match="verbose"):  # False is not 0 on either path
        model.predict(row, verbose=False)
    # new weights, by training or by hand, are seen at once
    model.fit(x, y, epochs=1, verbose=0)
    after_fit = model.predict(row)
    assert not np.array_equal(after_fit, fast)
    weights = model.get_weights()
    model.set_weights([np.zeros_like(w) for w in weights])
    np.testing.assert_array_equal(model.predict(row), np.full((1, 1), 0.5, dtype))
    model.set_weights(weights)
    np.testing.assert_array_equal(model.predict(row), after_fit)


@pytest.mark.parametrize("backend", ["cpu", "reference"])
def test_evaluate_matches_manual_computation(data, backend):
    x, y = data
    model = small_model(metrics=["accuracy", "mse"], backend=backend)
    model.fit(x, y, epochs=2, verbose=0)
    result = model.evaluate(x, y, batch_size=9)
    assert list(result) == ["loss", "accuracy", "mse"]
    p = model.predict(x).ravel()
    assert result["loss"] == pytest.approx(bce(y, p).mean(), rel=1e-10)
    assert result["accuracy"] == pytest.approx(np.mean((p > 0.5) == y))
    assert result["mse"] == pytest.approx(np.mean((p - y) ** 2), rel=1e-10)


def test_evaluate_includes_the_regularization_penalty(data):
    x, y = data
    model = mlp.Sequential([mlp.Dense(4, activation="tanh", input_dim=3,
                                      kernel_regularizer=mlp.regularizers.L2(0.1)),
                            mlp.Dense(1, activation="sigmoid")], seed=0, dtype="float64")
    model.compile(optimizer="sgd", loss="binary_crossentropy")
    model.build()
    p = model.predict(x).ravel()
    penalty = 0.1 * np.sum(model.get_weights()[0] ** 2)
    assert model.evaluate(x, y)["loss"] == pytest.approx(bce(y, p).mean() + penalty, rel=1e-10)


# ----------------------------------------------------------------------- validation
def test_validation_split_takes_the_last_samples_before_shuffling(data):
    x, y = data
    model = small_model(metrics=["accuracy"])
    history = model.fit(x, y, epochs=2, batch_size=8, validation_split=0.25, verbose=0)
    tail = model.evaluate(x[30:], y[30:])
    assert history.history["val_loss"][-1] == pytest.approx(tail["loss"], rel=1e-12)
    assert history.history["val_accuracy"][-1] == tail["accuracy"]
    assert model.optimizer.iterations == 2 * 4      # 30 training samples, batches of 8
    # the same as training on the head with the tail as validation data
    twin = small_model(metrics=["accuracy"])
    twin_history = twin.fit(x[:30], y[:30], epochs=2, batch_size=8,
                            validation_data=(x[30:], y[30:]), verbose=0)
    assert twin_history.history == history.history


def test_validation_data_overrides_validation_split(data):
    x, y = data
    x_val, y_val = x[:5] * 2, 1 - y[:5]
    model = small_model()
    history = model.fit(x, y, epochs=1, batch_size=10, validation_split=0.5,
                        validation_data=(x_val, y_val), verbose=0)
    assert model.optimizer.iterations == 4           # trained on all 40 samples
    assert history.history["val_loss"][0] == pytest.approx(model.evaluate(x_val, y_val)["loss"],
                                                           rel=1e-12)


def test_validation_data_with_sample_weights(data):
    x, y = data
    w = np.linspace(0.5, 2, 10)
    model = small_model()
    history = model.fit(x, y, epochs=1, validation_data=(x[:10], y[:10], w), verbose=0)
    assert history.history["val_loss"][0] == pytest.approx(
        model.evaluate(x[:10], y[:10], sample_weight=w)["loss"], rel=1e-12)


# --------------------------------------------------------------- weights of samples
def test_sample_weight_is_a_weighted_sum_over_batch_size(data):
    x, y = data
    model = small_model()
    model.build()
    p = model.predict(x).ravel()
    w = np.linspace(0.0, 3.0, 40)
    assert model.evaluate(x, y, sample_weight=w)["loss"] == pytest.approx(
        np.sum(w * bce(y, p)) / 40, rel=1e-10)
    # Keras' sum_over_batch_size: doubling every weight doubles the loss
    assert model.evaluate(x, y, sample_weight=2 * np.ones(40))["loss"] == pytest.approx(
        2 * model.evaluate(x, y)["loss"], rel=1e-12)


def test_class_weight_multiplies_the_loss_of_each_class(data):
    x, y = data
    model = small_model()
    model.build()
    p = model.predict(x).ravel()
    w = np.where(y == 1, 3.0, 0.5)
    loss = model.train_on_batch(x, y, class_weight={0: 0.5, 1: 3.0})
    assert loss == pytest.approx(np.sum(w * bce(y, p)) / 40, rel=1e-10)
    # class_weight and sample_weight multiply
    twin = small_model()
    sw = np.linspace(0.5, 1.5, 40)
    loss = twin.train_on_batch(x, y, sample_weight=sw, class_weight={0: 0.5, 1: 3.0})
    assert loss == pytest.approx(np.sum(sw * w * bce(y, p)) / 40, rel=1e-10)
    # and fit with class_weight trains as fit with the equivalent sample weights
    a, b = small_model(), small_model()
    ha = a.fit(x, y, epochs=2, batch_size=8, class_weight={0: 0.5, 1: 3.0}, verbose=0)
    hb = b.fit(x, y, epochs=2, batch_size=8, sample_weight=w, verbose=0)
    assert ha.history["loss"] == pytest.approx(hb.history["loss"], rel=1e-12)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(wa, wb, rtol=1e-12)


def test_class_weight_with_one_hot_and_sparse_targets(data):
    x, _ = data
    labels = np.arange(40) % 3
    one_hot = np.eye(3)[labels]
    weights = {0: 1.0, 1: 2.0, 2: 0.5}
    sparse = small_model(3, "softmax", "sparse_categorical_crossentropy")
    dense = small_model(3, "softmax", "categorical_crossentropy")
    ls = sparse.train_on_batch(x, labels, class_weight=weights)
    ld = dense.train_on_batch(x, one_hot, class_weight=weights)
    assert ls == pytest.approx(ld, rel=1e-12)
    plain = small_model(3, "softmax", "sparse_categorical_crossentropy")
    lp = plain.train_on_batch(x, labels, sample_weight=np.array([weights[c] for c in labels]))
    assert ls == pytest.approx(lp, rel=1e-12)


# ------------------------------------------------------------------ fit arguments
def test_initial_epoch_resumes_the_epoch_count(data):
    x, y = data
    model = small_model()
    history = model.fit(x, y, epochs=5, initial_epoch=3, batch_size=10, verbose=0)
    assert history.epoch == [3, 4]
    assert len(history.history["loss"]) == 2
    assert model.optimizer.iterations == 2 * 4


def test_shuffle_false_trains_in_order(data):
    x, y = data
    # different seeds, same initial weights: without shuffling the seed no longer matters
    a, b = small_model(seed=1), small_model(seed=2)
    a.build(), b.build()
    b.set_weights(a.get_weights())
    ha = a.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    hb = b.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    assert ha.history == hb.history
    # ... and equals train_on_batch over consecutive batches
    c = small_model(seed=1)
    for _ in range(2):
        for begin in range(0, 40, 8):
            c.train_on_batch(x[begin:begin + 8], y[begin:begin + 8])
    for wa, wc in zip(a.get_weights(), c.get_weights()):
        np.testing.assert_allclose(wa, wc, rtol=1e-12)
    d = small_model(seed=1)
    hd = d.fit(x, y, epochs=2, batch_size=8, shuffle=True, verbose=0)
    assert hd.history["loss"] != ha.history["loss"]


def test_fit_verbose_prints_one_line_per_epoch(data, capsys):
    x, y = data
    small_model(metrics=["accuracy"]).fit(x, y, epochs=3, verbose=1)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("Epoch 1/3") and "loss:" in lines[0] and "accuracy:" in lines[0]
    small_model().fit(x, y, epochs=2, verbose=0)
    assert capsys.readouterr().out == ""


def test_fit_twice_continues_training(data):
    x, y = data
    model = small_model(optimizer="adam")
    first = model.fit(x, y, epochs=3, verbose=0).history["loss"]
    second = model.fit(x, y, epochs=3, verbose=0).history["loss"]
    assert second[0] < first[0]
    assert model.optimizer.iterations == 6 * 2


def test_train_test_and_predict_on_batch(data):
    x, y = data
    model = small_model(metrics=["accuracy"])
    model.build()
    before = model.get_weights()
    p = model.predict(x[:10]).ravel()
    loss = model.train_on_batch(x[:10], y[:10])
    assert isinstance(loss, float)
    assert loss == pytest.approx(bce(y[:10], p).mean(), rel=1e-10)   # loss before the step
    assert not np.array_equal(before[0], model.get_weights()[0])
    logs = model.train_on_batch(x[:10], y[:10], return_dict=True)
    assert set(logs) == {"loss", "accuracy"}
    assert model.optimizer.iterations == 2
    after = model.get_weights()
    test = model.test_on_batch(x[:10], y[:10], return_dict=True)
    assert test == model.evaluate(x[:10], y[:10])
    assert model.test_on_batch(x[:10], y[:10]) == test["loss"]
    for a, b in zip(after, model.get_weights()):
        assert np.array_equal(a, b)                  # test_on_batch does not train
    np.testing.assert_array_equal(model.predict_on_batch(x[:10]), model.predict(x[:10]))


# -------------------------------------------------------------------------- summary
def test_summary_lists_layers_shapes_and_counts():
    model = mlp.Sequential([mlp.Input((30,)), mlp.Dense(64, activation="relu"),
                            mlp.Dropout(0.2), mlp.Activation("tanh"),
                            mlp.Dense(10, activation="softmax")], name="clf")
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert 'Model: "clf"' in text
    assert len([line for line in lines if "(None," in line]) == 4
    dense_rows = [line for line in lines if "(Dense)" in line]
    assert len(dense_rows) == 2
    assert "(None, 64)" in dense_rows[0] and dense_rows[0].rstrip().endswith("1,984")
    assert "(None, 10)" in dense_rows[1] and dense_rows[1].rstrip().endswith("650")
    assert any("(Dropout)" in line and "(None, 64)" in line for line in lines)
    assert any("(Activation)" in line and "(None, 64)" in line for line in lines)
    assert "Total params: 2,634" in text
    assert "Trainable params: 2,634" in text
    assert "Non-trainable params: 0" in text


def test_summary_prints_by_default(capsys):
    small_model(compile=False).summary()
    out = capsys.readouterr().out
    assert "Total params: 21" in out


# ---------------------------------------------------------------------- weights
def test_get_set_weights_round_trip(data):
    x, y = data
    a, b = small_model(seed=1), small_model(seed=2)
    a.fit(x, y, epochs=2, verbose=0)
    b.build()
    weights = a.get_weights()
    assert [w.shape for w in weights] == [(3, 4), (4,), (4, 1), (1,)]
    weights[0][...] = 123.0                           # a copy, not a view
    assert not np.any(a.get_weights()[0] == 123.0)
    b.set_weights(a.get_weights())
    np.testing.assert_array_equal(a.predict(x), b.predict(x))
    assert a.count_params() == b.count_params() == 21


def test_set_weights_refuses_wrong_count_and_shapes():
    model = small_model()
    model.build()
    weights = model.get_weights()
    with pytest.raises(ValueError, match="expected 4 arrays, got 3"):
        model.set_weights(weights[:3])
    bad = list(weights)
    bad[2] = np.zeros((4, 2))
    with pytest.raises(ValueError, match=r"weights\[0\].*expects shape \(4, 1\), got \(4, 2\)"):
        model.set_weights(bad)
    bad = list(weights)
    bad[1] = np.full(4, np.nan)
    with pytest.raises(ValueError, match="finite"):
        model.set_weights(bad)
    # nothing was written by the refused calls
    for a, b in zip(weights, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_get_weights_before_build_is_an_error():
    model = mlp.Sequential([mlp.Dense(2), mlp.Dense(1)])
    with pytest.raises(RuntimeError, match="get_weights: the model has no weights yet"):
        model.get_weights()


def test_model_with_declared_input_has_weights_at_once():
    # the weights exist as soon as they are asked for (layers may be added until then)
    model = mlp.Sequential([mlp.Dense(4, input_dim=3)], seed=0)
    model.add(mlp.Dense(1))
    assert [w.shape for w in model.get_weights()] == [(3, 4), (4,), (4, 1), (1,)]
    assert model.built and model.count_params() == 21


# ---------------------------------------------------------------- building lazily
def test_input_layer_declares_the_width(data):
    x, y = data
    for first in (mlp.Input((3,)), mlp.Input(3)):
        model = mlp.Sequential([first, mlp.Dense(4, activation="tanh"),
                                mlp.Dense(1, activation="sigmoid")], seed=0)
        assert model.input_dim == 3
        model.compile(optimizer="sgd", loss="binary_crossentropy")
        model.fit(x, y, epochs=1, verbose=0)
        assert [w.shape for w in model.get_weights()] == [(3, 4), (4,), (4, 1), (1,)]
        with pytest.raises(ValueError, match="expected 3 features"):
            model.predict(np.zeros((2, 4)))


def test_model_without_input_dim_is_built_at_first_fit(data):
    x, y = data
    model = mlp.Sequential([mlp.Dense(5, activation="relu"), mlp.Dense(1)], seed=0)
    assert not model.built and model.input_dim is None
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, y, epochs=1, verbose=0)
    assert model.built and model.input_dim == 3
    assert model.count_params() == 3 * 5 + 5 + 5 + 1
    with pytest.raises(ValueError, match="expected 3 features"):
        model.fit(np.zeros((4, 2)), np.zeros(4), verbose=0)


def test_model_without_input_dim_is_built_at_first_predict():
    model = mlp.Sequential()
    model.add(mlp.Dense(2, activation="softmax"))
    assert model.predict(np.ones((3, 6))).shape == (3, 2)
    assert model.input_dim == 6


def test_build_explicitly_and_add_after_build_keeps_the_weights():
    model = mlp.Sequential([mlp.Dense(2)])
    model.build(5)
    assert model.count_params() == 12
    before = model.get_weights()
    model.add(mlp.Dense(1))                      # as in Keras: the others keep their weights
    assert model.count_params() == 15
    for a, b in zip(model.get_weights()[:2], before):
        np.testing.assert_array_equal(a, b)


# ------------------------------------------------------------------------ backends
def test_to_reference_keeps_predictions_and_training(data):
    x, y = data
    model = small_model(optimizer="adam", backend="cpu")
    model.fit(x, y, epochs=2, verbose=0)
    before = model.predict(x)
    assert model.to("reference") is model
    assert model.backend.name == "reference"
    np.testing.assert_allclose(model.predict(x), before, rtol=1e-12)
    history = model.fit(x, y, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    model.to("cpu")
    assert model.backend.name == "cpu"


def test_to_reference_continues_training_like_staying_on_cpu(data):
    x, y = data
    a, b = small_model(optimizer="adam"), small_model(optimizer="adam")
    a.fit(x, y, epochs=2, batch_size=8, verbose=0)
    b.fit(x, y, epochs=2, batch_size=8, verbose=0)
    b.to("reference")
    a.fit(x, y, epochs=2, batch_size=8, verbose=0)
    b.fit(x, y, epochs=2, batch_size=8, verbose=0)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(wa, wb, rtol=1e-9, atol=1e-12)


@pytest.fixture
def restore_default_backend(monkeypatch):
    monkeypatch.setattr(mlp.backends, "_global_default", mlp.backends._global_default)


def test_model_remembers_its_backend(data, restore_default_backend):
    x, y = data
    model = small_model(backend=None)
    home = model.backend.name
    other = "reference" if home != "reference" else "cpu"
    mlp.set_backend(other)
    assert model.backend.name == home
    model.fit(x, y, epochs=1, verbose=0)
    assert model.backend.name == home and model._train_plan.backend.name == home
    assert small_model().backend.name == other
    with mlp.use_backend(home):
        assert small_model().backend.name == home


# --------------------------------------------------------------------- divergence
def test_non_finite_loss_stops_training_and_keeps_finite_weights():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 3))
    y = x @ np.array([[1.0], [2.0], [-1.0]])
    model = mlp.Sequential([mlp.Dense(8, input_dim=3), mlp.Dense(1)], seed=0, dtype="float64")
    model.compile(optimizer=mlp.SGD(0.3), loss="mse")
    snapshots = []

    class Snapshot(mlp.Callback):
        def on_epoch_end(self, epoch, logs=None):
            snapshots.append(self.model.get_weights())

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")     # NumPy overflow warnings of the reference math
        with pytest.warns(RuntimeWarning, match="loss became (nan|inf).*training stopped"):
            history = model.fit(x, y, epochs=50, batch_size=8, verbose=0,
                                callbacks=[Snapshot()])
    n = len(history.epoch)
    assert 1 <= n < 50 and len(snapshots) == n
    assert all(np.isfinite(v) for v in history.history["loss"])
    assert all(np.all(np.isfinite(w)) for w in model.get_weights())
    for a, b in zip(snapshots[-1], model.get_weights()):
        np.testing.assert_array_equal(a, b)        # the weights of the last finite epoch
    assert model.stop_training
    assert np.all(np.isfinite(model.predict(x)))


def test_after_divergence_a_lower_learning_rate_trains_again():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 3))
    y = x @ np.array([[1.0], [2.0], [-1.0]])
    model = mlp.Sequential([mlp.Dense(8, input_dim=3), mlp.Dense(1)], seed=0, dtype="float64")
    optimizer = mlp.SGD(0.3, momentum=0.5)
    model.compile(optimizer=optimizer, loss="mse")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(x, y, epochs=20, batch_size=8, verbose=0)
    assert model.stop_training
    assert all(np.all(np.isfinite(s)) for s in optimizer.slots.values())
    optimizer.learning_rate = 1e-3
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        history = model.fit(x, y, epochs=3, batch_size=8, verbose=0)
    assert len(history.epoch) == 3


def test_non_finite_loss_in_the_first_epoch_keeps_the_initial_weights():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 3))
    y = x @ np.array([[1.0], [2.0], [-1.0]])
    model = mlp.Sequential([mlp.Dense(8, input_dim=3), mlp.Dense(1)], seed=0, dtype="float64")
    model.compile(optimizer=mlp.SGD(1e3), loss="mse")
    model.build()
    initial = model.get_weights()
    with pytest.warns(RuntimeWarning, match="epoch 1"):
        history = model.fit(x, y, epochs=5, batch_size=8, verbose=0)
    assert history.history == {}
    for a, b in zip(initial, model.get_weights()):
        np.testing.assert_array_equal(a, b)


# ------------------------------------------------------------------------ errors
def test_fit_and_evaluate_before_compile(data):
    x, y = data
    model = small_model(compile=False)
    with pytest.raises(RuntimeError, match="fit: the model must be compiled first"):
        model.fit(x, y)
    with pytest.raises(RuntimeError, match="evaluate: the model must be compiled first"):
        model.evaluate(x, y)
    with pytest.raises(RuntimeError, match="train_on_batch: the model must be compiled"):
        model.train_on_batch(x, y)
    with pytest.raises(RuntimeError, match="compiled first"):
        model.test_on_batch(x, y)


def test_compile_without_loss():
    with pytest.raises(ValueError, match="loss: expected a loss name"):
        small_model(compile=False).compile(optimizer="adam")


def test_input_width_mismatch(data):
    x, y = data
    model = small_model()
    for call in (lambda: model.fit(x[:, :2], y, verbose=0), lambda: model.evaluate(x[:, :2], y),
                 lambda: model.predict(x[:, :2])):
        with pytest.raises(ValueError, match=r"x: expected 3 features .*got 2"):
            call()
    with pytest.raises(ValueError, match=r"val_x: expected 3 features"):
        model.fit(x, y, validation_data=(x[:, :2], y), verbose=0)


def test_x_must_be_two_dimensional(data):
    x, y = data
    with pytest.raises(ValueError, match=r"x: expected a 2-D array.*reshape\(-1, 1\)"):
        small_model().fit(x[:, 0], y, verbose=0)


def test_labels_that_do_not_fit_the_loss(data):
    x, _ = data
    labels = np.arange(40) % 3
    cce = small_model(3, "softmax", "categorical_crossentropy")
    with pytest.raises(ValueError, match=r"y: categorical_crossentropy expects one-hot targets "
                                         r"of shape \(n, 3\).*sparse_categorical_crossentropy"):
        cce.fit(x, labels, verbose=0)
    with pytest.raises(ValueError, match=r"one-hot targets of shape \(n, 3\), got shape "
                                         r"\(40, 2\)"):
        cce.fit(x, np.eye(2)[labels % 2], verbose=0)
    sparse = small_model(3, "softmax", "sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match=r"y: sparse_categorical_crossentropy expects integer "
                                         r"labels.*categorical_crossentropy"):
        sparse.fit(x, np.eye(3)[labels], verbose=0)
    with pytest.raises(ValueError, match="non-integer"):
        sparse.fit(x, labels + 0.5, verbose=0)
    with pytest.raises(ValueError, match=r"y: expected 40 samples"):
        sparse.fit(x, labels[:30], verbose=0)
    mse = small_model(2, None, "mse")
    with pytest.raises(ValueError, match=r"y: expected shape \(40, 2\).*got \(40, 3\)"):
        mse.fit(x, np.zeros((40, 3)), verbose=0)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_inputs(data, bad):
    x, y = data
    model = small_model(loss="mse")
    x_bad = x.copy()
    x_bad[3, 1] = bad
    with pytest.raises(ValueError, match=r"x: expected finite numbers, got 1 NaN or infinite"):
        model.fit(x_bad, y, verbose=0)
    with pytest.raises(ValueError, match=r"x: expected finite numbers"):
        model.predict(x_bad)
    y_bad = y.copy()
    y_bad[0] = bad
    with pytest.raises(ValueError, match=r"y: expected finite numbers"):
        model.fit(x, y_bad, verbose=0)
    with pytest.raises(ValueError, match=r"val_y: expected finite numbers"):
        model.fit(x, y, validation_data=(x, y_bad), verbose=0)


def test_empty_inputs():
    model = small_model()
    with pytest.raises(ValueError, match=r"x: expected at least one sample.*\(0, 3\)"):
        model.fit(np.empty((0, 3)), np.empty(0), verbose=0)
    with pytest.raises(ValueError, match=r"x: expected at least one sample"):
        model.predict(np.empty((0, 3)))


@pytest.mark.parametrize("x", [
    np.array([["a", "b", "c"]] * 4),
    np.array([[1.0, 2.0, None]] * 4, dtype=object),
    np.array([[1 + 1j, 2, 3]] * 4),
])
def test_non_numeric_inputs(x):
    model = small_model()
    with pytest.raises(TypeError, match=r"x: expected a numeric array"):
        model.fit(x, np.zeros(4), verbose=0)
    with pytest.raises(TypeError, match=r"x: expected a numeric array"):
        model.predict(x)


def test_string_targets():
    with pytest.raises(TypeError, match=r"y: expected a numeric array.*encode strings"):
        small_model().fit(np.zeros((4, 3)), np.array(["yes", "no", "yes", "no"]), verbose=0)


def test_ragged_input_is_a_clear_error():
    with pytest.raises((TypeError, ValueError), match=r"^x: "):
        small_model().fit([[1.0, 2.0, 3.0], [1.0, 2.0]], [0.0, 1.0], verbose=0)


def test_integer_and_boolean_inputs_are_accepted(data):
    x, y = data
    model = small_model()
    history = model.fit((x > 0), y.astype(int), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    history = model.fit(np.round(x).astype(np.int32), y.astype(bool), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    # the same numbers as float input give the same predictions
    as_float = np.round(x).astype(model.dtype)
    assert np.array_equal(model.predict(np.round(x).astype(np.int32)), model.predict(as_float))


def test_class_labels_out_of_range_for_softmax(data):
    x, _ = data
    model = small_model(3, "softmax", "sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match=r"y: expected class labels in \[0, 2\] for a model "
                                         r"with 3 outputs, got labels from 0 to 3"):
        model.fit(x, np.arange(40) % 4, verbose=0)
    with pytest.raises(ValueError, match=r"got labels from -1 to 1"):
        model.fit(x, np.arange(40) % 3 - 1, verbose=0)


def test_binary_targets_outside_0_1(data):
    x, y = data
    model = small_model()
    with pytest.raises(ValueError, match=r"y: binary_crossentropy expects targets in \[0, 1\], "
                                         r"got values from 0.0 to 2.0"):
        model.fit(x, 2 * y, verbose=0)
    with pytest.raises(ValueError, match=r"targets in \[0, 1\]"):
        model.fit(x, y - 1, verbose=0)
    cce = small_model(3, "softmax", "categorical_crossentropy")
    with pytest.raises(ValueError, match=r"categorical_crossentropy expects targets in \[0, 1\]"):
        cce.fit(x, 3 * np.eye(3)[np.arange(40) % 3], verbose=0)


@pytest.mark.parametrize("batch_size", [0, -3, 1.5, "32", True, None])
def test_bad_batch_size(data, batch_size):
    x, y = data
    model = small_model()
    with pytest.raises(ValueError, match=r"batch_size: expected an integer >= 1"):
        model.fit(x, y, batch_size=batch_size, verbose=0)
    with pytest.raises(ValueError, match=r"batch_size: expected an integer >= 1"):
        model.predict(x, batch_size=batch_size)
    with pytest.raises(ValueError, match=r"batch_size: expected an integer >= 1"):
        model.evaluate(x, y, batch_size=batch_size)


@pytest.mark.parametrize("validation_split", [1.0, -0.1, 1.5])
def test_bad_validation_split(data, validation_split):
    x, y = data
    with pytest.raises(ValueError, match=r"validation_split: expected a fraction in \[0, 1\)"):
        small_model().fit(x, y, validation_split=validation_split, verbose=0)


def test_validation_split_leaving_an_empty_set(data):
    x, y = data
    with pytest.raises(ValueError, match=r"validation_split: 0.01 of 40 samples leaves an empty"):
        small_model().fit(x, y, validation_split=0.01, verbose=0)


def test_non_numeric_validation_split_names_the_argument(data):
    x, y = data
    with pytest.raises((TypeError, ValueError), match="validation_split"):
        small_model().fit(x, y, validation_split="a", verbose=0)


def test_bad_validation_data(data):
    x, y = data
    with pytest.raises(ValueError, match=r"validation_data: expected \(x_val, y_val\)"):
        small_model().fit(x, y, validation_data=(x,), verbose=0)
    with pytest.raises(ValueError, match=r"validation_data: expected"):
        small_model().fit(x, y, validation_data=x, verbose=0)


@pytest.mark.parametrize("epochs", [-1, 1.5, "a", None])
def test_bad_epochs(data, epochs):
    x, y = data
    with pytest.raises((ValueError, TypeError), match=r"^epochs: "):
        small_model().fit(x, y, epochs=epochs, verbose=0)


def test_epochs_zero_trains_nothing(data):
    x, y = data
    model = small_model()
    history = model.fit(x, y, epochs=0, verbose=0)
    assert history.history == {} and model.optimizer.iterations == 0


def test_bad_initial_epoch(data):
    x, y = data
    with pytest.raises(ValueError, match=r"initial_epoch: expected an integer >= 0"):
        small_model().fit(x, y, initial_epoch=-1, verbose=0)


def test_bad_callbacks(data):
    x, y = data
    with pytest.raises(TypeError, match=r"callbacks: expected mlp.callbacks.Callback objects, "
                                        r"got int"):
        small_model().fit(x, y, callbacks=[1], verbose=0)


def test_bad_class_weight(data):
    x, y = data
    with pytest.raises(TypeError, match=r"class_weight: expected a dict"):
        small_model().fit(x, y, class_weight=[1.0, 2.0], verbose=0)
    with pytest.raises(ValueError, match=r"class_weight: expected finite weights >= 0"):
        small_model().fit(x, y, class_weight={0: -1.0, 1: 1.0}, verbose=0)


@pytest.mark.parametrize("weight, message", [
    (np.ones(39), r"sample_weight: expected shape \(40,\), got \(39,\)"),
    (np.ones((40, 2)), r"sample_weight: expected shape \(40,\), got \(40, 2\)"),
    (-np.ones(40), r"sample_weight: expected weights >= 0"),
    (np.zeros(40), r"sample_weight: expected weights >= 0, not all zero"),
    (np.full(40, np.nan), r"sample_weight: expected finite numbers"),
])
def test_bad_sample_weight(data, weight, message):
    x, y = data
    with pytest.raises(ValueError, match=message):
        small_model().fit(x, y, sample_weight=weight, verbose=0)
    with pytest.raises(ValueError, match=message):
        small_model().evaluate(x, y, sample_weight=weight)


def test_sample_weight_column_is_accepted(data):
    x, y = data
    model = small_model()
    assert model.evaluate(x, y, sample_weight=np.ones((40, 1)))["loss"] == pytest.approx(
        model.evaluate(x, y)["loss"], rel=1e-12)


def test_bad_layer_arguments():
    with pytest.raises(ValueError, match=r"units: expected a positive integer, got 0"):
        mlp.Dense(0)
    with pytest.raises(ValueError, match=r"units: expected a positive integer, got 2.5"):
        mlp.Dense(2.5)
    with pytest.raises(ValueError, match=r"rate: expected a number in \[0, 1\), got 1.0"):
        mlp.Dropout(1.0)
    with pytest.raises(ValueError, match=r"activation: unknown activation 'relux'. Supported "
                                         r"activations are \['linear', 'relu'"):
        mlp.Dense(3, activation="relux")
    with pytest.raises(ValueError, match=r"input_dim: expected a positive integer"):
        mlp.Dense(3, input_dim=0)


def test_unknown_loss_optimizer_metric_list_the_valid_names():
    model = small_model(compile=False)
    with pytest.raises(ValueError, match=r"loss: unknown loss 'hinge'. Supported losses are "
                                         r"\[.*'binary_crossentropy'.*'mse'.*\]"):
        model.compile(optimizer="adam", loss="hinge")
    with pytest.raises(ValueError, match=r"optimizer.*'adagrad', 'adam', 'adamax', 'adamw', "
                                         r"'nadam', 'rmsprop', 'sgd'"):
        model.compile(optimizer="lbfgs", loss="mse")
    with pytest.raises(ValueError, match=r"metrics: unknown metric 'hinge'. Supported metrics "
                                         r"are \[.*'accuracy'.*\]"):
        model.compile(optimizer="adam", loss="mse", metrics=["hinge"])


def test_bad_model_arguments():
    with pytest.raises(ValueError, match=r"dtype: expected one of \['float32', 'float64'\]"):
        mlp.Sequential(dtype="int32")
    with pytest.raises(ValueError, match=r"seed: expected a non-negative integer"):
        mlp.Sequential(seed=-1)
    with pytest.raises(ValueError, match=r"backend: unknown backend 'tpu'. Valid backends"):
        mlp.Sequential(backend="tpu")
    with pytest.raises(TypeError, match=r"layer: expected a mlp layer"):
        mlp.Sequential([3])
    with pytest.raises(ValueError, match=r"layer: Input must be the first layer"):
        mlp.Sequential([mlp.Dense(2, input_dim=3), mlp.Input((3,))])
    with pytest.raises(ValueError, match=r"input_dim: only the first layer may declare it"):
        mlp.Sequential([mlp.Dense(2, input_dim=3), mlp.Dense(2, input_dim=2)])


def test_empty_model_is_a_clear_error(data):
    x, y = data
    model = mlp.Sequential()
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match=r"layers: the model has no layers"):
        model.fit(x, y, verbose=0)


def test_from_logits_loss_with_linear_output_trains(data):
    x, y = data
    model = small_model(1, None, BinaryCrossentropy(from_logits=True), optimizer="adam")
    history = model.fit(x, y, epochs=20, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
