"""mlp.data: splits, k-fold, cross-validation, one-hot, scalers, imputer."""
import doctest
import warnings
from typing import ClassVar, List

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mlp
import mlp.data
from mlp.data import (
    KFold,
    MinMaxScaler,
    SimpleImputer,
    StandardScaler,
    StratifiedKFold,
    cross_validate,
    one_hot,
    to_categorical,
    train_test_split,
)


class FakeFrame:
    """The parts of a pandas DataFrame that mlp.data uses, without pandas."""

    def __init__(self, values, columns):
        self.values_ = np.asarray(values)
        self.columns = list(columns)

    def to_numpy(self):
        return self.values_.copy()

    @property
    def shape(self):
        return self.values_.shape

    @property
    def iloc(self):
        frame = self

        class Rows:
            def __getitem__(self, index):
                return FakeFrame(frame.values_[index], frame.columns)
        return Rows()


def labels(counts, seed=0):
    """Shuffled integer labels with ``counts[k]`` members of class k."""
    y = np.repeat(np.arange(len(counts)), counts)
    return np.random.default_rng(seed).permutation(y)


def test_doctests_pass():
    result = doctest.testmod(mlp.data)
    assert result.attempted > 20 and result.failed == 0


# ----------------------------------------------------------------------- train_test_split
@pytest.mark.parametrize("kwargs, n_train, n_test", [
    ({}, 75, 25),
    ({"test_size": 0.3}, 70, 30),
    ({"test_size": 0.333}, 66, 34),          # fractions of the test set round up
    ({"test_size": 10}, 90, 10),
    ({"train_size": 0.601}, 60, 40),         # fractions of the training set round down
    ({"train_size": 80}, 80, 20),
    ({"test_size": 0.2, "train_size": 0.5}, 50, 20),
    ({"test_size": 5, "train_size": 7}, 7, 5),
])
def test_split_sizes(kwargs, n_train, n_test):
    X = np.arange(200).reshape(100, 2)
    X_train, X_test = train_test_split(X, seed=0, **kwargs)
    assert (len(X_train), len(X_test)) == (n_train, n_test)
    assert not set(X_train[:, 0]) & set(X_test[:, 0])


def test_split_sizes_match_sklearn():
    sklearn_split = pytest.importorskip("sklearn.model_selection").train_test_split
    for n in (2, 3, 7, 10, 33, 101):
        for kwargs in ({}, {"test_size": 0.1}, {"test_size": 0.5}, {"train_size": 0.34},
                       {"test_size": 1}, {"train_size": 0.5, "test_size": 0.25}):
            X = np.arange(n)
            try:
                expected = [len(part) for part in sklearn_split(X, random_state=0, **kwargs)]
            except ValueError:
                with pytest.raises(ValueError):
                    train_test_split(X, seed=0, **kwargs)
                continue
            assert [len(part) for part in train_test_split(X, seed=0, **kwargs)] == expected


