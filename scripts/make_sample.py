#!/usr/bin/env python
"""Write the embedded sample dataset: python scripts/make_sample.py OUT [--per-class N].

The same as ``foodclf sample`` (foodclf/commands/sample.py)."""
import sys

from foodclf.cli import run_cli
from foodclf.commands.sample import main

if __name__ == "__main__":
    sys.exit(run_cli(main))
