"""`categorizer bench` on the tiny run: every figure is measured and the report is written, on
the run's test split and on a gold-only file shaped like the real dev set."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("matplotlib")

from benchmarks.bench import BenchConfig, parse_bench_options, run_bench, teacher_info

STUDENTS = ["student (onnx int8)", "student (onnx fp32)", "student (torch fp32)"]
BASELINES = ["baseline: tf-idf + logreg", "baseline: zero-shot MiniLM"]


def _label_real_dev(real_dev_csv: Path, out: Path) -> Path:
    """The dev rows labeled by a real teacher backend (their own gold: `labels:category`)."""
    from categorizer.taxonomy import default_taxonomy
    from training.labeling.runner import label_file
    from training.labeling.teachers import make_teacher

    taxonomy = default_taxonomy()
    teacher = make_teacher("labels:category", taxonomy)
    try:
        label_file(real_dev_csv, out, teacher, taxonomy=taxonomy, cache_path=out.with_suffix(".db"))
    finally:
        teacher.close()
    return out


@pytest.fixture(scope="module")
def tiny_report(
    tiny_run: Path, tiny_bundle: Path, real_dev_csv: Path, tmp_path_factory: pytest.TempPathFactory
):
    """One bench of the tiny student on its run's test split (baselines included, HTTP short),
    with a teacher's labels of the real dev rows as its real data."""
    out = tmp_path_factory.mktemp("bench") / "report"
    real = _label_real_dev(real_dev_csv, out.parent / "real_labels.parquet")
    config = BenchConfig(
        bundle=tiny_bundle, out=out, run=tiny_run, calls=5, batches=2, http_seconds=0.5,
        cold_repeats=1, real_data=real,
    )  # fmt: skip
    paths = run_bench(config)
    return paths, json.loads(paths["results"].read_text(encoding="utf-8"))


def test_every_variant_is_scored_and_timed(tiny_report) -> None:
    _, results = tiny_report
    names = [v["name"] for v in results["variants"]]
    assert names[0].startswith("teacher (labels:category")
    assert names[1:] == [
        "student (onnx int8)",
        "student (onnx fp32)",
        "student (torch fp32)",
        "baseline: tf-idf + logreg",
        "baseline: zero-shot MiniLM",
    ]
    assert results["student"] == "student (onnx int8)"
    rows = results["data"]["rows"]
    assert rows > 0
    assert results["data"]["gold"] is True
    for variant in results["variants"]:
        assert variant["accuracy"]["rows"] == rows
        assert 0.0 <= variant["accuracy"]["accuracy"] <= 1.0
    # the labels: teacher is the gold itself
    assert results["variants"][0]["accuracy"]["accuracy"] == 1.0
    for variant in results["variants"][1:]:
        speed = variant["speed"]
        for key in ("batch1_1thread", "batch1_all"):
            assert 0 < speed[key]["p50_ms"] <= speed[key]["p99_ms"]
        assert speed["batch64_tx_per_s_1thread"] > 0
        assert speed["batch64_tx_per_s_all"] > 0
    by_name = {v["name"]: v for v in results["variants"]}
    # fp32 ONNX and torch compute the same function
    assert by_name["student (onnx fp32)"]["accuracy"]["accuracy"] == pytest.approx(
        by_name["student (torch fp32)"]["accuracy"]["accuracy"]
    )


def test_system_figures_and_cost(tiny_report) -> None:
    _, results = tiny_report
    assert results["http"]["concurrency_1"]["p50_ms"] > 0
    assert results["http"]["batch64_tx_per_s"] > 0
    assert results["cold_start"]["import_and_load_s"] > 0
    assert results["peak_memory_mb"] > 0
    assert results["pipeline"]["tx_per_s"] > 0
    assert results["pipeline"]["ratio"] > 0
    # a labels: teacher costs nothing to price: the student's cost is still there
    assert results["cost"]["student_usd_per_m"] > 0
    assert results["headline"]["student"] == "student (onnx int8)"
    assert results["machine"]["cores"] >= 1


def test_report_files_are_written(tiny_report) -> None:
    paths, _ = tiny_report
    html = paths["html"].read_text(encoding="utf-8")
    assert html.count("data:image/png;base64,") >= 3
    assert "student (onnx int8)" in paths["markdown"].read_text(encoding="utf-8")


