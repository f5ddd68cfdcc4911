"""The report reads like the course report: recommendations first, then compact tables of figures
whose every column names its unit and what was measured, then plots, Pareto sets, per-model sections."""
import json
import re
from html.parser import HTMLParser

import pytest
from stage_files import CLASSES, MODELS, make_run, write_json

from foodclf.report.compare import compare

# What a column heading may start with: its unit, or for a pure number what kind of number it is.
UNITS = ("MB", "s", "/s", "cores", "count", "fraction correct", "nats")
HTML_ORDER = ['id="recommendations"', 'id="figures"', 'id="plots"', 'id="pareto"', 'id="models"']
MD_ORDER = ["\n## Recommendations\n", "\n## Figures\n", "\n## Plots\n", "\n## Pareto-efficient candidates\n",
            "\n## Models\n"]


class FigureTables(HTMLParser):
    """The headings (label and bracketed detail) and cells of each <table class="figures">."""

    def __init__(self):
        super().__init__()
        self.tables, self._inside, self._cell = [], False, None

    def handle_starttag(self, tag, attrs):
        if tag == "table" and ("class", "figures") in attrs:
            self.tables.append({"headings": [], "cells": []})
            self._inside = True
        elif tag in ("th", "td") and self._inside:
            self._cell = (tag, [])

    def handle_endtag(self, tag):
        if tag == "table":
            self._inside = False
        elif tag in ("th", "td") and self._cell:
            kind, parts = self._cell
            self.tables[-1]["headings" if kind == "th" else "cells"].append("".join(parts))
            self._cell = None

    def handle_data(self, data):
        if self._cell:
            self._cell[1].append(data)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("layout")
    out = root / "report"
    compare([make_run(root / "runs", name) for name in MODELS], out)
    return (out / "report.html").read_text(), (out / "report.md").read_text()


def between(text: str, start: str, end: str) -> str:
    return text[text.index(start):text.index(end)]


def test_the_recommendations_come_first_then_tables_plots_pareto_models(report):
    html, md = report
    assert [html.index(m) for m in HTML_ORDER] == sorted(html.index(m) for m in HTML_ORDER)
    assert [md.index(m) for m in MD_ORDER] == sorted(md.index(m) for m in MD_ORDER)
    assert html.index("Best transaction rate and decent accuracy") < html.index('<table class="figures"')
    assert md.index("Best transaction rate and decent accuracy") < md.index("| Model |")


def test_each_recommendation_names_the_candidate_and_the_numbers_that_decided_it(report):
    html, md = report
    recommendations = between(md, "## Recommendations", "## Figures")
    assert ("- Best transaction rate and decent accuracy: **mobilenet_v2 + deployment_hpa+** — "
            "transaction rate 14.22/s, accuracy 0.8312 (best 0.8491).") in recommendations
    assert ("- Best accuracy and decent deployment PSS mean: **vgg16 + deployment_hpa** — "
            "accuracy 0.8491, deployment PSS mean 6275 MB (best 4728 MB).") in recommendations
    assert "### Models (one replica, 10 users)" in recommendations
    assert "### Models × deployments (under the challenge profile)" in recommendations
    assert ("Best accuracy and decent transaction rate: <strong>vgg16 + deployment_hpa+</strong>"
            in between(html, 'id="recommendations"', 'id="figures"'))


def test_the_tables_count_the_bad_classes_and_name_none(report):
    html, md = report
    for section in (between(html, 'id="figures"', 'id="plots"'), between(md, "## Figures", "## Plots")):
        assert not [c for c in CLASSES if c in section]
    parser = FigureTables()
    parser.feed(html)
    models, deployments = parser.tables
    assert [len(t["cells"]) for t in parser.tables] == [3 * len(models["headings"]), 6 * len(deployments["headings"])]
    column = models["headings"].index("Classes below threshold(count, class accuracy < 0.8)")
    assert models["cells"][len(models["headings"]) + column] == "3"        # vgg16, the second row
    # The names, worst first, are in the model's own section further down, beside its confusion matrix.
    vgg16 = between(md, "### vgg16", "### mobilenet_v2")
    assert "Classes below 0.8, worst first:\nDairy product (0.62), Bread (0.72), Egg (0.78)." in vgg16
    assert "![Confusion matrix: vgg16](confusion_vgg16.png)" in vgg16


def test_every_column_heading_names_its_unit_and_what_was_measured(report):
    html, md = report
    parser = FigureTables()
    parser.feed(html)
    # Measured under load: replica PSS, response time, rate, p95, CPU, failures; a deployment's PSS
    # and its pods' time too.
    settings = {"one replica, 10 users": 6, "deployment under the challenge profile": 8}
    for table, (setting, under_load) in zip(parser.tables, settings.items()):
        names = ["Model"] if setting.startswith("one") else ["Model", "Deployment"]
        assert table["headings"][:len(names)] == names
        for heading in table["headings"][len(names):]:
            label, detail = re.fullmatch(r"([^(]+)\((.+)\)", heading).groups()
            assert detail.split(", ")[0] in UNITS, heading
            assert label in md and f"{label} ({detail})" in md          # the same heading in Markdown
        assert len([h for h in table["headings"] if h.endswith(f", {setting})")]) == under_load
    assert "| Transaction rate (/s, one replica, 10 users) |" in md
    assert "| Transaction rate (/s, deployment under the challenge profile) |" in md


def test_the_setting_in_the_headings_comes_from_the_stage_files(tmp_path):
    runs = [make_run(tmp_path / "runs", name, stages=("metrics", "loadtest")) for name in ("vgg16", "mobilenet_v2")]
    doc = json.loads((runs[1] / "loadtest.json").read_text())
    doc["stages"][0]["users"] = 25
    write_json(runs[1] / "loadtest.json", doc)
    compare(runs, tmp_path / "report")
    md = (tmp_path / "report" / "report.md").read_text()
    assert "Transaction rate (/s, one replica, 10 users / 25 users)" in md
    assert "Models × deployments" not in between(md, "## Figures", "## Plots")   # no simulation: no such table


def test_html_autoescapes_names_in_recommendations_and_model_sections(tmp_path):
    run = make_run(tmp_path / "runs", "vgg16", stages=("metrics", "loadtest"))
    text = (run / "metrics.json").read_text().replace("Dairy product", "Dairy <i>product</i>")
    doc = json.loads(text)
    doc["model"]["name"] = "<b>vgg16</b>"
    write_json(run / "metrics.json", doc)
    compare([run], tmp_path / "report")
    html = (tmp_path / "report" / "report.html").read_text()
    assert "<b>" not in html and "<i>" not in html
    assert "<strong>&lt;b&gt;vgg16&lt;/b&gt;</strong>" in between(html, 'id="recommendations"', 'id="figures"')
    assert "Dairy &lt;i&gt;product&lt;/i&gt; (0.62)" in between(html, 'id="models"', "</body>")
