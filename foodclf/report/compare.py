"""Compare models and deployments: the summary table, Pareto sets, plots, recommendations, report.

Reads what the earlier stages left in each candidate directory (metrics.json, loadtest.json,
simulations/<deployment>.json; whatever is present) and writes into the report directory:

    summary.csv          one row per candidate, raw values of every criterion
    comparison.json      candidates, Pareto sets (with one dominator each) and recommendations
    <scope>_<a>_vs_<b>.png   one plot per criterion pair and scope (models, deployments)
    confusion_<model>.png    confusion matrix per model
    report.md, report.html   the report; report.html has its images inlined (one file to send)

Two scopes are compared separately, because their operational figures are measured differently:
``models`` (each model as one replica: metrics.json + loadtest.json) and ``deployments`` (each
model x deployment: metrics.json + the HPA simulation). docs/compare.md documents the rules.
"""
from __future__ import annotations

import base64
import csv
import html
import io
import logging
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Sequence

from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from foodclf.report.criteria import Criteria, Criterion, load_criteria
from foodclf.errors import RunDirError
from foodclf.evaluation.optimizing import METRICS_FILE, load_metrics
from foodclf.deploy.hpa import load_simulation
from foodclf.io import atomic_save, atomic_write_json, atomic_write_text
from foodclf.loadtest.runner import LOADTEST_JSON as LOADTEST_FILE, load_loadtest
from foodclf.report.pareto import ParetoResult, pareto, recommend_pair

log = logging.getLogger(__name__)

SIMULATIONS_DIR = "simulations"   # scripts/simulate_hpa.py writes beside loadtest.json
ONE_REPLICA = "one replica"
SCOPES = {"models": "Models (one replica)", "deployments": "Models × deployments"}
SETS = {"optimizing": ("optimizing",), "operational": ("operational",), "both": ("optimizing", "operational")}
# Deployments get marker styles in sorted order; one replica is always a circle.
MARKERS = ["s", "^", "D", "v", "P", "X", "*", "<", ">", "h"]
STAGE_HINTS = {"metrics": "scripts/evaluate.py", "loadtest": "scripts/loadtest.py",
               "simulation": "scripts/simulate_hpa.py"}


# ---------------------------------------------------------------- reading the stages' files

@dataclass
class RunInputs:
    """The files one candidate directory holds; None / empty where a stage has not run."""

    run_dir: Path
    name: str
    metrics: dict | None
    loadtest: dict | None
    simulations: dict[str, dict]          # deployment name -> simulation document

    def present(self, file: str) -> bool:
        return {"metrics": self.metrics is not None, "loadtest": self.loadtest is not None,
                "simulation": bool(self.simulations), "derived": self.metrics is not None}[file]


