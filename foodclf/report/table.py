"""The summary table: one row per candidate, one column per criterion (report and summary.csv)."""
from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from foodclf.io import atomic_write_text
from foodclf.report.candidates import ONE_REPLICA, Candidate
from foodclf.report.criteria import Criteria, Criterion

BAD_CLASS_NAMES = "Classes below threshold (names)"


def table_rows(candidates: Sequence[Candidate], criteria: Criteria,
               formatted: bool) -> tuple[list[str], list[list[Any]]]:
    """Headers and rows of the summary table; ``formatted`` gives strings, else raw values (CSV)."""
    headers = ["Model", "Deployment"] if formatted else ["Candidate", "Model", "Deployment"]
    for c in criteria.criteria:
        headers.append(c.heading)
        if _lists_bad_classes(c):
            headers.append(BAD_CLASS_NAMES)
    rows = []
    for cand in candidates:
        row: list[Any] = ([] if formatted else [cand.name]) + [cand.model, cand.deployment or ONE_REPLICA]
        for c in criteria.criteria:
            value = cand.values.get(c.name)
            row.append(c.show(value) if formatted else ("" if value is None else value))
            if _lists_bad_classes(c):
                row.append(_bad_class_names(cand, formatted))
        rows.append(row)
    return headers, rows


def write_summary_csv(candidates: Sequence[Candidate], criteria: Criteria, path: Path) -> Path:
    headers, rows = table_rows(candidates, criteria, formatted=False)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(headers)
    writer.writerows(rows)
    return atomic_write_text(path, buffer.getvalue())


def _lists_bad_classes(criterion: Criterion) -> bool:
    """The class-count column is followed by the class names (the report names them)."""
    source = criterion.sources.get("model")
    return source is not None and (source.file, source.path) == ("derived", "bad_class_count")


def _bad_class_names(candidate: Candidate, formatted: bool) -> str:
    if formatted:
        return ", ".join(f"{name} ({accuracy:.2f})" for name, accuracy in candidate.bad_classes)
    return "; ".join(name for name, _ in candidate.bad_classes)
