"""The ``mlp`` command line (``mlp demo | train | predict | info``); see :mod:`mlp.cli.commands`."""
from .commands import main

__all__ = ["main"]
