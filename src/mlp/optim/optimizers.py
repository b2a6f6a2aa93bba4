"""Optimizers: hyperparameters and state over flat buffers, updated by a backend kernel.

Each optimizer holds its hyperparameters, a step counter (``iterations``) and its state *slots*:
one flat 1-D array per slot, as long as the flat parameter buffer of the whole model. One call to
:meth:`Optimizer.apply` clips the flat gradient as configured and runs the backend's fused update
(``sgd_update``, ``adam_update``, ``rmsprop_update`` or ``adagrad_update`` of
:class:`mlp.backends.base.Backend`) over the whole buffer in one pass.

Defaults follow Keras (users arrive from Keras); the update *formulas* are PyTorch's, written out
in each class docstring, which also says where they differ from Keras.

Examples
--------
>>> import numpy as np
>>> import mlp.optimizers as optimizers
>>> from mlp.backends import get_backend
>>> optimizer = optimizers.get("adam")
>>> params = np.array([1.0, -1.0]); grads = np.array([0.5, -0.5])
>>> optimizer.apply(get_backend("reference"), params, grads)
>>> params, optimizer.iterations
(array([ 0.999, -0.999]), 1)
"""
from __future__ import annotations

import abc
import math
import numbers
from typing import Any, Callable, Dict, Mapping, Optional, Sequence, Tuple, Type, Union

import numpy as np

from ..validation import (
    FLOAT_DTYPES,
    check_bool,
    check_float_dtype,
    check_fraction,
    check_int,
    check_non_negative,
    check_optional_positive,
    check_positive,
    fail,
    fail_described,
)
from . import schedules

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
            self.slots = {name: backend.asarray(self._backend.to_numpy(slot))
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
                "slots": {name: np.array(self._backend.to_numpy(slot), copy=True)
                          for name, slot in self.slots.items()}}

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

    def update(self, backend, params, grads, segments: Optional[Sequence[Tuple[int, int]]] = None
               ) -> None:
        """:meth:`apply` without its checks and without building: for an engine that checked
        the buffers and built the optimizer once, when it compiled its plan."""
        self._clip(backend, grads, segments)
        step = self.iterations
        self._update(backend, params, grads, self.learning_rate_at(step), step + 1)
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

    def _clip(self, backend, grads, segments: Optional[Sequence[Tuple[int, int]]]) -> None:
        if self.clipvalue is not None:
            backend.clip_(grads, self.clipvalue)
        if self.clipnorm is not None:
            if segments is None:
                segments = [(0, grads.shape[0])]
            for start, stop in segments:
                _clip_to_norm(backend, grads[start:stop], self.clipnorm)
        if self.global_clipnorm is not None:
            _clip_to_norm(backend, grads, self.global_clipnorm)

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
    iterations = check_int("state['iterations']", state["iterations"], 0)
    slots = {name: np.asarray(array) for name, array in state["slots"].items()}
    return iterations, slots


def _layout_of(slots: Mapping[str, np.ndarray]) -> Tuple[int, np.dtype]:
    """The ``(length, dtype)`` of the first slot, which must be a non-empty 1-D float array."""
    name, array = next(iter(slots.items()))
    if array.ndim != 1 or array.shape[0] == 0 or array.dtype not in FLOAT_DTYPES:
        fail_described(f"state['slots'][{name!r}]", "a non-empty 1-D float32 or float64 array",
                        _describe(array))
    return array.shape[0], array.dtype


