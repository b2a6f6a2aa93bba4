"""scikit-learn stays optional: mlp imports and trains without it, and ``mlp.sklearn`` says
how to install it."""
from __future__ import annotations

import subprocess
import sys
import textwrap


def run_without_sklearn(code: str) -> subprocess.CompletedProcess:
    blocked = "import sys\nsys.modules['sklearn'] = None  # import sklearn now fails\n"
    return subprocess.run([sys.executable, "-c", blocked + textwrap.dedent(code)],
                          capture_output=True, text=True, timeout=120)


def test_mlp_works_without_sklearn():
    run = run_without_sklearn("""
        import numpy as np, mlp
        X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
        print(mlp.Perceptron(seed=0).fit(X, [0, 0, 0, 1]).predict(X).tolist())
        print(mlp.metrics.f1_score([0, 1, 1], [0, 1, 0]))
        print("sklearn" in sys.modules and sys.modules["sklearn"] is not None)
    """)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["[0,", "0,", "0,", "1]", "0.6666666666666666", "False"]


def test_mlp_sklearn_names_the_missing_extra():
    run = run_without_sklearn("import mlp.sklearn")
    assert run.returncode != 0
    assert "mlp.sklearn needs scikit-learn" in run.stderr
    assert "pip install 'mlp-engine[sklearn]'" in run.stderr
    run = run_without_sklearn("import mlp; mlp.Perceptron().__sklearn_tags__()")
    assert "Perceptron.__sklearn_tags__ needs scikit-learn" in run.stderr
