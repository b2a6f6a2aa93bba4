"""``mlp demo``: the two classic flows, end to end, on the bundled datasets.

1. **Binary classification** -- the Wisconsin breast-cancer data (malignant vs benign): a
   stratified train / validation / test split, a :class:`~mlp.data.SimpleImputer` and a
   :class:`~mlp.data.StandardScaler` fitted on the training split only, a
   Dense-ReLU-Dropout-sigmoid network trained with Adam and binary cross-entropy,
   :class:`~mlp.callbacks.EarlyStopping` on the validation loss restoring the best weights, then
   the test accuracy, precision, recall, F1 and confusion matrix.
2. **Multi-class classification** -- the 8x8 handwritten digits: the same split and scaling,
   one-hot targets (:func:`~mlp.data.to_categorical`), a softmax output trained with categorical
   cross-entropy, predictions as the argmax of the probabilities, then the test accuracy, the
   confusion matrix and the per-class classification report.

Everything is seeded (splits, initial weights, shuffling, dropout), so a given ``seed`` prints
the same numbers on every run and every thread count; only the timings change.

Examples
--------
>>> from mlp.cli.demo import run_demo
>>> results = run_demo(verbose=False)            # doctest: +SKIP
>>> results["breast_cancer"]["accuracy"] >= 0.95  # doctest: +SKIP
True
"""
from __future__ import annotations

import time
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np

from .. import metrics
from ..training.callbacks import Callback, EarlyStopping
from ..data import SimpleImputer, StandardScaler, to_categorical, train_test_split
from ..datasets import load_breast_cancer, load_digits
from ..nn.layers import Dense, Dropout
from ..model import Sequential
from ..optim.optimizers import Adam

DEFAULT_EPOCHS = 200
"""Most epochs either flow trains for; early stopping usually ends them well before."""

Printer = Callable[[str], None]


class EpochPrinter(Callback):
    """Print one compact line every ``every`` epochs (and the first), then how training ended.

    A deterministic alternative to ``fit(verbose=2)``: no timings, so two runs with the same
    seed print the same lines.
    """

    def __init__(self, every: int = 10, print_fn: Printer = print, indent: str = "    "):
        super().__init__()
        self.every = max(1, int(every))
        self.print_fn = print_fn
        self.indent = indent
        self.last_epoch = -1
        self._last_line: Optional[str] = None

    def on_train_begin(self, logs=None):
        self.last_epoch = -1
        self._last_line = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        line = f"{self.indent}epoch {epoch + 1:4d}  " + "  ".join(
            f"{name} {value:.4f}" for name, value in logs.items())
        self.last_epoch = epoch
        if epoch == 0 or (epoch + 1) % self.every == 0:
            self.print_fn(line)
            self._last_line = None
        else:
            self._last_line = line

    def on_train_end(self, logs=None):
        if self._last_line is not None:          # the final epoch, when not printed yet
            self.print_fn(self._last_line)


def _fit_with_early_stopping(model, x_train, y_train, x_val, y_val, max_epochs: int,
                             print_fn: Printer) -> int:
    """Both flows' training: batch 32, early stopping on the validation loss with the best
    weights restored, one line per epoch, then how training ended. Returns the epochs run."""
    stopper = EarlyStopping(monitor="val_loss", patience=10, restore_best_weights=True)
    printer = EpochPrinter(print_fn=print_fn)
    print_fn(f"  training: at most {max_epochs} epochs, batch 32, EarlyStopping(val_loss, "
             f"patience=10, restore_best_weights=True)")
    history = model.fit(x_train, y_train, epochs=max_epochs, batch_size=32, verbose=0,
                        validation_data=(x_val, y_val), callbacks=[stopper, printer])
    epochs_run = printer.last_epoch + 1
    if stopper.best_epoch is None:
        return epochs_run
    best = history.history[stopper.monitor][stopper.best_epoch]
    if stopper.stopped_epoch is not None:
        how = f"early stopping after epoch {epochs_run} ({stopper.patience} epochs without a " \
              f"better {stopper.monitor})"
    else:
        how = f"reached the {max_epochs}-epoch limit"
    print_fn(f"  {how}; restored the weights of epoch {stopper.best_epoch + 1} "
             f"({stopper.monitor} {best:.4f})")
    return epochs_run


