"""The command line: `mlp demo`, `mlp train` / `mlp predict` on good and bad CSVs, `mlp info`.

The commands run in a subprocess (``python -m mlp``), as a user runs them: exit status,
standard output and standard error are what is checked. Every error in the input must be one
line on stderr with a non-zero status, never a traceback.
"""
import csv
import io
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import mlp
from mlp.cli import commands as cli
from mlp.cli import tables
from mlp.cli.demo import format_confusion_matrix, run_demo
from mlp.datasets import load_breast_cancer, load_digits


def subprocess_env():
    """The environment, with the folder of the ``mlp`` under test first on the import path."""
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.abspath(mlp.__file__)))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    return env


def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "mlp", *map(str, args)], capture_output=True,
                          text=True, timeout=300, cwd=cwd, env=subprocess_env())


def assert_one_line_error(run, *fragments, status=1):
    assert run.returncode == status, (run.returncode, run.stdout, run.stderr)
    assert "Traceback" not in run.stderr
    lines = run.stderr.splitlines()
    assert len(lines) == 1, run.stderr
    assert ": error: " in lines[0]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def write_csv(path, header, rows):
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def read_csv_text(text):
    rows = list(csv.reader(io.StringIO(text)))
    return rows[0], rows[1:]


# ====================================================================================== demo
def test_demo_trains_both_flows_and_reaches_the_target_accuracies():
    run = run_cli("demo")
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""
    out = run.stdout
    for expected in ("[1/2] Binary classification", "[2/2] Multi-class classification",
                     "SimpleImputer", "StandardScaler", "Dropout(0.2)", "Dense(1, sigmoid)",
                     "Dense(10, softmax)", "restored the weights of epoch",
                     "precision", "recall", "F1", "confusion matrix", "classification report",
                     "macro avg", "stratified split"):
        assert expected in out, expected
    summary = re.search(r"summary: breast cancer test accuracy (\d\.\d+), digits test accuracy "
                        r"(\d\.\d+)", out)
    assert summary, out
    assert float(summary.group(1)) >= 0.95
    assert float(summary.group(2)) >= 0.95
    seconds = float(re.search(r"time: (\d+\.\d+) s", out).group(1))
    assert seconds < 60


def _without_timings(text):
    return "\n".join(line for line in text.splitlines() if not line.startswith("time:"))


def test_demo_is_deterministic_across_runs_and_thread_counts(capsys):
    before = mlp.get_num_threads()
    try:
        mlp.set_num_threads(1)
        first = run_demo(seed=3)
        out_first = capsys.readouterr().out
        mlp.set_num_threads(max(2, before))
        second = run_demo(seed=3)
        out_second = capsys.readouterr().out
    finally:
        mlp.set_num_threads(before)
    assert _without_timings(out_first) == _without_timings(out_second)
    for flow in ("breast_cancer", "digits"):
        assert first[flow]["accuracy"] == second[flow]["accuracy"]
        assert np.array_equal(first[flow]["confusion_matrix"], second[flow]["confusion_matrix"])
    assert "seed 3" in out_first


def test_demo_results_are_consistent():
    result = run_demo(verbose=False)
    cancer, digits = result["breast_cancer"], result["digits"]
    matrix = cancer["confusion_matrix"]
    assert matrix.shape == (2, 2) and matrix.sum() == 114        # 20 % of 569, rounded up
    assert cancer["accuracy"] == pytest.approx(np.trace(matrix) / matrix.sum())
    assert digits["confusion_matrix"].shape == (10, 10)
    assert digits["accuracy"] == pytest.approx(np.trace(digits["confusion_matrix"]) / 360)
    assert digits["report"]["accuracy"] == pytest.approx(digits["accuracy"])
    assert 1 <= cancer["epochs"] <= 200 and 1 <= digits["epochs"] <= 200


def test_demo_epochs_caps_training_and_backend_is_honoured(capsys):
    result = run_demo(backend="reference", epochs=2, seed=0)
    out = capsys.readouterr().out
    assert "backend 'reference'" in out
    assert result["breast_cancer"]["epochs"] == 2 and result["digits"]["epochs"] == 2
    assert "reached the 2-epoch limit" in out


def test_demo_command_options():
    run = run_cli("demo", "--epochs", "3", "--seed", "5", "--backend", "reference")
    assert run.returncode == 0, run.stderr
    assert "backend 'reference', seed 5" in run.stdout
    assert "reached the 3-epoch limit" in run.stdout


