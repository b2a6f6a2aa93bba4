"""Multi-class classification: which digit is in this 8x8 image?

The flow on the handwritten digits bundled with mlp (1797 images of 8x8 pixels, 10 classes):

1. a stratified train / validation / test split;
2. a standard scaler fitted on the training pixels only;
3. one-hot targets (``to_categorical``: 3 -> [0, 0, 0, 1, 0, 0, 0, 0, 0, 0]) for a softmax
   output trained with categorical cross-entropy;
4. predictions as the argmax of the class probabilities; test accuracy, the confusion matrix
   and the per-class precision / recall / F1 report.

(With integer labels you can skip the one-hot step: ``loss="sparse_categorical_crossentropy"``
takes ``y_train`` directly.)

Run with ``python examples/multiclass_classification.py`` (a few seconds).
Set ``MLP_EXAMPLE_QUICK=1`` to train for a few epochs only (used by the test suite).
"""
import os

import numpy as np

import mlp
from mlp.data import StandardScaler, to_categorical, train_test_split
from mlp.datasets import load_digits

QUICK = bool(os.environ.get("MLP_EXAMPLE_QUICK"))
EPOCHS = 10 if QUICK else 200
SEED = 0

digits = load_digits()
X, y = digits.data, digits.target              # X: (1797, 64) pixels 0..16; y: 0..9
n_classes = len(digits.target_names)

X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, stratify=y, seed=SEED)
X_train, X_val, y_train, y_val = train_test_split(X_train, y_train, test_size=0.2,
                                                  stratify=y_train, seed=SEED)
print(f"train {len(y_train)}, validation {len(y_val)}, test {len(y_test)} images")

scaler = StandardScaler().fit(X_train)         # training statistics only
X_train, X_val, X_test = (scaler.transform(A) for A in (X_train, X_val, X_test))
Y_train = to_categorical(y_train, n_classes)   # one column per class
Y_val = to_categorical(y_val, n_classes)

model = mlp.Sequential([
    mlp.Dense(64, activation="relu", input_dim=X.shape[1]),
    mlp.Dropout(0.2),
    mlp.Dense(n_classes, activation="softmax"),  # one probability per digit, summing to 1
], seed=SEED)
model.compile(optimizer=mlp.Adam(1e-3), loss="categorical_crossentropy", metrics=["accuracy"])

history = model.fit(X_train, Y_train, epochs=EPOCHS, batch_size=32,
                    validation_data=(X_val, Y_val), verbose=0,
                    callbacks=[mlp.EarlyStopping(patience=10, restore_best_weights=True)])
print(f"trained {len(history.history['loss'])} epochs; best val_accuracy "
      f"{max(history.history['val_accuracy']):.4f}")

probabilities = model.predict(X_test)          # shape (n_test, 10)
predicted = probabilities.argmax(axis=1)       # the most probable digit
print(f"test accuracy: {np.mean(predicted == y_test):.4f}")
print("confusion matrix (rows: true digit, columns: predicted digit):")
print(mlp.metrics.confusion_matrix(y_test, predicted))
print(mlp.metrics.classification_report(y_test, predicted, target_names=digits.target_names,
                                        digits=3))

# The hardest test images: those where the right digit got the lowest probability.
confidence = probabilities[np.arange(len(y_test)), y_test]
for i in np.argsort(confidence)[:3]:
    print(f"image {i}: true {y_test[i]}, predicted {predicted[i]} "
          f"(p(true) = {confidence[i]:.3f})")
