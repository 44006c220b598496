"""`categorizer demo --fast` end to end, as `make demo` runs it (smaller), and its guards."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("torch")
pytest.importorskip("matplotlib")

from benchmarks.demo import TEACHER_OUTPUTS, DemoConfig, shipped_real_labels, shipped_teacher_labels
from training.distillation.train_config import DEFAULT_DEV_SET


@pytest.mark.slow
def test_demo_fast_runs_the_whole_loop(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    result = subprocess.run(
        [sys.executable, "-m", "categorizer.cli", "demo", "--fast", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    stdout = result.stdout
    for step in ("synth", "teacher labels", "train", "export int8", "bench + report"):
        assert re.search(rf"✓ {re.escape(step)}: [0-9.]+ s", stdout), step
    assert "cheaper" in stdout
    assert "faster" in stdout
    assert f"categorizer serve --bundle {out / 'bundle_llm'}" in stdout.replace("\n", "")

    report = out / "report"
    html = (report / "report.html").read_text(encoding="utf-8")
    images = re.findall(r'<img[^>]+src="([^"]+)"', html)
    assert len(images) == 4
    assert all(src.startswith("data:image/png;base64,") for src in images)
    assert not re.search(r'(src|href)="https?://', html)

    results = json.loads((report / "results.json").read_text(encoding="utf-8"))
    names = [v["name"] for v in results["variants"]]
    assert names[0] == "teacher (hf:smollm2)"
    for name in ("student (onnx int8)", "student (onnx fp32)", "student (torch fp32)",
                 "oracle student (onnx int8)", "baseline: tf-idf + logreg",
                 "baseline: zero-shot MiniLM"):  # fmt: skip
        assert name in names
    for variant in results["variants"]:
        figures = variant["accuracy"]
        for key in ("accuracy", "macro_f1", "agreement", "ece", "per_category", "confusion",
                    "reliability", "coverage", "slices"):  # fmt: skip
            assert figures[key] is not None, (variant["name"], key)
        assert set(figures["slices"]) >= {"long_tail", "chain"}
        if variant["kind"] != "teacher":
            assert variant["speed"]["batch64_tx_per_s_all"] > 0
    # the teacher's figures come from the shipped label run's metadata
    assert results["teacher"]["seconds_per_tx"] > 1.0
    assert results["teacher"]["prompt_tokens_per_tx"] > 1000
    for key in ("http", "cold_start", "peak_memory_mb", "pipeline", "cost", "headline", "machine"):
        assert results[key], key
    options = {o["name"]: o for o in results["cost"]["teacher_options"]}
    assert any(o["basis"] == "tokens" for o in options.values())
    assert any(o["basis"] == "local-cpu" for o in options.values())
    assert results["headline"]["cost_usd_per_m"]["ratio"] > 1
    assert results["headline"]["latency_ms"]["ratio"] > 1
    # the real dev set: the teacher's shipped labels of it, every student and baseline
    real = results["real_data"]
    assert real["data"]["rows"] == len(pd.read_csv(DEFAULT_DEV_SET))
    real_names = [v["name"] for v in real["variants"]]
    assert real_names[0] == "teacher (hf:smollm2)"
    assert {"student (onnx int8)", "oracle student (onnx int8)"} <= set(real_names)
    assert all(v["accuracy"]["agreement"] is not None for v in real["variants"][1:])
    assert "## Real bank data by country" in (report / "report.md").read_text(encoding="utf-8")
    assert "real bank descriptors" in results["headline"]["sentence"]


def test_shipped_outputs_are_checked_against_their_metadata(tmp_path: Path) -> None:
    other = tmp_path / "other.parquet"
    pd.read_parquet(TEACHER_OUTPUTS).iloc[:-1].to_parquet(other)
    Path(f"{other}.meta.json").write_bytes(Path(f"{TEACHER_OUTPUTS}.meta.json").read_bytes())
    with pytest.raises(ValueError, match="regenerate it with: categorizer synth"):
        shipped_teacher_labels(tmp_path / "labels.parquet", shipped=other)


def test_shipped_outputs_carry_their_rows(tmp_path: Path) -> None:
    out = shipped_teacher_labels(tmp_path / "labels.parquet")
    meta = json.loads(Path(f"{out}.meta.json").read_text(encoding="utf-8"))
    assert meta["teacher"] == "hf:smollm2"
    assert meta["rows"] == 1_000
    assert len(pd.read_parquet(out)) == 1_000


def test_shipped_real_dev_labels_are_the_dev_sets_rows(tmp_path: Path) -> None:
    out = shipped_real_labels(tmp_path / "real.parquet")
    dev = pd.read_csv(DEFAULT_DEV_SET, dtype=str, keep_default_na=False)
    labels = pd.read_parquet(out)
    assert list(labels["description"]) == list(dev["description"].str.strip())
    assert labels["teacher_label"].notna().all()
    changed = tmp_path / "dev.csv"
    dev.iloc[:-1].to_csv(changed, index=False)
    with pytest.raises(ValueError, match=r"labels other rows .* regenerate it with: "):
        shipped_real_labels(tmp_path / "again.parquet", dev_set=changed)


def test_demo_config_checks_rows() -> None:
    assert DemoConfig(fast=True).rows == 2_000
    assert DemoConfig().rows == 50_000
    with pytest.raises(ValueError, match="at least 200"):
        DemoConfig(rows=50)
