"""The report's figures are PNGs and leave no figure open."""

from __future__ import annotations

from typing import Any

import pytest

from benchmarks.report import plots

PNG = b"\x89PNG\r\n\x1a\n"


def _open_figures() -> list[int]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.get_fignums()


def test_every_plot_is_a_png(results: dict[str, Any]) -> None:
    variants = results["variants"]
    student = variants[1]["accuracy"]
    pngs = [
        plots.accuracy_vs_latency(variants, teacher_latency_ms=500.0),
        plots.confusion_matrix(student["confusion"]),
        plots.reliability_diagram({v["name"]: v["accuracy"]["reliability"] for v in variants}),
        plots.coverage_curve({v["name"]: v["accuracy"]["coverage"] for v in variants}),
    ]
    for png in pngs:
        assert png.startswith(PNG)
        assert len(png) > 1000
    assert _open_figures() == []


def test_plots_survive_missing_figures(results: dict[str, Any]) -> None:
    variants = [{**v, "speed": None} for v in results["variants"]]
    assert plots.accuracy_vs_latency(variants, teacher_latency_ms=None).startswith(PNG)
    assert plots.coverage_curve({}).startswith(PNG)
    empty_bins = [{"confidence": None, "accuracy": None}]
    assert plots.reliability_diagram({"student": empty_bins}).startswith(PNG)
    zero_row = {"labels": ["a", "b"], "matrix": [[0, 0], [1, 3]]}
    assert plots.confusion_matrix(zero_row).startswith(PNG)
    assert _open_figures() == []


def test_confusion_matrix_must_be_square() -> None:
    with pytest.raises(ValueError, match="one row and column per label"):
        plots.confusion_matrix({"labels": ["a", "b"], "matrix": [[1, 2, 3], [4, 5, 6]]})
    assert _open_figures() == []
