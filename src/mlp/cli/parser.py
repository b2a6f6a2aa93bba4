"""The ``mlp`` command line's arguments: the parser, its value types and the input errors."""
from __future__ import annotations

import argparse
import math
from typing import List

from .. import backends as _backends


BACKEND_CHOICES = _backends.ALL_BACKENDS

MISSING_TOKENS = frozenset({"", "na", "nan", "n/a", "null", "none", "?"})
"""Cell values read as a missing value (compared lower-case, after stripping spaces)."""

MAX_AUTO_CLASSES = 20
"""``--task auto`` takes a numeric target as multi-class only up to this many integer values."""



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
