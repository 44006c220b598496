"""The student comparison's parts: spec parsing and real-dev scoring of a real bundle."""

from __future__ import annotations

import csv
from pathlib import Path

from benchmarks.measure.students import parse_student, real_dev_scores


def test_a_student_is_a_spec_and_overrides() -> None:
    assert parse_student("minilm layers=3 lr=3e-4") == ("minilm", {"layers": 3, "lr": 3e-4})
    assert parse_student("scratch:L2-H128") == ("scratch:L2-H128", {})


def test_real_dev_scores_are_per_country(tiny_bundle: Path, tmp_path: Path) -> None:
    dev = tmp_path / "dev.csv"
    rows = [
        ("TESCO STORES 3217", "-12.5", "UK", "FOOD_AND_DRINK"),
        ("HOFER DANKT 0527 K2 18.09. 17:20", "-33.87", "AT", "FOOD_AND_DRINK"),
        ("BANKOMAT 02950284 K2 21.09. 11:50", "", "AT", "TRANSFER_OUT"),
    ]
    with dev.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["description", "amount", "country", "category"])
        writer.writerows(rows)
    scores = real_dev_scores(tiny_bundle, dev)
    assert scores["rows"] == 3
    assert 0.0 <= scores["accuracy"] <= 1.0
    assert {c: s["rows"] for c, s in scores["by_country"].items()} == {"UK": 1, "AT": 2}
