"""Knowledge-base hints for LLM teachers: what the merchant knowledge base knows of a descriptor.

A small offline LLM does not know that "HOFER DANKT 0527" is an Austrian discount supermarket;
OpenStreetMap's name-suggestion-index does (`training.synthesis.merchant_kb`). When a descriptor
names a known brand, the teacher's prompt gets one line such as::

    Known merchant: Tesco, a supermarket brand (shop/supermarket) in GB, IE; in this taxonomy
    usually FOOD_AND_DRINK_GROCERIES.

The hint depends on the descriptor and the row's country only, so it is the same every time the
same row is asked (the cache stays valid); its knowledge-base version goes into the prompt version.

A small model often ignores the hint, so a teacher may instead answer such rows from the base
itself (`KBHints.answer`, the ``kb_answers`` option of the ``openai:``/``llama:`` teachers) and ask
the model only about the rest: on the real dev set the brand's mapped category was the humans'
primary on 111 of the 129 rows that named a mapped brand (86%), on synthetic rows 97%.
"""

from __future__ import annotations

import hashlib
import threading
from typing import TYPE_CHECKING

from training.labeling.teachers.base import LabelRequest

if TYPE_CHECKING:
    from training.synthesis.merchant_kb import Brand, MerchantKB

_MAX_COUNTRIES = 6
KB_ANSWER_CONFIDENCE = 0.85
"""The probability a knowledge-base answer gives its category: about the share of real dev rows
naming a mapped brand whose category the humans agreed with (86%)."""


def describe(brand: Brand, country: str | None = None) -> str:
    """One line a prompt can carry about a brand (seen from a row's country, when known)."""
    from training.synthesis.merchant_kb import iso_country

    kind = brand.osm.split("/")[-1].replace("_", " ")
    if brand.countries is None:
        where = "worldwide"
    elif len(brand.countries) <= _MAX_COUNTRIES:
        where = ", ".join(sorted(brand.countries))
    else:
        where = f"{len(brand.countries)} countries"
        if country and iso_country(country) in brand.countries:
            where += f" including {iso_country(country)}"
    line = f"{brand.name}, a {kind} brand ({brand.osm}) in {where}"
    if brand.detailed:
        line += f"; in this taxonomy usually {brand.detailed}"
    return line + "."


class KBHints:
    """Turns a label request into a knowledge-base hint, and counts the rows it hinted.

    Args:
        kb: the knowledge base (default: the repository's `data/merchant_kb`).
    """

    def __init__(self, kb: MerchantKB | None = None) -> None:
        if kb is None:
            from training.synthesis.merchant_kb import default_merchant_kb

            kb = default_merchant_kb()
        self.kb = kb
        self.asked = 0
        self.hinted = 0
        # the primary and detailed passes ask twice: key -> (hint line, mapped detailed category)
        self._seen: dict[str, tuple[str | None, str | None]] = {}
        self._lock = threading.Lock()

    @property
    def version(self) -> str:
        """The prompt-version part: ``kb-<8 hex of the knowledge base's version>``."""
        return "kb-" + hashlib.sha256(self.kb.version.encode("utf-8")).hexdigest()[:8]

    def __call__(self, request: LabelRequest) -> str | None:
        """The hint for one request's row, or None when it names no known brand."""
        return self._lookup(request)[0]

    def answer(self, request: LabelRequest) -> str | None:
        """The detailed category the base maps the row's brand to, or None (no brand, or a brand
        whose OSM kind maps to no single category)."""
        return self._lookup(request)[1]

    def _lookup(self, request: LabelRequest) -> tuple[str | None, str | None]:
        with self._lock:
            if request.key in self._seen:
                return self._seen[request.key]
        row = request.row or {}
        description = row.get("description")
        if not isinstance(description, str) or not description.strip():
            description = request.text.split(" | ")[0]
        country = row.get("country")
        country = country if isinstance(country, str) else None
        brand = self.kb.match(description, country)
        found = (None, None) if brand is None else (describe(brand, country), brand.detailed)
        with self._lock:
            if request.key not in self._seen:
                self._seen[request.key] = found
                self.asked += 1
                self.hinted += found[0] is not None
        return found

    def share(self) -> float | None:
        """Share of the rows asked that got a hint (None before any)."""
        return self.hinted / self.asked if self.asked else None
