"""Reading real bank export files into validated transaction frames, deduplicating and splitting.

Every bad value is reported with the file, the 1-based physical line (the header is line 1; for
Parquet, the row number) and the column, or, with ``skip_bad_rows``, written to a rejects file and
counted: nothing is dropped silently. Hot paths are vectorised with pandas so that a
million-row file loads in seconds; only values that are not plain numbers or ISO dates take the
slow, per-value parsers.

The work is split by concept: `categorizer.ingest.amounts`, `categorizer.ingest.columns`,
`categorizer.ingest.readers`, `categorizer.ingest.fields`, `categorizer.ingest.splits` and
`categorizer.ingest.errors`; this module ties them together and re-exports their public names, so
``from categorizer.ingest.data import X`` keeps working.
"""

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from categorizer.ingest.amounts import AMOUNT_EXPECTED, parse_amount
from categorizer.ingest.columns import COLUMN_KEYS, parse_columns, resolve_columns
from categorizer.ingest.errors import AmountError, ColumnSpecError, DataError, SplitError
from categorizer.ingest.fields import (
    DATE_EXPECTED,
    Errors,
    optional_text,
    parse_amounts,
    parse_conventions,
    parse_currencies,
    parse_dates,
    parse_descriptions,
    parse_directions,
    parse_mccs,
    row_ids,
    signed_amounts,
)
from categorizer.ingest.readers import (
    CSV_SUFFIXES,
    JSONL_SUFFIXES,
    PARQUET_SUFFIXES,
    RawFrame,
    read_raw,
)
from categorizer.ingest.splits import SPLITS, dedup_key, drop_duplicates, split_frame
from categorizer.schema import (
    AMOUNT_CONVENTIONS,
    DEFAULT_CURRENCY,
    TRANSACTION_FIELDS,
    AmountConvention,
)

__all__ = [
    "AMOUNT_EXPECTED",
    "COLUMN_KEYS",
    "CSV_SUFFIXES",
    "DATE_EXPECTED",
    "JSONL_SUFFIXES",
    "OUTPUT_COLUMNS",
    "PARQUET_SUFFIXES",
    "SPLITS",
    "AmountError",
    "ColumnSpecError",
    "DataError",
    "Errors",
    "LoadResult",
    "SplitError",
    "ValidationReport",
    "dedup_key",
    "drop_duplicates",
    "parse_amount",
    "parse_columns",
    "read_transactions",
    "split_frame",
    "validate_file",
    "write_frame",
]

logger = logging.getLogger(__name__)

# The Transaction fields, first in every loaded frame; amounts are already outflow_negative there.
OUTPUT_COLUMNS = tuple(f for f in TRANSACTION_FIELDS if f != "amount_convention")


@dataclass
class LoadResult:
    """A validated transaction file.

    Attributes:
        frame: Normalised columns (id, description, amount in outflow_negative convention,
            currency, date as datetime64, mcc, account_type, direction) plus every other
            column of the file, unchanged.
        rejected: Number of bad rows written to `rejects_path` (only with skip_bad_rows).
        rejects_path: The rejects CSV, or None when none was written.
        path: The input file.
        mapped_columns: Field (or "debit"/"credit") → column name in the file.
        encoding: The text encoding used ("utf-8" for Parquet).
    """

    frame: pd.DataFrame
    rejected: int
    rejects_path: Path | None
    path: Path
    mapped_columns: dict[str, str]
    encoding: str = "utf-8"