def test_split_keeps_rows_aligned_and_partitions():
    n = 50
    X = np.arange(n * 3).reshape(n, 3)
    y = np.arange(n) * 10
    w = [f"s{i}" for i in range(n)]
    X_train, X_test, y_train, y_test, w_train, w_test = train_test_split(X, y, w, seed=1)
    np.testing.assert_array_equal(X_train[:, 0] // 3 * 10, y_train)
    np.testing.assert_array_equal(X_test[:, 0] // 3 * 10, y_test)
    assert isinstance(w_train, np.ndarray) and [f"s{v // 10}" for v in y_test] == list(w_test)
    assert sorted(np.concatenate([y_train, y_test])) == list(y)


def test_split_reproducible_from_seed():
    X = np.arange(100)
    a = train_test_split(X, seed=7)
    b = train_test_split(X, seed=7)
    c = train_test_split(X, seed=8)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[1], c[1])
    assert not np.array_equal(np.sort(a[0]), a[0])          # shuffled


def test_split_without_shuffle_takes_train_first():
    X_train, X_test = train_test_split(np.arange(10), test_size=3, shuffle=False)
    np.testing.assert_array_equal(X_train, np.arange(7))
    np.testing.assert_array_equal(X_test, [7, 8, 9])


@pytest.mark.parametrize("counts", [[50, 50], [90, 10], [13, 7, 31], [2, 2, 2, 94],
                                    [5, 100, 41, 3]])
@pytest.mark.parametrize("test_size", [0.2, 0.25, 0.5, 17])
def test_stratified_split_keeps_proportions(counts, test_size):
    y = labels(counts)
    n = len(y)
    y_train, y_test = train_test_split(y, test_size=test_size, stratify=y, seed=3)
    n_test = len(y_test)
    assert len(y_train) + n_test == n
    share = np.asarray(counts) / n
    assert np.all(np.abs(np.bincount(y_test, minlength=len(counts)) - share * n_test) < 1)
    assert np.all(np.abs(np.bincount(y_train, minlength=len(counts)) - share * len(y_train)) < 1)


@settings(max_examples=60, deadline=None)
@given(counts=st.lists(st.integers(2, 40), min_size=2, max_size=5),
       test_fraction=st.floats(0.1, 0.9), seed=st.integers(0, 2 ** 32 - 1))
def test_stratified_split_within_one_sample_property(counts, test_fraction, seed):
    y = labels(counts, seed=seed % 97)
    try:
        y_train, y_test = train_test_split(y, test_size=test_fraction, stratify=y, seed=seed)
    except ValueError as error:          # a set smaller than the number of classes, or empty
        assert "fewer than" in str(error) or "would be empty" in str(error)
        return
    share = np.asarray(counts) / len(y)
    for part in (y_train, y_test):
        assert np.all(np.abs(np.bincount(part, minlength=len(counts)) - share * len(part)) < 1)


def test_stratified_split_reproducible_and_one_hot_equivalent():
    y = labels([30, 20, 10])
    X = np.arange(60)
    a = train_test_split(X, stratify=y, seed=5)
    b = train_test_split(X, stratify=y, seed=5)
    c = train_test_split(X, stratify=to_categorical(y), seed=5)
    for first, second, third in zip(a, b, c):
        np.testing.assert_array_equal(first, second)
        np.testing.assert_array_equal(first, third)


def test_stratified_split_gives_leftover_samples_to_largest_remainders():
    y = labels([3, 36, 61])
    _, y_test = train_test_split(y, test_size=10, stratify=y, seed=0)
    assert np.bincount(y_test, minlength=3).tolist() == [0, 4, 6]    # shares 0.3, 3.6, 6.1


def test_stratified_split_counts_match_sklearn():
    sklearn_split = pytest.importorskip("sklearn.model_selection").train_test_split
    for counts, test_size in [([3, 36, 61], 10), ([17, 29, 54], 0.3), ([40, 23], 0.21)]:
        y = labels(counts)
        ours = train_test_split(y, test_size=test_size, stratify=y, seed=0)
        theirs = sklearn_split(y, test_size=test_size, stratify=y, random_state=0)
        for a, b in zip(ours, theirs):
            assert np.bincount(a).tolist() == np.bincount(b).tolist()


def test_stratified_split_with_partial_sizes():
    y = labels([60, 40])
    y_train, y_test = train_test_split(y, test_size=0.2, train_size=0.5, stratify=y, seed=0)
    assert np.bincount(y_test).tolist() == [12, 8]
    assert np.bincount(y_train).tolist() == [30, 20]


def test_stratified_split_without_shuffle_is_deterministic_and_ordered():
    y = np.array([0, 1, 0, 1, 0, 1, 0, 1, 1, 1])
    idx = np.arange(10)
    i_train, i_test = train_test_split(idx, test_size=0.4, shuffle=False, stratify=y)
    np.testing.assert_array_equal(i_test, np.sort(i_test))
    assert np.bincount(y[i_test]).tolist() == [2, 2]
    assert np.bincount(y[i_train]).tolist() == [2, 4]
    again = train_test_split(idx, test_size=0.4, shuffle=False, stratify=y)
    np.testing.assert_array_equal(i_test, again[1])


def test_split_keeps_frame_type_via_iloc():
    frame = FakeFrame(np.arange(20).reshape(10, 2), ["a", "b"])
    f_train, f_test = train_test_split(frame, test_size=0.3, seed=0)
    assert isinstance(f_train, FakeFrame) and f_train.columns == ["a", "b"]
    assert f_train.shape == (7, 2) and f_test.shape == (3, 2)


def test_split_sparse_matrix():
    sparse = pytest.importorskip("scipy.sparse")
    X = sparse.csr_matrix(np.eye(8))
    X_train, X_test, y_train, y_test = train_test_split(X, np.arange(8), test_size=2, seed=0)
    np.testing.assert_array_equal(X_test.toarray().argmax(1), y_test)
    np.testing.assert_array_equal(X_train.toarray().argmax(1), y_train)
    assert X_train.shape == (6, 8)


@pytest.mark.parametrize("args, kwargs, exception, pattern", [
    ((), {}, ValueError, "arrays: expected at least one"),
    ((np.arange(5), np.arange(6)), {}, ValueError, r"same length, got lengths \[5, 6\]"),
    ((np.arange(10),), {"test_size": 0}, ValueError, "test_size: expected a number"),
    ((np.arange(10),), {"test_size": 10}, ValueError, r"test_size: .*\[1, 9\].*got 10 for 10 samples"),
    ((np.arange(10),), {"test_size": 1.0}, ValueError, r"test_size: expected a fraction"),
    ((np.arange(10),), {"test_size": -0.1}, ValueError, "test_size"),
    ((np.arange(10),), {"train_size": 1.5}, ValueError, "train_size"),
    ((np.arange(10),), {"test_size": "half"}, TypeError, "test_size"),
    ((np.arange(10),), {"test_size": True}, TypeError, "test_size"),
    ((np.arange(10),), {"test_size": 0.6, "train_size": 0.6}, ValueError, "summing to at most"),
    ((np.arange(10),), {"test_size": 6, "train_size": 6}, ValueError, "exceed the 10"),
    ((np.arange(3),), {"test_size": 0.01, "train_size": 0.3}, ValueError,
     "training set would be empty"),
    ((np.arange(1),), {}, ValueError, "at least 2 samples"),
    ((np.arange(6),), {"stratify": [0, 0, 0, 1, 1, 2]}, ValueError, "only 1 member"),
    ((np.arange(6),), {"stratify": [0, 1, 0, 1]}, ValueError, "stratify: expected 6 labels"),
    ((np.arange(6),), {"stratify": [0, 0, 1, 1, 2, 2], "test_size": 2}, ValueError,
     "test_size: the test set would hold 2 samples, fewer than the 3 classes"),
    ((np.arange(6),), {"seed": -1}, ValueError, "seed: expected a non-negative integer"),
    ((np.arange(6),), {"shuffle": "yes"}, TypeError, "shuffle"),
    ((5,), {}, TypeError, "arrays\\[0\\]: expected an array-like with a length, got int"),
    ((np.float64(5),), {}, ValueError, "arrays\\[0\\]: expected an array with at least one"),
])
def test_split_errors(args, kwargs, exception, pattern):
    with pytest.raises(exception, match=pattern):
        train_test_split(*args, **kwargs)


# ----------------------------------------------------------------------------------- k-fold
@pytest.mark.parametrize("n, k", [(10, 2), (10, 3), (11, 5), (7, 7), (100, 10), (23, 4)])
@pytest.mark.parametrize("shuffle", [False, True])
def test_kfold_sizes_and_coverage(n, k, shuffle):
    folds = list(KFold(k, shuffle=shuffle, seed=0 if shuffle else None).split(np.zeros((n, 1))))
    assert len(folds) == k
    sizes = [len(test) for _, test in folds]
    assert sizes == [n // k + 1] * (n % k) + [n // k] * (k - n % k)
    counts = np.bincount(np.concatenate([test for _, test in folds]), minlength=n)
    assert np.all(counts == 1)
    for train, test in folds:
        assert len(train) + len(test) == n and not set(train) & set(test)
        assert np.all(np.diff(train) > 0) and np.all(np.diff(test) > 0)


def test_kfold_without_shuffle_is_contiguous_and_shuffle_is_seeded():
    _, test = next(KFold(4).split(np.zeros(8)))
    np.testing.assert_array_equal(test, [0, 1])
    splitter = KFold(4, shuffle=True, seed=3)
    first = [test for _, test in splitter.split(np.zeros(40))]
    second = [test for _, test in splitter.split(np.zeros(40))]
    other = [test for _, test in KFold(4, shuffle=True, seed=4).split(np.zeros(40))]
    assert all(np.array_equal(a, b) for a, b in zip(first, second))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other))
    assert not np.array_equal(first[0], np.arange(10))


