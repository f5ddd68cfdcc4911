"""The comparison stage on hand-written stage files carrying the report's own figures."""
import base64
import csv
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image
from stage_files import IMAGE_PSS_PEAK, MODELS, POD_SECONDS, REPLICA_PSS_PEAK, image_doc, make_run, write_json

from foodclf.contracts.comparison import COMPARISON_FILE, read_comparison
from foodclf.errors import RunDirError, SchemaError
from foodclf.report.candidates import build_candidates, read_run
from foodclf.report.compare import compare
from foodclf.report.criteria import DEFAULT_CRITERIA, load_criteria
from foodclf.report.plots import pair_figure


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("compare")
    runs = [make_run(root / "runs", name) for name in MODELS]
    out = root / "report"
    assert compare(runs, out) == out / "report.html"
    return out


def read_csv(path: Path) -> list[dict]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_summary_table_has_every_model_and_model_deployment(report_dir):
    rows = read_csv(report_dir / "summary.csv")
    assert [r["Candidate"] for r in rows] == [
        "previous", "previous + deployment_hpa", "previous + deployment_hpa+",
        "vgg16", "vgg16 + deployment_hpa", "vgg16 + deployment_hpa+",
        "mobilenet_v2", "mobilenet_v2 + deployment_hpa", "mobilenet_v2 + deployment_hpa+"]
    vgg, vgg_hpa = rows[3], rows[4]
    assert float(vgg["Accuracy"]) == 0.8491 and float(vgg["Loss"]) == 0.5321
    assert vgg["Classes below threshold"] == "3"
    assert vgg["Classes below threshold (names)"] == "Dairy product; Bread; Egg"   # worst first
    assert float(vgg["Disk size (MB)"]) == 110
    assert float(vgg["Response time (s)"]) == 1.08 and float(vgg["Transaction rate (/s)"]) == 7.71
    assert float(vgg["p95 latency (s)"]) == pytest.approx(1.08 * 1.3)
    # A deployment row: the same model's accuracy, the simulation's operational figures (KB -> MB).
    assert vgg_hpa["Deployment"] == "deployment_hpa" and float(vgg_hpa["Accuracy"]) == 0.8491
    assert float(vgg_hpa["Response time (s)"]) == 0.46 and float(vgg_hpa["Transaction rate (/s)"]) == 13.82
    assert float(vgg_hpa["p95 latency (s)"]) == pytest.approx(0.46 * 1.5)   # the simulation's p95
    # What the cluster pays: pods' time on a node, a deployment's figure only.
    assert float(vgg_hpa["Pod time (s)"]) == POD_SECONDS["deployment_hpa"] and vgg["Pod time (s)"] == ""
    assert float(rows[5]["Pod time (s)"]) == POD_SECONDS["deployment_hpa+"]


MEMORY_COLUMNS = ["Model memory in process (MB)", "Replica PSS peak (MB)", "Deployment PSS mean (MB)"]


def test_each_memory_column_has_one_meaning_and_names_its_unit(report_dir):
    rows = {r["Candidate"]: r for r in read_csv(report_dir / "summary.csv")}
    assert [h for h in rows["vgg16"] if "memory" in h.lower() or "PSS" in h] == MEMORY_COLUMNS
    vgg, vgg_hpa = rows["vgg16"], rows["vgg16 + deployment_hpa"]
    # One replica: the evaluation's in-process figure and the load test's replica PSS, side by side.
    assert float(vgg["Model memory in process (MB)"]) == 973                    # metrics.json
    assert float(vgg["Replica PSS peak (MB)"]) == REPLICA_PSS_PEAK["vgg16"]     # loadtest.json server.pss_mb_peak
    assert vgg["Deployment PSS mean (MB)"] == ""
    # A deployment: all its replicas' PSS from the simulation (KB -> MB), no in-process figure.
    assert float(vgg_hpa["Deployment PSS mean (MB)"]) == pytest.approx(6425222 / 1024)
    assert vgg_hpa["Model memory in process (MB)"] == ""
    assert float(vgg_hpa["Replica PSS peak (MB)"]) == 800.0   # the simulation's summary.replica_pss_mb_peak
    headers = read_csv(report_dir / "summary.csv")[0].keys()
    assert "Memory (MB)" not in headers
    # The report's headings keep the three names and the unit, then say what was measured.
    md = (report_dir / "report.md").read_text()
    assert all(column.replace("(MB)", "(MB, ") in md for column in MEMORY_COLUMNS)


