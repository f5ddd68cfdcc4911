#!/usr/bin/env python
"""Evaluate a trained run: accuracy, loss, per-class figures and the classes below a threshold,

The same as ``foodclf evaluate`` (foodclf/commands/evaluate.py)."""
import sys

from foodclf.cli import run_cli
from foodclf.commands.evaluate import main

if __name__ == "__main__":
    sys.exit(run_cli(main))
