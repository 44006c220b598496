"""Field validation: vectorised checks of each mapped column of a raw frame.

Every validator returns the normalised values and {row position: message} for the bad rows,
so that the caller can reject rows (or raise) with the file's line and column.
"""

import logging
import numbers
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from categorizer.ingest.amounts import AMOUNT_EXPECTED, PLAIN_NUMBER, parse_amount
from categorizer.ingest.errors import AmountError
from categorizer.schema import (
    AMOUNT_CONVENTIONS,
    DEFAULT_CURRENCY,
    MAX_DESCRIPTION_CHARS,
    normalise_mcc,
)
from categorizer.text import is_missing

logger = logging.getLogger(__name__)

DATE_EXPECTED = "expected a date such as 2024-01-31, 31/01/2024 or 01/31/2024"

Errors = dict[int, str]

_DIRECTION_WORDS = {"debit": "debit", "credit": "credit", "dr": "debit", "cr": "credit"}
_ISO_DATE_RE = (
    r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}"
    r"(?:[T ][0-9]{1,2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?(?:Z|[+-][0-9]{2}:?[0-9]{2})?)?"
)
_DMY_RE = r"^(?P<a>[0-9]{1,2})[/.\-](?P<b>[0-9]{1,2})[/.\-](?P<y>[0-9]{4}|[0-9]{2})$"
_OTHER_DATE_FORMATS = (
    "%d %b %Y",
    "%d-%b-%Y",
    "%d %b %y",
    "%d-%b-%y",
    "%d %B %Y",
    "%b %d, %Y",
    "%B %d, %Y",
    "%b %d %Y",
    "%Y/%m/%d",
    "%Y%m%d",
)


def cell_text(value: Any) -> str:
    if is_missing(value):
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _text(series: pd.Series) -> pd.Series:
    """Stripped text as the str dtype, "" for missing values."""
    if isinstance(series.dtype, pd.StringDtype):
        return series.fillna("").str.strip()
    values = [cell_text(value) for value in series.tolist()]
    return pd.Series(values, index=series.index, dtype="str").str.strip()


def parse_descriptions(raw: pd.Series) -> tuple[pd.Series, Errors]:
    text = _text(raw)
    lengths = text.str.len().to_numpy()
    errors = {int(pos): "expected a non-empty description" for pos in np.flatnonzero(lengths == 0)}
    for pos in np.flatnonzero(lengths > MAX_DESCRIPTION_CHARS):
        errors[int(pos)] = (
            f"expected a description of at most {MAX_DESCRIPTION_CHARS} characters; "
            f"got {lengths[pos]}"
        )
    return text, errors


def _amount_values(raw: pd.Series) -> tuple[np.ndarray, np.ndarray, Errors]:
    """Parse one amount column: (values, NaN where missing or bad; missing mask; errors)."""
    errors: Errors = {}
    if pd.api.types.is_numeric_dtype(raw.dtype) and not pd.api.types.is_bool_dtype(raw.dtype):
        values = raw.to_numpy(dtype=float, na_value=np.nan).copy()
        numeric = ~np.isnan(values)
        text = pd.Series("", index=raw.index, dtype="str")
    elif isinstance(raw.dtype, pd.StringDtype):
        values = np.full(len(raw), np.nan)
        numeric = np.zeros(len(raw), dtype=bool)
        text = raw.fillna("").str.strip()
    else:  # object columns from JSON: numbers stay numbers, text is parsed
        objects = raw.to_numpy(dtype=object)
        numeric = np.fromiter((_is_number(v) for v in objects), dtype=bool, count=len(objects))
        values = np.full(len(raw), np.nan)
        values[numeric] = objects[numeric].astype(float)
        text = _text(raw.where(~numeric, ""))
    for pos in np.flatnonzero(numeric & ~np.isfinite(values)):
        errors[int(pos)] = f"{AMOUNT_EXPECTED}; got {values[pos]!r}"
        values[pos] = np.nan
    missing = ~numeric & (text == "").to_numpy()
    plain = text.str.fullmatch(PLAIN_NUMBER).to_numpy(dtype=bool)
    if plain.any():
        values[plain] = pd.to_numeric(text[plain]).to_numpy(dtype=float)
        for pos in np.flatnonzero(plain & ~np.isfinite(values)):  # hundreds of digits
            errors[int(pos)] = f"{AMOUNT_EXPECTED}; got {text.iat[pos]!r}"
            values[pos] = np.nan
    for pos in np.flatnonzero(~plain & ~missing & ~numeric):
        try:
            values[pos] = parse_amount(text.iat[pos])
        except AmountError as exc:
            errors[int(pos)] = str(exc)
    return values, missing, errors


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and not is_missing(value)


