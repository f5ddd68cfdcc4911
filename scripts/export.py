#!/usr/bin/env python
"""Export a trained run into faster variants (ONNX Runtime, INT8, OpenVINO), each evaluated and

The same as ``foodclf export`` (foodclf/commands/export.py)."""
import sys

from foodclf.cli import run_cli
from foodclf.commands.export import main

if __name__ == "__main__":
    sys.exit(run_cli(main))
