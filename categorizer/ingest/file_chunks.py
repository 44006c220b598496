"""Reading transaction files in chunks of rows, never whole: Parquet, CSV/TSV and JSONL.

* Parquet: row batches of `pyarrow.parquet.ParquetFile.iter_batches`.
* CSV/TSV/TXT: Python's csv reader over the decoded text, so line numbers stay exact and quoted
  line breaks work; the encoding is detected in one streaming pass (BOM, else UTF-8 if every
  byte decodes, else latin-1), which also counts the lines for a progress total.
* JSONL: line by line, after a first pass that collects every key and its JSON types, so that
  every chunk has the same columns and types (numbers stay numbers; lists and objects become
  JSON text).

Each chunk carries the rows as an Arrow table (to write back unchanged) and as the `RawFrame` frame
that `categorizer.ingest.data`'s validators read, with 1-based line numbers (row numbers for
Parquet) and the rows that could not be split into fields.
"""

from __future__ import annotations

import codecs
import csv
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from categorizer.ingest.errors import DataError
from categorizer.ingest.readers import (
    CSV_SUFFIXES,
    JSONL_SUFFIXES,
    PARQUET_SUFFIXES,
    RawFrame,
    broken_frame,
    dedupe_names,
    sniff_delimiter,
)

logger = logging.getLogger(__name__)

_BLOCK = 1 << 20


@dataclass
class Chunk:
    """Some consecutive rows of a file.

    Attributes:
        table: The columns as read, to be written back unchanged.
        raw: The same rows for validation: frame, line numbers, unsplittable rows.
    """

    table: pa.Table
    raw: RawFrame


def open_chunks(path: Path, encoding: str | None, size: int) -> tuple[Iterator[Chunk], int | None]:
    """Open a transaction file for reading in chunks.

    Args:
        path: A .csv/.tsv/.txt, .parquet or .jsonl/.ndjson file.
        encoding: Force the text encoding of a CSV/JSONL file (default: detected).
        size: Rows per chunk.

    Returns:
        The chunks (at least one, possibly empty, so that a header-only file has columns) and
        the row count: exact for Parquet and JSONL, the line count for CSV (an estimate when
        fields hold line breaks).

    Raises:
        DataError: An unknown file type or encoding, an unreadable Parquet file, a JSONL file
            without objects; while iterating, an empty or undecodable CSV file.
    """
    suffix = path.suffix.lower()
    if suffix in PARQUET_SUFFIXES:
        import pyarrow.parquet as pq

        try:
            parquet = pq.ParquetFile(path)
        except Exception as exc:  # pyarrow raises several unrelated types for corrupt files
            raise DataError(path, f"cannot read as Parquet: {exc}") from exc
        return _parquet_chunks(parquet, size), parquet.metadata.num_rows
    if suffix in CSV_SUFFIXES:
        used, newlines = _scan_text(path, encoding)
        return _csv_chunks(path, used, size), max(newlines - 1, 0)
    if suffix in JSONL_SUFFIXES:
        used, _ = _scan_text(path, encoding)
        types, rows = _jsonl_schema(path, used)
        if not types:
            raise DataError(path, "no JSON object found; expected one transaction per line")
        return _jsonl_chunks(path, used, types, size), rows
    known = ", ".join(CSV_SUFFIXES + JSONL_SUFFIXES + PARQUET_SUFFIXES)
    raise DataError(path, f"unsupported file type {suffix or '(none)'!r}; expected one of {known}")


def _parquet_chunks(parquet: Any, size: int) -> Iterator[Chunk]:
    done = 0
    for batch in parquet.iter_batches(batch_size=size):
        table = pa.Table.from_batches([batch])
        lines = np.arange(done + 1, done + batch.num_rows + 1)
        done += batch.num_rows
        yield Chunk(table, RawFrame(table.to_pandas(), lines, "utf-8", broken_frame([])))
    if done == 0:
        table = parquet.schema_arrow.empty_table()
        yield Chunk(table, RawFrame(table.to_pandas(), np.arange(0), "utf-8", broken_frame([])))


def _scan_text(path: Path, encoding: str | None) -> tuple[str, int]:
    """The text encoding (BOM, else UTF-8 if every byte decodes, else latin-1) and line count."""
    newlines = 0
    with path.open("rb") as f:
        head = f.read(4)
        f.seek(0)
        if encoding is None and head.startswith((b"\xff\xfe", b"\xfe\xff")):
            encoding = "utf-16"
        elif encoding is None and head.startswith(codecs.BOM_UTF8):
            encoding = "utf-8-sig"
        decoder = codecs.getincrementaldecoder("utf-8")() if encoding is None else None
        while block := f.read(_BLOCK):
            newlines += block.count(b"\n")
            if decoder is not None:
                try:
                    decoder.decode(block)
                except UnicodeDecodeError:
                    logger.info("%s is not valid UTF-8; reading it as latin-1", path.name)
                    decoder, encoding = None, "latin-1"
    if encoding is None:
        encoding = "utf-8"
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise DataError(path, f"unknown encoding {encoding!r}") from None
    return encoding, newlines + (0 if newlines else 1)


