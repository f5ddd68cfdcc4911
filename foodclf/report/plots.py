"""The report's figures: one scatter per criterion pair and scope, and the confusion matrices.

matplotlib is imported when a figure is drawn, not with this module. The confusion matrices are
the evaluation's own figures (confusion_matrix.png beside metrics.json), copied into the report
directory: drawing them again here would be a second copy of that figure's code.
"""
from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from foodclf.io import atomic_save
from foodclf.report.candidates import ONE_REPLICA, SCOPES, Candidate, RunInputs
from foodclf.report.criteria import Criteria, Criterion
from foodclf.report.pareto import pareto

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

# Deployments get marker styles in sorted order; one replica is always a circle.
MARKERS = ["s", "^", "D", "v", "P", "X", "*", "<", ">", "h"]


@dataclass
class Plot:
    """A written plot and what it shows (tests count its points without decoding pixels)."""

    path: Path
    title: str
    points: list[str]                 # candidate names, one marker each
    front: list[str] = field(default_factory=list)


def pair_figure(candidates: Sequence[Candidate], a: Criterion, b: Criterion,
                title: str) -> tuple[Figure, list[str], list[str]]:
    """Scatter of ``a`` (y) against ``b`` (x): colour = model, marker = deployment, dashed 2-D Pareto front.

    Returns the figure, the plotted candidate names and the front's names (sorted by x).
    """
    from matplotlib.figure import Figure

    shown = [c for c in candidates if c.values.get(a.name) is not None and c.values.get(b.name) is not None]
    colours = {m: f"C{i % 10}" for i, m in enumerate(sorted({c.model for c in shown}))}
    markers = _deployment_markers(shown)
    fig = Figure(figsize=(7, 5), dpi=100)
    ax = fig.subplots()
    for c in shown:
        x, y = c.values[b.name], c.values[a.name]
        ax.scatter([x], [y], marker=markers[c.deployment], color=colours[c.model], s=70, zorder=3,
                   edgecolors="black", linewidths=0.6)
        ax.annotate(c.model, (x, y), xytext=(5, 5), textcoords="offset points", fontsize=8)
    by_name = {c.name: c for c in shown}
    front = pareto({c.name: c.values for c in shown}, {a.name: a.better, b.name: b.better}).efficient
    front = sorted(front, key=lambda n: by_name[n].values[b.name])
    if len(front) > 1:
        ax.plot([by_name[n].values[b.name] for n in front], [by_name[n].values[a.name] for n in front],
                "--", color="grey", linewidth=1, zorder=2, label="Pareto front")
    ax.set_xlabel(f"{b.heading}, {b.better} is better")
    ax.set_ylabel(f"{a.heading}, {a.better} is better")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    _legend(ax, shown, markers, colours, with_front=len(front) > 1)
    fig.tight_layout()
    return fig, [c.name for c in shown], front


def _deployment_markers(candidates: Sequence[Candidate]) -> dict[str | None, str]:
    deployments = sorted({c.deployment for c in candidates if c.deployment is not None})
    markers = {None: "o"}
    markers.update({d: MARKERS[i % len(MARKERS)] for i, d in enumerate(deployments)})
    return markers


def _legend(ax: Axes, shown: Sequence[Candidate], markers: dict[str | None, str], colours: dict[str, str],
            with_front: bool) -> None:
    """Marker = deployment, colour = model: one legend entry each, not one per point."""
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], linestyle="", marker=markers[d], color="grey", label=d or ONE_REPLICA)
               for d in markers if any(c.deployment == d for c in shown)]
    handles += [Line2D([], [], linestyle="", marker="o", color=colour, label=m) for m, colour in colours.items()]
    if with_front:
        handles.append(Line2D([], [], linestyle="--", color="grey", label="Pareto front"))
    ax.legend(handles=handles, fontsize=7, loc="best")


def write_pair_plots(candidates: Sequence[Candidate], criteria: Criteria, out_dir: Path) -> dict[str, list[Plot]]:
    """``{scope: [Plot]}``: one PNG per criterion pair and scope where a candidate has both values."""
    pair_plots: dict[str, list[Plot]] = {}
    for scope, scope_label in SCOPES.items():
        in_scope = [c for c in candidates if c.scope == scope]
        for a_name, b_name in criteria.pairs:
            a, b = criteria[a_name], criteria[b_name]
            title = f"{a.label} vs {b.label}: {scope_label}"
            fig, points, front = pair_figure(in_scope, a, b, title)
            if not points:
                continue
            path = atomic_save(out_dir / f"{scope}_{a.name}_vs_{b.name}.png",
                               lambda tmp, fig=fig: fig.savefig(tmp, format="png"))
            pair_plots.setdefault(scope, []).append(Plot(path, title, points, front))
    return pair_plots


def copy_confusion_matrices(runs: Sequence[RunInputs], out_dir: Path) -> list[Plot]:
    """The evaluation's confusion matrix of every run that has one, as ``confusion_<model>.png``."""
    confusions = []
    for run in runs:
        if run.confusion_png is None:
            continue
        path = atomic_save(out_dir / f"confusion_{_slug(run.name)}.png",
                           lambda tmp, source=run.confusion_png: shutil.copyfile(source, tmp))
        confusions.append(Plot(path, f"Confusion matrix: {run.name}", [run.name]))
    return confusions


def _slug(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)
