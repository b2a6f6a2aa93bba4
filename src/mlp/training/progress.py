"""What ``fit`` prints: a live progress bar per epoch, or one line per epoch.

``verbose=0`` prints nothing (:class:`Progress`); ``verbose=2`` prints one line at the end of
each epoch (:class:`LineProgress`); ``verbose=1`` draws a live bar — steps done / total, ETA,
samples/s, the running loss and metrics — redrawn in place at most ~10 times a second:

- in a Jupyter notebook (an IPython kernel is running) through an IPython display handle
  (:class:`NotebookProgress`), or one line per epoch if ``IPython.display`` cannot be imported;
- in a terminal (standard output is a TTY) with carriage returns (:class:`TerminalProgress`);
- anywhere else (a file, a pipe, a CI log) as one line per epoch, like ``verbose=2``.

``fit`` drives a progress object with :meth:`Progress.begin_epoch`, :meth:`Progress.update`
(between parts of the epoch) and :meth:`Progress.end_epoch`; :attr:`Progress.live` tells it
whether updates are shown, and so whether it is worth running the epoch in parts.
IPython is never imported by this module unless a kernel is already running.

Examples
--------
>>> import io
>>> from mlp.training.progress import LineProgress
>>> out = io.StringIO()
>>> bar = LineProgress(out)
>>> bar.begin_epoch(0, 3, steps=4, samples=100)
>>> bar.end_epoch(4, 100, {"loss": 0.25}, train_seconds=0.5)
>>> out.getvalue().startswith("Epoch 1/3 - 4/4 steps - ")
True
"""
from __future__ import annotations

import shutil
import sys
import time
from typing import Any, Callable, Dict, Mapping, Optional, TextIO, Union

REFRESH_SECONDS = 0.1
"""Smallest interval between two redraws of a live bar (about 10 Hz)."""

BAR_WIDTH = 20
"""Characters between the brackets of the bar."""

Logs = Union[Mapping[str, float], Callable[[], Mapping[str, float]]]
"""Logs, or a function computing them (called only when the bar is redrawn)."""


# ------------------------------------------------------------------- formatting
def format_value(value: float) -> str:
    """A logged number: 4 decimals, or scientific notation when very small or large."""
    magnitude = abs(value)
    if magnitude != 0 and (magnitude < 1e-3 or magnitude >= 1e5):
        return f"{value:.4e}"
    return f"{value:.4f}"


def format_logs(logs: Mapping[str, float]) -> str:
    """``"loss: 0.1234 - accuracy: 0.9000"``."""
    return " - ".join(f"{key}: {format_value(value)}" for key, value in logs.items())


def format_seconds(seconds: float) -> str:
    """``"0.12s"``, ``"12.3s"``, ``"2m05s"``, ``"1h02m"``."""
    if seconds < 10:
        return f"{seconds:.2f}s"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def format_rate(samples: int, seconds: float) -> str:
    """``"8,123 samples/s"``, ``"45.6k samples/s"``, ``"1.23M samples/s"``."""
    if seconds <= 0:
        return "- samples/s"
    rate = samples / seconds
    if rate < 1e4:
        return f"{rate:,.0f} samples/s"
    if rate < 1e6:
        return f"{rate / 1e3:.1f}k samples/s"
    return f"{rate / 1e6:.2f}M samples/s"


