"""scikit-learn's learning-rate rules for its stochastic solvers, applied between epochs.

``sklearn.neural_network`` changes the step size only at the end of an epoch:

- ``"constant"``: ``learning_rate_init`` throughout;
- ``"invscaling"`` (``solver="sgd"`` only): ``learning_rate_init / (t + 1) ** power_t``, with
  ``t`` the number of samples trained on so far (the estimator's ``t_``);
- ``"adaptive"`` (``solver="sgd"`` only): divided by 5 each time the epochs stop improving
  (the rule of ``n_iter_no_change`` and ``tol``), training stops once it falls below ``1e-6``.

With ``solver="adam"`` the schedule is always constant, and a plateau stops training.
"""
from __future__ import annotations

ADAPTIVE_DIVISOR = 5.0
"""What ``"adaptive"`` divides the learning rate by on a plateau (scikit-learn's value)."""

ADAPTIVE_FLOOR = 1e-6
"""Below this learning rate ``"adaptive"`` stops training instead (scikit-learn's value)."""


class EpochLearningRate:
    """The learning rate of the next epoch, and what a plateau does to it.

    Parameters
    ----------
    solver : {"sgd", "adam"}
    schedule : {"constant", "invscaling", "adaptive"}
        Only used with ``solver="sgd"``, as in scikit-learn.
    initial : float
        ``learning_rate_init``.
    power_t : float
        The exponent of ``"invscaling"``.

    Examples
    --------
    >>> rate = EpochLearningRate("sgd", "invscaling", 0.1, 0.5)
    >>> rate.epoch_end(samples_seen=3)
    >>> rate.value
    0.05
    """

    def __init__(self, solver: str, schedule: str, initial: float, power_t: float):
        self.schedule = schedule if solver == "sgd" else "constant"
        self.initial = float(initial)
        self.power_t = float(power_t)
        self.value = float(initial)

    def epoch_end(self, samples_seen: int) -> None:
        """Update after an epoch; ``samples_seen`` is the running count ``t_``."""
        if self.schedule == "invscaling":
            self.value = self.initial / (samples_seen + 1) ** self.power_t

    def plateau(self, message: str, verbose: bool) -> bool:
        """The epochs stopped improving; return whether training stops (else the rate
        dropped and training goes on)."""
        if self.schedule != "adaptive":
            if verbose:
                print(message + " Stopping.")
            return True
        if self.value <= ADAPTIVE_FLOOR:
            if verbose:
                print(message + " Learning rate too small. Stopping.")
            return True
        self.value /= ADAPTIVE_DIVISOR
        if verbose:
            print(message + f" Setting learning rate to {self.value:f}")
        return False
