"""The category taxonomy: a versioned, two-level set of categories loaded from YAML.

The default is Plaid's personal finance category (PFC) taxonomy v1, shipped as
``categorizer/data/plaid_pfc_v1.yaml``; a user can supply their own file in the same format.
Primary categories are the model's output classes (``Taxonomy.labels``); detailed categories name
their primary as ``parent``. Every label file, checkpoint and bundle records
``Taxonomy.fingerprint()`` and checks it with ``Taxonomy.check_compatible`` before use. What makes
a taxonomy valid (the checks behind `TaxonomyError`) is in `categorizer.taxonomy_checks`.
"""

import dataclasses
import difflib
import functools
import hashlib
import json
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from categorizer.errors import InputError
from categorizer.taxonomy_checks import (
    check_top_level,
    entry_name,
    format_problems,
    validate_taxonomy,
)

logger = logging.getLogger(__name__)

DEFAULT_TAXONOMY_FILE = "plaid_pfc_v1.yaml"
"""File name of the packaged default taxonomy, under ``categorizer/data/``."""

_ENTRY_KEYS = ("id", "name", "description", "parent")


class TaxonomyError(InputError):
    """A taxonomy file or object is invalid, or does not match the one a file was made with."""


class UnknownCategoryError(TaxonomyError, KeyError):
    """A category id is not in the taxonomy (also a ``KeyError``, for mapping-style code)."""

    __str__ = ValueError.__str__  # KeyError would quote the whole message


@dataclass(frozen=True)
class Category:
    """One category of a taxonomy.

    Attributes:
        id: Upper-snake-case identifier, e.g. ``FOOD_AND_DRINK_COFFEE``.
        name: Short human-readable name, e.g. ``Coffee``.
        description: One line saying which transactions belong; it goes into LLM prompts.
        parent: Id of the primary category this detailed category belongs to; ``None`` for a
            primary category.
    """

    id: str
    name: str
    description: str
    parent: str | None = None

    @property
    def is_primary(self) -> bool:
        """Whether this is a primary (top-level) category."""
        return self.parent is None


