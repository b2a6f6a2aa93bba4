"""mlp.datasets: the bundled real datasets (offline, pinned by checksums) and the generators."""
import doctest
import hashlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import mlp.datasets
from mlp.datasets import (
    Dataset,
    load_breast_cancer,
    load_digits,
    make_circles,
    make_moons,
    make_regression,
    make_spirals,
    make_xor,
)

DATA_DIR = Path(mlp.datasets.__file__).parent / "datasets_data"


def sha256(array, dtype):
    return hashlib.sha256(np.ascontiguousarray(array, dtype=dtype).tobytes()).hexdigest()


def test_doctests_pass():
    result = doctest.testmod(mlp.datasets)
    assert result.attempted > 15 and result.failed == 0


# ---------------------------------------------------------------------------- bundled files
def test_data_files_are_small_and_documented():
    readme = (DATA_DIR / "README.md").read_text()
    for name in ("breast_cancer.csv.gz", "digits.npz"):
        path = DATA_DIR / name
        assert path.is_file() and path.stat().st_size < 200_000
        assert name in readme
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        assert digest in readme                          # the README records the file's hash
    assert "CC BY 4.0" in readme and "Wolberg" in readme and "Alpaydin" in readme


def test_npz_holds_no_pickled_objects():
    with np.load(DATA_DIR / "digits.npz", allow_pickle=False) as archive:
        assert sorted(archive.files) == ["data", "target"]
        assert archive["data"].dtype == np.uint8


def test_loading_needs_neither_sklearn_nor_pandas():
    code = ("import sys; sys.modules['sklearn'] = sys.modules['pandas'] = None; "
            "import mlp.datasets as d; "
            "print(d.load_breast_cancer().data.shape, d.load_digits().data.shape)")
    src = str(Path(mlp.datasets.__file__).parents[1])
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={"PYTHONPATH": src})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["(569,", "30)", "(1797,", "64)"]


# ------------------------------------------------------------------------------ breast cancer
def test_breast_cancer_contents():
    ds = load_breast_cancer()
    assert isinstance(ds, Dataset) and ds.name == "breast_cancer"
    assert ds.data.shape == (569, 30) and ds.data.dtype == np.float64
    assert ds.target.shape == (569,) and ds.target.dtype == np.int64
    assert np.bincount(ds.target).tolist() == [212, 357]
    assert ds.target_names == ["malignant", "benign"]
    assert len(ds.feature_names) == 30 and len(set(ds.feature_names)) == 30
    assert ds.feature_names[:2] == ["mean radius", "mean texture"]
    assert ds.feature_names[-1] == "worst fractal dimension"
    assert not np.isnan(ds.data).any() and (ds.data >= 0).all()
    assert "CC BY 4.0" in ds.DESCR and "10.24432/C5DW2B" in ds.DESCR
    np.testing.assert_allclose(ds.data[0, :3], [17.99, 10.38, 122.8])
    assert sha256(ds.data, "<f8") == (
        "6b202a2072f9a0385f405a8f8605b1b06f6f36ae6d23d9cd6cbbc0974a416bc7")
    assert sha256(ds.target, "<i8") == (
        "1763c0f8cd3f454b9eda72031113884593bb382411c0cd511e3ec6e7ac85cddb")


def test_breast_cancer_return_X_y_and_fresh_copies():
    X, y = load_breast_cancer(return_X_y=True)
    assert X.shape == (569, 30) and y.shape == (569,)
    X[:] = 0
    y[:] = 5
    X2, y2 = load_breast_cancer(return_X_y=True)
    assert X2.sum() > 0 and y2.max() == 1


def test_breast_cancer_as_frame():
    try:
        import pandas  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="load_breast_cancer: as_frame=True needs pandas"):
            load_breast_cancer(as_frame=True)
        return
    ds = load_breast_cancer(as_frame=True)
    assert list(ds.data.columns) == ds.feature_names and ds.target.name == "target"
    assert ds.frame.shape == (569, 31)
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    np.testing.assert_array_equal(X.to_numpy(), load_breast_cancer().data)
    assert y.sum() == 357


