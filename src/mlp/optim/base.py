"""The optimizer base class: learning rate, gradient clipping, step counter and flat state slots.

Each optimizer holds its hyperparameters, a step counter (``iterations``) and its state *slots*:
one flat 1-D array per slot, as long as the flat parameter buffer of the whole model. One call to
:meth:`Optimizer.apply` clips the flat gradient as configured and runs the backend's fused update
(``sgd_update``, ``adam_update``, ``rmsprop_update`` or ``adagrad_update`` of
:class:`mlp.backends.base.Backend`) over the whole buffer in one pass.

The update rule of an optimizer is stated once, by :meth:`Optimizer.kernel_spec`, in the
keyword names of its backend update: the step-by-step path passes it to that update, the CPU's
whole-epoch plan hands it to the kernel.
"""
from __future__ import annotations

import abc
import math
import numbers
from typing import Any, Callable, Dict, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from ..validation import (
    FLOAT_DTYPES,
    check_float_dtype,
    check_int,
    check_optional_positive,
    fail,
    fail_described,
)
from . import schedules

MAX_ITERATIONS = 2 ** 53
"""The largest step count an optimizer state may hold: steps stay exact as floats (schedules,
Adam's bias correction) and far from the kernels' 64-bit limit."""

LearningRate = Union[float, Callable[[int], float]]
"""A learning rate: a number ``> 0``, a :class:`~mlp.schedules.LearningRateSchedule`, or any
callable ``f(step) -> float``."""


# ------------------------------------------------------------------ validation
def _check_learning_rate(value: Any) -> Any:
    """A number ``> 0`` (returned as a float) or a callable schedule (returned as is)."""
    if callable(value) and not isinstance(value, type):
        return value
    expected = "a number > 0 or a schedule (a callable of the step)"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        fail("learning_rate", expected, value, TypeError)
    if not (math.isfinite(value) and value > 0):
        fail("learning_rate", expected, value)
    return float(value)


def _check_buffers(params: Any, grads: Any) -> None:
    """``params`` is 1-D and ``grads`` has its shape and dtype."""
    if getattr(params, "ndim", None) != 1:
        fail("params", "a flat 1-D array", getattr(params, "shape", params))
    if getattr(grads, "shape", None) != params.shape or grads.dtype != params.dtype:
        fail_described("grads", f"a {params.dtype} array of shape {params.shape} like params",
                         _describe(grads))


def _describe(array: Any) -> str:
    """``"<dtype> array of shape <shape>"``, or the type name of something that is no array."""
    if not hasattr(array, "dtype") or not hasattr(array, "shape"):
        return type(array).__name__
    return f"{np.dtype(array.dtype).name} array of shape {array.shape}"


def _check_segments(segments: Sequence[Tuple[int, int]], size: int) -> None:
    """Each segment is a pair ``(start, stop)`` with ``0 <= start <= stop <= size``."""
    for index, segment in enumerate(segments):
        if (not isinstance(segment, (tuple, list)) or len(segment) != 2
                or not all(isinstance(i, numbers.Integral) for i in segment)
                or not 0 <= segment[0] <= segment[1] <= size):
            fail(f"segments[{index}]", f"a pair (start, stop) with 0 <= start <= stop <= {size}",
                  segment)


def _clip_to_norm(backend, x, limit: float) -> None:
    """Scale ``x`` in place by ``limit / norm(x)`` when its norm exceeds ``limit``."""
    norm = backend.global_norm([x])
    if norm > limit:
        backend.scale_(x, limit / norm)


