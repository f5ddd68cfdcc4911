"""The comparison criteria as data: which number, read from which file, and which way is better.

A criterion is one column of the summary table; its ``unit`` and ``measure`` (what the number
is: "mean", "count", "model file") make the report's heading, with what the scope measured
(foodclf.report.headings). ``pareto: true`` puts it into the Pareto sets
of its group (optimizing or operational; "both" uses the two groups together). ``pairs`` are
the (a, b) criterion pairs that get a plot ("a against b", a on the y axis) and a
recommendation list. A user file (JSON or YAML, same shape as ``DEFAULT_CRITERIA``) replaces
the defaults; ``python scripts/compare.py --print-criteria`` writes them out to start from.

Each criterion reads its value per candidate kind: ``model`` (one replica: metrics.json and
loadtest.json) and ``deployment`` (model x deployment: metrics.json and
simulations/<deployment>.json). A source is ``"FILE:dotted.path"`` or
``{"file": FILE, "path": "dotted.path", "scale": factor}`` with FILE one of ``metrics``,
``loadtest``, ``simulation``, ``image`` (image.json, scripts/check_image.py) or ``derived`` (values
foodclf.report.compare computes: ``bad_class_count`` under the chosen threshold), or a list of
sources: the first that has a value wins (the deployments' replica memory: measured in the image
where it was checked, else the simulation's). A kind without a source leaves that column empty.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from foodclf.errors import SchemaError
from foodclf.report.pareto import DIRECTIONS

FILES = ("metrics", "loadtest", "simulation", "image", "derived")
GROUPS = ("optimizing", "operational")
KINDS = ("model", "deployment")

DEFAULT_CRITERIA: dict[str, Any] = {
    "criteria": [
        {"name": "accuracy", "label": "Accuracy", "unit": "", "measure": "fraction correct, evaluation split",
         "better": "higher", "group": "optimizing", "pareto": True, "format": ".4f",
         "source": "metrics:optimizing.accuracy"},
        {"name": "loss", "label": "Loss", "unit": "", "measure": "nats, mean cross-entropy, evaluation split",
         "better": "lower", "group": "optimizing", "pareto": False, "format": ".4f",
         "source": "metrics:optimizing.loss"},
        {"name": "bad_classes", "label": "Classes below threshold", "unit": "", "measure": "count",
         "better": "lower", "group": "optimizing", "pareto": True, "format": "d",
         "source": "derived:bad_class_count"},
        {"name": "disk_mb", "label": "Disk size", "unit": "MB", "measure": "model file", "better": "lower",
         "group": "operational", "pareto": True, "format": ".3g", "source": "metrics:operational.disk_mb"},
        # Three memories, one column each (docs/compare.md): never one column for two meanings.
        {"name": "model_memory_mb", "label": "Model memory in process", "unit": "MB",
         "measure": "evaluation process, no server", "better": "lower", "group": "operational", "pareto": True,
         "format": ".0f", "sources": {"model": "metrics:operational.memory_mb"}},
        {"name": "replica_pss_peak_mb", "label": "Replica PSS peak", "unit": "MB",
         "measure": "Σ PSS, frontend + workers", "better": "lower", "group": "operational", "pareto": False,
         "format": ".0f",
         "sources": {"model": "loadtest:server.pss_mb_peak",
                     # A pod is the image: its replica as measured in it, where the image was checked.
                     "deployment": ["image:memory.pss_mb_peak", "simulation:summary.replica_pss_mb_peak"]}},
        {"name": "deployment_pss_mb", "label": "Deployment PSS mean", "unit": "MB",
         "measure": "Σ PSS of all replicas", "better": "lower", "group": "operational", "pareto": True,
         "format": ".0f",
         "sources": {"deployment": {"file": "simulation", "path": "summary.memory_kb", "scale": 1 / 1024}}},
        {"name": "response_time_s", "label": "Response time", "unit": "s", "measure": "mean", "better": "lower",
         "group": "operational", "pareto": True, "format": ".3f",
         "sources": {"model": "loadtest:overall.response_time_s",
                     "deployment": "simulation:summary.response_time_s"}},
        {"name": "transaction_rate", "label": "Transaction rate", "unit": "/s", "better": "higher",
         "group": "operational", "pareto": True, "format": ".2f",
         "sources": {"model": "loadtest:overall.transaction_rate",
                     "deployment": "simulation:summary.transaction_rate"}},
        {"name": "p95_s", "label": "p95 latency", "unit": "s", "better": "lower", "group": "operational",
         "pareto": False, "format": ".3f",
         "sources": {"model": "loadtest:overall.p95_s", "deployment": "simulation:summary.p95_s"}},
        {"name": "cpu_cores", "label": "CPU", "unit": "cores", "measure": "mean", "better": "lower",
         "group": "operational", "pareto": False, "format": ".2f",
         "sources": {"model": "loadtest:overall.cpu_cores", "deployment": "simulation:summary.cpu_cores"}},
        {"name": "failures", "label": "Failed transactions", "unit": "", "measure": "count", "better": "lower",
         "group": "operational", "pareto": False, "format": "d",
         "sources": {"model": "loadtest:overall.failures", "deployment": "simulation:summary.failures"}},
        {"name": "pod_seconds", "label": "Pod time", "unit": "s", "measure": "Σ of every pod's time on a node",
         "better": "lower", "group": "operational", "pareto": False, "format": ".0f",
         "sources": {"deployment": "simulation:summary.pod_seconds"}},
    ],
    "pairs": [["accuracy", "model_memory_mb"], ["accuracy", "deployment_pss_mb"], ["accuracy", "transaction_rate"],
              ["accuracy", "response_time_s"]],
}


@dataclass(frozen=True)
class Source:
    file: str
    path: str
    scale: float = 1.0
    otherwise: Source | None = None    # read where this one has no value (its file absent, or no number)

    @property
    def chain(self) -> list[Source]:
        """This source and those it falls back to, in order."""
        return [self, *(self.otherwise.chain if self.otherwise else [])]

    @property
    def files(self) -> list[str]:
        return [source.file for source in self.chain]

    def read(self, document: Any) -> float | None:
        """The value at ``path`` in ``document`` (a parsed JSON file), scaled; None when absent."""
        value = document
        for key in self.path.split("."):
            if not isinstance(value, dict) or key not in value:
                return None
            value = value[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None
        return value * self.scale if self.scale != 1.0 else value


@dataclass(frozen=True)
class Criterion:
    name: str
    label: str
    better: str
    group: str
    sources: dict[str, Source]
    unit: str = ""
    measure: str = ""        # the report's column heading says it: "mean", "count", "model file"
    pareto: bool = True
    format: str = ".4g"

    @property
    def heading(self) -> str:
        """Column heading: the label with its unit, e.g. 'Memory (MB)'."""
        return f"{self.label} ({self.unit})" if self.unit else self.label

    def show(self, value: float | None) -> str:
        if value is None:
            return ""
        if self.format == "d":
            return str(int(round(value)))
        return format(value, self.format)


@dataclass(frozen=True)
class Criteria:
    criteria: list[Criterion]
    pairs: list[tuple[str, str]] = field(default_factory=list)

    def __getitem__(self, name: str) -> Criterion:
        for c in self.criteria:
            if c.name == name:
                return c
        raise KeyError(name)

    def pareto_set(self, groups: tuple[str, ...], kind: str | None = None) -> dict[str, str]:
        """``{name: direction}`` of the Pareto criteria in ``groups``, in table order; with ``kind``,
        only those with a source for that kind (a column that kind never has is not "unused")."""
        return {c.name: c.better for c in self.criteria
                if c.pareto and c.group in groups and (kind is None or kind in c.sources)}


def load_criteria(path: str | os.PathLike | None = None) -> Criteria:
    """The default criteria, or those of a JSON/YAML file (validated, errors name the field)."""
    if path is None:
        return parse_criteria(DEFAULT_CRITERIA, "default criteria")
    path = Path(path)
    if not path.is_file():
        raise SchemaError(f"{path}: criteria file not found")
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError, UnicodeDecodeError) as e:
        raise SchemaError(f"{path}: not valid JSON/YAML ({e})") from e
    return parse_criteria(data, str(path))


def parse_criteria(data: Any, where: str) -> Criteria:
    """Build Criteria from ``{"criteria": [...], "pairs": [[a, b], ...]}`` or a bare list of criteria."""
    if isinstance(data, list):
        data = {"criteria": data}
    if not isinstance(data, dict) or not isinstance(data.get("criteria"), list) or not data["criteria"]:
        raise SchemaError(f"{where}: expected a non-empty list 'criteria' (see docs/compare.md)")
    criteria = [_parse_criterion(item, f"{where}: criteria[{i}]") for i, item in enumerate(data["criteria"])]
    names = [c.name for c in criteria]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise SchemaError(f"{where}: criterion names must be unique, repeated: {', '.join(duplicates)}")
    pairs = []
    for i, pair in enumerate(data.get("pairs", [])):
        if not (isinstance(pair, list) and len(pair) == 2 and all(p in names for p in pair) and pair[0] != pair[1]):
            raise SchemaError(f"{where}: pairs[{i}] must be two different criterion names from {names}, got {pair!r}")
        pairs.append((pair[0], pair[1]))
    return Criteria(criteria, pairs)


def _parse_criterion(item: Any, where: str) -> Criterion:
    if not isinstance(item, dict):
        raise SchemaError(f"{where}: expected an object with name, label, better, group and source(s)")
    for key in ("name", "label", "better", "group"):
        if not isinstance(item.get(key), str) or not item[key]:
            raise SchemaError(f"{where}: field '{key}' must be a non-empty string")
    where = f"{where} ({item['name']})"
    if item["better"] not in DIRECTIONS:
        raise SchemaError(f"{where}: 'better' must be one of {list(DIRECTIONS)}, got {item['better']!r}")
    if item["group"] not in GROUPS:
        raise SchemaError(f"{where}: 'group' must be one of {list(GROUPS)}, got {item['group']!r}")
    if "source" in item:
        sources = {kind: _parse_source(item["source"], f"{where}: source") for kind in KINDS}
    elif isinstance(item.get("sources"), dict):
        unknown = set(item["sources"]) - set(KINDS)
        if unknown:
            raise SchemaError(f"{where}: sources: unknown kind(s) {sorted(unknown)}; use {list(KINDS)}")
        sources = {kind: _parse_source(spec, f"{where}: sources.{kind}") for kind, spec in item["sources"].items()}
    else:
        raise SchemaError(f"{where}: needs 'source' (both kinds) or 'sources' {{model: ..., deployment: ...}}")
    fmt = item.get("format", ".4g")
    try:
        format(1.0, fmt if fmt != "d" else "")    # "d" is ours: counts shown as integers
    except (ValueError, TypeError) as e:
        raise SchemaError(f"{where}: 'format' {fmt!r} is not a Python format spec ({e})") from e
    return Criterion(name=item["name"], label=item["label"], better=item["better"], group=item["group"],
                     sources=sources, unit=str(item.get("unit", "")), measure=str(item.get("measure", "")),
                     pareto=bool(item.get("pareto", True)), format=fmt)


def _parse_source(spec: Any, where: str) -> Source:
    if isinstance(spec, list):
        if not spec:
            raise SchemaError(f"{where}: an empty list of sources; give one source or several")
        chain = [_parse_source(one, f"{where}[{i}]") for i, one in enumerate(spec)]
        found = None
        for source in reversed(chain):
            found = Source(source.file, source.path, source.scale, found)
        return found
    if isinstance(spec, str):
        file, sep, path = spec.partition(":")
        spec = {"file": file, "path": path} if sep else {}
    if not isinstance(spec, dict) or not spec.get("file") or not spec.get("path"):
        raise SchemaError(f"{where}: expected 'FILE:dotted.path' or {{file, path, scale}}, got {spec!r}")
    if spec["file"] not in FILES:
        raise SchemaError(f"{where}: file must be one of {list(FILES)}, got {spec['file']!r}")
    scale = spec.get("scale", 1.0)
    if isinstance(scale, bool) or not isinstance(scale, (int, float)):
        raise SchemaError(f"{where}: 'scale' must be a number, got {scale!r}")
    return Source(spec["file"], spec["path"], float(scale))
