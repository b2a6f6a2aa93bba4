"""The command line: ``mlp demo``, ``mlp train``, ``mlp predict`` and ``mlp info``.

``mlp demo``
    Trains the two classic flows on the bundled datasets and prints their progress and test
    metrics: binary classification (breast cancer) and multi-class classification (digits);
    see :mod:`mlp.cli.demo`.
``mlp train DATA.csv --target COL``
    Trains a network on a CSV file with a header row: the target column is named, every other
    column is a numeric feature (an empty cell, ``NA``, ``NaN``, ``null``, ``None``, ``N/A`` or
    ``?`` is a missing value). The task is detected from the target (two distinct values:
    binary; a few integer or any text labels: multi-class; otherwise regression) unless
    ``--task`` says it. Missing values are imputed with the training medians and features
    standardised with the training statistics; a stratified validation split drives early
    stopping. Writes the model (``--output``, default ``model.mlp``) and, next to it,
    ``<output>.json`` with the preprocessing (see below).
``mlp predict MODEL DATA.csv``
    Applies the saved preprocessing and model to the feature columns of a CSV (found by name,
    in any order, other columns ignored) and writes one row per sample: the predicted class
    label (as named in the training data) and the probability of each class, or the predicted
    value for regression. To ``--output`` or standard output.
``mlp info``
    The build: version, OpenMP, threads, BLAS (:func:`mlp.show_config`).

The preprocessing file
----------------------
The model file (:mod:`mlp.io`) holds the network only, so ``mlp train`` writes the column
names, the imputation values, the scaling statistics, the class labels and (for regression)
the target scaling to a JSON file named after the model file plus ``.json``
(``model.mlp`` -> ``model.mlp.json``); ``mlp predict`` reads both. Numbers are written with
full precision, so predicting applies exactly the training transformation.

Errors in the input (a missing file, an empty file, rows of the wrong length, a missing
target column, a non-numeric feature column, ...) print one line ``mlp <command>: error: ...``
on standard error and exit with status 1; bad arguments exit with status 2. Set
``MLP_DEBUG=1`` to see the traceback of an unexpected error.
"""
from __future__ import annotations

import argparse
import csv
import math
import os
import sys
import warnings
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from .. import backends as _backends
from .parser import CLIError, build_parser
from .preprocessing import (
    PREPROCESSING_FORMAT,
    PREPROCESSING_VERSION,
    apply_preprocessing,
    check_scaled,
    fit_preprocessing,
    load_preprocessing,
    preprocessing_path,
    write_json_atomic,
)
from .tables import _normalise_label, feature_matrix, is_missing, read_csv, read_target, to_float


# ============================================================================== model
def build_model(n_features: int, task: str, n_classes: int, hidden: Sequence[int],
                dropout: float, learning_rate: float, seed: int, backend: Optional[str]):
    """The network ``mlp train`` trains: ReLU hidden layers (each followed by dropout)."""
    from ..nn.layers import Dense, Dropout
    from ..model import Sequential
    from ..optim.optimizers import Adam

    layers = []
    for i, units in enumerate(hidden):
        layers.append(Dense(units, activation="relu",
                            **({"input_dim": n_features} if i == 0 else {})))
        if dropout > 0:
            layers.append(Dropout(dropout))
    head = {"input_dim": n_features} if not hidden else {}
    if task == "binary":
        layers.append(Dense(1, activation="sigmoid", **head))
        loss = "binary_crossentropy"
    elif task == "multiclass":
        layers.append(Dense(n_classes, activation="softmax", **head))
        loss = "categorical_crossentropy"
    else:
        layers.append(Dense(1, **head))
        loss = "mse"
    model = Sequential(layers, seed=seed, backend=backend)
    model.compile(optimizer=Adam(learning_rate), loss=loss)
    return model, loss