# ------------------------------------------------------------------------ base
class Optimizer(abc.ABC):
    """Base class: learning rate, gradient clipping, step counter and flat state slots.

    Parameters
    ----------
    learning_rate : float or callable
        A number ``> 0``, a :class:`~mlp.schedules.LearningRateSchedule`, or any callable
        ``f(step) -> float`` of the 0-based step.
    clipnorm : float or None
        Clip each tensor's gradient (each segment given to :meth:`apply`) to this L2 norm, as
        Keras does. Defaults to ``None`` (off).
    clipvalue : float or None
        Clip each gradient element to ``[-clipvalue, clipvalue]``. Defaults to ``None`` (off).
    global_clipnorm : float or None
        Clip the whole gradient to this L2 norm. Defaults to ``None`` (off). At most one of
        ``clipnorm`` and ``global_clipnorm`` may be set.

    Attributes
    ----------
    iterations : int
        Updates done so far; the next update is step ``iterations`` (0-based) of the schedule.
    slots : dict of str to array
        The state buffers, in the order of :attr:`slot_names`, each 1-D and as long as the
        parameter buffer; empty until :meth:`build`.

    Notes
    -----
    Clipping norms follow Keras: a gradient ``g`` whose norm exceeds ``c`` becomes
    ``g * c / norm(g)`` (no epsilon, unlike PyTorch's ``clip_grad_norm_``). Keras applies only one
    clipping option (``clipnorm``, else ``global_clipnorm``, else ``clipvalue``); here every one
    that is set is applied, in the order ``clipvalue``, ``clipnorm``, ``global_clipnorm``.
    """

    kind: str = ""
    """The backend update this optimizer runs: ``"sgd"``, ``"adam"``, ``"rmsprop"`` or
    ``"adagrad"``."""

    def __init__(self, learning_rate: LearningRate, clipnorm: Optional[float] = None,
                 clipvalue: Optional[float] = None, global_clipnorm: Optional[float] = None):
        self.learning_rate = learning_rate
        self.clipnorm = check_optional_positive("clipnorm", clipnorm)
        self.clipvalue = check_optional_positive("clipvalue", clipvalue)
        self.global_clipnorm = check_optional_positive("global_clipnorm", global_clipnorm)
        if clipnorm is not None and global_clipnorm is not None:
            fail("clipnorm, global_clipnorm", "at most one of them set",
                  (clipnorm, global_clipnorm))
        self.iterations = 0
        self.slots: Dict[str, Any] = {}
        self._layout: Optional[Tuple[int, np.dtype]] = None
        self._backend = None

    # ------------------------------------------------------- learning rate
    @property
    def learning_rate(self) -> LearningRate:
        """The learning rate as given: a float or a schedule. Setting it validates the value."""
        return self._learning_rate

    @learning_rate.setter
    def learning_rate(self, value: LearningRate) -> None:
        self._learning_rate = _check_learning_rate(value)

    def learning_rate_at(self, step: int) -> float:
        """The learning rate of the update with 0-based index ``step``.

        Raises
        ------
        ValueError
            If a schedule returns something other than a finite number ``>= 0``.
        """
        rate = self._learning_rate
        if not callable(rate):
            return rate
        value = rate(step)
        if (isinstance(value, bool) or not isinstance(value, numbers.Real)
                or not math.isfinite(value) or value < 0):
            fail("learning_rate", f"the schedule to return a finite number >= 0 at step {step}",
                  value)
        return float(value)

    def learning_rates(self, start: int, count: int) -> np.ndarray:
        """The learning rates of the ``count`` updates from 0-based index ``start`` on, as a
        float64 array (a constant rate without a call per update).

        Raises
        ------
        ValueError
            As :meth:`learning_rate_at`.
        """
        rate = self._learning_rate
        if not callable(rate) and type(self).learning_rate_at is Optimizer.learning_rate_at:
            return np.full(count, rate, dtype=np.float64)
        return np.array([self.learning_rate_at(start + k) for k in range(count)],
                        dtype=np.float64)

    # ---------------------------------------------------------------- state
    @property
    @abc.abstractmethod
    def slot_names(self) -> Tuple[str, ...]:
        """Names of the state slots, in order; they are the backend update's argument names."""

    def _slot_initial_value(self) -> float:
        """The value every slot starts at (0 for all optimizers but Adagrad)."""
        return 0.0

    def build(self, n_params: int, dtype: Any, backend) -> None:
        """Allocate the state slots for a flat buffer of ``n_params`` parameters.

        Calling it again with the same size and dtype does nothing; with another backend it moves
        the slots there (state kept). :meth:`apply` calls it, so calling it first is optional.

        Parameters
        ----------
        n_params : int
            Length of the flat parameter buffer, ``>= 1``.
        dtype : float32 or float64
        backend : Backend
            Where the slots live.

        Raises
        ------
        ValueError
            If the optimizer was already built for another size or dtype.
        """
        n_params = check_int("n_params", n_params, 1)
        dtype = check_float_dtype("dtype", dtype)
        if self._layout is None:
            self.slots = {name: self._new_slot(backend, n_params, dtype)
                          for name in self.slot_names}
        elif self._layout != (n_params, dtype):
            built_for = f"{self._layout[0]} {self._layout[1]} parameters"
            fail("n_params, dtype", f"{built_for} (this optimizer already holds state for "
                  f"them; use a new optimizer for another model)", (n_params, dtype.name))
        elif backend is not self._backend:
            # from another backend, or from host copies (an unpickled optimizer has none)
            # from an unpickled optimizer, a copy: joblib may have memory-mapped them read-only
            self.slots = {name: backend.asarray(np.array(slot, copy=True) if self._backend is None
                                                else self._backend.to_numpy(slot))
                          for name, slot in self.slots.items()}
        self._layout = (n_params, dtype)
        self._backend = backend

    def _new_slot(self, backend, n_params: int, dtype: np.dtype):
        """One slot filled with :meth:`_slot_initial_value`."""
        value = self._slot_initial_value()
        if value == 0.0:
            return backend.zeros((n_params,), dtype)
        return backend.asarray(np.full((n_params,), value, dtype=dtype))

    def state_dict(self) -> Dict[str, Any]:
        """The mutable state: ``{"iterations": int, "slots": {name: NumPy copy}}``.

        ``slots`` is empty before :meth:`build`.
        """
        return {"iterations": self.iterations,
                "slots": {name: np.array(self._host(slot), copy=True)
                          for name, slot in self.slots.items()}}

    def _host(self, slot):
        """``slot`` in host memory."""
        return slot if self._backend is None else self._backend.to_numpy(slot)

    def __getstate__(self) -> Dict[str, Any]:
        """For ``pickle`` / ``copy.deepcopy``: the slots as host copies and no backend; the
        next :meth:`build` (the model's, or its first training step's) moves them back."""
        state = self.__dict__.copy()
        state["slots"] = {name: np.array(self._host(slot), copy=True)
                          for name, slot in self.slots.items()}
        state["_backend"] = None
        return state

    def load_state_dict(self, state: Mapping[str, Any], backend) -> None:
        """Restore a :meth:`state_dict`, copying the slots onto ``backend``.

        Slots are copied into the existing buffers (which keep their identity) when built;
        an optimizer not yet built is built from the slots' length and dtype. An empty ``slots``
        (the state of an optimizer never built) is accepted only while this one is not built
        either. Everything is checked before anything changes.

        Raises
        ------
        TypeError
            If ``state`` is not a dict of ``iterations`` and ``slots``.
        ValueError
            If slot names, shapes or dtypes do not match this optimizer (the message says which
            and what was expected), or ``iterations`` is negative.
        """
        iterations, slots = _check_state_structure(state)
        layout = self._check_slots(slots)
        if layout is not None:
            self.build(layout[0], layout[1], backend)
            for name, array in slots.items():
                self.slots[name][...] = backend.asarray(array)
        self.iterations = iterations

    def _check_slots(self, slots: Mapping[str, np.ndarray]) -> Optional[Tuple[int, np.dtype]]:
        """Check slot names, shapes and dtypes; return their ``(length, dtype)`` (None if empty)."""
        if set(slots) != set(self.slot_names) and (slots or self._layout is not None):
            fail("state['slots']", f"the slots {list(self.slot_names)} of this "
                  f"{type(self).__name__}", sorted(slots))
        if not slots:
            return None
        length, dtype = self._layout or _layout_of(slots)
        for name, array in slots.items():
            if array.shape != (length,) or array.dtype != dtype:
                fail_described(f"state['slots'][{name!r}]",
                                f"a {dtype.name} array of shape ({length},)", _describe(array))
        return length, dtype

    # ---------------------------------------------------------------- update
    def apply(self, backend, params, grads, segments: Optional[Sequence[Tuple[int, int]]] = None
              ) -> None:
        """One update of ``params`` in place from ``grads``.

        Clips ``grads`` in place (:meth:`clip_gradients`), then runs the backend update with
        ``lr = learning_rate_at(iterations)`` (and ``step = iterations + 1`` for Adam), then adds
        one to ``iterations``. Builds the slots on first use.

        Parameters
        ----------
        backend : Backend
        params : 1-D array
            The flat parameter buffer (C-contiguous, on ``backend``), updated in place.
        grads : 1-D array
            The flat gradient, same shape and dtype; modified in place when clipping is on.
        segments : sequence of (start, stop) or None
            Tensor boundaries inside the flat buffers, used by ``clipnorm`` (per tensor).
            ``None`` means the whole buffer is one tensor.
        """
        _check_buffers(params, grads)
        if segments is not None and self.clipnorm is not None:
            _check_segments(segments, grads.shape[0])
        self.build(params.shape[0], params.dtype, backend)
        self.update(backend, params, grads, segments)

    def update(self, backend, params, grads, segments: Optional[Sequence[Tuple[int, int]]] = None,
               ranges: Optional[Sequence[Tuple[int, int]]] = None) -> None:
        """:meth:`apply` without its checks and without building: for an engine that checked
        the buffers and built the optimizer once, when it compiled its plan.

        ``ranges`` (``(start, stop)`` pairs) limits clipping and the update to those parts of
        the buffers: the parameters outside them (frozen layers) and their state stay as they
        are, weight decay included. ``None`` (the default) updates everything.
        """
        step = self.iterations
        lr = self.learning_rate_at(step)
        if ranges is None:
            self._clip(backend, grads, segments)
            self._update(backend, params, grads, lr, step + 1)
        else:
            self._clip(backend, grads, segments, ranges)
            slots = self.slots
            try:  # the update rules read self.slots: show them each range's part
                for start, stop in ranges:
                    self.slots = {name: slot[start:stop] for name, slot in slots.items()}
                    self._update(backend, params[start:stop], grads[start:stop], lr, step + 1)
            finally:
                self.slots = slots
        self.iterations = step + 1

    def clip_gradients(self, backend, grads, segments: Optional[Sequence[Tuple[int, int]]] = None
                       ) -> None:
        """Apply ``clipvalue``, ``clipnorm`` (per segment) and ``global_clipnorm`` in place.

        Parameters are as in :meth:`apply`; a fused engine that runs the update itself calls
        this first.
        """
        if segments is not None and self.clipnorm is not None:
            _check_segments(segments, grads.shape[0])
        self._clip(backend, grads, segments)

    def _clip(self, backend, grads, segments: Optional[Sequence[Tuple[int, int]]],
              ranges: Optional[Sequence[Tuple[int, int]]] = None) -> None:
        parts = [grads] if ranges is None else [grads[start:stop] for start, stop in ranges]
        if self.clipvalue is not None:
            for part in parts:
                backend.clip_(part, self.clipvalue)
        if self.clipnorm is not None:
            if segments is None:
                segments = [(0, grads.shape[0])]
            for start, stop in segments:
                _clip_to_norm(backend, grads[start:stop], self.clipnorm)
        if self.global_clipnorm is not None:
            norm = backend.global_norm(parts)
            if norm > self.global_clipnorm:
                for part in parts:
                    backend.scale_(part, self.global_clipnorm / norm)

    @abc.abstractmethod
    def _update(self, backend, params, grads, lr: float, step: int) -> None:
        """Run the backend update with the slots and :meth:`_update_options`."""

    @abc.abstractmethod
    def _update_options(self) -> Dict[str, Any]:
        """The backend update's keyword arguments other than buffers, ``lr`` and ``step``."""

    def kernel_spec(self) -> Dict[str, Any]:
        """What a fused engine needs to run this optimizer's update rule itself.

        Returns
        -------
        dict
            ``{"kind": kind, **options}`` where every key but ``kind`` is a keyword argument of
            the backend's ``<kind>_update``, exactly as :meth:`apply` passes it. Not included:
            the learning rate (``learning_rate_at(iterations)``), Adam's ``step``
            (``iterations + 1``), the slots (:attr:`slots`, named after the update's buffer
            arguments) and clipping (:meth:`clip_gradients`).
        """
        return {"kind": self.kind, **self._update_options()}

    # ---------------------------------------------------------------- config
    @abc.abstractmethod
    def _hyperparameters(self) -> Dict[str, Any]:
        """Constructor arguments other than ``learning_rate`` and the clipping options."""

    def get_config(self) -> Dict[str, Any]:
        """The constructor arguments as a JSON-serialisable dict (schedule serialised).

        Raises
        ------
        TypeError
            If the learning rate is a plain callable, which cannot be serialised.
        """
        return {"learning_rate": self._learning_rate_config(), **self._hyperparameters(),
                "clipnorm": self.clipnorm, "clipvalue": self.clipvalue,
                "global_clipnorm": self.global_clipnorm}

    def _learning_rate_config(self) -> Any:
        """The learning rate as a float or a serialised schedule."""
        rate = self._learning_rate
        if not callable(rate):
            return rate
        if not isinstance(rate, schedules.LearningRateSchedule):
            fail("learning_rate", "a number or a mlp.schedules.LearningRateSchedule to "
                  "serialise (a plain callable has no config; subclass LearningRateSchedule "
                  "and define get_config)", rate, TypeError)
        return schedules.serialize(rate)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "Optimizer":
        """Build an optimizer from the dict returned by :meth:`get_config`.

        Raises
        ------
        TypeError
            If ``config`` is not a dict.
        """
        if not isinstance(config, Mapping):
            fail("config", "a dict of constructor arguments", config, TypeError)
        config = dict(config)
        if isinstance(config.get("learning_rate"), Mapping):
            config["learning_rate"] = schedules.deserialize(config["learning_rate"])
        return cls(**config)


