"""Data preparation: train / test splits, k-fold cross-validation, one-hot labels, a label
encoder, scalers, imputer.

Everything here works on NumPy arrays and needs nothing else at run time. pandas objects are
accepted where they make sense (anything with ``.to_numpy()``): a DataFrame's column names are
remembered by the scalers and the imputer (``feature_names_in_``), and ``train_test_split``
returns DataFrames / Series for DataFrames / Series (split with ``.iloc``). pandas is never
imported by this module.

Randomness comes only from the ``seed`` argument (``numpy.random.default_rng(seed)``): the same
seed gives the same split, and ``seed=None`` a fresh one each time. Every ``seed=`` also answers
to scikit-learn's name, ``random_state=``.

Examples
--------
>>> import numpy as np

from .validation import check_bool, check_int, check_seed
>>> from mlp.data import train_test_split, StandardScaler
>>> X = np.arange(20.0).reshape(10, 2)
>>> y = np.array([0, 1] * 5)
>>> X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, stratify=y, seed=0)
>>> X_train.shape, X_test.shape, sorted(y_test.tolist())
((8, 2), (2, 2), [0, 1])
>>> scaler = StandardScaler().fit(X_train)
>>> X_test_scaled = scaler.transform(X_test)        # the training set's mean and scale
"""
from .splits import KFold, StratifiedKFold, train_test_split
from .cross_validation import cross_validate
from .encoding import LabelEncoder, one_hot, to_categorical
from .preprocessing import MinMaxScaler, SimpleImputer, StandardScaler

__all__ = ["KFold", "LabelEncoder", "MinMaxScaler", "SimpleImputer", "StandardScaler",
           "StratifiedKFold",
           "cross_validate", "one_hot", "to_categorical", "train_test_split"]

# doctest.testmod(mlp.data) runs the examples of the names defined in the submodules
__test__ = {name: globals()[name] for name in __all__}
