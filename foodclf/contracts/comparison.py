"""comparison.json: what the comparison found, for programs (the report's numbers and verdicts).

Written by foodclf.report.compare into the report directory; docs/compare.md describes it.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Literal

from foodclf.contracts import contract, file_in, read

COMPARISON_FILE = "comparison.json"
SCHEMA_VERSION = 1


@contract
class CriterionInfo:
    name: str                                  # the column's id, the key of Candidate.values
    label: str
    unit: str
    better: Literal["higher", "lower"]
    group: Literal["optimizing", "operational"]
    pareto: bool                               # used in the Pareto sets of its group


@contract
class BadClass:
    name: str
    accuracy: float


@contract
class Candidate:
    name: str                                  # "vgg16" or "vgg16 + deployment_hpa"
    model: str
    deployment: str | None                     # None: the model as one replica
    scope: Literal["models", "deployments"]
    run_dir: str
    values: dict[str, float | None]            # criterion name -> raw value, None when not measured
    bad_threshold: float | None
    bad_classes: list[BadClass]                # below bad_threshold, worst first


@contract
class ParetoSet:
    criteria: list[str]                        # the criteria compared
    unused: list[str]                          # Pareto criteria no candidate of the scope has
    efficient: list[str]
    dominated_by: dict[str, str]               # dominated candidate -> one efficient candidate dominating it
    excluded: dict[str, list[str]]             # candidate -> the criteria it lacks (not compared)


@contract
class Comparison:
    schema_version: Literal[SCHEMA_VERSION]   # 1
    created: str                               # ISO 8601, UTC
    criteria: list[CriterionInfo]
    candidates: list[Candidate]
    pareto: dict[str, dict[str, ParetoSet]]    # scope -> "optimizing" | "operational" | "both" -> set
    recommendations: dict[str, list[str]]      # scope -> "Best accuracy and decent memory: vgg16 + ..."
    plots: dict[str, list[str]]                # scope -> PNG file names in the report directory
    confusion_matrices: list[str]              # PNG file names in the report directory
    missing: list[str]                         # one line per stage file a candidate lacks
    # one line per run with figures from elsewhere than the headings say (its image's replica memory)
    sources: list[str] = dataclasses.field(default_factory=list)


def read_comparison(path_or_dir: str | os.PathLike) -> Comparison:
    """Read and validate a comparison.json (a file, or the report directory holding one)."""
    return read(file_in(path_or_dir, COMPARISON_FILE), Comparison, SCHEMA_VERSION,
                "rerun `foodclf compare` to write it again")
