"""Accuracy figures of one model variant for the stakeholder report.

`variant_metrics` turns a variant's probabilities (student, baseline or teacher) into plain,
JSON-ready figures: accuracy and macro-F1 against gold, agreement with the teacher, calibration
(ECE and a reliability table), the accuracy-versus-coverage curve of an abstain threshold,
per-category precision/recall/F1, the confusion matrix and figures per slice (e.g. the synthetic
corpus's difficulty subsets from `difficulty_slices`). `group_metrics` scores rows per group
(per country) and `detailed_metrics` the detailed category where gold has one.

Figures that need a reference label (ECE, reliability, coverage, per-category, confusion) are
measured against gold where any gold is known, else against the teacher's argmax; the result's
``reference`` says which. Rows without a reference label (gold -1) are left out of those figures.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from training.distillation.evaluation import expected_calibration_error

HARD_DIFFICULTIES = ("long_tail", "chain", "ambiguous")
"""The synthetic corpus's ``difficulty`` values (training/synthesis/synth.py): "chain" rows come
from well-known chains, "ambiguous" from chains whose category is genuinely unclear, "long_tail"
from generated local merchants no list knows. There is no separate "easy" value, so all are
sliced."""

COVERAGE_THRESHOLDS = tuple(round(0.05 * i, 2) for i in range(20))
"""Abstain thresholds on max probability for the coverage curve: 0.0, 0.05, ..., 0.95."""


def variant_metrics(
    probs: np.ndarray,
    labels: Sequence[str],
    gold: np.ndarray | None,
    teacher_probs: np.ndarray | None,
    slices: Mapping[str, np.ndarray] | None = None,
    *,
    bins: int = 10,
) -> dict[str, Any]:
    """Report figures of one variant's predictions.

    Args:
        probs: (rows, C) probabilities over ``labels``.
        labels: The C primary category ids, in column order.
        gold: (rows,) gold indices into ``labels``, -1 where unknown; None without gold.
        teacher_probs: (rows, C) teacher distributions; None without a teacher.
        slices: Name -> boolean mask over rows (e.g. from `difficulty_slices`).
        bins: Number of equal-width confidence bins for ECE and the reliability table.

    Returns:
        A JSON-serialisable dict with keys rows, accuracy, macro_f1, agreement,
        mean_confidence, ece, reference, per_category, confusion, reliability, coverage and
        slices; undefined figures are None, never NaN.

    Raises:
        ValueError: Shapes disagree, there are no rows, or there is neither gold nor a teacher
            to measure against.
    """
    probs, gold, teacher_label, masks = _checked(probs, labels, gold, teacher_probs, slices)
    if bins < 1:
        raise ValueError(f"bins must be at least 1, got {bins}")
    predicted = probs.argmax(axis=1)
    confidence = probs.max(axis=1)
    known = gold >= 0 if gold is not None else np.zeros(len(probs), dtype=bool)
    if known.any():
        reference, name = np.where(known, gold, -1), "gold"
    elif teacher_label is not None:
        reference, name = teacher_label, "teacher"
    else:
        raise ValueError(
            "variant_metrics needs something to measure against: pass gold with at least one "
            "known label (>= 0) or teacher_probs"
        )
    has = reference >= 0
    return {
        "rows": len(probs),
        "accuracy": _accuracy(predicted, gold),
        "macro_f1": _macro_f1(predicted, gold),
        "agreement": _agreement(predicted, teacher_label),
        "mean_confidence": float(confidence.mean()),
        "ece": expected_calibration_error(probs, reference, bins=bins),
        "reference": name,
        "per_category": _per_category(predicted[has], reference[has], labels),
        "confusion": {
            "labels": list(labels),
            "matrix": _confusion(predicted[has], reference[has], len(labels)),
        },
        "reliability": _reliability(confidence[has], predicted[has] == reference[has], bins),
        "coverage": _coverage(confidence[has], predicted[has] == reference[has]),
        "slices": {
            slice_name: {
                "rows": int(mask.sum()),
                "accuracy": _accuracy(predicted[mask], None if gold is None else gold[mask]),
                "agreement": _agreement(
                    predicted[mask], None if teacher_label is None else teacher_label[mask]
                ),
            }
            for slice_name, mask in masks.items()
        },
    }


def detailed_metrics(
    predicted: Sequence[str | None] | None, gold: Sequence[str | None]
) -> dict[str, Any]:
    """Detailed-category accuracy over the rows that have a gold detailed label.

    Args:
        predicted: The variant's detailed label per row; None for a variant that predicts
            primaries only (its accuracy is then None).
        gold: Gold detailed labels; None (or "") where a row has none.

    Returns:
        ``{"rows": rows with a gold detailed label, "accuracy": float or None}``.

    Raises:
        ValueError: `predicted` and `gold` differ in length.
    """
    known = np.array([g is not None and g != "" for g in gold], dtype=bool)
    if predicted is None or not known.any():
        return {"rows": int(known.sum()), "accuracy": None}
    if len(predicted) != len(gold):
        raise ValueError(f"{len(predicted)} detailed predictions for {len(gold)} gold rows")
    hits = [p == g for p, g, k in zip(predicted, gold, known, strict=True) if k]
    return {"rows": int(known.sum()), "accuracy": float(np.mean(hits))}


def group_metrics(
    probs: np.ndarray,
    gold: np.ndarray | None,
    teacher_probs: np.ndarray | None,
    groups: Sequence[str],
) -> dict[str, dict[str, Any]]:
    """Rows, accuracy, macro-F1 and agreement per group (e.g. per country).

    Args:
        probs: (rows, C) the variant's probabilities.
        gold: (rows,) gold indices, -1 where unknown; None without gold.
        teacher_probs: (rows, C) teacher distributions; None without a teacher.
        groups: (rows,) each row's group name.

    Returns:
        Group → ``{"rows", "accuracy", "macro_f1", "agreement"}`` (None where undefined), the
        largest group first (ties by name).

    Raises:
        ValueError: `groups` does not have one entry per row.
    """
    names = np.asarray(groups, dtype=object).astype(str)
    if names.shape != (len(probs),):
        raise ValueError(f"groups must have shape ({len(probs)},), got {names.shape}")
    predicted = np.asarray(probs).argmax(axis=1)
    teacher = None if teacher_probs is None else np.asarray(teacher_probs).argmax(axis=1)
    out = {}
    for name, count in group_counts(names).items():
        mask = names == name
        part = None if gold is None else np.asarray(gold)[mask]
        out[name] = {
            "rows": int(count),
            "accuracy": _accuracy(predicted[mask], part),
            "macro_f1": _macro_f1(predicted[mask], part),
            "agreement": _agreement(predicted[mask], None if teacher is None else teacher[mask]),
        }
    return out


def group_counts(groups: Sequence[str]) -> dict[str, int]:
    """Rows per group, the largest group first (ties by name)."""
    unique, counts = np.unique(np.asarray(groups, dtype=object).astype(str), return_counts=True)
    pairs = zip(unique.tolist(), counts.tolist(), strict=True)
    return dict(sorted(pairs, key=lambda pair: (-pair[1], pair[0])))


def difficulty_slices(difficulty: Sequence[str | None]) -> dict[str, np.ndarray]:
    """Boolean masks of the rows of each synthetic difficulty (`HARD_DIFFICULTIES`).

    Args:
        difficulty: The corpus's ``difficulty`` column; None (or anything else) is in no slice.

    Returns:
        ``{"long_tail": mask, "chain": mask, "ambiguous": mask}``, each of shape (rows,).
    """
    values = np.array([str(v) if v is not None else "" for v in difficulty], dtype=object)
    return {name: values == name for name in HARD_DIFFICULTIES}


def _checked(
    probs: np.ndarray,
    labels: Sequence[str],
    gold: np.ndarray | None,
    teacher_probs: np.ndarray | None,
    slices: Mapping[str, np.ndarray] | None,
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None, dict[str, np.ndarray]]:
    """Validated arrays: probs, gold (int), teacher argmax, slice masks (bool)."""
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or probs.shape[1] != len(labels):
        raise ValueError(
            f"probs must have shape (rows, {len(labels)}) (one column per label), got {probs.shape}"
        )
    rows = len(probs)
    if rows == 0:
        raise ValueError("probs has no rows: there is nothing to score")
    if not np.isfinite(probs).all():
        raise ValueError("probs contains NaN or infinite values; check the model's output")
    if gold is not None:
        gold = np.asarray(gold).astype(np.int64)
        if gold.shape != (rows,):
            raise ValueError(f"gold must have shape ({rows},) like probs' rows, got {gold.shape}")
        if gold.min() < -1 or gold.max() >= len(labels):
            raise ValueError(f"gold holds indices outside -1..{len(labels) - 1} (-1 = unknown)")
    teacher_label = None
    if teacher_probs is not None:
        teacher = np.asarray(teacher_probs, dtype=np.float64)
        if teacher.shape != probs.shape:
            raise ValueError(
                f"teacher_probs must have the shape of probs {probs.shape}, got {teacher.shape}"
            )
        teacher_label = teacher.argmax(axis=1)
    masks: dict[str, np.ndarray] = {}
    for name, mask in (slices or {}).items():
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != (rows,):
            raise ValueError(
                f"slices[{name!r}] must be a boolean mask of shape ({rows},), got {mask.shape}"
            )
        masks[name] = mask
    return probs, gold, teacher_label, masks


def _accuracy(predicted: np.ndarray, gold: np.ndarray | None) -> float | None:
    if gold is None or not (gold >= 0).any():
        return None
    known = gold >= 0
    return float((predicted[known] == gold[known]).mean())


def _macro_f1(predicted: np.ndarray, gold: np.ndarray | None) -> float | None:
    from sklearn.metrics import f1_score

    if gold is None or not (gold >= 0).any():
        return None
    known = gold >= 0
    # Over the labels present in gold, as training.distillation.evaluation.evaluate does: a label no
    # gold row has would add an F1 of 0 that says nothing about the model.
    present = np.unique(gold[known])
    return float(
        f1_score(gold[known], predicted[known], average="macro", labels=present, zero_division=0)
    )


def _agreement(predicted: np.ndarray, teacher_label: np.ndarray | None) -> float | None:
    if teacher_label is None or len(predicted) == 0:
        return None
    return float((predicted == teacher_label).mean())


def _per_category(
    predicted: np.ndarray, reference: np.ndarray, labels: Sequence[str]
) -> dict[str, dict[str, float | int]]:
    from sklearn.metrics import precision_recall_fscore_support

    precision, recall, f1, support = precision_recall_fscore_support(
        reference, predicted, labels=np.arange(len(labels)), zero_division=0
    )
    return {
        label: {
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(support[i]),
        }
        for i, label in enumerate(labels)
    }


def _confusion(predicted: np.ndarray, reference: np.ndarray, classes: int) -> list[list[int]]:
    matrix = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(matrix, (reference, predicted), 1)
    return matrix.tolist()


def _reliability(confidence: np.ndarray, correct: np.ndarray, bins: int) -> list[dict[str, Any]]:
    """Per confidence bin: rows, accuracy and mean confidence (None for an empty bin).

    Bins are (lower, upper] with the first closed at 0, exactly as
    `expected_calibration_error` assigns them, so the table and the ECE agree.
    """
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, bins - 1)
    table = []
    for b in range(bins):
        members = which == b
        count = int(members.sum())
        table.append(
            {
                "lower": float(edges[b]),
                "upper": float(edges[b + 1]),
                "count": count,
                "accuracy": float(correct[members].mean()) if count else None,
                "confidence": float(confidence[members].mean()) if count else None,
            }
        )
    return table


def _coverage(confidence: np.ndarray, correct: np.ndarray) -> list[dict[str, Any]]:
    """Accuracy of the rows a threshold keeps, and the share it keeps, per threshold."""
    curve = []
    total = len(confidence)
    for threshold in COVERAGE_THRESHOLDS:
        kept = confidence >= threshold
        count = int(kept.sum())
        curve.append(
            {
                "threshold": threshold,
                "coverage": count / total if total else 0.0,
                "accuracy": float(correct[kept].mean()) if count else None,
            }
        )
    return curve
