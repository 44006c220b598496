"""Text normalisation: what the model sees of a transaction, and grouping keys for descriptors.

`to_model_text` is the single definition of the student's input text; its output is versioned by
`TEXT_FORMAT_VERSION`, which model bundles record. Bump the version whenever the output of
`to_model_text` (or of `clean_descriptor`, which it uses) changes for any input.

Standard library only, and fast: this runs on every request and over million-row files.
"""

import re
import unicodedata
from collections.abc import Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from categorizer.schema import Transaction

TEXT_FORMAT_VERSION = "1"
MAX_CLEAN_CHARS = 256
MASK_TOKEN = "XXXX"
NUMBER_TOKEN = "#"

_MONTHS = "JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|SEPT|OCT|NOV|DEC"

# Typographic characters that NFKC keeps but that mean plain ASCII punctuation here.
_TYPOGRAPHIC = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201b": "'",
        "\u2032": "'",
        "\u2010": "-",
        "\u2011": "-",
        "\u2012": "-",
        "\u2013": "-",
        "\u2014": "-",
        "\u2212": "-",
        "\u2022": "*",
        "\u00b7": ".",
    }
)
# Patterns start with a character class and look behind after it ("\d(?<![\d#]\d)" means
# "(?<![\d#])\d"), which lets the regex engine skip quickly over positions that cannot match.
# "#" counts as a digit in the look-arounds: it replaces digit runs, so a match must not depend
# on whether its neighbour is still a digit or already a "#" (idempotence).
# Card numbers: masked PANs (XXXX1234, ****1234, XX-1234) and full 13-19 digit PANs.
_CARD_RE = re.compile(
    r"[X*](?<![A-Z0-9#][X*])[X*]+-?\d{4}(?![\d#])"
    r"|\d(?<![\d#]\d)\d{3}-?\d{4}-?\d{4}-?\d{1,7}(?![\d#])"
)
# Runs of two or more punctuation characters that we otherwise keep.
_PUNCT_RUN_RE = re.compile(r"[&'*\-./+@]{2,}")
# Dates and times that start with a digit: 2024-01-05, 2024-01-05T10:30, 12/31/2024, 31.12.24,
# 12/31, 10-08, 10:30, 10:30:59PM, 05JAN, 05-JAN-24.
# Dates stand alone (no letter or digit on either side), so removing one never exposes another.
_DATE_RE = re.compile(
    r"\d(?<![A-Z0-9#]\d)(?:"
    r"\d{3}[-/.]\d{1,2}[-/.]\d{1,2}(?:T\d{1,2}:\d{2}(?::\d{2})?)?"
    r"|\d?[-/.]\d{1,2}[-/.]\d{2,4}"
    r"|\d?/\d{1,2}"
    r"|\d-\d{2}"  # 10-08, but not the 7-11 of a store name
    r"|\d?:\d{2}(?::\d{2})?(?:[AP]M)?"
    rf"|\d?[-/]?(?:{_MONTHS})(?:[-/]?\d{{2,4}})?"
    r")(?![A-Z0-9#])"
)
# Dates that start with a month: JAN05, SEPT-5.
_MONTH_DAY_RE = re.compile(rf"(?<![A-Z0-9#])(?:{_MONTHS})[-/]?\d{{1,2}}(?![A-Z0-9#])")
# Everything that is not a word character, whitespace or punctuation we keep (underscore too).
_JUNK_RE = re.compile(r"[^\w\s&'*\-./#+@]|_")
_LONG_DIGITS_RE = re.compile(r"\d{3,}")
_DIGIT_RE = re.compile(r"\d")
_HASH_RUN_RE = re.compile(r"#{2,}")
_NUMBERISH_RE = re.compile(r"[#\-./]*#[#\-./]*")
_TOKEN_EDGE = ".-/'"
_KEPT_PUNCT = "&'*-./#+@"
_LONE_PUNCT_KEPT = frozenset({"&", "*"})