def test_the_memory_criteria_read_from_one_file_each():
    criteria = load_criteria()
    sources = {name: {kind: [(s.file, s.path) for s in first.chain] for kind, first in criteria[name].sources.items()}
               for name in ("model_memory_mb", "replica_pss_peak_mb", "deployment_pss_mb")}
    assert sources == {
        "model_memory_mb": {"model": [("metrics", "operational.memory_mb")]},
        # A deployment's replica is its image: measured in it where it was checked, else simulated.
        "replica_pss_peak_mb": {"model": [("loadtest", "server.pss_mb_peak")],
                                "deployment": [("image", "memory.pss_mb_peak"),
                                               ("simulation", "summary.replica_pss_mb_peak")]},
        "deployment_pss_mb": {"deployment": [("simulation", "summary.memory_kb")]},
    }
    assert all(criteria[name].unit == "MB" for name in sources)


def test_pareto_sets_match_the_report(report_dir):
    sets = read_comparison(report_dir).pareto
    models = sets["models"]
    # "the previous model is Pareto dominated by both model 1 and model 2" (accuracy and bad classes)
    assert "previous" in models["optimizing"].dominated_by
    assert models["optimizing"].criteria == ["accuracy", "bad_classes"]
    # "Considering the operational metrics, all the three models are Pareto efficient."
    assert models["operational"].efficient == ["previous", "vgg16", "mobilenet_v2"]
    assert set(models["both"].efficient) == {"previous", "vgg16", "mobilenet_v2"}
    deployments = sets["deployments"]["operational"]
    for by in deployments.dominated_by.values():
        assert by in deployments.efficient
    assert deployments.unused == []   # p95 is not a Pareto criterion by default
    # Each scope's memory: the in-process figure for one replica, all replicas' PSS for a deployment.
    assert "model_memory_mb" in models["operational"].criteria and models["operational"].unused == []
    assert "deployment_pss_mb" in deployments.criteria and "model_memory_mb" not in deployments.criteria


def test_recommendations_read_like_the_report(report_dir):
    recs = read_comparison(report_dir).recommendations["deployments"]
    assert recs == [
        "Best accuracy and decent deployment PSS mean: vgg16 + deployment_hpa",
        "Best deployment PSS mean and decent accuracy: mobilenet_v2 + deployment_hpa",
        "Best accuracy and decent transaction rate: vgg16 + deployment_hpa+",
        "Best transaction rate and decent accuracy: mobilenet_v2 + deployment_hpa+",
        "Best accuracy and decent response time: vgg16 + deployment_hpa+",
        "Best response time: previous + deployment_hpa",
        "Decent accuracy and decent response time: mobilenet_v2 + deployment_hpa+",
    ]


def test_every_plot_is_a_png_with_one_point_per_candidate(report_dir):
    doc = read_comparison(report_dir)
    names = doc.plots["models"] + doc.plots["deployments"] + doc.confusion_matrices
    assert sorted(names) == sorted(
        [f"{s}_accuracy_vs_{b}.png" for s in ("models", "deployments")
         for b in ("transaction_rate", "response_time_s")]
        + ["models_accuracy_vs_model_memory_mb.png", "deployments_accuracy_vs_deployment_pss_mb.png"]
        + [f"confusion_{m}.png" for m in MODELS])
    for name in names:
        with Image.open(report_dir / name) as image:
            assert image.format == "PNG" and image.size[0] > 300
            image.verify()


def test_confusion_matrices_are_the_evaluations_own_figures(report_dir, tmp_path):
    runs = report_dir.parent / "runs"
    for model in MODELS:
        copied = (report_dir / f"confusion_{model}.png").read_bytes()
        assert copied == (runs / model / "confusion_matrix.png").read_bytes()
    # A metrics.json without its figure beside it: no matrix in the report, and the report says why.
    run = make_run(tmp_path / "runs", "vgg16", stages=("metrics",))
    (run / "confusion_matrix.png").unlink()
    compare([run], tmp_path / "report")
    assert read_comparison(tmp_path / "report").confusion_matrices == []
    assert "vgg16: no confusion_matrix.png, so no confusion matrix" in (tmp_path / "report" / "report.html").read_text()


def test_html_escapes_what_the_stage_files_say(tmp_path):
    run = make_run(tmp_path / "runs", "vgg16", stages=("metrics",))
    doc = json.loads((run / "metrics.json").read_text())
    doc["model"]["name"] = "<b>vgg16</b> & co"
    write_json(run / "metrics.json", doc)
    compare([run], tmp_path / "report")
    text = (tmp_path / "report" / "report.html").read_text()
    assert "<b>vgg16" not in text and "&lt;b&gt;vgg16&lt;/b&gt; &amp; co" in text
    assert "| <b>vgg16</b> & co | 0.8491 |" in (tmp_path / "report" / "report.md").read_text()


