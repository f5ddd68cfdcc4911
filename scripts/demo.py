#!/usr/bin/env python
"""The whole pipeline in one command: data -> train -> evaluate -> archive -> serve -> load test

The same as ``foodclf demo`` (foodclf/commands/demo.py)."""
import sys

from foodclf.cli import run_cli
from foodclf.commands.demo import main

if __name__ == "__main__":
    sys.exit(run_cli(main))
