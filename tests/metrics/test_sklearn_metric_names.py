"""mlp.metrics under scikit-learn's names and signatures give scikit-learn's results."""
from __future__ import annotations

import numpy as np
import pytest

from mlp import metrics

skm = pytest.importorskip("sklearn.metrics")

RNG = np.random.default_rng(0)
N = 300
LABELS = np.array(["ant", "bee", "cat"])
Y3, P3 = RNG.integers(0, 3, N), RNG.integers(0, 3, N)
Y2, P2 = RNG.integers(0, 2, N), RNG.integers(0, 2, N)
SCORES3 = RNG.dirichlet(np.ones(3), N)
SCORES2 = RNG.uniform(size=N)
WEIGHT = RNG.uniform(0.0, 2.0, N)
TARGETS = RNG.normal(size=(N, 2))

CASES = [
    ("accuracy_score", (LABELS[Y3], LABELS[P3]), {}),
    ("accuracy_score", (Y3, P3), {"normalize": False, "sample_weight": WEIGHT}),
    ("precision_score", (Y2, P2), {}),
    ("precision_score", (LABELS[Y2], LABELS[P2]), {"pos_label": "ant"}),
    ("recall_score", (Y2, P2), {"sample_weight": WEIGHT}),
    ("f1_score", (Y2, P2), {"pos_label": 0}),
    ("precision_score", (Y3, P3), {"average": "macro"}),
    ("recall_score", (LABELS[Y3], LABELS[P3]), {"average": "micro", "sample_weight": WEIGHT}),
    ("f1_score", (Y3, P3), {"average": "weighted"}),
    ("f1_score", (Y3, P3), {"average": None}),
    ("f1_score", (Y3, P3), {"average": "macro", "labels": [2, 0]}),
    ("roc_auc_score", (Y2, SCORES2), {"sample_weight": WEIGHT}),
    ("roc_auc_score", (Y3, SCORES3), {"multi_class": "ovr"}),
    ("roc_auc_score", (Y3, SCORES3), {"multi_class": "ovr", "average": "weighted"}),
    ("top_k_accuracy_score", (LABELS[Y3], SCORES3), {}),
    ("top_k_accuracy_score", (Y3, SCORES3), {"k": 1, "normalize": False}),
    ("top_k_accuracy_score", (np.where(Y3 == 2, 0, Y3), SCORES3), {"labels": [0, 1, 2]}),
    ("r2_score", (TARGETS, TARGETS[::-1] * 0.5), {"sample_weight": WEIGHT}),
    ("r2_score", (TARGETS, TARGETS[::-1] * 0.5), {"multioutput": "raw_values"}),
    ("mean_squared_error", (TARGETS, TARGETS * 0.9), {"sample_weight": WEIGHT}),
    ("mean_absolute_error", (TARGETS[:, 0], TARGETS[:, 1]), {}),
]


@pytest.mark.parametrize("name, arguments, options", CASES,
                         ids=[f"{case[0]}-{i}" for i, case in enumerate(CASES)])
def test_sklearns_name_gives_sklearns_result(name, arguments, options):
    ours = getattr(metrics, name)(*arguments, **options)
    theirs = getattr(skm, name)(*arguments, **options)
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)


def test_what_is_not_available_says_so():
    with pytest.raises(ValueError, match="max_fpr: only None is supported"):
        metrics.roc_auc_score(Y2, SCORES2, max_fpr=0.5)
    with pytest.raises(ValueError, match="multi_class: several score columns need"):
        metrics.roc_auc_score(Y3, SCORES3)
    with pytest.raises(ValueError, match="average: 'binary' needs two classes"):
        metrics.f1_score(Y3, P3)
    with pytest.raises(ValueError, match="pos_label: 'dog' is not a valid label"):
        metrics.precision_score(LABELS[Y2], LABELS[P2], pos_label="dog")
    with pytest.raises(ValueError, match="y_score: expected 3 columns"):
        metrics.top_k_accuracy_score(Y3, SCORES3[:, :2])


def test_the_names_serve_as_sklearn_scorers():
    scorer = skm.make_scorer(metrics.f1_score, average="macro")
    from sklearn.dummy import DummyClassifier

    model = DummyClassifier(strategy="stratified", random_state=0).fit(SCORES3, Y3)
    assert scorer(model, SCORES3, Y3) == pytest.approx(
        skm.f1_score(Y3, model.predict(SCORES3), average="macro"))
