"""The preprocessing file of ``mlp train`` (imputation, scaling, labels) next to the model."""
from __future__ import annotations

import io
import json
import os
from typing import Any, Dict, Sequence

import numpy as np

from .parser import CLIError

PREPROCESSING_FORMAT = "mlp-cli-preprocessing"
PREPROCESSING_VERSION = 1


# ======================================================================= preprocessing
def fit_preprocessing(X_train: np.ndarray) -> Dict[str, Any]:
    """Median imputation and standardisation, both fitted on the training rows."""
    from ..data import SimpleImputer, StandardScaler

    with np.errstate(over="ignore", invalid="ignore"):   # overflows: see check_scaled
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
    with np.errstate(over="ignore", invalid="ignore"):   # overflows: see check_scaled
        return (X - mean) / scale


FLOAT32_MAX = float(np.finfo(np.float32).max)
"""The largest standardised value the network (float32) can take."""


def check_scaled(path: str, features: Sequence[str], X: np.ndarray, Z: np.ndarray,
                 role: str = "feature") -> None:
    """Refuse the columns of ``X`` whose standardised values ``Z`` are not finite or beyond
    float32: numbers too large to scale (the mean or standard deviation of values near 1e308
    overflows), named (as a ``role`` column) with their largest magnitude, not reported as
    missing values."""
    with np.errstate(invalid="ignore"):
        bad = ~(np.abs(Z) <= FLOAT32_MAX).all(axis=0)
    if bad.any():
        j = int(np.flatnonzero(bad)[0])
        largest = float(np.nanmax(np.abs(X[:, j]))) if not np.isnan(X[:, j]).all() else 0.0
        more = f" (and {int(bad.sum()) - 1} more)" if bad.sum() > 1 else ""
        raise CLIError(f"{path}: {role} column {features[j]!r}{more} has values too large to "
                       f"standardise (largest magnitude {largest:.6g}): their mean or standard "
                       f"deviation overflows; rescale the column (e.g. divide it by a power of "
                       f"ten)")


def preprocessing_path(model_path: str) -> str:
    """Where ``mlp train`` writes the preprocessing of ``model_path``: the path plus ``.json``."""
    return os.fspath(model_path) + ".json"


def write_json_atomic(path: str, document: Dict[str, Any]) -> None:
    from ..saving.format import write_atomically

    text = json.dumps(document, indent=1) + "\n"
    write_atomically(path, lambda handle: handle.write(text.encode("utf-8")))


def load_preprocessing(model_path: str) -> Dict[str, Any]:
    """Read and check the preprocessing file written next to ``model_path``."""
    path = preprocessing_path(model_path)
    try:
        from ..saving.format import open_regular_file

        with io.TextIOWrapper(open_regular_file(path, "a preprocessing file"),
                              encoding="utf-8") as handle:
            document = json.load(handle)
    except FileNotFoundError:
        if not os.path.exists(model_path):
            raise CLIError(f"{model_path}: no such file") from None
        raise CLIError(f"{path}: no such file; 'mlp predict' needs the preprocessing file that "
                       f"'mlp train' writes next to the model") from None
    except (OSError, ValueError) as exc:         # also: not UTF-8, not JSON, not a file
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
