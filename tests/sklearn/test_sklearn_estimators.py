"""mlp.sklearn's estimators against scikit-learn's own on the same data.

With the same ``random_state`` both start from the same weights; with ``shuffle=False`` and a
batch size that divides the training set, SGD (and L-BFGS) follow scikit-learn's weights to
rounding, so most tests compare weights, losses and stopping points directly.
"""
from __future__ import annotations

import io
import pickle
import warnings
from contextlib import redirect_stdout

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")

import joblib  # noqa: E402
import scipy.sparse as sp  # noqa: E402
from sklearn import neural_network as sk  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.datasets import load_digits, load_iris  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402

import mlp  # noqa: E402
from mlp.sklearn import MLPClassifier, MLPRegressor  # noqa: E402


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return (X - X.mean(0)) / X.std(0), y


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X / 16.0, y


def quiet(estimator, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(*args, **kwargs)


def max_relative_difference(ours, theirs) -> float:
    pairs = zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_)
    return max(float(np.abs(a - b).max() / np.abs(b).max()) for a, b in pairs)


# iris: 150 samples, 135 after early_stopping's 10 %: batches of 45 / 50 divide them
GOLDEN = dict(hidden_layer_sizes=(8,), shuffle=False, random_state=0, max_iter=30, alpha=0.01)


@pytest.mark.parametrize("options", [
    dict(solver="sgd", learning_rate_init=0.1, batch_size=50),
    dict(solver="sgd", learning_rate_init=0.1, batch_size=50, nesterovs_momentum=False),
    dict(solver="sgd", momentum=0.0, learning_rate="invscaling", learning_rate_init=0.5,
         batch_size=50),
    dict(solver="sgd", momentum=0.0, learning_rate="adaptive", learning_rate_init=0.5,
         tol=0.1, n_iter_no_change=2, batch_size=50),
    dict(solver="sgd", learning_rate_init=0.1, early_stopping=True, n_iter_no_change=3,
         batch_size=45),
    dict(solver="lbfgs"),
    dict(solver="lbfgs", activation="logistic"),
    dict(solver="sgd", activation="tanh", learning_rate_init=0.1, batch_size=50),
    dict(solver="sgd", activation="identity", learning_rate_init=0.05, batch_size=50),
], ids=lambda options: "-".join(f"{k}={v}" for k, v in options.items()))
def test_the_classifier_follows_sklearns_weights(iris, options):
    X, y = iris
    ours = quiet(MLPClassifier(**GOLDEN, **options, dtype="float64"), X, y)
    theirs = quiet(sk.MLPClassifier(**GOLDEN, **options), X, y)
    assert max_relative_difference(ours, theirs) < 1e-9
    assert ours.n_iter_ == theirs.n_iter_ and ours.t_ == theirs.t_
    assert ours.loss_ == pytest.approx(theirs.loss_, rel=1e-9)
    for name in ("loss_curve_", "validation_scores_"):
        if getattr(theirs, name, None) is not None:
            np.testing.assert_allclose(getattr(ours, name), getattr(theirs, name), rtol=1e-9)
    for name in ("best_loss_", "best_validation_score_", "n_layers_", "n_outputs_",
                 "out_activation_", "n_features_in_"):
        assert getattr(ours, name, None) == pytest.approx(getattr(theirs, name, None))
    np.testing.assert_array_equal(ours.classes_, theirs.classes_)
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), atol=1e-9)


def test_adaptive_divides_the_learning_rate_as_sklearn(iris):
    X, y = iris
    options = dict(solver="sgd", momentum=0.0, learning_rate="adaptive", learning_rate_init=0.5,
                   tol=0.1, n_iter_no_change=2, batch_size=50)
    ours = quiet(MLPClassifier(**GOLDEN, **options), X, y)
    theirs = quiet(sk.MLPClassifier(**GOLDEN, **options), X, y)
    assert theirs._optimizer.learning_rate < 0.5  # the rule fired
    assert ours._model.optimizer.learning_rate == pytest.approx(theirs._optimizer.learning_rate)


