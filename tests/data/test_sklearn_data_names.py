"""mlp.data under scikit-learn's names: ``random_state=`` for every ``seed=``, and a
``LabelEncoder``."""
from __future__ import annotations

import numpy as np
import pytest

import mlp
from mlp.data import KFold, LabelEncoder, StratifiedKFold, cross_validate, train_test_split

X = np.arange(40.0).reshape(20, 2)
Y = np.array([0, 1] * 10)


def test_random_state_is_seed_in_train_test_split():
    by_seed = train_test_split(X, Y, seed=3)
    by_random_state = train_test_split(X, Y, random_state=3)
    for a, b in zip(by_seed, by_random_state):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(train_test_split(X, seed=4)[0], by_seed[0])


@pytest.mark.parametrize("splitter", [KFold, StratifiedKFold])
def test_random_state_is_seed_in_the_folds(splitter):
    by_seed = list(splitter(3, shuffle=True, seed=5).split(X, Y))
    by_random_state = list(splitter(3, shuffle=True, random_state=5).split(X, Y))
    for (a, b), (c, d) in zip(by_seed, by_random_state):
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(b, d)
    assert splitter(3, shuffle=True, random_state=5).random_state == 5


def test_a_numpy_random_state_draws_a_seed_from_it_as_sklearn_would():
    first = train_test_split(X, random_state=np.random.RandomState(0))[0]
    again = train_test_split(X, random_state=np.random.RandomState(0))[0]
    np.testing.assert_array_equal(first, again)
    state = np.random.RandomState(0)
    assert not np.array_equal(train_test_split(X, random_state=state)[0],
                              train_test_split(X, random_state=state)[0])


def test_cross_validate_takes_random_state():
    def build():
        model = mlp.Sequential([mlp.Dense(1, activation="sigmoid", input_dim=2)], seed=0)
        model.compile(optimizer="sgd", loss="binary_crossentropy", metrics=["accuracy"])
        return model

    a = cross_validate(build, X / 40, Y, cv=2, fit_kwargs={"epochs": 1}, seed=1)
    b = cross_validate(build, X / 40, Y, cv=2, fit_kwargs={"epochs": 1}, random_state=1)
    np.testing.assert_array_equal(a["loss"], b["loss"])


def test_seed_and_a_different_random_state_are_refused():
    with pytest.raises(ValueError, match="seed, random_state: they are one argument"):
        train_test_split(X, seed=1, random_state=2)
    with pytest.raises(ValueError, match="random_state: expected a non-negative integer"):
        KFold(3, shuffle=True, random_state=-1)


def test_label_encoder_gives_sklearns_indices():
    preprocessing = pytest.importorskip("sklearn.preprocessing")
    labels = np.array(["pear", "apple", "fig", "apple", "pear"])
    ours, theirs = LabelEncoder(), preprocessing.LabelEncoder()
    np.testing.assert_array_equal(ours.fit_transform(labels), theirs.fit_transform(labels))
    np.testing.assert_array_equal(ours.classes_, theirs.classes_)
    np.testing.assert_array_equal(ours.inverse_transform([2, 0]), theirs.inverse_transform([2, 0]))


def test_label_encoder_round_trips_and_names_bad_input():
    encoder = LabelEncoder().fit([3, 1, 2, 3])
    assert encoder.transform([1, 3]).tolist() == [0, 2]
    assert encoder.inverse_transform(encoder.transform([2, 2, 1])).tolist() == [2, 2, 1]
    assert encoder.transform([]).shape == (0,)
    with pytest.raises(ValueError, match=r"y: contains labels fit did not see: \[7\]"):
        encoder.transform([1, 7])
    with pytest.raises(ValueError, match=r"y: expected class indices in \[0, 3\), got \[3\]"):
        encoder.inverse_transform([3])
    with pytest.raises(RuntimeError, match="LabelEncoder.transform: call fit"):
        LabelEncoder().transform([1])
    with pytest.raises(ValueError, match="y: expected a 1-D array of labels"):
        LabelEncoder().fit(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="y: expected labels, got NaN"):
        LabelEncoder().fit([1.0, np.nan])


@pytest.mark.parametrize("name", ["make_xor", "make_moons", "make_circles", "make_spirals",
                                  "make_regression"])
def test_random_state_is_seed_in_the_dataset_generators(name):
    make = getattr(mlp.datasets, name)
    by_seed, by_random_state = make(seed=2), make(random_state=2)
    for a, b in zip(by_seed, by_random_state):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="seed, random_state"):
        make(seed=1, random_state=2)
