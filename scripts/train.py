#!/usr/bin/env python
"""Train a food classifier with the report's recipe.

The same as ``foodclf train`` (foodclf/commands/train.py)."""
import sys

from foodclf.cli import run_cli
from foodclf.commands.train import main

if __name__ == "__main__":
    sys.exit(run_cli(main))