def test_adam_follows_sklearn_up_to_its_epsilon(iris):
    # the one difference: epsilon added after the bias correction (see the Notes)
    X, y = iris
    options = dict(solver="adam", learning_rate_init=0.01, batch_size=50)
    ours = quiet(MLPClassifier(**GOLDEN, **options), X, y)
    theirs = quiet(sk.MLPClassifier(**GOLDEN, **options), X, y)
    assert max_relative_difference(ours, theirs) < 1e-2
    np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-3)


@pytest.mark.parametrize("solver", ["sgd", "lbfgs"])
def test_the_regressor_follows_sklearns_weights_on_one_target(iris, solver):
    X, _ = iris
    y = X[:, 0] + X[:, 1] * X[:, 2]
    options = dict(solver=solver, learning_rate_init=0.01, batch_size=50)
    ours = quiet(MLPRegressor(**GOLDEN, **options), X, y)
    theirs = quiet(sk.MLPRegressor(**GOLDEN, **options), X, y)
    assert max_relative_difference(ours, theirs) < 1e-9
    assert ours.loss_ == pytest.approx(theirs.loss_, rel=1e-9)
    assert ours.predict(X).shape == theirs.predict(X).shape == (150,)


def test_several_targets_follow_sklearns_gradient_and_report_its_loss(iris):
    X, _ = iris
    Y = np.c_[X[:, 0] + X[:, 1], X[:, 2] * X[:, 3]]
    options = dict(solver="sgd", learning_rate_init=0.01, batch_size=50)
    ours = quiet(MLPRegressor(**GOLDEN, **options), X, Y)
    theirs = quiet(sk.MLPRegressor(**GOLDEN, **options), X, Y)
    assert max_relative_difference(ours, theirs) < 1e-9
    # the L2 part of loss_ is taken at the end of the epoch here (the Notes)
    np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-3)
    assert ours.predict(X).shape == (150, 2)


def test_multilabel_targets_follow_sklearn(iris):
    X, y = iris
    Y = np.c_[y == 0, y == 2, X[:, 0] > 0].astype(int)
    options = dict(solver="sgd", learning_rate_init=0.1, batch_size=50)
    ours = quiet(MLPClassifier(**GOLDEN, **options), X, Y)
    theirs = quiet(sk.MLPClassifier(**GOLDEN, **options), X, Y)
    assert max_relative_difference(ours, theirs) < 1e-9
    assert ours.out_activation_ == theirs.out_activation_ == "logistic"
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))
    assert ours.predict_proba(X).shape == (150, 3)


@pytest.mark.parametrize("labels", [
    np.array(["setosa", "versicolor", "virginica"]), np.array([-1, 3, 10]),
    np.array(["no", "yes", "yes"])])
