"""Regression: fit a smooth non-linear function from noisy samples.

A synthetic problem with a known answer: ``y = sin(2 x0) + x1**2 / 2 + 0.5 x2 + noise``, plus two
features that do not matter. A linear model (one Dense layer, no activation) cannot bend to the
sine and the square; a small MLP can. Both are trained on mean squared error and compared on a
held-out test set with MSE, MAE and R^2 in the original units of ``y``.

Scaling matters for regression: the features *and* the target are standardised with training
statistics, and predictions are scaled back with ``inverse_transform``.

Run with ``python examples/regression.py`` (a few seconds).
Set ``MLP_EXAMPLE_QUICK=1`` to train for a few epochs only (used by the test suite).
"""
import os

import numpy as np

import mlp
from mlp.data import StandardScaler, train_test_split

QUICK = bool(os.environ.get("MLP_EXAMPLE_QUICK"))
EPOCHS = 10 if QUICK else 300
SEED = 0

rng = np.random.default_rng(SEED)
X = rng.uniform(-2, 2, size=(1500, 5))
y = np.sin(2 * X[:, 0]) + X[:, 1] ** 2 / 2 + 0.5 * X[:, 2] + rng.normal(0, 0.1, len(X))

X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, seed=SEED)
X_train, X_val, y_train, y_val = train_test_split(X_train, y_train, test_size=0.2, seed=SEED)

x_scaler = StandardScaler().fit(X_train)
y_scaler = StandardScaler().fit(y_train.reshape(-1, 1))   # scalers take 2-D arrays
X_train, X_val, X_test = (x_scaler.transform(A) for A in (X_train, X_val, X_test))
t_train, t_val = (y_scaler.transform(v.reshape(-1, 1)) for v in (y_train, y_val))


def train_and_report(name, layers):
    model = mlp.Sequential(layers, seed=SEED)
    model.compile(optimizer=mlp.Adam(3e-3), loss="mse", metrics=["mae"])
    history = model.fit(X_train, t_train, epochs=EPOCHS, batch_size=32, verbose=0,
                        validation_data=(X_val, t_val),
                        callbacks=[mlp.EarlyStopping(patience=20, restore_best_weights=True)])
    # back to the units of y before measuring anything
    prediction = y_scaler.inverse_transform(model.predict(X_test))[:, 0]
    mse = mlp.metrics.mean_squared_error(y_test, prediction)
    mae = mlp.metrics.mean_absolute_error(y_test, prediction)
    r2 = mlp.metrics.r2(y_test, prediction)    # 1 - residual / total sum of squares
    print(f"{name}: test MSE {mse:.4f}  MAE {mae:.4f}  R2 {r2:.4f}  "
          f"({len(history.history['loss'])} epochs)")
    return mse


print(f"noise variance (the best achievable MSE): {0.1 ** 2:.4f}; "
      f"variance of y: {np.var(y_test):.4f}")
linear = train_and_report("linear model", [mlp.Dense(1, input_dim=5)])
network = train_and_report("MLP 5-64-64-1", [
    mlp.Dense(64, activation="relu", input_dim=5),
    mlp.Dense(64, activation="relu"),
    mlp.Dense(1),                               # linear output: any real value
])
print(f"the MLP's test MSE is {linear / network:.1f} times smaller than the linear model's")
