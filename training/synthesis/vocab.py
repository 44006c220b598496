"""The synthetic corpus's world: real merchants, category profiles, places and names.

The vocabulary ships inside the package (`training/synthesis/vocab/`) so that `categorizer synth`
works from an installed wheel. Every file is checked against the taxonomy at load, and errors name
the file, the line and the field.
"""

from __future__ import annotations

import csv
import functools
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from categorizer.errors import InputError
from categorizer.taxonomy import Taxonomy, default_taxonomy

# The countries the generator prints feeds for (the UK is written "UK", as banks and the real
# reference data write it); 5 continents.
COUNTRIES: tuple[str, ...] = (
    "US", "CA", "BR", "UK", "IE", "DE", "AT", "CH", "NL", "BE", "FR", "ES",
    "ZA", "NG", "KE", "IN", "SG", "AU", "NZ",
)  # fmt: skip
# Market groups a merchant row may name instead of listing countries.
MARKETS: dict[str, tuple[str, ...]] = {
    "ALL": COUNTRIES,
    "EU": ("IE", "DE", "AT", "CH", "NL", "BE", "FR", "ES"),
}
# How a transaction travels, which decides how banks print it: card (in store), online (card not
# present), ach (direct debit, bill pay), transfer (P2P, between accounts), atm, fee (the bank's
# own entry: fees, interest, branch deposits), deposit (payroll and other incoming credits), check.
CHANNELS: frozenset[str] = frozenset(
    {"card", "online", "ach", "transfer", "atm", "fee", "deposit", "check"}
)
PLACEHOLDERS: frozenset[str] = frozenset({"person", "ref", "n", "company"})
_PLACEHOLDER = re.compile(r"\{(\w*)\}")
_MCC = re.compile(r"^\d{4}$")
# libyaml's loader when the wheel has it: the pure-Python one is ~10x slower.
_YamlLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class VocabularyError(InputError):
    """A vocabulary file is malformed; the message names the file, line and field."""


@dataclass(frozen=True)
class CategoryProfile:
    """How transactions of one detailed category look: direction, amounts, channel, frequency."""

    detailed: str
    primary: str
    direction: str
    amount: tuple[float, float]
    channel: str
    weight: float
    mcc: tuple[str, ...] = ()
    longtail: tuple[str, ...] = ()
    longtail_patterns: tuple[str, ...] = ()
    refund_rate: float = 0.0


@dataclass(frozen=True)
class Merchant:
    """A real-world merchant as one category sees it, with the names banks print for it."""

    name: str
    detailed: str
    primary: str
    regions: frozenset[str]
    aliases: tuple[str, ...]
    mcc: str | None
    channel: str
    amount: tuple[float, float]
    direction: str
    ambiguous: bool


@dataclass(frozen=True)
class Country:
    """A country's currency, price level, languages, places and names."""

    code: str
    currency: str
    price_factor: float
    languages: tuple[str, ...]
    cities: tuple[str, ...]
    first_names: tuple[str, ...]
    surnames: tuple[str, ...]
    company_suffixes: tuple[str, ...]


@dataclass(frozen=True)
class Vocabulary:
    """Everything the generator draws from."""

    taxonomy: Taxonomy
    profiles: dict[str, CategoryProfile]
    merchants: tuple[Merchant, ...]
    countries: dict[str, Country]
    place_words: tuple[str, ...]
    root: Path = field(compare=False)

    @property
    def merchant_names(self) -> frozenset[str]:
        """The distinct real-world merchant names."""
        return frozenset(m.name for m in self.merchants)


def _fail(path: Path, where: str, message: str) -> VocabularyError:
    return VocabularyError(f"{path.name}, {where}: {message}")


def _pair(value: Any, path: Path, where: str) -> tuple[float, float]:
    try:
        low, high = (float(v) for v in value)
    except (TypeError, ValueError):
        raise _fail(path, where, f"expected [min, max] numbers, got {value!r}") from None
    if not 0 < low < high:
        raise _fail(path, where, f"expected 0 < min < max, got [{low}, {high}]")
    return low, high


def _load_profiles(path: Path, taxonomy: Taxonomy) -> dict[str, CategoryProfile]:
    primary = path.stem
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=_YamlLoader) or {}
    expected = {c.id for c in taxonomy.children(primary)}
    missing = expected - set(data)
    if missing:
        raise _fail(path, "categories", f"missing profiles for {sorted(missing)}")
    profiles = {}
    for detailed, spec in data.items():
        where = f"category {detailed}"
        if detailed not in expected:
            raise _fail(path, where, f"not a detailed category of {primary}")
        if spec.get("direction") not in ("debit", "credit"):
            raise _fail(path, where, "field 'direction' must be 'debit' or 'credit'")
        if spec.get("channel") not in CHANNELS:
            raise _fail(path, where, f"field 'channel' must be one of {sorted(CHANNELS)}")
        weight = float(spec.get("weight", 0))
        if weight <= 0:
            raise _fail(path, where, "field 'weight' must be a positive number")
        profiles[detailed] = CategoryProfile(
            detailed=detailed,
            primary=primary,
            direction=spec["direction"],
            amount=_pair(spec.get("amount"), path, f"{where}, field 'amount'"),
            channel=spec["channel"],
            weight=weight,
            mcc=tuple(str(m).zfill(4) for m in spec.get("mcc") or ()),
            longtail=tuple(spec.get("longtail") or ()),
            longtail_patterns=tuple(spec.get("longtail_patterns") or ()),
            refund_rate=float(spec.get("refund_rate", 0.0)),
        )
    return profiles