def test_kfold_equals_sklearn_without_shuffle():
    model_selection = pytest.importorskip("sklearn.model_selection")
    for n, k in [(10, 2), (11, 3), (50, 7), (9, 9)]:
        ours = list(KFold(k).split(np.zeros((n, 2))))
        theirs = list(model_selection.KFold(k).split(np.zeros((n, 2))))
        assert len(ours) == len(theirs)
        for (a_train, a_test), (b_train, b_test) in zip(ours, theirs):
            np.testing.assert_array_equal(a_train, b_train)
            np.testing.assert_array_equal(a_test, b_test)


@pytest.mark.parametrize("y", [
    labels([20, 30]),
    labels([7, 13, 29], seed=2),
    np.array(list("abcabcabcaabbcc" * 3)),
    np.array([1, 1, 1, 1, 0, 0, 2, 2, 2, 2, 2, 2]),
    np.array([3, 3, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2]),
])
@pytest.mark.filterwarnings("ignore:.*least populated class:UserWarning")
def test_stratified_kfold_equals_sklearn_without_shuffle(y):
    model_selection = pytest.importorskip("sklearn.model_selection")
    X = np.zeros((len(y), 1))
    for k in (2, 3):
        ours = list(StratifiedKFold(k).split(X, y))
        theirs = list(model_selection.StratifiedKFold(k).split(X, y))
        assert len(ours) == len(theirs) == k
        for (a_train, a_test), (b_train, b_test) in zip(ours, theirs):
            np.testing.assert_array_equal(a_train, b_train)
            np.testing.assert_array_equal(a_test, b_test)


@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("counts", [[50, 50], [90, 10], [13, 7, 31, 20]])
def test_stratified_kfold_proportions_and_coverage(shuffle, counts):
    y = labels(counts, seed=4)
    k = 5
    folds = list(StratifiedKFold(k, shuffle=shuffle, seed=1 if shuffle else None)
                 .split(np.zeros(len(y)), y))
    covered = np.bincount(np.concatenate([test for _, test in folds]), minlength=len(y))
    assert np.all(covered == 1)
    for train, test in folds:
        per_class = np.bincount(y[test], minlength=len(counts))
        assert np.all(np.abs(per_class - np.asarray(counts) / k) < 1)
        assert len(set(train) | set(test)) == len(y)


