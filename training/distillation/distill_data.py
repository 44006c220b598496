"""Load a soft-label file for distillation: texts, teacher distributions, targets and splits.

The file is what `categorizer label` writes (see "Soft labels" in DESIGN.md). Rows the teacher
could not label (no `teacher_probs`) are dropped with a count; everything else that is wrong
raises DataError naming the file, the row and the column.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from categorizer.ingest.errors import DataError, SplitError
from categorizer.ingest.splits import SPLITS, descriptor_keys, split_frame
from categorizer.taxonomy import Taxonomy
from categorizer.text import to_model_text
from training.distillation.losses import IGNORE_INDEX
from training.distillation.train_config import TrainConfig
from training.labeling.label_output import meta_path

logger = logging.getLogger(__name__)

_TEXT_COLUMNS = ("description", "amount", "direction", "mcc", "amount_convention")
_PROB_TOLERANCE = 1e-3
REPORT_COLUMNS = ("country", "detailed_category", "teacher_detailed_label")
"""Columns kept (where a file has them) for per-country and detailed-label figures."""
MIX_VALIDATION = "mix_validation"
"""The split of a mix file's held-out rows: scored against their teacher, never trained on."""


@dataclass
class LabeledData:
    """One labeled file, ready for training; arrays are aligned by row.

    Attributes:
        texts: The model input text of each row (`to_model_text`).
        teacher_probs: (rows, primaries) float32 teacher distributions.
        targets: (rows,) hard targets in the student's label space (IGNORE_INDEX: none).
        gold: (rows,) gold primary indices (-1: unknown), or None without a gold column.
        split: (rows,) "train", "validation" or "test".
        difficulty: The synthetic corpus's difficulty column when present (for reports).
        dropped: Rows dropped because the teacher left them unlabeled.
        keys: (rows,) `descriptor_key` of each description (leakage and dev-set checks).
        extras: `REPORT_COLUMNS` the file has, as (rows,) object arrays (None: missing).
        weights: (rows,) loss weight of each row; None weighs every row 1.
        from_mix: (rows,) True for the rows of a mixed-in file; None without one.
    """

    texts: list[str]
    teacher_probs: np.ndarray
    targets: np.ndarray
    gold: np.ndarray | None
    split: np.ndarray
    difficulty: np.ndarray | None
    dropped: int = 0
    keys: np.ndarray | None = None
    extras: dict[str, np.ndarray] = field(default_factory=dict)
    weights: np.ndarray | None = None
    from_mix: np.ndarray | None = None

    def subset(self, name: str) -> np.ndarray:
        """Row indices of one split."""
        return np.flatnonzero(self.split == name)


def student_labels(taxonomy: Taxonomy, level: str) -> list[str]:
    """The student's output labels: primaries, or detailed categories."""
    return list(taxonomy.labels if level == "primary" else taxonomy.detailed_labels)


def parent_index(taxonomy: Taxonomy, level: str) -> np.ndarray | None:
    """For a detailed student, each detailed label's primary index; None for a primary one."""
    if level == "primary":
        return None
    return np.array([taxonomy.index(taxonomy.parent_of(d)) for d in taxonomy.detailed_labels])


def load_labeled(path: str | Path, taxonomy: Taxonomy, config: TrainConfig) -> LabeledData:
    """Read a soft-label Parquet file and prepare it for the student.

    Args:
        path: The labeled file (`categorizer label` output).
        taxonomy: The taxonomy the student predicts; the file's must match.
        config: Supplies label_level, gold_column, fractions, max_rows and seed.

    Raises:
        FileNotFoundError: No such file.
        DataError: A missing column, a distribution of the wrong width or not summing to 1, a
            label outside the taxonomy; the message names the file, row and column.
        TaxonomyError: The file was labeled with another taxonomy.
        SplitError: A split would be empty.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"labeled file {path} does not exist")
    frame, dropped = _labeled_rows(path, taxonomy)
    if config.max_rows is not None and len(frame) > config.max_rows:
        frame = frame.sample(n=config.max_rows, random_state=config.seed).sort_index()
    if frame.empty:
        raise DataError(path, "no labeled rows to train on", column="teacher_probs")
    probs = _teacher_probs(path, frame, len(taxonomy.labels))
    gold = _gold(path, frame, taxonomy, config.gold_column)
    return LabeledData(
        texts=_texts(frame),
        teacher_probs=probs,
        targets=_targets(path, frame, taxonomy, config, probs, gold),
        gold=gold,
        split=_splits(path, frame, config, probs.argmax(axis=1)),
        difficulty=_difficulty(frame),
        dropped=dropped,
        keys=_keys(frame),
        extras=_extras(frame),
    )


def load_eval(path: str | Path, taxonomy: Taxonomy, gold_column: str | None) -> LabeledData:
    """Read a soft-label file for evaluation only: every labeled row, all in the "test" split.

    Args:
        path: A `categorizer label` output held out from training.
        taxonomy: The taxonomy it must have been labeled with.
        gold_column: Column of gold primary labels, or None.

    Raises:
        FileNotFoundError, DataError, TaxonomyError: as `load_labeled`.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"labeled file {path} does not exist")
    frame, dropped = _labeled_rows(path, taxonomy)
    if frame.empty:
        raise DataError(path, "no labeled rows to evaluate", column="teacher_probs")
    probs = _teacher_probs(path, frame, len(taxonomy.labels))
    return LabeledData(
        texts=_texts(frame),
        teacher_probs=probs,
        targets=probs.argmax(axis=1).astype(np.int64),
        gold=_gold(path, frame, taxonomy, gold_column),
        split=np.full(len(frame), "test"),
        difficulty=_difficulty(frame),
        dropped=dropped,
        keys=_keys(frame),
        extras=_extras(frame),
    )


