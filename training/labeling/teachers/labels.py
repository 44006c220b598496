"""The `labels:<column>` teacher: labels a file already has (human, rules, ground truth).

Each row's label becomes a one-hot target over the taxonomy's primary categories, optionally
smoothed. A detailed category id maps to its primary and fills `detailed`. A value that is not a
category of the taxonomy fails that row, with the reason; it is never guessed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from categorizer.taxonomy import Taxonomy
from training.labeling.teachers.base import LabelRequest, TeacherError, TeacherResult

_SHOWN_VALUE_CHARS = 60


class LabelsTeacher:
    """Existing labels in a column as (optionally smoothed) one-hot targets.

    Args:
        column: the input column holding primary (or detailed) category ids.
        taxonomy: the taxonomy whose primary labels order the probabilities.
        label_smoothing: s in [0, 1): the label gets 1 - s + s/K, every other class s/K.
        detailed_column: a column holding detailed category ids; a value there must be a child
            of the row's primary (else the row fails); an empty value leaves `detailed` unset.

    Raises:
        TeacherError: an empty column name or a smoothing outside [0, 1).
    """

    prompt_version = "none"

    def __init__(
        self,
        column: str,
        taxonomy: Taxonomy,
        *,
        label_smoothing: float = 0.0,
        detailed_column: str | None = None,
        batch_size: int | None = None,
    ) -> None:
        if not column or not column.strip():
            raise TeacherError("labels: teacher needs a column name, e.g. labels:category")
        if not (isinstance(label_smoothing, int | float) and 0.0 <= label_smoothing < 1.0):
            raise TeacherError(f"label smoothing must be within [0, 1), got {label_smoothing!r}")
        if batch_size is not None and batch_size < 1:
            raise TeacherError(f"batch size must be at least 1, got {batch_size}")
        self.column = column.strip()
        self.detailed_column = detailed_column.strip() if detailed_column else None
        self.taxonomy = taxonomy
        self.label_smoothing = float(label_smoothing)
        self.batch_size = batch_size or 4096
        self.id = f"labels:{self.column}"
        if self.label_smoothing:
            self.id += f"~ls{self.label_smoothing:g}"
        if self.detailed_column:
            self.id += f"+{self.detailed_column}"
        self._labels = taxonomy.labels
        self._primary_index = {label: i for i, label in enumerate(self._labels)}
        self._detailed = set(taxonomy.detailed_labels)

    @property
    def key_columns(self) -> tuple[str, ...]:
        """Input columns the answer depends on besides the text (they go into cache keys)."""
        return (self.column, self.detailed_column) if self.detailed_column else (self.column,)

    def label(self, requests: Sequence[LabelRequest]) -> list[TeacherResult]:
        """One result per request, in order; a bad or missing value fails only its row."""
        return [self._one(request.row) for request in requests]

    def close(self) -> None:
        """Nothing to release."""

    def _one(self, row: Mapping[str, Any]) -> TeacherResult:
        value = _text(row.get(self.column))
        if value is None:
            return TeacherResult.failure(f"no label in column {self.column!r}")
        primary, detailed = self._resolve(value)
        if primary is None:
            return TeacherResult.failure(
                f"{_show(value)} in column {self.column!r} is not a category of taxonomy "
                f"{self.taxonomy.name!r}"
            )
        if self.detailed_column:
            extra = _text(row.get(self.detailed_column))
            if extra is not None:
                child, error = self._child(extra, primary)
                if error:
                    return TeacherResult.failure(error)
                detailed = child
        return TeacherResult(
            probs=self._probs(primary),
            label_mass=None,
            detailed=detailed,
            detailed_confidence=1.0 if detailed else None,
        )

    def _resolve(self, value: str) -> tuple[str | None, str | None]:
        """(primary, detailed) for a primary or detailed id, tolerating case; (None, None)."""
        for candidate in dict.fromkeys((value, value.upper())):
            if candidate in self._primary_index:
                return candidate, None
            if candidate in self._detailed:
                return self.taxonomy.parent_of(candidate), candidate
        return None, None

    def _child(self, value: str, primary: str) -> tuple[str | None, str | None]:
        """(detailed id, None) when the value is a child of `primary`, else (None, reason)."""
        where = f"in column {self.detailed_column!r}"
        for candidate in dict.fromkeys((value, value.upper())):
            if candidate in self._detailed:
                parent = self.taxonomy.parent_of(candidate)
                if parent != primary:
                    return None, f"{_show(value)} {where} belongs to {parent}, not {primary}"
                return candidate, None
            if candidate == primary:
                return None, None
        return None, f"{_show(value)} {where} is not a detailed category"

    def _probs(self, primary: str) -> list[float]:
        k = len(self._labels)
        s = self.label_smoothing
        probs = [s / k] * k
        probs[self._primary_index[primary]] = 1.0 - s + s / k
        return probs


def _text(value: Any) -> str | None:
    """The stripped text of a cell; None for missing, NaN and blank."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if type(value).__name__ in ("NAType", "NaTType"):
        return None
    text = str(value).strip()
    return text or None


def _show(value: str) -> str:
    shown = value if len(value) <= _SHOWN_VALUE_CHARS else value[:_SHOWN_VALUE_CHARS] + "…"
    return repr(shown)