def test_stratified_kfold_one_hot_and_shuffle_seeded():
    y = labels([12, 18])
    X = np.zeros((30, 1))
    plain = [t for _, t in StratifiedKFold(3).split(X, y)]
    hot = [t for _, t in StratifiedKFold(3).split(X, to_categorical(y))]
    assert all(np.array_equal(a, b) for a, b in zip(plain, hot))
    a = [t for _, t in StratifiedKFold(3, shuffle=True, seed=2).split(X, y)]
    b = [t for _, t in StratifiedKFold(3, shuffle=True, seed=2).split(X, y)]
    assert all(np.array_equal(p, q) for p, q in zip(a, b))
    assert not all(np.array_equal(p, q) for p, q in zip(a, plain))


def test_kfold_get_n_splits_and_repr():
    assert KFold(4).get_n_splits() == 4
    assert StratifiedKFold(3, shuffle=True, seed=1).get_n_splits(np.zeros(5)) == 3
    assert repr(KFold(3)) == "KFold(n_splits=3, shuffle=False, seed=None)"


def test_kfold_errors():
    with pytest.raises(ValueError, match="n_splits: expected an integer >= 2, got 1"):
        KFold(1)
    with pytest.raises(ValueError, match="n_splits: expected an integer >= 2"):
        StratifiedKFold(2.5)
    with pytest.raises(ValueError, match="seed: has no effect when shuffle=False"):
        KFold(3, seed=0)
    with pytest.raises(ValueError, match=r"n_splits: expected at most the number of samples \(3\)"):
        list(KFold(4).split(np.zeros(3)))
    with pytest.raises(ValueError, match="y: StratifiedKFold needs the class labels"):
        list(StratifiedKFold(2).split(np.zeros(4)))
    with pytest.raises(ValueError, match="y: expected 4 labels"):
        list(StratifiedKFold(2).split(np.zeros(4), [0, 1, 0]))
    with pytest.raises(ValueError, match=r"largest class \(2\), got 3"):
        list(StratifiedKFold(3).split(np.zeros(4), [0, 1, 0, 1]))


def test_stratified_kfold_warns_on_small_class():
    y = np.array([0] * 10 + [1] * 2)
    with pytest.warns(UserWarning, match="only 2 members, fewer than n_splits=3"):
        folds = list(StratifiedKFold(3).split(np.zeros(12), y))
    assert len(folds) == 3


# -------------------------------------------------------------------------- cross_validate
class FakeModel:
    """Records what it is fitted and evaluated on; its 'accuracy' is the test-set size."""

    log: ClassVar[List[tuple]] = []

    def fit(self, x, y, **kwargs):
        FakeModel.log.append(("fit", np.array(x), np.array(y), kwargs))

    def evaluate(self, x, y, **kwargs):
        FakeModel.log.append(("evaluate", np.array(x), np.array(y), kwargs))
        return {"loss": float(np.mean(x)), "accuracy": float(len(x))}


@pytest.fixture
def fake_log():
    FakeModel.log = []
    return FakeModel.log


def test_cross_validate_structure_and_partition(fake_log):
    X = np.arange(23, dtype=float)[:, None]
    y = np.linspace(0.0, 1.0, 23) ** 2             # continuous: plain KFold
    scores = cross_validate(FakeModel, X, y, cv=4, seed=0)
    assert set(scores) == {"loss", "accuracy", "mean", "std"}
    assert scores["accuracy"].shape == (4,) and scores["accuracy"].dtype == np.float64
    assert sorted(scores["accuracy"].tolist()) == [5.0, 6.0, 6.0, 6.0]
    assert scores["mean"]["accuracy"] == pytest.approx(23 / 4)
    assert scores["std"]["loss"] == pytest.approx(np.std(scores["loss"]))
    fits = [entry for entry in fake_log if entry[0] == "fit"]
    tests = [entry for entry in fake_log if entry[0] == "evaluate"]
    test_rows = np.concatenate([entry[1][:, 0] for entry in tests])
    np.testing.assert_array_equal(np.sort(test_rows), np.arange(23))      # a partition
    for fit, test in zip(fits, tests):
        assert not set(fit[1][:, 0]) & set(test[1][:, 0])
        assert len(fit[1]) + len(test[1]) == 23
        assert fit[3]["verbose"] == 0
        np.testing.assert_array_equal(fit[2], y[fit[1][:, 0].astype(int)])


def test_cross_validate_stratifies_labels_by_default(fake_log):
    y = np.array([0] * 40 + [1] * 20)                # sorted: unstratified folds would differ
    X = np.arange(60)[:, None]
    cross_validate(FakeModel, X, y, cv=4, seed=1)
    for entry in fake_log:
        if entry[0] == "evaluate":
            assert np.bincount(entry[2]).tolist() == [10, 5]
    fake_log.clear()
    cross_validate(FakeModel, X, y.astype(np.float32), cv=4, seed=1)   # 0/1 floats
    assert all(np.bincount(e[2].astype(int)).tolist() == [10, 5]
               for e in fake_log if e[0] == "evaluate")
    fake_log.clear()
    cross_validate(FakeModel, X, to_categorical(y), cv=4, seed=1)      # one-hot
    assert all(e[2].sum(0).tolist() == [10, 5] for e in fake_log if e[0] == "evaluate")


