"""The distillation loss: Hinton's softened KL to the teacher plus cross-entropy on hard targets.

The teacher arrives as probabilities (an LLM's renormalised answer distribution), not logits, so
"the teacher at temperature T" is softmax(log p / T): the same thing Hinton's recipe does to logits.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

IGNORE_INDEX = -100
_EPS = 1e-12


def soften(probs: torch.Tensor, temperature: float) -> torch.Tensor:
    """Teacher probabilities at temperature T: softmax(log p / T); zeros stay zero."""
    import torch

    if temperature == 1.0:
        return probs
    log_p = torch.where(probs > 0, probs.log(), torch.full_like(probs, -math.inf))
    return torch.softmax(log_p / temperature, dim=-1)


def student_log_probs(
    logits: torch.Tensor, temperature: float, parent_index: torch.Tensor | None = None
) -> torch.Tensor:
    """log softmax(logits / T), summed into primaries when the student predicts detailed labels.

    Args:
        logits: (batch, labels) student logits.
        temperature: T.
        parent_index: For a detailed-label student, the primary index of each detailed label;
            the primary's probability is the sum of its children's.
    """
    import torch

    log_probs = torch.log_softmax(logits.float() / temperature, dim=-1)
    if parent_index is None:
        return log_probs
    primaries = int(parent_index.max()) + 1
    # log-sum-exp per parent, written as a scatter over exp() in float32: stable enough because
    # log_softmax output is <= 0, and the sums stay within (0, 1].
    summed = torch.zeros(logits.shape[0], primaries, device=logits.device)
    summed.index_add_(1, parent_index, log_probs.exp())
    return torch.log(summed.clamp_min(_EPS))


def distillation_loss(
    logits: torch.Tensor,
    teacher_probs: torch.Tensor,
    hard_targets: torch.Tensor,
    *,
    temperature: float,
    alpha: float,
    parent_index: torch.Tensor | None = None,
    weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """(1 - α) · T² · KL(teacher_T ‖ student_T) + α · CE(student, hard targets).

    Args:
        logits: (batch, labels) student logits.
        teacher_probs: (batch, primaries) teacher distribution (rows sum to 1).
        hard_targets: (batch,) label indices in the student's label space; IGNORE_INDEX rows
            add nothing to the cross-entropy.
        temperature: T > 0; T² keeps the soft term's gradients on the scale of the hard term's.
        alpha: Weight of the cross-entropy term, in [0, 1].
        parent_index: See `student_log_probs`, for a detailed-label student.
        weights: (batch,) per-row loss weights (e.g. rows of a mixed-in file at 0.5); None
            weighs every row 1. Each term stays divided by its row count, not by the weights'
            sum, so a weight scales a row against every other row, in any batch.

    Returns:
        The scalar loss, averaged over the batch.
    """
    import torch
    import torch.nn.functional as F

    target = soften(teacher_probs.float(), temperature)
    log_q = student_log_probs(logits, temperature, parent_index)
    kl_rows = (torch.xlogy(target, target) - target * log_q).sum(-1)
    kl = kl_rows.mean() if weights is None else (kl_rows * weights.float()).mean()
    loss = (1.0 - alpha) * temperature**2 * kl
    known = hard_targets != IGNORE_INDEX
    if alpha > 0 and bool(known.any()):
        if weights is None:
            ce = F.cross_entropy(logits.float(), hard_targets, ignore_index=IGNORE_INDEX)
        else:
            rows = F.cross_entropy(
                logits.float(), hard_targets, ignore_index=IGNORE_INDEX, reduction="none"
            )
            ce = (rows * weights.float()).sum() / known.sum()
        loss = loss + alpha * ce
    return loss
