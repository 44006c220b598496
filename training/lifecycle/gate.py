"""The regression gate: a retrained model is promoted only if it is no worse on a fixed set.

Both models are scored on the same rows (the base run's test split, which retraining never
trains on): agreement with the teacher, accuracy against gold where there is gold, and recall per
category. The new model is refused when it loses more than a margin of agreement or accuracy, or
when any category with enough rows loses more than a margin of recall; the per-category
differences are reported either way.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from training.distillation.train_config import ConfigError


@dataclass(frozen=True)
class GateConfig:
    """Margins of the regression gate (fractions: 0.01 is one point).

    Attributes:
        max_agreement_drop: Largest allowed loss of agreement with the teacher.
        max_accuracy_drop: Largest allowed loss of accuracy against gold.
        max_recall_drop: Largest allowed loss of one category's recall.
        min_support: Categories with fewer reference rows are reported but not gated (their
            recall moves by 1/support with a single row).
    """

    max_agreement_drop: float = 0.01
    max_accuracy_drop: float = 0.01
    max_recall_drop: float = 0.05
    min_support: int = 20

    def __post_init__(self) -> None:
        for name in ("max_agreement_drop", "max_accuracy_drop", "max_recall_drop"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"{name} must be between 0 and 1 (0.01 = one point), got {value}")
        if self.min_support < 1:
            raise ConfigError(f"min_support must be at least 1, got {self.min_support}")


@dataclass
class GateResult:
    """The gate's decision and the figures it was made on."""

    passed: bool
    reasons: list[str]
    base: dict[str, Any]
    new: dict[str, Any]
    per_category: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable figures."""
        return asdict(self)


def scores(
    probs: np.ndarray, teacher_probs: np.ndarray, gold: np.ndarray | None, labels: Sequence[str]
) -> dict[str, Any]:
    """Agreement, accuracy (None without gold) and per-category recall and support.

    Recall is against gold where gold is known, else against the teacher's label.
    """
    predicted = probs.argmax(axis=1)
    teacher = teacher_probs.argmax(axis=1)
    known = gold is not None and bool((gold >= 0).any())
    reference = np.where(gold >= 0, gold, teacher) if known else teacher  # type: ignore[operator]
    recall, support = {}, {}
    for index, label in enumerate(labels):
        members = reference == index
        support[label] = int(members.sum())
        recall[label] = float((predicted[members] == index).mean()) if members.any() else None
    return {
        "rows": len(predicted),
        "agreement": float((predicted == teacher).mean()),
        "accuracy": float((predicted[gold >= 0] == gold[gold >= 0]).mean()) if known else None,  # type: ignore[index,operator]
        "recall": recall,
        "support": support,
    }


def judge(base: dict[str, Any], new: dict[str, Any], config: GateConfig) -> GateResult:
    """Compare the new model's `scores` with the base model's on the same rows."""
    reasons = []
    drop = base["agreement"] - new["agreement"]
    if drop > config.max_agreement_drop:
        reasons.append(f"agreement fell {drop:.1%} (> {config.max_agreement_drop:.1%})")
    if base["accuracy"] is not None and new["accuracy"] is not None:
        drop = base["accuracy"] - new["accuracy"]
        if drop > config.max_accuracy_drop:
            reasons.append(f"accuracy fell {drop:.1%} (> {config.max_accuracy_drop:.1%})")
    rows = []
    for label, support in base["support"].items():
        before, after = base["recall"][label], new["recall"][label]
        diff = None if before is None or after is None else after - before
        gated = support >= config.min_support
        rows.append(
            {"category": label, "support": support, "base_recall": before,
             "new_recall": after, "diff": diff, "gated": gated}
        )  # fmt: skip
        if gated and diff is not None and -diff > config.max_recall_drop:
            reasons.append(f"recall of {label} fell {-diff:.1%} (> {config.max_recall_drop:.1%})")
    base_clean = {k: v for k, v in base.items() if k not in ("recall", "support")}
    new_clean = {k: v for k, v in new.items() if k not in ("recall", "support")}
    return GateResult(not reasons, reasons, base_clean, new_clean, rows)


def format_diff(result: GateResult) -> list[str]:
    """One line per category: base and new recall and the difference, gated ones marked."""
    lines = []
    for row in result.per_category:
        if row["diff"] is None or math.isnan(row["diff"]):
            continue
        mark = "" if row["gated"] else " (too few rows to gate)"
        lines.append(
            f"{row['category']:<28} {row['base_recall']:.1%} → {row['new_recall']:.1%} "
            f"({row['diff'] * 100:+.1f} points, {row['support']} rows){mark}"
        )
    return lines
