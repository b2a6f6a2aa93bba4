"""Reading the CSV input of ``mlp train`` / ``mlp predict``: the table, the features, the target."""
from __future__ import annotations

import csv
import io
import math
import unicodedata
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

import numpy as np

from ..saving.format import open_regular_file
from .parser import CLIError, MAX_AUTO_CLASSES, MISSING_TOKENS


# ============================================================================ CSV input
@dataclass
class Table:
    """A CSV file's header and data rows, as text, with each row's line number."""

    path: str
    header: List[str]
    rows: List[List[str]]
    lines: List[int]
    positions: Dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.positions = {name: index for index, name in enumerate(self.header)}

    def column(self, name: str) -> List[str]:
        index = self.positions[name]
        return [row[index].strip() for row in self.rows]

    def require(self, name: str, what: str = "column") -> None:
        if name not in self.positions:
            shown = ", ".join(repr(c) for c in self.header[:12])
            more = f", ... ({len(self.header)} columns)" if len(self.header) > 12 else ""
            raise CLIError(f"{self.path}: no {what} {name!r}; the header has {shown}{more}")


def read_csv(path: str, delimiter: str = ",") -> Table:
    """Read a CSV file with a header row; every problem is a one-line :class:`CLIError`."""
    try:
        handle = io.TextIOWrapper(open_regular_file(path, "a CSV file"), newline="",
                                  encoding="utf-8-sig")
    except FileNotFoundError:
        raise CLIError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise CLIError(f"{path}: is a directory, expected a CSV file") from None
    except PermissionError:
        raise CLIError(f"{path}: permission denied") from None
    except OSError as exc:
        raise CLIError(f"{path}: cannot open: {exc.strerror or exc}") from None
    except ValueError as exc:                    # a FIFO, a device, a folder
        raise CLIError(str(exc)) from None
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
        control = next((c for c in name if unicodedata.category(c) == "Cc"), None)
        if control is not None:
            raise CLIError(f"{path}: line {line}: column {position} of the header, {name!r}, "
                           f"holds the control character {control!r}; column names must be "
                           f"printable text")
        if name in seen:
            raise CLIError(f"{path}: line {line}: the column name {name!r} appears twice in "
                           f"the header")
        seen.add(name)


def is_missing(cell: str) -> bool:
    return cell.strip().lower() in MISSING_TOKENS


def to_float(cell: str) -> Optional[float]:
    """The number in ``cell``, NaN for a missing value, None if it is not a number."""
    if is_missing(cell):
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
        value = to_float(cell)
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
    number = to_float(cell)
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
        if is_missing(cell):
            raise CLIError(f"{table.path}: target column {name!r} has no value on line "
                           f"{table.lines[i]}; every training row needs a target")
    numbers = [to_float(cell) for cell in cells]
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