def _scores(task: str, truth: np.ndarray, output: np.ndarray,
            classes: Optional[List[str]]) -> str:
    """One line of metrics: truth as class codes (classification) or values (regression)."""
    from .. import metrics

    if task == "regression":
        mse = metrics.mean_squared_error(truth, output)
        return (f"MSE {mse:.6g}  RMSE {math.sqrt(mse):.6g}  "
                f"MAE {metrics.mean_absolute_error(truth, output):.6g}  "
                f"R2 {metrics.r2(truth, output):.4f}")
    if task == "binary":
        return (f"accuracy {metrics.accuracy(truth, output):.4f}  "
                f"precision {metrics.precision(truth, output, average='binary'):.4f}  "
                f"recall {metrics.recall(truth, output, average='binary'):.4f}  "
                f"F1 {metrics.f1(truth, output, average='binary'):.4f}  "
                f"(positive class {classes[1]!r})")
    return (f"accuracy {metrics.accuracy(truth, output):.4f}  "
            f"macro F1 {metrics.f1(truth, output, average='macro'):.4f}")


# ============================================================================ commands
def _say(line: str = "") -> None:
    print(line, flush=True)


def command_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    result = run_demo(args.backend, epochs=args.epochs, seed=args.seed)
    accuracies = (result["breast_cancer"]["accuracy"], result["digits"]["accuracy"])
    return 0 if all(math.isfinite(a) for a in accuracies) else 1