def read_run(run_dir: str | os.PathLike) -> RunInputs:
    """Read a candidate directory; it must hold at least one stage's output."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunDirError(f"{run_dir}: candidate directory not found")
    metrics = load_metrics(run_dir / METRICS_FILE) if (run_dir / METRICS_FILE).is_file() else None
    loadtest = load_loadtest(run_dir / LOADTEST_FILE) if (run_dir / LOADTEST_FILE).is_file() else None
    simulations = {}
    for path in sorted((run_dir / SIMULATIONS_DIR).glob("*.json")):
        doc = load_simulation(path)
        simulations[doc.get("deployment") or path.stem] = doc
    simulations = dict(sorted(simulations.items()))   # by deployment name, not file name ('+' < '.')
    if metrics is None and loadtest is None and not simulations:
        raise RunDirError(f"{run_dir}: nothing to compare (no {METRICS_FILE}, {LOADTEST_FILE} or "
                          f"{SIMULATIONS_DIR}/*.json); run scripts/evaluate.py on it first")
    name = (metrics or {}).get("model", {}).get("name") or (loadtest or {}).get("model") or run_dir.name
    return RunInputs(run_dir, name, metrics, loadtest, simulations)


# ---------------------------------------------------------------- candidates

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


def bad_classes(metrics: dict, threshold: float | None) -> tuple[list[tuple[str, float]], float | None]:
    """Classes with accuracy below ``threshold`` (default: the one metrics.json used), worst first."""
    optimizing = metrics.get("optimizing", {})
    if threshold is None:
        listed = optimizing.get("bad_classes", [])
        return [(c["name"], c["accuracy"]) for c in listed], optimizing.get("bad_threshold")
    below = [(c["name"], c["accuracy"]) for c in optimizing.get("per_class", []) if c["accuracy"] < threshold]
    return sorted(below, key=lambda item: item[1]), threshold


def build_candidates(runs: Sequence[RunInputs], criteria: Criteria,
                     bad_threshold: float | None = None) -> list[Candidate]:
    """The one-replica candidate of every run, then every run x deployment."""
    candidates = []
    for run in runs:
        bad, threshold = bad_classes(run.metrics, bad_threshold) if run.metrics else ([], None)
        derived = {"bad_class_count": len(bad)} if run.metrics else {}
        docs = {"metrics": run.metrics, "loadtest": run.loadtest, "derived": derived, "simulation": None}
        candidates.append(Candidate(run.name, None, run.run_dir, _values(criteria, "model", docs), bad, threshold))
        for deployment, simulation in run.simulations.items():
            docs = {**docs, "simulation": simulation}
            candidates.append(Candidate(run.name, deployment, run.run_dir,
                                        _values(criteria, "deployment", docs), bad, threshold))
    names = [c.name for c in candidates]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise RunDirError(f"two candidate directories share the model name {', '.join(repeated)}; "
                          "compare runs with distinct directory names")
    return candidates


def _values(criteria: Criteria, kind: str, docs: dict[str, Any]) -> dict[str, float | None]:
    values = {}
    for criterion in criteria.criteria:
        source = criterion.sources.get(kind)
        doc = docs.get(source.file) if source else None
        values[criterion.name] = source.read(doc) if doc is not None else None
    return values


def coverage_notes(runs: Sequence[RunInputs], criteria: Criteria) -> list[str]:
    """One line per missing stage: which columns it leaves empty and which script fills them."""
    notes = []
    for run in runs:
        for file, hint in STAGE_HINTS.items():
            if run.present(file):
                continue
            kind = "deployment" if file == "simulation" else "model"
            columns = [c.label for c in criteria.criteria if c.sources.get(kind) and c.sources[kind].file == file]
            if file == "simulation":
                notes.append(f"{run.name}: no {SIMULATIONS_DIR}/*.json, so no model × deployment rows "
                             f"(run {hint})")
            elif columns:
                notes.append(f"{run.name}: no {file}.json; empty: {', '.join(columns)} (run {hint})")
    return notes


# ---------------------------------------------------------------- Pareto sets and recommendations

def pareto_sets(candidates: Sequence[Candidate], criteria: Criteria) -> dict[str, dict[str, ParetoResult]]:
    """``{scope: {set: result}}`` for the scopes that have candidates; sets are optimizing, operational, both."""
    results = {}
    for scope in SCOPES:
        points = {c.name: c.values for c in candidates if c.scope == scope}
        if points:
            results[scope] = {name: pareto(points, criteria.pareto_set(groups)) for name, groups in SETS.items()}
    return results


def _phrase(criterion: Criterion) -> str:
    """The label inside a sentence: 'memory', but 'CPU' stays 'CPU'."""
    label = criterion.label
    return label if label[:2].isupper() else label[0].lower() + label[1:]


def recommendations(candidates: Sequence[Candidate], criteria: Criteria) -> dict[str, list[str]]:
    """``{scope: ["Best accuracy and decent memory: mobilenet_v2 + deployment_hpa", ...]}``."""
    out = {}
    for scope in SCOPES:
        points = {c.name: c.values for c in candidates if c.scope == scope}
        lines = []
        for a_name, b_name in criteria.pairs:
            a, b = criteria[a_name], criteria[b_name]
            for pick in recommend_pair(points, a.name, a.better, b.name, b.better):
                lines.append(_recommendation_text(pick, a, b))
        if lines:
            out[scope] = lines
    return out


def _recommendation_text(pick, a: Criterion, b: Criterion) -> str:
    pa, pb = _phrase(a), _phrase(b)
    if pick.kind == "best_a":
        what = f"best {pa} and decent {pb}" if pick.b_decent else f"best {pa}"
    elif pick.kind == "best_b":
        what = f"best {pb} and decent {pa}" if pick.a_decent else f"best {pb}"
    elif pick.kind == "best_both":
        what = f"best {pa} and best {pb}"
    else:
        what = f"decent {pa} and decent {pb}" if pick.a_decent and pick.b_decent else f"balanced {pa} and {pb}"
    tied = f" (tied with {', '.join(pick.tied_with)})" if pick.tied_with else ""
    return f"{what[0].upper()}{what[1:]}: {pick.candidate}{tied}"


# ---------------------------------------------------------------- plots

@dataclass
class Plot:
    """A written plot and what it shows (tests count its points without decoding pixels)."""

    path: Path
    title: str
    points: list[str]                 # candidate names, one marker each
    front: list[str] = field(default_factory=list)


def _deployment_markers(candidates: Sequence[Candidate]) -> dict[str | None, str]:
    deployments = sorted({c.deployment for c in candidates if c.deployment is not None})
    markers = {None: "o"}
    markers.update({d: MARKERS[i % len(MARKERS)] for i, d in enumerate(deployments)})
    return markers


def pair_figure(candidates: Sequence[Candidate], a: Criterion, b: Criterion,
                title: str) -> tuple[Figure, list[str], list[str]]:
    """Scatter of ``a`` (y) against ``b`` (x): colour = model, marker = deployment, dashed 2-D Pareto front.

    Returns the figure, the plotted candidate names and the front's names (sorted by x).
    """
    shown = [c for c in candidates if c.values.get(a.name) is not None and c.values.get(b.name) is not None]
    models = sorted({c.model for c in shown})
    colours = {m: f"C{i % 10}" for i, m in enumerate(models)}
    markers = _deployment_markers(shown)
    fig = Figure(figsize=(7, 5), dpi=100)
    ax = fig.subplots()
    for c in shown:
        x, y = c.values[b.name], c.values[a.name]
        ax.scatter([x], [y], marker=markers[c.deployment], color=colours[c.model], s=70, zorder=3,
                   edgecolors="black", linewidths=0.6)
        ax.annotate(c.model, (x, y), xytext=(5, 5), textcoords="offset points", fontsize=8)
    front = pareto({c.name: c.values for c in shown}, {a.name: a.better, b.name: b.better}).efficient
    by_name = {c.name: c for c in shown}
    front = sorted(front, key=lambda n: by_name[n].values[b.name])
    if len(front) > 1:
        ax.plot([by_name[n].values[b.name] for n in front], [by_name[n].values[a.name] for n in front],
                "--", color="grey", linewidth=1, zorder=2, label="Pareto front")
    ax.set_xlabel(f"{b.heading}, {b.better} is better")
    ax.set_ylabel(f"{a.heading}, {a.better} is better")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    handles = [Line2D([], [], linestyle="", marker=markers[d], color="grey", label=d or ONE_REPLICA)
               for d in markers if any(c.deployment == d for c in shown)]
    handles += [Line2D([], [], linestyle="", marker="o", color=colours[m], label=m) for m in models]
    if len(front) > 1:
        handles.append(Line2D([], [], linestyle="--", color="grey", label="Pareto front"))
    ax.legend(handles=handles, fontsize=7, loc="best")
    fig.tight_layout()
    return fig, [c.name for c in shown], front


def confusion_figure(model: str, matrix: list[list[int]], classes: list[str]) -> Figure:
    """The confusion matrix (rows = true class), drawn by scikit-learn."""
    import numpy as np
    from sklearn.metrics import ConfusionMatrixDisplay

    size = max(5.0, 0.55 * len(classes) + 2)
    fig = Figure(figsize=(size, size), dpi=100)
    ax = fig.subplots()
    ConfusionMatrixDisplay(np.asarray(matrix), display_labels=classes).plot(
        ax=ax, xticks_rotation=90, colorbar=False, cmap="Blues", values_format="d")
    ax.set_title(f"Confusion matrix: {model}")
    fig.tight_layout()
    return fig


def _save(fig: Figure, path: Path) -> Path:
    return atomic_save(path, lambda tmp: fig.savefig(tmp, format="png"))


def write_plots(candidates: Sequence[Candidate], runs: Sequence[RunInputs], criteria: Criteria,
                out_dir: Path) -> tuple[dict[str, list[Plot]], list[Plot]]:
    """Pair plots per scope, and one confusion matrix per model with metrics.json."""
    pair_plots: dict[str, list[Plot]] = {}
    for scope, scope_label in SCOPES.items():
        in_scope = [c for c in candidates if c.scope == scope]
        for a_name, b_name in criteria.pairs:
            a, b = criteria[a_name], criteria[b_name]
            title = f"{a.label} vs {b.label}: {scope_label}"
            fig, points, front = pair_figure(in_scope, a, b, title)
            if not points:
                continue
            path = _save(fig, out_dir / f"{scope}_{a.name}_vs_{b.name}.png")
            pair_plots.setdefault(scope, []).append(Plot(path, title, points, front))
    confusions = []
    for run in runs:
        matrix = (run.metrics or {}).get("optimizing", {}).get("confusion_matrix")
        classes = (run.metrics or {}).get("dataset", {}).get("classes")
        if matrix and classes and len(classes) == len(matrix):
            path = _save(confusion_figure(run.name, matrix, classes), out_dir / f"confusion_{_slug(run.name)}.png")
            confusions.append(Plot(path, f"Confusion matrix: {run.name}", [run.name]))
    return pair_plots, confusions


def _slug(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)


# ---------------------------------------------------------------- the summary table

def _lists_bad_classes(criterion: Criterion) -> bool:
    """The class-count column is followed by the class names (the report names them)."""
    source = criterion.sources.get("model")
    return source is not None and (source.file, source.path) == ("derived", "bad_class_count")


def table_rows(candidates: Sequence[Candidate], criteria: Criteria,
               formatted: bool) -> tuple[list[str], list[list[Any]]]:
    """Headers and rows of the summary table; ``formatted`` gives strings, else raw values (CSV)."""
    headers = ["Model", "Deployment"] if formatted else ["Candidate", "Model", "Deployment"]
    for c in criteria.criteria:
        headers.append(c.heading)
        if _lists_bad_classes(c):
            headers.append("Classes below threshold (names)")
    rows = []
    for cand in candidates:
        row: list[Any] = ([] if formatted else [cand.name]) + [cand.model, cand.deployment or ONE_REPLICA]
        for c in criteria.criteria:
            value = cand.values.get(c.name)
            row.append(c.show(value) if formatted else ("" if value is None else value))
            if _lists_bad_classes(c):
                if formatted:
                    row.append(", ".join(f"{n} ({acc:.2f})" for n, acc in cand.bad_classes))
                else:
                    row.append("; ".join(n for n, _ in cand.bad_classes))
        rows.append(row)
    return headers, rows


def write_summary_csv(candidates: Sequence[Candidate], criteria: Criteria, path: Path) -> Path:
    headers, rows = table_rows(candidates, criteria, formatted=False)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(headers)
    writer.writerows(rows)
    return atomic_write_text(path, buffer.getvalue())


# ---------------------------------------------------------------- the report document

# A report is a list of blocks, rendered twice (Markdown and HTML) from the same data:
# ("h", level, text) ("p", text) ("ul", [items]) ("table", headers, rows) ("img", path, caption)


def report_blocks(runs, candidates, criteria, sets, recs, pair_plots, confusions, notes) -> list[tuple]:
    """The whole report, in reading order: summary, Pareto sets, plots, recommendations."""
    written = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return ([("h", 1, "foodclf comparison report"),
             ("p", f"{len(runs)} model(s), {len(candidates)} candidate(s); written {written}.")]
            + _summary_blocks(candidates, criteria, notes) + _pareto_blocks(candidates, criteria, sets)
            + _plot_blocks(pair_plots, confusions) + _recommendation_blocks(recs))


def _summary_blocks(candidates, criteria, notes) -> list[tuple]:
    thresholds = ", ".join(f"{t:g}" for t in sorted({c.bad_threshold for c in candidates
                                                      if c.bad_threshold is not None}))
    headers, rows = table_rows(candidates, criteria, formatted=True)
    return [("h", 2, "Summary"),
            ("p", "One replica: metrics.json and loadtest.json. Model × deployment: metrics.json and the HPA "
                  f"simulation. Classes below threshold: per-class accuracy below {thresholds or 'the threshold'}."),
            ("table", headers, rows),
            ("h", 3, "Missing data"),
            ("ul", notes) if notes else ("p", "Every stage's file is present for every model.")]


def _pareto_blocks(candidates, criteria, sets) -> list[tuple]:
    blocks: list[tuple] = [
        ("h", 2, "Pareto-efficient candidates"),
        ("p", "A candidate is dominated when another is at least as good on every criterion of the set and "
              "better on one; each dominated candidate names one efficient candidate that dominates it. "
              "Candidates lacking a value are left out of that set; a criterion nobody has is not used.")]
    for scope, results in sets.items():
        items = []
        for set_name, result in results.items():
            used = ", ".join(criteria[c].label for c in result.criteria) or "nothing"
            unused = ", ".join(criteria[c].label for c in result.unused)
            unused = f"; no values for {unused}" if unused else ""
            efficient = ", ".join(result.efficient) or "none"
            items.append(f"{set_name.capitalize()}, compared on {used}{unused}. Efficient: {efficient}")
        names = [c.name for c in candidates if c.scope == scope]
        blocks += [("h", 3, SCOPES[scope]), ("ul", items),
                   ("table", ["Candidate"] + [s.capitalize() for s in results],
                    [[n] + [results[s].status(n) for s in results] for n in names])]
    return blocks


def _plot_blocks(pair_plots, confusions) -> list[tuple]:
    blocks: list[tuple] = [("h", 2, "Plots")]
    for scope, plots in pair_plots.items():
        blocks.append(("h", 3, SCOPES[scope]))
        blocks += [("img", p.path, p.title) for p in plots]
    if confusions:
        blocks.append(("h", 3, "Confusion matrices"))
        blocks += [("img", p.path, p.title) for p in confusions]
    return blocks


def _recommendation_blocks(recs) -> list[tuple]:
    blocks: list[tuple] = [
        ("h", 2, "Recommendations"),
        ("p", "For each pair (a, b): the best a (ties broken by b), the best b (ties broken by a), and the "
              "2-D Pareto-efficient candidate closest to the ideal point when it is neither. A value is "
              "decent when it lies outside the worst third of the candidates' range.")]
    for scope, lines in recs.items():
        blocks += [("h", 3, SCOPES[scope]), ("ul", lines)]
    if not recs:
        blocks.append(("p", "No candidate has the values of any criterion pair."))
    return blocks


def render_markdown(blocks: Iterable[tuple], out_dir: Path) -> str:
    lines = []
    for block in blocks:
        kind = block[0]
        if kind == "h":
            lines += ["#" * block[1] + " " + block[2], ""]
        elif kind == "p":
            lines += [block[1], ""]
        elif kind == "ul":
            lines += [f"- {item}" for item in block[1]] + [""]
        elif kind == "table":
            headers, rows = block[1], block[2]
            cell = lambda v: str(v).replace("|", "\\|")  # noqa: E731 - a pipe would split the cell
            lines.append("| " + " | ".join(cell(h) for h in headers) + " |")
            lines.append("|" + "---|" * len(headers))
            lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
            lines.append("")
        elif kind == "img":
            lines += [f"![{block[2]}]({Path(block[1]).relative_to(out_dir).as_posix()})", ""]
    return "\n".join(lines)


CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
tr:nth-child(even) td { background: #fafafa; }
.wide { overflow-x: auto; }
figure { display: inline-block; margin: 0.5em; }
figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: 0.85em; color: #555; }
""".strip()