@dataclass
class ValidationReport:
    """What `validate_file` found in a file."""

    path: Path
    rows: int
    bad_rows: int
    mapped_columns: dict[str, str]
    currencies: dict[str, int]
    date_min: date | None
    date_max: date | None
    encoding: str
    rejects_path: Path | None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict of the report."""
        return {
            "path": str(self.path),
            "rows": self.rows,
            "bad_rows": self.bad_rows,
            "mapped_columns": dict(self.mapped_columns),
            "currencies": dict(self.currencies),
            "date_min": self.date_min.isoformat() if self.date_min else None,
            "date_max": self.date_max.isoformat() if self.date_max else None,
            "encoding": self.encoding,
            "rejects_path": str(self.rejects_path) if self.rejects_path else None,
        }


# --------------------------------------------------------------------------------------------
# Reading and validating


def read_transactions(
    path: str | Path,
    *,
    columns: Mapping[str, str] | None = None,
    encoding: str | None = None,
    skip_bad_rows: bool = False,
    rejects_path: str | Path | None = None,
    amount_convention: AmountConvention = "outflow_negative",
    require_amount: bool = True,
) -> LoadResult:
    """Read and validate a transaction file (.csv/.tsv/.txt, .parquet, .jsonl/.ndjson).

    Column names match case-insensitively; common bank names (Memo, Narrative, Details, Payee,
    Value, Paid out/Paid in, Debit/Credit, ...) are recognised when `columns` does not name
    them. Text is read as UTF-8 (with or without BOM), else latin-1.

    Args:
        path: The file.
        columns: Field → column name in the file, e.g. {"description": "Memo"} (see
            `parse_columns`); "debit"/"credit" name separate money-out/money-in columns.
        encoding: Force a text encoding instead of detecting it.
        skip_bad_rows: Write bad rows to the rejects file and go on, instead of raising.
        rejects_path: Where rejected rows go (default ``<stem>.rejects.csv`` beside the file):
            the original row plus ``_line``, ``_column`` and ``_error``.
        amount_convention: How the file's amounts are signed, unless a row's
            ``amount_convention`` column says otherwise.
        require_amount: Whether every row needs an amount.

    Returns:
        The validated frame with counts and the column mapping used.

    Raises:
        DataError: The file cannot be read, lacks a required column, or (without
            skip_bad_rows) has a bad row; the message names the file, line and column.
        ColumnSpecError: `columns` names an unknown field, or both amount and debit/credit.
    """
    path = Path(path)
    if amount_convention not in AMOUNT_CONVENTIONS:
        raise ValueError(f"amount_convention: expected one of {AMOUNT_CONVENTIONS}")
    raw = read_raw(path, encoding)
    if raw.frame.columns.empty and not raw.broken.empty:
        first = raw.broken.iloc[0]
        raise DataError(path, first["_error"], line=int(first["_line"]))
    mapping = resolve_columns(list(raw.frame.columns), columns, path, require_amount)
    frame, rejects = normalise_frame(raw, mapping, path, amount_convention, require_amount)
    if len(rejects) and not skip_bad_rows:
        first = rejects.iloc[0]
        column = first["_column"] if isinstance(first["_column"], str) else None
        field = next((f for f, c in mapping.items() if c == column), None)
        raise DataError(path, first["_error"], line=int(first["_line"]), column=column, field=field)
    written: Path | None = None
    if skip_bad_rows and (len(rejects) or rejects_path is not None):
        written = Path(rejects_path) if rejects_path else path.with_name(f"{path.stem}.rejects.csv")
        written.parent.mkdir(parents=True, exist_ok=True)
        rejects.to_csv(written, index=False)
    logger.info(
        "read %d rows from %s (%s); %d rejected", len(frame), path.name, raw.encoding, len(rejects)
    )
    return LoadResult(frame, len(rejects), written, path, dict(mapping), raw.encoding)


def normalise_frame(
    raw: RawFrame, mapping: Mapping[str, str], path: Path, convention: str, require_amount: bool
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Build the normalised frame and the rejects (sorted by line) from a raw frame."""
    frame, n = raw.frame, len(raw.frame)
    problems: list[tuple[str, Errors]] = []

    def check(field: str, validate: Callable[[pd.Series], tuple[Any, Errors]]) -> Any:
        values, errors = validate(frame[mapping[field]])
        problems.append((mapping[field], errors))
        return values

    def blank() -> pd.Series:
        return pd.Series([None] * n, dtype="str")

    description = check("description", parse_descriptions)
    values, amount_problems = parse_amounts(frame, mapping, require_amount)
    problems += amount_problems
    positive_outflow = np.full(n, convention == "outflow_positive")
    if "amount_convention" in mapping:
        positive_outflow = check(
            "amount_convention", partial(parse_conventions, default=convention)
        )
    directions = check("direction", parse_directions) if "direction" in mapping else None
    out = {
        "id": row_ids(frame[mapping["id"]] if "id" in mapping else None, raw.lines, path.stem),
        "description": description,
        "amount": signed_amounts(values, positive_outflow, directions, "amount" not in mapping),
        "currency": check("currency", parse_currencies)
        if "currency" in mapping
        else pd.Series([DEFAULT_CURRENCY] * n, dtype="str"),
        "date": check("date", partial(parse_dates, path=path))
        if "date" in mapping
        else pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ns]"),
        "mcc": check("mcc", parse_mccs) if "mcc" in mapping else blank(),
        "account_type": optional_text(frame[mapping["account_type"]])
        if "account_type" in mapping
        else blank(),
        "direction": directions if directions is not None else blank(),
    }
    result = pd.DataFrame(out)
    used = set(mapping.values())
    others = frame[[name for name in frame.columns if name not in used]]
    others = others.rename(columns=lambda name: f"{name}_source" if name in out else name)
    result = pd.concat([result, others.reset_index(drop=True)], axis=1)
    return _split_rejects(raw, result, problems)


