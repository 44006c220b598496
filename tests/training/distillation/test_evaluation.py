"""Student metrics: agreement, KL, accuracy, macro-F1, ECE and temperature scaling."""

import numpy as np
import pytest

from categorizer.engine import softmax
from training.distillation.evaluation import (
    evaluate,
    expected_calibration_error,
    fit_temperature,
    primary_probs,
)


def test_ece_by_hand() -> None:
    # Two rows at confidence 0.9 (one right, one wrong) and two at 0.6 (both right).
    probs = np.array([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.4, 0.6]])
    targets = np.array([0, 1, 0, 1])
    # Bin of 0.9: |0.5 - 0.9| * 2/4; bin of 0.6: |1.0 - 0.6| * 2/4.
    assert expected_calibration_error(probs, targets, bins=10) == pytest.approx(0.2 + 0.2)


def test_ece_skips_unknown_targets() -> None:
    probs = np.array([[0.8, 0.2], [0.8, 0.2]])
    assert expected_calibration_error(probs, np.array([0, -1])) == pytest.approx(0.2)
    assert np.isnan(expected_calibration_error(probs, np.array([-1, -1])))


def test_fit_temperature_recovers_the_generating_temperature() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(4000, 5)) * 3.0
    true_t = 2.5
    probs = softmax(logits, true_t)
    targets = np.array([rng.choice(5, p=p) for p in probs])
    assert fit_temperature(logits, targets) == pytest.approx(true_t, rel=0.1)


def test_fit_temperature_with_nothing_to_fit() -> None:
    assert fit_temperature(np.zeros((3, 2)), np.array([-1, -1, -1])) == 1.0


def test_evaluate_against_teacher_and_gold() -> None:
    logits = np.log(np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4]]))
    teacher = np.array([[0.6, 0.3, 0.1], [0.2, 0.7, 0.1], [0.5, 0.2, 0.3]])
    gold = np.array([0, 1, -1])
    metrics = evaluate(logits, teacher, gold)
    assert metrics["rows"] == 3
    assert metrics["agreement"] == pytest.approx(2 / 3)
    assert metrics["accuracy"] == pytest.approx(1.0)  # the unknown gold row is not counted
    assert metrics["macro_f1"] == pytest.approx(1.0)
    expected_kl = np.mean(
        [(t * np.log(t / np.exp(z))).sum() for t, z in zip(teacher, logits, strict=True)]
    )
    assert metrics["kl"] == pytest.approx(expected_kl, rel=1e-6)


def test_evaluate_without_gold_leaves_accuracy_empty() -> None:
    metrics = evaluate(np.zeros((2, 3)), np.full((2, 3), 1 / 3))
    assert metrics["accuracy"] is None
    assert metrics["macro_f1"] is None
    assert metrics["kl"] == pytest.approx(0.0, abs=1e-9)


def test_primary_probs_sums_detailed_into_parents() -> None:
    logits = np.array([[0.0, 0.0, 0.0, 0.0]])
    probs = primary_probs(logits, parent_index=np.array([0, 1, 1, 1]))
    assert probs[0].tolist() == pytest.approx([0.25, 0.75])