def command_train(args: argparse.Namespace) -> int:
    from .demo import EpochPrinter, describe_architecture
    from ..training.callbacks import EarlyStopping
    from ..data import to_categorical, train_test_split

    table = read_csv(args.data, args.delimiter)
    table.require(args.target, "target column")
    features = [name for name in table.header if name != args.target]
    if not features:
        raise CLIError(f"{args.data}: no feature columns besides the target {args.target!r}")
    X = feature_matrix(table, features)
    for j, name in enumerate(features):
        if np.isnan(X[:, j]).all():
            raise CLIError(f"{args.data}: feature column {name!r} has no values (every cell "
                           f"is missing); drop it")
    target = read_target(table, args.target, args.task)
    task = target.task
    n = X.shape[0]
    _say(f"data: {args.data}: {n} rows, {len(features)} feature columns, target "
         f"{args.target!r}")
    if task == "regression":
        _say(f"task: regression ({target.reason})")
    else:
        classes = target.classes
        extra = f"; positive class {classes[1]!r}" if task == "binary" else ""
        _say(f"task: {task}, {len(classes)} classes ({target.reason}){extra}")

    y = target.values if task == "regression" else target.codes
    rows = np.arange(n)
    if args.validation_split > 0:
        n_val = math.ceil(args.validation_split * n)
        if n_val >= n or n < 2:
            raise CLIError(f"{args.data}: {n} row{'s' if n != 1 else ''} are too few for "
                           f"--validation-split {args.validation_split:g}; add rows or use "
                           f"--validation-split 0")
        stratify = None
        how = "random"
        if task != "regression":
            counts = np.bincount(target.codes, minlength=len(target.classes))
            if counts.min() >= 2 and n_val >= len(counts) and n - n_val >= len(counts):
                stratify, how = target.codes, "stratified"
        try:
            train_rows, val_rows = train_test_split(rows, test_size=n_val, stratify=stratify,
                                                    seed=args.seed)
        except ValueError as exc:
            raise CLIError(f"{args.data}: cannot split off a validation set: {exc}") from None
        _say(f"split: {len(train_rows)} train / {len(val_rows)} validation rows ({how}, "
             f"seed {args.seed})")
    else:
        train_rows, val_rows = rows, rows[:0]
        _say(f"split: all {n} rows train, no validation (--validation-split 0)")

    for j in np.flatnonzero(np.isnan(X[train_rows]).all(axis=0)):
        raise CLIError(f"{args.data}: feature column {features[j]!r} has no values in the "
                       f"training rows, so it cannot be imputed; drop it or fill it in")
    missing = int(np.isnan(X).sum())
    prep = fit_preprocessing(X[train_rows])
    if missing:
        columns = int(np.isnan(X).any(axis=0).sum())
        _say(f"preprocessing: {missing} missing value{'s' if missing != 1 else ''} in "
             f"{columns} column{'s' if columns != 1 else ''} filled with the training medians; "
             f"features standardised with the training mean and standard deviation")
    else:
        _say("preprocessing: median imputation (no missing values here) and standardisation, "
             "both fitted on the training rows")
    Z = apply_preprocessing(X, prep)
    check_scaled(args.data, features, X, Z)

    document: Dict[str, Any] = {
        "format": PREPROCESSING_FORMAT, "version": PREPROCESSING_VERSION,
        "model_file": os.path.basename(args.output), "task": task, "target": args.target,
        "features": features, "delimiter": args.delimiter, **prep,
    }
    if task == "regression":
        with np.errstate(over="ignore", invalid="ignore"):   # overflows: see check_scaled
            y_mean = float(np.mean(y[train_rows]))
            y_scale = float(np.std(y[train_rows])) or 1.0
            fit_target = (y - y_mean) / y_scale
        check_scaled(args.data, [args.target], y[:, None], fit_target[:, None], role="target")
        document["target_scaler"] = {"mean": y_mean, "scale": y_scale}
    else:
        document["classes"] = target.classes
        document["numeric_labels"] = target.numeric_labels
        fit_target = (to_categorical(y, len(target.classes)) if task == "multiclass"
                      else y.astype(np.float64))

    dropout = args.dropout if args.dropout is not None else (0.0 if task == "regression"
                                                             else 0.1)
    n_classes = len(target.classes) if target.classes else 1
    model, loss = build_model(len(features), task, n_classes, args.hidden, dropout,
                              args.learning_rate, args.seed, args.backend)
    model.build()
    _say(f"model: {describe_architecture(model)}, {model.count_params():,} parameters; "
         f"Adam({args.learning_rate:g}), {loss}")
    callbacks: List[Any] = []
    stopper = None
    if len(val_rows):
        stopper = EarlyStopping(monitor="val_loss", patience=args.patience,
                                restore_best_weights=True)
        callbacks.append(stopper)
        validation = (Z[val_rows], fit_target[val_rows])
        _say(f"training: at most {args.epochs} epochs, batch {args.batch_size}, early stopping "
             f"on val_loss (patience {args.patience}, best weights restored)")
    else:
        validation = None
        _say(f"training: {args.epochs} epochs, batch {args.batch_size}")
    printer = EpochPrinter(print_fn=(lambda line: None) if args.quiet else _say, indent="  ")
    callbacks.append(printer)
    model.fit(Z[train_rows], fit_target[train_rows], epochs=args.epochs,
              batch_size=args.batch_size, verbose=0, validation_data=validation,
              callbacks=callbacks)
    epochs_run = printer.last_epoch + 1
    if stopper is not None and stopper.best_epoch is not None:
        how = "stopped early" if stopper.stopped_epoch is not None else "finished"
        _say(f"{how} after {epochs_run} epochs; kept the weights of epoch "
             f"{stopper.best_epoch + 1} (lowest val_loss)")
    else:
        _say(f"finished after {epochs_run} epochs")

    output = model.predict(Z).astype(np.float64)
    if task == "regression":
        output = output[:, 0] * document["target_scaler"]["scale"] + \
            document["target_scaler"]["mean"]
    elif task == "binary":
        output = output[:, 0]
    for name, part in (("train", train_rows), ("validation", val_rows)):
        if len(part):
            _say(f"{name + ':':<12}{_scores(task, y[part], output[part], target.classes)}")

    try:
        model.save(args.output)
        write_json_atomic(preprocessing_path(args.output), document)
    except OSError as exc:
        raise CLIError(f"{args.output}: cannot write the model: "
                       f"{exc.strerror or exc}") from None
    _say(f"saved: {args.output} (model) and {preprocessing_path(args.output)} (preprocessing)")
    return 0


def _format_number(value: float) -> str:
    return f"{value:.7g}"


