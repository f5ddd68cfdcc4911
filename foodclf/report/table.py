"""The tables of figures: summary.csv (every candidate, raw values, the bad classes' names) and the
report's tables (one per scope, formatted values, a count of bad classes and no names: those go to
each model's own section)."""
from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from foodclf.io import atomic_write_text
from foodclf.report.analysis import SCOPE_KINDS
from foodclf.report.candidates import ONE_REPLICA, Candidate
from foodclf.report.criteria import Criteria, Criterion
from foodclf.report.headings import Heading, column_heading

BAD_CLASS_NAMES = "Classes below threshold (names)"


def report_tables(candidates: Sequence[Candidate], criteria: Criteria, settings: dict[str, str],
                  threshold: str) -> dict[str, dict[str, Any]]:
    """``{scope: {"headings": [Heading], "rows": [[str]], "name_columns": n}}``: Model (and Deployment),
    then the criteria the scope has a source for, each heading naming its unit and what was measured
    (``settings[kind]``, foodclf.report.headings)."""
    tables = {}
    for scope, kind in SCOPE_KINDS.items():
        in_scope = [c for c in candidates if c.scope == scope]
        if not in_scope:
            continue
        columns = [c for c in criteria.criteria if kind in c.sources]
        names = [Heading("Model")] + ([Heading("Deployment")] if kind == "deployment" else [])
        headings = names + [column_heading(c, kind, settings[kind], threshold) for c in columns]
        rows = [[cand.model] + ([cand.deployment or ""] if kind == "deployment" else [])
                + [c.show(cand.values.get(c.name)) for c in columns] for cand in in_scope]
        tables[scope] = {"headings": headings, "rows": rows, "name_columns": len(names)}
    return tables


def csv_rows(candidates: Sequence[Candidate], criteria: Criteria) -> tuple[list[str], list[list[Any]]]:
    """Headers and rows of summary.csv: every candidate and criterion, raw values, the bad classes' names."""
    headers = ["Candidate", "Model", "Deployment"]
    for c in criteria.criteria:
        headers.append(c.heading)
        if _lists_bad_classes(c):
            headers.append(BAD_CLASS_NAMES)
    rows = []
    for cand in candidates:
        row: list[Any] = [cand.name, cand.model, cand.deployment or ONE_REPLICA]
        for c in criteria.criteria:
            value = cand.values.get(c.name)
            row.append("" if value is None else value)
            if _lists_bad_classes(c):
                row.append("; ".join(name for name, _ in cand.bad_classes))   # worst first
        rows.append(row)
    return headers, rows


def write_summary_csv(candidates: Sequence[Candidate], criteria: Criteria, path: Path) -> Path:
    headers, rows = csv_rows(candidates, criteria)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(headers)
    writer.writerows(rows)
    return atomic_write_text(path, buffer.getvalue())


def _lists_bad_classes(criterion: Criterion) -> bool:
    """In summary.csv the class-count column is followed by the class names."""
    source = criterion.sources.get("model")
    return source is not None and (source.file, source.path) == ("derived", "bad_class_count")
