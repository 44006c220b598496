"""Tests for categorizer.ingest.amounts: parsing amounts as banks write them."""

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from categorizer.ingest.amounts import parse_amount
from categorizer.ingest.errors import AmountError


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1,234.56", 1234.56),
        ("-12", -12.0),
        ("(12.00)", -12.0),
        ("12.00 CR", 12.0),
        ("12.00 DR", -12.0),
        ("12.00dr", -12.0),
        ("1.234,56", 1234.56),
        ("1 234,56", 1234.56),
        ("-2,56", -2.56),
        ("£1,183.23", 1183.23),
        ("+ £1,100.00", 1100.0),
        ("$-5.00", -5.0),
        ("-$5.00", -5.0),
        ("USD 12", 12.0),
        ("12.50 EUR", 12.5),
        ("€ 12,50", 12.5),
        ("US$12", 12.0),
        ("+12", 12.0),
        ("12.00-", -12.0),
        ("\u221212.50", -12.5),
        ("1,234", 1234.0),
        ("0,123", 0.123),
        ("1,2345", 1.2345),
        ("1'234.50", 1234.5),
        ("12,34,567.00", 1234567.0),
        ("1\u00a0234,56", 1234.56),
        (".5", 0.5),
        ("-0.00", 0.0),
        (7, 7.0),
        (-3.25, -3.25),
    ],
)
def test_parse_amount_accepts_bank_formats(text: str | float, value: float) -> None:
    assert parse_amount(text) == value


NOT_AMOUNTS = [
    "", "  ", "abc", "NaN", "inf", "12 34", "1.2.3", "--12", "(12.00) CR", "+12 DR", "1e5",
    "12-34", "1.234.5", "12 USD EUR 3", float("nan"), float("inf"), True, None,
]  # fmt: skip


@pytest.mark.parametrize("text", NOT_AMOUNTS)
def test_parse_amount_rejects_non_amounts(text: object) -> None:
    with pytest.raises(AmountError, match=r"expected a number such as -12\.50"):
        parse_amount(text)  # type: ignore[arg-type]
    assert issubclass(AmountError, ValueError)


_CENTS = st.integers(min_value=-(10**13), max_value=10**13)


def _us(value: Decimal) -> str:
    return f"{value:,.2f}"


def _eu(value: Decimal, group: str) -> str:
    return _us(value).replace(",", "_").replace(".", ",").replace("_", group)


_STYLES = {
    "us": _us,
    "plain": lambda v: f"{v:.2f}",
    "eu_dot": lambda v: _eu(v, "."),
    "eu_space": lambda v: _eu(v, " "),
    "parentheses": lambda v: f"({_us(-v)})" if v < 0 else _us(v),
    "cr_dr": lambda v: f"{_us(abs(v))} {'DR' if v < 0 else 'CR'}",
    "trailing_minus": lambda v: f"{_us(abs(v))}-" if v < 0 else _us(v),
    "pound": lambda v: f"{'-' if v < 0 else '+ '}£{_us(abs(v))}",
    "dollar_inside": lambda v: f"${_us(v)}",
    "code_after": lambda v: f"{_us(v)} USD",
    "euro_after": lambda v: f"{_eu(v, '.')} €",
}


@settings(max_examples=60)
@given(cents=_CENTS, style=st.sampled_from(sorted(_STYLES)))
def test_parse_amount_round_trips_every_style(cents: int, style: str) -> None:
    value = Decimal(cents) / 100
    assert parse_amount(_STYLES[style](value)) == float(value)
