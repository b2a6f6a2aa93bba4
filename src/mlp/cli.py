"""Command line: ``mlp demo`` (a tiny training run) and ``mlp info`` (the build configuration)."""
from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from .backends import BACKENDS


def build_parser() -> argparse.ArgumentParser:
    """The ``mlp`` argument parser."""
    parser = argparse.ArgumentParser(prog="mlp", description="Multilayer perceptrons on fast kernels.")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="train a small network end to end and report it")
    demo.add_argument("--backend", choices=BACKENDS, default="cpu")
    demo.add_argument("--epochs", type=int, default=300)
    commands.add_parser("info", help="print version, OpenMP, threads and BLAS in use")
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point of ``python -m mlp`` and of the ``mlp`` console script."""
    args = build_parser().parse_args(argv)
    if args.command == "info":
        from ._config import show_config

        show_config()
        return 0
    if args.epochs < 1:
        print(f"mlp demo: error: --epochs must be at least 1, got {args.epochs}", file=sys.stderr)
        return 2
    from ._demo import run_demo

    result = run_demo(args.backend, args.epochs)
    return 0 if result["accuracy"] == result["accuracy"] else 1