def test_labels_classes_and_shapes_are_sklearns(iris, labels):
    X, y = iris
    y = labels[y]
    ours = quiet(MLPClassifier(hidden_layer_sizes=(8,), max_iter=50, random_state=0), X, y)
    theirs = quiet(sk.MLPClassifier(hidden_layer_sizes=(8,), max_iter=50, random_state=0), X, y)
    np.testing.assert_array_equal(ours.classes_, theirs.classes_)
    assert ours.predict(X).dtype == theirs.predict(X).dtype
    assert set(ours.predict(X)) <= set(labels)
    assert ours.predict_proba(X).shape == theirs.predict_proba(X).shape
    np.testing.assert_allclose(ours.predict_proba(X).sum(1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(ours.predict_log_proba(X), np.log(ours.predict_proba(X)))
    assert ours.out_activation_ == theirs.out_activation_


def test_accuracy_on_digits_is_sklearns_within_noise(digits):
    X, y = digits
    train, test = slice(0, 1300), slice(1300, None)
    ours = [quiet(MLPClassifier(max_iter=60, random_state=seed), X[train], y[train])
            .score(X[test], y[test]) for seed in range(2)]
    theirs = [quiet(sk.MLPClassifier(max_iter=60, random_state=seed), X[train], y[train])
              .score(X[test], y[test]) for seed in range(2)]
    assert np.mean(ours) > 0.9
    assert abs(np.mean(ours) - np.mean(theirs)) < 0.03


def test_max_iter_warns_as_sklearn_and_convergence_does_not(iris):
    X, y = iris
    for estimator in (MLPClassifier, sk.MLPClassifier):
        with pytest.warns(ConvergenceWarning, match="Maximum iterations \\(3\\)"):
            estimator(max_iter=3, random_state=0).fit(X, y)
        with pytest.warns(ConvergenceWarning, match="lbfgs failed to converge"):
            estimator(solver="lbfgs", max_iter=3, random_state=0).fit(X, y)
        with warnings.catch_warnings():
            warnings.simplefilter("error", ConvergenceWarning)
            fitted = estimator(tol=0.5, random_state=0).fit(X, y)  # stops on tol
        assert fitted.n_iter_ < 200


def test_the_convergence_warning_points_at_the_callers_line(iris):
    X, y = iris
    with pytest.warns(ConvergenceWarning) as record:
        MLPClassifier(max_iter=2, random_state=0).fit(X, y)
    assert record[0].filename == __file__


def test_partial_fit_follows_sklearn_epoch_by_epoch(iris):
    X, y = iris
    options = dict(hidden_layer_sizes=(8,), solver="sgd", learning_rate_init=0.1,
                   batch_size=50, shuffle=False, random_state=0)
    ours, theirs = MLPClassifier(**options), sk.MLPClassifier(**options)
    for _ in range(4):
        ours.partial_fit(X, y, classes=[0, 1, 2])
        theirs.partial_fit(X, y, classes=[0, 1, 2])
    assert max_relative_difference(ours, theirs) < 1e-9
    assert ours.n_iter_ == theirs.n_iter_ == 1 and ours.t_ == theirs.t_ == 600
    np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-9)


def test_partial_fit_needs_classes_first_and_refuses_new_ones(iris):
    X, y = iris
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        MLPClassifier().partial_fit(X, y)
    model = MLPClassifier(max_iter=5).partial_fit(X[y < 2], y[y < 2], classes=[0, 1, 2])
    assert model.classes_.tolist() == [0, 1, 2] and model.predict_proba(X).shape == (150, 3)
    with pytest.raises(ValueError, match="classes not in classes_"):
        model.partial_fit(X, y + 1)


def test_weights_set_by_hand_are_trained_from(iris):
    X, y = iris
    options = dict(hidden_layer_sizes=(8,), solver="sgd", learning_rate_init=0.1,
                   batch_size=50, shuffle=False, random_state=1)
    start = quiet(sk.MLPClassifier(**options, max_iter=5), X, y)
    ours, theirs = MLPClassifier(**options), clone(start)
    for model in (ours, theirs):  # sklearn's users' recipe: one call, then the weights
        model.partial_fit(X, y, classes=[0, 1, 2])
        model.coefs_ = [c.copy() for c in start.coefs_]
        model.intercepts_ = [b.copy() for b in start.intercepts_]
        model.partial_fit(X, y)
    assert max_relative_difference(ours, theirs) < 1e-9


def test_weights_of_the_wrong_shape_are_refused_naming_them(iris):
    X, y = iris
    model = MLPClassifier(hidden_layer_sizes=(8,), max_iter=5).partial_fit(X, y, classes=[0, 1, 2])
    model.coefs_ = [np.zeros((4, 9)), np.zeros((9, 3))]
    expected = r"coefs_: expected arrays of shapes \[\(4, 8\), \(8, 3\)\]"
    with pytest.raises(ValueError, match=expected):
        model.partial_fit(X, y)


def test_warm_start_continues_as_sklearn(iris):
    X, y = iris
    options = dict(GOLDEN, solver="sgd", learning_rate_init=0.1, batch_size=50, max_iter=5,
                   warm_start=True)
    ours, theirs = MLPClassifier(**options), sk.MLPClassifier(**options)
    for _ in range(2):
        quiet(ours, X, y)
        quiet(theirs, X, y)
    assert len(ours.loss_curve_) == len(theirs.loss_curve_) == 10
    assert max_relative_difference(ours, theirs) < 1e-9
    with pytest.raises(ValueError, match="warm_start needs the classes"):
        quiet(ours, X[y < 2], y[y < 2])


def test_sample_weight_matches_sklearn_under_lbfgs(iris):
    X, y = iris
    weight = np.random.default_rng(0).uniform(0.2, 3.0, size=len(y))
    ours = quiet(MLPClassifier(**GOLDEN, solver="lbfgs"), X, y, sample_weight=weight)
    theirs = quiet(sk.MLPClassifier(**GOLDEN, solver="lbfgs"), X, y, sample_weight=weight)
    assert max_relative_difference(ours, theirs) < 1e-6
    assert ours.loss_ == pytest.approx(theirs.loss_, rel=1e-9)


def test_sample_weight_of_zero_removes_a_sample_and_two_repeats_it(iris):
    X, y = iris
    weight = np.ones(len(y))
    weight[:20], weight[20:40] = 0, 2
    weighted = quiet(MLPClassifier(**GOLDEN, solver="lbfgs"), X, y, sample_weight=weight)
    rows = np.r_[np.arange(20, 40), np.arange(20, 150)]
    repeated = quiet(MLPClassifier(**GOLDEN, solver="lbfgs"), X[rows], y[rows])
    np.testing.assert_allclose(weighted.predict_proba(X), repeated.predict_proba(X), atol=1e-6)


def test_sample_weight_with_no_weight_or_a_negative_one_is_refused(iris):
    X, y = iris
    with pytest.raises(ValueError, match="Sample weights must contain at least one non-zero"):
        MLPClassifier(max_iter=2).fit(X, y, sample_weight=np.zeros(len(y)))
    with pytest.raises(ValueError, match="Negative values in data passed to `sample_weight`"):
        MLPClassifier(max_iter=2).fit(X, y, sample_weight=np.r_[-1.0, np.ones(len(y) - 1)])


def test_class_weight_is_a_sample_weight_per_class(iris):
    X, y = iris
    options = dict(GOLDEN, solver="lbfgs")
    by_class = quiet(MLPClassifier(**options, class_weight={0: 1.0, 1: 5.0, 2: 1.0}), X, y)
    by_sample = quiet(MLPClassifier(**options), X, y, sample_weight=np.where(y == 1, 5.0, 1.0))
    np.testing.assert_allclose(by_class.coefs_[0], by_sample.coefs_[0])
    unweighted = quiet(MLPClassifier(**options), X, y)
    assert not np.allclose(by_class.coefs_[0], unweighted.coefs_[0])


def test_balanced_class_weight_raises_the_recall_of_a_rare_class():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 2))
    y = (X[:, 0] + 0.7 * rng.normal(size=600) > 1.6).astype(int)  # about 6 % positives
    options = dict(hidden_layer_sizes=(8,), solver="lbfgs", random_state=0, max_iter=300)
    plain = quiet(MLPClassifier(**options), X, y)
    balanced = quiet(MLPClassifier(**options, class_weight="balanced"), X, y)
    recall = lambda model: float(np.mean(model.predict(X[y == 1]) == 1))  # noqa: E731
    assert recall(balanced) > recall(plain) + 0.1


