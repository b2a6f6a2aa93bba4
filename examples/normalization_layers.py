"""Normalization layers: digits with BatchNormalization and LayerNormalization.

The multi-class flow of ``multiclass_classification.py`` (a stratified train / validation /
test split of the 8x8 digits), without the scaler: a ``BatchNormalization`` first layer
standardizes the raw pixels (0..16) with statistics it learns while training.

1. ``Dense -> BatchNormalization -> relu -> Dropout -> Dense softmax``, Keras' defaults
   (``momentum=0.99``, ``epsilon=1e-3``): batch statistics while training, the moving
   statistics at inference;
2. the same network with ``LayerNormalization`` (each image normalized over its features);
3. ``summary()`` counting the moving statistics as non-trainable parameters, and a save /
   load round trip that keeps them.

Run with ``python examples/normalization_layers.py`` (a few seconds).
Set ``MLP_EXAMPLE_QUICK=1`` to train for a few epochs only (used by the test suite).
"""
import os
import tempfile

import numpy as np

import mlp
from mlp.data import train_test_split
from mlp.datasets import load_digits

QUICK = bool(os.environ.get("MLP_EXAMPLE_QUICK"))
EPOCHS = 3 if QUICK else 60
SEED = 0

digits = load_digits()
X, y = digits.data.astype("float32"), digits.target
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, stratify=y, seed=SEED)
X_train, X_val, y_train, y_val = train_test_split(X_train, y_train, test_size=0.2,
                                                  stratify=y_train, seed=SEED)
print(f"train {len(y_train)}, validation {len(y_val)}, test {len(y_test)} images")


def network(norm):
    return mlp.Sequential([
        mlp.BatchNormalization(input_dim=X.shape[1]),   # standardizes the raw pixels
        mlp.Dense(64),
        norm(),
        mlp.Activation("relu"),
        mlp.Dropout(0.2),
        mlp.Dense(10, activation="softmax"),
    ], seed=SEED)


for name, norm in (("BatchNormalization", mlp.BatchNormalization),
                   ("LayerNormalization", mlp.LayerNormalization)):
    model = network(norm)
    model.compile(optimizer=mlp.Adam(1e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(X_train, y_train, epochs=EPOCHS, batch_size=32, validation_data=(X_val, y_val),
              verbose=0, callbacks=[mlp.EarlyStopping(patience=10, restore_best_weights=True)])
    predicted = model.predict(X_test).argmax(axis=1)
    print(f"{name}: test accuracy: {np.mean(predicted == y_test):.4f}")

model.summary()
first = model.layers[0]
print(f"first layer's moving mean of pixel 36: {first.moving_mean[36]:.3f} "
      f"(training mean {X_train[:, 36].mean():.3f})")
with tempfile.TemporaryDirectory() as folder:
    path = os.path.join(folder, "digits.mlp")
    model.save(path)
    loaded = mlp.load_model(path)
    same = np.array_equal(loaded.predict(X_test), model.predict(X_test))
    print(f"saved and reloaded: identical predictions {same}")