def parse_amounts(
    frame: pd.DataFrame, mapping: Mapping[str, str], require_amount: bool
) -> tuple[np.ndarray, list[tuple[str, Errors]]]:
    """Signed amounts as written (before conventions), with errors per source column."""
    problems: list[tuple[str, Errors]] = []
    n = len(frame)
    if "amount" in mapping:
        values, missing, errors = _amount_values(frame[mapping["amount"]])
        problems.append((mapping["amount"], errors))
        missing_source = mapping["amount"]
        missing_message = f"missing amount; {AMOUNT_EXPECTED}"
    elif {"debit", "credit"} & mapping.keys():
        values, missing = np.zeros(n), np.ones(n, dtype=bool)
        for key, sign in (("debit", -1.0), ("credit", 1.0)):
            if key in mapping:
                part, part_missing, errors = _amount_values(frame[mapping[key]])
                problems.append((mapping[key], errors))
                values += np.where(part_missing, 0.0, sign * np.abs(part))
                missing &= part_missing
        values[missing] = np.nan
        names = " and ".join(repr(mapping[k]) for k in ("debit", "credit") if k in mapping)
        missing_source = mapping.get("debit") or mapping["credit"]
        missing_message = f"{names} are empty; expected an amount in one of them"
    else:
        return np.full(n, np.nan), problems
    if require_amount:
        problems.append(
            (missing_source, dict.fromkeys(np.flatnonzero(missing).tolist(), missing_message))
        )
    return values, problems


def parse_conventions(raw: pd.Series, default: str) -> tuple[np.ndarray, Errors]:
    """True where the row's amounts are outflow_positive."""
    text = _text(raw).str.lower()
    text = text.where(text != "", default)
    bad = ~text.isin(AMOUNT_CONVENTIONS).to_numpy()
    errors = {
        int(pos): f"expected outflow_negative or outflow_positive; got {text.iat[pos]!r}"
        for pos in np.flatnonzero(bad)
    }
    return (text == "outflow_positive").to_numpy(), errors


def parse_directions(raw: pd.Series) -> tuple[pd.Series, Errors]:
    text = _text(raw).str.lower()
    mapped = text.map(_DIRECTION_WORDS)
    bad = ((text != "") & mapped.isna()).to_numpy()
    errors = {
        int(pos): f"expected debit or credit; got {text.iat[pos]!r}" for pos in np.flatnonzero(bad)
    }
    return mapped.astype("str"), errors


def signed_amounts(
    values: np.ndarray, positive_outflow: np.ndarray, directions: pd.Series | None, combined: bool
) -> np.ndarray:
    """Amounts in the outflow_negative convention; an explicit direction wins."""
    amounts = values if combined else np.where(positive_outflow, -values, values)
    if directions is not None:
        words = directions.to_numpy(dtype=object, na_value="")
        magnitude = np.abs(amounts)
        amounts = np.where(words == "debit", -magnitude, amounts)
        amounts = np.where(words == "credit", magnitude, amounts)
    return amounts + 0.0


