"""The comparison's rows: each candidate directory's stage files read into candidates.

A candidate directory holds whatever the earlier stages wrote: metrics.json (evaluation),
loadtest.json (load test), simulations/<deployment>.json (HPA simulation). Each run gives one
candidate as one replica (scope ``models``) and one per simulated deployment (``deployments``).
Each file is read through its stage's contract (foodclf.contracts); a criterion's source is a
dotted path into the file as written (docs/compare.md), so values are looked up in the
contract's JSON form, where a user may point at any field. Nothing here imports torch or
scikit-learn: the comparison loads no model.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from foodclf.contracts import to_json
from foodclf.contracts.image import IMAGE_FILE, ImageCheck, read_image_check
from foodclf.contracts.loadtest import LOADTEST_FILE, LoadTest, read_loadtest
from foodclf.contracts.metrics import CONFUSION_MATRIX_FILE, METRICS_FILE, Metrics, read_metrics
from foodclf.contracts.simulation import SIMULATIONS_DIR, Simulation, read_simulations
from foodclf.errors import RunDirError
from foodclf.report.criteria import Criteria

log = logging.getLogger(__name__)

ONE_REPLICA = "one replica"
SCOPES = {"models": "Models (one replica)", "deployments": "Models × deployments"}
STAGE_HINTS = {"metrics": "foodclf evaluate", "loadtest": "foodclf loadtest", "simulation": "foodclf simulate"}


@dataclass
class RunInputs:
    """The files one candidate directory holds; None / empty where a stage has not run."""

    run_dir: Path
    name: str
    metrics: Metrics | None
    loadtest: LoadTest | None
    simulations: dict[str, Simulation]    # deployment name -> its simulation
    confusion_png: Path | None = None     # the evaluation's confusion-matrix figure, when present
    image: ImageCheck | None = None       # the Kubernetes image checked with this run's model, when present

    def present(self, file: str) -> bool:
        return {"metrics": self.metrics is not None, "loadtest": self.loadtest is not None,
                "simulation": bool(self.simulations), "image": self.image is not None,
                "derived": self.metrics is not None}[file]


def read_run(run_dir: str | os.PathLike) -> RunInputs:
    """Read a candidate directory; it must hold at least one stage's output."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunDirError(f"{run_dir}: candidate directory not found")
    metrics = read_metrics(run_dir) if (run_dir / METRICS_FILE).is_file() else None
    loadtest = read_loadtest(run_dir) if (run_dir / LOADTEST_FILE).is_file() else None
    simulations = read_simulations(run_dir)
    if metrics is None and loadtest is None and not simulations:
        raise RunDirError(f"{run_dir}: nothing to compare (no {METRICS_FILE}, {LOADTEST_FILE} or "
                          f"{SIMULATIONS_DIR}/*.json); run scripts/evaluate.py on it first")
    name = (metrics.model.name if metrics else None) or (loadtest.model if loadtest else None) or run_dir.name
    confusion = run_dir / CONFUSION_MATRIX_FILE
    image = read_image_check(run_dir) if (run_dir / IMAGE_FILE).is_file() else None
    return RunInputs(run_dir, name, metrics, loadtest, simulations,
                     confusion if metrics is not None and confusion.is_file() else None, image)


@dataclass
class Candidate:
    """One row of the comparison: a model as one replica, or a model under a deployment."""

    model: str
    deployment: str | None                 # None: one replica (loadtest.json)
    run_dir: Path
    values: dict[str, float | None]
    bad_classes: list[tuple[str, float]]   # (class, accuracy) below the threshold, worst first
    bad_threshold: float | None

    @property
    def name(self) -> str:
        return self.model if self.deployment is None else f"{self.model} + {self.deployment}"

    @property
    def scope(self) -> str:
        return "models" if self.deployment is None else "deployments"


