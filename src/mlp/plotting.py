"""Plots of training curves and confusion matrices (needs matplotlib, imported on first use).

Examples
--------
>>> from mlp.plotting import plot_confusion_matrix, plot_history
>>> history = {"loss": [0.7, 0.5, 0.4], "val_loss": [0.72, 0.6, 0.55],
...            "accuracy": [0.6, 0.75, 0.8], "val_accuracy": [0.55, 0.7, 0.72]}
>>> axes = plot_history(history)                                  # doctest: +SKIP
>>> ax = plot_confusion_matrix([0, 1, 1, 2], [0, 1, 2, 2],
...                            target_names=["a", "b", "c"])      # doctest: +SKIP
"""
from __future__ import annotations

import math
from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np

from .metrics.report import _confusion

MISSING_MATPLOTLIB = "matplotlib is required for plotting: pip install matplotlib"


def _pyplot():
    """``matplotlib.pyplot`` and ``MaxNLocator``, or an ImportError that says how to install
    matplotlib."""
    try:
        import matplotlib.pyplot as plt
        from matplotlib.ticker import MaxNLocator
    except ImportError as exc:
        raise ImportError(MISSING_MATPLOTLIB) from exc
    return plt, MaxNLocator


def _history_dict(history) -> Dict[str, List[float]]:
    records = getattr(history, "history", history)
    if not isinstance(records, dict):
        raise TypeError(f"history: expected a History or its .history dict, got "
                        f"{type(history).__name__}")
    if not records or not any(len(values) for values in records.values()):
        raise ValueError("history: nothing was recorded (train for at least one epoch)")
    return records


def _quantities(records: Dict[str, List[float]], metrics) -> List[str]:
    """Names to plot, without their ``val_`` prefix, in the order they were recorded."""
    recorded: List[str] = []
    for key in records:
        name = key.removeprefix("val_")
        if name not in recorded:
            recorded.append(name)
    if metrics is None:
        return recorded
    wanted = [metrics] if isinstance(metrics, str) else list(metrics)
    if not wanted:
        raise ValueError("metrics: expected at least one name, got none")
    for name in wanted:
        if name not in recorded:
            raise ValueError(f"metrics: {name!r} is not in the history; recorded are {recorded}")
    return wanted


def plot_history(history, metrics: Optional[Union[str, Sequence[str]]] = None, ax=None):
    """Training curves: each quantity per epoch, training against validation.

    Parameters
    ----------
    history : History or dict of str -> list of float
        What ``fit`` returns, or its ``.history`` dict (``{"loss": [...], "val_loss": [...],
        ...}``).
    metrics : str or sequence of str, optional
        The quantities to plot, without the ``val_`` prefix (e.g. ``["loss", "accuracy"]``).
        Defaults to the loss and every recorded metric.
    ax : matplotlib Axes or sequence of Axes, optional
        One Axes per quantity; a single Axes draws every curve on it. Defaults to a new figure
        with one subplot per quantity (three per row).

    Returns
    -------
    list of matplotlib.axes.Axes
        The Axes drawn on, one per quantity (just ``[ax]`` for a single Axes). Each holds the
        training curve (label ``"train"``) and, when recorded, the validation curve
        (``"validation"``), against epochs counted from 1; ``axes[0].figure`` is the figure.

    Raises
    ------
    ImportError
        When matplotlib is not installed.
    ValueError
        For an empty history, a name that was not recorded or a wrong number of Axes.

    Examples
    --------
    >>> history = model.fit(X, y, validation_split=0.2, epochs=20)     # doctest: +SKIP
    >>> axes = plot_history(history, metrics=["loss", "accuracy"])    # doctest: +SKIP
    """
    plt, MaxNLocator = _pyplot()
    records = _history_dict(history)
    names = _quantities(records, metrics)
    epochs = getattr(history, "epoch", None)
    created = ax is None
    if created:
        columns = min(len(names), 3)
        rows = math.ceil(len(names) / columns)
        figure, grid = plt.subplots(rows, columns, figsize=(5 * columns, 3.5 * rows),
                                    squeeze=False)
        axes = list(grid.ravel())
        for unused in axes[len(names):]:
            figure.delaxes(unused)
        axes = axes[:len(names)]
    elif isinstance(ax, (list, tuple, np.ndarray)):
        axes = list(np.ravel(np.asarray(ax, dtype=object)))
        if len(axes) != len(names):
            raise ValueError(f"ax: expected {len(names)} Axes, one per quantity {names}, got "
                             f"{len(axes)}")
    else:
        axes = [ax] * len(names)
    shared = len(set(map(id, axes))) == 1 and len(names) > 1
    for axis, name in zip(axes, names):
        for key, label, style in ((name, "train", "-"), (f"val_{name}", "validation", "--")):
            values = records.get(key)
            if not values:
                continue
            x = (np.asarray(epochs) + 1 if epochs is not None and len(epochs) == len(values)
                 else np.arange(1, len(values) + 1))
            axis.plot(x, values, style, marker="o", markersize=3,
                      label=key if shared else label)
        axis.set_xlabel("epoch")
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        if not shared:
            axis.set_title(name)
            axis.set_ylabel(name)
        axis.grid(True, alpha=0.3)
        axis.legend()
    if shared:
        axes[0].set_title("training history")
        return [axes[0]]
    if created:
        axes[0].figure.tight_layout()
    return axes