_KEY_SPLIT_RE = re.compile(r"[^\w#]+|_")
_KEY_DIGITS_RE = re.compile(r"[\d#]+")
_ZERO_DIGITS = str.maketrans("123456789", "000000000")
_PROCESSOR_PREFIXES = (
    "debit card purchase",
    "recurring payment authorized on",
    "purchase authorized on",
    "recurring debit card",
    "point of sale",
    "pos withdrawal",
    "pos purchase",
    "pos debit",
    "debit card",
    "debit purchase",
    "card purchase",
    "check card",
    "checkcard",
    "ach debit",
    "ach credit",
    "visa debit",
    "recurring",
    "purchase",
    "paypal",
    "sumup",
    "zettle",
    "toast",
    "ach",
    "pos",
    "visa",
    "mastercard",
    "dda",
    "squ",
    "sq",
    "tst",
    "pp",
    "iz",
)
_PREFIX_RE = re.compile(r"^(?:(?:" + "|".join(_PROCESSOR_PREFIXES) + r")(?: |$))+")
_MASK_KEY = MASK_TOKEN.casefold()

DIRECTION_ALIASES: dict[str, str] = {"dr": "debit", "cr": "credit"}
"""Bank shorthand for a direction; `resolve_direction` and the schema's validator read it."""
_BUCKETS = (
    (1.0, "<1"),
    (10.0, "1-10"),
    (50.0, "10-50"),
    (200.0, "50-200"),
    (1_000.0, "200-1k"),
    (5_000.0, "1k-5k"),
)


def clean_descriptor(text: str) -> str:
    """Normalise a bank descriptor into what the model sees.

    NFKC-normalises, upper-cases, masks card numbers as ``XXXX``, drops dates and times, replaces
    runs of three or more digits by ``#`` (short numbers such as the 7 of 7-ELEVEN stay),
    drops control characters and stray punctuation, collapses whitespace and keeps at most 256
    characters. Never raises on a str, and is idempotent.

    Args:
        text: A raw descriptor such as "POS PURCHASE STARBUCKS #1234 SEATTLE WA 12/31".

    Returns:
        The cleaned descriptor, e.g. "POS PURCHASE STARBUCKS # SEATTLE WA".
    """
    if not isinstance(text, str):
        text = "" if text is None else str(text)
    return _clean_cached(text)


@lru_cache(maxsize=65_536)
def _clean_cached(text: str) -> str:
    cleaned = _clean_once(text)
    if text.isascii() and len(cleaned) < MAX_CLEAN_CHARS:
        return cleaned  # ASCII input is idempotent by construction (see the property tests)
    # Unicode case mappings and truncation can expose new patterns: iterate to a fixed point.
    for _ in range(8):
        again = _clean_once(cleaned)
        if again == cleaned:
            break
        cleaned = again
    return cleaned


def _clean_once(text: str) -> str:
    if text.isascii():
        text = text.upper()
    else:
        text = unicodedata.normalize("NFKC", text).translate(_TYPOGRAPHIC)
        text = unicodedata.normalize("NFKC", text.upper())
    out: list[str] = []
    for raw in text.split():
        has_digit = not raw.isalpha() and _DIGIT_RE.search(raw) is not None
        parts = _clean_number(raw) if has_digit else _clean_word(raw)
        for token in parts:
            if token == NUMBER_TOKEN and out and out[-1] == NUMBER_TOKEN:
                continue
            out.append(token)
    return _truncate(out)


@lru_cache(maxsize=65_536)
def _clean_word(word: str) -> tuple[str, ...]:
    """Clean a whitespace-free chunk without digits (cached: words repeat across rows)."""
    return _clean_chunk(word, digits=False)


def _clean_number(chunk: str) -> tuple[str, ...]:
    """Clean a whitespace-free chunk with digits (not cached: numbers rarely repeat)."""
    digits = chunk[1:] if chunk[0] == NUMBER_TOKEN else chunk
    if digits.isdigit() and digits.isascii() and not 13 <= len(digits) <= 19:
        return (NUMBER_TOKEN,) if len(digits) >= 3 else (chunk,)  # 1234, #1234, 12
    return _clean_chunk(chunk, digits=True)


