"""Hyperparameter search on a validation set.

A grid over the hidden layer sizes and the learning rate. Every candidate trains on the
training split and is scored on the validation split; the best validation score picks the
winner, and only that one is scored on the test split -- once. Choosing by test score would
make the test score optimistic: it would no longer measure data the choices never saw.

Run with ``python examples/hyperparameter_search.py`` (about ten seconds).
Set ``MLP_EXAMPLE_QUICK=1`` to train for a few epochs only (used by the test suite).
"""
import itertools
import os

import numpy as np

import mlp
from mlp.data import StandardScaler, to_categorical, train_test_split
from mlp.datasets import load_digits

QUICK = bool(os.environ.get("MLP_EXAMPLE_QUICK"))
EPOCHS = 5 if QUICK else 100
SEED = 0
GRID = {
    "hidden": [(16,), (64,), (64, 32)],
    "learning_rate": [1e-2, 1e-3],
}

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, stratify=y, seed=SEED)
X_train, X_val, y_train, y_val = train_test_split(X_train, y_train, test_size=0.2,
                                                  stratify=y_train, seed=SEED)
scaler = StandardScaler().fit(X_train)
X_train, X_val, X_test = (scaler.transform(A) for A in (X_train, X_val, X_test))
Y_train, Y_val = to_categorical(y_train, 10), to_categorical(y_val, 10)


def build(hidden, learning_rate):
    layers = [mlp.Dense(hidden[0], activation="relu", input_dim=X.shape[1])]
    layers += [mlp.Dense(units, activation="relu") for units in hidden[1:]]
    layers.append(mlp.Dense(10, activation="softmax"))
    model = mlp.Sequential(layers, seed=SEED)
    model.compile(optimizer=mlp.Adam(learning_rate), loss="categorical_crossentropy",
                  metrics=["accuracy"])
    return model


results = []
for hidden, learning_rate in itertools.product(GRID["hidden"], GRID["learning_rate"]):
    model = build(hidden, learning_rate)
    model.fit(X_train, Y_train, epochs=EPOCHS, batch_size=32, verbose=0,
              validation_data=(X_val, Y_val),
              callbacks=[mlp.EarlyStopping(patience=10, restore_best_weights=True)])
    val_accuracy = model.evaluate(X_val, Y_val)["accuracy"]
    results.append((val_accuracy, hidden, learning_rate, model))
    print(f"hidden {str(hidden):<9} learning rate {learning_rate:<6g} "
          f"validation accuracy {val_accuracy:.4f}")

# the highest validation accuracy wins (the first candidate on ties)
best_accuracy, hidden, learning_rate, best = max(results, key=lambda r: r[0])
print(f"best: hidden {hidden}, learning rate {learning_rate:g} "
      f"(validation accuracy {best_accuracy:.4f})")
test_accuracy = np.mean(best.predict(X_test).argmax(axis=1) == y_test)
print(f"test accuracy of the best model: {test_accuracy:.4f}")