def command_predict(args: argparse.Namespace) -> int:
    from ..io import load_model

    prep = load_preprocessing(args.model)
    try:
        model = load_model(args.model, backend=args.backend)
    except FileNotFoundError:
        raise CLIError(f"{args.model}: no such file") from None
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    except OSError as exc:
        raise CLIError(f"{args.model}: cannot read: {exc.strerror or exc}") from None
    delimiter = args.delimiter if args.delimiter is not None else prep.get("delimiter", ",")
    table = read_csv(args.data, delimiter)
    features = prep["features"]
    for name in features:
        table.require(name, "feature column")
    if model.input_dim is not None and model.input_dim != len(features):
        raise CLIError(f"{args.model}: the model takes {model.input_dim} features but "
                       f"{preprocessing_path(args.model)} lists {len(features)}; they do not "
                       f"belong together")
    X = feature_matrix(table, features)
    Z = apply_preprocessing(X, prep)
    check_scaled(args.data, features, X, Z)
    output = model.predict(Z).astype(np.float64)
    task = prep["task"]
    if task == "regression":
        scaler = prep["target_scaler"]
        values = output[:, 0] * scaler["scale"] + scaler["mean"]
        header = ["prediction"]
        rows = [[_format_number(v)] for v in values]
    else:
        classes = [str(c) for c in prep["classes"]]
        probabilities = (np.stack([1.0 - output[:, 0], output[:, 0]], axis=1)
                         if task == "binary" else output)
        predicted = (output[:, 0] > 0.5).astype(np.int64) if task == "binary" \
            else output.argmax(axis=1)
        header = ["prediction"] + [f"probability_{c}" for c in classes]
        rows = [[classes[k]] + [f"{p:.6f}" for p in row]
                for k, row in zip(predicted, probabilities)]

    def report(line: str) -> None:
        # the predictions own standard output when no --output file is given
        print(line, file=sys.stdout if args.output else sys.stderr, flush=True)

    if args.output:
        try:
            with open(args.output, "w", newline="", encoding="utf-8") as handle:
                csv.writer(handle, lineterminator="\n").writerows([header] + rows)
        except OSError as exc:
            raise CLIError(f"{args.output}: cannot write: {exc.strerror or exc}") from None
        report(f"wrote {len(rows)} predictions to {args.output}")
    else:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerows([header] + rows)
        sys.stdout.flush()

    name = prep["target"]
    if name in table.header:                     # labelled data: say how well it did
        cells = table.column(name)
        known = [i for i, cell in enumerate(cells) if not is_missing(cell)]
        if task == "regression":
            truth = [to_float(cells[i]) for i in known]
            keep = [i for i, v in zip(known, truth) if v is not None and math.isfinite(v)]
            if keep:
                t = np.array([to_float(cells[i]) for i in keep])
                report(f"on the {len(keep)} rows with a numeric {name!r}: "
                       f"{_scores('regression', t, values[keep], None)}")
        elif known:
            numeric = bool(prep.get("numeric_labels", False))
            truth = [_normalise_label(cells[i]) if numeric else cells[i] for i in known]
            guessed = [rows[i][0] for i in known]
            accuracy = float(np.mean([a == b for a, b in zip(truth, guessed)]))
            report(f"on the {len(known)} rows with a {name!r} label: accuracy {accuracy:.4f}")
    return 0


def command_info(args: argparse.Namespace) -> int:
    from .._config import show_config

    show_config()
    return 0


COMMANDS = {"demo": command_demo, "train": command_train, "predict": command_predict,
            "info": command_info}


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point of ``python -m mlp`` and of the ``mlp`` console script."""
    args = build_parser().parse_args(argv)
    prefix = f"mlp {args.command}"

    def show_warning(message, category, filename, lineno, file=None, line=None):
        print(f"{prefix}: warning: {_one_line(message)}", file=sys.stderr, flush=True)

    try:
        with warnings.catch_warnings():
            warnings.showwarning = show_warning
            return COMMANDS[args.command](args)
    except (CLIError, _backends.BackendUnavailableError) as exc:
        print(f"{prefix}: error: {_one_line(exc)}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        print(f"{prefix}: interrupted", file=sys.stderr, flush=True)
        return 130
    except BrokenPipeError:                      # e.g. `mlp predict ... | head`
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return 0
    except Exception as exc:  # an unforeseen failure: still one line, no traceback
        if os.environ.get("MLP_DEBUG"):
            raise
        print(f"{prefix}: error: {type(exc).__name__}: {_one_line(exc)} (set MLP_DEBUG=1 "
              f"for the traceback)", file=sys.stderr, flush=True)
        return 1