def test_sparse_csr_input_gives_the_dense_result(iris):
    X, y = iris
    dense = quiet(MLPClassifier(**GOLDEN, solver="lbfgs"), X, y)
    sparse = quiet(MLPClassifier(**GOLDEN, solver="lbfgs"), sp.csr_matrix(X), y)
    np.testing.assert_allclose(sparse.coefs_[0], dense.coefs_[0])
    np.testing.assert_allclose(sparse.predict_proba(sp.csr_matrix(X)), dense.predict_proba(X))


def test_dropout_changes_training_and_is_reproducible(iris):
    X, y = iris
    options = dict(GOLDEN, solver="sgd", learning_rate_init=0.1, batch_size=50)
    plain = quiet(MLPClassifier(**options), X, y)
    first = quiet(MLPClassifier(**options, dropout=0.3), X, y)
    again = quiet(MLPClassifier(**options, dropout=0.3), X, y)
    assert not np.allclose(first.coefs_[0], plain.coefs_[0])
    np.testing.assert_array_equal(first.coefs_[0], again.coefs_[0])
    np.testing.assert_array_equal(first.predict_proba(X), first.predict_proba(X))


def test_dtype_follows_x_as_sklearn_unless_given(iris):
    X, y = iris
    for data, expected in ((X, np.float64), (X.astype(np.float32), np.float32)):
        ours = quiet(MLPClassifier(max_iter=2, random_state=0), data, y)
        theirs = quiet(sk.MLPClassifier(max_iter=2, random_state=0), data, y)
        assert ours.coefs_[0].dtype == theirs.coefs_[0].dtype == expected
    forced = quiet(MLPClassifier(max_iter=2, dtype="float32"), X, y)
    assert forced.coefs_[0].dtype == np.float32 and forced.predict_proba(X).dtype == np.float32


