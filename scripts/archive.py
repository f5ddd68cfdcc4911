#!/usr/bin/env python
"""Pack a trained run into a TorchServe model archive: EXPORT_PATH/NAME.mar.

The same as ``foodclf archive`` (foodclf/commands/archive.py)."""
import sys

from foodclf.cli import run_cli
from foodclf.commands.archive import main

if __name__ == "__main__":
    sys.exit(run_cli(main))
