"""Validation and test metrics of a student: agreement, KL, accuracy, macro-F1, calibration.

Everything works on numpy arrays of logits, so the same code scores a torch model, an ONNX
session or a saved prediction file.
"""

from __future__ import annotations

import math

import numpy as np

from categorizer.engine import parent_matrix, softmax

_EPS = 1e-12


def primary_probs(
    logits: np.ndarray, temperature: float = 1.0, parent_index: np.ndarray | None = None
) -> np.ndarray:
    """Probabilities over primaries; a detailed student's are summed per parent."""
    probs = softmax(logits, temperature)
    if parent_index is None:
        return probs
    return probs @ parent_matrix(parent_index, int(parent_index.max()) + 1)


def expected_calibration_error(probs: np.ndarray, targets: np.ndarray, bins: int = 15) -> float:
    """ECE: |accuracy - confidence| per equal-width confidence bin, weighted by the bin's rows.

    Args:
        probs: (rows, labels) predicted probabilities.
        targets: (rows,) reference label indices; negative entries are skipped.
        bins: Number of confidence bins.
    """
    keep = targets >= 0
    if not keep.any():
        return math.nan
    confidence = probs[keep].max(axis=1)
    correct = probs[keep].argmax(axis=1) == targets[keep]
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, bins - 1)
    ece = 0.0
    for b in range(bins):
        members = which == b
        if members.any():
            ece += members.mean() * abs(correct[members].mean() - confidence[members].mean())
    return float(ece)


def _nll(logits: np.ndarray, targets: np.ndarray, temperature: float, parents) -> float:
    probs = primary_probs(logits, temperature, parents)
    return float(-np.log(probs[np.arange(len(targets)), targets] + _EPS).mean())


def fit_temperature(
    logits: np.ndarray, targets: np.ndarray, parent_index: np.ndarray | None = None
) -> float:
    """The temperature that minimises the negative log-likelihood of the targets.

    Args:
        logits: (rows, labels) validation logits.
        targets: (rows,) primary label indices to calibrate against (gold where there is gold,
            else the teacher's label); negative entries are skipped.
        parent_index: See `primary_probs`.

    Returns:
        T in [0.05, 20]; 1.0 when there is nothing to fit.
    """
    from scipy.optimize import minimize_scalar

    keep = targets >= 0
    if keep.sum() < 2:
        return 1.0
    logits, targets = logits[keep], targets[keep]
    # Search log T: the NLL is smooth and unimodal in it over any sane range.
    result = minimize_scalar(
        lambda log_t: _nll(logits, targets, math.exp(log_t), parent_index),
        bounds=(math.log(0.05), math.log(20.0)),
        method="bounded",
        options={"xatol": 1e-4},
    )
    return float(math.exp(result.x))


def evaluate(
    logits: np.ndarray,
    teacher_probs: np.ndarray,
    gold: np.ndarray | None = None,
    *,
    temperature: float = 1.0,
    parent_index: np.ndarray | None = None,
) -> dict[str, float | None]:
    """Score student logits against the teacher and, where present, gold labels.

    Args:
        logits: (rows, labels) student logits.
        teacher_probs: (rows, primaries) teacher distributions.
        gold: (rows,) gold primary indices, -1 where unknown; None without a gold column.
        temperature: Calibration temperature applied before the probability-based metrics.
        parent_index: See `primary_probs`.

    Returns:
        rows, agreement (argmax equals the teacher's), kl (mean KL(teacher ‖ student)),
        accuracy and macro_f1 against gold (None without gold), ece (against gold where there is
        gold, else against the teacher's label) and mean confidence.
    """
    from sklearn.metrics import f1_score

    probs = primary_probs(logits, temperature, parent_index)
    predicted = probs.argmax(axis=1)
    teacher = np.asarray(teacher_probs, dtype=np.float64)
    teacher_label = teacher.argmax(axis=1)
    kl = (teacher * (np.log(teacher + _EPS) - np.log(probs + _EPS))).sum(axis=1).mean()
    result: dict[str, float | None] = {
        "rows": len(predicted),
        "agreement": float((predicted == teacher_label).mean()) if len(predicted) else math.nan,
        "kl": float(kl) if len(predicted) else math.nan,
        "accuracy": None,
        "macro_f1": None,
        "confidence": float(probs.max(axis=1).mean()) if len(predicted) else math.nan,
    }
    reference = teacher_label
    if gold is not None and (gold >= 0).any():
        known = gold >= 0
        result["accuracy"] = float((predicted[known] == gold[known]).mean())
        result["macro_f1"] = float(
            f1_score(gold[known], predicted[known], average="macro", labels=np.unique(gold[known]))
        )
        reference = np.where(known, gold, -1)
    result["ece"] = expected_calibration_error(probs, reference)
    return result
