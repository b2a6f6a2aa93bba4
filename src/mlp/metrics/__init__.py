"""Metrics for ``compile(metrics=[...])`` and as plain functions on arrays.

Every metric is a function ``f(y_true, y_pred, sample_weight=None, ...)`` that returns a float.
``y_pred`` is what ``model.predict`` returns: probabilities for sigmoid / softmax outputs, values
for regression. Each result equals scikit-learn's (``sklearn.metrics``) on the same inputs, the
classification metrics being compared on the predicted classes.

How arrays become classes
-------------------------
* A 2-D array with several columns (softmax probabilities, one-hot targets): the argmax of
  each row.
* A 1-D array or a single column of integers or booleans, or of floats that are all whole
  numbers: class labels, taken as they are.
* Otherwise (sigmoid probabilities, soft binary targets): ``value > threshold``, with
  ``threshold=0.5`` (a probability of exactly 0.5 is class 0).

Names for ``compile``
---------------------
``"accuracy"`` (``"acc"``), ``"binary_accuracy"``, ``"categorical_accuracy"``,
``"sparse_categorical_accuracy"``, ``"top_k_accuracy"`` (k = 5; also
``"top_k_categorical_accuracy"`` and ``"sparse_top_k_categorical_accuracy"``),
``"top_2_accuracy"``, ``"top_3_accuracy"``, ``"top_5_accuracy"``, ``"top_10_accuracy"``,
``"precision"``, ``"recall"``, ``"f1"`` (``"f1_score"``) and their fixed-average forms such as
``"precision_macro"``, ``"recall_micro"``, ``"f1_weighted"``, ``"f1_binary"``, ``"auc"``
(``"roc_auc"``), ``"mse"``, ``"mae"``, ``"rmse"``, ``"r2"`` (``"r2_score"``) and the long forms
``"mean_squared_error"``, ``"mean_absolute_error"``, ``"root_mean_squared_error"``.

By name, ``"precision"``, ``"recall"`` and ``"f1"`` use ``average="auto"``: the binary score of
class 1 for a model with one output, the macro average over classes for several outputs.

scikit-learn's names
--------------------
``accuracy_score``, ``precision_score``, ``recall_score``, ``f1_score``, ``roc_auc_score``,
``top_k_accuracy_score``, ``r2_score`` (and ``mean_squared_error``, ``mean_absolute_error``,
``root_mean_squared_error``, ``confusion_matrix``, ``classification_report``) take the
arguments of their ``sklearn.metrics`` namesakes: see :mod:`mlp.metrics.sklearn_names`.

Zero division
-------------
When a score divides by zero (precision of a class never predicted, recall of a class absent
from ``y_true``, F1 of a class absent from both), it is ``zero_division`` (0.0 by default, as
scikit-learn's default but without its warning). Averages then include that 0.0; with
``zero_division=np.nan`` they leave the class out, as scikit-learn does.

Examples
--------
>>> import numpy as np
>>> from mlp import metrics
>>> metrics.accuracy(np.array([1, 0, 1]), np.array([0.9, 0.4, 0.3]))
0.6666666666666666
>>> labels = np.array([0, 2, 1, 2])
>>> probabilities = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [0.3, 0.4, 0.3], [0.5, 0.2, 0.3]])
>>> metrics.f1(labels, probabilities)                 # several outputs: macro average
0.7777777777777777
>>> metrics.get("f1_weighted")(labels, probabilities)
0.75
"""
from .classification import (
    accuracy,
    auc,
    binary_accuracy,
    categorical_accuracy,
    f1,
    precision,
    recall,
    sparse_categorical_accuracy,
    top_k_accuracy,
)
from .regression import mean_absolute_error, mean_squared_error, r2, root_mean_squared_error
from .report import classification_report, confusion_matrix
from .registry import METRICS, evaluate_metrics, get, metric_name
from .sklearn_names import (
    accuracy_score,
    f1_score,
    precision_score,
    r2_score,
    recall_score,
    roc_auc_score,
    top_k_accuracy_score,
)

__all__ = ["METRICS", "accuracy", "auc", "binary_accuracy", "categorical_accuracy",
           "classification_report", "confusion_matrix", "evaluate_metrics", "f1", "get",
           "mean_absolute_error", "mean_squared_error", "metric_name", "precision", "r2",
           "recall", "root_mean_squared_error", "sparse_categorical_accuracy", "top_k_accuracy",
           "accuracy_score", "f1_score", "precision_score", "r2_score", "recall_score",
           "roc_auc_score", "top_k_accuracy_score"]

# doctest.testmod(mlp.metrics) runs the examples of the names defined in the submodules
__test__ = {name: globals()[name] for name in __all__ if callable(globals()[name])}
