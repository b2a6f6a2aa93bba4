"""Learning-rate schedules: callables of the optimizer step that return the learning rate.

A schedule is called with the 0-based index of the upcoming update (the optimizer's
``iterations`` before the update) and returns a Python float. The built-in schedules follow the
formulas of ``keras.optimizers.schedules`` (and, for :class:`StepDecay`, PyTorch's ``StepLR``
counted in steps); each docstring writes its rule out.

Optimizers accept any plain callable ``f(step) -> float`` as well, but only a
:class:`LearningRateSchedule` can be saved: :func:`serialize` turns one into a JSON-ready dict and
:func:`deserialize` turns the dict back.

Examples
--------
>>> from mlp.schedules import ExponentialDecay, deserialize, serialize
>>> schedule = ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
>>> schedule(0), schedule(10), schedule(20)
(0.1, 0.05, 0.025)
>>> deserialize(serialize(schedule))(10)
0.05
"""
from __future__ import annotations

import abc
import bisect
import math
from typing import Any, Dict, Mapping, Optional, Sequence, Type

from ..validation import (
    check_bool,
    check_fraction,
    check_int,
    check_non_negative,
    check_positive,
    check_real,
    fail,
)


# ------------------------------------------------------------------- schedules
class LearningRateSchedule(abc.ABC):
    """Base class of serialisable learning-rate schedules.

    A subclass implements ``__call__(step) -> float`` for the 0-based step and
    ``get_config() -> dict`` returning its constructor arguments (JSON-serialisable), so that
    ``cls.from_config(schedule.get_config())`` rebuilds an equal schedule.

    Examples
    --------
    >>> from mlp.schedules import LearningRateSchedule
    >>> class Halving(LearningRateSchedule):
    ...     def __init__(self, initial_learning_rate):
    ...         self.initial_learning_rate = initial_learning_rate
    ...     def __call__(self, step):
    ...         return self.initial_learning_rate * 0.5 ** step
    ...     def get_config(self):
    ...         return {"initial_learning_rate": self.initial_learning_rate}
    >>> Halving(1.0)(3)
    0.125
    """

    @abc.abstractmethod
    def __call__(self, step: int) -> float:
        """The learning rate for the update with 0-based index ``step``."""

    def get_config(self) -> Dict[str, Any]:
        """The constructor arguments as a JSON-serialisable dict.

        Raises
        ------
        NotImplementedError
            If the subclass does not define it.
        """
        raise NotImplementedError(
            f"{type(self).__name__}.get_config: not implemented, so this schedule cannot be "
            f"serialised; define get_config() returning its constructor arguments."
        )

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "LearningRateSchedule":
        """Build a schedule from the dict returned by :meth:`get_config`.

        Raises
        ------
        TypeError
            If ``config`` is not a dict.
        """
        if not isinstance(config, Mapping):
            fail("config", "a dict of constructor arguments", config, TypeError)
        return cls(**config)

    def __repr__(self) -> str:
        arguments = ", ".join(f"{key}={value!r}" for key, value in self.get_config().items())
        return f"{type(self).__name__}({arguments})"


class ExponentialDecay(LearningRateSchedule):
    """Exponential decay, as Keras' ``ExponentialDecay``.

    ``lr(step) = initial_learning_rate * decay_rate ** (step / decay_steps)``; with
    ``staircase=True`` the exponent is ``floor(step / decay_steps)``, so the rate drops in steps.

    Parameters
    ----------
    initial_learning_rate : float
        The rate at step 0, ``>= 0``.
    decay_steps : float
        Steps over which the rate is multiplied by ``decay_rate``, ``> 0``.
    decay_rate : float
        The factor per ``decay_steps``, ``> 0``.
    staircase : bool
        Decay at whole multiples of ``decay_steps`` only. Defaults to ``False``.

    Examples
    --------
    >>> from mlp.schedules import ExponentialDecay
    >>> schedule = ExponentialDecay(1.0, decay_steps=2, decay_rate=0.25, staircase=True)
    >>> [schedule(step) for step in range(5)]
    [1.0, 1.0, 0.25, 0.25, 0.0625]
    """

    def __init__(self, initial_learning_rate: float, decay_steps: float, decay_rate: float,
                 staircase: bool = False):
        self.initial_learning_rate = check_non_negative("initial_learning_rate",
                                                         initial_learning_rate)
        self.decay_steps = check_positive("decay_steps", decay_steps)
        self.decay_rate = check_positive("decay_rate", decay_rate)
        self.staircase = check_bool("staircase", staircase)

    def __call__(self, step: int) -> float:
        exponent = step / self.decay_steps
        if self.staircase:
            exponent = math.floor(exponent)
        return self.initial_learning_rate * self.decay_rate ** exponent

    def get_config(self) -> Dict[str, Any]:
        return {"initial_learning_rate": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "decay_rate": self.decay_rate,
                "staircase": self.staircase}


