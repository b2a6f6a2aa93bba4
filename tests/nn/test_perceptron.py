"""Rosenblatt's perceptron: the update rule, AND/OR learned, XOR not, validation, the example."""
import doctest
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import mlp.nn.perceptron
from mlp.perceptron import Perceptron

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "perceptron_xor.py"

X_GATE = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
AND = np.array([0, 0, 0, 1])
OR = np.array([0, 1, 1, 1])
XOR = np.array([0, 1, 1, 0])


def separable_problem(seed=0, n=200, margin=0.3):
    """Random points labelled by a known hyperplane, none closer to it than ``margin``."""
    rng = np.random.default_rng(seed)
    w, b = np.array([1.5, -2.0, 0.5]), 0.3
    X = rng.normal(size=(n, 3))
    z = X @ w + b
    keep = np.abs(z) > margin
    return X[keep], (z[keep] > 0).astype(int), np.append(w, b)


def novikoff_bound(X, y, w_true):
    """(R / gamma) ** 2: the most mistakes the perceptron can make on separable data."""
    Xb = np.hstack([X, np.ones((len(X), 1))])
    radius = np.linalg.norm(Xb, axis=1).max()
    gamma = np.min((2 * y - 1) * (Xb @ w_true)) / np.linalg.norm(w_true)
    return (radius / gamma) ** 2


