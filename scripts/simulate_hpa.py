#!/usr/bin/env python
"""Predict Kubernetes deployments of a model: simulate the HPA under a siege load profile.

The same as ``foodclf simulate`` (foodclf/commands/simulate.py)."""
import sys

from foodclf.cli import run_cli
from foodclf.commands.simulate import main

if __name__ == "__main__":
    sys.exit(run_cli(main))