def bad_classes(metrics: Metrics, threshold: float | None) -> tuple[list[tuple[str, float]], float | None]:
    """Classes with accuracy below ``threshold`` (default: the one metrics.json used), worst first.

    A class without images in the split has no accuracy: it is not counted as bad."""
    optimizing = metrics.optimizing
    if threshold is None:
        return [(c.name, c.accuracy) for c in optimizing.bad_classes], optimizing.bad_threshold
    below = [(c.name, c.accuracy) for c in optimizing.per_class if c.accuracy is not None and c.accuracy < threshold]
    return sorted(below, key=lambda item: item[1]), threshold


def build_candidates(runs: Sequence[RunInputs], criteria: Criteria,
                     bad_threshold: float | None = None) -> list[Candidate]:
    """The one-replica candidate of every run, then every run x deployment."""
    candidates = []
    for run in runs:
        bad, threshold = bad_classes(run.metrics, bad_threshold) if run.metrics else ([], None)
        derived = {"bad_class_count": len(bad)} if run.metrics else None
        docs = {"metrics": _as_json(run.metrics), "loadtest": _as_json(run.loadtest), "derived": derived,
                "simulation": None, "image": None}
        candidates.append(Candidate(run.name, None, run.run_dir, _values(criteria, "model", docs), bad, threshold))
        for deployment, simulation in run.simulations.items():
            docs = {**docs, "simulation": _as_json(simulation), "image": _as_json(run.image)}
            candidates.append(Candidate(run.name, deployment, run.run_dir,
                                        _values(criteria, "deployment", docs), bad, threshold))
    names = [c.name for c in candidates]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise RunDirError(f"two candidate directories share the model name {', '.join(repeated)}; "
                          "compare runs with distinct directory names")
    return candidates


def _as_json(document: Any) -> dict | None:
    """A contract as the file's JSON: the form a criterion's dotted source path reads."""
    return None if document is None else to_json(document)


def _values(criteria: Criteria, kind: str, docs: dict[str, Any]) -> dict[str, float | None]:
    values = {}
    for criterion in criteria.criteria:
        first = criterion.sources.get(kind)
        values[criterion.name] = None
        for source in first.chain if first else []:
            doc = docs.get(source.file)
            value = source.read(doc) if doc is not None else None
            if value is not None:
                values[criterion.name] = value
                break
    return values


def coverage_notes(runs: Sequence[RunInputs], criteria: Criteria) -> list[str]:
    """One line per missing stage: which columns it leaves empty and which script fills them."""
    notes = []
    for run in runs:
        for file, hint in STAGE_HINTS.items():
            if run.present(file):
                continue
            kind = "deployment" if file == "simulation" else "model"
            columns = [c.label for c in criteria.criteria if c.sources.get(kind) and c.sources[kind].files == [file]]
            if file == "simulation":
                notes.append(f"{run.name}: no {SIMULATIONS_DIR}/*.json, so no model × deployment rows "
                             f"(run {hint})")
            elif columns:
                notes.append(f"{run.name}: no {file}.json; empty: {', '.join(columns)} (run {hint})")
        if run.metrics is not None and run.confusion_png is None:
            notes.append(f"{run.name}: no {CONFUSION_MATRIX_FILE}, so no confusion matrix "
                         f"(run {STAGE_HINTS['metrics']})")
    return notes


def source_notes(runs: Sequence[RunInputs]) -> list[str]:
    """One line per run whose figures do not all come from the stage files named in the headings:
    the deployments' replica memory of a run whose image was checked (image.json)."""
    return [_image_note(run) for run in runs if run.image is not None]


def _image_note(run: RunInputs) -> str:
    image, load = run.image, run.image.load
    host = run.loadtest.server.pss_mb_peak if run.loadtest else None
    beside = f"; on this machine's host the load test read {host:.0f} MB" if host is not None else ""
    failed = f"; the image check FAILED: {'; '.join(image.problems)}" if image.problems else ""
    return (f"{run.name}: the deployments' replica memory is measured in the image {image.image} (torch "
            f"{image.torch}): {image.memory.pss_mb_peak:.0f} MB Σ PSS peak under {load.users} users{beside}{failed}")