def _clean_chunk(chunk: str, *, digits: bool) -> tuple[str, ...]:
    if digits and len(chunk) >= 6:
        chunk = _CARD_RE.sub(f" {MASK_TOKEN} ", chunk)
    chunk = _PUNCT_RUN_RE.sub(_collapse_punct_run, chunk)
    if digits:
        chunk = _DATE_RE.sub(" ", chunk)
        chunk = _MONTH_DAY_RE.sub(" ", chunk)
    chunk = _JUNK_RE.sub(" ", chunk)
    if digits:
        chunk = _LONG_DIGITS_RE.sub(NUMBER_TOKEN, chunk)
        if "##" in chunk:
            chunk = _HASH_RUN_RE.sub(NUMBER_TOKEN, chunk)
    tokens: list[str] = []
    for raw in chunk.split():
        token = raw.strip(_TOKEN_EDGE)
        if not token:
            continue
        if NUMBER_TOKEN in token and _NUMBERISH_RE.fullmatch(token):
            token = NUMBER_TOKEN
        elif not token.strip(_KEPT_PUNCT) and token not in _LONE_PUNCT_KEPT:
            continue  # punctuation only; after _JUNK_RE every other character is alphanumeric
        tokens.append(token)
    return tuple(tokens)


def _collapse_punct_run(match: re.Match[str]) -> str:
    run = match.group()
    return run[0] if run.count(run[0]) == len(run) else " "


def _truncate(tokens: list[str]) -> str:
    out = " ".join(tokens)
    if len(out) <= MAX_CLEAN_CHARS:
        return out
    cut = out.rfind(" ", 0, MAX_CLEAN_CHARS + 1)
    return out[:cut] if cut > 0 else out[:MAX_CLEAN_CHARS]


def amount_bucket(amount: float | None) -> str:
    """Bucket an amount's magnitude; the sign belongs to the direction, not here.

    Args:
        amount: A signed amount, or None.

    Returns:
        One of "<1", "1-10", "10-50", "50-200", "200-1k", "1k-5k", ">5k", or "" when the amount
        is None or NaN.
    """
    if amount is None or amount != amount:
        return ""
    magnitude = abs(amount)
    for upper, label in _BUCKETS:
        if magnitude < upper:
            return label
    return ">5k"


def to_model_text(txn: "Transaction | Mapping[str, Any]") -> str:
    """Build the student model's input text for one transaction.

    The format is ``"<clean descriptor> | <direction> | <amount bucket> | mcc <mcc>"``, the
    last three parts left out when unknown; it is versioned by `TEXT_FORMAT_VERSION`.

    Args:
        txn: A `Transaction`, or a mapping with the same keys (e.g. a dataframe row as a dict);
            missing keys, None and NaN mean unknown.

    Returns:
        For example "STARBUCKS STORE # SEATTLE WA | debit | 1-10 | mcc 5814".

    Raises:
        ValueError: A mapping's amount is neither a number nor numeric text.
    """
    direction: str | None
    if isinstance(txn, Mapping):
        get = txn.get
        description = get("description")
        amount = _as_amount(get("amount"))
        direction = _as_text(get("direction"))
        convention = _as_text(get("amount_convention")) or "outflow_negative"
        mcc = get("mcc")
    else:
        description = txn.description
        amount = txn.amount
        direction = txn.direction
        convention = txn.amount_convention
        mcc = txn.mcc
    parts = [clean_descriptor(_as_text(description))]
    resolved = resolve_direction(
        amount, direction.strip().lower() if direction else None, convention
    )
    if resolved:
        parts.append(resolved)
    bucket = amount_bucket(amount)
    if bucket:
        parts.append(bucket)
    code = _as_mcc(mcc)
    if code:
        parts.append(f"mcc {code}")
    return " | ".join(parts)


