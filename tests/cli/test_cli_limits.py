"""The command line on the hostile inputs of issue 17: wide CSVs read in linear time, values
too large to standardise named as such (not as missing values), control characters in header
names refused, and FIFOs refused instead of waited on."""
import os
import subprocess
import sys
import time

import pytest

from mlp.cli import tables

from test_cli import assert_one_line_error, run_cli, subprocess_env, write_csv


def _wide_csv(path, columns, rows=3):
    header = [f"c{j}" for j in range(columns)] + ["y"]
    write_csv(path, header, [[(i + j) % 7 for j in range(columns)] + [i % 2]
                             for i in range(rows)])
    return path


def _read_seconds(path):
    started = time.perf_counter()
    table = tables.read_csv(str(path))
    tables.feature_matrix(table, [name for name in table.header if name != "y"])
    return time.perf_counter() - started


def test_reading_a_wide_csv_is_linear_in_its_columns(tmp_path):
    # before: one list.index over the header per column, 76 % of `mlp train` on 40k columns
    small = _wide_csv(tmp_path / "small.csv", 5000)
    large = _wide_csv(tmp_path / "large.csv", 20000)
    t_small = min(_read_seconds(small) for _ in range(3))
    t_large = min(_read_seconds(large) for _ in range(3))
    assert t_large < 8 * t_small + 0.2, (t_small, t_large)   # quadratic would be 16x


def test_values_too_large_to_standardise_are_named_as_such(tmp_path):
    data = write_csv(tmp_path / "big.csv", ["a", "b", "y"],
                     [[1e308 if i % 2 else -1e308, i, i % 2] for i in range(48)])
    line = assert_one_line_error(run_cli("train", data, "--target", "y", "-o",
                                         tmp_path / "m.mlp", "--epochs", "1"),
                                 "feature column 'a' has values too large to standardise",
                                 "largest magnitude 1e+308")
    assert "NaN" not in line and "impute" not in line   # before: "got 48 NaN ... impute"
    assert not (tmp_path / "m.mlp").exists()


def test_a_regression_target_too_large_to_standardise_is_named_as_such(tmp_path):
    data = write_csv(tmp_path / "big.csv", ["a", "y"],
                     [[i, [1e308, -1e308, 1.5 * i][i % 3]] for i in range(48)])
    line = assert_one_line_error(run_cli("train", data, "--target", "y", "-o",
                                         tmp_path / "m.mlp", "--epochs", "1"),
                                 "target column 'y' has values too large to standardise",
                                 "largest magnitude 1e+308")
    assert "NaN" not in line and "impute" not in line   # before: "y: ... 38 NaN ... impute"


def test_predict_names_a_column_too_large_for_the_training_scale(tmp_path):
    train = write_csv(tmp_path / "train.csv", ["a", "y"], [[i, i % 2] for i in range(40)])
    model = tmp_path / "m.mlp"
    run = run_cli("train", train, "--target", "y", "-o", model, "--epochs", "1", "--quiet")
    assert run.returncode == 0, run.stderr
    new = write_csv(tmp_path / "new.csv", ["a"], [[1e300], [2.0]])
    line = assert_one_line_error(run_cli("predict", model, new),
                                 "feature column 'a' has values too large to standardise")
    assert "NaN" not in line


@pytest.mark.parametrize("name", ["a\x00b", "a\x07", "tab\there"])
def test_a_control_character_in_a_header_name_is_refused(tmp_path, name):
    data = tmp_path / "bad.csv"
    data.write_text(f"{name},c,y\n" + "".join(f"{i},{2 * i},{i % 2}\n" for i in range(20)))
    assert_one_line_error(run_cli("train", data, "--target", "y", "-o", tmp_path / "m.mlp"),
                          "column 1 of the header", "holds the control character",
                          "column names must be printable text")
    assert not (tmp_path / "m.mlp").exists()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
@pytest.mark.parametrize("command", ["train", "predict"])
def test_a_fifo_is_refused_not_waited_on(tmp_path, command):
    fifo = tmp_path / "data.csv"
    os.mkfifo(fifo)
    if command == "train":
        args = ["train", fifo, "--target", "y"]
        expected = "is a FIFO (named pipe), not a regular file; expected a CSV file"
    else:
        model = tmp_path / "m.mlp"
        os.mkfifo(model)
        os.mkfifo(str(model) + ".json")
        args = ["predict", model, fifo]
        expected = "is a FIFO (named pipe), not a regular file"
    try:
        run = subprocess.run([sys.executable, "-m", "mlp", *map(str, args)],
                             capture_output=True, text=True, timeout=60, env=subprocess_env())
    except subprocess.TimeoutExpired:
        pytest.fail(f"mlp {command} waited on a FIFO")   # before: it blocked forever
    assert_one_line_error(run, expected)
