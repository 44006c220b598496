"""The rows a benchmark scores: a held-out file, or the test split of the bundle's training run.

A held-out file comes in two kinds:

* a labeled file (`categorizer label` output, Parquet with ``teacher_probs``): the teacher's
  labels are scored as a variant and every other variant's agreement with them is measured;
  gold comes from ``category`` (or ``--gold-column``) where the file has it;
* a gold-only file (CSV, Parquet or JSONL without teacher labels), such as the hand-labeled
  real dev set ``data/real_dev/real_dev.csv``: ``description`` and gold primary labels
  (``category``) are required; ``amount`` may be blank.

Either may carry ``detailed_category`` (gold detailed labels: detailed accuracy is measured over
the rows that have one) and ``country`` (every variant is also scored per country).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.accuracy import (
    detailed_metrics,
    difficulty_slices,
    group_counts,
    group_metrics,
    variant_metrics,
)
from categorizer.text import is_missing

logger = logging.getLogger(__name__)

UNKNOWN_COUNTRY = "unknown"
"""The group of rows whose country cell is blank."""
_TEXT_COLUMNS = ("description", "amount", "direction", "mcc", "amount_convention")
_CSV_SUFFIXES = (".csv", ".tsv", ".txt")


@dataclass
class EvalSet:
    """The evaluation rows, aligned by row.

    Attributes:
        path: The file they come from (for a run's test split: the run's labeled file).
        source: "file" (all rows of --data) or "run test split".
        texts: The model input text of each row (`categorizer.text.to_model_text`).
        gold: (rows,) gold primary indices, -1 where unknown; None without gold.
        teacher_probs: (rows, primaries) teacher distributions; None for a gold-only file.
        teacher_detailed: (rows,) the teacher's detailed labels (None: none); None if absent.
        detailed_gold: (rows,) gold detailed labels (None: none); None without the column.
        country: (rows,) country codes (`UNKNOWN_COUNTRY` where blank); None without the column.
        difficulty: The synthetic corpus's difficulty column, when present.
    """

    path: Path
    source: str
    texts: list[str]
    gold: np.ndarray | None
    teacher_probs: np.ndarray | None
    teacher_detailed: np.ndarray | None = None
    detailed_gold: np.ndarray | None = None
    country: np.ndarray | None = None
    difficulty: np.ndarray | None = None

    def score(
        self, probs: np.ndarray, labels: Sequence[str], detailed: Sequence[str | None] | None
    ) -> dict[str, Any]:
        """One variant's accuracy block: `variant_metrics`, plus ``detailed`` where the rows
        have gold detailed labels and ``by_country`` where they have countries.

        Args:
            probs: (rows, primaries) the variant's probabilities.
            labels: The primaries, in column order.
            detailed: The variant's detailed label per row; None for a primary-only variant.
        """
        slices = difficulty_slices(self.difficulty) if self.difficulty is not None else None
        out = variant_metrics(probs, labels, self.gold, self.teacher_probs, slices)
        if self.detailed_gold is not None:
            out["detailed"] = detailed_metrics(detailed, self.detailed_gold)
        if self.country is not None:
            out["by_country"] = group_metrics(probs, self.gold, self.teacher_probs, self.country)
        return out

    def summary(self) -> dict[str, Any]:
        """The results' ``data`` block: path, rows, what labels there are, countries."""
        detailed = self.detailed_gold
        return {
            "path": str(self.path),
            "source": self.source,
            "rows": len(self.texts),
            "gold": self.gold is not None,
            "teacher": self.teacher_probs is not None,
            "detailed_rows": None if detailed is None else sum(d is not None for d in detailed),
            "countries": None if self.country is None else group_counts(self.country),
        }


def load_eval_set(path: Path, taxonomy: Any, gold_column: str | None) -> EvalSet:
    """Every row of a held-out file, labeled (Parquet with ``teacher_probs``) or gold-only.

    Args:
        path: The file.
        taxonomy: The bundle's taxonomy: gold labels must be its categories.
        gold_column: Gold primary labels (default ``category``; required without teacher labels).

    Raises:
        DataError: No ``description`` column; a gold-only file without its gold column or
            with a label outside the taxonomy (the message names the file, row and column).
        TaxonomyError: A labeled file labeled with another taxonomy.
    """
    from training.distillation.distill_data import load_eval

    path = Path(path)
    if not _has_teacher_labels(path):
        return _gold_only(path, taxonomy, gold_column or "category")
    data = load_eval(path, taxonomy, gold_column or default_gold(path))
    return _from_labeled(data, np.arange(len(data.texts)), path, "file")


def run_test_split(data: Any, path: Path) -> EvalSet:
    """The test split of a run's labeled rows (`training.distillation.distill_data.LabeledData`)."""
    return _from_labeled(data, data.subset("test"), path, "run test split")


