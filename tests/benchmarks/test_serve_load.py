"""The HTTP load benchmark measures a real `categorizer serve` subprocess (a short run on the
tiny bundle; the real one is ``make bench-serve BUNDLE=...``)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

pytest.importorskip("fastapi")

from benchmarks.serve_load import free_port, measure, server


@pytest.mark.slow
@pytest.mark.parametrize("client", ["raw", "httpx"])
def test_measure_reports_latency_and_throughput(tiny_bundle: Path, client: str) -> None:
    args = argparse.Namespace(
        seconds=0.4, warmup=0.1, concurrency=[1, 4], batch=8, batch_concurrency=[1],
        texts=40, seed=0, client=client,
    )  # fmt: skip
    with server(tiny_bundle, free_port(), threads=1) as url:
        result = measure(url, args)
    assert [r["concurrency"] for r in result["single"]] == [1, 4]
    for row in result["single"] + result["batched"]:
        assert row["requests"] > 0
        assert row["errors"] == {}
        assert 0 < row["p50_ms"] <= row["p95_ms"] <= row["p99_ms"]
        assert row["mean_rows_per_engine_call"] >= row["rows_per_request"]
    assert result["batched"][0]["rows_per_request"] == 8
    assert result["best_batch8_tx_per_s"] > 0
    assert set(result["meets_targets"]) == {"batch8_tx_per_s", "c1_p50_ms", "c1_p99_ms"}
    assert result["model"]["threads"] == 1
