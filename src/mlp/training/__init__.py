"""The training engine: the step plan, the trainer (fit / evaluate / predict), callbacks and
progress display. It talks to a backend only through :mod:`mlp.backends.base`.
"""