def test_breast_cancer_equals_sklearn():
    sk = pytest.importorskip("sklearn.datasets").load_breast_cancer()
    ds = load_breast_cancer()
    np.testing.assert_array_equal(ds.data, sk.data)
    np.testing.assert_array_equal(ds.target, sk.target)
    assert ds.feature_names == list(sk.feature_names)
    assert ds.target_names == list(sk.target_names)


# ------------------------------------------------------------------------------------ digits
def test_digits_contents():
    ds = load_digits()
    assert ds.name == "digits"
    assert ds.data.shape == (1797, 64) and ds.data.dtype == np.float64
    assert ds.target.shape == (1797,) and ds.target.dtype == np.int64
    assert ds.images.shape == (1797, 8, 8)
    np.testing.assert_array_equal(ds.images.reshape(1797, 64), ds.data)
    assert np.bincount(ds.target).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    assert ds.target_names == [str(d) for d in range(10)]
    assert ds.feature_names[9] == "pixel_1_1" and len(ds.feature_names) == 64
    assert ds.data.min() == 0 and ds.data.max() == 16
    np.testing.assert_array_equal(ds.data, np.round(ds.data))
    assert "CC BY 4.0" in ds.DESCR and "10.24432/C50P49" in ds.DESCR
    assert sha256(ds.data, "<f8") == (
        "20def7f70a702f0af9732fbba4375e147a7d54fe70d8c45569b8e7c1c7010c10")
    assert sha256(ds.target, "<i8") == (
        "a3c91c262eddcf7ba8f0e37507c30284493c9b20412ffe4af30d536401f7ba21")


@pytest.mark.parametrize("n_class", [1, 2, 5, 10])
def test_digits_n_class(n_class):
    X, y = load_digits(return_X_y=True, n_class=n_class)
    full_X, full_y = load_digits(return_X_y=True)
    keep = full_y < n_class
    np.testing.assert_array_equal(X, full_X[keep])
    assert sorted(set(y.tolist())) == list(range(n_class))
    assert load_digits(n_class=n_class).target_names == [str(d) for d in range(n_class)]


@pytest.mark.parametrize("n_class", [0, 11, 2.0, True])
def test_digits_n_class_errors(n_class):
    with pytest.raises(ValueError, match="n_class: expected an integer"):
        load_digits(n_class=n_class)


def test_digits_equals_sklearn():
    sk_datasets = pytest.importorskip("sklearn.datasets")
    for n_class in (10, 3):
        sk = sk_datasets.load_digits(n_class=n_class)
        ds = load_digits(n_class=n_class)
        np.testing.assert_array_equal(ds.data, sk.data)
        np.testing.assert_array_equal(ds.target, sk.target)
        np.testing.assert_array_equal(ds.images, sk.images)
        assert ds.feature_names == list(sk.feature_names)


def test_dataset_repr_is_short():
    text = repr(load_digits())
    assert text.startswith("Dataset(name='digits', data=ndarray (1797, 64)") and len(text) < 300


# -------------------------------------------------------------------------------- generators
GENERATORS = [
    (make_xor, {}),
    (make_moons, {}),
    (make_circles, {}),
    (make_spirals, {}),
    (make_spirals, {"n_classes": 3}),
]


@pytest.mark.parametrize("make, kwargs", GENERATORS)
@pytest.mark.parametrize("n_samples", [97, 200])
def test_generator_shapes_balance_and_reproducibility(make, kwargs, n_samples):
    X, y = make(n_samples=n_samples, seed=1, **kwargs)
    assert X.shape == (n_samples, 2) and X.dtype == np.float64 and X.flags.c_contiguous
    assert y.shape == (n_samples,) and y.dtype == np.int64
    counts = np.bincount(y)
    assert len(counts) == kwargs.get("n_classes", 2)
    assert counts.max() - counts.min() <= 1
    X2, y2 = make(n_samples=n_samples, seed=1, **kwargs)
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(y, y2)
    X3, _ = make(n_samples=n_samples, seed=2, **kwargs)
    assert not np.array_equal(X, X3)
    assert not np.array_equal(y[:20], np.sort(y[:20]))               # shuffled
    assert np.isfinite(X).all()