# ------------------------------------------------------------------ optimizers
class SGD(Optimizer):
    """Stochastic gradient descent, with optional (Nesterov) momentum and L2 weight decay.

    Update rule (PyTorch's form, no dampening), with ``v`` the ``velocity`` slot::

        g = grad + weight_decay * param
        momentum > 0:  v = momentum * v + g
                       d = g + momentum * v  (nesterov)  or  d = v
        momentum = 0:  d = g
        param -= lr * d

    Parameters
    ----------
    learning_rate : float or callable
        A number ``> 0`` or a schedule. Defaults to ``0.01``.
    momentum : float
        In ``[0, 1)``. Defaults to ``0.0``.
    nesterov : bool
        Nesterov momentum; needs ``momentum > 0``. Defaults to ``False``.
    weight_decay : float
        L2 coefficient added to the gradient, ``>= 0``. Defaults to ``0.0``.
    clipnorm, clipvalue, global_clipnorm : float or None
        Gradient clipping, see :class:`Optimizer`. Default to ``None``.

    Notes
    -----
    Slots: ``("velocity",)`` when ``momentum > 0``, else none.

    Differences from Keras: Keras keeps ``v = momentum * v - lr * g`` (the learning rate inside
    the velocity); with a constant learning rate both forms take identical steps, with a schedule
    they differ. Keras 3 applies ``weight_decay`` decoupled (``param -= lr * wd * param``); here it
    is added to the gradient (L2, as PyTorch's ``SGD``). ``nesterov=True`` with ``momentum=0``
    raises here (Keras ignores it).

    Examples
    --------
    >>> import numpy as np
    >>> from mlp.backends import get_backend
    >>> from mlp.optimizers import SGD
    >>> params = np.array([1.0, -2.0]); grads = np.array([0.5, 0.5])
    >>> SGD(learning_rate=0.1).apply(get_backend("reference"), params, grads)
    >>> params
    array([ 0.95, -2.05])
    """

    kind = "sgd"

    def __init__(self, learning_rate: LearningRate = 0.01, momentum: float = 0.0,
                 nesterov: bool = False, weight_decay: float = 0.0,
                 clipnorm: Optional[float] = None, clipvalue: Optional[float] = None,
                 global_clipnorm: Optional[float] = None):
        super().__init__(learning_rate, clipnorm, clipvalue, global_clipnorm)
        self.momentum = check_fraction("momentum", momentum)
        self.nesterov = check_bool("nesterov", nesterov)
        self.weight_decay = check_non_negative("weight_decay", weight_decay)
        if self.nesterov and self.momentum == 0:
            fail("nesterov", "False when momentum is 0 (Nesterov needs momentum > 0)", nesterov)

    @property
    def slot_names(self) -> Tuple[str, ...]:
        return ("velocity",) if self.momentum > 0 else ()

    def _update(self, backend, params, grads, lr, step):
        backend.sgd_update(params, grads, self.slots.get("velocity"), lr=lr,
                           **self._update_options())

    def _update_options(self):
        return {"momentum": self.momentum, "nesterov": self.nesterov,
                "weight_decay": self.weight_decay}

    def _hyperparameters(self):
        return self._update_options()


