"""Raw reading: CSV, JSONL and Parquet into a frame, a line number per row, unparseable rows.

Text files are decoded (UTF-8 with or without BOM, UTF-16 by BOM, else latin-1) and CSV
delimiters sniffed; nothing here validates values (see categorizer.ingest.fields).
"""

import csv
import io
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from categorizer.ingest.errors import DataError

logger = logging.getLogger(__name__)

CSV_SUFFIXES = (".csv", ".tsv", ".txt")
JSONL_SUFFIXES = (".jsonl", ".ndjson")
PARQUET_SUFFIXES = (".parquet",)


@dataclass
class RawFrame:
    frame: pd.DataFrame
    lines: np.ndarray
    encoding: str
    broken: pd.DataFrame  # rows that could not be split into fields: _line, _column, _error


def broken_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["_raw", "_line", "_column", "_error"])


def _decode(path: Path, encoding: str | None) -> tuple[str, str]:
    data = path.read_bytes()
    if encoding:
        try:
            text = data.decode(encoding)
        except LookupError:
            raise DataError(path, f"unknown encoding {encoding!r}") from None
        except UnicodeDecodeError as exc:
            line = data[: exc.start].count(b"\n") + 1
            raise DataError(
                path, f"cannot decode byte {data[exc.start]:#04x} as {encoding}", line=line
            ) from None
        return text.removeprefix("\ufeff"), encoding
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16"), "utf-16"
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        logger.info("%s is not valid UTF-8; reading it as latin-1", path.name)
        return data.decode("latin-1"), "latin-1"
    return text, "utf-8-sig" if data.startswith(b"\xef\xbb\xbf") else "utf-8"


def sniff_delimiter(text: str, suffix: str) -> str:
    if suffix == ".tsv":
        return "\t"
    header = next((line for line in text[:65_536].splitlines() if line.strip()), "")
    header = re.sub(r'"[^"]*"', "", header)
    counts = {sep: header.count(sep) for sep in (",", ";", "\t", "|")}
    best = max(counts, key=lambda sep: counts[sep])
    return best if counts[best] else ","


def _read_csv(path: Path, encoding: str | None) -> RawFrame:
    text, used = _decode(path, encoding)
    if not text.strip():
        raise DataError(path, "the file is empty; expected a header row and transactions")
    sep = sniff_delimiter(text, path.suffix.lower())
    try:
        frame = pd.read_csv(
            io.StringIO(text),
            sep=sep,
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            skip_blank_lines=False,
        )
    except pd.errors.ParserError as exc:
        return _read_csv_slow(path, text, sep, used, str(exc))
    physical = text.count("\n") + (0 if text.endswith("\n") else 1)
    if physical != len(frame) + 1:  # quoted line breaks, stray blank lines or CR-only endings
        return _read_csv_slow(path, text, sep, used, "")
    lines = np.arange(2, len(frame) + 2)
    keep = ~(frame == "").all(axis=1).to_numpy() if len(frame.columns) else np.ones(0, bool)
    if not keep.all():
        logger.debug("%s: skipped %d blank rows", path.name, int((~keep).sum()))
    frame = frame[keep].reset_index(drop=True)
    return RawFrame(frame, lines[keep], used, broken_frame([]))


def _read_csv_slow(path: Path, text: str, sep: str, encoding: str, parser_error: str) -> RawFrame:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep)
    header: list[str] | None = None
    rows: list[list[str]] = []
    lines: list[int] = []
    broken: list[dict[str, Any]] = []
    start = line = 1
    for record in reader:
        line, start = start, reader.line_num + 1
        if not any(field.strip() for field in record):
            continue
        if header is None:
            header = dedupe_names(record)
            continue
        if len(record) > len(header):
            broken.append(
                {
                    "_raw": sep.join(record),
                    "_line": line,
                    "_column": None,
                    "_error": f"expected {len(header)} fields, found {len(record)}",
                }
            )
            continue
        rows.append(record + [""] * (len(header) - len(record)))
        lines.append(line)
    if "EOF inside string" in parser_error:
        raise DataError(path, "a quoted field is never closed (missing '\"')", line=line)
    if header is None:
        raise DataError(path, "the file is empty; expected a header row and transactions")
    frame = pd.DataFrame(rows, columns=header, dtype="str")
    return RawFrame(frame, np.asarray(lines, dtype=np.int64), encoding, broken_frame(broken))


def dedupe_names(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for name in names:
        count = seen.get(name, 0)
        seen[name] = count + 1
        out.append(name if count == 0 else f"{name}.{count}")
    return out


def _read_jsonl(path: Path, encoding: str | None) -> RawFrame:
    text, used = _decode(path, encoding)
    records: list[dict[str, Any]] = []
    lines: list[int] = []
    broken: list[dict[str, Any]] = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            error = f"expected a JSON object; {exc.msg} at character {exc.colno}"
            broken.append({"_raw": line, "_line": number, "_column": None, "_error": error})
            continue
        if not isinstance(record, dict):
            error = f"expected a JSON object; got {type(record).__name__}"
            broken.append({"_raw": line, "_line": number, "_column": None, "_error": error})
            continue
        records.append(record)
        lines.append(number)
    frame = pd.DataFrame.from_records(records) if records else pd.DataFrame()
    return RawFrame(frame, np.asarray(lines, dtype=np.int64), used, broken_frame(broken))


def read_raw(path: Path, encoding: str | None) -> RawFrame:
    if not path.is_file():
        raise DataError(path, "file not found")
    suffix = path.suffix.lower()
    if suffix in CSV_SUFFIXES:
        return _read_csv(path, encoding)
    if suffix in JSONL_SUFFIXES:
        return _read_jsonl(path, encoding)
    if suffix in PARQUET_SUFFIXES:
        try:
            frame = pd.read_parquet(path)
        except Exception as exc:  # pyarrow raises several unrelated types for corrupt files
            raise DataError(path, f"cannot read as Parquet: {exc}") from exc
        frame = frame.reset_index(drop=True)
        return RawFrame(frame, np.arange(1, len(frame) + 1), "utf-8", broken_frame([]))
    known = ", ".join(CSV_SUFFIXES + JSONL_SUFFIXES + PARQUET_SUFFIXES)
    raise DataError(path, f"unsupported file type {suffix or '(none)'!r}; expected one of {known}")