def _split_rejects(
    raw: RawFrame, result: pd.DataFrame, problems: list[tuple[str, Errors]]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    order = {name: i for i, name in enumerate(raw.frame.columns)}
    first: dict[int, tuple[int, str, str]] = {}
    for column, errors in problems:
        rank = order.get(column, len(order))
        for pos, message in errors.items():
            if pos not in first or rank < first[pos][0]:
                first[pos] = (rank, column, message)
    bad = np.array(sorted(first), dtype=np.int64)
    rejects = raw.frame.iloc[bad].copy()
    rejects["_line"] = raw.lines[bad]
    rejects["_column"] = [first[pos][1] or None for pos in bad.tolist()]
    rejects["_error"] = [first[pos][2] for pos in bad.tolist()]
    if not raw.broken.empty:
        rejects = pd.concat([rejects, raw.broken], ignore_index=True)
    rejects = rejects.sort_values("_line", kind="stable").reset_index(drop=True)
    tail = ["_line", "_column", "_error"]
    rejects = rejects[[c for c in rejects.columns if c not in tail] + tail]
    keep = np.ones(len(result), dtype=bool)
    keep[bad] = False
    return result[keep].reset_index(drop=True), rejects


def validate_file(
    path: str | Path,
    *,
    columns: Mapping[str, str] | None = None,
    encoding: str | None = None,
    skip_bad_rows: bool = False,
    rejects_path: str | Path | None = None,
) -> ValidationReport:
    """Check a transaction file and summarise it (what ``categorizer validate`` prints).

    Args:
        path: The file.
        columns: Field → column name in the file (see `parse_columns`).
        encoding: Force a text encoding instead of detecting it.
        skip_bad_rows: Count bad rows and write them to the rejects file instead of raising.
        rejects_path: Where rejected rows go (see `read_transactions`).

    Returns:
        Row counts, the column mapping, currencies, the date range and the encoding.

    Raises:
        DataError: As `read_transactions`; without skip_bad_rows the first bad row raises.
    """
    result = read_transactions(
        path,
        columns=columns,
        encoding=encoding,
        skip_bad_rows=skip_bad_rows,
        rejects_path=rejects_path,
    )
    frame = result.frame
    counts = frame["currency"].value_counts()
    dates = frame["date"].dropna()
    return ValidationReport(
        path=result.path,
        rows=len(frame),
        bad_rows=result.rejected,
        mapped_columns=result.mapped_columns,
        currencies={str(code): int(count) for code, count in counts.items()},
        date_min=dates.min().date() if len(dates) else None,
        date_max=dates.max().date() if len(dates) else None,
        encoding=result.encoding,
        rejects_path=result.rejects_path,
    )


# --------------------------------------------------------------------------------------------
# Writing


def write_frame(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write a frame as CSV/TSV, Parquet or JSONL, chosen by the file's extension.

    The file is written beside its final name and renamed into place, so a crash never
    leaves a half-written file.

    Args:
        frame: Any frame.
        path: Target ending in .csv, .tsv, .parquet, .jsonl or .ndjson.

    Returns:
        The path written.

    Raises:
        ValueError: An unsupported extension.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".tsv", ".parquet", *JSONL_SUFFIXES):
        raise ValueError(f"{path}: expected a .csv, .tsv, .parquet, .jsonl or .ndjson file name")
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.partial")
    if suffix in (".csv", ".tsv"):
        frame.to_csv(staging, index=False, sep="\t" if suffix == ".tsv" else ",")
    elif suffix == ".parquet":
        frame.to_parquet(staging, index=False)
    else:
        frame.to_json(staging, orient="records", lines=True, date_format="iso", force_ascii=False)
    staging.replace(path)
    return path