def parse_dates(raw: pd.Series, path: Path) -> tuple[pd.Series, Errors]:
    if isinstance(raw.dtype, pd.DatetimeTZDtype):
        raw = raw.dt.tz_localize(None)
    if pd.api.types.is_datetime64_any_dtype(raw.dtype):
        return raw.dt.normalize().astype("datetime64[ns]"), {}
    text = _text(raw)
    parsed = pd.Series(pd.NaT, index=raw.index, dtype="datetime64[ns]")
    iso = text.str.fullmatch(_ISO_DATE_RE).to_numpy(dtype=bool)
    if iso.any():
        local_dates = text[iso].str.replace(r"[T ].*$", "", regex=True)  # as written, no tz
        parsed[iso] = pd.to_datetime(local_dates, format="ISO8601", errors="coerce")
    rest = (text != "").to_numpy() & parsed.isna().to_numpy()
    if rest.any():
        parsed[rest] = _day_month_year(text[rest], path)
    for fmt in _OTHER_DATE_FORMATS:
        rest = (text != "").to_numpy() & parsed.isna().to_numpy()
        if not rest.any():
            break
        parsed[rest] = pd.to_datetime(text[rest], format=fmt, errors="coerce")
    rest = (text != "").to_numpy() & parsed.isna().to_numpy()
    errors = {int(pos): f"{DATE_EXPECTED}; got {text.iat[pos]!r}" for pos in np.flatnonzero(rest)}
    return parsed.dt.normalize(), errors


def _day_month_year(text: pd.Series, path: Path) -> pd.Series:
    """Parse DD/MM/YYYY or MM/DD/YYYY (also with - or .), deciding the order once per file."""
    result = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns]")
    parts = pc.extract_regex(pa.array(text.array), _DMY_RE)  # vectorised, unlike str.extract
    first, second, year = (
        pc.cast(pc.struct_field(parts, name), pa.float64()).to_numpy(zero_copy_only=False)
        for name in "aby"
    )
    ok = ~np.isnan(first)
    if not ok.any():
        return result
    first, second, year = first[ok], second[ok], year[ok]
    year = np.where(year >= 100, year, np.where(year < 69, 2000 + year, 1900 + year))
    first_only, second_only = int((first > 12).sum()), int((second > 12).sum())
    if first_only or second_only:
        dayfirst = first_only >= second_only
    else:  # every value is ambiguous: dots mean Europe, slashes the US
        dayfirst = bool(text[ok].str.contains(".", regex=False).mean() > 0.5)
        logger.info("%s: ambiguous dates read as %s", path.name, "DD/MM" if dayfirst else "MM/DD")
    day, month = (first, second) if dayfirst else (second, first)
    parts_frame = pd.DataFrame({"year": year, "month": month, "day": day})
    result[ok] = pd.to_datetime(parts_frame, errors="coerce").to_numpy()
    return result


def parse_currencies(raw: pd.Series) -> tuple[pd.Series, Errors]:
    text = _text(raw).str.upper()
    text = text.where(text != "", DEFAULT_CURRENCY)
    bad = ~text.str.fullmatch("[A-Z]{3}").to_numpy(dtype=bool)
    errors = {
        int(pos): f"expected a 3-letter ISO 4217 currency code such as USD; got {text.iat[pos]!r}"
        for pos in np.flatnonzero(bad)
    }
    return text, errors


def parse_mccs(raw: pd.Series) -> tuple[pd.Series, Errors]:
    if isinstance(raw.dtype, pd.StringDtype):
        text = raw.fillna("").str.strip()
        bad = ((text != "") & ~text.str.fullmatch("[0-9]{4}")).to_numpy(dtype=bool)
        expected = "expected a 4-digit merchant category code such as 5411"
        errors = {int(pos): f"{expected}; got {text.iat[pos]!r}" for pos in np.flatnonzero(bad)}
        return text.where((text != "") & ~bad), errors
    values: list[str | None] = []
    errors = {}
    for pos, value in enumerate(raw.tolist()):
        try:
            values.append(None if is_missing(value) else normalise_mcc(value))
        except ValueError as exc:
            errors[pos] = str(exc)
            values.append(None)
    return pd.Series(values, index=raw.index, dtype="str"), errors


def optional_text(raw: pd.Series) -> pd.Series:
    text = _text(raw)
    return text.where(text != "")


def row_ids(raw: pd.Series | None, lines: np.ndarray, stem: str) -> pd.Series:
    generated = stem + "-" + pd.Series(lines, dtype="int64").astype("str")
    if raw is None:
        return generated
    text = _text(raw)
    return text.where(text != "", generated)
