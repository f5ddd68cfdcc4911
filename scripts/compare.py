#!/usr/bin/env python
"""Compare models and deployments and write the report (table, Pareto sets, plots, recommendations).

The same as ``foodclf compare`` (foodclf/commands/compare.py)."""
import sys

from foodclf.cli import run_cli
from foodclf.commands.compare import main

if __name__ == "__main__":
    sys.exit(run_cli(main))