@dataclass(frozen=True)
class Taxonomy:
    """A validated two-level taxonomy: primary categories and their detailed categories.

    Attributes:
        name: Taxonomy name, e.g. ``plaid-pfc``.
        version: Taxonomy version string, e.g. ``"1.0"``.
        categories: All categories in file order (primaries and detailed, interleaved or not).
        description: Free-text description of the taxonomy (not part of the hash).
        source: Where the taxonomy came from (a file path), used in error messages only.

    Construction raises ``TaxonomyError`` naming every invalid entry by position and id.
    """

    name: str
    version: str
    categories: tuple[Category, ...]
    description: str = ""
    source: str = dataclasses.field(default="", compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "categories", tuple(self.categories))
        problems = validate_taxonomy(self)
        if problems:
            raise TaxonomyError(format_problems(self._label, problems))

    @property
    def _label(self) -> str:
        return f"taxonomy {self.source or self.name!r}"

    # -- views -------------------------------------------------------------------------------

    @functools.cached_property
    def _by_id(self) -> dict[str, Category]:
        return {c.id: c for c in self.categories}

    @functools.cached_property
    def primaries(self) -> tuple[Category, ...]:
        """Primary categories in file order."""
        return tuple(c for c in self.categories if c.is_primary)

    @functools.cached_property
    def detailed(self) -> tuple[Category, ...]:
        """Detailed categories in file order."""
        return tuple(c for c in self.categories if not c.is_primary)

    @functools.cached_property
    def labels(self) -> tuple[str, ...]:
        """Primary category ids in file order: the model's output classes."""
        return tuple(c.id for c in self.primaries)

    @functools.cached_property
    def detailed_labels(self) -> tuple[str, ...]:
        """Detailed category ids in file order."""
        return tuple(c.id for c in self.detailed)

    @functools.cached_property
    def _label_index(self) -> dict[str, int]:
        return {label: i for i, label in enumerate(self.labels)}

    @functools.cached_property
    def _detailed_index(self) -> dict[str, int]:
        return {label: i for i, label in enumerate(self.detailed_labels)}

    @functools.cached_property
    def hash(self) -> str:
        """SHA-256 hex digest of the canonical content (name, version, categories in order).

        YAML formatting, comments and the taxonomy ``description`` do not change it; any change to
        a category's id, name, description, parent or position does.
        """
        content = {
            "name": self.name,
            "version": self.version,
            "categories": [
                {"id": c.id, "name": c.name, "description": c.description, "parent": c.parent}
                for c in self.categories
            ],
        }
        canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    # -- lookups -----------------------------------------------------------------------------

    def __contains__(self, item: object) -> bool:
        """Whether ``item`` (a category id or a ``Category``) is in the taxonomy."""
        if isinstance(item, Category):
            return self._by_id.get(item.id) == item
        return isinstance(item, str) and item in self._by_id

    def __len__(self) -> int:
        """Number of categories, primary and detailed (``len(t.labels)`` counts the classes)."""
        return len(self.categories)

    def __iter__(self) -> Iterator[Category]:
        """Iterate over all categories in file order."""
        return iter(self.categories)

    def get(self, id: str) -> Category:
        """Return the category with this id; ``UnknownCategoryError`` suggests near matches."""
        return self._lookup(self._by_id, id, "category")

    def children(self, primary_id: str) -> tuple[Category, ...]:
        """Return the detailed categories of a primary category, in file order."""
        self._lookup(self._label_index, primary_id, "primary category")
        return tuple(c for c in self.detailed if c.parent == primary_id)

    def parent_of(self, detailed_id: str) -> str:
        """Return the primary category id a category rolls up to (a primary's is its own id)."""
        category = self.get(detailed_id)
        return category.parent or category.id

    def index(self, label: str) -> int:
        """Return the position of a primary category id in ``labels``."""
        return self._lookup(self._label_index, label, "primary category")

    def detailed_index(self, label: str) -> int:
        """Return the position of a detailed category id in ``detailed_labels``."""
        return self._lookup(self._detailed_index, label, "detailed category")

    def _lookup(self, known: Mapping[str, Any], id: str, kind: str) -> Any:
        """Return ``known[id]`` or raise ``UnknownCategoryError`` saying what ``id`` is instead."""
        if isinstance(id, str) and id in known:
            return known[id]
        message = f"{self._label} has no {kind} {id!r}"
        wanted = str(id).upper()
        close = difflib.get_close_matches(wanted, list(known), n=3, cutoff=0.6)
        close += [k for k in known if wanted in k and k not in close][: 3 - len(close)]
        existing = self._by_id.get(id) if isinstance(id, str) else None
        if existing is not None:
            level = "a primary category"
            if not existing.is_primary:
                level = f"a detailed category of {existing.parent!r}"
            message += f"; {id!r} is {level}"
        elif close:
            message += f"; did you mean {' or '.join(repr(c) for c in close)}?"
        else:
            message += f"; valid ids are listed in {self.source or 'the taxonomy file'}"
        raise UnknownCategoryError(message)

    # -- serialisation and compatibility ----------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Return the taxonomy as plain data, in the YAML file's layout."""
        categories = []
        for c in self.categories:
            parent = {"parent": c.parent} if c.parent is not None else {}
            categories.append({"id": c.id, "name": c.name, **parent, "description": c.description})
        head = {"name": self.name, "version": self.version, "description": self.description}
        return {**head, "categories": categories}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "") -> "Taxonomy":
        """Build a taxonomy from data laid out like the YAML file (``source`` names it in errors).

        Raises:
            TaxonomyError: A key is missing or an entry is malformed or invalid.
        """
        label = f"taxonomy {source or data.get('name', '<unnamed>')!r}"
        problems = check_top_level(data)
        categories: list[Category] = []
        if not problems:
            for i, entry in enumerate(data["categories"]):
                category, entry_problems = _parse_entry(i, entry)
                problems.extend(entry_problems)
                if category is not None:
                    categories.append(category)
        if problems:
            raise TaxonomyError(format_problems(label, problems))
        return cls(
            name=data["name"],
            version=data["version"],
            categories=tuple(categories),
            description=str(data.get("description") or "").strip(),
            source=source,
        )

    def to_yaml(self, path: str | Path) -> None:
        """Write the taxonomy as YAML (creating folders); ``load_taxonomy`` gives the same hash."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        header = f"# Taxonomy {self.name} {self.version}; content hash sha256:{self.hash}\n"
        body = yaml.safe_dump(
            self.to_dict(), sort_keys=False, allow_unicode=True, width=1_000_000, indent=2
        )
        path.write_text(header + body, encoding="utf-8")

    def fingerprint(self) -> dict[str, str]:
        """Return ``{"name", "version", "hash"}`` to record in label files, checkpoints, bundles."""
        return {"name": self.name, "version": self.version, "hash": self.hash}

    def check_compatible(self, fingerprint: Mapping[str, Any], what: str) -> None:
        """Refuse an artefact made with a different taxonomy.

        Args:
            fingerprint: The fingerprint recorded in the artefact (see ``fingerprint``).
            what: The artefact, for the message, e.g. ``"labels file x.parquet"``.

        Raises:
            TaxonomyError: The fingerprint has no hash or differs from this taxonomy's.
        """
        if not isinstance(fingerprint, Mapping) or not fingerprint.get("hash"):
            raise TaxonomyError(
                f"{what} records no taxonomy fingerprint (name, version, hash), so it cannot be "
                f"checked against taxonomy {self.name!r} version {self.version!r}; rebuild it "
                "with this version of the categorizer"
            )
        if fingerprint["hash"] == self.hash:
            return
        theirs = _describe(fingerprint)
        ours = _describe(self.fingerprint())
        hint = ""
        if fingerprint.get("name") == self.name and fingerprint.get("version") == self.version:
            hint = " (same name and version but different content: the taxonomy file was edited)"
        raise TaxonomyError(
            f"{what} was made with taxonomy {theirs}, but the current taxonomy is {ours}{hint}; "
            f"use the taxonomy file it was made with (e.g. --taxonomy PATH) or rebuild {what} "
            "with the current taxonomy"
        )


def load_taxonomy(path: str | Path | None = None) -> Taxonomy:
    """Load and validate a taxonomy YAML file.

    Args:
        path: A taxonomy YAML file; ``None`` loads the packaged default (Plaid PFC v1).

    Raises:
        TaxonomyError: The file is missing or unreadable, is not valid YAML, lacks ``name``,
            ``version`` or ``categories``, or has a malformed or invalid entry; the message names
            the file, the entry (position and id) and what was expected.
    """
    if path is None:
        source = f"{DEFAULT_TAXONOMY_FILE} (packaged default)"
        text = (
            resources.files("categorizer")
            .joinpath("data", DEFAULT_TAXONOMY_FILE)
            .read_text(encoding="utf-8")
        )
    else:
        file = Path(path).expanduser()
        source = str(path)
        if not file.is_file():
            state = "is a folder, not a file" if file.is_dir() else "does not exist"
            raise TaxonomyError(
                f"taxonomy file {source!r} {state}; pass the path of a taxonomy YAML file (see "
                f"categorizer/data/{DEFAULT_TAXONOMY_FILE} for the format) or omit it to use the "
                "default taxonomy"
            )
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise TaxonomyError(
                f"taxonomy file {source!r} cannot be read ({exc}); check its permissions and that "
                "it is UTF-8 text"
            ) from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise TaxonomyError(
            f"taxonomy {source!r}: invalid YAML{where}: {problem}; fix the syntax (quote values "
            "that contain ': ' or '#')"
        ) from exc
    if not isinstance(data, Mapping):
        found = "is empty" if data is None else f"holds a {type(data).__name__}"
        raise TaxonomyError(
            f"taxonomy {source!r} {found}; expected a mapping with keys 'name', 'version' and "
            "'categories'"
        )
    taxonomy = Taxonomy.from_dict(data, source=source)
    logger.debug("loaded taxonomy %s from %s: %s", taxonomy.name, source, taxonomy.fingerprint())
    return taxonomy


@functools.lru_cache(maxsize=1)
def default_taxonomy() -> Taxonomy:
    """Return the packaged default taxonomy (Plaid PFC v1), loaded once."""
    return load_taxonomy(None)


# -- helpers ----------------------------------------------------------------------------------


def _describe(fingerprint: Mapping[str, Any]) -> str:
    name = fingerprint.get("name", "<unknown>")
    version = fingerprint.get("version", "<unknown>")
    return f"{name!r} version {version!r} (hash {str(fingerprint.get('hash'))[:12]})"


def _parse_entry(index: int, entry: object) -> tuple[Category | None, list[str]]:
    """Turn one YAML entry into a ``Category``, or report what is malformed about it."""
    if not isinstance(entry, Mapping):
        return None, [
            f"{entry_name(index)}: expected a mapping with keys 'id', 'name', 'description' and "
            f"optional 'parent', got {type(entry).__name__} {entry!r}"
        ]
    where = entry_name(index, entry.get("id"))
    problems = []
    for key in entry:
        if key not in _ENTRY_KEYS:
            close = difflib.get_close_matches(str(key), _ENTRY_KEYS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            problems.append(
                f"{where}: unknown field {key!r}{hint}; allowed fields are {', '.join(_ENTRY_KEYS)}"
            )
    for key in ("id", "name", "description"):
        if key not in entry or entry[key] is None:
            problems.append(f"{where}: missing field {key!r}")
        elif not isinstance(entry[key], str):
            problems.append(f"{where}: field {key!r} must be a string, not {entry[key]!r}")
    parent = entry.get("parent")
    if parent is not None and not isinstance(parent, str):
        problems.append(f"{where}: field 'parent' must be a category id string, not {parent!r}")
    if problems:
        return None, problems
    return Category(
        id=entry["id"].strip(),
        name=entry["name"].strip(),
        description=entry["description"].strip(),
        parent=parent.strip() if parent is not None else None,
    ), []
