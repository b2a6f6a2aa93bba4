"""What training and evaluation say when their numbers go wrong: a loss or metric that is NaN
or infinite, and a loss that grows by orders of magnitude (a diverging optimizer).

``fit`` stops on a non-finite loss or metric (see :class:`~mlp.training.trainer.Trainer`);
``train_on_batch`` and ``evaluate`` return what they computed and warn. A loss that stays
finite while growing far above the loss of the initial weights is a divergence: ``fit`` warns
once (:class:`DivergenceWatch`) and goes on, as the optimizer may recover.
"""
from __future__ import annotations

import math
import warnings
from typing import Dict, Optional

DIVERGENCE_FACTOR = 1e4
"""An epoch's loss this many times the loss of the weights ``fit`` started from is a
divergence (four orders of magnitude: no training that converges climbs that far)."""

MIN_BASELINE = 1e-4
"""The smallest initial loss the factor is applied to: a model that already fits its data
(loss near 0, measured with dropout off) may train at a loss many times larger under dropout,
so a loss below ``DIVERGENCE_FACTOR * MIN_BASELINE`` (1) is never called a divergence."""

HINT = ("Lower the learning rate, scale the inputs or clip the gradients (e.g. "
        "Adam(clipnorm=1.0)).")


def non_finite_key(logs: Dict[str, float]) -> Optional[str]:
    """The first name in ``logs`` whose value is NaN or infinite, or ``None``."""
    for key, value in logs.items():
        if not math.isfinite(value):
            return key
    return None


def warn_non_finite(method: str, logs: Dict[str, float], stacklevel: int) -> None:
    """A ``RuntimeWarning`` naming ``method`` and the first non-finite value of ``logs``, if
    there is one (``stacklevel`` as for :func:`warnings.warn` called from here)."""
    key = non_finite_key(logs)
    if key is None:
        return
    warnings.warn(f"{method}: the {key} is {logs[key]}: the model's outputs overflow its dtype "
                  f"(inputs, targets or weights too large) or the weights are no longer finite. "
                  f"{HINT}", RuntimeWarning, stacklevel=stacklevel)


class DivergenceWatch:
    """Warns once when an epoch's loss climbs :data:`DIVERGENCE_FACTOR` times above the loss
    of the initial weights (``baseline``, at least :data:`MIN_BASELINE`; ``None`` or
    non-finite: never)."""

    def __init__(self, baseline: Optional[float]):
        ok = baseline is not None and math.isfinite(baseline) and baseline > 0
        self.baseline = float(baseline) if ok else None
        self.warned = False

    def check(self, epoch: int, loss: float, stacklevel: int) -> bool:
        """Warn (``RuntimeWarning``, ``stacklevel`` as for :func:`warnings.warn` called from
        here) the first time ``loss`` is a divergence; return whether it is one."""
        if self.baseline is None or not loss > DIVERGENCE_FACTOR * max(self.baseline,
                                                                      MIN_BASELINE):
            return False
        if not self.warned:
            self.warned = True
            warnings.warn(
                f"fit: the loss is diverging: {loss:.4g} in epoch {epoch + 1}, "
                f"{loss / self.baseline:.3g} times the {self.baseline:.4g} of the initial "
                f"weights; training goes on, but it is unlikely to converge. {HINT}",
                RuntimeWarning, stacklevel=stacklevel)
        return True


__all__ = ["DIVERGENCE_FACTOR", "DivergenceWatch", "HINT", "MIN_BASELINE", "non_finite_key",
           "warn_non_finite"]
