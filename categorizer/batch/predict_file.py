"""Categorize a whole transaction file through a loaded `Categorizer`, in bounded memory.

The input is streamed in chunks (10,000 rows by default; see `categorizer.ingest.file_chunks`:
Parquet row batches, CSV through Python's csv reader, JSONL line by line). Each chunk is validated
with the same column recognition and value parsers as `read_transactions` (only the fields the model
reads: description, amount or debit/credit, direction, amount convention, MCC), categorized, and
written at once (Parquet or CSV by the output's suffix): the input columns unchanged plus
`predicted_category`, `predicted_detailed_category` and `confidence`. Memory holds one chunk, and
the model sees one batch at a time. The output is written beside its name and renamed into place
at the end, so a failure never leaves a half-written file.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa

from categorizer.ingest.columns import resolve_columns
from categorizer.ingest.data import normalise_frame
from categorizer.ingest.errors import DataError
from categorizer.ingest.file_chunks import Chunk, open_chunks
from categorizer.text import to_model_text

if TYPE_CHECKING:
    from categorizer.engine import Categorizer, Prediction

logger = logging.getLogger(__name__)

CHUNK_ROWS = 10_000
PREDICTION_COLUMNS = ("predicted_category", "predicted_detailed_category", "confidence")
OUTPUT_SUFFIXES = (".parquet", ".csv", ".tsv")
_TEXT_FIELDS = ("description", "amount", "debit", "credit", "direction", "amount_convention", "mcc")
_REJECT_TAIL = ["_raw", "_line", "_column", "_error"]

Progress = Callable[[int, int | None], None]


@dataclass
class PredictSummary:
    """What `predict_file` did.

    Attributes:
        input: The input file.
        output: The file written.
        rows: Rows categorized (and written).
        rejected: Bad rows written to `rejects_path` (only with skip_bad_rows).
        rejects_path: The rejects CSV, or None.
        seconds: Wall time, reading and writing included.
        mapped_columns: Field → the input's column used for it.
        categories: Predicted category → rows, most frequent first.
        abstained: Rows below the abstain threshold.
        mean_confidence: Mean confidence over the rows (0.0 for none).
    """

    input: Path
    output: Path
    rows: int = 0
    rejected: int = 0
    rejects_path: Path | None = None
    seconds: float = 0.0
    mapped_columns: dict[str, str] = field(default_factory=dict)
    categories: dict[str, int] = field(default_factory=dict)
    abstained: int = 0
    mean_confidence: float = 0.0

    @property
    def rows_per_second(self) -> float:
        """Throughput over the whole run."""
        return self.rows / self.seconds if self.seconds > 0 else 0.0


def predict_file(
    engine: Categorizer,
    input: str | Path,
    out: str | Path,
    *,
    columns: Mapping[str, str] | None = None,
    chunk_size: int = CHUNK_ROWS,
    encoding: str | None = None,
    amount_convention: str = "outflow_negative",
    skip_bad_rows: bool = False,
    rejects_path: str | Path | None = None,
    progress: Progress | None = None,
) -> PredictSummary:
    """Categorize every row of a file and write the rows with their predictions.

    Args:
        engine: A loaded categorizer.
        input: A .csv/.tsv/.txt, .parquet or .jsonl/.ndjson file of transactions.
        out: The output file: .parquet, .csv or .tsv.
        columns: Field → column name in the file (see `categorizer.ingest.data.parse_columns`).
        chunk_size: Rows read, categorized and written at a time.
        encoding: Force the text encoding of a CSV/JSONL file (default: detected).
        amount_convention: How the file's amounts are signed (outflow_negative or
            outflow_positive), unless a row's amount_convention column says otherwise.
        skip_bad_rows: Write bad rows to the rejects file and go on, instead of raising.
        rejects_path: Where rejected rows go (default ``<out stem>.rejects.csv``).
        progress: Called with (rows done, estimated total rows or None) after each chunk.

    Returns:
        Counts, timing and the distribution of predicted categories.

    Raises:
        DataError: The input is missing, unreadable or has a bad row (without skip_bad_rows),
            or the output name is unsupported; the message names the file, line and column.
    """
    input, out = Path(input), Path(out)
    _check_paths(input, out, chunk_size)
    started = time.perf_counter()
    summary = PredictSummary(input=input, output=out)
    rejects = Path(rejects_path) if rejects_path else out.with_name(f"{out.stem}.rejects.csv")
    chunks, total = open_chunks(input, encoding, chunk_size)
    writer = _Writer(out)
    tally = Tally()
    try:
        mapping: dict[str, str] | None = None
        for chunk in chunks:
            if mapping is None:
                mapping = column_mapping(chunk, columns, input)
                summary.mapped_columns = dict(mapping)
            result = predict_chunk(engine, chunk, mapping, input, amount_convention, skip_bad_rows)
            if len(result.rejects):
                _append_rejects(result.rejects, rejects, first=tally.rejected == 0)
                summary.rejects_path = rejects
            writer.write(result.table)
            tally.add(result, engine.abstain_threshold)
            if progress is not None:
                progress(tally.rows + tally.rejected, total)
        writer.close(commit=True)
    finally:
        writer.close(commit=False)
    summary.seconds = time.perf_counter() - started
    tally.finish(summary)
    logger.info(
        "categorized %d rows of %s in %.1f s; %d rejected",
        summary.rows,
        input.name,
        summary.seconds,
        summary.rejected,
    )
    return summary


def _check_paths(input: Path, out: Path, chunk_size: int) -> None:
    if chunk_size < 1:
        raise ValueError(f"chunk_size: expected at least 1; got {chunk_size}")
    if not input.is_file():
        raise DataError(input, "file not found")
    if out.suffix.lower() not in OUTPUT_SUFFIXES:
        raise DataError(out, f"unsupported output type; expected one of {OUTPUT_SUFFIXES}")
    if out.resolve() == input.resolve():
        raise DataError(out, "the output would overwrite the input; choose another --out")


# -- validating --------------------------------------------------------------------------------


@dataclass
class _Valid:
    table: pa.Table
    texts: list[str]


@dataclass
class ChunkResult:
    """One chunk through the engine.

    Attributes:
        table: The chunk's good rows, input columns unchanged, plus `PREDICTION_COLUMNS`.
        predictions: One per row of `table`.
        rejects: The chunk's bad rows (`_raw`/`_line`/`_column`/`_error` and the input
            columns); empty unless skip_bad_rows.
    """

    table: pa.Table
    predictions: list[Prediction]
    rejects: pd.DataFrame


@dataclass
class Tally:
    """What categorized chunks add up to: the one tally of local and Ray `predict`.

    A Ray actor tallies its unit and ships it as a row (`to_row`); the driver merges the rows.
    """

    rows: int = 0
    rejected: int = 0
    abstained: int = 0
    confidence_sum: float = 0.0
    categories: Counter[str] = field(default_factory=Counter)

    def add(self, done: ChunkResult, abstain_threshold: float) -> None:
        """Count one categorized chunk."""
        predictions = done.predictions
        self.rows += len(predictions)
        self.rejected += len(done.rejects)
        self.abstained += sum(p.confidence < abstain_threshold for p in predictions)
        self.confidence_sum += sum(p.confidence for p in predictions)
        self.categories.update(p.category for p in predictions)

    def merge(self, other: Tally) -> None:
        """Add another tally (a Ray unit's) to this one."""
        self.rows += other.rows
        self.rejected += other.rejected
        self.abstained += other.abstained
        self.confidence_sum += other.confidence_sum
        self.categories.update(other.categories)

    def to_row(self) -> dict[str, Any]:
        """The tally as columns of a Ray summary row (categories as JSON text)."""
        counts = {k: getattr(self, k) for k in ("rows", "rejected", "abstained", "confidence_sum")}
        return counts | {"categories": json.dumps(dict(self.categories))}

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Tally:
        """The tally `to_row` wrote."""
        counts = Counter(json.loads(row["categories"]))
        return cls(row["rows"], row["rejected"], row["abstained"], row["confidence_sum"], counts)

    def finish(self, summary: Any) -> None:
        """Write the totals into a `PredictSummary` or `RayPredictSummary`."""
        summary.rows, summary.rejected, summary.abstained = self.rows, self.rejected, self.abstained
        summary.categories = dict(self.categories.most_common())
        summary.mean_confidence = self.confidence_sum / self.rows if self.rows else 0.0


def predict_chunk(
    engine: Categorizer,
    chunk: Chunk,
    mapping: Mapping[str, str],
    path: Path,
    amount_convention: str,
    skip_bad_rows: bool,
) -> ChunkResult:
    """Validate one chunk, categorize its good rows and append the prediction columns.

    This is the row → prediction step of `predict_file`, shared with the Ray engine
    (`categorizer.batch.ray_predict`) so that both write the same rows for the same chunks.

    Args:
        engine: A loaded categorizer.
        chunk: Rows from `categorizer.ingest.file_chunks.open_chunks` (or the same shape).
        mapping: `column_mapping` of the file.
        path: The file, for error messages.
        amount_convention: The file's default amount convention.
        skip_bad_rows: Return bad rows in `rejects` instead of raising.

    Raises:
        DataError: A bad row, without skip_bad_rows.
    """
    valid, bad = _validate_chunk(chunk, mapping, path, amount_convention, skip_bad_rows)
    predictions = engine.predict_texts(valid.texts)
    return ChunkResult(_with_predictions(valid.table, predictions), predictions, bad)


def column_mapping(chunk: Chunk, columns: Mapping[str, str] | None, path: Path) -> dict[str, str]:
    """Field → column for the fields the model text reads (others are passed through)."""
    found = list(chunk.raw.frame.columns)
    mapping = resolve_columns(found, columns, path, require_amount=False)
    return {key: name for key, name in mapping.items() if key in _TEXT_FIELDS}


def _validate_chunk(
    chunk: Chunk, mapping: Mapping[str, str], path: Path, convention: str, skip_bad_rows: bool
) -> tuple[_Valid, pd.DataFrame]:
    """The chunk's good rows with their model texts, and its bad rows (raises without skip)."""
    frame, rejects = normalise_frame(chunk.raw, mapping, path, convention, False)
    if len(rejects) and not skip_bad_rows:
        first = rejects.iloc[0]
        column = first["_column"] if isinstance(first["_column"], str) else None
        key = next((f for f, c in mapping.items() if c == column), None)
        raise DataError(path, first["_error"], line=int(first["_line"]), column=column, field=key)
    table = chunk.table
    if len(rejects):
        keep = ~np.isin(chunk.raw.lines, rejects["_line"].to_numpy(dtype=np.int64))
        table = table.filter(pa.array(keep))
    return _Valid(table, _model_texts(frame)), rejects


def _model_texts(frame: pd.DataFrame) -> list[str]:
    """`to_model_text` of normalised rows (amounts already outflow_negative)."""
    columns = zip(
        frame["description"].tolist(),
        frame["amount"].tolist(),
        frame["direction"].tolist(),
        frame["mcc"].tolist(),
        strict=True,
    )
    return [
        to_model_text({"description": d, "amount": a, "direction": r, "mcc": m})
        for d, a, r, m in columns
    ]


def rejects_frame(rejects: pd.DataFrame) -> pd.DataFrame:
    """Bad rows as the rejects CSV lists them: the input columns, then _raw/_line/_column/_error."""
    ordered = [c for c in rejects.columns if c not in _REJECT_TAIL] + _REJECT_TAIL
    return rejects.reindex(columns=ordered)


def _append_rejects(rejects: pd.DataFrame, path: Path, *, first: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rejects_frame(rejects).to_csv(path, mode="w" if first else "a", header=first, index=False)


# -- writing -----------------------------------------------------------------------------------


def _with_predictions(table: pa.Table, predictions: Sequence[Any]) -> pa.Table:
    """The input columns (any old prediction columns dropped) plus this run's predictions."""
    stale = [name for name in PREDICTION_COLUMNS if name in table.column_names]
    if stale:
        table = table.drop_columns(stale)
    table = table.append_column(
        "predicted_category", pa.array([p.category for p in predictions], pa.string())
    )
    table = table.append_column(
        "predicted_detailed_category",
        pa.array([p.detailed_category for p in predictions], pa.string()),
    )
    return table.append_column(
        "confidence", pa.array([p.confidence for p in predictions], pa.float64())
    )


class _Writer:
    """Parquet or CSV/TSV, written chunk by chunk to a staging file renamed at the end."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.staging = path.with_name(f".{path.name}.partial")
        self.suffix = path.suffix.lower()
        self._sink: Any = None
        self._schema: pa.Schema | None = None

    def write(self, table: pa.Table) -> None:
        if self._sink is None:
            self._schema = table.schema
            self._sink = self._open(table.schema)
        elif table.schema != self._schema:
            table = table.cast(self._schema)
        self._sink.write_table(table)

    def _open(self, schema: pa.Schema) -> Any:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.suffix == ".parquet":
            import pyarrow.parquet as pq

            return pq.ParquetWriter(self.staging, schema)
        import pyarrow.csv as pacsv

        options = pacsv.WriteOptions(delimiter="\t" if self.suffix == ".tsv" else ",")
        return pacsv.CSVWriter(self.staging, schema, write_options=options)

    def close(self, *, commit: bool) -> None:
        if self._sink is not None:
            self._sink.close()
            self._sink = None
            if commit:
                self.staging.replace(self.path)
        if not commit:
            self.staging.unlink(missing_ok=True)