def test_cross_validate_regression_is_not_stratified(fake_log):
    y = np.linspace(0, 1, 30)
    cross_validate(FakeModel, np.zeros((30, 1)), y, cv=3, seed=0)
    assert len(fake_log) == 6
    with pytest.raises(ValueError, match="n_splits"):
        cross_validate(FakeModel, np.zeros((30, 1)), y, cv=3, seed=0, stratified=True)


def test_cross_validate_uses_given_splitter_and_slices_sample_weight(fake_log):
    X = np.arange(12, dtype=float)[:, None]
    y = np.arange(12) % 2
    splitter = KFold(3)
    weights = np.arange(12, dtype=float)
    cross_validate(FakeModel, X, y, cv=splitter, fit_kwargs={"epochs": 2,
                                                             "sample_weight": weights},
                   evaluate_kwargs={"sample_weight": weights})
    tests = [e for e in fake_log if e[0] == "evaluate"]
    fits = [e for e in fake_log if e[0] == "fit"]
    for (train, test), fit, evaluated in zip(splitter.split(X), fits, tests):
        np.testing.assert_array_equal(evaluated[1][:, 0], test)
        np.testing.assert_array_equal(fit[3]["sample_weight"], weights[train])
        np.testing.assert_array_equal(evaluated[3]["sample_weight"], weights[test])
        assert fit[3]["epochs"] == 2


def test_cross_validate_reproducible_from_seed(fake_log):
    X, y = np.arange(40, dtype=float)[:, None], np.arange(40) % 2
    a = cross_validate(FakeModel, X, y, cv=5, seed=3)
    b = cross_validate(FakeModel, X, y, cv=5, seed=3)
    c = cross_validate(FakeModel, X, y, cv=5, seed=4)
    np.testing.assert_array_equal(a["loss"], b["loss"])
    assert not np.array_equal(a["loss"], c["loss"])


def test_cross_validate_verbose_prints_each_fold(fake_log, capsys):
    cross_validate(FakeModel, np.zeros((9, 1)), np.linspace(0, 1, 9), cv=3, seed=0, verbose=1)
    out = capsys.readouterr().out
    assert "Fold 1/3" in out and "Fold 3/3" in out and "accuracy: 3.0000" in out


def test_cross_validate_errors(fake_log):
    X, y = np.zeros((10, 1)), np.arange(10) % 2
    shared = FakeModel()
    with pytest.raises(TypeError, match="build_model: expected a function"):
        cross_validate(FakeModel(), X, y)
    with pytest.raises(ValueError, match="build_model: returned the same model object twice"):
        cross_validate(lambda: shared, X, y, cv=2)
    with pytest.raises(TypeError, match="build_model: expected it to return a compiled model"):
        cross_validate(lambda: 3, X, y, cv=2)
    with pytest.raises(ValueError, match="cv: expected an integer >= 2, got 1"):
        cross_validate(FakeModel, X, y, cv=1)
    with pytest.raises(TypeError, match="cv: expected a number of folds"):
        cross_validate(FakeModel, X, y, cv="five")
    with pytest.raises(ValueError, match="stratified: only used when cv is a number"):
        cross_validate(FakeModel, X, y, cv=KFold(2), stratified=True)
    with pytest.raises(ValueError, match="y: expected 10 targets"):
        cross_validate(FakeModel, X, y[:9])


class RecordingSequential(mlp.Sequential):
    evaluated: ClassVar[List[np.ndarray]] = []

    def evaluate(self, x, y, **kwargs):
        RecordingSequential.evaluated.append(np.array(x[:, 0]))
        return super().evaluate(x, y, **kwargs)


def test_cross_validate_with_a_real_model():
    rng = np.random.default_rng(0)
    n = 90
    features = rng.normal(size=(n, 2))
    X = np.column_stack([np.arange(n), features]).astype(np.float32)  # column 0: sample id
    y = (features[:, 0] + features[:, 1] > 0).astype(np.int64)
    RecordingSequential.evaluated = []

    def build():
        model = RecordingSequential([mlp.Dense(4, activation="relu", input_dim=3),
                                     mlp.Dense(1, activation="sigmoid")], seed=0)
        model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
        return model

    scores = cross_validate(build, X, y, cv=3, fit_kwargs={"epochs": 2, "batch_size": 16},
                            seed=0)
    assert list(scores) == ["loss", "accuracy", "mean", "std"]
    assert scores["loss"].shape == scores["accuracy"].shape == (3,)
    assert np.all(np.isfinite(scores["loss"])) and np.all((0 <= scores["accuracy"])
                                                          & (scores["accuracy"] <= 1))
    assert scores["mean"]["accuracy"] == pytest.approx(scores["accuracy"].mean())
    seen = np.sort(np.concatenate(RecordingSequential.evaluated)).astype(int)
    np.testing.assert_array_equal(seen, np.arange(n))


# -------------------------------------------------------------------------- to_categorical
def test_to_categorical_basic():
    encoded = to_categorical([2, 0, 1, 2])
    assert encoded.dtype == np.float32 and encoded.shape == (4, 3)
    np.testing.assert_array_equal(encoded.argmax(1), [2, 0, 1, 2])
    np.testing.assert_array_equal(encoded.sum(1), 1)
    assert one_hot is to_categorical


