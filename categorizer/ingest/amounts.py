"""Parsing amounts as banks write them: ``1,234.56``, ``(12.00)``, ``12.00 CR``, ``1.234,56``..."""

import math
import numbers
import re
import unicodedata

from categorizer.ingest.errors import AmountError

AMOUNT_EXPECTED = "expected a number such as -12.50, 1,234.56, (12.00) or 12.00 CR"

_AMOUNT_TRANSLATE = str.maketrans(
    {
        "\u2212": "-",
        "\u2012": "-",
        "\u2013": "-",
        "\u2014": "-",
        "\ufe63": "-",
        "\uff0d": "-",
        "\u00a0": " ",
        "\u202f": " ",
        "\u2009": " ",
        "\u2007": " ",
        "\u2019": "'",
    }
)
_SYMBOLS = "$£€¥₹₩₽₺₪₫฿₴₦₱¢"
_CURRENCY_PREFIX_RE = re.compile(rf"(?:[A-Z]{{3}}|[A-Z]{{0,2}}[{_SYMBOLS}])\s*")
_CURRENCY_SUFFIX_RE = re.compile(rf"\s*(?:[A-Z]{{3}}|[{_SYMBOLS}])$")
_CRDR_RE = re.compile(r"\s*(?<![A-Z])(CR|DR)\.?$")
_NUMBER_CHARS_RE = re.compile(r"[0-9.,' ]*[0-9][0-9.,' ]*")
_GROUP_SPLIT_RE = re.compile(r"[,.' ]")
PLAIN_NUMBER = r"[+-]?[0-9]+(?:\.[0-9]+)?"


def parse_amount(value: str | float | int) -> float:
    """Parse an amount as banks write them.

    Accepts ``1,234.56``, ``-12``, ``(12.00)`` (negative), ``12.00 CR`` / ``12.00 DR``,
    ``1.234,56``, ``1 234,56`` and ``-2,56`` (decimal comma, decided by the last separator and
    the digit groups), currency symbols and codes (``£1,183.23``, ``+ £1,100.00``, ``$-5.00``,
    ``USD 12``), a leading ``+``, a trailing minus (``12.00-``) and the unicode minus.

    Args:
        value: Text or a finite number.

    Returns:
        The amount as a float, its sign as written (CR positive, DR negative).

    Raises:
        AmountError: Empty text, words, NaN, infinity, two numbers or ambiguous signs.
    """
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        number = float(value)
        if math.isfinite(number):
            return number
        raise AmountError(f"{AMOUNT_EXPECTED}; got {value!r}")
    if isinstance(value, str):
        number = _parse_amount_text(value)
        if number is not None:
            return number
    raise AmountError(f"{AMOUNT_EXPECTED}; got {value!r}")


def _parse_amount_text(text: str) -> float | None:
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text.translate(_AMOUNT_TRANSLATE))
        text = text.translate(_AMOUNT_TRANSLATE)
    s = text.strip().upper()
    signs: list[bool] = []  # True for negative, one entry per sign marker found
    match = _CRDR_RE.search(s)
    if match:
        signs.append(match.group(1) == "DR")
        s = s[: match.start()]
    if s.startswith("(") and s.endswith(")"):
        signs.append(True)
        s = s[1:-1].strip()
    s, left = _peel_left(s)
    s, right = _peel_right(s)
    signs += left + right
    if len(signs) > 1:
        return None
    number = _parse_number(s)
    if number is None:
        return None
    return (-number if signs and signs[0] else number) + 0.0


def _peel_left(s: str) -> tuple[str, list[bool]]:
    signs: list[bool] = []
    currency = False
    while s:
        if s[0] in "+-":
            signs.append(s[0] == "-")
            s = s[1:].lstrip()
        elif not currency and (match := _CURRENCY_PREFIX_RE.match(s)):
            currency = True
            s = s[match.end() :]
        else:
            break
    return s, signs


def _peel_right(s: str) -> tuple[str, list[bool]]:
    signs: list[bool] = []
    currency = False
    while s:
        if s[-1] in "+-":
            signs.append(s[-1] == "-")
            s = s[:-1].rstrip()
        elif not currency and (match := _CURRENCY_SUFFIX_RE.search(s)):
            currency = True
            s = s[: match.start()]
        else:
            break
    return s, signs


def _parse_number(s: str) -> float | None:
    if not _NUMBER_CHARS_RE.fullmatch(s):
        return None
    decimal = _decimal_separator(s)
    whole, fraction = (s.rpartition(decimal)[0::2]) if decimal else (s, "")
    if fraction and not fraction.isdigit():
        return None
    separators = set(whole) - set("0123456789")
    if separators:
        groups = _GROUP_SPLIT_RE.split(whole)
        if len(separators) > 1 or decimal in separators:
            return None
        if not _valid_groups([len(g) for g in groups]):
            return None
        if not all(g.isdigit() for g in groups):
            return None
        whole = "".join(groups)
    if not whole and not fraction:
        return None
    number = float(f"{whole or '0'}.{fraction or '0'}")
    return number if math.isfinite(number) else None


def _valid_groups(sizes: list[int]) -> bool:
    """Thousands groups: 1,234,567 (threes) or the Indian 12,34,567 (twos, then three)."""
    if not 1 <= sizes[0] <= 3 or sizes[-1] != 3:
        return False
    middle = sizes[1:-1]
    return all(n == 3 for n in middle) or (sizes[0] <= 2 and all(n == 2 for n in middle))


def _decimal_separator(s: str) -> str | None:
    last_dot, last_comma = s.rfind("."), s.rfind(",")
    if last_dot < 0 and last_comma < 0:
        return None
    if last_dot >= 0 and last_comma >= 0:
        return "." if last_dot > last_comma else ","
    sep = "." if last_dot >= 0 else ","
    if s.count(sep) > 1:
        return None  # only thousands separators: 1,234,567 or 1.234.567
    if sep == ".":
        return "."
    before, after = s[:last_comma], s[last_comma + 1 :]
    thousands = (
        len(after) == 3
        and before.isdigit()
        and 1 <= len(before) <= 3
        and not before.startswith("0")
    )
    return None if thousands else ","
