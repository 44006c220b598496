"""Plaid-style confidence levels from the model's calibrated confidence.

The engine's confidence is a temperature-calibrated probability of the primary category, so
the thresholds below read as "how often a prediction at this level is right" on data like the
validation split. They follow the wording of Plaid's `personal_finance_category`
`confidence_level`:

* ``VERY_HIGH``: confidence above 0.98 (Plaid: "more than 98% confident");
* ``HIGH``: above 0.90 (Plaid: "more than 90% confident");
* ``MEDIUM``: above 0.60 ("moderately confident");
* ``LOW``: anything lower ("other categories may be more accurate");
* ``UNKNOWN``: the model abstained (confidence below the service's abstain threshold) or the
  confidence is not a number.

This module is the one place these thresholds live.
"""

from __future__ import annotations

import math
from typing import Literal, TypeAlias

ConfidenceLevel: TypeAlias = Literal["VERY_HIGH", "HIGH", "MEDIUM", "LOW", "UNKNOWN"]

CONFIDENCE_LEVELS: tuple[tuple[float, ConfidenceLevel], ...] = (
    (0.98, "VERY_HIGH"),
    (0.90, "HIGH"),
    (0.60, "MEDIUM"),
)
"""(exclusive lower bound, level), highest first; below the last bound the level is LOW."""


def confidence_level(confidence: float, abstain_threshold: float = 0.0) -> ConfidenceLevel:
    """The Plaid confidence level of a calibrated confidence.

    Args:
        confidence: The calibrated probability of the predicted primary category.
        abstain_threshold: The service's abstain threshold: below it the answer is UNKNOWN.

    Returns:
        VERY_HIGH, HIGH, MEDIUM, LOW or UNKNOWN.
    """
    if math.isnan(confidence) or confidence < abstain_threshold:
        return "UNKNOWN"
    for bound, level in CONFIDENCE_LEVELS:
        if confidence > bound:
            return level
    return "LOW"
