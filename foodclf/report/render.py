"""The report as HTML and Markdown, rendered from the jinja2 templates in ``templates/``.

Both formats get the same view of the comparison (``report_view``); the wording around the
figures lives in the templates. The HTML is autoescaped and self-contained (inline CSS, images
as base64 data URIs, no scripts): one file to send. The Markdown references the PNGs beside it.
"""
from __future__ import annotations

import base64
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from foodclf.report.candidates import SCOPES, Candidate, RunInputs
from foodclf.report.criteria import Criteria
from foodclf.report.pareto import ParetoResult
from foodclf.report.plots import Plot
from foodclf.report.table import table_rows

HTML_TEMPLATE = "report.html.j2"
MARKDOWN_TEMPLATE = "report.md.j2"


@cache
def environment() -> Environment:
    """The templates shipped in foodclf.report (package data); only ``*.html.j2`` is autoescaped."""
    env = Environment(loader=PackageLoader("foodclf.report", "templates"),
                      autoescape=select_autoescape(enabled_extensions=("html.j2",), default_for_string=True),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters["data_uri"] = _data_uri
    env.filters["md_cell"] = _md_cell
    return env


def render_html(view: dict[str, Any]) -> str:
    return environment().get_template(HTML_TEMPLATE).render(view)


def render_markdown(view: dict[str, Any]) -> str:
    return environment().get_template(MARKDOWN_TEMPLATE).render(view)


def report_view(runs: Sequence[RunInputs], candidates: Sequence[Candidate], criteria: Criteria,
                sets: dict[str, dict[str, ParetoResult]], recs: dict[str, list[str]],
                pair_plots: dict[str, list[Plot]], confusions: list[Plot], notes: list[str]) -> dict[str, Any]:
    """What the templates show, in reading order: summary, Pareto sets, plots, recommendations."""
    headers, rows = table_rows(candidates, criteria, formatted=True)
    thresholds = sorted({c.bad_threshold for c in candidates if c.bad_threshold is not None})
    return {
        "written": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "models": len(runs), "candidates": len(candidates),
        "thresholds": ", ".join(f"{t:g}" for t in thresholds),
        "summary": {"headers": headers, "rows": rows},
        "missing": notes,
        "pareto": [_pareto_scope(scope, results, candidates, criteria) for scope, results in sets.items()],
        "plots": [{"label": SCOPES[scope], "plots": plots} for scope, plots in pair_plots.items()],
        "confusions": confusions,
        "recommendations": [{"label": SCOPES[scope], "lines": lines} for scope, lines in recs.items()],
    }


def _pareto_scope(scope: str, results: dict[str, ParetoResult], candidates: Sequence[Candidate],
                  criteria: Criteria) -> dict[str, Any]:
    """One scope's three sets: what each compared and its efficient candidates, then each candidate's status."""
    sets = []
    for set_name, result in results.items():
        sets.append({"name": set_name.capitalize(),
                     "used": [criteria[c].label for c in result.criteria],
                     "unused": [criteria[c].label for c in result.unused],
                     "efficient": result.efficient})
    names = [c.name for c in candidates if c.scope == scope]
    return {"label": SCOPES[scope], "sets": sets,
            "headers": ["Candidate"] + [s.capitalize() for s in results],
            "rows": [[n] + [r.status(n) for r in results.values()] for n in names]}


def _data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def _md_cell(value: Any) -> str:
    return str(value).replace("|", "\\|")   # a pipe would split the cell
