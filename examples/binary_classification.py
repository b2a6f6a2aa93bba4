"""Binary classification: is a breast mass malignant or benign?

The whole flow on the Wisconsin breast-cancer data bundled with mlp (569 samples, 30 features):

1. a stratified train / validation / test split (class proportions kept in each part);
2. preprocessing fitted on the training split only -- an imputer for missing values and a
   standard scaler -- then applied to the validation and test splits;
3. a Dense-ReLU-Dropout-sigmoid network trained with Adam on binary cross-entropy, with early
   stopping on the validation loss that restores the best epoch's weights;
4. test accuracy, precision, recall, F1, the confusion matrix and a per-class report;
5. saving the model and loading it back.

Run with ``python examples/binary_classification.py`` (a few seconds).
Set ``MLP_EXAMPLE_QUICK=1`` to train for a few epochs only (used by the test suite).
"""
import os
import tempfile

import numpy as np

import mlp
from mlp.data import SimpleImputer, StandardScaler, train_test_split
from mlp.datasets import load_breast_cancer

QUICK = bool(os.environ.get("MLP_EXAMPLE_QUICK"))
EPOCHS = 10 if QUICK else 200
SEED = 0

# --- data --------------------------------------------------------------------------------
data = load_breast_cancer()
# The file codes 0 = malignant, 1 = benign. Precision and recall are about the positive class,
# so make it the one we want to find: y = 1 for malignant.
X, y = data.data, (data.target == 0).astype(np.int64)
class_names = ["benign", "malignant"]

# 20 % test, then 20 % of the rest for validation; stratify=y keeps the class balance.
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, stratify=y, seed=SEED)
X_train, X_val, y_train, y_val = train_test_split(X_train, y_train, test_size=0.2,
                                                  stratify=y_train, seed=SEED)
print(f"train {len(y_train)}, validation {len(y_val)}, test {len(y_test)} samples")

# --- preprocessing: fit on the training split only, apply everywhere -----------------------
# This copy of the data has no missing values; real tables often do, and the imputer is how
# the same pipeline copes with them (NaN -> the training median of the column).
imputer = SimpleImputer(strategy="median").fit(X_train)
scaler = StandardScaler().fit(imputer.transform(X_train))


def preprocess(A):
    return scaler.transform(imputer.transform(A))


X_train, X_val, X_test = preprocess(X_train), preprocess(X_val), preprocess(X_test)

# --- model -------------------------------------------------------------------------------
model = mlp.Sequential([
    mlp.Dense(32, activation="relu", input_dim=X.shape[1]),
    mlp.Dropout(0.2),                          # active in fit only, off in evaluate/predict
    mlp.Dense(1, activation="sigmoid"),        # the probability of "malignant"
], seed=SEED)
model.compile(optimizer=mlp.Adam(1e-3), loss="binary_crossentropy",
              metrics=["accuracy", "precision", "recall"])
model.summary()

stop = mlp.EarlyStopping(monitor="val_loss", patience=10, restore_best_weights=True)
history = model.fit(X_train, y_train, epochs=EPOCHS, batch_size=32,
                    validation_data=(X_val, y_val), callbacks=[stop], verbose=0)
best = int(np.argmin(history.history["val_loss"]))
print(f"trained {len(history.history['loss'])} epochs; best val_loss "
      f"{history.history['val_loss'][best]:.4f} at epoch {best + 1} (weights restored)")

# --- evaluation on the untouched test split ------------------------------------------------
scores = model.evaluate(X_test, y_test)        # {"loss", "accuracy", "precision", "recall"}
probabilities = model.predict(X_test)[:, 0]
predicted = (probabilities > 0.5).astype(np.int64)
print(f"test accuracy: {mlp.metrics.accuracy(y_test, probabilities):.4f}")
print(f"test precision: {mlp.metrics.precision(y_test, probabilities):.4f}  "
      f"recall: {mlp.metrics.recall(y_test, probabilities):.4f}  "
      f"F1: {mlp.metrics.f1(y_test, probabilities):.4f}  (evaluate: {scores})")
print("confusion matrix (rows: true, columns: predicted; benign, malignant):")
print(mlp.metrics.confusion_matrix(y_test, predicted))
print(mlp.metrics.classification_report(y_test, predicted, target_names=class_names,
                                        digits=3))

# --- save and load: the same predictions from the file -------------------------------------
with tempfile.TemporaryDirectory() as folder:
    path = os.path.join(folder, "breast_cancer.mlp")
    model.save(path)
    restored = mlp.load_model(path)
    same = np.array_equal(restored.predict(X_test), model.predict(X_test))
    print(f"saved and reloaded: identical predictions {same}")
