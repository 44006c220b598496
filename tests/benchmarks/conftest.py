"""A realistic ``bench-report/1`` results dict for the report, plot and cost tests, and a small
file shaped like the hand-labeled real dev set (data/real_dev/real_dev.csv)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
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


COUNTRIES = {"UK": 150, "DE": 100, "BR": 50}
"""Rows per country of `make_results(countries=True)` (300 in all)."""


def _by_country(accuracy: float | None, step: float) -> dict[str, Any]:
    """Per-country figures: each country `step` less accurate than the one before it."""
    return {
        country: {
            "rows": rows,
            "accuracy": None if accuracy is None else accuracy - i * step,
            "macro_f1": None if accuracy is None else accuracy - i * step - 0.05,
            "agreement": 0.9,
        }
        for i, (country, rows) in enumerate(COUNTRIES.items())
    }


def make_results(
    *,
    gold: bool = True,
    student_accuracy: float = 0.788,
    baseline_name: str = "tf-idf",
    teacher: bool = True,
    countries: bool = False,
) -> dict[str, Any]:
    """Teacher (accuracy 0.80, 0.5 s/tx), an int8 student (2 ms, 1,600 tx/s) and a baseline.

    ``teacher=False`` leaves the teacher variant out (a gold-only file); ``countries=True``
    gives every variant figures per country (`COUNTRIES`) and the student detailed accuracy.
    """
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
    if countries:
        for variant, step in zip(variants, (0.0, 0.1, 0.2), strict=True):
            variant["accuracy"]["by_country"] = _by_country(variant["accuracy"]["accuracy"], step)
            variant["accuracy"]["detailed"] = {"rows": 120, "accuracy": None}
        variants[1]["accuracy"]["detailed"]["accuracy"] = 0.612
    if not teacher:
        variants = variants[1:]
        for variant in variants:
            variant["accuracy"]["agreement"] = None
    data = {"path": "data/eval.parquet", "rows": 300, "gold": gold, "teacher": teacher}
    if countries:
        data |= {"countries": dict(COUNTRIES), "detailed_rows": 120}
    return {
        "format": "bench-report/1",
        "name": "nightly",
        "created": "2026-11-28T21:00:00+00:00",
        "machine": {"cpu": "Test CPU @ 2.0GHz", "cores": 2, "platform": "Linux-test",
                    "python": "3.11.9", "packages": {"numpy": "2.1.0", "onnxruntime": "1.20.1"}},
        "data": data,
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


REAL_DEV_COLUMNS = ("id", "description", "amount", "currency", "country", "category",
                    "detailed_category", "merchant", "source_repo", "source_path")  # fmt: skip
REAL_DEV_ROWS = [
    ("uk-1", "TESCO STORES 3297 LONDON", "-12.40", "GBP", "UK", "GENERAL_MERCHANDISE",
     "GENERAL_MERCHANDISE_SUPERSTORES", "Tesco"),
    ("uk-2", "CARD PAYMENT TO PRET A MANGER", "-4.95", "GBP", "UK", "FOOD_AND_DRINK",
     "FOOD_AND_DRINK_FAST_FOOD", "Pret"),
    ("uk-3", "TFL TRAVEL CH", "-2.80", "GBP", "uk", "TRANSPORTATION", "", "TfL"),
    ("uk-4", "SALARY ACME LTD", "2450.00", "GBP", "UK", "INCOME", "INCOME_WAGES", "Acme"),
    ("de-1", "REWE Markt GmbH Berlin", "", "EUR", "DE", "FOOD_AND_DRINK",
     "FOOD_AND_DRINK_GROCERIES", "Rewe"),
    ("de-2", "Miete Wohnung Januar", "-850.00", "EUR", "DE", "RENT_AND_UTILITIES", "", ""),
    ("de-3", "DB Vertrieb GmbH", "-39.90", "EUR", "DE", "TRANSPORTATION",
     "TRANSPORTATION_PUBLIC_TRANSIT", "DB"),
    ("us-1", "UBER *TRIP HELP.UBER.COM", "-17.25", "USD", "US", "TRANSPORTATION",
     "TRANSPORTATION_TAXIS_AND_RIDE_SHARES", "Uber"),
    ("us-2", "NETFLIX.COM 866-579-7172 CA", "-15.49", "USD", "US", "ENTERTAINMENT", "", "Netflix"),
    ("br-1", "PIX RECEBIDO JOAO SILVA", "350.00", "BRL", "BR", "TRANSFER_IN", "", ""),
    ("at-1", "BILLA DANKT 1234", "-23.10", "EUR", "AT", "FOOD_AND_DRINK",
     "FOOD_AND_DRINK_GROCERIES", "Billa"),
    ("xx-1", "ATM WITHDRAWAL 0042", "-40.00", "EUR", "", "TRANSFER_OUT",
     "TRANSFER_OUT_WITHDRAWAL", ""),
]  # fmt: skip
"""Rows shaped like data/real_dev/real_dev.csv (source columns left out here): gold labels only,
one blank amount, blank detailed labels, a lower-case country code and a row without one."""


def write_real_dev(path: Path, rows: list[tuple[str, ...]] | None = None) -> Path:
    """Write `REAL_DEV_ROWS` (or `rows`) as a real-dev-shaped CSV."""
    import csv

    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(REAL_DEV_COLUMNS)
        for row in REAL_DEV_ROWS if rows is None else rows:
            writer.writerow([*row, "github.com/x/y", "statements/sample.csv"])
    return path


@pytest.fixture(scope="session")
def real_dev_rows() -> list[tuple[str, ...]]:
    """`REAL_DEV_ROWS`: id, description, amount, currency, country, category, detailed, merchant."""
    return list(REAL_DEV_ROWS)


@pytest.fixture(scope="session")
def real_dev_writer() -> Callable[..., Path]:
    """`write_real_dev`, for tests that need a changed copy of the dev rows."""
    return write_real_dev


@pytest.fixture(scope="session")
def real_dev_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`REAL_DEV_ROWS` as a CSV file (read-only: write your own copy to change it)."""
    return write_real_dev(tmp_path_factory.mktemp("real_dev") / "real_dev.csv")