@pytest.mark.parametrize("args, fragment", [
    (["demo", "--epochs", "0"], "--epochs: must be at least 1, got 0"),
    (["demo", "--seed", "-1"], "--seed: must be at least 0, got -1"),
    (["demo", "--backend", "tpu"], "invalid choice: 'tpu'"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
])
def test_bad_arguments_are_one_line_with_status_2(args, fragment):
    assert_one_line_error(run_cli(*args), fragment, status=2)


def test_format_confusion_matrix_aligns_columns():
    text = format_confusion_matrix(np.array([[71, 1], [0, 42]]), ["benign", "malignant"],
                                   indent="")
    lines = text.splitlines()
    assert lines[0].split() == ["benign", "malignant"]
    assert lines[1].split() == ["benign", "71", "1"]
    assert lines[2].split() == ["malignant", "0", "42"]
    assert len({len(line) for line in lines}) == 1


# ====================================================================================== info
def test_info_command_shows_openmp_and_blas():
    run = run_cli("info")
    assert run.returncode == 0, run.stderr
    assert f"mlp {mlp.__version__}" in run.stdout
    assert "OpenMP:" in run.stdout and "BLAS:" in run.stdout


def test_config_dict_describes_the_build():
    config = mlp._config.config()
    assert config["openmp"] == mlp.kernels._kernels.openmp_enabled()
    assert config["threads"] == mlp.get_num_threads()
    assert config["blas"], "threadpoolctl found no BLAS"


# ========================================================================= train / predict
@pytest.fixture(scope="module")
def cancer_csv(tmp_path_factory):
    """Breast cancer with text labels M / B and about 2 % of the cells missing."""
    data = load_breast_cancer()
    X = data.data.copy()
    rng = np.random.default_rng(0)
    X[rng.random(X.shape) < 0.02] = np.nan
    header = [name.replace(" ", "_") for name in data.feature_names] + ["diagnosis"]
    rows = [["" if np.isnan(v) else repr(float(v)) for v in x] + [["M", "B"][t]]
            for x, t in zip(X, data.target)]
    return write_csv(tmp_path_factory.mktemp("cancer") / "cancer.csv", header, rows)


@pytest.fixture(scope="module")
def trained_cancer(cancer_csv):
    model = cancer_csv.parent / "cancer.mlp"
    run = run_cli("train", cancer_csv, "--target", "diagnosis", "--output", model,
                  "--epochs", "60", "--quiet")
    assert run.returncode == 0, run.stderr
    return model, run


def test_train_binary_with_text_labels_and_missing_values(trained_cancer):
    model, run = trained_cancer
    out = run.stdout
    assert run.stderr == ""
    assert "task: binary, 2 classes (auto: 2 distinct values: 'B', 'M'" in out
    assert "positive class 'M'" in out
    assert re.search(r"split: 455 train / 114 validation rows \(stratified, seed 0\)", out)
    assert re.search(r"preprocessing: \d+ missing values in 30 columns filled with the "
                     r"training medians", out)
    assert "Dense(64, relu) -> Dropout(0.1) -> Dense(32, relu)" in out
    validation = re.search(r"validation: accuracy (\d\.\d+)", out)
    assert validation and float(validation.group(1)) >= 0.9
    assert model.exists() and cli.preprocessing_path(model).endswith(".mlp.json")
    prep = json.loads(open(cli.preprocessing_path(model)).read())
    assert prep["task"] == "binary" and prep["classes"] == ["B", "M"]
    assert prep["target"] == "diagnosis" and len(prep["features"]) == 30
    assert len(prep["imputer"]["statistics"]) == len(prep["scaler"]["mean"]) == 30
    assert mlp.load_model(str(model)).input_dim == 30


def test_predict_binary_writes_labels_and_probabilities(trained_cancer, cancer_csv, tmp_path):
    model, _ = trained_cancer
    output = tmp_path / "predictions.csv"
    run = run_cli("predict", model, cancer_csv, "--output", output)
    assert run.returncode == 0, run.stderr
    assert f"wrote 569 predictions to {output}" in run.stdout
    accuracy = re.search(r"on the 569 rows with a 'diagnosis' label: accuracy (\d\.\d+)",
                         run.stdout)
    assert accuracy and float(accuracy.group(1)) >= 0.95
    header, rows = read_csv_text(output.read_text())
    assert header == ["prediction", "probability_B", "probability_M"]
    assert len(rows) == 569 and {row[0] for row in rows} <= {"B", "M"}
    probabilities = np.array([[float(v) for v in row[1:]] for row in rows])
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=2e-6)
    labels = np.array(["B", "M"])[(probabilities[:, 1] > 0.5).astype(int)]
    assert [row[0] for row in rows] == labels.tolist()


