"""The engine benchmark measures what it says (a few calls on the tiny run; the real run is
``python -m benchmarks.engine --run RUN``)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

from benchmarks.engine import export_missing, measure


def test_measure_reports_every_backend(tiny_run: Path, tiny_bundle: Path, tmp_path: Path) -> None:
    bundles = export_missing(tiny_run, [tiny_bundle], tmp_path)
    assert set(bundles) == {"int8", "none"}
    assert bundles["int8"] == tiny_bundle
    args = argparse.Namespace(threads=[1], calls=5, batches=2, texts=100, repeats=1, seed=0)
    result = measure(tiny_run, bundles, args)
    assert [r["backend"] for r in result["results"]] == ["torch fp32", "onnx int8", "onnx fp32"]
    for row in result["results"]:
        assert 0 < row["p50_ms"] <= row["p99_ms"]
        assert row["batch64_tx_per_s"] > 0
    assert result["agreement_with_torch"]["onnx fp32"] == 1.0
    for cold in result["cold_start"].values():
        assert cold["heavy_modules"] == []
        assert cold["import_and_load_s"] > 0
