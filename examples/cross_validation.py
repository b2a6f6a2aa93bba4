"""k-fold cross-validation: a score with error bars instead of one lucky split.

``mlp.data.cross_validate`` splits the data into k folds (stratified for class labels); each
fold is the test set once while a fresh model trains on the other k - 1. The k scores give a
mean and a spread.

Preprocessing must be fitted inside each fold, on that fold's training part only -- scaling
the whole data set first would leak the test folds' statistics into training. Here a small
wrapper scales inside ``fit`` and ``evaluate``; ``cross_validate`` only needs an object with
Keras-style ``fit`` and ``evaluate``.

Run with ``python examples/cross_validation.py`` (a few seconds).
Set ``MLP_EXAMPLE_QUICK=1`` to train for a few epochs only (used by the test suite).
"""
import os

import mlp
from mlp.data import StandardScaler, cross_validate
from mlp.datasets import load_breast_cancer

QUICK = bool(os.environ.get("MLP_EXAMPLE_QUICK"))
EPOCHS = 5 if QUICK else 60
FOLDS = 5
SEED = 0


class Scaled:
    """A model that standardises its inputs with statistics of the data it is fitted on."""

    def __init__(self, model):
        self.model = model
        self.scaler = StandardScaler()

    def fit(self, X, y, **kwargs):
        return self.model.fit(self.scaler.fit_transform(X), y, **kwargs)

    def evaluate(self, X, y, **kwargs):
        return self.model.evaluate(self.scaler.transform(X), y, **kwargs)


def build():
    """A new, untrained model for each fold (folds must not share weights)."""
    model = mlp.Sequential([
        mlp.Dense(16, activation="relu", input_dim=30),
        mlp.Dropout(0.2),
        mlp.Dense(1, activation="sigmoid"),
    ], seed=SEED)
    model.compile(optimizer=mlp.Adam(1e-3), loss="binary_crossentropy",
                  metrics=["accuracy", "f1"])
    return Scaled(model)


X, y = load_breast_cancer(return_X_y=True)
scores = cross_validate(build, X, y, cv=FOLDS, seed=SEED, verbose=1,
                        fit_kwargs={"epochs": EPOCHS, "batch_size": 32})
for name in ("accuracy", "f1"):
    per_fold = " ".join(f"{value:.3f}" for value in scores[name])
    print(f"{name} per fold: {per_fold}")
print(f"cross-validated accuracy: {scores['mean']['accuracy']:.4f} "
      f"+/- {scores['std']['accuracy']:.4f} over {FOLDS} folds")
print(f"cross-validated F1: {scores['mean']['f1']:.4f} +/- {scores['std']['f1']:.4f}")