def test_to_categorical_options_and_shapes():
    assert to_categorical([1], num_classes=5, dtype="int64").tolist() == [[0, 1, 0, 0, 0]]
    assert to_categorical(np.array([[0], [2]])).shape == (2, 3)          # (n, 1) squeezed
    grid = to_categorical(np.array([[0, 1], [1, 0]]))
    assert grid.shape == (2, 2, 2) and grid[0, 1].tolist() == [0, 1]
    assert to_categorical(np.array([0.0, 3.0])).argmax(1).tolist() == [0, 3]
    assert to_categorical(np.array([True, False])).tolist() == [[0, 1], [1, 0]]
    assert to_categorical([], num_classes=3).shape == (0, 3)


@pytest.mark.parametrize("y, kwargs, exception, pattern", [
    ([0, -1], {}, ValueError, "y: expected class labels >= 0, got -1"),
    ([0, 1.5], {}, ValueError, "y: expected integer class labels, got non-integer value 1.5"),
    ([0, np.nan], {}, ValueError, "non-integer"),
    ([0, 3], {"num_classes": 3}, ValueError,
     r"y: expected class labels in \[0, 2\] for num_classes=3, got 3"),
    (["a", "b"], {}, TypeError, "y: expected integer class labels, got dtype"),
    ([], {}, ValueError, "num_classes: cannot be inferred"),
    ([0], {"num_classes": 0}, ValueError, "num_classes: expected an integer >= 1"),
    ([0], {"dtype": "U3"}, TypeError, "dtype: expected a numeric dtype"),
])
def test_to_categorical_errors(y, kwargs, exception, pattern):
    with pytest.raises(exception, match=pattern):
        to_categorical(y, **kwargs)


# -------------------------------------------------------------------------------- scalers
def train_test_data(seed=0):
    rng = np.random.default_rng(seed)
    X_train = rng.normal([1.0, -3.0, 10.0], [2.0, 0.5, 4.0], size=(40, 3))
    X_test = rng.normal([5.0, 0.0, -2.0], [1.0, 3.0, 1.0], size=(15, 3))
    return X_train, X_test


def test_standard_scaler_uses_training_statistics_only():
    X_train, X_test = train_test_data()
    scaler = StandardScaler().fit(X_train)
    expected = (X_test - X_train.mean(0)) / X_train.std(0)
    np.testing.assert_allclose(scaler.transform(X_test), expected, rtol=1e-12)
    refit = StandardScaler().fit_transform(X_test)
    assert not np.allclose(scaler.transform(X_test), refit)         # not the test statistics
    np.testing.assert_allclose(scaler.mean_, X_train.mean(0), rtol=1e-12)
    np.testing.assert_allclose(scaler.var_, X_train.var(0), rtol=1e-12)
    np.testing.assert_allclose(scaler.scale_, X_train.std(0), rtol=1e-12)
    np.testing.assert_array_equal(scaler.n_samples_seen_, [40, 40, 40])
    assert scaler.n_features_in_ == 3


def test_standard_scaler_round_trip_and_dtypes():
    X_train, X_test = train_test_data(1)
    scaler = StandardScaler().fit(X_train)
    np.testing.assert_allclose(scaler.inverse_transform(scaler.transform(X_test)), X_test,
                               rtol=1e-12, atol=1e-12)
    z = scaler.transform(X_train.astype(np.float32))
    assert z.dtype == np.float32
    np.testing.assert_allclose(z.mean(0), 0, atol=1e-5)
    assert scaler.transform(np.ones((2, 3), dtype=np.int64)).dtype == np.float64
    original = X_test.copy()
    scaler.transform(X_test)
    np.testing.assert_array_equal(X_test, original)                  # input not modified


def test_standard_scaler_options():
    X_train, X_test = train_test_data(2)
    centred = StandardScaler(with_std=False).fit(X_train)
    np.testing.assert_allclose(centred.transform(X_test), X_test - X_train.mean(0))
    assert centred.scale_ is None and centred.var_ is None
    scaled = StandardScaler(with_mean=False).fit(X_train)
    np.testing.assert_allclose(scaled.transform(X_test), X_test / X_train.std(0))
    np.testing.assert_allclose(scaled.inverse_transform(scaled.transform(X_test)), X_test)


