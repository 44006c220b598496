"""Mapping a file's columns to Transaction fields: ``--columns`` specs and well-known names."""

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from categorizer.ingest.errors import ColumnSpecError, DataError
from categorizer.schema import TRANSACTION_FIELDS

COLUMN_KEYS = (*TRANSACTION_FIELDS, "debit", "credit")
"""Keys accepted by `parse_columns`: the Transaction fields plus separate debit/credit columns."""

_SYNONYMS: dict[str, tuple[str, ...]] = {
    "id": ("id", "transactionid", "txnid"),
    "description": (
        "description",
        "transactiondescription",
        "memo",
        "narrative",
        "details",
        "transactiondetails",
        "payee",
        "originaldescription",
        "merchant",
        "merchantname",
        "particulars",
        "name",
    ),
    "amount": ("amount", "transactionamount", "amt", "value"),
    "currency": ("currency", "isocurrencycode", "currencycode", "ccy"),
    "date": (
        "date",
        "transactiondate",
        "transdate",
        "txndate",
        "posteddate",
        "postingdate",
        "posted",
        "bookingdate",
        "valuedate",
    ),
    "mcc": ("mcc", "merchantcategorycode", "mcccode"),
    "account_type": ("accounttype",),
    "direction": ("direction", "debitcredit", "creditdebitindicator"),
    "amount_convention": ("amountconvention",),
}
_DEBIT_NAMES = (
    "debit",
    "debits",
    "debitamount",
    "paidout",
    "moneyout",
    "withdrawal",
    "withdrawals",
)
_CREDIT_NAMES = ("credit", "credits", "creditamount", "paidin", "moneyin", "deposit", "deposits")
_AMOUNT_WITH_CODE_RE = re.compile(r"amount[a-z]{3}")


def parse_columns(spec: str | None) -> dict[str, str]:
    """Parse a ``--columns`` specification.

    Args:
        spec: Comma-separated FIELD=COLUMN pairs, e.g. "description=Memo,amount=Amount";
            FIELD is a Transaction field or "debit"/"credit" (separate money-out/in columns).

    Returns:
        Field → column name; {} for None or blank.

    Raises:
        ColumnSpecError: A pair without "=", an unknown or repeated field.
    """
    mapping: dict[str, str] = {}
    for item in (spec or "").split(","):
        if not item.strip():
            continue
        key, sep, name = item.partition("=")
        key, name = key.strip().lower(), name.strip().strip("'\"").strip()
        if not sep or not key or not name:
            raise ColumnSpecError(
                "expected FIELD=COLUMN pairs separated by commas, such as "
                f"description=Memo,amount=Amount; got {item.strip()!r}"
            )
        if key not in COLUMN_KEYS:
            raise ColumnSpecError(f"unknown field {key!r}; valid fields: {', '.join(COLUMN_KEYS)}")
        if key in mapping:
            raise ColumnSpecError(f"field {key!r} is given twice")
        mapping[key] = name
    return mapping


def _norm_name(name: object) -> str:
    return re.sub(r"[^0-9a-z]", "", str(name).casefold())


def resolve_columns(
    found: Sequence[str],
    requested: Mapping[str, str] | None,
    path: Path,
    require_amount: bool,
) -> dict[str, str]:
    """Map fields to the file's columns: the user's mapping first, then well-known names."""
    listing = ", ".join(repr(str(n)) for n in list(found)[:30]) or "none"
    mapping = _user_mapping(found, requested or {}, path, listing)
    _auto_map(found, mapping)
    for field in ("description", "amount"):
        if field == "amount" and (not require_amount or {"debit", "credit"} & mapping.keys()):
            continue
        if field not in mapping:
            hint = "" if field == "description" else " (or debit=<Column>,credit=<Column>)"
            raise DataError(
                path,
                f"missing required column {field!r}; columns found: {listing}; "
                f"name yours with --columns {field}=<ColumnName>{hint}",
                column=field,
            )
    return mapping


def _user_mapping(
    found: Sequence[str], requested: Mapping[str, str], path: Path, listing: str
) -> dict[str, str]:
    by_fold: dict[str, str] = {}
    for name in found:
        by_fold.setdefault(str(name).strip().casefold(), name)
    mapping: dict[str, str] = {}
    for field, name in requested.items():
        if field not in COLUMN_KEYS:
            valid = ", ".join(COLUMN_KEYS)
            raise ColumnSpecError(f"unknown field {field!r}; valid fields: {valid}")
        source = name if name in found else by_fold.get(name.strip().casefold())
        if source is None:
            raise DataError(
                path,
                f"column {name!r} (given for {field}) not found; columns found: {listing}",
                column=name,
            )
        mapping[field] = source
    if "amount" in mapping and {"debit", "credit"} & mapping.keys():
        raise ColumnSpecError("map either amount or debit/credit columns, not both")
    return mapping


def _auto_map(found: Sequence[str], mapping: dict[str, str]) -> None:
    """Add well-known column names (Memo, Narrative, Value, Paid out/Paid in...) in place."""
    by_norm: dict[str, str] = {}
    for name in found:
        by_norm.setdefault(_norm_name(name), name)
    used = set(mapping.values())

    def pick(names: Sequence[str]) -> str | None:
        return next((by_norm[n] for n in names if n in by_norm and by_norm[n] not in used), None)

    split_amount = bool({"debit", "credit"} & mapping.keys())
    for field, names in _SYNONYMS.items():
        if field in mapping or (field == "amount" and split_amount):
            continue
        source = pick(names)
        if source is None and field == "amount":
            source = pick([n for n in by_norm if _AMOUNT_WITH_CODE_RE.fullmatch(n)])
        if source is not None:
            mapping[field] = source
            used.add(source)
    if not {"amount", "debit", "credit"} & mapping.keys():
        debit, credit = pick(_DEBIT_NAMES), pick(_CREDIT_NAMES)
        if debit is not None and credit is not None:
            mapping["debit"], mapping["credit"] = debit, credit