def load_run_data(run: Path, config: Any, data_path: Path, taxonomy: Any) -> Any:
    """The run's rows as it trained on them: split, mixed and kept off the dev set alike.

    A mix file that is gone is left out, with a warning (it only adds training rows).
    """
    from training.distillation.mix_data import load_training_data

    if config.gold_column is None and default_gold(data_path):
        config = dataclasses.replace(config, gold_column=default_gold(data_path))
    if config.mix_data is not None and not Path(config.mix_data).is_file():
        logger.warning("%s: its mix file %s is gone; left out", run, config.mix_data)
        config = dataclasses.replace(config, mix_data=None, mix_weight=1.0)
    return load_training_data(data_path, taxonomy, config)[0]


def default_gold(path: Path) -> str | None:
    """ "category" when the labeled file has that column (the synthetic corpus's gold)."""
    import pyarrow.parquet as pq

    return "category" if "category" in pq.read_schema(path).names else None


def _has_teacher_labels(path: Path) -> bool:
    if path.suffix.lower() != ".parquet":
        return False
    import pyarrow.parquet as pq

    try:
        return "teacher_probs" in pq.read_schema(path).names
    except Exception:  # not Parquet after all: read_transactions says so, naming the file
        return False


def _from_labeled(data: Any, rows: np.ndarray, path: Path, source: str) -> EvalSet:
    def column(name: str) -> np.ndarray | None:
        values = data.extras.get(name)
        return None if values is None else values[rows]

    country = column("country")
    return EvalSet(
        path=path,
        source=source,
        texts=[data.texts[i] for i in rows],
        gold=None if data.gold is None else data.gold[rows],
        teacher_probs=data.teacher_probs[rows],
        teacher_detailed=column("teacher_detailed_label"),
        detailed_gold=column("detailed_category"),
        country=None if country is None else _countries(country),
        difficulty=None if data.difficulty is None else data.difficulty[rows],
    )


def _gold_only(path: Path, taxonomy: Any, gold_column: str) -> EvalSet:
    """A file of gold labels without a teacher: read and checked like any transaction file."""
    from categorizer.ingest.errors import DataError
    from categorizer.text import to_model_text

    frame = _read_gold_file(path)
    if gold_column not in frame.columns:
        raise DataError(
            path,
            f"no gold column {gold_column!r}: a file without teacher labels needs gold primary "
            "labels (name the column with --gold-column), or label it first with "
            "`categorizer label`",
            column=gold_column,
        )
    gold = _label_indices(path, frame, gold_column, list(taxonomy.labels), "primary category")
    if not (gold >= 0).any():
        raise DataError(path, "no row has a gold label", column=gold_column)
    detailed = None
    if "detailed_category" in frame.columns:
        known = list(taxonomy.detailed_labels)
        found = _label_indices(path, frame, "detailed_category", known, "detailed category")
        detailed = np.array([known[i] if i >= 0 else None for i in found], dtype=object)
    columns = [c for c in _TEXT_COLUMNS if c in frame.columns]
    return EvalSet(
        path=path,
        source="file",
        texts=[to_model_text(row) for row in frame[columns].to_dict("records")],
        gold=gold,
        teacher_probs=None,
        detailed_gold=detailed,
        country=_countries(frame["country"].to_numpy()) if "country" in frame.columns else None,
        difficulty=frame["difficulty"].astype(str).to_numpy() if "difficulty" in frame else None,
    )


def _read_gold_file(path: Path) -> Any:
    """The file through `read_transactions`, its descriptions from a column named description.

    Bank exports' other names for it (merchant, memo, ...) are not guessed here: a gold file's
    ``merchant`` column is the merchant, not the descriptor.
    """
    from categorizer.ingest.data import read_transactions
    from categorizer.ingest.errors import DataError

    try:
        mapping = {"description": "description"}
        return read_transactions(path, columns=mapping, require_amount=False).frame
    except DataError as err:
        if err.column != "description" or err.line is not None:
            raise
        reason = "no 'description' column: name the column of the bank descriptors description"
        raise DataError(path, reason, column="description") from None


def _label_indices(path: Path, frame: Any, column: str, known: list[str], kind: str) -> np.ndarray:
    """Index of each cell's label in `known`; -1 for a blank cell.

    Raises:
        DataError: A label outside `known`, located by its line (CSV: the header is line 1).
    """
    from categorizer.ingest.errors import DataError

    index = {label: i for i, label in enumerate(known)}
    out = np.full(len(frame), -1, dtype=np.int64)
    first_line = 2 if path.suffix.lower() in _CSV_SUFFIXES else 1
    for position, value in enumerate(frame[column].to_numpy(dtype=object)):
        text = "" if is_missing(value) else str(value).strip()
        if not text:
            continue
        if text not in index:
            reason = f"{text!r} is not a {kind} of the taxonomy"
            raise DataError(path, reason, line=position + first_line, column=column)
        out[position] = index[text]
    return out


def _countries(values: np.ndarray) -> np.ndarray:
    """Country codes stripped and upper-cased; blanks become `UNKNOWN_COUNTRY`."""
    cleaned = []
    for value in values:
        text = "" if is_missing(value) else str(value).strip().upper()
        cleaned.append(text or UNKNOWN_COUNTRY)
    return np.array(cleaned, dtype=object)
