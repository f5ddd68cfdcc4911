"""The ``foodclf`` command: one subcommand per stage, and what every command shares (logging to
the terminal, user errors printed as one line).

    foodclf train --backbone vgg16 --data DATA --out runs/vgg16
    foodclf evaluate runs/vgg16 --data DATA
    python -m foodclf --help

Each stage's options live in its module under foodclf.commands; ``scripts/<stage>.py`` run the
same ``main`` for people who work from a checkout.
"""
from __future__ import annotations

import importlib
import logging
import sys
from collections.abc import Callable

from foodclf.errors import FoodclfError

# subcommand -> (module under foodclf.commands, one line for --help), in the data flow's order
COMMANDS = {
    "sample": ("sample", "write the embedded sample dataset (11 Food-11 classes)"),
    "train": ("train", "train a classifier with the report's freeze-then-unfreeze recipe"),
    "evaluate": ("evaluate", "accuracy, per-class figures, size, memory, latency -> metrics.json"),
    "export": ("export", "faster variants of a run (ONNX Runtime, INT8, OpenVINO), evaluated"),
    "archive": ("archive", "pack a run or variant into a TorchServe .mar"),
    "serve": ("serve", "run TorchServe in the foreground with foodclf's settings"),
    "loadtest": ("loadtest", "siege-like load test of a served model -> loadtest.json"),
    "simulate": ("simulate", "predict the Kubernetes deployments (HPA simulation)"),
    "compare": ("compare", "the comparison report: table, Pareto sets, plots, recommendations"),
    "demo": ("demo", "every stage on the sample dataset, ending with the report"),
}


def run_cli(main: Callable[[list[str] | None], int | None], argv: list[str] | None = None) -> int:
    """Call ``main``; a FoodclfError prints 'error: ...' and exits 2 instead of a traceback."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        return main(argv) or 0
    except FoodclfError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def usage() -> str:
    width = max(len(name) for name in COMMANDS)
    lines = ["usage: foodclf COMMAND [options]   (foodclf COMMAND --help for its options)", "", "commands:"]
    lines += [f"  {name:<{width}}  {summary}" for name, (_, summary) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """``foodclf COMMAND ARGS...``: run the stage's command with its own arguments."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    if argv[0] in ("-V", "--version"):
        from foodclf import __version__

        print(f"foodclf {__version__}")
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"error: unknown command '{name}'; choose from {', '.join(COMMANDS)}\n\n{usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(f"foodclf.commands.{COMMANDS[name][0]}")
    sys.argv[0] = f"foodclf {name}"  # argparse names the command in its usage and errors
    return run_cli(module.main, rest)


def entry() -> None:
    """The console script ``foodclf``."""
    sys.exit(main())