def load_mix(
    path: str | Path, taxonomy: Taxonomy, config: TrainConfig, holdout: float = 0.1
) -> LabeledData:
    """Read a labeled file to mix into training: its rows are "train" or `MIX_VALIDATION`.

    The file needs no gold column (any is ignored) and any split column is ignored too: a
    leakage-free `holdout` share of its descriptor groups is held out. Its hard targets are the
    teacher's (none with ``hard_targets="gold"``, which aims the cross-entropy at gold only).

    Args:
        path: A `categorizer label` output with the taxonomy of the main file.
        taxonomy: The student's taxonomy; the file's meta.json must match it.
        config: Supplies label_level, hard_targets, mix_weight and seed.
        holdout: Share of its rows held out as `MIX_VALIDATION`.

    Raises:
        FileNotFoundError, DataError, TaxonomyError: as `load_labeled`.
        SplitError: Too few descriptor groups to hold any out.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"mix file {path} does not exist (--mix / mix_data)")
    frame, dropped = _labeled_rows(path, taxonomy)
    if frame.empty:
        raise DataError(path, "no labeled rows to mix in", column="teacher_probs")
    probs = _teacher_probs(path, frame, len(taxonomy.labels))
    targets = _targets(path, frame, taxonomy, _teacher_targets(config), probs, None)
    if config.hard_targets == "gold" and config.label_level == "primary":
        targets = np.full(len(frame), IGNORE_INDEX, dtype=np.int64)
    keyed = pd.DataFrame({"description": frame["description"].to_numpy()})
    try:
        split = split_frame(keyed, fractions=(1 - holdout, holdout, 0.0), seed=config.seed)
    except SplitError as err:
        raise SplitError(f"mix file {path}: cannot hold out {holdout:.0%} of it ({err})") from None
    split = np.where(split.to_numpy() == "train", "train", MIX_VALIDATION)
    return LabeledData(
        texts=_texts(frame),
        teacher_probs=probs,
        targets=targets,
        gold=None,
        split=split,
        difficulty=_difficulty(frame),
        dropped=dropped,
        keys=_keys(frame),
        extras=_extras(frame),
        weights=np.full(len(frame), config.mix_weight, dtype=np.float32),
        from_mix=np.ones(len(frame), dtype=bool),
    )


def _teacher_targets(config: TrainConfig) -> TrainConfig:
    """The config for a file without gold: hard targets from the teacher."""
    return dataclasses.replace(config, gold_column=None, hard_targets="teacher")


def _difficulty(frame: pd.DataFrame) -> np.ndarray | None:
    return frame["difficulty"].astype(str).to_numpy() if "difficulty" in frame else None


def _keys(frame: pd.DataFrame) -> np.ndarray:
    return descriptor_keys(frame["description"]).to_numpy(dtype=object)


def _extras(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """`REPORT_COLUMNS` the frame has, missing values as None."""
    out = {}
    for column in (c for c in REPORT_COLUMNS if c in frame.columns):
        values = frame[column].to_numpy(dtype=object)
        kept = [None if pd.isna(v) or v == "" else str(v) for v in values]
        out[column] = np.array(kept, dtype=object)
    return out


def _labeled_rows(path: Path, taxonomy: Taxonomy) -> tuple[pd.DataFrame, int]:
    """The file's rows the teacher labeled (taxonomy checked), and how many it did not."""
    frame = _read(path)
    _check_taxonomy(path, taxonomy)
    labeled = frame["teacher_probs"].notna().to_numpy()
    dropped = int((~labeled).sum())
    if dropped:
        logger.warning("%s: %d rows have no teacher label (failed calls); skipped", path, dropped)
    return frame[labeled], dropped


def _read(path: Path) -> pd.DataFrame:
    try:
        frame = pd.read_parquet(path)
    except Exception as err:  # pyarrow raises several types for a file that is not Parquet
        raise DataError(path, f"cannot read it as Parquet ({err})") from None
    for column in ("description", "teacher_probs"):
        if column not in frame.columns:
            hint = " (label the file first: categorizer label --input ... --teacher ...)"
            raise DataError(path, f"no {column!r} column{hint}", column=column)
    return frame.reset_index(drop=True)