def format_confusion_matrix(matrix: np.ndarray, names: Sequence[str],
                            indent: str = "    ") -> str:
    """A confusion matrix as text: one row per true class, one column per predicted class."""
    matrix = np.asarray(matrix)
    names = [str(name) for name in names]
    largest = len(str(int(matrix.max()))) if matrix.size else 1
    width = max(largest, max(len(name) for name in names)) + 2
    label_width = max(len(name) for name in names)
    lines = [indent + " " * label_width + "".join(name.rjust(width) for name in names)]
    for name, row in zip(names, matrix):
        lines.append(indent + name.ljust(label_width) + "".join(
            str(int(value)).rjust(width) for value in row))
    return "\n".join(lines)


def _split(X: np.ndarray, y: np.ndarray, seed: int):
    """Stratified 64 % train / 16 % validation / 20 % test."""
    X_rest, X_test, y_rest, y_test = train_test_split(X, y, test_size=0.2, stratify=y,
                                                      seed=seed)
    X_train, X_val, y_train, y_val = train_test_split(X_rest, y_rest, test_size=0.2,
                                                      stratify=y_rest, seed=seed)
    return X_train, X_val, X_test, y_train, y_val, y_test


def describe_architecture(model: Sequential) -> str:
    """The layers as one line, e.g. ``Dense(32, relu) -> Dropout(0.2) -> Dense(1, sigmoid)``."""
    parts = []
    for layer in model.layers:
        if isinstance(layer, Dropout):
            parts.append(f"Dropout({layer.rate:g})")
        elif isinstance(layer, Dense):
            parts.append(f"Dense({layer.units}, {layer.activation})")
        else:
            parts.append(type(layer).__name__)
    return " -> ".join(parts)


def binary_flow(backend: Optional[str] = None, epochs: int = DEFAULT_EPOCHS, seed: int = 0,
                print_fn: Printer = print) -> Dict[str, Any]:
    """Breast cancer, malignant vs benign: the binary classification flow.

    Returns the test ``accuracy``, ``precision``, ``recall``, ``f1``, the
    ``confusion_matrix`` and the number of ``epochs`` trained.
    """
    data = load_breast_cancer()
    # The bundled coding is 0 = malignant, 1 = benign; make the positive class (the one that
    # precision and recall are about) the one a screening test looks for.
    X, y = data.data, (data.target == 0).astype(np.int64)
    names = ["benign", "malignant"]
    print_fn(f"[1/2] Binary classification: Wisconsin breast cancer ({X.shape[0]} samples, "
             f"{X.shape[1]} features; positive class = malignant)")
    X_train, X_val, X_test, y_train, y_val, y_test = _split(X, y, seed)
    print_fn(f"  stratified split: {len(X_train)} train / {len(X_val)} validation / "
             f"{len(X_test)} test")

    # Preprocessing is fitted on the training split only and then applied to the others, so
    # nothing about the validation or test samples leaks into training. The bundled data has
    # no missing values; the imputer is there because real tables have them.
    imputer = SimpleImputer(strategy="median").fit(X_train)
    scaler = StandardScaler().fit(imputer.transform(X_train))

    def prepare(A):
        return scaler.transform(imputer.transform(A))

    X_train, X_val, X_test = prepare(X_train), prepare(X_val), prepare(X_test)
    print_fn("  preprocessing: SimpleImputer(median) -> StandardScaler, fitted on the training "
             "split only")

    model = Sequential([
        Dense(32, activation="relu", input_dim=X.shape[1]),
        Dropout(0.2),
        Dense(1, activation="sigmoid"),
    ], seed=seed, backend=backend)
    model.compile(optimizer=Adam(1e-3), loss="binary_crossentropy", metrics=["accuracy"])
    print_fn(f"  model: {describe_architecture(model)}, {model.count_params():,} parameters; "
             f"Adam(1e-3), binary cross-entropy")
    epochs_run = _fit_with_early_stopping(model, X_train, y_train, X_val, y_val, epochs,
                                          print_fn)

    probabilities = model.predict(X_test)[:, 0]
    predicted = (probabilities > 0.5).astype(np.int64)
    result = {
        "accuracy": metrics.accuracy(y_test, probabilities),
        "precision": metrics.precision(y_test, probabilities, average="binary"),
        "recall": metrics.recall(y_test, probabilities, average="binary"),
        "f1": metrics.f1(y_test, probabilities, average="binary"),
        "confusion_matrix": metrics.confusion_matrix(y_test, predicted, labels=[0, 1]),
        "epochs": epochs_run,
    }
    print_fn(f"  test ({len(y_test)} samples): accuracy {result['accuracy']:.4f}  precision "
             f"{result['precision']:.4f}  recall {result['recall']:.4f}  F1 {result['f1']:.4f}")
    print_fn("  confusion matrix (rows: true class, columns: predicted class):")
    print_fn(format_confusion_matrix(result["confusion_matrix"], names))
    return result