def test_standard_scaler_constant_column():
    X = np.column_stack([np.full(10, 0.1), np.arange(10.0), np.zeros(10)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scaler = StandardScaler().fit(X)
        Z = scaler.transform(X)
    assert scaler.scale_[0] == 1.0 and scaler.scale_[2] == 1.0
    assert scaler.var_[0] == 0.0 and scaler.var_[1] > 0
    np.testing.assert_allclose(Z[:, 0], 0.0, atol=1e-15)
    np.testing.assert_array_equal(Z[:, 2], 0.0)
    assert np.all(np.isfinite(Z))


def test_standard_scaler_nan_ignored_in_fit_and_kept_in_transform():
    X = np.array([[1.0, 2.0], [np.nan, 4.0], [3.0, np.nan], [5.0, 8.0]])
    scaler = StandardScaler().fit(X)
    np.testing.assert_allclose(scaler.mean_, [3.0, 14 / 3])
    np.testing.assert_allclose(scaler.var_, [np.var([1, 3, 5]), np.var([2, 4, 8])])
    np.testing.assert_array_equal(scaler.n_samples_seen_, [3, 3])
    Z = scaler.transform(X)
    np.testing.assert_array_equal(np.isnan(Z), np.isnan(X))
    np.testing.assert_allclose(Z[0, 0], (1 - 3) / np.std([1, 3, 5]))


def test_scalers_match_sklearn():
    preprocessing = pytest.importorskip("sklearn.preprocessing")
    X_train, X_test = train_test_data(3)
    X_train[[2, 7], [0, 2]] = np.nan
    X_train = np.column_stack([X_train, np.full(len(X_train), 4.2)])
    X_test = np.column_stack([X_test, np.linspace(0, 9, len(X_test))])
    X_test[3, 1] = np.nan
    for ours, theirs, attributes in [
        (StandardScaler(), preprocessing.StandardScaler(), ("mean_", "var_", "scale_")),
        (StandardScaler(with_mean=False), preprocessing.StandardScaler(with_mean=False),
         ("var_", "scale_")),
        (MinMaxScaler(), preprocessing.MinMaxScaler(),
         ("data_min_", "data_max_", "data_range_", "scale_", "min_")),
        (MinMaxScaler((-1, 3)), preprocessing.MinMaxScaler((-1, 3)), ("scale_", "min_")),
    ]:
        ours.fit(X_train)
        theirs.fit(X_train)
        for name in attributes:
            np.testing.assert_allclose(getattr(ours, name), getattr(theirs, name), rtol=1e-12)
        np.testing.assert_allclose(ours.transform(X_test), theirs.transform(X_test),
                                   rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(ours.inverse_transform(X_test),
                                   theirs.inverse_transform(X_test), rtol=1e-12, atol=1e-12)


def test_minmax_scaler_uses_training_range_only():
    X_train, X_test = train_test_data(4)
    scaler = MinMaxScaler(feature_range=(-1, 1)).fit(X_train)
    lo, hi = X_train.min(0), X_train.max(0)
    np.testing.assert_allclose(scaler.transform(X_test), -1 + 2 * (X_test - lo) / (hi - lo))
    Z_train = scaler.transform(X_train)
    np.testing.assert_allclose(Z_train.min(0), -1)
    np.testing.assert_allclose(Z_train.max(0), 1)
    assert np.any(np.abs(scaler.transform(X_test)) > 1)             # no clipping
    np.testing.assert_allclose(scaler.inverse_transform(scaler.transform(X_test)), X_test)
    np.testing.assert_array_equal(scaler.data_min_, lo)
    np.testing.assert_array_equal(scaler.data_max_, hi)


def test_minmax_scaler_constant_column_and_nan():
    X = np.array([[2.0, 1.0], [2.0, np.nan], [2.0, 3.0]])
    scaler = MinMaxScaler().fit(X)
    assert scaler.scale_[0] == 1.0
    Z = scaler.transform(X)
    np.testing.assert_array_equal(Z[:, 0], 0.0)
    assert np.isnan(Z[1, 1]) and Z[2, 1] == 1.0
    assert scaler.transform(np.array([[1.0, 2.0]], np.float32)).dtype == np.float32


@pytest.mark.parametrize("make", [StandardScaler, MinMaxScaler, SimpleImputer])
def test_transformer_errors(make):
    transformer = make()
    name = type(transformer).__name__
    with pytest.raises(RuntimeError, match=f"{name}.transform: this {name} is not fitted yet"):
        transformer.transform(np.ones((2, 2)))
    transformer.fit(np.arange(6.0).reshape(3, 2))
    with pytest.raises(ValueError, match=r"X: expected 2 features \(as in fit\), got 3"):
        transformer.transform(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"X: expected a 2-D array .* got shape \(3,\).*reshape"):
        make().fit(np.ones(3))
    with pytest.raises(TypeError, match="X: expected a numeric array, got dtype <U1"):
        make().fit(np.array([["a", "b"]]))
    with pytest.raises(ValueError, match="X: expected finite numbers or NaN, got infinite"):
        make().fit(np.array([[1.0, np.inf]]))
    with pytest.raises(ValueError, match=r"X: expected at least one sample and one feature"):
        make().fit(np.ones((0, 2)))
    if make is not SimpleImputer:
        with pytest.raises(ValueError, match=r"X: column\(s\) \[1\] hold only NaN"):
            make().fit(np.array([[1.0, np.nan], [2.0, np.nan]]))


def test_transformers_remember_column_names():
    frame = FakeFrame([[1.0, 2.0], [3.0, 6.0]], ["height", "weight"])
    scaler = StandardScaler().fit(frame)
    assert scaler.feature_names_in_ == ["height", "weight"]
    np.testing.assert_allclose(scaler.transform(frame), [[-1, -1], [1, 1]])
    with pytest.raises(ValueError, match=r"X: expected the columns seen in fit \['height', "
                                         r"'weight'\], got \['weight', 'height'\]"):
        scaler.transform(FakeFrame([[1.0, 2.0]], ["weight", "height"]))
    assert not hasattr(StandardScaler().fit(np.ones((2, 2))), "feature_names_in_")


def test_transformer_argument_errors():
    with pytest.raises(ValueError, match=r"feature_range: expected finite lo < hi, got \(1, 0\)"):
        MinMaxScaler((1, 0))
    with pytest.raises(ValueError, match="feature_range: expected a pair"):
        MinMaxScaler("ab")
    with pytest.raises(TypeError, match="with_mean: expected True or False"):
        StandardScaler(with_mean="no")
    with pytest.raises(ValueError, match=r"strategy: expected one of \['mean', 'median', "
                                         r"'most_frequent', 'constant'\], got 'mode'"):
        SimpleImputer(strategy="mode")
    with pytest.raises(ValueError, match="fill_value: expected a finite number"):
        SimpleImputer(strategy="constant", fill_value="x")
    with pytest.raises(ValueError, match="missing_values: expected NaN or a finite number"):
        SimpleImputer(missing_values=None)
    assert repr(MinMaxScaler((0, 2))) == "MinMaxScaler(feature_range=(0, 2))"


# -------------------------------------------------------------------------------- imputer
X_MISSING = np.array([
    [1.0, np.nan, 7.0],
    [3.0, 2.0, np.nan],
    [np.nan, 2.0, 7.0],
    [8.0, 5.0, 1.0],
    [3.0, np.nan, 1.0],
])


@pytest.mark.parametrize("strategy, fill_value, statistics", [
    ("mean", None, [15 / 4, 3.0, 4.0]),
    ("median", None, [3.0, 2.0, 4.0]),
    ("most_frequent", None, [3.0, 2.0, 1.0]),        # column 2: 7 and 1 tie -> the smaller
    ("constant", None, [0.0, 0.0, 0.0]),
    ("constant", -9.5, [-9.5, -9.5, -9.5]),
])
def test_imputer_strategies_hand_computed(strategy, fill_value, statistics):
    imputer = SimpleImputer(strategy=strategy, fill_value=fill_value).fit(X_MISSING)
    np.testing.assert_allclose(imputer.statistics_, statistics)
    filled = imputer.transform(X_MISSING)
    assert not np.isnan(filled).any()
    mask = np.isnan(X_MISSING)
    np.testing.assert_array_equal(filled[~mask], X_MISSING[~mask])
    np.testing.assert_allclose(filled[mask], np.asarray(statistics)[np.nonzero(mask)[1]])


def test_imputer_uses_training_statistics_on_test_data():
    imputer = SimpleImputer().fit(X_MISSING)
    X_test = np.array([[np.nan, 100.0, np.nan]])
    np.testing.assert_allclose(imputer.transform(X_test), [[15 / 4, 100.0, 4.0]])


def test_imputer_custom_missing_marker():
    X = np.array([[1, -1], [-1, 4], [5, 6]])
    imputer = SimpleImputer(strategy="median", missing_values=-1).fit(X)
    np.testing.assert_allclose(imputer.statistics_, [3.0, 5.0])
    np.testing.assert_allclose(imputer.transform(X), [[1, 5], [3, 4], [5, 6]])
    with pytest.raises(ValueError, match="X: contains NaN but missing_values=-1"):
        imputer.transform(np.array([[np.nan, 1.0]]))


def test_imputer_all_missing_column():
    X = np.array([[1.0, np.nan], [2.0, np.nan]])
    for strategy in ("mean", "median", "most_frequent"):
        with pytest.raises(ValueError, match=r"X: column\(s\) \[1\] hold only missing values; "
                                             f"strategy='{strategy}'"):
            SimpleImputer(strategy=strategy).fit(X)
    filled = SimpleImputer(strategy="constant", fill_value=7).fit_transform(X)
    np.testing.assert_array_equal(filled, [[1.0, 7.0], [2.0, 7.0]])


def test_imputer_keeps_float32():
    imputer = SimpleImputer().fit(X_MISSING.astype(np.float32))
    assert imputer.transform(X_MISSING.astype(np.float32)).dtype == np.float32


def test_imputer_matches_sklearn():
    impute = pytest.importorskip("sklearn.impute")
    rng = np.random.default_rng(5)
    X = rng.integers(0, 6, size=(60, 4)).astype(float)
    X[rng.random(X.shape) < 0.2] = np.nan
    X_test = rng.integers(0, 6, size=(20, 4)).astype(float)
    X_test[rng.random(X_test.shape) < 0.3] = np.nan
    for strategy in ("mean", "median", "most_frequent", "constant"):
        ours = SimpleImputer(strategy=strategy, fill_value=2.5 if strategy == "constant" else None)
        theirs = impute.SimpleImputer(strategy=strategy,
                                      fill_value=2.5 if strategy == "constant" else None)
        np.testing.assert_allclose(ours.fit(X).statistics_,
                                   np.asarray(theirs.fit(X).statistics_, dtype=float))
        np.testing.assert_allclose(ours.transform(X_test), theirs.transform(X_test))
