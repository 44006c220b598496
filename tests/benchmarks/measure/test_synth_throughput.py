"""The synth benchmark measures what it says (on a small corpus; the real run is `make bench`)."""

from __future__ import annotations

from benchmarks.machine import machine_info
from benchmarks.measure.synth_throughput import measure


def test_measure_reports_rows_and_speed() -> None:
    result = measure(n=2_000, seed=0, workers=1)
    assert result["rows"] == 2_000
    assert result["total_s"] >= result["generate_s"] > 0
    assert result["rows_per_s"] > 0
    assert result["distinct_merchants"] > 100


def test_machine_info_names_cpu_and_versions() -> None:
    info = machine_info()
    assert info["cores"] >= 1
    assert info["cpu"]
    assert "numpy" in info["packages"]
