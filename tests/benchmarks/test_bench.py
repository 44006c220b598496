"""`categorizer bench` on the tiny run: every figure is measured and the report is written."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("matplotlib")

from benchmarks.bench import BenchConfig, parse_bench_options, run_bench, teacher_info


@pytest.fixture(scope="module")
def tiny_report(tiny_run: Path, tiny_bundle: Path, tmp_path_factory: pytest.TempPathFactory):
    """One bench of the tiny student on its run's test split (baselines included, HTTP short)."""
    out = tmp_path_factory.mktemp("bench") / "report"
    config = BenchConfig(
        bundle=tiny_bundle, out=out, run=tiny_run, calls=5, batches=2, http_seconds=0.5,
        cold_repeats=1,
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