def test_predict_finds_columns_by_name_and_imputes_missing_values(trained_cancer, cancer_csv,
                                                                  tmp_path):
    model, _ = trained_cancer
    first = run_cli("predict", model, cancer_csv)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("prediction,probability_B,probability_M\n")
    assert "accuracy" in first.stderr            # the report goes to stderr with CSV on stdout
    # the same data with the columns reversed, the target dropped and an extra column
    header, rows = read_csv_text(cancer_csv.read_text())
    order = list(reversed(range(len(header) - 1)))
    shuffled = write_csv(tmp_path / "shuffled.csv", ["note"] + [header[i] for i in order],
                         [["x"] + [row[i] for i in order] for row in rows]
                         + [["all missing"] + [""] * len(order)])
    second = run_cli("predict", model, shuffled)
    assert second.returncode == 0, second.stderr
    assert second.stderr == ""                    # no target column: nothing to report
    lines = second.stdout.splitlines()
    assert lines[:-1] == first.stdout.splitlines()
    assert lines[-1].split(",")[0] in ("B", "M")  # a row of only missing values still predicts


def test_train_multiclass_with_text_labels(tmp_path):
    digits = load_digits()
    names = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    keep = np.arange(0, len(digits.target), 2)    # 899 rows keep the test quick
    data = write_csv(tmp_path / "digits.csv", digits.feature_names + ["digit"],
                     [[int(v) for v in digits.data[i]] + [names[digits.target[i]]]
                      for i in keep])
    model = tmp_path / "digits.mlp"
    run = run_cli("train", data, "--target", "digit", "--hidden", "64", "--epochs", "100",
                  "-o", model, "--seed", "1")
    assert run.returncode == 0, run.stderr
    assert "task: multiclass, 10 classes (auto: 10 text labels" in run.stdout
    assert "Dense(64, relu) -> Dropout(0.1) -> Dense(10, softmax)" in run.stdout
    assert re.search(r"  epoch +1  loss", run.stdout)      # progress lines
    validation = re.search(r"validation: accuracy (\d\.\d+)  macro F1 (\d\.\d+)", run.stdout)
    assert validation and float(validation.group(1)) >= 0.9

    predicted = run_cli("predict", model, data)
    assert predicted.returncode == 0, predicted.stderr
    header, rows = read_csv_text(predicted.stdout)
    assert header == ["prediction"] + [f"probability_{name}" for name in sorted(names)]
    assert {row[0] for row in rows} <= set(names)
    truth = [names[digits.target[i]] for i in keep]
    assert np.mean([row[0] == t for row, t in zip(rows, truth)]) >= 0.95


def test_train_regression_and_predict_values(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 3))
    y = 50 + 10 * X[:, 0] - 5 * X[:, 1] + 3 * np.sin(2 * X[:, 2]) + rng.normal(0, 0.1, 400)
    data = write_csv(tmp_path / "houses.csv", ["rooms", "age", "noise", "price"],
                     [[repr(float(v)) for v in x] + [repr(float(t))] for x, t in zip(X, y)])
    model = tmp_path / "houses.mlp"
    run = run_cli("train", data, "--target", "price", "-o", model, "-q")
    assert run.returncode == 0, run.stderr
    assert "task: regression (auto: 400 distinct numeric values" in run.stdout
    assert "Dense(1, linear)" in run.stdout and "Dropout" not in run.stdout
    r2 = re.search(r"validation: MSE \S+  RMSE \S+  MAE \S+  R2 (\d\.\d+)", run.stdout)
    assert r2 and float(r2.group(1)) >= 0.95
    output = tmp_path / "predictions.csv"
    predicted = run_cli("predict", model, data, "-o", output)
    assert predicted.returncode == 0, predicted.stderr
    assert re.search(r"on the 400 rows with a numeric 'price': MSE \S+  RMSE \S+  MAE \S+  "
                     r"R2 0\.9", predicted.stdout)
    header, rows = read_csv_text(output.read_text())
    assert header == ["prediction"]
    values = np.array([float(row[0]) for row in rows])
    assert np.sqrt(np.mean((values - y) ** 2)) < 2.0      # in the units of the target


