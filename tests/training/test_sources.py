"""fit / evaluate / predict on data that is not one array (issue 12): generators, iterators
and Sequence objects give exactly the results of the arrays with ``shuffle=False``."""
from __future__ import annotations

import numpy as np
import pytest

import mlp


def data(n=45, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4))
    labels = rng.integers(0, 3, n)
    return x, np.eye(3)[labels], rng.uniform(0.5, 1.5, n)


def make_model(backend="cpu"):
    model = mlp.Sequential([mlp.Dense(8, activation="relu", input_dim=4), mlp.Dropout(0.3),
                            mlp.Dense(3, activation="softmax")], seed=6, dtype="float64",
                           backend=backend)
    model.compile(optimizer=mlp.Adam(0.01), loss="categorical_crossentropy",
                  metrics=["accuracy", "f1"])
    return model


class Batches:
    """The Keras Sequence / PyDataset protocol: __len__ and __getitem__ give batches."""

    def __init__(self, x, y, w, batch_size):
        self.x, self.y, self.w, self.batch_size = x, y, w, batch_size
        self.epochs_ended = 0

    def __len__(self):
        return -(-len(self.x) // self.batch_size)

    def __getitem__(self, index):
        part = slice(index * self.batch_size, (index + 1) * self.batch_size)
        return self.x[part], self.y[part], self.w[part]

    def on_epoch_end(self):
        self.epochs_ended += 1


def generator(x, y, w, batch_size, epochs):
    for _ in range(epochs):
        for begin in range(0, len(x), batch_size):
            yield x[begin:begin + batch_size], y[begin:begin + batch_size], w[begin:begin +
                                                                                   batch_size]


@pytest.mark.parametrize("backend", ["cpu", "reference"])
@pytest.mark.parametrize("kind", ["sequence", "generator"])
def test_training_from_batches_equals_training_on_the_arrays(backend, kind):
    x, y, w = data()
    xv, yv, _ = data(20, seed=1)
    arrays, streamed = make_model(backend), make_model(backend)
    h_arrays = arrays.fit(x, y, sample_weight=w, batch_size=8, epochs=3, shuffle=False,
                          validation_data=(xv, yv), verbose=0)
    source = (Batches(x, y, w, 8) if kind == "sequence" else generator(x, y, w, 8, 3))
    h_streamed = streamed.fit(source, epochs=3, validation_data=(xv, yv), verbose=0,
                              steps_per_epoch=None if kind == "sequence" else 6)
    assert h_streamed.history == h_arrays.history
    for a, b in zip(streamed.get_weights(), arrays.get_weights()):
        np.testing.assert_array_equal(a, b)
    if kind == "sequence":
        assert source.epochs_ended == 3
    # evaluate and predict on batches equal the arrays' results
    assert streamed.evaluate(Batches(x, y, w, 16)) == arrays.evaluate(x, y, sample_weight=w)
    np.testing.assert_array_equal(streamed.predict(Batches(x, y, w, 16)), arrays.predict(x))
    np.testing.assert_array_equal(streamed.predict(iter([x[:10], x[10:]])), arrays.predict(x))


def test_validation_from_a_sequence_and_validation_freq():
    x, y, w = data()
    model = make_model()
    history = model.fit(Batches(x, y, w, 10), epochs=4, verbose=0,
                        validation_data=Batches(x, y, w, 15), validation_freq=2)
    assert len(history.history["loss"]) == 4 and len(history.history["val_loss"]) == 2
    assert history.history["val_loss"][-1] == model.evaluate(x, y, sample_weight=w)["loss"]
    arrays = make_model().fit(x, y, epochs=3, verbose=0, validation_data=(x, y),
                              validation_freq=[1, 3])
    assert len(arrays.history["val_loss"]) == 2


def test_an_exhausted_generator_stops_training_with_a_warning():
    x, y, w = data()
    model = make_model()
    with pytest.warns(RuntimeWarning, match="gave no batch in epoch 2"):
        history = model.fit(generator(x, y, w, 16, 1), epochs=3, verbose=0)
    assert history.stopped_reason == "out_of_data" and len(history.history["loss"]) == 1


def test_bad_batches_and_arguments_are_named():
    x, y, w = data()
    model = make_model()
    with pytest.raises(ValueError, match="y: expected None when x is a generator"):
        model.fit(Batches(x, y, w, 8), y, verbose=0)
    with pytest.raises(ValueError, match=r"x: expected batch 0 as x, \(x,\), \(x, y\)"):
        model.fit(iter([(x, y, w, w)]), verbose=0)
    with pytest.raises(ValueError, match=r"x\[0\]: y: expected an array, got None"):
        model.fit(iter([x]), verbose=0)
