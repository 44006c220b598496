"""The report: the headline reads right, both documents say everything, the HTML stands alone."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from benchmarks.report.page import headline, render_html, render_markdown, write_report
from benchmarks.report.sections import percent_cheaper

FIGURE_NAMES = {"accuracy_vs_latency", "confusion_matrix", "reliability", "coverage"}
Factory = Callable[..., dict[str, Any]]


def test_headline_figures_and_sentence(results: dict[str, Any]) -> None:
    head = headline(results)
    assert head["teacher"] == "teacher (hf:smollm2)"
    assert head["student"] == "student (onnx int8)"
    assert head["reference"] == "gold"
    assert head["latency_ms"] == {"teacher": 500.0, "student": 2.0, "ratio": 250.0}
    assert head["throughput_tx_per_s"] == {"teacher": 2.0, "student": 1600.0, "ratio": 800.0}
    assert head["accuracy"]["points"] == pytest.approx(-1.2)
    cost = head["cost_usd_per_m"]
    assert cost["option"] == results["cost"]["headline_option"] == "hf:smollm2 measured (2 vCPU)"
    # 1/800 s per tx against 0.5 s per tx on 2 vCPUs: 800 tx/s ÷ 1 tx/s
    assert cost["ratio"] == pytest.approx(800.0)
    assert head["sentence"] == (
        "The student is 99.88% cheaper, 250× faster and 1.2 points below the teacher's accuracy."
    )


def test_headline_table_has_agreement_and_plain_role_headers(results: dict[str, Any]) -> None:
    from benchmarks.report.headline import headline_table

    head = headline(results)
    assert head["agreement"] == 0.953
    table = headline_table(head)
    assert table.headers == ["metric", "teacher (hf:smollm2)", "student (onnx int8)", "ratio"]
    assert ["agreement with the teacher", "100.0%", "95.3%", "—"] in table.rows
    results["variants"][1]["name"] = results["student"] = "distilled"
    assert headline_table(headline(results)).headers[2] == "student: distilled"


def test_sentence_for_a_better_student(results_factory: Factory) -> None:
    sentence = headline(results_factory(student_accuracy=0.823))["sentence"]
    assert sentence.endswith("and 2.3 points above the teacher's accuracy.")


def test_sentence_without_gold_speaks_of_agreement(results_factory: Factory) -> None:
    head = headline(results_factory(gold=False))
    assert head["reference"] == "teacher"
    assert head["accuracy"]["metric"] == "agreement"
    assert head["sentence"].endswith("and in agreement with the teacher on 95.3% of transactions.")


def test_sentence_leaves_out_what_was_not_measured(results: dict[str, Any]) -> None:
    results["teacher"]["seconds_per_tx"] = None
    results["variants"][1]["speed"] = None
    results["cost"] = None
    head = headline(results)
    assert head["latency_ms"]["ratio"] is None
    assert head["sentence"] == "The student is 1.2 points below the teacher's accuracy."
    results["variants"][1]["accuracy"]["accuracy"] = None
    assert "not measured" in headline(results)["sentence"]


def test_sentence_for_a_slower_student(results: dict[str, Any]) -> None:
    results["teacher"]["seconds_per_tx"] = 0.001
    assert "2.0× slower" in headline(results)["sentence"]


def test_unknown_student_says_how_to_fix(results: dict[str, Any]) -> None:
    results["student"] = "nope"
    with pytest.raises(ValueError, match="set it to one of the variants"):
        headline(results)


def test_percent_cheaper_never_rounds_up_to_100() -> None:
    assert percent_cheaper(99.875) == "99.88% cheaper"
    assert percent_cheaper(99.99996) == "99.99996% cheaper"
    assert percent_cheaper(-50.0) == "50.00% more expensive"


def test_write_report_writes_everything(results: dict[str, Any], tmp_path: Path) -> None:
    paths = write_report(results, tmp_path / "out")
    assert set(paths) == {"results", "markdown", "html"} | FIGURE_NAMES
    for name in FIGURE_NAMES:
        assert paths[name].read_bytes().startswith(b"\x89PNG")
    saved = json.loads(paths["results"].read_text(encoding="utf-8"))
    assert saved.pop("headline") == json.loads(json.dumps(headline(results)))
    assert saved == json.loads(json.dumps(results))
    markdown = paths["markdown"].read_text(encoding="utf-8")
    for name in FIGURE_NAMES:
        assert f"]({name}.png)" in markdown
    html = paths["html"].read_text(encoding="utf-8")
    for name in FIGURE_NAMES:
        encoded = base64.b64encode(paths[name].read_bytes()).decode("ascii")
        assert f'src="data:image/png;base64,{encoded}"' in html


def test_html_stands_alone(results: dict[str, Any], tmp_path: Path) -> None:
    html = write_report(results, tmp_path)["html"].read_text(encoding="utf-8")
    assert "http://" not in html
    assert "https://" not in html
    sources = re.findall(r'(?:src|href)\s*=\s*"([^"]*)"', html)
    assert sources
    assert all(s.startswith("data:image/png;base64,") for s in sources)
    assert "<link" not in html
    assert "<script" not in html
    assert "<style>" in html


@pytest.mark.parametrize("render", ["markdown", "html"])
def test_documents_hold_every_part(results: dict[str, Any], render: str) -> None:
    text = _render(results, render)
    for part in [
        "The student is 99.88% cheaper, 250× faster",  # headline sentence
        "1,600",  # throughput of the student
        "800×",  # throughput ratio
        "tf-idf + logreg",  # variants table
        "long tail rows",  # slices
        "OpenAI gpt-4o-mini",  # cost options with their dates
        "2024-07-18",
        "hf:smollm2 measured (2 vCPU) (headline)",
        "9.00 ms",  # HTTP p50 at concurrency 8
        "0.410 s",  # cold start
        "182.5 MB",  # peak memory
        "7.6×",  # student against a plain pipeline
        "transport",  # per category
        "Test CPU @ 2.0GHz",  # machine
        "onnxruntime",
    ]:
        assert part in text, part


@pytest.mark.parametrize("render", ["markdown", "html"])
def test_missing_figures_read_as_a_dash(results: dict[str, Any], render: str) -> None:
    results.update(http=None, cold_start=None, peak_memory_mb=None, pipeline=None)
    results["variants"][2]["speed"] = None
    text = _render(results, render)
    cell = "| {} | — |" if render == "markdown" else "<td>{}</td><td>—</td>"
    for figure in ["peak memory", "cold start: import and load", "student / pipeline"]:
        assert cell.format(figure) in text
    assert "HTTP latency: — (not measured)." in text
    assert "— / —" in text  # the baseline's speed
    assert "None" not in text


@pytest.mark.parametrize("render", ["markdown", "html"])
def test_strings_from_the_results_are_escaped(results_factory: Factory, render: str) -> None:
    results = results_factory(baseline_name="<script>alert('x')</script>")
    results["machine"]["cpu"] = "A & B <cpu>"
    text = _render(results, render)
    assert "<script>" not in text
    assert "&lt;script&gt;" in text
    assert "A &amp; B &lt;cpu&gt;" in text


def _render(results: dict[str, Any], how: str) -> str:
    if how == "markdown":
        return render_markdown(results, {"coverage": "coverage.png"})
    return render_html(results, {"coverage": b"\x89PNG fake"})


def test_headline_without_a_teacher_variant(results_factory: Factory) -> None:
    results = results_factory(teacher=False)
    head = headline(results)
    assert head["teacher"] is None
    assert head["reference"] == "gold"
    assert head["accuracy"] == {
        "metric": "accuracy", "teacher": None, "student": 0.788, "points": None
    }  # fmt: skip
    # cost and speed still come from the teacher's label metadata
    assert head["sentence"] == (
        "The student is 99.88% cheaper, 250× faster and 78.8% accurate against the gold labels."
    )


@pytest.mark.parametrize("render", ["markdown", "html"])
def test_documents_without_a_teacher_say_so(results_factory: Factory, render: str) -> None:
    text = _render(results_factory(teacher=False), render)
    assert "teacher: none in the data" in text
    assert "The data has no teacher labels" in text
    assert "teacher (hf:smollm2)" not in text


def test_by_country_table_sorts_countries_and_has_the_overall_row(
    results_factory: Factory,
) -> None:
    results = results_factory(countries=True)
    results["data"]["countries"] = {"BR": 50, "UK": 150, "DE": 100}  # any order in the file
    text = _render(results, "markdown")
    section = text[text.index("## By country") : text.index("## Slices")]
    lines = [line for line in section.splitlines() if line.startswith("| ")]
    assert lines[0] == ("| country | n | teacher (hf:smollm2) | student (onnx int8) | tf-idf |")
    assert [line.split(" | ")[0] for line in lines[1:]] == ["| all", "| UK", "| DE", "| BR"]
    assert lines[1] == "| all | 300 | 80.0% / 0.780 | 78.8% / 0.768 | 70.0% / 0.680 |"
    # the student is 0.1 less accurate per country down the list
    assert lines[3] == "| DE | 100 | 80.0% / 0.750 | 68.8% / 0.638 | 50.0% / 0.450 |"
    assert "accuracy / macro-F1 against gold" in section


def test_detailed_accuracy_column_only_with_detailed_gold(results_factory: Factory) -> None:
    with_detailed = _render(results_factory(countries=True), "markdown")
    assert "| detailed accuracy |" in with_detailed
    assert "| student (onnx int8) | onnx int8 | 78.8% | 0.768 | 61.2% |" in with_detailed
    assert "over the 120 rows with a gold detailed category" in with_detailed
    plain = _render(results_factory(), "markdown")
    assert "detailed accuracy" not in plain
    assert "## By country" not in plain


def test_gold_only_report_is_written(results_factory: Factory, tmp_path: Path) -> None:
    paths = write_report(results_factory(teacher=False, countries=True), tmp_path)
    saved = json.loads(paths["results"].read_text(encoding="utf-8"))
    assert saved["headline"]["teacher"] is None
    assert saved["variants"][0]["accuracy"]["by_country"]["UK"]["rows"] == 150
    assert "By country" in paths["html"].read_text(encoding="utf-8")
