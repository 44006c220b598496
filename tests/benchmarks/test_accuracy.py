"""variant_metrics on a 3-class example small enough to check by hand."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("sklearn")

from benchmarks.accuracy import (
    HARD_DIFFICULTIES,
    detailed_metrics,
    difficulty_slices,
    group_counts,
    group_metrics,
    variant_metrics,
)

LABELS = ["A", "B", "C"]
# predicted: A B A C C; confidence: .7 .8 .4 .4 .9
PROBS = np.array(
    [
        [0.7, 0.2, 0.1],
        [0.1, 0.8, 0.1],
        [0.4, 0.35, 0.25],
        [0.3, 0.3, 0.4],
        [0.05, 0.05, 0.9],
    ]
)
GOLD = np.array([0, 1, 1, 2, -1])  # the last row has no gold
TEACHER = np.eye(3)[[0, 1, 0, 0, 2]] * 0.7 + 0.1  # argmax A B A A C


def _plain(value: object) -> None:
    """Fails on anything that is not plain JSON data (numpy scalars, NaN)."""
    if isinstance(value, dict):
        for key, item in value.items():
            assert type(key) is str
            _plain(item)
    elif isinstance(value, list):
        for item in value:
            _plain(item)
    else:
        assert value is None or type(value) in (int, float, str), (value, type(value))


def test_gold_figures_match_the_hand_computation() -> None:
    result = variant_metrics(PROBS, LABELS, GOLD, TEACHER, bins=10)
    assert result["rows"] == 5
    assert result["reference"] == "gold"
    assert result["accuracy"] == pytest.approx(3 / 4)  # rows 0-3: A B A C vs A B B C
    # F1: A = 2/3 (P 1/2, R 1), B = 2/3 (P 1, R 1/2), C = 1
    assert result["macro_f1"] == pytest.approx(7 / 9)
    assert result["agreement"] == pytest.approx(4 / 5)  # row 3: C vs the teacher's A
    assert result["mean_confidence"] == pytest.approx(3.2 / 5)
    assert result["confusion"] == {"labels": LABELS, "matrix": [[1, 0, 0], [1, 1, 0], [0, 0, 1]]}
    assert result["per_category"]["A"] == pytest.approx(
        {"precision": 0.5, "recall": 1.0, "f1": 2 / 3, "support": 1}
    )
    assert result["per_category"]["B"] == pytest.approx(
        {"precision": 1.0, "recall": 0.5, "f1": 2 / 3, "support": 2}
    )
    assert result["per_category"]["C"]["support"] == 1
    # ECE over the 4 gold rows: bin (.3,.4] 2 rows, acc .5; (.6,.7] acc 1; (.7,.8] acc 1
    assert result["ece"] == pytest.approx(2 / 4 * 0.1 + 1 / 4 * 0.3 + 1 / 4 * 0.2)


def test_reliability_bins_and_coverage_curve() -> None:
    result = variant_metrics(PROBS, LABELS, GOLD, TEACHER, bins=10)
    reliability = result["reliability"]
    assert len(reliability) == 10
    assert reliability[3] == pytest.approx(
        {"lower": 0.3, "upper": 0.4, "count": 2, "accuracy": 0.5, "confidence": 0.4}
    )
    assert reliability[6]["count"] == reliability[7]["count"] == 1
    assert reliability[0] == {
        "lower": 0.0,
        "upper": 0.1,
        "count": 0,
        "accuracy": None,
        "confidence": None,
    }
    assert sum(b["count"] for b in reliability) == 4  # the gold rows only

    coverage = {round(p["threshold"], 2): p for p in result["coverage"]}
    assert list(coverage) == [round(0.05 * i, 2) for i in range(20)]
    assert coverage[0.0] == pytest.approx({"threshold": 0.0, "coverage": 1.0, "accuracy": 0.75})
    assert coverage[0.5] == pytest.approx({"threshold": 0.5, "coverage": 0.5, "accuracy": 1.0})
    assert coverage[0.95] == {"threshold": 0.95, "coverage": 0.0, "accuracy": None}


def test_without_gold_the_teacher_is_the_reference() -> None:
    for gold in (None, np.full(5, -1)):
        result = variant_metrics(PROBS, LABELS, gold, TEACHER)
        assert result["reference"] == "teacher"
        assert result["accuracy"] is None
        assert result["macro_f1"] is None
        assert result["agreement"] == pytest.approx(0.8)
        assert result["confusion"]["matrix"] == [[2, 0, 1], [0, 1, 0], [0, 0, 1]]
        assert result["coverage"][0]["accuracy"] == pytest.approx(0.8)
        assert result["per_category"]["A"]["support"] == 3


def test_without_a_teacher_agreement_is_none() -> None:
    result = variant_metrics(PROBS, LABELS, GOLD, None)
    assert result["agreement"] is None
    assert result["accuracy"] == pytest.approx(0.75)


def test_slices() -> None:
    slices = {
        "first3": np.array([True, True, True, False, False]),
        "last": np.array([0, 0, 0, 0, 1]),
        "none": np.zeros(5, dtype=bool),
    }
    result = variant_metrics(PROBS, LABELS, GOLD, TEACHER, slices)
    assert result["slices"]["first3"] == pytest.approx(
        {"rows": 3, "accuracy": 2 / 3, "agreement": 1.0}
    )
    assert result["slices"]["last"] == {"rows": 1, "accuracy": None, "agreement": 1.0}
    assert result["slices"]["none"] == {"rows": 0, "accuracy": None, "agreement": None}
    assert variant_metrics(PROBS, LABELS, GOLD, TEACHER)["slices"] == {}


def test_result_is_plain_json() -> None:
    result = variant_metrics(
        PROBS.astype(np.float32), LABELS, GOLD, TEACHER, {"s": np.ones(5, bool)}
    )
    assert set(result) == {
        "rows", "accuracy", "macro_f1", "agreement", "mean_confidence", "ece", "reference",
        "per_category", "confusion", "reliability", "coverage", "slices",
    }  # fmt: skip
    _plain(result)
    json.dumps(result, allow_nan=False)


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((PROBS[:, :2], LABELS, GOLD, TEACHER), "probs"),
        ((PROBS[:0], LABELS, None, TEACHER[:0]), "no rows"),
        ((PROBS, LABELS, GOLD[:4], TEACHER), "gold"),
        ((PROBS, LABELS, np.array([0, 1, 3, 2, -1]), TEACHER), "gold"),
        ((PROBS, LABELS, GOLD, TEACHER[:4]), "teacher_probs"),
        ((PROBS, LABELS, GOLD, TEACHER, {"short": np.ones(4, bool)}), "slices"),
        ((PROBS, LABELS, None, None), "gold .* or teacher_probs"),
        ((PROBS, LABELS, np.full(5, -1), None), "gold .* or teacher_probs"),
    ],
)
def test_bad_arguments_raise(args: tuple, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        variant_metrics(*args)


def test_difficulty_slices() -> None:
    masks = difficulty_slices(["chain", "long_tail", None, "ambiguous", "chain"])
    assert set(masks) >= {"long_tail", "chain"}
    assert masks["chain"].tolist() == [True, False, False, False, True]
    assert masks["long_tail"].tolist() == [False, True, False, False, False]
    assert masks["ambiguous"].tolist() == [False, False, False, True, False]


def test_difficulty_slices_cover_the_synthetic_corpus() -> None:
    pytest.importorskip("pandas")
    from training.synthesis.synth import SynthConfig, generate

    frame = generate(SynthConfig(n=300, seed=5, workers=1))
    assert set(frame["difficulty"]) == set(HARD_DIFFICULTIES)
    masks = difficulty_slices(frame["difficulty"].tolist())
    assert sum(int(m.sum()) for m in masks.values()) == len(frame)


def test_group_metrics_per_country() -> None:
    # predicted A B A C C against gold A B B C -; the teacher says A B A A C
    groups = ["UK", "UK", "DE", "DE", "DE"]
    result = group_metrics(PROBS, GOLD, TEACHER, groups)
    assert list(result) == ["DE", "UK"]  # the most rows first
    assert result["UK"] == {"rows": 2, "accuracy": 1.0, "macro_f1": 1.0, "agreement": 1.0}
    de = result["DE"]
    assert de["rows"] == 3
    assert de["accuracy"] == pytest.approx(1 / 2)  # A vs B wrong, C right; the last has no gold
    assert de["macro_f1"] == pytest.approx(1 / 2)  # over B (F1 0) and C (F1 1)
    assert de["agreement"] == pytest.approx(2 / 3)
    json.dumps(result)


def test_group_metrics_without_gold_or_teacher() -> None:
    result = group_metrics(PROBS, None, None, ["X"] * 5)
    assert result == {"X": {"rows": 5, "accuracy": None, "macro_f1": None, "agreement": None}}
    with pytest.raises(ValueError, match="groups must have shape"):
        group_metrics(PROBS, GOLD, None, ["X"] * 4)


def test_group_counts_are_largest_first_then_by_name() -> None:
    assert list(group_counts(["b", "a", "c", "c", "b"]).items()) == [("b", 2), ("c", 2), ("a", 1)]


def test_detailed_metrics_count_only_rows_with_a_detailed_label() -> None:
    gold = ["X_1", None, "Y_2", "", "Y_3"]
    result = detailed_metrics(["X_1", "X_1", "Y_1", "Y_3", "Y_3"], gold)
    assert result == {"rows": 3, "accuracy": pytest.approx(2 / 3)}
    assert detailed_metrics(None, gold) == {"rows": 3, "accuracy": None}
    assert detailed_metrics(["X_1"] * 2, [None, None]) == {"rows": 0, "accuracy": None}
    with pytest.raises(ValueError, match="4 detailed predictions for 5"):
        detailed_metrics(["X_1"] * 4, gold)