def _check_state_structure(state: Any) -> Tuple[int, Dict[str, np.ndarray]]:
    """Return ``state``'s iterations and its slots as NumPy arrays, after checking its form."""
    if (not isinstance(state, Mapping) or set(state) != {"iterations", "slots"}
            or not isinstance(state["slots"], Mapping)):
        fail("state", 'a dict {"iterations": int, "slots": {name: array}} from state_dict()',
              state if not isinstance(state, Mapping) else sorted(state), TypeError)
    iterations = check_int("state['iterations']", state["iterations"], 0,
                           expected="an integer in [0, 2**53]", maximum=MAX_ITERATIONS)
    slots = {name: np.asarray(array) for name, array in state["slots"].items()}
    return iterations, slots


def _layout_of(slots: Mapping[str, np.ndarray]) -> Tuple[int, np.dtype]:
    """The ``(length, dtype)`` of the first slot, which must be a non-empty 1-D float array."""
    name, array = next(iter(slots.items()))
    if array.ndim != 1 or array.shape[0] == 0 or array.dtype not in FLOAT_DTYPES:
        fail_described(f"state['slots'][{name!r}]", "a non-empty 1-D float32 or float64 array",
                        _describe(array))
    return array.shape[0], array.dtype


__all__ = ["LearningRate", "MAX_ITERATIONS", "Optimizer"]
