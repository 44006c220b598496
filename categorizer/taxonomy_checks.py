"""What makes a taxonomy valid: the checks behind `TaxonomyError`, each problem in plain words.

`check_top_level` checks the YAML layout's top-level keys; `validate_taxonomy` checks a built
taxonomy's fields and categories (ids, names and descriptions, parents, two levels, at least two
primaries). Both return every problem found, each naming its entry by 1-based position and id
(`entry_name`); `format_problems` joins them into one message, showing the first ten.
"""

from __future__ import annotations

import difflib
import logging
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from categorizer.taxonomy import Category, Taxonomy

logger = logging.getLogger(__name__)

_ID_RE = re.compile(r"^[A-Z][A-Z0-9_]*$")
_TOP_KEYS = ("name", "version", "description", "categories")
_MAX_PROBLEMS = 10


def entry_name(index: int, id: object = None) -> str:
    """Name an entry by 1-based position and, when known, id."""
    return f"category #{index + 1}" + (f" (id {id!r})" if isinstance(id, str) and id else "")


def format_problems(label: str, problems: list[str]) -> str:
    shown = problems[:_MAX_PROBLEMS]
    more = len(problems) - len(shown)
    return f"{label}: " + "; ".join(shown) + (f"; ... and {more} more problems" if more else "")


def check_top_level(data: Mapping[str, Any]) -> list[str]:
    problems = []
    for key, what in (
        ("name", "a taxonomy name, e.g. 'my-categories'"),
        ("version", 'a quoted version string, e.g. "1.0"'),
    ):
        if key not in data:
            problems.append(f"missing top-level key {key!r} ({what})")
        elif not isinstance(data[key], str) or not data[key].strip():
            problems.append(f"top-level {key!r} must be {what}, not {data[key]!r}")
    categories = data.get("categories")
    if "categories" not in data:
        problems.append("missing top-level key 'categories' (a list of category entries)")
    elif not isinstance(categories, list) or not categories:
        problems.append("top-level 'categories' must be a non-empty list of category entries")
    unknown = sorted(str(k) for k in data if k not in _TOP_KEYS)
    if unknown:
        logger.warning("taxonomy: ignoring unknown top-level keys %s", unknown)
    return problems


def validate_taxonomy(taxonomy: Taxonomy) -> list[str]:
    """Return every problem with a taxonomy's fields and categories (empty when valid)."""
    problems = []
    for key in ("name", "version"):
        value = getattr(taxonomy, key)
        if not isinstance(value, str) or not value.strip():
            problems.append(f"{key} must be a non-empty string, not {value!r}")
    first_seen: dict[str, int] = {}
    by_id: dict[str, Category] = {}
    for i, c in enumerate(taxonomy.categories):
        where = entry_name(i, c.id)
        if not isinstance(c.id, str) or not _ID_RE.match(c.id):
            fixed = re.sub(r"[^A-Z0-9]+", "_", str(c.id).upper()).strip("_") or "MY_CATEGORY"
            problems.append(
                f"{where}: id is not valid; use upper-case letters, digits and underscores, "
                f"starting with a letter (e.g. {fixed!r})"
            )
        elif c.id in first_seen:
            problems.append(
                f"{where}: duplicate id, already used by {entry_name(first_seen[c.id])}; ids "
                "must be unique"
            )
        else:
            first_seen[c.id] = i
            by_id[c.id] = c
        for key, what in (("name", "a short human-readable name"), ("description", "one line")):
            value = getattr(c, key)
            if not isinstance(value, str) or not value.strip():
                problems.append(f"{where}: {key} is empty; give {what}")
            elif "\n" in value or "\r" in value:
                problems.append(
                    f"{where}: {key} spans several lines; write it on one line (in YAML, a folded "
                    "block '>-' joins lines)"
                )
    for i, c in enumerate(taxonomy.categories):
        if c.parent is None:
            continue
        where = entry_name(i, c.id)
        parent = by_id.get(c.parent)
        if c.parent == c.id:
            problems.append(
                f"{where}: parent is the category itself; remove 'parent' to make it "
                "a primary category"
            )
        elif parent is None:
            close = difflib.get_close_matches(str(c.parent), list(by_id), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            problems.append(
                f"{where}: parent {c.parent!r} is not a category in this taxonomy{hint}; add a "
                "primary category with that id or fix the parent"
            )
        elif parent.parent is not None:
            problems.append(
                f"{where}: parent {c.parent!r} is not a primary category (its own parent is "
                f"{parent.parent!r}); taxonomies have two levels only: set parent to "
                f"{parent.parent!r} or remove the parent of {c.parent!r}"
            )
    primaries = sum(1 for c in taxonomy.categories if c.is_primary)
    if primaries < 2:
        problems.append(
            f"has {primaries} primary categories; at least 2 are needed (a primary category is "
            "an entry without 'parent')"
        )
    return problems
