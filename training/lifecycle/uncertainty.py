"""How unsure the student is of a transaction: the selection strategies and their scores.

Apart from `training.lifecycle.active` (which reads files and needs pandas) so that the CLI can
offer ``--strategy`` choices from `STRATEGIES` without importing numpy or pandas at start.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

UNCERTAINTIES = ("entropy", "margin")
"""How `uncertainty` measures a distribution's doubt."""

STRATEGIES = (*UNCERTAINTIES, "random")
"""What `training.lifecycle.active.select_uncertain` orders by; "random" is the baseline."""


def uncertainty(probs: np.ndarray, strategy: str) -> np.ndarray:
    """How unsure each row's probability distribution is, from 0 (certain) to 1.

    Args:
        probs: (rows, C) probabilities; each row sums to 1.
        strategy: "entropy" (Shannon entropy divided by log C, 1 for a uniform distribution)
            or "margin" (1 - (p1 - p2), p1 and p2 the two largest probabilities).

    Returns:
        A float64 array of one score per row.

    Raises:
        ValueError: An unknown strategy, or probs that are not a 2-D array.
    """
    import numpy as np  # here, not above: the CLI reads STRATEGIES at start, without numpy

    if strategy not in UNCERTAINTIES:
        raise ValueError(f"strategy: expected one of {UNCERTAINTIES}; got {strategy!r}")
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2:
        raise ValueError(f"probs: expected a (rows, categories) array; got shape {probs.shape}")
    rows, classes = probs.shape
    if rows == 0 or classes < 2:  # one category leaves nothing to doubt
        return np.zeros(rows)
    if strategy == "entropy":
        # 0·log 0 is 0: clip only inside the log so zero probabilities add nothing.
        entropy = -(probs * np.log(np.clip(probs, 1e-300, None))).sum(axis=1)
        return np.clip(entropy / np.log(classes), 0.0, 1.0)
    top2 = np.partition(probs, classes - 2, axis=1)[:, -2:]
    return np.clip(1.0 - (top2[:, 1] - top2[:, 0]), 0.0, 1.0)