def plot_confusion_matrix(y_true, y_pred, labels=None, normalize: Optional[str] = None,
                          target_names: Optional[Sequence[str]] = None, ax=None,
                          cmap: Any = "Blues", *, sample_weight=None):
    """Draw the confusion matrix as a heat map with each cell's value written in it.

    Parameters
    ----------
    y_true, y_pred : array-like
        As :func:`mlp.metrics.confusion_matrix` takes them: labels, one-hot rows or
        probabilities.
    labels : array-like, optional
        Classes to show, in order. Defaults to the classes present (give ``range(classes)`` to
        show every class of the model).
    normalize : {"true", "pred", "all"}, optional
        As in :func:`mlp.metrics.confusion_matrix`; cells then show two decimals.
    target_names : sequence of str, optional
        Tick labels, one per class. Defaults to the labels.
    ax : matplotlib Axes, optional
        Defaults to a new figure.
    cmap : str or Colormap
        Defaults to ``"Blues"``.
    sample_weight : array-like of shape (n,), optional
        Defaults to equal weights.

    Returns
    -------
    matplotlib.axes.Axes
        Rows are true classes (y axis, "true label"), columns predicted ones (x axis,
        "predicted label").

    Raises
    ------
    ImportError
        When matplotlib is not installed.
    ValueError
        When ``target_names`` does not give one name per class.

    Examples
    --------
    >>> ax = plot_confusion_matrix(y_test, model.predict(X_test),
    ...                            target_names=[str(d) for d in range(10)])  # doctest: +SKIP
    """
    plt, _ = _pyplot()
    matrix, labels = _confusion(y_true, y_pred, labels, normalize, sample_weight)
    names = [str(label) for label in labels] if target_names is None else list(target_names)
    if len(names) != len(labels):
        raise ValueError(f"target_names: expected {len(labels)} names, one per class "
                         f"{labels.tolist()}, got {len(names)}")
    if ax is None:
        size = max(4.0, 0.6 * len(names) + 2)
        _, ax = plt.subplots(figsize=(size + 1, size))
    image = ax.imshow(matrix, interpolation="nearest", cmap=cmap)
    ax.figure.colorbar(image, ax=ax)
    if normalize is not None:
        text = "{:.2f}".format
    elif matrix.dtype.kind == "i":
        text = "{:d}".format
    else:
        text = "{:.4g}".format
    middle = (matrix.max() + matrix.min()) / 2
    for (row, column), value in np.ndenumerate(matrix):
        ax.text(column, row, text(value.item()), ha="center", va="center",
                color="white" if value > middle else "black")
    positions = np.arange(len(names))
    ax.set_xticks(positions)
    ax.set_xticklabels(names, rotation=45 if max(map(len, names)) > 3 else 0)
    ax.set_yticks(positions)
    ax.set_yticklabels(names)
    ax.set_xlabel("predicted label")
    ax.set_ylabel("true label")
    ax.set_title("confusion matrix" + ("" if normalize is None else f" (normalized: {normalize})"))
    return ax
