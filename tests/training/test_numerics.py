"""Numbers that go wrong, from the fuzz pass of issue 17: a diverging optimizer is named, data
the model's dtype cannot hold is refused at the boundary, and no loss or metric turns NaN or
infinite without a word."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import mlp


def _regression(n=64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype(np.float32)
    return x, x.sum(axis=1, keepdims=True)


def _model(optimizer, loss="mse", metrics=None, dtype="float32"):
    model = mlp.Sequential([mlp.Dense(16, activation="relu", input_dim=4), mlp.Dense(1)],
                           seed=0, dtype=dtype)
    model.compile(optimizer=optimizer, loss=loss, metrics=metrics)
    return model


def _fit_recording(model, *args, **kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = model.fit(*args, verbose=0, **kwargs)
    return history, [w for w in caught if issubclass(w.category, RuntimeWarning)]


# ------------------------------------------------------------------ divergence
@pytest.mark.parametrize("optimizer", [mlp.Adam, mlp.RMSprop])
def test_a_diverging_optimizer_is_named_once(optimizer):
    # before: Adam and RMSprop at 1e3 ran to losses of 1e13-1e16 without a word
    x, y = _regression()
    history, caught = _fit_recording(_model(optimizer(1e3)), x, y, epochs=6)
    diverging = [w for w in caught if "the loss is diverging" in str(w.message)]
    assert len(diverging) == 1, [str(w.message) for w in caught]
    assert diverging[0].filename == __file__          # it points at the caller's fit
    assert "times the" in str(diverging[0].message) and "Lower the learning rate" in str(
        diverging[0].message)
    assert history.history["loss"][0] > 1e4            # the warning's premise, checked


def test_a_diverging_optimizer_is_named_for_batch_sources_too():
    x, y = _regression()
    def batches():
        while True:
            for i in range(0, 64, 16):
                yield x[i:i + 16], y[i:i + 16]

    _, caught = _fit_recording(_model(mlp.Adam(1e3)), batches(), epochs=3, steps_per_epoch=4)
    assert any("the loss is diverging" in str(w.message) for w in caught)


@pytest.mark.parametrize("optimizer", [lambda: mlp.Adam(1e-2), lambda: mlp.SGD(0.05),
                                       lambda: mlp.RMSprop(1e-3), lambda: mlp.Adagrad(0.1)])
def test_converging_training_gives_no_warning(optimizer):
    x, y = _regression(256)
    history, caught = _fit_recording(_model(optimizer()), x, y, epochs=10, batch_size=16)
    assert caught == []
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_a_model_that_already_fits_trains_under_dropout_without_a_divergence_warning():
    # its loss with dropout off is near 0 (targets are its own outputs), with dropout on many
    # orders of magnitude more: that is not a divergence
    x, _ = _regression(256)
    model = mlp.Sequential([mlp.Dense(64, activation="relu", input_dim=4), mlp.Dropout(0.5),
                            mlp.Dense(1)], seed=0)
    model.compile(optimizer=mlp.SGD(1e-6), loss="mse")
    y = model.predict(x) + 1e-6
    history, caught = _fit_recording(model, x, y, epochs=2, batch_size=16)
    assert history.history["loss"][0] > 1e4 * 1e-12     # the ratio a bare factor would flag
    assert not [w for w in caught if "diverging" in str(w.message)]


def test_sgd_that_overflows_still_stops_cleanly():
    x, y = _regression()
    model = _model(mlp.SGD(1e3))
    history, caught = _fit_recording(model, x, y, epochs=5)
    assert history.stopped_reason == "non_finite_loss"
    assert np.all(np.isfinite(model.params))


# ------------------------------------------------- data beyond the model's dtype
@pytest.mark.parametrize("argument", ["x", "y", "sample_weight"])
def test_values_that_overflow_float32_are_refused_naming_the_argument(argument):
    x, y = _regression()
    arrays = {"x": x.astype(np.float64), "y": y.astype(np.float64), "sample_weight": np.ones(64)}
    arrays[argument] = arrays[argument].copy()
    arrays[argument].flat[3] = 1e300
    model = _model("sgd")
    with warnings.catch_warnings():
        warnings.simplefilter("error")                  # no numpy "overflow in cast" either
        with pytest.raises(ValueError, match=rf"^{argument}: expected values that fit the "
                                             rf"model's dtype float32 \(magnitude at most "
                                             rf"3.403e\+38\), got 1 value\(s\) beyond it "
                                             rf"\(largest magnitude 1e\+300\)"):
            model.fit(arrays["x"], arrays["y"], sample_weight=arrays["sample_weight"],
                      verbose=0)


def test_a_float64_model_takes_what_float32_cannot_hold():
    x, y = _regression()
    model = _model("sgd", dtype="float64")
    outputs = model.predict(np.full((2, 4), 1e300))    # finite in float64: no ValueError
    assert outputs.shape == (2, 1) and outputs.dtype == np.float64


def test_nan_is_still_reported_as_missing_values():
    x, y = _regression()
    y = y.copy()
    y[0] = np.nan
    with pytest.raises(ValueError, match="^y: expected finite numbers, got 1 NaN or infinite"):
        _model("sgd").fit(x, y, verbose=0)


# ------------------------------------------------- losses and metrics not finite
def test_train_on_batch_and_evaluate_warn_about_an_infinite_loss():
    # inputs of 1e38 are finite in float32; the outputs overflow
    x = np.full((8, 4), 1e38, np.float32)
    y = np.ones((8, 1), np.float32)
    model = _model("sgd", metrics=["mae"])
    with pytest.warns(RuntimeWarning, match=r"^train_on_batch: the loss is inf: the model's "
                                            r"outputs overflow its dtype"):
        loss = model.train_on_batch(x, y)
    assert not np.isfinite(loss)                       # returned as computed, not hidden
    with pytest.warns(RuntimeWarning, match=r"^evaluate: the loss is (nan|inf)"):
        model.evaluate(x, y)


def test_a_validation_loss_that_is_not_finite_stops_fit():
    # before: fit logged val_loss = inf and went on
    x, y = _regression()
    x_val = np.full((8, 4), 1e38, np.float32)
    model = _model(mlp.Adam(1e-3), metrics=["mae"])
    start = model.get_weights()
    history, caught = _fit_recording(model, x, y, epochs=3,
                                     validation_data=(x_val, np.ones((8, 1), np.float32)))
    assert history.stopped_reason == "non_finite_loss" and history.stopped_epoch == 0
    assert any(str(w.message).startswith("fit: the val_loss became") for w in caught)
    for before, after in zip(start, model.get_weights()):
        np.testing.assert_array_equal(before, after)  # the start of fit was restored
    assert all(np.isfinite(v) for values in history.history.values() for v in values)
