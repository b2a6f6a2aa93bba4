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
import json
import math
import os
import sys
import warnings
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from .. import backends as _backends

BACKEND_CHOICES = _backends.ALL_BACKENDS

MISSING_TOKENS = frozenset({"", "na", "nan", "n/a", "null", "none", "?"})
"""Cell values read as a missing value (compared lower-case, after stripping spaces)."""

MAX_AUTO_CLASSES = 20
"""``--task auto`` takes a numeric target as multi-class only up to this many integer values."""

PREPROCESSING_FORMAT = "mlp-cli-preprocessing"
PREPROCESSING_VERSION = 1


class CLIError(Exception):
    """An error in the user's input: printed as one line, exit status 1."""




class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line on stderr (exit status 2)."""

    def error(self, message: str):  # noqa: D102 - argparse API
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _int_at_least(minimum: int):
    """An argparse ``type``: a whole number of at least ``minimum``."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value
    return parse


_positive_int = _int_at_least(1)
_non_negative_int = _int_at_least(0)


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {text!r}") from None
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {text}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text}")
    return value


def _hidden_sizes(text: str) -> List[int]:
    """``"64,32"`` -> ``[64, 32]``; ``""`` or ``"none"`` -> no hidden layer."""
    if text.strip().lower() in ("", "none"):
        return []
    sizes = []
    for part in text.split(","):
        try:
            size = int(part.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected layer sizes separated by commas like 64,32, got {text!r}") from None
        if size < 1:
            raise argparse.ArgumentTypeError(f"layer sizes must be at least 1, got {size}")
        sizes.append(size)
    return sizes


def _delimiter(text: str) -> str:
    if text in ("\\t", "tab"):
        return "\t"
    if len(text) != 1:
        raise argparse.ArgumentTypeError(f"expected one character (or 'tab'), got {text!r}")
    return text


def build_parser() -> argparse.ArgumentParser:
    """The ``mlp`` argument parser."""
    parser = _Parser(prog="mlp", description="Multilayer perceptrons on fast kernels.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser(
        "demo", help="train the binary (breast cancer) and multi-class (digits) flows end to end",
        description="Train the two classic flows on the bundled datasets and print their "
                    "progress and test metrics.")
    demo.add_argument("--backend", choices=BACKEND_CHOICES, default=None,
                      help="compute backend (default: the active default, normally cpu)")
    demo.add_argument("--epochs", type=_positive_int, default=200,
                      help="most epochs per flow; early stopping usually ends sooner "
                           "(default: 200)")
    demo.add_argument("--seed", type=_non_negative_int, default=0,
                      help="seed of the splits, weights, shuffling and dropout (default: 0)")

    train = commands.add_parser(
        "train", help="train a network on a CSV file and save it",
        description="Train a network on a CSV file with a header row. Every column except the "
                    "target must be numeric; empty cells and NA/NaN/null/?/N/A are missing "
                    "values (imputed with the training medians). Writes the model and, next to "
                    "it, OUTPUT.json with the preprocessing that 'mlp predict' applies.")
    train.add_argument("data", metavar="DATA.csv", help="CSV file with a header row")
    train.add_argument("--target", required=True, metavar="COL", help="name of the target column")
    train.add_argument("--task", choices=("auto", "binary", "multiclass", "regression"),
                       default="auto",
                       help="auto (default): two distinct target values -> binary, text labels "
                            f"or at most {MAX_AUTO_CLASSES} integer values (at least 5 rows "
                            "each on average) -> multiclass, otherwise regression")
    train.add_argument("--hidden", type=_hidden_sizes, default=[64, 32], metavar="SIZES",
                       help="hidden layer sizes, comma-separated (default: 64,32)")
    train.add_argument("--epochs", type=_positive_int, default=200,
                       help="most epochs; early stopping on the validation loss usually ends "
                            "sooner (default: 200)")
    train.add_argument("--batch-size", type=_positive_int, default=32, help="(default: 32)")
    train.add_argument("--learning-rate", type=_positive_float, default=1e-3,
                       help="Adam's learning rate (default: 0.001)")
    train.add_argument("--dropout", type=_fraction, default=None,
                       help="dropout rate after each hidden layer (default: 0.1 for "
                            "classification, 0 for regression)")
    train.add_argument("--validation-split", type=_fraction, default=0.2,
                       help="fraction of the rows held out (stratified for classification) for "
                            "early stopping and validation metrics; 0 trains on all rows for "
                            "--epochs epochs (default: 0.2)")
    train.add_argument("--patience", type=_positive_int, default=10,
                       help="epochs without a better validation loss before stopping "
                            "(default: 10)")
    train.add_argument("--output", "-o", default="model.mlp",
                       help="model file to write; the preprocessing goes to OUTPUT.json "
                            "(default: model.mlp)")
    train.add_argument("--seed", type=_non_negative_int, default=0,
                       help="seed of the split, weights, shuffling and dropout (default: 0)")
    train.add_argument("--delimiter", type=_delimiter, default=",",
                       help="field separator (default: ','; 'tab' for tabs)")
    train.add_argument("--backend", choices=BACKEND_CHOICES, default=None)
    train.add_argument("--quiet", "-q", action="store_true", help="no per-epoch lines")

    predict = commands.add_parser(
        "predict", help="predict with a model written by 'mlp train'",
        description="Apply a model written by 'mlp train' (and its MODEL.json preprocessing "
                    "file) to the feature columns of a CSV file. Writes one row per sample: the "
                    "predicted label and the probability of each class (classification) or the "
                    "predicted value (regression). When the CSV also has the target column, "
                    "the metrics on it are reported.")
    predict.add_argument("model", metavar="MODEL", help="model file written by 'mlp train'")
    predict.add_argument("data", metavar="DATA.csv", help="CSV file with a header row")
    predict.add_argument("--output", "-o", default=None,
                         help="CSV file to write (default: standard output)")
    predict.add_argument("--delimiter", type=_delimiter, default=None,
                         help="field separator (default: the one used for training)")
    predict.add_argument("--backend", choices=BACKEND_CHOICES, default=None)

    commands.add_parser("info", help="print version, OpenMP, threads and BLAS in use",
                        description="Print the build configuration (mlp.show_config()).")
    return parser


# ============================================================================ CSV input
@dataclass
class Table:
    """A CSV file's header and data rows, as text, with each row's line number."""

    path: str
    header: List[str]
    rows: List[List[str]]
    lines: List[int]

    def column(self, name: str) -> List[str]:
        index = self.header.index(name)
        return [row[index].strip() for row in self.rows]

    def require(self, name: str, what: str = "column") -> None:
        if name not in self.header:
            shown = ", ".join(repr(c) for c in self.header[:12])
            more = f", ... ({len(self.header)} columns)" if len(self.header) > 12 else ""
            raise CLIError(f"{self.path}: no {what} {name!r}; the header has {shown}{more}")


def read_csv(path: str, delimiter: str = ",") -> Table:
    """Read a CSV file with a header row; every problem is a one-line :class:`CLIError`."""
    try:
        handle = open(path, newline="", encoding="utf-8-sig")
    except FileNotFoundError:
        raise CLIError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise CLIError(f"{path}: is a directory, expected a CSV file") from None
    except PermissionError:
        raise CLIError(f"{path}: permission denied") from None
    except OSError as exc:
        raise CLIError(f"{path}: cannot open: {exc.strerror or exc}") from None
    header: Optional[List[str]] = None
    rows: List[List[str]] = []
    lines: List[int] = []
    with handle:
        reader = csv.reader(handle, delimiter=delimiter, strict=True)
        try:
            for row in reader:
                if not row or all(not cell.strip() for cell in row):
                    continue                     # blank lines are skipped
                if header is None:
                    header = [cell.strip() for cell in row]
                    _check_header(path, header, reader.line_num)
                    continue
                if len(row) != len(header):
                    raise CLIError(
                        f"{path}: line {reader.line_num} has {len(row)} field"
                        f"{'s' if len(row) != 1 else ''}, expected {len(header)} as in the "
                        f"header")
                rows.append(row)
                lines.append(reader.line_num)
        except UnicodeDecodeError:
            raise CLIError(f"{path}: not UTF-8 text (undecodable byte near line "
                           f"{reader.line_num + 1}); expected a CSV file") from None
        except csv.Error as exc:
            raise CLIError(f"{path}: line {reader.line_num}: malformed CSV: {exc}") from None
    if header is None:
        raise CLIError(f"{path}: the file is empty; expected a header row with the column "
                       f"names, then one row per sample")
    if not rows:
        raise CLIError(f"{path}: no data rows after the header")
    return Table(path, header, rows, lines)


def _check_header(path: str, header: List[str], line: int) -> None:
    seen = set()
    for position, name in enumerate(header, start=1):
        if not name:
            raise CLIError(f"{path}: line {line}: column {position} of the header has no name")
        if name in seen:
            raise CLIError(f"{path}: line {line}: the column name {name!r} appears twice in "
                           f"the header")
        seen.add(name)


def _is_missing(cell: str) -> bool:
    return cell.strip().lower() in MISSING_TOKENS


def _to_float(cell: str) -> Optional[float]:
    """The number in ``cell``, NaN for a missing value, None if it is not a number."""
    if _is_missing(cell):
        return math.nan
    try:
        return float(cell.replace("_", "#"))    # float() would take "1_000"; CSVs do not
    except ValueError:
        return None


def numeric_column(table: Table, name: str, role: str = "feature") -> np.ndarray:
    """A column as float64 (NaN where missing); text or infinite values are a CLIError."""
    cells = table.column(name)
    values = np.empty(len(cells), dtype=np.float64)
    for i, cell in enumerate(cells):
        value = _to_float(cell)
        if value is None:
            hint = (" — encode it as numbers or drop the column" if role == "feature" else "")
            raise CLIError(f"{table.path}: {role} column {name!r} is not numeric: line "
                           f"{table.lines[i]} has {cell!r}{hint}")
        if math.isinf(value):
            raise CLIError(f"{table.path}: {role} column {name!r} has an infinite value on "
                           f"line {table.lines[i]}")
        values[i] = value
    return values


def feature_matrix(table: Table, names: Sequence[str]) -> np.ndarray:
    """The named columns as an (n, len(names)) float64 matrix, NaN where missing."""
    if not names:
        return np.empty((len(table.rows), 0))
    return np.stack([numeric_column(table, name) for name in names], axis=1)


# ======================================================================== target, task
def _label_text(value: float) -> str:
    """How a numeric class label is shown: ``1.0`` -> ``"1"``, ``2.5`` -> ``"2.5"``."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _normalise_label(cell: str) -> str:
    """A numeric class label as :func:`_label_text` writes it (``"1.0"`` -> ``"1"``)."""
    cell = cell.strip()
    number = _to_float(cell)
    if number is not None and math.isfinite(number):
        return _label_text(number)
    return cell


@dataclass
class Target:
    """The target column read for training."""

    task: str
    reason: str
    classes: Optional[List[str]] = None     # classification: labels, sorted
    codes: Optional[np.ndarray] = None      # classification: class index of each row
    values: Optional[np.ndarray] = None     # regression: float64 values
    numeric_labels: bool = False            # classification: labels were numbers


def read_target(table: Table, name: str, task: str) -> Target:
    """Read the target column, pick the task (``auto``) and encode the labels."""
    cells = table.column(name)
    for i, cell in enumerate(cells):
        if _is_missing(cell):
            raise CLIError(f"{table.path}: target column {name!r} has no value on line "
                           f"{table.lines[i]}; every training row needs a target")
    numbers = [_to_float(cell) for cell in cells]
    numeric = all(value is not None and math.isfinite(value) for value in numbers)
    n = len(cells)
    if numeric:
        values = np.asarray(numbers, dtype=np.float64)
        distinct = np.unique(values)
        integer = bool(np.all(np.floor(distinct) == distinct))
        labels = [_label_text(v) for v in distinct]
    else:
        distinct = sorted(set(cells))
        integer = False
        labels = list(distinct)
    k = len(labels)
    shown = ", ".join(repr(label) for label in labels[:5]) + (", ..." if k > 5 else "")

    if task == "auto":
        if k < 2:
            raise CLIError(f"{table.path}: target column {name!r} has a single value "
                           f"({labels[0]!r}); there is nothing to learn")
        if k == 2:
            task, reason = "binary", f"2 distinct values: {shown}"
        elif not numeric:
            task, reason = "multiclass", f"{k} text labels: {shown}"
        elif integer and k <= MAX_AUTO_CLASSES and k * 5 <= n:
            task, reason = "multiclass", f"{k} distinct integer values: {shown}"
        else:
            task = "regression"
            reason = (f"{k} distinct numeric values" if not integer else
                      f"{k} distinct integer values, too many for classes")
        reason = f"auto: {reason}; --task overrides"
    else:
        reason = "--task"
        if task == "binary" and k != 2:
            raise CLIError(f"{table.path}: --task binary needs exactly 2 distinct values in "
                           f"target column {name!r}, it has {k}: {shown}")
        if task == "multiclass" and k < 2:
            raise CLIError(f"{table.path}: --task multiclass needs at least 2 distinct values "
                           f"in target column {name!r}, it has 1: {shown}")
        if task == "regression" and not numeric:
            bad = next(i for i, value in enumerate(numbers)
                       if value is None or not math.isfinite(value))
            raise CLIError(f"{table.path}: --task regression needs a numeric target, but "
                           f"column {name!r} has {cells[bad]!r} on line {table.lines[bad]}")

    if task == "regression":
        return Target(task, reason, values=np.asarray(numbers, dtype=np.float64))
    if numeric:
        codes = np.searchsorted(distinct, values)
    else:
        index = {label: i for i, label in enumerate(labels)}
        codes = np.array([index[cell] for cell in cells], dtype=np.int64)
    return Target(task, reason, classes=labels, codes=codes.astype(np.int64),
                  numeric_labels=numeric)


# ======================================================================= preprocessing
def fit_preprocessing(X_train: np.ndarray) -> Dict[str, Any]:
    """Median imputation and standardisation, both fitted on the training rows."""
    from ..data import SimpleImputer, StandardScaler

    imputer = SimpleImputer(strategy="median").fit(X_train)
    scaler = StandardScaler().fit(imputer.transform(X_train))
    return {"imputer": {"strategy": "median",
                        "statistics": [float(v) for v in imputer.statistics_]},
            "scaler": {"mean": [float(v) for v in scaler.mean_],
                       "scale": [float(v) for v in scaler.scale_]}}


def apply_preprocessing(X: np.ndarray, prep: Dict[str, Any]) -> np.ndarray:
    """Fill the missing values, then standardise: the transformation fitted in training."""
    fill = np.asarray(prep["imputer"]["statistics"], dtype=np.float64)
    mean = np.asarray(prep["scaler"]["mean"], dtype=np.float64)
    scale = np.asarray(prep["scaler"]["scale"], dtype=np.float64)
    X = np.where(np.isnan(X), fill, X)
    return (X - mean) / scale


def preprocessing_path(model_path: str) -> str:
    """Where ``mlp train`` writes the preprocessing of ``model_path``: the path plus ``.json``."""
    return os.fspath(model_path) + ".json"


def _write_json_atomic(path: str, document: Dict[str, Any]) -> None:
    from ..saving.format import write_atomically

    text = json.dumps(document, indent=1) + "\n"
    write_atomically(path, lambda handle: handle.write(text.encode("utf-8")))


def load_preprocessing(model_path: str) -> Dict[str, Any]:
    """Read and check the preprocessing file written next to ``model_path``."""
    path = preprocessing_path(model_path)
    try:
        with open(path, encoding="utf-8") as handle:
            document = json.load(handle)
    except FileNotFoundError:
        if not os.path.exists(model_path):
            raise CLIError(f"{model_path}: no such file") from None
        raise CLIError(f"{path}: no such file; 'mlp predict' needs the preprocessing file that "
                       f"'mlp train' writes next to the model") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CLIError(f"{path}: not a readable preprocessing file: "
                       f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") \
            from None
    try:
        assert isinstance(document, dict)
        assert document.get("format") == PREPROCESSING_FORMAT
        if document.get("version") != PREPROCESSING_VERSION:
            raise CLIError(f"{path}: preprocessing format version {document.get('version')!r}, "
                           f"this mlp reads version {PREPROCESSING_VERSION}")
        d = len(document["features"])
        assert all(isinstance(name, str) for name in document["features"])
        assert len(document["imputer"]["statistics"]) == d
        assert len(document["scaler"]["mean"]) == d == len(document["scaler"]["scale"])
        assert document["task"] in ("binary", "multiclass", "regression")
        if document["task"] == "regression":
            assert {"mean", "scale"} <= set(document["target_scaler"])
        else:
            assert len(document["classes"]) >= 2
    except CLIError:
        raise
    except (AssertionError, KeyError, TypeError):
        raise CLIError(f"{path}: not a preprocessing file written by 'mlp train'") from None
    return document


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

    document: Dict[str, Any] = {
        "format": PREPROCESSING_FORMAT, "version": PREPROCESSING_VERSION,
        "model_file": os.path.basename(args.output), "task": task, "target": args.target,
        "features": features, "delimiter": args.delimiter, **prep,
    }
    if task == "regression":
        y_mean = float(np.mean(y[train_rows]))
        y_scale = float(np.std(y[train_rows])) or 1.0
        document["target_scaler"] = {"mean": y_mean, "scale": y_scale}
        fit_target = (y - y_mean) / y_scale
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
        _write_json_atomic(preprocessing_path(args.output), document)
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
    X = apply_preprocessing(feature_matrix(table, features), prep)
    output = model.predict(X).astype(np.float64)
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
        known = [i for i, cell in enumerate(cells) if not _is_missing(cell)]
        if task == "regression":
            truth = [_to_float(cells[i]) for i in known]
            keep = [i for i, v in zip(known, truth) if v is not None and math.isfinite(v)]
            if keep:
                t = np.array([_to_float(cells[i]) for i in keep])
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
