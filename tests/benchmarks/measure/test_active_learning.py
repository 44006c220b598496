"""The active-learning benchmark runs its whole protocol (tiny sizes here; the real run is
``python -m benchmarks.measure.active_learning``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

from benchmarks.measure.active_learning import Protocol, run_benchmark, table

TINY = {
    "student": "scratch:L1-H64",
    "vocab_size": 300,
    "threads": 1,
    "batch_size": 32,
    "epochs": 1,
    "lr": 2e-3,
    "gold_column": "category",
}


def test_every_arm_is_trained_and_scored(tmp_path: Path) -> None:
    protocol = Protocol(
        seed_rows=160,
        pool_rows=120,
        test_rows=50,
        budgets=(15, 30),
        strategies=("entropy", "random"),
        train=TINY,
    )
    result = run_benchmark(protocol, tmp_path, log=None)
    json.dumps(result)  # JSON-ready as it is
    assert result["seed_model"]["rows_labeled"] == 160
    arms = {(arm["budget"], arm["strategy"]): arm for arm in result["arms"]}
    assert list(arms) == [(15, "entropy"), (15, "random"), (30, "entropy"), (30, "random")]
    for (budget, _), arm in arms.items():
        assert arm["selected"] == budget
        assert arm["rows_labeled"] == 160 + budget
        assert 0.0 <= arm["accuracy"] <= 1.0
        assert 0.0 <= arm["macro_f1"] <= 1.0
        assert arm["groups_selected"] <= budget
        assert sum(arm["selected_difficulty"].values()) == budget
        assert arm["seconds"] > 0
    entropy, random = arms[(30, "entropy")], arms[(30, "random")]
    assert entropy["mean_uncertainty_selected"] >= random["mean_uncertainty_selected"]
    lines = table(result).splitlines()
    assert len(lines) == 1 + 1 + 4  # header, seed model, four arms
    assert "entropy" in lines[2]
