#!/usr/bin/env python
"""Run TorchServe in the foreground with the repository's foodclf/serve/config.properties.

The same as ``foodclf serve`` (foodclf/commands/serve.py)."""
import sys

from foodclf.cli import run_cli
from foodclf.commands.serve import main

if __name__ == "__main__":
    sys.exit(run_cli(main))