def test_n_threads_holds_for_the_call_and_does_not_change_the_result(iris):
    X, y = iris
    before = mlp.get_num_threads()
    results = [quiet(MLPClassifier(**GOLDEN, n_threads=n, solver="sgd", batch_size=50), X, y)
               for n in (1, 2)]
    assert mlp.get_num_threads() == before
    np.testing.assert_array_equal(results[0].coefs_[0], results[1].coefs_[0])


def test_the_reference_backend_agrees_with_the_cpu(iris):
    X, y = iris
    options = dict(GOLDEN, solver="sgd", learning_rate_init=0.1, batch_size=50)
    cpu = quiet(MLPClassifier(**options), X, y)
    reference = quiet(MLPClassifier(**options, backend="reference"), X, y)
    np.testing.assert_allclose(reference.coefs_[0], cpu.coefs_[0], rtol=1e-9, atol=1e-12)


def test_verbose_prints_each_epoch_as_sklearn(iris):
    X, y = iris
    outputs = []
    for estimator in (MLPClassifier, sk.MLPClassifier):
        printed = io.StringIO()
        with redirect_stdout(printed):
            quiet(estimator(**dict(GOLDEN, max_iter=3), solver="sgd", batch_size=50,
                            verbose=True), X, y)
        outputs.append(printed.getvalue().splitlines())
    assert outputs[0] == outputs[1]
    assert outputs[0][0].startswith("Iteration 1, loss = ")


def test_pickle_and_joblib_round_trips_predict_and_train_on(iris, tmp_path):
    X, y = iris
    model = MLPClassifier(hidden_layer_sizes=(8,), max_iter=3, random_state=0)
    model.partial_fit(X, y, classes=[0, 1, 2])
    path = tmp_path / "model.joblib"
    joblib.dump(model, path)
    for copy in (pickle.loads(pickle.dumps(model)), joblib.load(path),
                 joblib.load(path, mmap_mode="r")):
        np.testing.assert_array_equal(copy.predict_proba(X), model.predict_proba(X))
        copy.partial_fit(X, y)
        assert copy.t_ == 2 * len(y)
    quiet(clone(model), X, y)  # a clone is unfitted and fits


def test_a_diverging_run_raises_instead_of_returning_nan(iris):
    X, y = iris
    with pytest.raises(ValueError, match="non-finite"):
        quiet(MLPRegressor(solver="sgd", learning_rate_init=1e6, momentum=0.0, random_state=0),
              X * 1e3, y * 1e6)


@pytest.mark.parametrize("parameters, message", [
    (dict(activation="softplus"), "'activation' parameter of MLPClassifier must be a str among"),
    (dict(solver="newton"), "'solver' parameter"),
    (dict(alpha=-1.0), "'alpha' parameter of MLPClassifier must be a float in the range"),
    (dict(dropout=1.0), "'dropout' parameter"),
    (dict(solver="sgd", momentum=1.0), r"'momentum' parameter .* range \[0\.0, 1\.0\)"),
    (dict(backend="tpu"), "'backend' parameter"),
    (dict(n_threads=0), "'n_threads' parameter"),
    (dict(dtype="float16"), "'dtype' parameter"),
    (dict(class_weight="even"), "'class_weight' parameter"),
    (dict(hidden_layer_sizes=(8, 0)), r"hidden_layer_sizes: expected positive integers"),
])
def test_bad_parameters_are_refused_at_fit_naming_them(iris, parameters, message):
    X, y = iris
    model = MLPClassifier(**parameters)  # construction never fails (sklearn's contract)
    with pytest.raises(ValueError, match=message):
        model.fit(X, y)


