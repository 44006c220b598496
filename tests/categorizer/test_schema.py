"""Tests for categorizer.schema: the Transaction contract."""

import datetime
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from categorizer.schema import (
    TRANSACTION_FIELDS,
    Transaction,
    normalise_mcc,
    resolve_direction,
)


def test_minimal_transaction_has_documented_defaults() -> None:
    txn = Transaction(description="  STARBUCKS #123  ")
    assert txn.description == "STARBUCKS #123"
    assert txn.currency == "USD"
    assert txn.amount is None
    assert txn.amount_convention == "outflow_negative"
    assert txn.resolved_direction() is None
    assert txn.outflow_negative_amount() is None


def test_fields_constant_matches_model() -> None:
    assert set(TRANSACTION_FIELDS) == set(Transaction.model_fields)


@pytest.mark.parametrize("description", ["", "   ", "\t\n", "x" * 513])
def test_invalid_descriptions_are_rejected(description: str) -> None:
    with pytest.raises(ValidationError, match="description"):
        Transaction(description=description)


def test_description_of_512_characters_is_accepted() -> None:
    assert len(Transaction(description=" " + "x" * 512 + " ").description) == 512


@pytest.mark.parametrize("amount", [math.inf, -math.inf, math.nan])
def test_non_finite_amounts_are_rejected(amount: float) -> None:
    with pytest.raises(ValidationError, match="finite"):
        Transaction(description="X", amount=amount)


@pytest.mark.parametrize(("given", "stored"), [("usd", "USD"), (" eur ", "EUR"), (None, "USD")])
def test_currency_is_upper_cased(given: str | None, stored: str) -> None:
    assert Transaction(description="X", currency=given).currency == stored


@pytest.mark.parametrize("currency", ["US", "DOLLARS", "U5D", 840])
def test_invalid_currencies_are_rejected(currency: object) -> None:
    with pytest.raises(ValidationError, match="currency"):
        Transaction(description="X", currency=currency)


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        (5411, "5411"),
        ("5411", "5411"),
        (" 5812 ", "5812"),
        (742, "0742"),
        (5411.0, "5411"),
        ("", None),
    ],
)
def test_mcc_is_normalised(given: object, stored: str | None) -> None:
    assert Transaction(description="X", mcc=given).mcc == stored


@pytest.mark.parametrize("mcc", ["541", "54111", "abcd", 10_000, -1, True, 54.5, "٥٤١١"])
def test_invalid_mccs_are_rejected(mcc: object) -> None:
    with pytest.raises(ValidationError, match="merchant category code"):
        Transaction(description="X", mcc=mcc)
    with pytest.raises(ValueError, match="4-digit"):
        normalise_mcc(mcc)


def test_unknown_fields_pass_through() -> None:
    txn = Transaction(description="X", customer_ref="abc", nested={"a": 1})
    dumped = txn.model_dump()
    assert dumped["customer_ref"] == "abc"
    assert dumped["nested"] == {"a": 1}


def test_dates_ids_and_optional_fields() -> None:
    txn = Transaction(
        id=17,
        description="X",
        date="2024-01-05",
        account_type=" checking ",
        direction="DEBIT",
    )
    assert txn.id == "17"
    assert txn.date == datetime.date(2024, 1, 5)
    assert txn.account_type == "checking"
    assert txn.direction == "debit"
    assert Transaction(description="X", direction="CR").direction == "credit"
    with pytest.raises(ValidationError, match="direction"):
        Transaction(description="X", direction="sideways")
    with pytest.raises(ValidationError, match="amount_convention"):
        Transaction(description="X", amount_convention="positive")


@pytest.mark.parametrize(
    ("amount", "direction", "convention", "resolved", "outflow_negative"),
    [
        (-5.0, None, "outflow_negative", "debit", -5.0),
        (5.0, None, "outflow_negative", "credit", 5.0),
        (5.0, None, "outflow_positive", "debit", -5.0),
        (-5.0, None, "outflow_positive", "credit", 5.0),
        (5.0, "debit", "outflow_negative", "debit", -5.0),
        (-5.0, "credit", "outflow_negative", "credit", 5.0),
        (-5.0, "debit", "outflow_positive", "debit", -5.0),
        (0.0, None, "outflow_negative", None, 0.0),
        (0.0, "debit", "outflow_negative", "debit", -0.0),
        (None, "credit", "outflow_negative", "credit", None),
        (None, None, "outflow_positive", None, None),
    ],
)
def test_direction_and_outflow_negative_amount(
    amount: float | None,
    direction: str | None,
    convention: str,
    resolved: str | None,
    outflow_negative: float | None,
) -> None:
    txn = Transaction(
        description="X", amount=amount, direction=direction, amount_convention=convention
    )
    assert txn.resolved_direction() == resolved
    assert txn.outflow_negative_amount() == outflow_negative


@given(
    amount=st.none() | st.floats(allow_nan=False, allow_infinity=False),
    direction=st.sampled_from([None, "debit", "credit"]),
    convention=st.sampled_from(["outflow_negative", "outflow_positive"]),
)
def test_outflow_negative_amount_keeps_magnitude_and_follows_direction(
    amount: float | None, direction: str | None, convention: str
) -> None:
    txn = Transaction(
        description="X", amount=amount, direction=direction, amount_convention=convention
    )
    value = txn.outflow_negative_amount()
    if amount is None:
        assert value is None
        return
    assert abs(value) == abs(amount)
    resolved = txn.resolved_direction()
    assert resolved == resolve_direction(amount, direction, convention)
    if value != 0:
        assert (value < 0) == (resolved == "debit")