def test_real_data_scores_the_teacher_and_every_variant(tiny_report) -> None:
    _, results = tiny_report
    real = results["real_data"]
    assert (real["data"]["rows"], real["data"]["gold"], real["data"]["teacher"]) == (12, True, True)
    assert real["teacher"]["id"] == "labels:category"
    names = [v["name"] for v in real["variants"]]
    assert names == ["teacher (labels:category)", *STUDENTS, *BASELINES]
    teacher, *others = real["variants"]
    assert teacher["accuracy"]["accuracy"] == 1.0  # its labels are the gold
    for variant in others:
        accuracy = variant["accuracy"]
        assert accuracy["rows"] == 12
        # against a teacher that is the gold, agreement is accuracy
        assert accuracy["agreement"] == pytest.approx(accuracy["accuracy"])
        assert list(accuracy["by_country"]) == list(real["data"]["countries"])
    student = next(v for v in others if v["name"] == results["student"])
    head = results["headline"]["real"]
    assert (head["rows"], head["countries"]) == (12, 6)
    assert head["student_accuracy"] == student["accuracy"]["accuracy"]
    assert head["points"] == pytest.approx((student["accuracy"]["accuracy"] - 1.0) * 100)
    assert "On 12 real bank descriptors from 6 countries" in results["headline"]["sentence"]


def test_real_data_sections_in_the_report(tiny_report) -> None:
    paths, _ = tiny_report
    markdown = paths["markdown"].read_text(encoding="utf-8")
    start = markdown.index("## Real bank data\n")
    section = markdown[start : markdown.index("## Slices")]
    assert "## Real bank data by country" in section
    confusion = section[section.index("where the student goes wrong") :]
    rows = [line.split(" | ") for line in confusion.splitlines() if line.startswith("| ")]
    # header, then the most common gold categories of the 12 rows (3 each; ties by name)
    assert (rows[0][0], rows[0][-2:]) == ("| human label", ["other", "recall |"])
    assert [row[0] for row in rows[1:3]] == ["| FOOD_AND_DRINK", "| TRANSPORTATION"]
    for row in rows[1:3]:
        assert sum(int(cell) for cell in row[1:-1]) == 3
    assert "accuracy on real bank data" in markdown
    assert "Real bank data" in paths["html"].read_text(encoding="utf-8")


def test_teacher_info_from_label_metadata(tmp_path: Path) -> None:
    meta = tmp_path / "labels.parquet.meta.json"
    meta.write_text(
        json.dumps(
            {
                "teacher": "hf:smollm2",
                "prompt_version": "1/x",
                "teacher_calls": 4,
                "teacher_seconds": 10.0,
                "prompt_tokens": 4000,
                "completion_tokens": 8,
                "vcpus": 2,
                "device": "cpu",
            }
        )
    )
    info = teacher_info(meta)
    assert info["kind"] == "local"
    assert info["seconds_per_tx"] == 2.5
    assert info["prompt_tokens_per_tx"] == 1000.0
    assert info["completion_tokens_per_tx"] == 2.0
    assert info["vcpus"] == 2
    assert teacher_info(None)["seconds_per_tx"] is None


def test_config_and_option_errors(tiny_bundle: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="--run RUN_DIR"):
        BenchConfig(bundle=tiny_bundle, out=tmp_path)
    with pytest.raises(ValueError, match="not a bundle"):
        BenchConfig(bundle=tmp_path, out=tmp_path, data=tmp_path / "x")
    with pytest.raises(ValueError, match="does not exist"):
        BenchConfig(bundle=tiny_bundle, out=tmp_path, data=tmp_path / "missing.parquet")
    with pytest.raises(ValueError, match="NAME=BUNDLE_DIR"):
        parse_bench_options(None, None, None, ["no-equals-sign"])
    prices, pairs = parse_bench_options(["mini=0.15/0.60@2024-07-18"], 0.05, None, ["a=dir"])
    assert prices["vcpu_hour_usd"] == 0.05
    assert prices["api_prices"][0].name == "mini"
    assert pairs == {"a": Path("dir")}