def test_the_regressor_refuses_the_poisson_loss_it_lacks(iris):
    X, y = iris
    with pytest.raises(ValueError, match="'loss' parameter of MLPRegressor must be a str among"):
        MLPRegressor(loss="poisson").fit(X, y)


def test_bad_calls_name_what_is_wrong(iris):
    X, y = iris
    with pytest.raises(AttributeError, match="has no attribute 'partial_fit'") as error:
        MLPClassifier(solver="lbfgs").partial_fit(X, y, classes=[0, 1, 2])
    assert "only the stochastic solvers ('sgd', 'adam')" in str(error.value.__cause__)
    assert not hasattr(MLPRegressor(solver="lbfgs"), "partial_fit")
    with pytest.raises(ValueError, match="early_stopping: partial_fit does not support"):
        MLPClassifier(early_stopping=True).partial_fit(X, y, classes=[0, 1, 2])
    with pytest.raises(ValueError, match="validation_fraction: the validation set has 1"):
        MLPRegressor(early_stopping=True).fit(X[:10], y[:10])
    with pytest.raises(ValueError, match="Input X contains NaN"):
        MLPClassifier().fit(np.where(X > 2, np.nan, X), y)
    fitted = quiet(MLPClassifier(max_iter=2), X, y)
    with pytest.raises(ValueError, match="X has 3 features, but MLPClassifier is expecting 4"):
        fitted.predict(X[:, :3])
    with pytest.raises(sklearn.exceptions.NotFittedError):
        MLPRegressor().predict(X)


def test_a_large_batch_size_is_clipped_with_a_warning(iris):
    X, y = iris
    with pytest.warns(UserWarning, match="batch_size: got 1000, more than the 150"):
        quiet(MLPClassifier(batch_size=1000, max_iter=2), X, y)


def test_the_docstring_examples_run():
    import doctest

    import mlp.sklearn as package
    from mlp.sklearn import _classifier, _learning_rate, _regressor

    for module in (package, _classifier, _regressor, _learning_rate):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            result = doctest.testmod(module)
        assert result.failed == 0, module.__name__


def test_the_cupy_backend_without_a_gpu_says_what_to_install(iris):
    try:
        import cupy  # noqa: F401
        pytest.skip("CuPy is installed: the cupy backend runs in tests/backends")
    except ImportError:
        pass
    X, y = iris
    with pytest.raises(Exception, match="backend 'cupy': CuPy is not installed"):
        MLPClassifier(backend="cupy", max_iter=2).fit(X, y)


def test_the_perceptron_in_sklearns_model_selection(iris):
    from sklearn.model_selection import GridSearchCV, cross_val_score

    X, y = iris
    binary = np.where(y == 0, "setosa", "other")
    scores = cross_val_score(mlp.Perceptron(seed=0), X, binary, cv=3)
    assert scores.shape == (3,) and scores.min() == 1.0  # setosa is linearly separable
    search = GridSearchCV(mlp.Perceptron(seed=0), {"max_epochs": [1, 50]}, cv=3).fit(X, binary)
    assert search.best_estimator_.classes_.tolist() == ["other", "setosa"]


def test_class_weight_with_multilabel_targets_multiplies_the_labels_that_are_on(iris):
    X, y = iris
    Y = np.c_[y == 0, y == 2].astype(int)
    options = dict(GOLDEN, solver="lbfgs")
    by_class = quiet(MLPClassifier(**options, class_weight={0: 3.0, 1: 2.0}), X, Y)
    weight = np.where(Y[:, 0] == 1, 3.0, 1.0) * np.where(Y[:, 1] == 1, 2.0, 1.0)
    by_sample = quiet(MLPClassifier(**options), X, Y, sample_weight=weight)
    np.testing.assert_allclose(by_class.coefs_[0], by_sample.coefs_[0])
