"""Compare models and deployments: the summary table, Pareto sets, plots, recommendations, report.

Reads what the earlier stages left in each candidate directory (metrics.json, loadtest.json,
simulations/<deployment>.json; whatever is present) and writes into the report directory:

    summary.csv          one row per candidate, raw values of every criterion
    comparison.json      candidates, Pareto sets (with one dominator each) and recommendations
                         (foodclf.contracts.comparison)
    <scope>_<a>_vs_<b>.png   one plot per criterion pair and scope (models, deployments)
    confusion_<model>.png    the evaluation's confusion matrix per model
    report.md, report.html   the report; report.html has its images inlined (one file to send)

Two scopes are compared separately, because their operational figures are measured differently:
``models`` (each model as one replica: metrics.json + loadtest.json) and ``deployments`` (each
model x deployment: metrics.json + the HPA simulation). docs/compare.md documents the rules.

This process never imports torch or scikit-learn: it reads files, it loads no model.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

from foodclf import contracts
from foodclf.contracts import created_now
from foodclf.contracts.comparison import COMPARISON_FILE, SCHEMA_VERSION, BadClass, Comparison, CriterionInfo, ParetoSet
from foodclf.contracts.comparison import Candidate as CandidateEntry
from foodclf.errors import RunDirError
from foodclf.io import atomic_write_text
from foodclf.report import render
from foodclf.report.analysis import pareto_sets, picks
from foodclf.report.candidates import Candidate, build_candidates, coverage_notes, read_run, source_notes
from foodclf.report.criteria import Criteria, load_criteria
from foodclf.report.pareto import ParetoResult
from foodclf.report.plots import Plot, copy_confusion_matrices, write_pair_plots
from foodclf.report.table import write_summary_csv

log = logging.getLogger(__name__)

__all__ = ["compare", "comparison_document", "build_candidates", "read_run"]


def compare(run_dirs: Sequence[str | os.PathLike], out_dir: str | os.PathLike,
            criteria: Criteria | str | os.PathLike | None = None, bad_threshold: float | None = None) -> Path:
    """Compare the candidate directories and write the report into ``out_dir``; returns report.html."""
    if not run_dirs:
        raise RunDirError("no candidate directories given; pass run directories holding metrics.json")
    if not isinstance(criteria, Criteria):
        criteria = load_criteria(criteria)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    runs = [read_run(d) for d in run_dirs]
    candidates = build_candidates(runs, criteria, bad_threshold)
    notes = coverage_notes(runs, criteria)
    for note in notes:
        log.warning("%s", note)
    sources = source_notes(runs)
    sets = pareto_sets(candidates, criteria)
    chosen = picks(candidates, criteria)
    recs = {scope: [p.line for p in found] for scope, found in chosen.items()}
    pair_plots = write_pair_plots(candidates, criteria, out_dir)
    confusions = copy_confusion_matrices(runs, out_dir)
    write_summary_csv(candidates, criteria, out_dir / "summary.csv")
    contracts.write(out_dir / COMPARISON_FILE,
                    comparison_document(candidates, criteria, sets, recs, pair_plots, confusions, notes, sources))
    view = render.report_view(runs, candidates, criteria, sets, chosen, pair_plots, confusions, notes, sources)
    atomic_write_text(out_dir / "report.md", render.render_markdown(view))
    report = atomic_write_text(out_dir / "report.html", render.render_html(view))
    log.info("compared %d candidate(s) from %d run(s): %s", len(candidates), len(runs), report)
    return report


def comparison_document(candidates: Sequence[Candidate], criteria: Criteria,
                        sets: dict[str, dict[str, ParetoResult]], recs: dict[str, list[str]],
                        pair_plots: dict[str, list[Plot]], confusions: list[Plot], notes: list[str],
                        sources: list[str] = ()) -> Comparison:
    """comparison.json: everything the report shows, for programs."""
    return Comparison(
        schema_version=SCHEMA_VERSION,
        created=created_now(),
        criteria=[CriterionInfo(c.name, c.label, c.unit, c.better, c.group, c.pareto) for c in criteria.criteria],
        candidates=[CandidateEntry(c.name, c.model, c.deployment, c.scope, str(c.run_dir), c.values,
                                   c.bad_threshold, [BadClass(n, a) for n, a in c.bad_classes])
                    for c in candidates],
        pareto={scope: {name: ParetoSet(r.criteria, r.unused, r.efficient, r.dominated_by, r.excluded)
                        for name, r in results.items()} for scope, results in sets.items()},
        recommendations=recs,
        plots={scope: [p.path.name for p in plots] for scope, plots in pair_plots.items()},
        confusion_matrices=[p.path.name for p in confusions],
        missing=notes,
        sources=list(sources),
    )