class InverseTimeDecay(LearningRateSchedule):
    """Inverse-time decay, as Keras' ``InverseTimeDecay``.

    ``lr(step) = initial_learning_rate / (1 + decay_rate * step / decay_steps)``; with
    ``staircase=True``, ``step / decay_steps`` is replaced by ``floor(step / decay_steps)``.

    Parameters
    ----------
    initial_learning_rate : float
        The rate at step 0, ``>= 0``.
    decay_steps : float
        The step scale, ``> 0``.
    decay_rate : float
        How fast the rate falls, ``>= 0``.
    staircase : bool
        Decay at whole multiples of ``decay_steps`` only. Defaults to ``False``.

    Examples
    --------
    >>> from mlp.schedules import InverseTimeDecay
    >>> schedule = InverseTimeDecay(1.0, decay_steps=1, decay_rate=1.0)
    >>> [schedule(step) for step in range(4)]
    [1.0, 0.5, 0.3333333333333333, 0.25]
    """

    def __init__(self, initial_learning_rate: float, decay_steps: float, decay_rate: float,
                 staircase: bool = False):
        self.initial_learning_rate = check_non_negative("initial_learning_rate",
                                                         initial_learning_rate)
        self.decay_steps = check_positive("decay_steps", decay_steps)
        self.decay_rate = check_non_negative("decay_rate", decay_rate)
        self.staircase = check_bool("staircase", staircase)

    def __call__(self, step: int) -> float:
        progress = step / self.decay_steps
        if self.staircase:
            progress = math.floor(progress)
        return self.initial_learning_rate / (1.0 + self.decay_rate * progress)

    def get_config(self) -> Dict[str, Any]:
        return {"initial_learning_rate": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "decay_rate": self.decay_rate,
                "staircase": self.staircase}


class PiecewiseConstantDecay(LearningRateSchedule):
    """A constant rate on each interval between step boundaries, as Keras'.

    ``lr(step) = values[0]`` for ``step <= boundaries[0]``, ``values[i]`` for
    ``boundaries[i-1] < step <= boundaries[i]``, and ``values[-1]`` for
    ``step > boundaries[-1]``.

    Parameters
    ----------
    boundaries : sequence of float
        Strictly increasing step boundaries (at least one).
    values : sequence of float
        The rates, each ``>= 0``; exactly one more than ``boundaries``.

    Examples
    --------
    >>> from mlp.schedules import PiecewiseConstantDecay
    >>> schedule = PiecewiseConstantDecay([2, 4], [1.0, 0.5, 0.1])
    >>> [schedule(step) for step in range(6)]
    [1.0, 1.0, 1.0, 0.5, 0.5, 0.1]
    """

    def __init__(self, boundaries: Sequence[float], values: Sequence[float]):
        self.boundaries = _check_boundaries(boundaries)
        self.values = _check_values(values, len(self.boundaries))

    def __call__(self, step: int) -> float:
        return self.values[bisect.bisect_left(self.boundaries, step)]

    def get_config(self) -> Dict[str, Any]:
        return {"boundaries": list(self.boundaries), "values": list(self.values)}


