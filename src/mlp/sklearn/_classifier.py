"""``MLPClassifier``: scikit-learn's multilayer-perceptron classifier on mlp's engine."""
from __future__ import annotations

from typing import Optional

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.metrics import accuracy_score
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import _check_partial_fit_first_call, type_of_target, unique_labels
from sklearn.utils.validation import column_or_1d, validate_data

from ._base import BaseMLP, has_partial_fit, store_parameters
from ._docs import splice


class MLPClassifier(ClassifierMixin, BaseMLP):
    """Multilayer-perceptron classifier: scikit-learn's ``MLPClassifier`` on mlp's kernels.

    It minimises the log-loss with softmax outputs (several classes), one sigmoid output (two
    classes) or one sigmoid per label (multilabel ``y``, an indicator matrix), with the
    parameters, attributes and rules of ``sklearn.neural_network.MLPClassifier``.

    Parameters
    ----------
    {parameters}
    class_weight : dict, "balanced" or None, default=None
        Not in scikit-learn's MLP. Weights of the classes (``{{label: weight}}``, as other
        scikit-learn classifiers take it), multiplied into ``sample_weight``; ``"balanced"``
        weights them inversely to their frequency in ``y``. With multilabel ``y`` a sample's
        weight is the product over its labels that are on (``"balanced"``: over every label,
        on or off, as ``sklearn.utils.class_weight.compute_sample_weight`` does).

    Attributes
    ----------
    classes_ : ndarray or list of ndarray
        The class labels (any labels ``numpy.unique`` sorts: integers, strings, ...).
    {attributes}

    Notes
    -----
    {notes}
    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from mlp.sklearn import MLPClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = MLPClassifier(hidden_layer_sizes=(16,), solver="lbfgs", max_iter=300,
    ...                     random_state=0).fit(X, y)
    >>> clf.predict_proba(X[:2]).shape
    (2, 3)
    >>> bool(clf.score(X, y) > 0.9)
    True
    """

    _parameter_constraints: dict = {
        **BaseMLP._parameter_constraints,
        "class_weight": [dict, StrOptions({"balanced"}), None],
    }

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000,
                 dropout=0.0, batch_norm=False, class_weight=None, backend="cpu", n_threads=None,
                 dtype=None):
        store_parameters(self, locals())

    # ---------------------------------------------------------------------- fit
    @available_if(has_partial_fit)
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """One epoch over ``(X, y)``, from the current weights (or ``coefs_`` /
        ``intercepts_`` set by hand).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
        sample_weight : array-like of shape (n_samples,), default=None
        classes : array-like of shape (n_classes,), default=None
            Every class of the problem; required on the first call (``y`` need not hold
            them all), ignored afterwards.

        Returns
        -------
        self : MLPClassifier
        """
        self._validate_params()
        if _check_partial_fit_first_call(self, classes):
            self._label_binarizer = LabelBinarizer()
            if type_of_target(y).startswith("multilabel"):
                self._label_binarizer.fit(y)
            else:
                self._label_binarizer.fit(classes)
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)

    def _validate_input(self, X, y, incremental: bool, reset: bool):
        X, y = validate_data(self, X, y, accept_sparse=["csr", "csc"], multi_output=True,
                             dtype=(np.float64, np.float32), reset=reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if not hasattr(self, "classes_") or (not self.warm_start and not incremental):
            self._label_binarizer = LabelBinarizer()
            self._label_binarizer.fit(y)
            self.classes_ = self._label_binarizer.classes_
        else:
            classes = unique_labels(y)
            if not hasattr(self, "_label_binarizer"):  # coefs_ set by hand, classes_ too
                self._label_binarizer = LabelBinarizer().fit(self.classes_)
            if self.warm_start and not incremental:
                if set(classes) != set(self.classes_):
                    raise ValueError(f"y: warm_start needs the classes of the previous fit, "
                                     f"{list(self.classes_)}; y has {list(classes)}")
            elif len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
                raise ValueError(f"y: has classes not in classes_ {list(self.classes_)}: "
                                 f"{list(np.setdiff1d(classes, self.classes_))}")
        return X, self._label_binarizer.transform(y).astype(bool)

    def _output_activation(self, Y: np.ndarray) -> str:
        return "softmax" if self._label_binarizer.y_type_ == "multiclass" else "logistic"

    def _loss_name(self) -> str:
        if self.out_activation_ == "softmax":
            return "categorical_crossentropy"
        return "binary_crossentropy"

    def _output_factor(self) -> float:
        # scikit-learn sums the binary log-loss over the labels; mlp's averages over them
        return 1.0 if self.out_activation_ == "softmax" else float(self.n_outputs_)

    def _reported_loss(self, loss: float, penalty: float) -> float:
        return loss

    def _extra_sample_weight(self, Y: np.ndarray) -> Optional[np.ndarray]:
        if self.class_weight is None:
            return None
        labels = self._score_targets(Y)
        class_weight = self.class_weight
        if isinstance(class_weight, dict) and np.ndim(labels) == 2:
            class_weight = [{0: 1.0, 1: class_weight.get(label, 1.0)}
                            for label in self.classes_]
            labels = np.asarray(labels).astype(int)
        return compute_sample_weight(class_weight, labels)

    def _score_targets(self, Y: np.ndarray):
        Y = np.asarray(Y)
        return self._label_binarizer.inverse_transform(
            Y.ravel() if Y.shape[1] == 1 else Y)

    def _score_outputs(self, y, outputs: np.ndarray, sample_weight) -> float:
        return accuracy_score(y, self._decode(outputs), sample_weight=sample_weight)

    # ------------------------------------------------------------------ predict
    def _decode(self, outputs: np.ndarray):
        if self.n_outputs_ == 1:
            outputs = outputs.ravel()
        return self._label_binarizer.inverse_transform(outputs)

    def predict(self, X):
        """The predicted classes.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_labels)
        """
        return self._decode(self._forward(X))

    def predict_proba(self, X):
        """Probability of each class, columns in the order of ``classes_``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
        """
        outputs = self._forward(X)
        if self.n_outputs_ == 1:
            outputs = outputs.ravel()
            return np.vstack([1 - outputs, outputs]).T
        return outputs

    def predict_log_proba(self, X):
        """``log(predict_proba(X))``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
        """
        proba = self.predict_proba(X)
        with np.errstate(divide="ignore"):
            return np.log(proba, out=proba)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


MLPClassifier.__doc__ = splice(MLPClassifier.__doc__)
