"""Plots: what lands on the Axes (titles, curves, cell texts) and the message without matplotlib."""
from __future__ import annotations

import sys

import numpy as np
import pytest

import mlp
from mlp import plotting
from mlp.metrics import confusion_matrix

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
plt = pytest.importorskip("matplotlib.pyplot")                  # after choosing the backend

HISTORY = {
    "loss": [0.9, 0.6, 0.5, 0.45],
    "accuracy": [0.5, 0.7, 0.8, 0.85],
    "f1": [0.4, 0.6, 0.7, 0.8],
    "val_loss": [1.0, 0.7, 0.6, 0.62],
    "val_accuracy": [0.45, 0.65, 0.75, 0.74],
}


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def lines_by_label(ax):
    return {line.get_label(): line for line in ax.get_lines()}


# ------------------------------------------------------------------- plot_history
def test_plot_history_one_subplot_per_quantity():
    axes = plotting.plot_history(HISTORY)
    assert [ax.get_title() for ax in axes] == ["loss", "accuracy", "f1"]
    assert [len(ax.get_lines()) for ax in axes] == [2, 2, 1]     # no val_f1 recorded
    assert len(axes[0].figure.axes) == 3
    loss = lines_by_label(axes[0])
    np.testing.assert_array_equal(loss["train"].get_xdata(), [1, 2, 3, 4])
    np.testing.assert_array_equal(loss["train"].get_ydata(), HISTORY["loss"])
    np.testing.assert_array_equal(loss["validation"].get_ydata(), HISTORY["val_loss"])
    assert axes[1].get_xlabel() == "epoch" and axes[1].get_ylabel() == "accuracy"
    assert [t.get_text() for t in axes[1].get_legend().get_texts()] == ["train", "validation"]


def test_plot_history_selects_metrics_and_lays_out_rows():
    axes = plotting.plot_history(HISTORY, metrics="accuracy")
    assert [ax.get_title() for ax in axes] == ["accuracy"]
    many = {f"m{i}": [float(i), float(i) + 1] for i in range(5)}
    axes = plotting.plot_history(many)
    assert len(axes) == 5 and len(axes[0].figure.axes) == 5     # 2 rows of 3, one removed
    with pytest.raises(ValueError, match=r"metrics: 'auc' is not in the history; recorded are "
                                         r"\['loss', 'accuracy', 'f1'\]"):
        plotting.plot_history(HISTORY, metrics=["loss", "auc"])
    with pytest.raises(ValueError, match="history: nothing was recorded"):
        plotting.plot_history({})
    with pytest.raises(TypeError, match="history: expected a History or its .history dict"):
        plotting.plot_history([0.5, 0.4])


def test_plot_history_on_given_axes():
    _, pair = plt.subplots(1, 2)
    axes = plotting.plot_history(HISTORY, metrics=["loss", "accuracy"], ax=pair)
    assert axes == list(pair) and axes[1].get_title() == "accuracy"
    with pytest.raises(ValueError, match=r"ax: expected 3 Axes, one per quantity"):
        plotting.plot_history(HISTORY, ax=pair)
    _, single = plt.subplots()
    axes = plotting.plot_history(HISTORY, metrics=["loss", "accuracy"], ax=single)
    assert axes == [single] and single.get_title() == "training history"
    assert sorted(lines_by_label(single)) == ["accuracy", "loss", "val_accuracy", "val_loss"]


def test_plot_history_of_a_fitted_model():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 2))
    y = (x[:, 0] > 0).astype(float)
    model = mlp.Sequential([mlp.Dense(1, activation="sigmoid", input_dim=2)], seed=0)
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=3, verbose=0, validation_split=0.25)
    axes = plotting.plot_history(history)
    assert [ax.get_title() for ax in axes] == ["loss", "accuracy"]
    np.testing.assert_allclose(lines_by_label(axes[0])["validation"].get_ydata(),
                               history.history["val_loss"])
    history.epoch = [5, 6, 7]                                    # resumed at initial_epoch=5
    axes = plotting.plot_history(history, metrics="loss")
    np.testing.assert_array_equal(axes[0].get_lines()[0].get_xdata(), [6, 7, 8])


# ----------------------------------------------------------- plot_confusion_matrix
def cell_texts(ax):
    return [t.get_text() for t in ax.texts]


def test_plot_confusion_matrix_annotates_counts():
    truth = np.array([0, 1, 2, 2, 1, 0, 2])
    proba = np.eye(3)[[0, 2, 2, 1, 1, 0, 2]] * 0.8 + 0.2 / 3
    ax = plotting.plot_confusion_matrix(truth, proba, target_names=["cat", "dog", "emu"])
    expected = confusion_matrix(truth, proba)
    np.testing.assert_array_equal(ax.images[0].get_array(), expected)
    assert cell_texts(ax) == [str(v) for v in expected.ravel()]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["cat", "dog", "emu"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["cat", "dog", "emu"]
    assert ax.get_xlabel() == "predicted label" and ax.get_ylabel() == "true label"
    assert ax.get_title() == "confusion matrix"
    assert ax.images[0].get_cmap().name == "Blues"
    # the largest count is written in white, the zeros in black
    colors = {t.get_text(): t.get_color() for t in ax.texts}
    assert colors["2"] == "white" and colors["0"] == "black"


def test_plot_confusion_matrix_normalized_labels_weights_and_own_axes():
    truth = [0, 1, 1, 1]
    predicted = [0, 1, 0, 1]
    _, own = plt.subplots()
    ax = plotting.plot_confusion_matrix(truth, predicted, normalize="true", ax=own,
                                        cmap="viridis")
    assert ax is own and ax.get_title() == "confusion matrix (normalized: true)"
    assert cell_texts(ax) == ["1.00", "0.00", "0.33", "0.67"]
    assert ax.images[0].get_cmap().name == "viridis"
    ax = plotting.plot_confusion_matrix(truth, predicted, labels=[1, 0, 2],
                                        sample_weight=[1, 0.5, 2, 1])
    assert cell_texts(ax) == ["1.5", "2", "0", "0", "1", "0", "0", "0", "0"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "0", "2"]
    with pytest.raises(ValueError, match=r"target_names: expected 2 names, one per class "
                                         r"\[0, 1\], got 3"):
        plotting.plot_confusion_matrix(truth, predicted, target_names=["a", "b", "c"])


# ------------------------------------------------------------ matplotlib missing
def test_a_clear_message_without_matplotlib(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r"^matplotlib is required for plotting: pip install "
                                          r"matplotlib$"):
        plotting.plot_history(HISTORY)
    with pytest.raises(ImportError, match="matplotlib is required for plotting"):
        plotting.plot_confusion_matrix([0, 1], [0, 1])


def test_importing_mlp_plotting_does_not_import_matplotlib():
    import subprocess

    code = ("import sys; sys.modules['matplotlib'] = None; import mlp, mlp.plotting, "
            "mlp.metrics; print('ok')")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=False)
    assert result.stdout.strip() == "ok", result.stderr