def multiclass_flow(backend: Optional[str] = None, epochs: int = DEFAULT_EPOCHS, seed: int = 0,
                    print_fn: Printer = print) -> Dict[str, Any]:
    """Handwritten digits 0-9: the multi-class classification flow.

    Returns the test ``accuracy``, the ``confusion_matrix``, the classification ``report``
    (a dict) and the number of ``epochs`` trained.
    """
    data = load_digits()
    X, y = data.data, data.target
    n_classes = len(data.target_names)
    print_fn(f"[2/2] Multi-class classification: handwritten digits, 8x8 pixels "
             f"({X.shape[0]} samples, {X.shape[1]} features, {n_classes} classes)")
    X_train, X_val, X_test, y_train, y_val, y_test = _split(X, y, seed)
    print_fn(f"  stratified split: {len(X_train)} train / {len(X_val)} validation / "
             f"{len(X_test)} test")
    scaler = StandardScaler().fit(X_train)
    X_train, X_val, X_test = (scaler.transform(A) for A in (X_train, X_val, X_test))
    # One output per class: the labels become one-hot rows (3 -> [0,0,0,1,0,0,0,0,0,0]).
    Y_train, Y_val = to_categorical(y_train, n_classes), to_categorical(y_val, n_classes)
    print_fn("  preprocessing: StandardScaler fitted on the training split; labels one-hot "
             "encoded (to_categorical)")

    model = Sequential([
        Dense(64, activation="relu", input_dim=X.shape[1]),
        Dropout(0.2),
        Dense(n_classes, activation="softmax"),
    ], seed=seed, backend=backend)
    model.compile(optimizer=Adam(1e-3), loss="categorical_crossentropy", metrics=["accuracy"])
    print_fn(f"  model: {describe_architecture(model)}, {model.count_params():,} parameters; "
             f"Adam(1e-3), categorical cross-entropy")
    epochs_run = _fit_with_early_stopping(model, X_train, Y_train, X_val, Y_val, epochs,
                                          print_fn)

    # The softmax gives one probability per class; the prediction is the most probable one.
    probabilities = model.predict(X_test)
    predicted = probabilities.argmax(axis=1)
    names: List[str] = list(data.target_names)
    labels = np.arange(n_classes)              # every class, even one the test split lacks
    result = {
        "accuracy": metrics.accuracy(y_test, predicted),
        "confusion_matrix": metrics.confusion_matrix(y_test, predicted, labels=labels),
        "report": metrics.classification_report(y_test, predicted, target_names=names,
                                                 labels=labels, output_dict=True),
        "epochs": epochs_run,
    }
    print_fn(f"  test ({len(y_test)} samples): accuracy {result['accuracy']:.4f}")
    print_fn("  confusion matrix (rows: true digit, columns: predicted digit):")
    print_fn(format_confusion_matrix(result["confusion_matrix"], names))
    print_fn("  classification report:")
    report = metrics.classification_report(y_test, predicted, target_names=names,
                                           labels=labels, digits=3)
    print_fn("\n".join("    " + line if line.strip() else "" for line in
                       str(report).rstrip("\n").split("\n")))
    return result


def run_demo(backend: Optional[str] = None, epochs: int = DEFAULT_EPOCHS, seed: int = 0,
             verbose: bool = True) -> Dict[str, Any]:
    """Run both flows, print their progress and results (``mlp demo``), return the results.

    Returns ``{"breast_cancer": {...}, "digits": {...}, "seconds": float}`` with the dicts of
    :func:`binary_flow` and :func:`multiclass_flow`.
    """
    def print_fn(line: str) -> None:
        if verbose:
            print(line, flush=True)

    from ..backends import get_backend

    name = get_backend(backend).name if backend is not None else get_backend().name
    started = time.perf_counter()
    print_fn(f"mlp demo: the binary and the multi-class flow on the bundled datasets "
             f"(backend {name!r}, seed {seed})")
    print_fn("")
    binary = binary_flow(backend, epochs, seed, print_fn)
    print_fn("")
    multiclass = multiclass_flow(backend, epochs, seed, print_fn)
    seconds = time.perf_counter() - started
    print_fn("")
    print_fn(f"summary: breast cancer test accuracy {binary['accuracy']:.4f}, digits test "
             f"accuracy {multiclass['accuracy']:.4f}")
    print_fn(f"time: {seconds:.2f} s")
    return {"breast_cancer": binary, "digits": multiclass, "seconds": seconds}
