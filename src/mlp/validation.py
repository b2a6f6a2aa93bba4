"""Checks of arguments at the public API, in one form: every check takes ``(name, value, ...)``,
returns the value normalised (a Python ``int``, ``float`` or ``bool``) and raises

    ``<name>: expected <what was expected>, got <what came in>``

with ``TypeError`` for a value of the wrong kind and ``ValueError`` for one out of range (a
few older public checks raise ``ValueError`` for both; they say so with ``wrong_type``).
"""
from __future__ import annotations

import math
import numbers
from typing import Any, NoReturn, Optional, Type

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def fail(name: str, expected: str, value: Any, error: Type[Exception] = ValueError) -> NoReturn:
    """Raise ``error`` with the message ``"<name>: expected <expected>, got <value!r>"``."""
    fail_described(name, expected, repr(value), error)


def fail_described(name: str, expected: str, got: str,
                   error: Type[Exception] = ValueError) -> NoReturn:
    """Raise ``error`` with the message ``"<name>: expected <expected>, got <got>"``."""
    raise error(f"{name}: expected {expected}, got {got}")


def check_real(name: str, value: Any, expected: str = "a finite number") -> float:
    """A finite real number (not a bool), returned as a float."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        fail(name, expected, value, TypeError)
    if not math.isfinite(value):
        fail(name, expected, value)
    return float(value)


def check_positive(name: str, value: Any) -> float:
    """A finite number ``> 0``, returned as a float."""
    value = check_real(name, value, "a finite number > 0")
    if value <= 0:
        fail(name, "a finite number > 0", value)
    return value


def check_optional_positive(name: str, value: Any) -> Optional[float]:
    """``None`` or a finite number ``> 0`` (returned as a float)."""
    return None if value is None else check_positive(name, value)


def check_non_negative(name: str, value: Any) -> float:
    """A finite number ``>= 0``, returned as a float."""
    value = check_real(name, value, "a finite number >= 0")
    if value < 0:
        fail(name, "a finite number >= 0", value)
    return value


def check_fraction(name: str, value: Any, upper_inclusive: bool = False) -> float:
    """A number in ``[0, 1)`` (or ``[0, 1]`` with ``upper_inclusive``), returned as a float."""
    expected = f"a number in {'[0, 1]' if upper_inclusive else '[0, 1)'}"
    value = check_real(name, value, expected)
    if value < 0 or value > 1 or (value == 1 and not upper_inclusive):
        fail(name, expected, value)
    return value


def check_int(name: str, value: Any, minimum: int, wrong_type: Type[Exception] = TypeError,
              expected: Optional[str] = None, maximum: Optional[int] = None) -> int:
    """An integer (Python or NumPy, not bool) ``>= minimum`` (and ``<= maximum`` when given),
    returned as an int.

    ``expected`` replaces the default wording ``"an integer >= <minimum>"`` (``"an integer in
    [<minimum>, <maximum>]"`` with a maximum).
    """
    expected = expected or (f"an integer >= {minimum}" if maximum is None
                            else f"an integer in [{minimum}, {maximum}]")
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        fail(name, expected, value, wrong_type)
    if value < minimum or (maximum is not None and value > maximum):
        fail(name, expected, value)
    return int(value)


def check_positive_int(name: str, value: Any) -> int:
    """An integer ``>= 1``; ``ValueError`` for anything else (sizes and counts of ``fit``)."""
    return check_int(name, value, 1, wrong_type=ValueError)


def check_non_negative_int(name: str, value: Any) -> int:
    """An integer ``>= 0``; ``ValueError`` for anything else."""
    return check_int(name, value, 0, wrong_type=ValueError)


def check_seed(name: str, value: Any) -> Optional[int]:
    """``None`` or an integer ``>= 0``; ``ValueError`` for anything else."""
    if value is None:
        return None
    return check_int(name, value, 0, wrong_type=ValueError,
                     expected="a non-negative integer or None")


def check_seed_or_random_state(seed: Any, random_state: Any) -> Optional[int]:
    """One seed from ``seed=`` or scikit-learn's name for it, ``random_state=``.

    ``random_state`` may also be a ``numpy.random.RandomState`` (as scikit-learn takes it): a
    seed is then drawn from it, so successive calls differ as they do in scikit-learn.

    Raises
    ------
    ValueError
        When both are given and differ, or the value is no seed.
    """
    if random_state is None:
        return check_seed("seed", seed)
    if isinstance(random_state, np.random.RandomState):
        random_state = int(random_state.randint(np.iinfo(np.int32).max))
    random_state = check_seed("random_state", random_state)
    if seed is not None and seed != random_state:
        raise ValueError(f"seed, random_state: they are one argument under two names (mlp's "
                         f"and scikit-learn's); give one, got seed={seed!r} and "
                         f"random_state={random_state!r}")
    return random_state


def check_bool(name: str, value: Any) -> bool:
    """``True`` or ``False`` (NumPy booleans accepted), returned as a Python bool."""
    if not isinstance(value, (bool, np.bool_)):
        fail(name, "True or False", value, TypeError)
    return bool(value)


def check_float_dtype(name: str, dtype: Any) -> np.dtype:
    """``float32`` or ``float64`` as a NumPy dtype."""
    try:
        checked = np.dtype(dtype)
    except TypeError:
        checked = None
    if checked not in FLOAT_DTYPES:
        fail(name, "float32 or float64", dtype)
    return checked


__all__ = ["FLOAT_DTYPES", "check_bool", "check_fraction", "check_float_dtype", "check_int",
           "check_non_negative", "check_non_negative_int", "check_optional_positive",
           "check_positive", "check_positive_int", "check_real", "check_seed", "fail",
           "fail_described"]