def test_train_without_validation_and_numeric_class_labels(tmp_path):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(90, 2))
    y = np.digitize(X[:, 0], [-0.5, 0.5])       # classes 0, 1, 2
    data = write_csv(tmp_path / "three.csv", ["x0", "x1", "label"],
                     [[f"{a:.5f}", f"{b:.5f}", f"{c}.0"] for (a, b), c in zip(X, y)])
    run = run_cli("train", data, "--target", "label", "--validation-split", "0",
                  "--epochs", "150", "--hidden", "16", "-o", tmp_path / "m.mlp", "-q",
                  "--learning-rate", "0.01")
    assert run.returncode == 0, run.stderr
    assert "task: multiclass, 3 classes (auto: 3 distinct integer values: '0', '1', '2'" \
        in run.stdout
    assert "split: all 90 rows train, no validation" in run.stdout
    assert "finished after 150 epochs" in run.stdout
    predicted = run_cli("predict", tmp_path / "m.mlp", data)
    assert predicted.returncode == 0, predicted.stderr
    header, rows = read_csv_text(predicted.stdout)
    assert header == ["prediction", "probability_0", "probability_1", "probability_2"]
    accuracy = re.search(r"accuracy (\d\.\d+)", predicted.stderr)
    assert accuracy and float(accuracy.group(1)) >= 0.9   # "1.0" in the CSV matches "1"


def test_train_is_deterministic_with_a_seed(cancer_csv, tmp_path):
    outputs = []
    for name in ("a", "b"):
        run = run_cli("train", cancer_csv, "--target", "diagnosis", "--epochs", "5",
                      "--seed", "7", "-o", tmp_path / f"{name}.mlp")
        assert run.returncode == 0, run.stderr
        outputs.append(run.stdout.replace(f"{name}.mlp", "X.mlp"))
    assert outputs[0] == outputs[1]
    assert (tmp_path / "a.mlp").read_bytes() == (tmp_path / "b.mlp").read_bytes()


@pytest.mark.parametrize("cells, n, task, expected", [
    (["0", "1"], 20, "auto", "binary"),
    (["yes", "no"], 20, "auto", "binary"),
    (["2.5", "7.25"], 20, "auto", "binary"),
    (["a", "b", "c"], 21, "auto", "multiclass"),
    (["0", "1", "2", "3"], 40, "auto", "multiclass"),
    (["0", "1", "2", "3"], 12, "auto", "regression"),     # fewer than 5 rows per class
    ([str(k) for k in range(25)], 500, "auto", "regression"),
    (["0.5", "1.5", "2.5"], 30, "auto", "regression"),
    (["0", "1", "2"], 30, "regression", "regression"),
    (["0", "1"], 30, "multiclass", "multiclass"),
])
def test_task_detection(cells, n, task, expected):
    column = [cells[i % len(cells)] for i in range(n)]
    table = tables.Table("t.csv", ["y"], [[c] for c in column], list(range(2, n + 2)))
    target = cli.read_target(table, "y", task)
    assert target.task == expected
    if expected != "regression":
        assert target.classes[target.codes[0]] == cli._normalise_label(column[0])


# ============================================================================== bad input
BAD_TRAIN_CSVS = [
    # (file content, extra arguments, fragments of the error line)
    ("", [], ["the file is empty"]),
    ("\n  \n\n", [], ["the file is empty"]),
    ("a,b,y\n", [], ["no data rows after the header"]),
    ("a,b,y\n1,2,0\n3,4\n5,6,1\n", [], ["line 3 has 2 fields, expected 3"]),
    ("a,b,y\n1,2,0\n3,4,1,9\n", [], ["line 3 has 4 fields, expected 3"]),
    ("a,colour,y\n1,red,0\n2,blue,1\n", [], ["feature column 'colour' is not numeric",
                                             "line 2", "'red'"]),
    ("a,b,label\n1,2,0\n2,3,1\n", [], ["no target column 'y'", "'a', 'b', 'label'"]),
    ("a,a,y\n1,2,0\n2,3,1\n", [], ["'a' appears twice in the header"]),
    ("a,,y\n1,2,0\n2,3,1\n", [], ["column 2 of the header has no name"]),
    ("a,b,y\n1,2,0\n3,\"4,1\n", [], ["malformed CSV"]),
    ("a,b,y\n1,2,\n2,3,1\n", [], ["target column 'y' has no value on line 2"]),
    ("a,b,y\n1,2,5\n2,3,5\n", [], ["target column 'y' has a single value"]),
    ("a,b,y\n1,inf,0\n2,3,1\n", [], ["feature column 'b' has an infinite value on line 2"]),
    ("a,b,y\n1,,0\n2,NA,1\n", [], ["feature column 'b' has no values"]),
    ("y\n0\n1\n", [], ["no feature columns besides the target 'y'"]),
    ("a,y\n1,0\n2,1\n3,2\n", ["--task", "binary"], ["--task binary needs exactly 2 distinct",
                                                    "it has 3"]),
    ("a,y\n1,cat\n2,dog\n", ["--task", "regression"], ["--task regression needs a numeric "
                                                        "target", "'cat' on line 2"]),
]