def test_cli_bad_compare_exits_2(tiny_bundle: Path, tiny_run: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "categorizer.cli", "bench", "--bundle", str(tiny_bundle),
         "--run", str(tiny_run), "--out", str(tmp_path / "r"), "--compare", "oops"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2
    assert "NAME=BUNDLE_DIR" in result.stderr


@pytest.fixture(scope="module")
def dev_report(
    tiny_run: Path, tiny_bundle: Path, real_dev_csv: Path, tmp_path_factory: pytest.TempPathFactory
):
    """The tiny student and its run on the gold-only dev rows, recording what TF-IDF fits on."""
    import benchmarks.variants

    fitted: dict[str, list[str]] = {}
    original = benchmarks.variants.tfidf_variant

    def recording(labels, texts, targets, seed):
        fitted["texts"] = list(texts)
        return original(labels, texts, targets, seed)

    out = tmp_path_factory.mktemp("dev_bench") / "report"
    config = BenchConfig(
        bundle=tiny_bundle, out=out, data=real_dev_csv, run=tiny_run, calls=3, batches=1,
        http_seconds=0, cold_repeats=1, real_data=real_dev_csv,
    )  # fmt: skip
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(benchmarks.variants, "tfidf_variant", recording)
        paths = run_bench(config)
    return paths, json.loads(paths["results"].read_text(encoding="utf-8")), fitted


def test_gold_only_data_scores_every_variant_without_a_teacher(dev_report) -> None:
    _, results, _ = dev_report
    assert [v["name"] for v in results["variants"]] == STUDENTS + BASELINES
    data = results["data"]
    assert (data["rows"], data["gold"], data["teacher"]) == (12, True, False)
    assert data["detailed_rows"] == 8
    assert list(data["countries"]) == ["UK", "DE", "US", "AT", "BR", "unknown"]
    for variant in results["variants"]:
        accuracy = variant["accuracy"]
        assert accuracy["rows"] == 12
        assert 0.0 <= accuracy["accuracy"] <= 1.0
        assert accuracy["macro_f1"] is not None
        assert accuracy["agreement"] is None
        by_country = accuracy["by_country"]
        assert list(by_country) == list(data["countries"])
        assert [c["rows"] for c in by_country.values()] == list(data["countries"].values())
        correct = sum(c["accuracy"] * c["rows"] for c in by_country.values())
        assert correct == pytest.approx(accuracy["accuracy"] * 12)
        # the tiny student predicts primary categories only
        assert accuracy["detailed"] == {"rows": 8, "accuracy": None}
    assert results["headline"]["teacher"] is None
    assert results["headline"]["accuracy"]["metric"] == "accuracy"


def test_baselines_fit_on_the_runs_training_rows_never_the_data(
    dev_report, tiny_run: Path, real_dev_csv: Path
) -> None:
    from benchmarks.eval_set import load_eval_set, load_run_data
    from categorizer.taxonomy import default_taxonomy
    from training.distillation.train_config import load_config

    _, _, fitted = dev_report
    taxonomy = default_taxonomy()
    student = json.loads((tiny_run / "student.json").read_text(encoding="utf-8"))
    config = load_config(tiny_run / "train_config.json")
    run_data = load_run_data(tiny_run, config, Path(student["data_path"]), taxonomy)
    assert fitted["texts"] == [run_data.texts[i] for i in run_data.subset("train")]
    dev_texts = set(load_eval_set(real_dev_csv, taxonomy, None).texts)
    assert not dev_texts & set(fitted["texts"])


def test_dev_report_has_a_by_country_table(dev_report) -> None:
    paths, results, _ = dev_report
    markdown = paths["markdown"].read_text(encoding="utf-8")
    # the Real bank data sections follow By country: read only its own table
    section = markdown[markdown.index("## By country") : markdown.index("## Real bank data")]
    rows = [line.split(" | ")[:2] for line in section.splitlines() if line.startswith("| ")]
    assert rows[0] == ["| country", "n"]
    assert [r[0].removeprefix("| ") for r in rows[1:]] == [
        "all", "UK", "DE", "US", "AT", "BR", "unknown"
    ]  # fmt: skip
    assert [r[1] for r in rows[1:3]] == ["12", "4"]
    assert "The data has no teacher labels" in markdown
    assert "By country" in paths["html"].read_text(encoding="utf-8")
    # gold-only real data: every variant, no teacher row, and the report says why
    assert [v["name"] for v in results["real_data"]["variants"]] == STUDENTS + BASELINES
    assert "The teacher has no labels of these rows" in markdown
    assert "(the teacher has no labels of them)" in results["headline"]["sentence"]


@pytest.mark.parametrize("column", ["category", "description"])
def test_cli_data_without_a_needed_column_exits_2(
    tiny_bundle: Path, real_dev_csv: Path, tmp_path: Path, column: str
) -> None:
    import pandas as pd

    bad = tmp_path / "dev.csv"
    frame = pd.read_csv(real_dev_csv, dtype=str, keep_default_na=False)
    frame.drop(columns=[column]).to_csv(bad, index=False)
    result = subprocess.run(
        [sys.executable, "-m", "categorizer.cli", "bench", "--bundle", str(tiny_bundle),
         "--data", str(bad), "--out", str(tmp_path / "r"), "--http-seconds", "0"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    message = " ".join(result.stderr.split())
    assert str(bad) in message
    assert f"no {column!r} column" in message or f"no gold column {column!r}" in message
