#!/usr/bin/env python
"""Load-test a served model like siege, with locust: transaction rate, response time,

The same as ``foodclf loadtest`` (foodclf/commands/loadtest.py)."""
import sys

from foodclf.cli import run_cli
from foodclf.commands.loadtest import main

if __name__ == "__main__":
    sys.exit(run_cli(main))
