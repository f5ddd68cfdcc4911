"""The report as HTML and Markdown, rendered from the jinja2 templates in ``templates/``.

Both formats get the same view of the comparison (``report_view``), in the order a reader choosing
a model and a deployment needs it: the recommendations first, then the tables, plots, Pareto sets
and one section per model. The wording around the figures lives in the templates. The HTML is
autoescaped and self-contained (inline CSS, images as base64 data URIs, no scripts): one file to
send. The Markdown references the PNGs beside it.
"""
from __future__ import annotations

import base64
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from foodclf.report.analysis import Pick, evidence
from foodclf.report.candidates import SCOPES, Candidate, RunInputs
from foodclf.report.criteria import Criteria
from foodclf.report.headings import peak_loads, scope_settings
from foodclf.report.pareto import ParetoResult
from foodclf.report.plots import Plot
from foodclf.report.table import report_tables

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
                sets: dict[str, dict[str, ParetoResult]], picks: dict[str, list[Pick]],
                pair_plots: dict[str, list[Plot]], confusions: list[Plot], notes: list[str],
                sources: Sequence[str] = ()) -> dict[str, Any]:
    """What the templates show, in reading order: recommendations, the tables of figures, plots,
    Pareto sets, then one section per model (its classes below the threshold, its confusion matrix)."""
    thresholds = sorted({c.bad_threshold for c in candidates if c.bad_threshold is not None})
    threshold = f"{thresholds[0]:g}" if len(thresholds) == 1 else ""
    settings = scope_settings(runs)
    tables = report_tables(candidates, criteria, settings, threshold)
    return {
        "written": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "models": len(runs), "candidates": len(candidates),
        "recommendations": [{"label": _scope_heading(scope, settings), "picks": [_pick(p, candidates) for p in found]}
                            for scope, found in picks.items()],
        "tables": [{"label": SCOPES[scope], "caption": _caption(scope, runs), **table}
                   for scope, table in tables.items()],
        "missing": notes,
        "sources": list(sources),
        "plots": [{"label": SCOPES[scope], "plots": plots} for scope, plots in pair_plots.items()],
        "pareto": [_pareto_scope(scope, results, candidates, criteria) for scope, results in sets.items()],
        "model_sections": [_model_section(run, candidates, confusions) for run in runs],
    }


def _scope_heading(scope: str, settings: dict[str, str]) -> str:
    """'Models (one replica, 10 users)', 'Models × deployments (under the challenge profile)'."""
    if scope == "models":
        return f"Models ({settings['model']})"
    return f"{SCOPES[scope]} ({settings['deployment'].removeprefix('deployment ')})"


def _pick(pick: Pick, candidates: Sequence[Candidate]) -> dict[str, Any]:
    return {"reason": pick.reason, "candidate": pick.candidate, "tied": pick.recommendation.tied_with,
            "evidence": evidence(pick, candidates)}


def _caption(scope: str, runs: Sequence[RunInputs]) -> str:
    """Where a scope's figures come from, and the load the simulations ran at."""
    if scope == "models":
        return "Each model served as one replica: the load test (loadtest.json) and the evaluation (metrics.json)."
    loads = peak_loads(runs)
    at = f", at a peak load of {' / '.join(f'{x:g}' for x in loads)} × one replica's capacity" if loads else ""
    return f"Each model under each deployment: the HPA simulation (simulations/*.json){at}; the evaluation " \
           "(metrics.json)."


def _model_section(run: RunInputs, candidates: Sequence[Candidate], confusions: list[Plot]) -> dict[str, Any]:
    """One model's details: its classes below the threshold, worst first, and its confusion matrix."""
    mine = next((c for c in candidates if c.model == run.name), None)
    return {"name": run.name, "evaluated": run.metrics is not None,
            "threshold": "" if mine is None or mine.bad_threshold is None else f"{mine.bad_threshold:g}",
            "bad_classes": [] if mine is None else [{"name": n, "accuracy": f"{a:.2f}"} for n, a in mine.bad_classes],
            "confusion": next((p for p in confusions if p.points == [run.name]), None)}


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