def _check_taxonomy(path: Path, taxonomy: Taxonomy) -> None:
    meta = meta_path(path)
    if not meta.is_file():
        logger.warning("%s has no %s: cannot check its taxonomy fingerprint", path, meta.name)
        return
    try:
        fingerprint = json.loads(meta.read_text(encoding="utf-8")).get("taxonomy")
    except (json.JSONDecodeError, AttributeError):
        raise DataError(meta, "not a labeling meta.json (expected a JSON object)") from None
    taxonomy.check_compatible(fingerprint, f"labeled file {path}")


def _row_error(path: Path, frame: pd.DataFrame, position: int, column: str, reason: str):
    # Parquet rows are 1-based in messages, like DataError's "row" for Parquet files.
    return DataError(path, reason, line=int(frame.index[position]) + 1, column=column)


def _teacher_probs(path: Path, frame: pd.DataFrame, width: int) -> np.ndarray:
    lists = frame["teacher_probs"].to_list()
    for position, probs in enumerate(lists):
        if len(probs) != width:
            raise _row_error(
                path,
                frame,
                position,
                "teacher_probs",
                f"expected {width} probabilities (one per taxonomy label), got {len(probs)}",
            )
    probs = np.asarray(lists, dtype=np.float32).reshape(len(lists), width)
    sums = probs.sum(axis=1)
    bad = np.flatnonzero(
        ~np.isfinite(sums) | (np.abs(sums - 1) > _PROB_TOLERANCE) | (probs < 0).any(1)
    )
    if len(bad):
        raise _row_error(
            path, frame, int(bad[0]), "teacher_probs", "probabilities must be >= 0 and sum to 1"
        )
    return probs / probs.sum(axis=1, keepdims=True)


def _label_indices(
    path: Path, frame: pd.DataFrame, column: str, known: dict[str, int], kind: str
) -> np.ndarray:
    values = frame[column].to_numpy(dtype=object)
    out = np.full(len(values), -1, dtype=np.int64)
    for position, value in enumerate(values):
        if pd.isna(value) or value == "":
            continue
        if value not in known:
            raise _row_error(path, frame, position, column, f"{value!r} is not a {kind}")
        out[position] = known[value]
    return out


def _gold(
    path: Path, frame: pd.DataFrame, taxonomy: Taxonomy, column: str | None
) -> np.ndarray | None:
    if column is None:
        return None
    if column not in frame.columns:
        raise DataError(path, f"no gold column {column!r} (set --gold-column)", column=column)
    known = {label: i for i, label in enumerate(taxonomy.labels)}
    return _label_indices(path, frame, column, known, "primary category of the taxonomy")


def _targets(
    path: Path,
    frame: pd.DataFrame,
    taxonomy: Taxonomy,
    config: TrainConfig,
    probs: np.ndarray,
    gold: np.ndarray | None,
) -> np.ndarray:
    if config.label_level == "primary":
        hard = probs.argmax(axis=1).astype(np.int64)
        if gold is None or config.hard_targets == "teacher":
            return hard
        return np.where(gold >= 0, gold, IGNORE_INDEX)
    column = "teacher_detailed_label"
    if column not in frame.columns:
        raise DataError(path, "label_level 'detailed' needs detailed labels", column=column)
    known = {label: i for i, label in enumerate(taxonomy.detailed_labels)}
    detailed = _label_indices(path, frame, column, known, "detailed category of the taxonomy")
    return np.where(detailed >= 0, detailed, IGNORE_INDEX)


def _texts(frame: pd.DataFrame) -> list[str]:
    columns = [c for c in _TEXT_COLUMNS if c in frame.columns]
    return [to_model_text(row) for row in frame[columns].to_dict("records")]


def _splits(
    path: Path, frame: pd.DataFrame, config: TrainConfig, teacher: np.ndarray
) -> np.ndarray:
    if "split" in frame.columns:
        split = frame["split"].astype(str).to_numpy()
        bad = np.flatnonzero(~np.isin(split, SPLITS))
        if len(bad):
            reason = f"{split[bad[0]]!r} is not a split name; expected one of {SPLITS}"
            raise _row_error(path, frame, int(bad[0]), "split", reason)
    else:
        keyed = pd.DataFrame({"description": frame["description"].to_numpy(), "label": teacher})
        split = split_frame(keyed, fractions=config.fractions, seed=config.seed, stratify="label")
        split = split.to_numpy().astype(str)
    for name in SPLITS:
        if not (split == name).any():
            raise SplitError(
                f"{path}: the {name!r} split is empty ({len(split)} labeled rows); training needs "
                "rows in train, validation and test: add rows or fix the split column"
            )
    return split
