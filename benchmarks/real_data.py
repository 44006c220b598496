"""The report's real-data block: every variant scored on hand-labeled real bank descriptors.

Synthetic accuracy alone overstates what users get, so `categorizer bench --real-data FILE`
(and the demo, with the real dev set `data/real_dev/real_dev.csv`) scores the same variants a
second time on real rows labeled by people. FILE is either that gold-only file, or a teacher's
labels of it (`categorizer label` output that kept the gold ``category`` column): then the
teacher is scored too, and every variant's agreement with it is measured.

The block (``results["real_data"]``) holds the file's summary, the teacher's identity from the
label metadata beside FILE, and one accuracy block per variant (`EvalSet.score`: overall, per
country, confusion against gold). `benchmarks.report.sections` renders it (*Real bank data*).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.eval_set import EvalSet, load_eval_set


def load_real_set(path: Path, taxonomy: Any) -> EvalSet:
    """The real file's rows with their gold labels (and the teacher's, for a labeled file).

    Raises:
        ValueError: The file has no gold ``category`` labels: a real-data score needs them.
        DataError: The file cannot be read (the message names the file, row and column).
    """
    real = load_eval_set(Path(path), taxonomy, "category")
    if real.gold is None or not (real.gold >= 0).any():
        raise ValueError(
            f"--real-data {path} has no gold 'category' labels: give the hand-labeled real dev "
            "set (data/real_dev/real_dev.csv) or a teacher's labels of it that kept its columns"
        )
    return real


def teacher_entry(real: EvalSet, teacher_id: str, labels: Sequence[str]) -> list[dict[str, Any]]:
    """The teacher's labels of the real rows, scored like a variant; none for a gold-only file."""
    if real.teacher_probs is None:
        return []
    detailed = None if real.teacher_detailed is None else list(real.teacher_detailed)
    return [
        {
            "name": f"teacher ({teacher_id})",
            "kind": "teacher",
            "accuracy": real.score(real.teacher_probs, labels, detailed),
        }
    ]


def variant_entry(
    real: EvalSet,
    name: str,
    kind: str,
    probs: Callable[[Sequence[str]], np.ndarray],
    detailed: Callable[[Sequence[str]], list[str | None]] | None,
    labels: Sequence[str],
) -> dict[str, Any]:
    """One variant scored on the real rows (its loaded predictor; no speed: that is measured
    once, on the main evaluation set)."""
    found = None if detailed is None or real.detailed_gold is None else detailed(real.texts)
    return {"name": name, "kind": kind, "accuracy": real.score(probs(real.texts), labels, found)}


def real_block(
    real: EvalSet, teacher: dict[str, Any], variants: list[dict[str, Any]]
) -> dict[str, Any]:
    """The ``results["real_data"]`` block: the file, its teacher and the scored variants."""
    return {"data": real.summary(), "teacher": teacher, "variants": variants}