@pytest.mark.parametrize("y", [AND, OR], ids=["AND", "OR"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_learns_the_linearly_separable_gates(y, seed):
    model = Perceptron(seed=seed).fit(X_GATE, y)
    assert model.converged_ is True
    assert model.errors_[-1] == 0
    assert model.predict(X_GATE).tolist() == y.tolist()
    assert model.score(X_GATE, y) == 1.0


@pytest.mark.parametrize("shuffle", [True, False])
def test_cannot_learn_xor(shuffle):
    model = Perceptron(max_epochs=60, shuffle=shuffle, seed=0).fit(X_GATE, XOR)
    assert model.converged_ is False
    assert model.n_epochs_ == 60 and len(model.errors_) == 60
    assert min(model.errors_) > 0
    assert model.score(X_GATE, XOR) < 1.0


def test_one_update_by_hand():
    # w = 0, b = 0: z = 0 gives y_hat = 1, a mistake for y = 0, so
    # w = 0 + 0.5 * (0 - 1) * [1, 2] = [-0.5, -1], b = 0 + 0.5 * (0 - 1) = -0.5;
    # epoch 2: z = -0.5 - 2 - 0.5 = -3 gives y_hat = 0: no mistake, converged.
    model = Perceptron(learning_rate=0.5, seed=0).fit([[1.0, 2.0]], [0])
    assert model.weights_.tolist() == [-0.5, -1.0]
    assert model.bias_ == -0.5
    assert model.errors_ == [1, 0]
    assert model.n_epochs_ == 2 and model.converged_


def test_two_epochs_by_hand_in_fixed_order():
    # epoch 1: x0 z=0 -> 1 right; x1 z=0 -> 1 wrong: w=[0,-1], b=-1
    # epoch 2: x0 z=-1 -> 0 wrong: w=[1,-1], b=0; x1 z=-1 -> 0 right
    # epoch 3: x0 z=1 -> 1 right; x1 z=-1 -> 0 right
    model = Perceptron(shuffle=False).fit([[1, 0], [0, 1]], [1, 0])
    assert model.errors_ == [1, 1, 0]
    assert model.weights_.tolist() == [1.0, -1.0]
    assert model.bias_ == 0.0


def test_mistakes_fall_to_zero_within_the_convergence_theorem_bound():
    X, y, w_true = separable_problem()
    bound = novikoff_bound(X, y, w_true)
    model = Perceptron(max_epochs=int(bound) + 2, seed=0).fit(X, y)
    assert model.converged_
    assert model.errors_[-1] == 0 and all(e > 0 for e in model.errors_[:-1])
    assert model.errors_[0] > 1 and len(model.errors_) > 2
    assert sum(model.errors_) <= bound
    assert model.score(X, y) == 1.0


def test_the_same_seed_gives_the_same_run_and_another_seed_another():
    X, y, _ = separable_problem()
    first = Perceptron(seed=3).fit(X, y)
    second = Perceptron(seed=3).fit(X, y)
    other = Perceptron(seed=4).fit(X, y)
    assert first.errors_ == second.errors_
    assert np.array_equal(first.weights_, second.weights_) and first.bias_ == second.bias_
    assert first.errors_ != other.errors_ or not np.array_equal(first.weights_, other.weights_)


def test_without_shuffling_the_seed_does_not_matter():
    X, y, _ = separable_problem()
    a = Perceptron(shuffle=False, seed=0).fit(X, y)
    b = Perceptron(shuffle=False, seed=1).fit(X, y)
    assert a.errors_ == b.errors_ and np.array_equal(a.weights_, b.weights_)


def test_learning_rate_only_scales_the_weights_from_the_zero_start():
    X, y, _ = separable_problem()
    unit = Perceptron(learning_rate=1.0, seed=0).fit(X, y)
    quarter = Perceptron(learning_rate=0.25, seed=0).fit(X, y)
    assert quarter.errors_ == unit.errors_
    assert np.array_equal(quarter.weights_, unit.weights_ / 4)


def test_refitting_starts_afresh():
    model = Perceptron(seed=0)
    model.fit(X_GATE, XOR)
    model.fit(X_GATE, AND)
    assert model.converged_ and model.score(X_GATE, AND) == 1.0
    assert model.errors_ == Perceptron(seed=0).fit(X_GATE, AND).errors_


def test_predict_returns_int_labels_and_score_is_the_accuracy():
    model = Perceptron(seed=0).fit(X_GATE, AND)
    predictions = model.predict(X_GATE.tolist())
    assert predictions.dtype == np.int64 and predictions.shape == (4,)
    assert model.score(X_GATE, [1, 1, 1, 1]) == 0.25
    assert isinstance(model.score(X_GATE, AND), float)


def test_boolean_labels_and_inputs_are_accepted():
    model = Perceptron(seed=0).fit(X_GATE.astype(bool), OR.astype(bool))
    assert model.converged_
    assert model.score(X_GATE, OR.astype(bool)) == 1.0


def test_fitted_attributes_have_their_documented_types():
    model = Perceptron(seed=0).fit(X_GATE, AND)
    assert model.weights_.shape == (2,) and model.weights_.dtype == np.float64
    assert type(model.bias_) is float
    assert type(model.n_epochs_) is int
    assert all(type(e) is int for e in model.errors_)


def test_get_params_returns_the_constructor_arguments():
    params = {"learning_rate": 0.5, "max_epochs": 7, "shuffle": False, "seed": 11}
    assert Perceptron(**params).get_params() == params
    assert Perceptron().get_params() == {
        "learning_rate": 1.0, "max_epochs": 100, "shuffle": True, "seed": None}
    assert repr(Perceptron(seed=1)) == (
        "Perceptron(learning_rate=1.0, max_epochs=100, shuffle=True, seed=1)")


def test_predict_before_fit_says_to_fit_first():
    with pytest.raises(RuntimeError, match=r"expected a fitted perceptron, call fit\(X, y\) first"):
        Perceptron().predict(X_GATE)


@pytest.mark.parametrize("X, y, error, message", [
    ([0, 1, 1], [0, 1, 1], ValueError,
     r"X: expected a 2-D array \(n_samples, n_features\), got a 1-D array of shape \(3,\)"),
    (np.zeros((2, 2, 2)), [0, 1], ValueError, "X: expected a 2-D array .* got a 3-D array"),
    (np.zeros((0, 2)), [], ValueError,
     r"X: expected at least one sample and one feature, got 0 sample\(s\) \(shape=\(0, 2\)\)"),
    (np.zeros((3, 0)), [0, 1, 0], ValueError, "X: expected at least one sample and one feature"),
    ([[0.0, np.nan], [1.0, 1.0]], [0, 1], ValueError, "X: expected finite values, got NaN"),
    ([[0.0, np.inf], [1.0, 1.0]], [0, 1], ValueError, "X: expected finite values"),
    ([["a", "b"], ["c", "d"]], [0, 1], TypeError, "X: expected a numeric array, got dtype <U1"),
    ([[1, 2], [3]], [0, 1], ValueError, "X: expected a rectangular numeric array"),
    (X_GATE, [0, 1, 2, 1], ValueError,
     r"y: Only binary classification is supported; expected two classes, got 3: \[0, 1, 2\]"),
    (X_GATE, ["a", "a", "a", "a"], ValueError,
     r"y: expected two classes .* got one class: \['a'\]"),
    (X_GATE, [0.0, 0.5, 1.0, 1.0], ValueError, "y: Unknown label type: continuous"),
    (X_GATE, [0.0, np.nan, 1.0, 1.0], ValueError, "y: expected finite labels"),
    (X_GATE, None, ValueError, "y: Perceptron requires y to be passed"),
    (X_GATE, [[0, 1], [1, 0], [1, 1], [0, 0]], ValueError,
     r"y: expected a 1-D array of labels, got shape \(4, 2\)"),
    ([[1 + 1j, 0], [0, 1]], [0, 1], ValueError, "X: Complex data not supported"),
    (X_GATE, [0, 1, 1], ValueError, "y: expected 4 labels, one per row of X, got 3"),
])
def test_bad_training_data_names_the_argument(X, y, error, message):
    with pytest.raises(error, match=message):
        Perceptron().fit(X, y)


def test_predict_checks_the_number_of_features():
    model = Perceptron(seed=0).fit(X_GATE, AND)
    with pytest.raises(ValueError, match="X has 3 features, but Perceptron is expecting 2 "
                                         "features as input"):
        model.predict(np.zeros((4, 3)))
    with pytest.raises(ValueError, match="y: expected 4 labels, one per row of X, got 2"):
        model.score(X_GATE, [0, 1])


@pytest.mark.parametrize("kwargs, error, message", [
    ({"learning_rate": 0}, ValueError, "learning_rate: expected a finite number > 0, got 0"),
    ({"learning_rate": float("nan")}, ValueError, "learning_rate: expected a finite number > 0"),
    ({"learning_rate": "1"}, ValueError, "learning_rate: expected a finite number > 0, got '1'"),
    ({"max_epochs": 0}, ValueError, "max_epochs: expected an int >= 1, got 0"),
    ({"max_epochs": 2.5}, ValueError, "max_epochs: expected an int >= 1, got 2.5"),
    ({"shuffle": "yes"}, TypeError, "shuffle: expected a bool, got str 'yes'"),
    ({"seed": -1}, ValueError, "seed: expected an int >= 0, got -1"),
    ({"seed": 1.5}, ValueError, "seed: expected an int >= 0, got 1.5"),
])
def test_bad_parameters_name_the_argument(kwargs, error, message):
    model = Perceptron(**kwargs)  # stored as given: scikit-learn's clone / set_params need it
    assert model.get_params()[next(iter(kwargs))] is next(iter(kwargs.values()))
    with pytest.raises(error, match=message):
        model.fit(X_GATE, AND)


def test_the_docstring_examples_run():
    result = doctest.testmod(mlp.nn.perceptron)
    assert result.attempted > 0
    assert result.failed == 0


def test_the_example_script_learns_and_or_but_not_xor():
    run = subprocess.run([sys.executable, str(EXAMPLE)], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr
    lines = {line.split(":")[0]: line for line in run.stdout.splitlines() if ":" in line}
    assert re.match(r"AND: converged after \d+ epochs, accuracy 1\.00", lines["AND"])
    assert re.match(r"OR: +converged after \d+ epochs, accuracy 1\.00", lines["OR"])
    xor = re.match(r"XOR: not converged after 100 epochs, accuracy (\d\.\d\d)", lines["XOR"])
    assert xor and float(xor.group(1)) < 1.0
    assert "MLP 2-4-1 on XOR: accuracy 1.00, predictions [0, 1, 1, 0]" in run.stdout
    assert "XOR is not linearly separable" in run.stdout


def test_any_two_labels_are_classes_and_predict_returns_them():
    labels = np.array(["no", "no", "no", "yes"])
    model = Perceptron(seed=0).fit(X_GATE, labels)
    assert model.classes_.tolist() == ["no", "yes"] and model.n_features_in_ == 2
    assert model.predict(X_GATE).tolist() == labels.tolist()
    assert model.score(X_GATE, labels) == 1.0
    # the same run as with 0/1 labels: classes_[1] is the positive class
    assert model.weights_.tolist() == Perceptron(seed=0).fit(X_GATE, AND).weights_.tolist()


def test_a_column_vector_y_is_read_as_1d_with_a_warning():
    with pytest.warns(UserWarning, match="A column-vector y was passed"):
        model = Perceptron(seed=0).fit(X_GATE, AND.reshape(-1, 1))
    assert model.errors_ == Perceptron(seed=0).fit(X_GATE, AND).errors_


def test_sparse_input_is_refused_naming_the_argument():
    scipy_sparse = pytest.importorskip("scipy.sparse")
    with pytest.raises(TypeError, match="X: sparse input is not supported"):
        Perceptron().fit(scipy_sparse.csr_matrix(X_GATE), AND)


def test_predict_before_fit_is_also_sklearns_not_fitted_error():
    exceptions = pytest.importorskip("sklearn.exceptions")
    with pytest.raises(exceptions.NotFittedError):
        Perceptron().predict(X_GATE)


def test_set_params_sets_and_refuses_unknown_names():
    model = Perceptron()
    assert model.set_params(max_epochs=3, seed=2) is model
    assert model.get_params()["max_epochs"] == 3 and model.seed == 2
    with pytest.raises(ValueError, match="'epochs' is not a parameter of Perceptron"):
        model.set_params(epochs=3)