def _check_boundaries(boundaries: Any) -> list:
    """A non-empty, strictly increasing list of finite numbers."""
    expected = "a non-empty, strictly increasing sequence of numbers"
    if isinstance(boundaries, (str, bytes)) or not isinstance(boundaries, Sequence):
        fail("boundaries", expected, boundaries, TypeError)
    checked = [check_real(f"boundaries[{i}]", b, "a finite number")
               for i, b in enumerate(boundaries)]
    if not checked or any(a >= b for a, b in zip(checked, checked[1:])):
        fail("boundaries", expected, boundaries)
    return checked


def _check_values(values: Any, n_boundaries: int) -> list:
    """A list of ``n_boundaries + 1`` finite numbers ``>= 0``."""
    expected = f"a sequence of {n_boundaries + 1} numbers >= 0 (one more than boundaries)"
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        fail("values", expected, values, TypeError)
    if len(values) != n_boundaries + 1:
        fail("values", expected, values)
    return [check_non_negative(f"values[{i}]", v) for i, v in enumerate(values)]


class StepDecay(LearningRateSchedule):
    """Multiply the rate by ``gamma`` every ``step_size`` steps (PyTorch's ``StepLR``, in steps).

    ``lr(step) = initial_learning_rate * gamma ** floor(step / step_size)``.

    Parameters
    ----------
    initial_learning_rate : float
        The rate at step 0, ``>= 0``.
    step_size : int
        Steps between two drops, ``>= 1``.
    gamma : float
        The factor applied at each drop, ``> 0``. Defaults to ``0.1``.

    Examples
    --------
    >>> from mlp.schedules import StepDecay
    >>> schedule = StepDecay(1.0, step_size=2, gamma=0.5)
    >>> [schedule(step) for step in range(5)]
    [1.0, 1.0, 0.5, 0.5, 0.25]
    """

    def __init__(self, initial_learning_rate: float, step_size: int, gamma: float = 0.1):
        self.initial_learning_rate = check_non_negative("initial_learning_rate",
                                                         initial_learning_rate)
        self.step_size = check_int("step_size", step_size, 1)
        self.gamma = check_positive("gamma", gamma)

    def __call__(self, step: int) -> float:
        return self.initial_learning_rate * self.gamma ** (step // self.step_size)

    def get_config(self) -> Dict[str, Any]:
        return {"initial_learning_rate": self.initial_learning_rate,
                "step_size": self.step_size, "gamma": self.gamma}


class CosineDecay(LearningRateSchedule):
    """Optional linear warmup, then cosine decay (Keras 3's ``CosineDecay``).

    Without warmup (``warmup_target=None``), with ``t = min(step, decay_steps)``::

        cosine = 0.5 * (1 + cos(pi * t / decay_steps))
        lr(step) = initial_learning_rate * ((1 - alpha) * cosine + alpha)

    With ``warmup_target`` the rate first rises linearly for ``step < warmup_steps``::

        lr(step) = initial_learning_rate
                   + (warmup_target - initial_learning_rate) * step / warmup_steps

    then decays by the formula above from ``warmup_target`` (in place of
    ``initial_learning_rate``) with ``t = min(step - warmup_steps, decay_steps)``. Either way it
    ends at ``alpha`` times the peak and stays there.

    Parameters
    ----------
    initial_learning_rate : float
        The rate at step 0, ``>= 0``; with warmup, often ``0``.
    decay_steps : float
        Steps of the cosine decay, ``> 0``.
    alpha : float
        The final rate as a fraction of the peak, in ``[0, 1]``. Defaults to ``0.0``.
    warmup_target : float or None
        The peak reached at the end of the warmup, ``>= 0``; ``None`` means no warmup. Defaults
        to ``None``.
    warmup_steps : float
        Steps of the linear warmup, ``>= 0``. Defaults to ``0``.

    Notes
    -----
    Keras silently ignores ``warmup_steps`` when ``warmup_target`` is ``None``; here that
    combination raises a ``ValueError``, since it is almost always a mistake.

    Examples
    --------
    >>> from mlp.schedules import CosineDecay
    >>> schedule = CosineDecay(0.0, decay_steps=2, warmup_target=1.0, warmup_steps=2)
    >>> [schedule(step) for step in range(6)]
    [0.0, 0.5, 1.0, 0.5, 0.0, 0.0]
    """

    def __init__(self, initial_learning_rate: float, decay_steps: float, alpha: float = 0.0,
                 warmup_target: Optional[float] = None, warmup_steps: float = 0):
        self.initial_learning_rate = check_non_negative("initial_learning_rate",
                                                         initial_learning_rate)
        self.decay_steps = check_positive("decay_steps", decay_steps)
        self.alpha = check_fraction("alpha", alpha, upper_inclusive=True)
        self.warmup_target = (None if warmup_target is None
                              else check_non_negative("warmup_target", warmup_target))
        self.warmup_steps = check_non_negative("warmup_steps", warmup_steps)
        if self.warmup_target is None and self.warmup_steps > 0:
            fail("warmup_steps", "0 when warmup_target is None (set warmup_target to warm up)",
                  warmup_steps)

    def __call__(self, step: int) -> float:
        if self.warmup_target is None:
            return self._decay(step, self.initial_learning_rate)
        if step < self.warmup_steps:
            fraction = step / self.warmup_steps
            return (self.initial_learning_rate
                    + (self.warmup_target - self.initial_learning_rate) * fraction)
        return self._decay(step - self.warmup_steps, self.warmup_target)

    def _decay(self, step: float, peak: float) -> float:
        """Cosine decay from ``peak`` to ``alpha * peak`` over ``decay_steps``, then flat."""
        fraction = min(step, self.decay_steps) / self.decay_steps
        cosine = 0.5 * (1.0 + math.cos(math.pi * fraction))
        return peak * ((1.0 - self.alpha) * cosine + self.alpha)

    def get_config(self) -> Dict[str, Any]:
        return {"initial_learning_rate": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "alpha": self.alpha,
                "warmup_target": self.warmup_target, "warmup_steps": self.warmup_steps}


# --------------------------------------------------------------- serialisation
SCHEDULES: Dict[str, Type[LearningRateSchedule]] = {
    cls.__name__: cls
    for cls in (ExponentialDecay, InverseTimeDecay, PiecewiseConstantDecay, StepDecay,
                CosineDecay)
}
"""The built-in schedules by class name, as :func:`deserialize` knows them."""


def serialize(schedule: LearningRateSchedule) -> Dict[str, Any]:
    """``{"class_name": ..., "config": ...}`` for a schedule, JSON-ready; see :func:`deserialize`.

    Raises
    ------
    TypeError
        If ``schedule`` is not a :class:`LearningRateSchedule` (a plain function, say), which has
        no config to save.
    """
    if not isinstance(schedule, LearningRateSchedule):
        fail("schedule", "a LearningRateSchedule (plain callables cannot be serialised; "
              "subclass mlp.schedules.LearningRateSchedule and define get_config)",
              schedule, TypeError)
    return {"class_name": type(schedule).__name__, "config": schedule.get_config()}


def deserialize(config: Mapping[str, Any]) -> LearningRateSchedule:
    """Rebuild a schedule from the dict written by :func:`serialize`.

    Raises
    ------
    TypeError
        If ``config`` is not a dict with the keys ``"class_name"`` and ``"config"`` (other
        keys, such as those Keras writes, are ignored).
    ValueError
        If the class name is not one of :data:`SCHEDULES` (the message lists them).
    """
    if not isinstance(config, Mapping) or not {"class_name", "config"} <= set(config):
        fail("config", 'a dict with the keys "class_name" and "config"', config, TypeError)
    name = config["class_name"]
    if name not in SCHEDULES:
        fail("class_name", f"one of {sorted(SCHEDULES)}", name)
    return SCHEDULES[name].from_config(config["config"])


__all__ = [
    "CosineDecay",
    "ExponentialDecay",
    "InverseTimeDecay",
    "LearningRateSchedule",
    "PiecewiseConstantDecay",
    "SCHEDULES",
    "StepDecay",
    "deserialize",
    "serialize",
]
