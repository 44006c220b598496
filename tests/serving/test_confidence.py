"""Plaid confidence levels from calibrated confidences."""

from __future__ import annotations

import pytest

from serving.confidence import CONFIDENCE_LEVELS, confidence_level


@pytest.mark.parametrize(
    ("confidence", "level"),
    [
        (1.0, "VERY_HIGH"),
        (0.981, "VERY_HIGH"),
        (0.98, "HIGH"),
        (0.91, "HIGH"),
        (0.90, "MEDIUM"),
        (0.61, "MEDIUM"),
        (0.60, "LOW"),
        (0.0, "LOW"),
    ],
)
def test_levels_follow_the_thresholds(confidence: float, level: str) -> None:
    assert confidence_level(confidence) == level


def test_abstentions_and_nan_are_unknown() -> None:
    assert confidence_level(0.5, abstain_threshold=0.6) == "UNKNOWN"
    assert confidence_level(0.7, abstain_threshold=0.6) == "MEDIUM"
    assert confidence_level(float("nan")) == "UNKNOWN"


def test_thresholds_are_ordered_highest_first() -> None:
    bounds = [bound for bound, _ in CONFIDENCE_LEVELS]
    assert bounds == sorted(bounds, reverse=True)