def _csv_chunks(path: Path, encoding: str, size: int) -> Iterator[Chunk]:
    with path.open(encoding=encoding, newline="") as f:
        sep = sniff_delimiter(f.read(65_536), path.suffix.lower())
        f.seek(0)
        reader = csv.reader(f, delimiter=sep)
        header: list[str] | None = None
        rows: list[list[str]] = []
        lines: list[int] = []
        broken: list[dict[str, Any]] = []
        start, emitted = 1, False
        try:
            for record in reader:
                line, start = start, reader.line_num + 1
                if not any(cell.strip() for cell in record):
                    continue
                if header is None:
                    header = dedupe_names(record)
                    continue
                if len(record) > len(header):
                    error = f"expected {len(header)} fields, found {len(record)}"
                    broken.append({"_raw": sep.join(record), "_line": line, "_error": error})
                    continue
                rows.append(record + [""] * (len(header) - len(record)))
                lines.append(line)
                if len(rows) + len(broken) >= size:
                    yield _text_chunk(header, rows, lines, broken, encoding)
                    rows, lines, broken, emitted = [], [], [], True
        except UnicodeDecodeError as exc:
            raise DataError(path, f"cannot decode the file as {encoding}", line=start) from exc
        except csv.Error as exc:
            raise DataError(path, f"cannot split the row into fields: {exc}", line=start) from exc
    if header is None:
        raise DataError(path, "the file is empty; expected a header row and transactions")
    if rows or broken or not emitted:
        yield _text_chunk(header, rows, lines, broken, encoding)


def _text_chunk(
    header: list[str],
    rows: list[list[str]],
    lines: list[int],
    broken: list[dict[str, Any]],
    encoding: str,
) -> Chunk:
    table = pa.table(
        {name: pa.array([r[i] for r in rows], pa.string()) for i, name in enumerate(header)}
    )
    raw = RawFrame(table.to_pandas(), np.asarray(lines, dtype=np.int64), encoding, _broken(broken))
    return Chunk(table, raw)


def _broken(rows: list[dict[str, Any]]) -> pd.DataFrame:
    return broken_frame([{**row, "_column": None} for row in rows])


def _jsonl_schema(path: Path, encoding: str) -> tuple[dict[str, pa.DataType], int]:
    """First pass over a JSONL file: every key in order of appearance, its type, and the rows."""
    seen: dict[str, set[type]] = {}
    rows = 0
    with path.open(encoding=encoding) as f:
        for text in f:
            try:
                record = json.loads(text) if text.strip() else None
            except json.JSONDecodeError:
                continue  # reported with its line number on the second pass
            if isinstance(record, dict):
                rows += 1
                for key, value in record.items():
                    seen.setdefault(key, set()).add(type(value))
    return {key: _arrow_type(kinds - {type(None)}) for key, kinds in seen.items()}, rows


def _arrow_type(kinds: set[type]) -> pa.DataType:
    if kinds == {bool}:
        return pa.bool_()
    if kinds == {int}:
        return pa.int64()
    if kinds and kinds <= {int, float}:
        return pa.float64()
    return pa.string()


def _jsonl_chunks(
    path: Path, encoding: str, types: dict[str, pa.DataType], size: int
) -> Iterator[Chunk]:
    records: list[dict[str, Any]] = []
    lines: list[int] = []
    broken: list[dict[str, Any]] = []
    emitted = False
    with path.open(encoding=encoding) as f:
        for number, text in enumerate(f, start=1):
            if not text.strip():
                continue
            error = None
            try:
                record = json.loads(text)
            except json.JSONDecodeError as exc:
                error = f"expected a JSON object; {exc.msg} at character {exc.colno}"
            else:
                if not isinstance(record, dict):
                    error = f"expected a JSON object; got {type(record).__name__}"
            if error is not None:
                broken.append({"_raw": text.rstrip("\n"), "_line": number, "_error": error})
            else:
                records.append(record)
                lines.append(number)
            if len(records) + len(broken) >= size:
                yield _json_chunk(records, lines, broken, types, encoding)
                records, lines, broken, emitted = [], [], [], True
    if records or broken or not emitted:
        yield _json_chunk(records, lines, broken, types, encoding)


def _json_chunk(
    records: list[dict[str, Any]],
    lines: list[int],
    broken: list[dict[str, Any]],
    types: dict[str, pa.DataType],
    encoding: str,
) -> Chunk:
    arrays = {}
    for key, kind in types.items():
        values = [r.get(key) for r in records]
        if kind == pa.string():
            values = [_json_text(v) for v in values]
        arrays[key] = pa.array(values, kind)
    table = pa.table(arrays)
    raw = RawFrame(table.to_pandas(), np.asarray(lines, dtype=np.int64), encoding, _broken(broken))
    return Chunk(table, raw)


def _json_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return json.dumps(value)  # numbers and booleans as JSON writes them