def test_make_xor_geometry():
    X, y = make_xor(n_samples=40, noise=0.0, seed=0)
    np.testing.assert_array_equal(np.unique(X, axis=0), [[0, 0], [0, 1], [1, 0], [1, 1]])
    np.testing.assert_array_equal(y, (X[:, 0] != X[:, 1]).astype(int))
    X, y = make_xor(n_samples=400, noise=0.1, seed=0)
    corner = np.round(X).clip(0, 1)
    assert np.mean((corner[:, 0] != corner[:, 1]) == y) > 0.98


def test_make_moons_geometry():
    X, y = make_moons(n_samples=101, noise=0.0, seed=0)
    upper, lower = X[y == 0], X[y == 1]
    assert len(upper) == 50 and len(lower) == 51
    np.testing.assert_allclose(np.hypot(*upper.T), 1.0)
    np.testing.assert_allclose(np.hypot(lower[:, 0] - 1.0, lower[:, 1] - 0.5), 1.0)
    assert (upper[:, 1] >= -1e-12).all() and (lower[:, 1] <= 0.5 + 1e-12).all()


def test_make_moons_matches_sklearn_without_noise():
    sk_datasets = pytest.importorskip("sklearn.datasets")
    X, y = make_moons(n_samples=60, noise=0.0, seed=0)
    X_sk, y_sk = sk_datasets.make_moons(n_samples=60, noise=0.0, shuffle=False)
    for label in (0, 1):
        ours = X[y == label][np.lexsort(X[y == label].T)]
        theirs = X_sk[y_sk == label][np.lexsort(X_sk[y_sk == label].T)]
        np.testing.assert_allclose(ours, theirs, atol=1e-12)


def test_make_circles_geometry():
    X, y = make_circles(n_samples=50, noise=0.0, factor=0.3, seed=0)
    radius = np.hypot(X[:, 0], X[:, 1])
    np.testing.assert_allclose(radius[y == 0], 1.0)
    np.testing.assert_allclose(radius[y == 1], 0.3)


def test_make_spirals_geometry():
    X, y = make_spirals(n_samples=300, n_classes=3, noise=0.0, seed=0)
    radius = np.hypot(X[:, 0], X[:, 1])
    turns = radius * 2 * np.pi
    expected_angle = turns + 2 * np.pi * y / 3
    actual_angle = np.arctan2(X[:, 1], X[:, 0])
    np.testing.assert_allclose(np.cos(actual_angle - expected_angle), 1.0, atol=1e-9)
    assert radius.min() >= np.sqrt(0.05) - 1e-12 and radius.max() <= 1.0


def test_make_regression():
    X, y, w = make_regression(n_samples=80, n_features=4, noise=0.0, seed=3, coef=True)
    assert X.shape == (80, 4) and y.shape == (80,) and w.shape == (4,)
    assert X.dtype == y.dtype == np.float64
    np.testing.assert_allclose(X @ w, y)
    X2, y2 = make_regression(n_samples=80, n_features=4, noise=0.5, seed=3)
    np.testing.assert_array_equal(X, X2)
    residual = y2 - X2 @ w
    assert 0.3 < residual.std() < 0.7
    X3, _ = make_regression(n_samples=80, n_features=4, seed=4)
    assert not np.array_equal(X, X3)


@pytest.mark.parametrize("call, pattern", [
    (lambda: make_xor(n_samples=3), "n_samples: expected an integer >= 4, got 3"),
    (lambda: make_moons(n_samples=1.5), "n_samples: expected an integer >= 2"),
    (lambda: make_moons(noise=-0.1), "noise: expected a finite number >= 0, got -0.1"),
    (lambda: make_circles(noise=float("nan")), "noise: expected a finite number >= 0"),
    (lambda: make_circles(factor=1.0), r"factor: expected a number in \(0, 1\), got 1.0"),
    (lambda: make_spirals(n_classes=1), "n_classes: expected an integer >= 2, got 1"),
    (lambda: make_spirals(n_samples=2, n_classes=3), "n_samples: expected at least n_classes=3"),
    (lambda: make_regression(n_features=0), "n_features: expected an integer >= 1, got 0"),
    (lambda: make_xor(seed=-5), "seed: expected a non-negative integer or None, got -5"),
    (lambda: make_moons(seed=1.5), "seed: expected a non-negative integer or None"),
])
def test_generator_errors(call, pattern):
    with pytest.raises(ValueError, match=pattern):
        call()