def resolve_direction(
    amount: float | None,
    direction: str | None,
    convention: str = "outflow_negative",
) -> Literal["debit", "credit"] | None:
    """Say whether money went out (debit) or came in (credit): the one owner of that rule.

    Args:
        amount: The signed amount, or None when unknown.
        direction: An explicit "debit" or "credit" (or "dr"/"cr"); it wins over the amount's
            sign.
        convention: How the amount's sign is to be read ("outflow_negative" or
            "outflow_positive").

    Returns:
        "debit", "credit", or None when neither a direction nor a non-zero amount is known.
    """
    direction = DIRECTION_ALIASES.get(direction, direction) if direction else None
    if direction == "debit":
        return "debit"
    if direction == "credit":
        return "credit"
    if amount is None or amount == 0 or amount != amount:  # unknown, zero or NaN
        return None
    outflow = amount > 0 if convention == "outflow_positive" else amount < 0
    return "debit" if outflow else "credit"


def is_missing(value: Any) -> bool:
    """Whether a cell holds no value: None, a NaN of any float type, numpy's NaT, or pandas'
    NA/NaT; recognised without importing pandas or numpy. Text and containers are values."""
    # the engine calls this for every field of every transaction: the common cases first
    if value is None:
        return True
    if isinstance(value, str):
        return False
    if isinstance(value, float):
        return value != value
    if type(value).__name__ in ("NAType", "NaTType"):
        return True
    if isinstance(value, bytes | list | tuple | dict) or getattr(value, "ndim", 0) > 0:
        return False
    try:
        return bool(value != value)  # only NaN (and NaT) differ from themselves
    except (TypeError, ValueError):
        return False


def _as_text(value: Any) -> str:
    if is_missing(value):
        return ""
    return value if isinstance(value, str) else str(value)


def _as_amount(value: Any) -> float | None:
    if is_missing(value) or isinstance(value, bool):
        return None
    if isinstance(value, str) and not value.strip():
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"expected a numeric amount such as -12.50; got {value!r}") from None
    return None if number != number else number


def _as_mcc(value: Any) -> str:
    if is_missing(value) or isinstance(value, bool):
        return ""
    if isinstance(value, float):
        if not value.is_integer():
            return ""
        value = int(value)
    if isinstance(value, int):
        return f"{value:04d}" if 0 <= value <= 9999 else ""
    code = str(value).strip()
    return code if len(code) == 4 and code.isdigit() and code.isascii() else ""


def descriptor_key(text: str) -> str:
    """Build a grouping key for deduplication and leakage-free splits.

    The key is the casefolded `clean_descriptor` split at punctuation, with digits and ``#``
    removed from words (MERCHANT123 → merchant), words with several digit runs (reference
    codes such as 2K3L45ABC) dropped, masked card numbers dropped and leading processor
    prefixes (SQ *, TST*, PAYPAL *, POS DEBIT, CHECKCARD, ACH DEBIT, VISA, ...) removed, so
    "SQ *JOE'S BBQ 0123 AUSTIN TX" and "SQ *JOE'S BBQ 9876 AUSTIN TX" share the key
    "joes bbq austin tx". The key does not depend on the values of digits, only on where they
    are.

    Args:
        text: A raw descriptor.

    Returns:
        The key; "" when nothing but numbers and punctuation is left.
    """
    if not isinstance(text, str):
        text = "" if text is None else str(text)
    # Digits' values never matter to the key: zero them first so that caches hit.
    return _key_cached(clean_descriptor(text.translate(_ZERO_DIGITS)))


@lru_cache(maxsize=65_536)
def _key_cached(cleaned: str) -> str:
    kept = []
    for word in _KEY_SPLIT_RE.split(cleaned.replace("'", "").casefold()):
        if not word or word == _MASK_KEY:
            continue
        if not word.isalpha():
            if len(_KEY_DIGITS_RE.findall(word)) > 1:
                continue
            word = _KEY_DIGITS_RE.sub("", word)
            if not word:
                continue
        kept.append(word)
    joined = " ".join(kept)
    return _PREFIX_RE.sub("", joined) or joined
