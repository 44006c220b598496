"""A realistic ``bench-report/1`` results dict for the report, plot and cost tests."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from benchmarks.cost import cost_report

LABELS = ["groceries", "dining", "transport"]

TEACHER = {
    "id": "hf:smollm2",
    "prompt_version": "v3",
    "kind": "local",
    "seconds_per_tx": 0.5,
    "prompt_tokens_per_tx": 300.0,
    "completion_tokens_per_tx": 5.0,
    "hardware": "2 vCPU",
    "source": "benchmarks/results/teacher_hf_smollm2.json",
}


def _accuracy(accuracy: float | None, agreement: float, reference: str) -> dict[str, Any]:
    """An accuracy block with every part the report reads."""
    return {
        "rows": 300,
        "accuracy": accuracy,
        "macro_f1": None if accuracy is None else accuracy - 0.02,
        "agreement": agreement,
        "mean_confidence": 0.81,
        "ece": 0.031,
        "reference": reference,
        "per_category": {
            label: {"precision": 0.8, "recall": 0.75 + 0.05 * i, "f1": 0.79, "support": 100}
            for i, label in enumerate(LABELS)
        },
        "confusion": {"labels": LABELS, "matrix": [[80, 15, 5], [10, 85, 5], [0, 20, 80]]},
        "reliability": [
            {"lower": 0.0, "upper": 0.5, "count": 0, "accuracy": None, "confidence": None},
            {"lower": 0.5, "upper": 0.75, "count": 90, "accuracy": 0.6, "confidence": 0.65},
            {"lower": 0.75, "upper": 1.0, "count": 210, "accuracy": 0.9, "confidence": 0.88},
        ],
        "coverage": [
            {"threshold": 0.0, "coverage": 1.0, "accuracy": accuracy or agreement},
            {"threshold": 0.8, "coverage": 0.6, "accuracy": 0.93},
            {"threshold": 0.99, "coverage": 0.0, "accuracy": None},
        ],
        "slices": {
            "long_tail": {"rows": 40, "accuracy": accuracy and accuracy - 0.1, "agreement": 0.8},
            "chain": {"rows": 120, "accuracy": accuracy, "agreement": agreement},
        },
    }


def _speed(p50_all: float, tx_per_s_all: float) -> dict[str, Any]:
    return {
        "batch1_1thread": {"p50_ms": p50_all * 1.3, "p95_ms": p50_all * 2, "p99_ms": p50_all * 3},
        "batch1_all": {"p50_ms": p50_all, "p95_ms": p50_all * 1.8, "p99_ms": p50_all * 2.5},
        "batch64_tx_per_s_1thread": 800.0,
        "batch64_tx_per_s_all": tx_per_s_all,
    }


def make_results(
    *, gold: bool = True, student_accuracy: float = 0.788, baseline_name: str = "tf-idf"
) -> dict[str, Any]:
    """Teacher (accuracy 0.80, 0.5 s/tx), an int8 student (2 ms, 1,600 tx/s) and a baseline."""
    reference = "gold" if gold else "teacher"

    def score(value: float) -> float | None:
        return value if gold else None

    variants = [
        {"name": "teacher (hf:smollm2)", "kind": "teacher", "format": "hf causal LM",
         "accuracy": _accuracy(score(0.80), 1.0, reference), "speed": None, "size_mb": None},
        {"name": "student (onnx int8)", "kind": "student", "format": "onnx int8",
         "accuracy": _accuracy(score(student_accuracy), 0.953, reference),
         "speed": _speed(2.0, 1600.0), "size_mb": 23.4},
        {"name": baseline_name, "kind": "baseline", "format": "tf-idf + logreg",
         "accuracy": _accuracy(score(0.70), 0.81, reference),
         "speed": _speed(0.4, 9000.0), "size_mb": 1.2},
    ]  # fmt: skip
    return {
        "format": "bench-report/1",
        "name": "nightly",
        "created": "2026-11-28T21:00:00+00:00",
        "machine": {"cpu": "Test CPU @ 2.0GHz", "cores": 2, "platform": "Linux-test",
                    "python": "3.11.9", "packages": {"numpy": "2.1.0", "onnxruntime": "1.20.1"}},
        "data": {"path": "data/eval.parquet", "rows": 300, "gold": gold},
        "teacher": copy.deepcopy(TEACHER),
        "variants": variants,
        "student": "student (onnx int8)",
        "http": {
            "concurrency_1": {"p50_ms": 4.0, "p95_ms": 6.0, "p99_ms": 9.0, "requests_per_s": 240.0},
            "concurrency_8": {"p50_ms": 9.0, "p95_ms": 15.0, "p99_ms": 22.0,
                              "requests_per_s": 700.0},
            "batch64_tx_per_s": 1400.0,
        },
        "cold_start": {"import_and_load_s": 0.41, "first_predict_s": 0.012},
        "peak_memory_mb": 182.5,
        "pipeline": {"tx_per_s": 210.0, "student_tx_per_s": 1600.0, "ratio": 1600 / 210},
        "cost": cost_report(TEACHER, 1 / 800, teacher_vcpus=2),
    }  # fmt: skip


@pytest.fixture
def results_factory() -> Callable[..., dict[str, Any]]:
    """`make_results`, for tests that need their own variation of the results."""
    return make_results


@pytest.fixture
def results() -> dict[str, Any]:
    """The default results: gold labels, the student 1.2 points below the teacher."""
    return make_results()