class Adam(Optimizer):
    """Adam, optionally AMSGrad, with coupled L2 weight decay.

    Update rule at step ``t`` (counted from 1), slots ``m``, ``v`` (and ``v_max``)::

        g = grad + weight_decay * param
        m = beta_1 * m + (1 - beta_1) * g
        v = beta_2 * v + (1 - beta_2) * g**2
        s = max(v_max, v) stored in v_max  (amsgrad)  or  s = v
        param -= lr * (m / (1 - beta_1**t)) / (sqrt(s / (1 - beta_2**t)) + epsilon)

    Parameters
    ----------
    learning_rate : float or callable
        A number ``> 0`` or a schedule. Defaults to ``0.001``.
    beta_1 : float
        Decay of the first moment, in ``[0, 1)``. Defaults to ``0.9``.
    beta_2 : float
        Decay of the second moment, in ``[0, 1)``. Defaults to ``0.999``.
    epsilon : float
        Added to the denominator, ``> 0``. Defaults to ``1e-7`` (Keras' value; PyTorch uses 1e-8).
    amsgrad : bool
        Use the running maximum of ``v`` (AMSGrad). Defaults to ``False``.
    weight_decay : float
        L2 coefficient added to the gradient, ``>= 0``. Defaults to ``0.0``.
    clipnorm, clipvalue, global_clipnorm : float or None
        Gradient clipping, see :class:`Optimizer`. Default to ``None``.

    Notes
    -----
    Slots: ``("m", "v")``, plus ``"v_max"`` with ``amsgrad``.

    Differences from Keras: epsilon is added outside the square root of the *bias-corrected*
    second moment, as in PyTorch; Keras adds it to ``sqrt(v)`` before bias correction (an
    effective epsilon of ``epsilon * sqrt(1 - beta_2**t)`` here). Keras 3 applies
    ``weight_decay`` decoupled; here it is L2 added to the gradient, as PyTorch's ``Adam`` —
    use :class:`AdamW` for decoupled decay.

    Examples
    --------
    >>> import numpy as np
    >>> from mlp.backends import get_backend
    >>> from mlp.optimizers import Adam
    >>> params = np.array([1.0, -2.0]); grads = np.array([0.5, -0.5])
    >>> Adam(learning_rate=0.1).apply(get_backend("reference"), params, grads)
    >>> params.round(6)
    array([ 0.9, -1.9])
    """

    kind = "adam"
    _decoupled = False

    def __init__(self, learning_rate: LearningRate = 0.001, beta_1: float = 0.9,
                 beta_2: float = 0.999, epsilon: float = 1e-7, amsgrad: bool = False,
                 weight_decay: float = 0.0, clipnorm: Optional[float] = None,
                 clipvalue: Optional[float] = None, global_clipnorm: Optional[float] = None):
        super().__init__(learning_rate, clipnorm, clipvalue, global_clipnorm)
        self.beta_1 = check_fraction("beta_1", beta_1)
        self.beta_2 = check_fraction("beta_2", beta_2)
        self.epsilon = check_positive("epsilon", epsilon)
        self.amsgrad = check_bool("amsgrad", amsgrad)
        self.weight_decay = check_non_negative("weight_decay", weight_decay)

    @property
    def slot_names(self) -> Tuple[str, ...]:
        return ("m", "v", "v_max") if self.amsgrad else ("m", "v")

    def _update(self, backend, params, grads, lr, step):
        slots = self.slots
        backend.adam_update(params, grads, slots["m"], slots["v"], slots.get("v_max"),
                            step=step, lr=lr, **self._update_options())

    def _update_options(self):
        return {"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon,
                "weight_decay": self.weight_decay, "decoupled": self._decoupled,
                "amsgrad": self.amsgrad}

    def _hyperparameters(self):
        return {"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon,
                "amsgrad": self.amsgrad, "weight_decay": self.weight_decay}


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter), optionally AMSGrad.

    Update rule at step ``t`` (counted from 1), slots ``m``, ``v`` (and ``v_max``)::

        param *= 1 - lr * weight_decay
        m = beta_1 * m + (1 - beta_1) * grad
        v = beta_2 * v + (1 - beta_2) * grad**2
        s = max(v_max, v) stored in v_max  (amsgrad)  or  s = v
        param -= lr * (m / (1 - beta_1**t)) / (sqrt(s / (1 - beta_2**t)) + epsilon)

    Parameters
    ----------
    learning_rate : float or callable
        A number ``> 0`` or a schedule. Defaults to ``0.001``.
    weight_decay : float
        Decoupled decay coefficient, ``>= 0``. Defaults to ``0.004`` (Keras' value; PyTorch
        uses 0.01).
    beta_1 : float
        Decay of the first moment, in ``[0, 1)``. Defaults to ``0.9``.
    beta_2 : float
        Decay of the second moment, in ``[0, 1)``. Defaults to ``0.999``.
    epsilon : float
        Added to the denominator, ``> 0``. Defaults to ``1e-7``.
    amsgrad : bool
        Use the running maximum of ``v`` (AMSGrad). Defaults to ``False``.
    clipnorm, clipvalue, global_clipnorm : float or None
        Gradient clipping, see :class:`Optimizer`. Default to ``None``.

    Notes
    -----
    Slots: ``("m", "v")``, plus ``"v_max"`` with ``amsgrad``. ``kernel_spec()["kind"]`` is
    ``"adam"`` with ``decoupled=True``.

    Differences from Keras: the decay step is Keras' (``param -= lr * weight_decay * param``,
    before the Adam step); epsilon sits outside the square root of the bias-corrected second
    moment, as in PyTorch (see :class:`Adam`).

    Examples
    --------
    >>> import numpy as np
    >>> from mlp.backends import get_backend
    >>> from mlp.optimizers import AdamW
    >>> params = np.array([1.0, -2.0]); grads = np.array([0.5, -0.5])
    >>> AdamW(learning_rate=0.1, weight_decay=0.5).apply(get_backend("reference"), params, grads)
    >>> params.round(6)
    array([ 0.85, -1.8 ])
    """

    _decoupled = True

    def __init__(self, learning_rate: LearningRate = 0.001, weight_decay: float = 0.004,
                 beta_1: float = 0.9, beta_2: float = 0.999, epsilon: float = 1e-7,
                 amsgrad: bool = False, clipnorm: Optional[float] = None,
                 clipvalue: Optional[float] = None, global_clipnorm: Optional[float] = None):
        super().__init__(learning_rate, beta_1, beta_2, epsilon, amsgrad, weight_decay,
                         clipnorm, clipvalue, global_clipnorm)


class RMSprop(Optimizer):
    """RMSprop, optionally centered and with momentum.

    Update rule (PyTorch's form), slots ``mean_square`` (and ``velocity``, ``mean_grad``)::

        g = grad + weight_decay * param
        mean_square = rho * mean_square + (1 - rho) * g**2
        centered:  mean_grad = rho * mean_grad + (1 - rho) * g
                   denom = sqrt(max(mean_square - mean_grad**2, 0)) + epsilon
        else:      denom = sqrt(mean_square) + epsilon
        momentum > 0:  velocity = momentum * velocity + g / denom;  param -= lr * velocity
        momentum = 0:  param -= lr * g / denom

    Parameters
    ----------
    learning_rate : float or callable
        A number ``> 0`` or a schedule. Defaults to ``0.001``.
    rho : float
        Decay of the mean square, in ``[0, 1)``. Defaults to ``0.9``.
    momentum : float
        In ``[0, 1)``. Defaults to ``0.0``.
    epsilon : float
        Added to the denominator, ``> 0``. Defaults to ``1e-7``.
    centered : bool
        Divide by the estimated standard deviation rather than the root mean square. Defaults
        to ``False``.
    weight_decay : float
        L2 coefficient added to the gradient, ``>= 0``. Defaults to ``0.0``.
    clipnorm, clipvalue, global_clipnorm : float or None
        Gradient clipping, see :class:`Optimizer`. Default to ``None``.

    Notes
    -----
    Slots: ``("mean_square",)``, then ``"velocity"`` when ``momentum > 0``, then ``"mean_grad"``
    when ``centered``.

    Differences from Keras: epsilon is added outside the square root, as in PyTorch (Keras uses
    ``sqrt(mean_square + epsilon)``); Keras' momentum accumulates ``lr * g / denom`` (the learning
    rate inside the velocity), the same steps for a constant learning rate. Keras 3 applies
    ``weight_decay`` decoupled; here it is L2 added to the gradient, as PyTorch's ``RMSprop``.

    Examples
    --------
    >>> import numpy as np
    >>> from mlp.backends import get_backend
    >>> from mlp.optimizers import RMSprop
    >>> params = np.array([1.0, -2.0]); grads = np.array([0.5, -0.5])
    >>> RMSprop(learning_rate=0.1, rho=0.75).apply(get_backend("reference"), params, grads)
    >>> params.round(6)
    array([ 0.8, -1.8])
    """

    kind = "rmsprop"

    def __init__(self, learning_rate: LearningRate = 0.001, rho: float = 0.9,
                 momentum: float = 0.0, epsilon: float = 1e-7, centered: bool = False,
                 weight_decay: float = 0.0, clipnorm: Optional[float] = None,
                 clipvalue: Optional[float] = None, global_clipnorm: Optional[float] = None):
        super().__init__(learning_rate, clipnorm, clipvalue, global_clipnorm)
        self.rho = check_fraction("rho", rho)
        self.momentum = check_fraction("momentum", momentum)
        self.epsilon = check_positive("epsilon", epsilon)
        self.centered = check_bool("centered", centered)
        self.weight_decay = check_non_negative("weight_decay", weight_decay)

    @property
    def slot_names(self) -> Tuple[str, ...]:
        return (("mean_square",) + (("velocity",) if self.momentum > 0 else ())
                + (("mean_grad",) if self.centered else ()))

    def _update(self, backend, params, grads, lr, step):
        slots = self.slots
        backend.rmsprop_update(params, grads, slots["mean_square"], lr=lr,
                               velocity=slots.get("velocity"), mean_grad=slots.get("mean_grad"),
                               **self._update_options())

    def _update_options(self):
        return {"rho": self.rho, "epsilon": self.epsilon, "momentum": self.momentum,
                "centered": self.centered, "weight_decay": self.weight_decay}

    def _hyperparameters(self):
        return {"rho": self.rho, "momentum": self.momentum, "epsilon": self.epsilon,
                "centered": self.centered, "weight_decay": self.weight_decay}


class Adagrad(Optimizer):
    """Adagrad: per-parameter rates from the sum of squared gradients.

    Update rule, slot ``accumulator`` (starting at ``initial_accumulator_value``)::

        g = grad + weight_decay * param
        accumulator += g**2
        param -= lr * g / (sqrt(accumulator) + epsilon)

    Parameters
    ----------
    learning_rate : float or callable
        A number ``> 0`` or a schedule. Defaults to ``0.001``.
    initial_accumulator_value : float
        Starting value of every accumulator element, ``>= 0``. Defaults to ``0.1``.
    epsilon : float
        Added to the denominator, ``> 0``. Defaults to ``1e-7``.
    weight_decay : float
        L2 coefficient added to the gradient, ``>= 0``. Defaults to ``0.0``.
    clipnorm, clipvalue, global_clipnorm : float or None
        Gradient clipping, see :class:`Optimizer`. Default to ``None``.

    Notes
    -----
    Slots: ``("accumulator",)``.

    Differences from Keras: epsilon is added outside the square root, as in PyTorch (Keras uses
    ``sqrt(accumulator + epsilon)``). Keras 3 applies ``weight_decay`` decoupled; here it is L2
    added to the gradient, as PyTorch's ``Adagrad``. Defaults are Keras' (PyTorch: learning rate
    0.01, initial accumulator 0, epsilon 1e-10).

    Examples
    --------
    >>> import numpy as np
    >>> from mlp.backends import get_backend
    >>> from mlp.optimizers import Adagrad
    >>> params = np.array([1.0, -2.0]); grads = np.array([0.5, -0.5])
    >>> Adagrad(learning_rate=0.1, initial_accumulator_value=0.75).apply(
    ...     get_backend("reference"), params, grads)
    >>> params.round(6)
    array([ 0.95, -1.95])
    """

    kind = "adagrad"

    def __init__(self, learning_rate: LearningRate = 0.001,
                 initial_accumulator_value: float = 0.1, epsilon: float = 1e-7,
                 weight_decay: float = 0.0, clipnorm: Optional[float] = None,
                 clipvalue: Optional[float] = None, global_clipnorm: Optional[float] = None):
        super().__init__(learning_rate, clipnorm, clipvalue, global_clipnorm)
        self.initial_accumulator_value = check_non_negative("initial_accumulator_value",
                                                             initial_accumulator_value)
        self.epsilon = check_positive("epsilon", epsilon)
        self.weight_decay = check_non_negative("weight_decay", weight_decay)

    @property
    def slot_names(self) -> Tuple[str, ...]:
        return ("accumulator",)

    def _slot_initial_value(self) -> float:
        return self.initial_accumulator_value

    def _update(self, backend, params, grads, lr, step):
        backend.adagrad_update(params, grads, self.slots["accumulator"], lr=lr,
                               **self._update_options())

    def _update_options(self):
        return {"epsilon": self.epsilon, "weight_decay": self.weight_decay}

    def _hyperparameters(self):
        return {"initial_accumulator_value": self.initial_accumulator_value,
                "epsilon": self.epsilon, "weight_decay": self.weight_decay}


# --------------------------------------------------------------- registry
OPTIMIZERS: Dict[str, Type[Optimizer]] = {
    cls.__name__.lower(): cls for cls in (SGD, Adam, AdamW, RMSprop, Adagrad)
}
"""The optimizers by lower-case name, as :func:`get` knows them."""


def _lookup(name: str, argument: str) -> Type[Optimizer]:
    """The optimizer class called ``name`` (case-insensitive)."""
    cls = OPTIMIZERS.get(name.lower()) if isinstance(name, str) else None
    if cls is None:
        fail(argument, f"one of {sorted(OPTIMIZERS)} (case-insensitive)", name)
    return cls


def serialize(optimizer: Optimizer) -> Dict[str, Any]:
    """``{"class_name": ..., "config": ...}`` for an optimizer, read back by :func:`get`.

    Raises
    ------
    TypeError
        If ``optimizer`` is not an :class:`Optimizer`, or its learning rate is a plain callable.
    """
    if not isinstance(optimizer, Optimizer):
        fail("optimizer", "an mlp.optimizers.Optimizer", optimizer, TypeError)
    return {"class_name": type(optimizer).__name__, "config": optimizer.get_config()}


def deserialize(config: Mapping[str, Any]) -> Optimizer:
    """Rebuild an optimizer from the dict written by :func:`serialize`.

    Raises
    ------
    TypeError
        If ``config`` is not a dict with the keys ``"class_name"`` and ``"config"``.
    ValueError
        If the class name is unknown (the message lists the valid ones).
    """
    if not isinstance(config, Mapping) or not {"class_name", "config"} <= set(config):
        fail("config", 'a dict with the keys "class_name" and "config"', config, TypeError)
    return _lookup(config["class_name"], "class_name").from_config(config["config"])


def get(identifier: Union[Optimizer, str, Mapping[str, Any]]) -> Optimizer:
    """An optimizer from an instance (returned as is), a name, or a serialised dict.

    Parameters
    ----------
    identifier : Optimizer, str or dict
        A name is one of :data:`OPTIMIZERS` (case-insensitive) and gives its defaults; a dict is
        the output of :func:`serialize`.

    Raises
    ------
    ValueError
        If the name is unknown (the message lists the valid ones).
    TypeError
        If ``identifier`` is of another type.

    Examples
    --------
    >>> from mlp.optimizers import get
    >>> get("RMSprop").learning_rate
    0.001
    >>> get({"class_name": "SGD", "config": {"momentum": 0.9}}).momentum
    0.9
    """
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str):
        return _lookup(identifier, "optimizer")()
    if isinstance(identifier, Mapping):
        return deserialize(identifier)
    fail("optimizer", f"an Optimizer, a name in {sorted(OPTIMIZERS)} or a serialised dict",
          identifier, TypeError)


__all__ = [
    "Adagrad",
    "Adam",
    "AdamW",
    "OPTIMIZERS",
    "Optimizer",
    "RMSprop",
    "SGD",
    "deserialize",
    "get",
    "serialize",
]
