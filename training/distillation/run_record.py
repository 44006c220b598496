"""What a finished distillation run records: student.json, and metrics.json's data figures.

`training.distillation.distill` calls these once the best weights are back: `student_info` is
student.json (what export and the benchmark read), `by_difficulty` scores the test split per
synthetic difficulty, and `data_figures` says what the run trained on besides the main file (the mix
file and the student's agreement with its teacher on the mix's held-out rows) and how many
training rows the dev set kept out.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from categorizer.text import TEXT_FORMAT_VERSION
from training.distillation.distill_data import MIX_VALIDATION, LabeledData
from training.distillation.evaluation import evaluate

STUDENT_FORMAT = "student-run/1"


def student_info(run: Any, temperature: float) -> dict[str, Any]:
    """student.json of a finished run (`training.distillation.distill`'s), at `temperature`."""
    mix = run.sources.mix
    return {
        "format": STUDENT_FORMAT,
        "base_model": run.student.base_model,
        "label_level": run.config.label_level,
        "pooling": run.config.pooling,
        "labels": run.labels,
        "primary_labels": list(run.taxonomy.labels),
        "taxonomy": run.taxonomy.fingerprint(),
        "text_format_version": TEXT_FORMAT_VERSION,
        "max_length": run.config.max_length,
        "temperature": temperature,
        "best_epoch": run.best_epoch,
        "data_path": str(run.data_path.resolve()),
        "mix": None if mix is None else {k: mix[k] for k in ("path", "rows", "weight")},
        "dev_set": run.sources.dev_set,
    }


def data_figures(run: Any, temperature: float) -> dict[str, Any]:
    """The mix file's figures, the student's agreement on its held-out rows, the dev-set drops.

    Args:
        run: A `training.distillation.distill._Run` with its best weights loaded.
        temperature: The calibration temperature (agreement does not depend on it).

    Returns:
        ``mix`` (None without a mix file), ``mix_val_agreement`` (None without one),
        ``dev_set`` (the file checked, or None) and ``dev_rows_dropped``.
    """
    agreement = None
    if len(run.data.subset(MIX_VALIDATION)):
        agreement = run.scores(MIX_VALIDATION, temperature)[0]["agreement"]
    return {
        "mix": run.sources.mix,
        "mix_val_agreement": agreement,
        "dev_set": run.sources.dev_set,
        "dev_rows_dropped": run.sources.dev_rows_dropped,
    }


def by_difficulty(
    data: LabeledData, logits: np.ndarray, temperature: float, parents: np.ndarray | None
) -> dict[str, Any]:
    """`evaluate` of the test split's rows per difficulty (empty without a difficulty column).

    Args:
        data: The run's rows.
        logits: The student's logits of the test split, in `data.subset("test")` order.
        temperature: The calibration temperature.
        parents: A detailed student's parent index (see
            `training.distillation.evaluation.primary_probs`).
    """
    if data.difficulty is None:
        return {}
    rows = data.subset("test")
    groups = data.difficulty[rows]
    out = {}
    for name in sorted(set(groups.tolist())):
        keep = groups == name
        gold = None if data.gold is None else data.gold[rows][keep]
        out[name] = evaluate(
            logits[keep],
            data.teacher_probs[rows][keep],
            gold,
            temperature=temperature,
            parent_index=parents,
        )
    return out
