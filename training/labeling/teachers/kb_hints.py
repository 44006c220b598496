"""Knowledge-base hints for LLM teachers: what the merchant knowledge base knows of a descriptor.

A small offline LLM does not know that "HOFER DANKT 0527" is an Austrian discount supermarket;
OpenStreetMap's name-suggestion-index does (`training.synthesis.merchant_kb`). When a descriptor
names a known brand, the teacher's prompt gets one line such as::

    Known merchant: Tesco, a supermarket brand (shop/supermarket) in GB, IE; in this taxonomy
    usually FOOD_AND_DRINK_GROCERIES.

The hint depends on the descriptor and the row's country only, so it is the same every time the
same row is asked (the cache stays valid); its knowledge-base version goes into the prompt version.
"""

from __future__ import annotations

import hashlib
import threading
from typing import TYPE_CHECKING

from training.labeling.teachers.base import LabelRequest

if TYPE_CHECKING:
    from training.synthesis.merchant_kb import Brand, MerchantKB

_MAX_COUNTRIES = 6


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
        self._seen: dict[str, str | None] = {}  # the primary and detailed passes ask twice
        self._lock = threading.Lock()

    @property
    def version(self) -> str:
        """The prompt-version part: ``kb-<8 hex of the knowledge base's version>``."""
        return "kb-" + hashlib.sha256(self.kb.version.encode("utf-8")).hexdigest()[:8]

    def __call__(self, request: LabelRequest) -> str | None:
        """The hint for one request's row, or None when it names no known brand."""
        with self._lock:
            if request.key in self._seen:
                return self._seen[request.key]
        row = request.row or {}
        description = row.get("description")
        if not isinstance(description, str) or not description.strip():
            description = request.text.split(" | ")[0]
        country = row.get("country")
        brand = self.kb.match(description, country if isinstance(country, str) else None)
        hint = (
            None
            if brand is None
            else describe(brand, country if isinstance(country, str) else None)
        )
        with self._lock:
            if request.key not in self._seen:
                self._seen[request.key] = hint
                self.asked += 1
                self.hinted += hint is not None
        return hint

    def share(self) -> float | None:
        """Share of the rows asked that got a hint (None before any)."""
        return self.hinted / self.asked if self.asked else None
