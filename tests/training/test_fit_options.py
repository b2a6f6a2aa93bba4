"""fit options: class_weight with sample_weight, validation data with weights."""
from __future__ import annotations

import numpy as np
import pytest

import mlp
from mlp import metrics


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 3))
    return x, (x[:, 0] + 0.5 * x[:, 1] > 0.3).astype(np.float64)


def make_model(units=1, activation="sigmoid", loss="binary_crossentropy", seed=0):
    model = mlp.Sequential([mlp.Dense(5, activation="tanh", input_dim=3),
                            mlp.Dense(units, activation=activation)], seed=seed,
                           dtype="float64")
    model.compile(optimizer=mlp.Adam(0.02), loss=loss, metrics=["accuracy", "precision"])
    return model


def test_class_weight_and_sample_weight_multiply_in_fit(data):
    x, y = data
    class_weight = {0: 0.5, 1: 2.0}
    sample_weight = np.linspace(0.2, 1.8, 60)
    combined = sample_weight * np.where(y == 1, 2.0, 0.5)
    a, b = make_model(), make_model()
    ha = a.fit(x, y, epochs=3, batch_size=8, class_weight=class_weight,
               sample_weight=sample_weight, verbose=0)
    hb = b.fit(x, y, epochs=3, batch_size=8, sample_weight=combined, verbose=0)
    assert ha.history == hb.history
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    # and the weights matter: unweighted training differs
    hc = make_model().fit(x, y, epochs=3, batch_size=8, verbose=0)
    assert hc.history["loss"] != ha.history["loss"]


def test_training_metrics_are_weighted(data):
    x, y = data
    seen = {}

    def weighted_probe(y_true, y_pred, sample_weight=None):
        seen["weight"] = None if sample_weight is None else np.array(sample_weight)
        return 0.0

    model = make_model()
    model.compile(optimizer="sgd", loss="binary_crossentropy", metrics=[weighted_probe])
    model.fit(x, y, epochs=1, batch_size=60, shuffle=False, verbose=0,
              class_weight={0: 1.0, 1: 3.0}, sample_weight=np.full(60, 2.0))
    np.testing.assert_array_equal(seen["weight"], np.where(y == 1, 6.0, 2.0))


def test_validation_data_weights_weight_the_validation_loss_and_metrics(data):
    x, y = data
    w_val = np.linspace(0.1, 3.0, 20)
    model = make_model()
    history = model.fit(x[:40], y[:40], epochs=2, batch_size=8, verbose=0,
                        validation_data=(x[40:], y[40:], w_val), class_weight={0: 1.0, 1: 4.0})
    p = model.predict(x[40:])
    assert history.history["val_accuracy"][-1] == metrics.accuracy(y[40:], p, w_val)
    assert history.history["val_precision"][-1] == metrics.precision(y[40:], p, w_val)
    assert history.history["val_accuracy"][-1] != metrics.accuracy(y[40:], p)
    # class_weight applies to the training data only (as in Keras)
    assert history.history["val_loss"][-1] == pytest.approx(
        model.evaluate(x[40:], y[40:], sample_weight=w_val)["loss"], rel=1e-12)


def test_validation_split_splits_the_sample_weights_too(data):
    x, y = data
    w = np.linspace(0.5, 2.0, 60)
    model = make_model()
    history = model.fit(x, y, epochs=1, batch_size=8, validation_split=0.25, sample_weight=w,
                        verbose=0)
    assert history.history["val_loss"][0] == pytest.approx(
        model.evaluate(x[45:], y[45:], sample_weight=w[45:])["loss"], rel=1e-12)
    with pytest.raises(ValueError, match=r"sample_weight: expected shape \(60,\), got \(59,\)"):
        make_model().fit(x, y, validation_split=0.25, sample_weight=w[:59], verbose=0)
    with pytest.raises(ValueError, match=r"y: expected 60 rows \(as x\), got shape \(59,\)"):
        make_model().fit(x, y[:59], validation_split=0.25, verbose=0)


def test_class_weight_with_softmax_targets(data):
    x, _ = data
    labels = (np.arange(60) % 3)
    sparse = make_model(3, "softmax", "sparse_categorical_crossentropy")
    dense = make_model(3, "softmax", "categorical_crossentropy")
    weights = {0: 1.0, 1: 0.5, 2: 3.0}
    hs = sparse.fit(x, labels, epochs=2, batch_size=10, class_weight=weights, verbose=0)
    hd = dense.fit(x, np.eye(3)[labels], epochs=2, batch_size=10, class_weight=weights,
                   verbose=0)
    assert hs.history["loss"] == pytest.approx(hd.history["loss"], rel=1e-12)


def test_class_weight_keys_are_checked_against_the_classes(data):
    x, y = data
    with pytest.raises(ValueError, match=r"class_weight: the classes \[1\] are in the data but "
                                         r"have no weight; give one for every class present "
                                         r"\(\[0, 1\]\)"):
        make_model().fit(x, y, class_weight={0: 1.0}, verbose=0)
    with pytest.raises(ValueError, match=r"class_weight: the key 2 is not a class of this model "
                                         r"\(expected 0 to 1\)"):
        make_model().fit(x, y, class_weight={0: 1.0, 1: 1.0, 2: 1.0}, verbose=0)
    with pytest.raises(ValueError, match=r"the key 3 is not a class of this model \(expected "
                                         r"0 to 2\)"):
        make_model(3, "softmax", "sparse_categorical_crossentropy").fit(
            x, np.arange(60) % 3, class_weight={0: 1, 1: 1, 2: 1, 3: 1}, verbose=0)
    with pytest.raises(TypeError, match="class_weight: expected integer class indices as keys, "
                                        "got '1'"):
        make_model().fit(x, y, class_weight={0: 1.0, "1": 2.0}, verbose=0)
    with pytest.raises(ValueError, match=r"class_weight: expected finite weights >= 0, got -1"):
        make_model().fit(x, y, class_weight={0: 1.0, 1: -1}, verbose=0)
    with pytest.raises(TypeError, match="class_weight: expected a dict"):
        make_model().fit(x, y, class_weight=[1.0, 2.0], verbose=0)
    with pytest.raises(ValueError, match="class_weight: needs a classification loss"):
        make_model(activation="linear", loss="mse").fit(x, y, class_weight={0: 1, 1: 2},
                                                        verbose=0)
    # a class absent from this data may still have a weight (a fold without it)
    history = make_model().fit(x[y == 0], y[y == 0], class_weight={0: 1.0, 1: 5.0}, verbose=0)
    assert len(history.epoch) == 1
