"""Formatting of the report's figures as plain strings; a missing figure (None) reads "—".

`benchmarks.report.sections` uses (and re-exports) them: `num`, `pct`, `ms`, `usd`, `times`,
`percent_cheaper`, `points` and `join_clauses`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

DASH = "—"


@dataclass
class Table:
    """A table of plain (unescaped) strings."""

    headers: list[str]
    rows: list[list[str]]


@dataclass
class Section:
    """A titled part of the report: paragraphs, then tables."""

    title: str
    paragraphs: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)


def num(value: float | None, digits: int = 0) -> str:
    """A number with thousands separators, or "—" when missing."""
    return DASH if value is None else f"{value:,.{digits}f}"


def pct(fraction: float | None) -> str:
    """A fraction as a percentage with one decimal."""
    return DASH if fraction is None else f"{fraction * 100:.1f}%"


def ms(value: float | None) -> str:
    """Milliseconds: two decimals below 10 ms, one below 100, none above."""
    if value is None:
        return DASH
    digits = 2 if value < 10 else 1 if value < 100 else 0
    return f"{value:,.{digits}f} ms"


def usd(value: float | None) -> str:
    """US dollars: cents from $1 up, three significant figures below."""
    if value is None:
        return DASH
    if value >= 100:
        return f"${value:,.0f}"
    return f"${value:,.2f}" if value >= 1 else f"${value:.3g}"


def times(ratio: float | None) -> str:
    """A ratio as "1,234×" (one decimal below 10×)."""
    if ratio is None:
        return DASH
    return f"{ratio:,.0f}×" if ratio >= 10 else f"{ratio:.1f}×"


def percent_cheaper(percent: float | None, missing: str = DASH) -> str:
    """Like "99.98% cheaper", with as many decimals as it takes not to round up to 100%."""
    if percent is None:
        return missing
    if percent < 0:
        return f"{-percent:,.2f}% more expensive"
    digits = 2
    while digits < 6 and percent < 100 and round(percent, digits) >= 100:
        digits += 1
    return f"{percent:.{digits}f}% cheaper"


def points(gap: float) -> str:
    """Student minus teacher accuracy, in percentage points, as a clause."""
    if round(gap, 1) == 0:
        return "level with the teacher's accuracy"
    if gap > 0:
        return f"{gap:.1f} points above the teacher's accuracy"
    return f"{-gap:.1f} points below the teacher's accuracy"


def join_clauses(clauses: Sequence[str]) -> str:
    """Clauses joined as "a", "a and b" or "a, b and c"."""
    return clauses[0] if len(clauses) == 1 else f"{', '.join(clauses[:-1])} and {clauses[-1]}"