def format_bar(done: int, total: int, width: int = BAR_WIDTH) -> str:
    """``"[=========>..........]"``."""
    filled = width if total <= 0 else min(width, (width * done) // total)
    if filled >= width:
        return "[" + "=" * width + "]"
    return "[" + "=" * filled + ">" + "." * (width - filled - 1) + "]"


def summary_line(what: str, samples: int, seconds: float,
                 logs: Optional[Mapping[str, float]] = None) -> str:
    """The line ``evaluate`` / ``predict`` print at ``verbose=1``."""
    line = (f"{what}: {samples:,} samples - {format_seconds(seconds)} - "
            f"{format_rate(samples, seconds)}")
    return line + (f" - {format_logs(logs)}" if logs else "")


# ---------------------------------------------------------------- environment
def in_notebook() -> bool:
    """Whether an IPython kernel (Jupyter, VS Code notebooks, Colab) runs this process.

    Looks only at modules already imported: never imports IPython.
    """
    if "ipykernel" not in sys.modules:
        return False
    ipython = sys.modules.get("IPython")
    get_ipython = getattr(ipython, "get_ipython", None)
    if get_ipython is None:
        return False
    try:
        shell = get_ipython()
    except Exception:        # a half-initialised IPython: treat as no notebook
        return False
    return shell is not None and getattr(shell, "kernel", None) is not None


def is_terminal(stream: Any) -> bool:
    """Whether ``stream`` is an interactive terminal (``False`` for closed or odd streams)."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def make_progress(verbose: int, stream: Optional[TextIO] = None) -> "Progress":
    """The progress display for ``fit(verbose=...)`` (see the module docstring).

    Parameters
    ----------
    verbose : {0, 1, 2}
    stream : text stream, optional
        Where terminal and line output goes. Defaults to ``sys.stdout`` at the time of the call.
    """
    stream = sys.stdout if stream is None else stream
    if verbose == 0:
        return Progress()
    if verbose == 1:
        if in_notebook():
            notebook = NotebookProgress.create()
            if notebook is not None:
                return notebook
        elif is_terminal(stream):
            return TerminalProgress(stream)
    return LineProgress(stream)


# ------------------------------------------------------------------- displays
class Progress:
    """The interface ``fit`` drives; this base shows nothing (``verbose=0``)."""

    live = False
    """Whether :meth:`update` shows anything (``fit`` then runs each epoch in parts)."""

    def __init__(self):
        self.epoch = 0
        self.epochs = 0
        self.steps = 0
        self.samples = 0
        self.started = 0.0

    def begin_epoch(self, epoch: int, epochs: int, steps: int, samples: int) -> None:
        """An epoch (0-based ``epoch`` of ``epochs``) of ``steps`` batches and ``samples`` rows."""
        self.epoch, self.epochs, self.steps, self.samples = epoch, epochs, steps, samples
        self.started = time.perf_counter()

    def update(self, steps_done: int, samples_done: int, logs: Logs) -> None:
        """Progress within the epoch; ``logs`` may be a function, called only to redraw."""

    def end_epoch(self, steps_done: int, samples_done: int, logs: Mapping[str, float],
                  train_seconds: float) -> None:
        """The epoch's final logs (validation included); ``train_seconds`` excludes validation."""

    def abort(self) -> None:
        """Training stopped inside the epoch (divergence, an exception): end the line cleanly."""

    # shared text of the live displays
    def _title(self) -> str:
        return f"Epoch {self.epoch + 1}/{self.epochs}"

    def _steps(self, done: int) -> str:
        return f"{done:>{len(str(self.steps))}}/{self.steps}"

    def _live_text(self, steps_done: int, samples_done: int, logs: Mapping[str, float]) -> str:
        # the most useful first: a narrow terminal cuts the end of the line
        elapsed = time.perf_counter() - self.started
        parts = [f"{self._title()} {format_bar(steps_done, self.steps)} {self._steps(steps_done)}"]
        if samples_done:
            remaining = elapsed / samples_done * max(self.samples - samples_done, 0)
            parts.append(f"ETA {format_seconds(remaining)}")
        if logs:
            parts.append(format_logs(logs))
        if samples_done:
            parts.append(format_rate(samples_done, elapsed))
        return " - ".join(parts)

    def _final_text(self, steps_done: int, samples_done: int, logs: Mapping[str, float],
                    train_seconds: float) -> str:
        elapsed = time.perf_counter() - self.started
        parts = [f"{self._title()} {format_bar(steps_done, self.steps)} {self._steps(steps_done)}",
                 format_seconds(elapsed), format_rate(samples_done, train_seconds)]
        if logs:
            parts.append(format_logs(logs))
        return " - ".join(parts)


class LineProgress(Progress):
    """One line per epoch, printed when it ends (``verbose=2``, or output not a terminal)."""

    def __init__(self, stream: Optional[TextIO] = None):
        super().__init__()
        self.stream = sys.stdout if stream is None else stream

    def end_epoch(self, steps_done, samples_done, logs, train_seconds):
        elapsed = time.perf_counter() - self.started
        parts = [self._title(), f"{steps_done}/{self.steps} steps", format_seconds(elapsed),
                 format_rate(samples_done, train_seconds)]
        if logs:
            parts.append(format_logs(logs))
        self.stream.write(" - ".join(parts) + "\n")
        self.stream.flush()


class _LiveProgress(Progress):
    """A bar redrawn in place, at most every :data:`REFRESH_SECONDS`."""

    live = True

    def __init__(self):
        super().__init__()
        self._last_draw = 0.0

    def begin_epoch(self, epoch, epochs, steps, samples):
        super().begin_epoch(epoch, epochs, steps, samples)
        self._show(self._live_text(0, 0, {}))
        self._last_draw = time.perf_counter()

    def update(self, steps_done, samples_done, logs):
        now = time.perf_counter()
        if now - self._last_draw < REFRESH_SECONDS:
            return
        values = logs() if callable(logs) else logs
        self._show(self._live_text(steps_done, samples_done, values))
        self._last_draw = time.perf_counter()

    def end_epoch(self, steps_done, samples_done, logs, train_seconds):
        self._finish(self._final_text(steps_done, samples_done, logs, train_seconds))

    def _show(self, text: str) -> None:
        raise NotImplementedError

    def _finish(self, text: str) -> None:
        raise NotImplementedError


class TerminalProgress(_LiveProgress):
    """A bar on one terminal line, redrawn with carriage returns."""

    def __init__(self, stream: Optional[TextIO] = None):
        super().__init__()
        self.stream = sys.stdout if stream is None else stream
        self._drawn = 0          # characters of the live line on screen

    def _show(self, text: str) -> None:
        # a line longer than the terminal would wrap and break the redraw: cut it
        width = max(shutil.get_terminal_size((80, 24)).columns - 1, 20)
        self._write(text[:width], end="")

    def _finish(self, text: str) -> None:
        self._write(text, end="\n")

    def _write(self, text: str, end: str) -> None:
        padding = " " * max(self._drawn - len(text), 0)
        self.stream.write("\r" + text + padding + end)
        self.stream.flush()
        self._drawn = 0 if end else len(text)

    def abort(self) -> None:
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = 0


class NotebookProgress(_LiveProgress):
    """A bar in a notebook cell's output, updated in place through an IPython display handle."""

    def __init__(self, display: Callable[..., Any]):
        super().__init__()
        self._display = display
        self._handle = None

    @classmethod
    def create(cls) -> Optional["NotebookProgress"]:
        """A notebook bar, or ``None`` when ``IPython.display`` cannot be imported."""
        try:
            from IPython.display import display
        except ImportError:
            return None
        return cls(display)

    def begin_epoch(self, epoch, epochs, steps, samples):
        self._handle = None
        super().begin_epoch(epoch, epochs, steps, samples)

    def _show(self, text: str) -> None:
        bundle: Dict[str, str] = {"text/plain": text}
        if self._handle is None:
            self._handle = self._display(bundle, raw=True, display_id=True)
        else:
            self._handle.update(bundle, raw=True)

    def _finish(self, text: str) -> None:
        self._show(text)
        self._handle = None
