"""Model selection with scikit-learn's tools over mlp's estimator.

``mlp.sklearn.MLPClassifier`` takes scikit-learn's ``MLPClassifier`` parameters, so
``Pipeline``, ``cross_val_score`` and ``GridSearchCV`` work as they do with scikit-learn's own
estimator -- with mlp's kernels underneath, and parameters scikit-learn's estimator lacks
(``dropout``) in the grid. The search runs on two joblib workers; each worker's mlp limits
itself to its share of the cores (joblib sets ``OMP_NUM_THREADS`` and threadpoolctl limits,
which mlp honours), and the scores are the same as with ``n_jobs=1``.

1. cross-validated accuracy of a scaled MLP on the digits (5 folds);
2. a grid search over width, L2 strength and dropout, scored by 3-fold cross-validation on the
   training split;
3. the best pipeline, refitted on the whole training split, scored once on the test split.

Needs scikit-learn (``pip install 'mlp-engine[sklearn]'``). Run with
``python examples/sklearn_grid_search.py`` (about half a minute).
Set ``MLP_EXAMPLE_QUICK=1`` to train for a few epochs only (used by the test suite).
"""
import os
import warnings

from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mlp.datasets import load_digits
from mlp.sklearn import MLPClassifier

QUICK = bool(os.environ.get("MLP_EXAMPLE_QUICK"))
MAX_ITER = 5 if QUICK else 200
SEED = 0
if QUICK:  # a few epochs do not converge, and say so; a full run does
    warnings.simplefilter("ignore", ConvergenceWarning)

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, stratify=y,
                                                    random_state=SEED)
pipeline = make_pipeline(StandardScaler(),
                         MLPClassifier(max_iter=MAX_ITER, random_state=SEED))

# --- 1. cross-validation --------------------------------------------------------------------
scores = cross_val_score(pipeline, X_train, y_train, cv=5, n_jobs=2)
print(f"cross_val_score: accuracy {scores.mean():.4f} +/- {scores.std():.4f} over "
      f"{len(scores)} folds")

# --- 2. grid search ---------------------------------------------------------------------------
grid = {
    "mlpclassifier__hidden_layer_sizes": [(64,), (128,)],
    "mlpclassifier__alpha": [1e-4, 1e-2],
    "mlpclassifier__dropout": [0.0, 0.2],
}
search = GridSearchCV(pipeline, grid, cv=3, n_jobs=2).fit(X_train, y_train)
results = search.cv_results_
for params, mean, std in zip(results["params"], results["mean_test_score"],
                             results["std_test_score"]):
    shown = ", ".join(f"{name.split('__')[1]}={value}" for name, value in params.items())
    print(f"{shown:<50} accuracy {mean:.4f} +/- {std:.4f}")
best = ", ".join(f"{name.split('__')[1]}={value}" for name, value in search.best_params_.items())
print(f"best: {best} (cross-validated accuracy {search.best_score_:.4f})")

# --- 3. the winner on the test split ----------------------------------------------------------
print(f"test accuracy of the best pipeline: {search.score(X_test, y_test):.4f}")