@pytest.mark.parametrize("content, extra, fragments", BAD_TRAIN_CSVS)
def test_train_bad_csv_is_one_error_line(tmp_path, content, extra, fragments):
    data = tmp_path / "bad.csv"
    data.write_text(content)
    run = run_cli("train", data, "--target", "y", "-o", tmp_path / "m.mlp", *extra)
    line = assert_one_line_error(run, "mlp train: error:", str(data), *fragments)
    assert run.stdout == "", line
    assert not (tmp_path / "m.mlp").exists()


def test_train_missing_file_directory_and_binary_file(tmp_path):
    missing = tmp_path / "nope.csv"
    assert_one_line_error(run_cli("train", missing, "--target", "y"), f"{missing}: no such file")
    assert_one_line_error(run_cli("train", tmp_path, "--target", "y"), "is a directory")
    binary = tmp_path / "data.csv"
    binary.write_bytes(b"\xff\xfe\x00\x81\x90binary")
    assert_one_line_error(run_cli("train", binary, "--target", "y"), "not UTF-8 text")


def test_train_unwritable_output_is_one_error_line(tmp_path):
    data = write_csv(tmp_path / "ok.csv", ["a", "y"], [[i, i % 2] for i in range(20)])
    output = tmp_path / "no" / "such" / "folder" / "m.mlp"
    run = run_cli("train", data, "--target", "y", "--epochs", "2", "-o", output)
    assert_one_line_error(run, "cannot write the model")


@pytest.mark.parametrize("args, fragment", [
    (["--hidden", "64,x"], "argument --hidden: expected layer sizes separated by commas"),
    (["--hidden", "0"], "layer sizes must be at least 1"),
    (["--validation-split", "1.5"], "--validation-split: expected a number in [0, 1)"),
    (["--epochs", "many"], "--epochs: expected a whole number"),
    (["--task", "ranking"], "invalid choice: 'ranking'"),
    (["--learning-rate", "-1"], "--learning-rate: expected a positive number"),
])
def test_train_bad_arguments_are_one_line_with_status_2(tmp_path, args, fragment):
    assert_one_line_error(run_cli("train", "data.csv", "--target", "y", *args, cwd=tmp_path),
                          fragment, status=2)


def test_train_requires_a_target():
    assert_one_line_error(run_cli("train", "data.csv"), "--target", status=2)


def test_predict_errors_are_one_line(trained_cancer, cancer_csv, tmp_path):
    model, _ = trained_cancer
    missing = tmp_path / "nope.mlp"
    assert_one_line_error(run_cli("predict", missing, cancer_csv), f"{missing}: no such file")
    # a model file without its preprocessing file
    lonely = tmp_path / "lonely.mlp"
    lonely.write_bytes(model.read_bytes())
    assert_one_line_error(run_cli("predict", lonely, cancer_csv),
                          "lonely.mlp.json: no such file", "mlp train")
    # a corrupt model file with a good preprocessing file
    corrupt = tmp_path / "corrupt.mlp"
    corrupt.write_bytes(b"not a model")
    (tmp_path / "corrupt.mlp.json").write_text(open(cli.preprocessing_path(model)).read())
    assert_one_line_error(run_cli("predict", corrupt, cancer_csv), "corrupt.mlp")
    # a broken preprocessing file
    broken = tmp_path / "broken.mlp"
    broken.write_bytes(model.read_bytes())
    (tmp_path / "broken.mlp.json").write_text('{"format": "something else"}')
    assert_one_line_error(run_cli("predict", broken, cancer_csv),
                          "not a preprocessing file written by 'mlp train'")
    # CSVs that do not fit the model
    other = write_csv(tmp_path / "other.csv", ["a", "b"], [[1, 2]])
    assert_one_line_error(run_cli("predict", model, other),
                          "no feature column 'mean_radius'")
    header, rows = read_csv_text(cancer_csv.read_text())
    rows[3][0] = "large"
    text_feature = write_csv(tmp_path / "text.csv", header, rows)
    assert_one_line_error(run_cli("predict", model, text_feature),
                          "feature column 'mean_radius' is not numeric", "line 5", "'large'")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert_one_line_error(run_cli("predict", model, empty), "the file is empty")