def render_html(blocks: Iterable[tuple]) -> str:
    """A self-contained page: inline CSS, images as base64 data URIs, no scripts."""
    esc = html.escape
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             "<title>foodclf comparison report</title>", f"<style>\n{CSS}\n</style></head><body>"]
    for block in blocks:
        kind = block[0]
        if kind == "h":
            parts.append(f"<h{block[1]}>{esc(block[2])}</h{block[1]}>")
        elif kind == "p":
            parts.append(f"<p>{esc(block[1])}</p>")
        elif kind == "ul":
            parts.append("<ul>" + "".join(f"<li>{esc(item)}</li>" for item in block[1]) + "</ul>")
        elif kind == "table":
            head = "".join(f"<th>{esc(str(h))}</th>" for h in block[1])
            body = "".join("<tr>" + "".join(f"<td>{esc(str(v))}</td>" for v in row) + "</tr>" for row in block[2])
            parts.append(f'<div class="wide"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>')
        elif kind == "img":
            data = base64.b64encode(Path(block[1]).read_bytes()).decode("ascii")
            parts.append(f'<figure><img src="data:image/png;base64,{data}" alt="{esc(block[2])}">'
                         f"<figcaption>{esc(block[2])}</figcaption></figure>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


# ---------------------------------------------------------------- the whole stage

def comparison_document(candidates, criteria, sets, recs, pair_plots, confusions, notes) -> dict:
    """comparison.json: everything the report shows, for programs (schema in docs/compare.md)."""
    return {
        "schema_version": 1,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "criteria": [{"name": c.name, "label": c.label, "unit": c.unit, "better": c.better, "group": c.group,
                      "pareto": c.pareto} for c in criteria.criteria],
        "candidates": [{"name": c.name, "model": c.model, "deployment": c.deployment, "scope": c.scope,
                        "run_dir": str(c.run_dir), "values": c.values, "bad_threshold": c.bad_threshold,
                        "bad_classes": [{"name": n, "accuracy": a} for n, a in c.bad_classes]}
                       for c in candidates],
        "pareto": {scope: {name: {"criteria": r.criteria, "unused": r.unused, "efficient": r.efficient,
                                  "dominated_by": r.dominated_by, "excluded": r.excluded}
                           for name, r in results.items()} for scope, results in sets.items()},
        "recommendations": recs,
        "plots": {scope: [p.path.name for p in plots] for scope, plots in pair_plots.items()},
        "confusion_matrices": [p.path.name for p in confusions],
        "missing": notes,
    }


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
    sets = pareto_sets(candidates, criteria)
    recs = recommendations(candidates, criteria)
    pair_plots, confusions = write_plots(candidates, runs, criteria, out_dir)
    write_summary_csv(candidates, criteria, out_dir / "summary.csv")
    atomic_write_json(out_dir / "comparison.json",
                      comparison_document(candidates, criteria, sets, recs, pair_plots, confusions, notes))
    blocks = report_blocks(runs, candidates, criteria, sets, recs, pair_plots, confusions, notes)
    atomic_write_text(out_dir / "report.md", render_markdown(blocks, out_dir))
    report = atomic_write_text(out_dir / "report.html", render_html(blocks))
    log.info("compared %d candidate(s) from %d run(s): %s", len(candidates), len(runs), report)
    return report