def _parse_merchant(
    row: dict[str, str], where: str, path: Path, profiles: dict[str, CategoryProfile]
) -> Merchant:
    detailed = (row.get("detailed_category") or "").strip()
    profile = profiles.get(detailed)
    if profile is None or profile.primary != path.stem:
        raise _fail(path, where, f"column 'detailed_category': {detailed!r} is not in {path.stem}")
    markets = [m.strip() for m in (row.get("regions") or "").split("|") if m.strip()]
    unknown = [m for m in markets if m not in COUNTRIES and m not in MARKETS]
    if not markets or unknown:
        raise _fail(
            path,
            where,
            f"column 'regions': expected a |-list of {sorted(MARKETS)} or countries "
            f"{COUNTRIES}, got {unknown or 'nothing'}",
        )
    region_set = frozenset(c for m in markets for c in MARKETS.get(m, (m,)))
    aliases = tuple(a.strip() for a in (row.get("aliases") or "").split("|") if a.strip())
    if not aliases:
        raise _fail(path, where, "column 'aliases': expected at least one printed name")
    for alias in aliases:
        unknown = set(_PLACEHOLDER.findall(alias)) - PLACEHOLDERS
        if unknown:
            raise _fail(path, where, f"column 'aliases': unknown placeholder(s) {sorted(unknown)}")
    mcc = (row.get("mcc") or "").strip() or None
    if mcc is not None and not _MCC.match(mcc):
        raise _fail(path, where, f"column 'mcc': expected 4 digits, got {mcc!r}")
    channel = (row.get("channel") or "").strip() or profile.channel
    if channel not in CHANNELS:
        raise _fail(path, where, f"column 'channel': expected one of {sorted(CHANNELS)}")
    amount = profile.amount
    if (row.get("amount_min") or "").strip():
        amount = _pair((row["amount_min"], row.get("amount_max")), path, f"{where}, amounts")
    return Merchant(
        name=(row.get("merchant") or "").strip(),
        detailed=detailed,
        primary=profile.primary,
        regions=region_set,
        aliases=aliases,
        mcc=mcc,
        channel=channel,
        amount=amount,
        direction=profile.direction,
        ambiguous=(row.get("ambiguous") or "").strip() in ("1", "true", "yes"),
    )


def _load_merchants(path: Path, profiles: dict[str, CategoryProfile]) -> list[Merchant]:
    merchants = []
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        for line, row in enumerate(reader, start=2):
            merchant = _parse_merchant(row, f"line {line}", path, profiles)
            if not merchant.name:
                raise _fail(path, f"line {line}", "column 'merchant': expected a name")
            merchants.append(merchant)
    return merchants


def _load_countries(path: Path) -> tuple[dict[str, Country], tuple[str, ...]]:
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=_YamlLoader)
    countries = {}
    for code in COUNTRIES:
        spec = data.get(code)
        if not spec:
            raise _fail(path, f"country {code}", "missing")
        countries[code] = Country(
            code=code,
            currency=spec["currency"],
            price_factor=float(spec["price_factor"]),
            languages=tuple(spec.get("languages") or ("en",)),
            cities=tuple(spec["cities"]),
            first_names=tuple(spec["first_names"]),
            surnames=tuple(spec["surnames"]),
            company_suffixes=tuple(spec["company_suffixes"]),
        )
    return countries, tuple(data["place_words"])


def load_vocabulary(root: str | Path | None = None, taxonomy: Taxonomy | None = None) -> Vocabulary:
    """Load and check the generator's vocabulary.

    Args:
        root: folder holding `places.yaml`, `categories/*.yaml` and `merchants/*.csv`; defaults to
            the packaged vocabulary.
        taxonomy: the taxonomy the categories must belong to; defaults to Plaid PFC v1.

    Returns:
        The vocabulary.

    Raises:
        VocabularyError: a file is malformed or a detailed category has no profile.
    """
    taxonomy = taxonomy or default_taxonomy()
    base = (
        Path(root)
        if root is not None
        else Path(str(resources.files("training.synthesis") / "vocab"))
    )
    profiles: dict[str, CategoryProfile] = {}
    for primary in taxonomy.primaries:
        path = base / "categories" / f"{primary.id}.yaml"
        if not path.exists():
            raise VocabularyError(f"{path}: missing category profiles for {primary.id}")
        profiles.update(_load_profiles(path, taxonomy))
    merchants: list[Merchant] = []
    for path in sorted((base / "merchants").glob("*.csv")):
        merchants.extend(_load_merchants(path, profiles))
    countries, place_words = _load_countries(base / "places.yaml")
    return Vocabulary(taxonomy, profiles, tuple(merchants), countries, place_words, base)


@functools.lru_cache(maxsize=1)
def default_vocabulary() -> Vocabulary:
    """The packaged vocabulary over the default taxonomy (loaded once per process)."""
    return load_vocabulary()
