"""Every script in ``examples/`` runs to the end and prints its key results.

Each example runs in a subprocess with ``MLP_EXAMPLE_QUICK=1``, which the examples honour by
training for a few epochs only; the two classification flows also run in full, where their
test accuracy must reach 0.95.
"""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import mlp

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

# what each example must print (regular expressions, searched in its standard output)
KEY_LINES = {
    "binary_classification.py": [
        r"train 364, validation 91, test 114 samples",
        r"test accuracy: \d\.\d{4}",
        r"test precision: \d\.\d{4}  recall: \d\.\d{4}  F1: \d\.\d{4}",
        r"confusion matrix",
        r"malignant",
        r"saved and reloaded: identical predictions True",
    ],
    "multiclass_classification.py": [
        r"train 1149, validation 288, test 360 images",
        r"test accuracy: \d\.\d{4}",
        r"confusion matrix",
        r"macro avg",
        r"image \d+: true \d, predicted \d",
    ],
    "regression.py": [
        r"linear model: test MSE \d+\.\d{4}  MAE \d+\.\d{4}  R2 -?\d+\.\d{4}",
        r"MLP 5-64-64-1: test MSE \d+\.\d{4}  MAE \d+\.\d{4}  R2 -?\d+\.\d{4}",
    ],
    "cross_validation.py": [
        r"Fold 5/5",
        r"accuracy per fold:( \d\.\d{3}){5}",
        r"cross-validated accuracy: \d\.\d{4} \+/- \d\.\d{4} over 5 folds",
    ],
    "hyperparameter_search.py": [
        r"hidden \(64, 32\) +learning rate 0\.001 +validation accuracy \d\.\d{4}",
        r"best: hidden \(.*\), learning rate \S+ \(validation accuracy \d\.\d{4}\)",
        r"test accuracy of the best model: \d\.\d{4}",
    ],
    "distributed_training.py": [
        r"1 rank\(s\), \d+ thread\(s\) each; global batch 32 images",
        r"test accuracy: \d\.\d{4}",
        r"saved by rank 0: True",
    ],
    "perceptron_xor.py": [r"XOR is not linearly separable", r"MLP 2-4-1 on XOR"],
    "normalization_layers.py": [
        r"train 1149, validation 288, test 360 images",
        r"BatchNormalization: test accuracy: \d\.\d{4}",
        r"LayerNormalization: test accuracy: \d\.\d{4}",
        r"Non-trainable params: 128",
        r"first layer's moving mean of pixel 36: ",
        r"saved and reloaded: identical predictions True",
    ],
    "sklearn_grid_search.py": [
        r"cross_val_score: accuracy \d\.\d{4} \+/- \d\.\d{4} over 5 folds",
        r"alpha=0\.01, dropout=0\.2, hidden_layer_sizes=\(128,\) +accuracy \d\.\d{4}",
        r"best: alpha=.* \(cross-validated accuracy \d\.\d{4}\)",
        r"test accuracy of the best pipeline: \d\.\d{4}",
    ],
}


def run_example(name, quick=True):
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.abspath(mlp.__file__)))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    env.pop("MLP_EXAMPLE_QUICK", None)
    if quick:
        env["MLP_EXAMPLE_QUICK"] = "1"
    return subprocess.run([sys.executable, str(EXAMPLES / name)], capture_output=True,
                          text=True, timeout=300, env=env, cwd=EXAMPLES.parent)


def test_every_example_has_key_lines():
    scripts = sorted(path.name for path in EXAMPLES.glob("*.py"))
    assert scripts == sorted(KEY_LINES), "add the new example's key lines to KEY_LINES"


@pytest.mark.parametrize("name", sorted(KEY_LINES))
def test_example_runs(name):
    if name.startswith("sklearn_"):
        pytest.importorskip("sklearn")
    run = run_example(name)
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr
    for pattern in KEY_LINES[name]:
        assert re.search(pattern, run.stdout), (pattern, run.stdout)


@pytest.mark.parametrize("name", ["binary_classification.py", "multiclass_classification.py"])
def test_classification_examples_reach_the_target_accuracy(name):
    run = run_example(name, quick=False)
    assert run.returncode == 0, run.stderr
    accuracy = float(re.search(r"test accuracy: (\d\.\d+)", run.stdout).group(1))
    assert accuracy >= 0.95


def test_normalization_example_reaches_the_target_accuracy():
    """Both normalization flows train the digits to >= 0.95 test accuracy (issue 12)."""
    run = run_example("normalization_layers.py", quick=False)
    assert run.returncode == 0, run.stderr
    accuracies = re.findall(r"Normalization: test accuracy: (\d\.\d+)", run.stdout)
    assert len(accuracies) == 2 and min(map(float, accuracies)) >= 0.95, run.stdout


def test_the_grid_search_example_reaches_the_target_accuracy():
    pytest.importorskip("sklearn")
    run = run_example("sklearn_grid_search.py", quick=False)
    assert run.returncode == 0, run.stderr
    accuracy = float(re.search(r"test accuracy of the best pipeline: (\d\.\d+)",
                               run.stdout).group(1))
    assert accuracy >= 0.95


def test_regression_example_beats_the_linear_model():
    run = run_example("regression.py", quick=False)
    assert run.returncode == 0, run.stderr
    r2 = dict(re.findall(r"^(.*): test MSE .* R2 (-?\d+\.\d+)", run.stdout, re.MULTILINE))
    assert float(r2["MLP 5-64-64-1"]) > 0.95 > float(r2["linear model"])


def test_readme_tour_runs(tmp_path, monkeypatch, capsys):
    """The Python blocks of the README's tour run in order, as a reader would paste them."""
    readme = (EXAMPLES.parent / "README.md").read_text(encoding="utf-8")
    tour = readme.split("## A tour", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", tour, re.DOTALL)
    assert len(blocks) >= 2
    monkeypatch.chdir(tmp_path)                  # the tour saves model.mlp
    namespace = {"__name__": "__readme__"}
    for block in blocks:
        exec(compile(block, "README.md", "exec"), namespace)
    assert (tmp_path / "model.mlp").exists()
    assert namespace["model"].predict(namespace["X_test"]).shape == (360, 10)
    out = capsys.readouterr().out
    assert "macro avg" in out


def test_readme_sklearn_section_runs(capsys):
    """The README's scikit-learn block runs and scores as it says."""
    pytest.importorskip("sklearn")
    readme = (EXAMPLES.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("## scikit-learn", 1)[1].split("\n## ", 1)[0]
    (block,) = re.findall(r"```python\n(.*?)```", section, re.DOTALL)
    namespace = {"__name__": "__readme__"}
    exec(compile(block, "README.md", "exec"), namespace)
    first = capsys.readouterr().out.splitlines()[0]
    assert float(first) > 0.9
    assert namespace["search"].best_score_ > 0.9

