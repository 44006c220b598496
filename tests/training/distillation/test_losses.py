"""The distillation loss against values computed by hand."""

import math

import pytest

torch = pytest.importorskip("torch")

from training.distillation.losses import IGNORE_INDEX, distillation_loss, soften, student_log_probs  # noqa: E402


def _kl(p: list[float], q: list[float]) -> float:
    return sum(pi * math.log(pi / qi) for pi, qi in zip(p, q, strict=True) if pi > 0)


def _softmax(z: list[float], t: float = 1.0) -> list[float]:
    e = [math.exp(v / t) for v in z]
    return [v / sum(e) for v in e]


def test_kl_term_matches_hand_computation() -> None:
    teacher, logits = [0.7, 0.2, 0.1], [1.0, 0.0, -1.0]
    loss = distillation_loss(
        torch.tensor([logits]),
        torch.tensor([teacher]),
        torch.tensor([0]),
        temperature=1.0,
        alpha=0.0,
    )
    assert loss.item() == pytest.approx(_kl(teacher, _softmax(logits)), abs=1e-6)


def test_temperature_softens_both_sides_and_scales_by_t_squared() -> None:
    teacher, logits, t = [0.7, 0.2, 0.1], [2.0, 0.5, -1.0], 3.0
    soft_teacher = _softmax([math.log(p) for p in teacher], t)
    expected = t * t * _kl(soft_teacher, _softmax(logits, t))
    loss = distillation_loss(
        torch.tensor([logits]), torch.tensor([teacher]), torch.tensor([0]), temperature=t, alpha=0.0
    )
    assert loss.item() == pytest.approx(expected, abs=1e-5)


def test_alpha_mixes_in_cross_entropy_on_hard_targets() -> None:
    teacher, logits, t, alpha = [0.6, 0.3, 0.1], [0.2, 1.0, -0.5], 2.0, 0.25
    soft_teacher = _softmax([math.log(p) for p in teacher], t)
    kl = t * t * _kl(soft_teacher, _softmax(logits, t))
    ce = -math.log(_softmax(logits)[1])
    loss = distillation_loss(
        torch.tensor([logits]),
        torch.tensor([teacher]),
        torch.tensor([1]),
        temperature=t,
        alpha=alpha,
    )
    assert loss.item() == pytest.approx((1 - alpha) * kl + alpha * ce, abs=1e-5)


def test_ignored_targets_add_no_cross_entropy() -> None:
    logits, teacher = torch.tensor([[0.2, 1.0, -0.5]]), torch.tensor([[0.6, 0.3, 0.1]])
    soft_only = distillation_loss(logits, teacher, torch.tensor([0]), temperature=1.0, alpha=0.0)
    ignored = distillation_loss(
        logits, teacher, torch.tensor([IGNORE_INDEX]), temperature=1.0, alpha=0.5
    )
    assert ignored.item() == pytest.approx(0.5 * soft_only.item(), abs=1e-6)


def test_loss_is_zero_when_student_matches_teacher() -> None:
    teacher = torch.tensor([[0.5, 0.25, 0.25]])
    loss = distillation_loss(teacher.log(), teacher, torch.tensor([0]), temperature=2.0, alpha=0.0)
    assert loss.item() == pytest.approx(0.0, abs=1e-6)


def test_detailed_student_is_summed_into_primaries() -> None:
    # Four detailed labels under two primaries: 0, 0, 1, 1.
    parents = torch.tensor([0, 0, 1, 1])
    logits = torch.tensor([[1.0, 0.0, 0.5, -1.0]])
    probs = _softmax(logits[0].tolist())
    log_q = student_log_probs(logits, 1.0, parents)
    assert log_q.exp()[0].tolist() == pytest.approx([probs[0] + probs[1], probs[2] + probs[3]])
    loss = distillation_loss(
        logits,
        torch.tensor([[0.7, 0.3]]),
        torch.tensor([IGNORE_INDEX]),
        temperature=1.0,
        alpha=0.5,
        parent_index=parents,
    )
    expected = 0.5 * _kl([0.7, 0.3], [probs[0] + probs[1], probs[2] + probs[3]])
    assert loss.item() == pytest.approx(expected, abs=1e-6)


def test_soften_keeps_zeros_and_sums_to_one() -> None:
    softened = soften(torch.tensor([[0.9, 0.1, 0.0]]), 4.0)[0]
    assert softened.sum().item() == pytest.approx(1.0)
    assert softened[2].item() == pytest.approx(0.0, abs=1e-6)
    assert softened[0] > softened[1] > 0.1


def test_per_row_weights_scale_each_rows_terms() -> None:
    logits = torch.tensor([[0.2, 1.0, -0.5], [1.5, -0.3, 0.1]])
    teacher = torch.tensor([[0.6, 0.3, 0.1], [0.2, 0.2, 0.6]])
    targets = torch.tensor([1, IGNORE_INDEX])
    t, alpha = 2.0, 0.5

    def loss(rows: slice, weights: list[float] | None = None, a: float = alpha) -> float:
        w = None if weights is None else torch.tensor(weights)
        return distillation_loss(
            logits[rows], teacher[rows], targets[rows], temperature=t, alpha=a, weights=w
        ).item()

    kl = [loss(slice(i, i + 1), a=0.0) for i in (0, 1)]  # T² · KL of each row alone
    ce = -math.log(_softmax(logits[0].tolist())[1])  # only row 0 has a hard target
    # each term stays divided by its row count: the KL by 2 rows, the CE by its 1 target row
    expected = (1 - alpha) * (kl[0] * 1.0 + kl[1] * 0.5) / 2 + alpha * ce * 1.0
    assert loss(slice(0, 2), [1.0, 0.5]) == pytest.approx(expected, abs=1e-5)
    assert loss(slice(0, 2), [1.0, 1.0]) == pytest.approx(loss(slice(0, 2)), abs=1e-6)
    assert loss(slice(0, 2), [2.0, 2.0]) == pytest.approx(2 * loss(slice(0, 2)), abs=1e-5)