def test_a_comparison_imports_neither_torch_nor_sklearn(tmp_path):
    """The comparison reads files in a light process: no model framework, no scikit-learn."""
    runs = [str(make_run(tmp_path / "runs", name)) for name in MODELS]
    code = ("import json, sys, foodclf\n"
            f"report = foodclf.compare({runs!r}, {str(tmp_path / 'report')!r})\n"
            "print(json.dumps([str(report), sorted(m for m in ('torch', 'sklearn') if m in sys.modules)]))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    report, heavy = json.loads(done.stdout.strip().splitlines()[-1])
    assert Path(report) == tmp_path / "report" / "report.html" and Path(report).is_file()
    assert heavy == []


def test_pair_figure_draws_each_candidate_once_and_the_front(tmp_path):
    runs = [read_run(make_run(tmp_path, name)) for name in MODELS]
    criteria = load_criteria()
    candidates = [c for c in build_candidates(runs, criteria) if c.deployment is not None]
    fig, points, front = pair_figure(candidates, criteria["accuracy"], criteria["response_time_s"], "t")
    ax = fig.axes[0]
    offsets = [tuple(xy) for coll in ax.collections for xy in coll.get_offsets()]
    assert len(offsets) == len(points) == 6
    assert (0.37, 0.7622) in offsets
    # The front, sorted by response time, drawn as one dashed line through its points.
    assert front == ["previous + deployment_hpa", "mobilenet_v2 + deployment_hpa+", "vgg16 + deployment_hpa+"]
    (line,) = [ln for ln in ax.lines if ln.get_label() == "Pareto front"]
    assert list(line.get_xdata()) == [0.37, 0.42, 0.43]
    assert {t.get_text() for t in ax.texts} == set(MODELS)          # points labelled with the model
    markers = {coll.get_paths()[0].vertices.shape for coll in ax.collections}
    assert len(markers) == 2                                          # one marker style per deployment


def test_html_report_is_self_contained(report_dir):
    text = (report_dir / "report.html").read_text()
    assert "<script" not in text
    sources = re.findall(r'<img src="([^"]+)"', text)
    assert len(sources) == 9
    for src in sources:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    for expected in ("Figures", "Pareto-efficient candidates", "Recommendations", "Dairy product (0.62)",
                     "Best accuracy and decent deployment PSS mean: <strong>vgg16 + deployment_hpa</strong>",
                     "dominated by vgg16", "Models × deployments"):
        assert expected in text
    md = (report_dir / "report.md").read_text()
    assert ("![Accuracy vs Model memory in process: Models (one replica)](models_accuracy_vs_model_memory_mb.png)"
            in md)
    assert "| vgg16 | 0.8491 |" in md and "| vgg16 | deployment_hpa | 0.8491 |" in md


def test_a_missing_stage_leaves_columns_empty_and_is_reported(tmp_path):
    runs = [make_run(tmp_path / "runs", "vgg16"),
            make_run(tmp_path / "runs", "mobilenet_v2", stages=("metrics",))]
    out = tmp_path / "report"
    compare(runs, out)
    rows = {r["Candidate"]: r for r in read_csv(out / "summary.csv")}
    assert rows["mobilenet_v2"]["Response time (s)"] == "" and rows["mobilenet_v2"]["Accuracy"] == "0.8312"
    assert "mobilenet_v2 + deployment_hpa" not in rows
    doc = read_comparison(out)
    assert doc.pareto["models"]["operational"].excluded["mobilenet_v2"] == [
        "response_time_s", "transaction_rate"]
    assert doc.pareto["models"]["optimizing"].dominated_by == {"mobilenet_v2": "vgg16"}
    html = (out / "report.html").read_text()
    assert ("mobilenet_v2: no loadtest.json; empty: Replica PSS peak, Response time, Transaction rate, p95 latency"
            in html)
    assert "mobilenet_v2: no simulations/*.json" in html
    assert "not compared (lacks response_time_s, transaction_rate)" in html


def test_bad_threshold_recounts_the_classes(tmp_path):
    runs = [read_run(make_run(tmp_path, "vgg16", stages=("metrics",)))]
    (cand,) = build_candidates(runs, load_criteria(), bad_threshold=0.7)
    assert cand.bad_classes == [("Dairy product", 0.62)] and cand.values["bad_classes"] == 1


def test_a_user_criterion_joins_table_and_pareto_sets(tmp_path):
    spec = json.loads(json.dumps(DEFAULT_CRITERIA))
    spec["criteria"].append({"name": "parameters", "label": "Parameters", "better": "lower", "group": "optimizing",
                             "format": "d", "source": "metrics:model.parameters"})
    spec["pairs"] = [["accuracy", "parameters"]]
    path = tmp_path / "criteria.yaml"
    path.write_text(json.dumps(spec))          # JSON is YAML
    runs = [make_run(tmp_path / "runs", name, stages=("metrics",)) for name in ("vgg16", "mobilenet_v2")]
    compare(runs, tmp_path / "report", criteria=path)
    doc = read_comparison(tmp_path / "report" / COMPARISON_FILE)
    assert doc.pareto["models"]["optimizing"].criteria == ["accuracy", "bad_classes", "parameters"]
    assert doc.plots == {"models": ["models_accuracy_vs_parameters.png"]}
    assert "Parameters" in read_csv(tmp_path / "report" / "summary.csv")[0]


@pytest.mark.parametrize("bad, message", [
    ({"criteria": [{"name": "x", "label": "X", "better": "up", "group": "optimizing", "source": "metrics:a"}]},
     "'better' must be one of"),
    ({"criteria": [{"name": "x", "label": "X", "better": "higher", "group": "optimizing", "source": "disk:a"}]},
     "file must be one of"),
    ({"criteria": [{"name": "x", "label": "X", "better": "higher", "group": "optimizing", "source": "metrics:a"}],
      "pairs": [["x", "y"]]}, r"pairs\[0\]"),
])
def test_a_bad_criteria_file_names_the_field(tmp_path, bad, message):
    path = tmp_path / "c.json"
    path.write_text(json.dumps(bad))
    with pytest.raises(SchemaError, match=message):
        load_criteria(path)


def test_single_candidate_and_empty_directory(tmp_path):
    out = tmp_path / "report"
    compare([make_run(tmp_path / "runs", "vgg16", stages=("metrics", "loadtest"))], out)
    doc = read_comparison(out)
    assert doc.pareto["models"]["both"].efficient == ["vgg16"]
    assert doc.recommendations["models"][0] == "Best accuracy and best model memory in process: vgg16"
    (tmp_path / "empty").mkdir()
    with pytest.raises(RunDirError, match="nothing to compare"):
        compare([tmp_path / "empty"], out)


def test_script_prints_one_line_on_bad_input(tmp_path, capsys, load_script):
    script = load_script("compare")
    from foodclf.cli import run_cli
    assert run_cli(script.main, [str(tmp_path / "nope"), "--out", str(tmp_path / "r")]) == 2
    assert "candidate directory not found" in capsys.readouterr().err
    assert run_cli(script.main, ["--print-criteria"]) == 0
    assert json.loads(capsys.readouterr().out)["pairs"][0] == ["accuracy", "model_memory_mb"]


def test_a_checked_image_gives_the_deployments_their_replica_memory(tmp_path):
    runs = [make_run(tmp_path / "in", "vgg16", ("metrics", "loadtest", "simulations", "image")),
            make_run(tmp_path / "in", "mobilenet_v2")]
    compare(runs, tmp_path / "report")
    rows = {r["Candidate"]: r for r in read_csv(tmp_path / "report" / "summary.csv")}
    # Its deployments' replicas: the image's peak; the one replica stays the host's load test.
    assert float(rows["vgg16 + deployment_hpa"]["Replica PSS peak (MB)"]) == IMAGE_PSS_PEAK
    assert float(rows["vgg16 + deployment_hpa+"]["Replica PSS peak (MB)"]) == IMAGE_PSS_PEAK
    assert float(rows["vgg16"]["Replica PSS peak (MB)"]) == REPLICA_PSS_PEAK["vgg16"]
    # A run without image.json keeps the simulation's figure.
    assert float(rows["mobilenet_v2 + deployment_hpa"]["Replica PSS peak (MB)"]) == 800.0
    comparison = read_comparison(tmp_path / "report")
    [note] = comparison.sources
    assert "vgg16" in note and "foodclf-torchserve:0.1.0" in note and f"{IMAGE_PSS_PEAK:.0f} MB" in note
    assert "Where some figures come from" in (tmp_path / "report" / "report.md").read_text()
    assert comparison.missing == []


def test_a_failed_image_check_is_said_beside_its_figure(tmp_path):
    run = make_run(tmp_path / "in", "vgg16")
    write_json(run / "image.json", image_doc(problems=["photo: 500 worker died"]))
    compare([run], tmp_path / "report")
    [note] = read_comparison(tmp_path / "report").sources
    assert "FAILED: photo: 500 worker died" in note


def test_an_image_json_of_another_schema_names_the_file(tmp_path):
    run = make_run(tmp_path / "in", "vgg16")
    write_json(run / "image.json", {**image_doc(), "schema_version": 2})
    with pytest.raises(SchemaError, match=r"image\.json: schema_version 2 is not supported.*check_image"):
        compare([run], tmp_path / "report")
