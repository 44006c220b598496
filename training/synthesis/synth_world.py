"""The synthetic corpus's *world*: which merchants trade where, how popular each is, and a pool of
local businesses per country and category, all fixed by the seed.

Chains come from two places: the hand-written vocabulary (`training/synthesis/vocab/`, which also
holds the bank's own descriptor forms: fees, transfers, payroll, debit orders, billers) and the
merchant knowledge base derived from OpenStreetMap's name-suggestion-index (`data/merchant_kb/`,
about 19,000 brands with the countries they trade in). Local businesses are named from each
category's words in the country's languages ("BAECKEREI MUELLER", "BOUCHERIE DUBOIS", "LAKESIDE
FAMILY DENTAL"), taken from the hand-written long-tail words and iD's category terms.
"""

from __future__ import annotations

import datetime as dt
import functools
import random
import string
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from training.synthesis.descriptors import AREA_CODED
from training.synthesis.vocab import COUNTRIES, CategoryProfile, Merchant, Vocabulary

if TYPE_CHECKING:
    from training.synthesis.merchant_kb import Brand, MerchantKB

_ENGLISH_PATTERNS = (
    "{place} {type}",
    "{first}'S {type}",
    "{surname} {type}",
    "{surname} & {surname} {type}",
    "{place} {surname} {type}",
    "{city} {type}",
)
# Outside English, the trade usually comes first: "Bäckerei Müller", "Boucherie Dubois".
_LOCAL_PATTERNS = (
    "{type} {surname}",
    "{type} {surname}",
    "{surname} {type}",
    "{type} {city}",
    "{type} {first}",
    "{type} {first} {surname}",
)
_COMPANY_WORDS = (
    "INDUSTRIES", "LOGISTICS", "SYSTEMS", "FOODS", "TECHNOLOGIES", "CONSTRUCTION", "HOLDINGS",
    "MANUFACTURING", "SOLUTIONS", "HEALTH", "ENGINEERING", "PARTNERS", "RETAIL", "CONSULTING",
)  # fmt: skip
LONGTAIL_POOL = 40  # local businesses per (country, category): they recur, as real ones do
_HAND_WRITTEN_POPULARITY = 3.0  # the curated chains are the big ones: ranked before the KB's
_MAX_KB_ALIASES = 3


@dataclass(frozen=True)
class Source:
    """One thing a row can be drawn from: a real merchant or a generated local business."""

    merchant: str
    aliases: tuple[str, ...]
    profile: CategoryProfile
    channel: str
    amount: tuple[float, float]
    mcc: str | None
    difficulty: str


Table = tuple[list[Source], list[float]]


@dataclass
class World:
    """Sources per (country, detailed category), with cumulative popularity weights."""

    vocab: Vocabulary
    categories: list[str]
    category_cum: list[float]
    countries: list[str]
    country_cum: list[float]
    chains: dict[tuple[str, str], Table]
    locals: dict[tuple[str, str], Table]
    dates: list[dt.date]


def cumulative(weights: Iterable[float]) -> list[float]:
    """Running sums of weights, for `bisect`-based weighted draws."""
    return np.cumsum(np.asarray(list(weights), dtype=float)).tolist()


def _zipf(count: int, rng: random.Random, head: int = 0) -> list[float]:
    # Popularity follows a power law: a few chains take most of the rows, as in real feeds. The
    # first `head` sources (the curated chains) take the top ranks, in a random order.
    top = list(range(1, head + 1))
    rest = list(range(head + 1, count + 1))
    rng.shuffle(top)
    rng.shuffle(rest)
    return [1.0 / r**0.75 for r in top + rest]


@functools.lru_cache(maxsize=65_536)
def fold_ascii(text: str) -> str:
    """Accents off, as many card terminals print them ("MÜLLER" -> "MULLER")."""
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def company_name(rng: random.Random, vocab: Vocabulary, country: str) -> str:
    """A made-up company in the country's style: "LAKESIDE LOGISTICS LTD"."""
    place = vocab.countries[country]
    head = rng.choice(vocab.place_words + place.surnames)
    return f"{head} {rng.choice(_COMPANY_WORDS)} {rng.choice(place.company_suffixes)}"


def _local_name(
    rng: random.Random, vocab: Vocabulary, country: str, words: tuple[str, ...], english: bool
) -> str:
    place = vocab.countries[country]
    pattern = rng.choice(_ENGLISH_PATTERNS if english else _LOCAL_PATTERNS)
    town = rng.choice(place.cities)
    if country in AREA_CODED:  # drop the state code: "AUSTIN TX" -> "AUSTIN"
        town = town.rsplit(" ", 1)[0]
    return " ".join(
        pattern.format(
            type=rng.choice(words),
            place=rng.choice(vocab.place_words),
            first=rng.choice(place.first_names),
            surname=rng.choice(place.surnames),
            city=town,
        ).split()
    )


def _patterned_name(
    rng: random.Random, vocab: Vocabulary, country: str, profile: CategoryProfile
) -> str:
    # Categories with their own patterns ("{person} PAYROLL", "USA*{place} {type}").
    place = vocab.countries[country]
    pattern = rng.choice(profile.longtail_patterns)
    town = rng.choice(place.cities)
    if country in AREA_CODED:
        town = town.rsplit(" ", 1)[0]
    return " ".join(
        pattern.format(
            type=rng.choice(profile.longtail) if profile.longtail else "",
            place=rng.choice(vocab.place_words),
            first=rng.choice(place.first_names),
            surname=rng.choice(place.surnames),
            city=town,
            company=company_name(rng, vocab, country) if "{company}" in pattern else "",
            person=f"{rng.choice(place.first_names)} {rng.choice(place.surnames)}",
        ).split()
    )


def _trade_words(kb: MerchantKB | None) -> dict[tuple[str, str], list[str]]:
    # (detailed category, language) -> the names and aliases of its OSM presets ("Butcher",
    # "Metzgerei"); search terms ("beef", "lamb") are not names of a business.
    words: dict[tuple[str, str], list[str]] = {}
    for term in kb.terms if kb is not None else ():
        if term.kind in ("name", "alias"):
            words.setdefault((term.detailed, term.lang), []).append(term.text)
    return words


def _local_words(
    vocab: Vocabulary,
    trade: dict[tuple[str, str], list[str]],
    country: str,
    profile: CategoryProfile,
) -> tuple[tuple[str, ...], bool]:
    """The trade words of a category in the country's languages, and whether they are English."""
    words: list[str] = []
    languages = vocab.countries[country].languages
    for lang in languages:
        words.extend(trade.get((profile.detailed, lang), ()))
    english = "en" in languages
    if english or not words:
        words.extend(profile.longtail)
    seen: dict[str, None] = {}
    for word in words:
        seen.setdefault(word.upper(), None)
    return tuple(seen), english or not languages


def local_sources(
    rng: random.Random,
    vocab: Vocabulary,
    trade: dict[tuple[str, str], list[str]],
    country: str,
    profile: CategoryProfile,
) -> list[Source]:
    """A pool of generated local businesses for one country and category.

    Args:
        trade: the knowledge base's trade words per (detailed category, language).
    """
    words, english = _local_words(vocab, trade, country, profile)
    if not words and not profile.longtail_patterns:
        return []
    names = set()
    for _ in range(LONGTAIL_POOL):
        if profile.longtail_patterns and (english or not words):
            names.add(_patterned_name(rng, vocab, country, profile))
        else:
            names.add(_local_name(rng, vocab, country, words, english))
    return [
        Source(
            merchant=string.capwords(name.lower()),
            aliases=tuple(dict.fromkeys((name, fold_ascii(name)))),
            profile=profile,
            channel=profile.channel,
            amount=profile.amount,
            mcc=profile.mcc[0] if profile.mcc else None,
            difficulty="long_tail",
        )
        for name in sorted(names)
    ]


def _name_key(name: str) -> str:
    return "".join(ch for ch in fold_ascii(name).casefold() if ch.isalnum())


def _hand_written(vocab: Vocabulary, merchants: list[Merchant]) -> list[Source]:
    sources = []
    for m in merchants:
        profile = vocab.profiles[m.detailed]
        sources.append(
            Source(
                merchant=m.name,
                aliases=m.aliases,
                profile=profile,
                channel=m.channel,
                amount=m.amount,
                mcc=m.mcc or (profile.mcc[0] if profile.mcc else None),
                difficulty="ambiguous" if m.ambiguous else "chain",
            )
        )
    return sources


def _brand_source(brand: Brand, profile: CategoryProfile) -> Source:
    printed = [brand.name, *brand.aliases[:_MAX_KB_ALIASES]]
    # Terminals drop apostrophes and accents: "SAINSBURYS", "MCDONALDS", "MULLER".
    printed += [fold_ascii(p).replace("'", "").replace("’", "") for p in printed]
    return Source(
        merchant=brand.name,
        aliases=tuple(dict.fromkeys(printed)),
        profile=profile,
        channel=profile.channel,
        amount=profile.amount,
        mcc=profile.mcc[0] if profile.mcc else None,
        difficulty="chain",
    )


def chain_sources(
    vocab: Vocabulary,
    country: str,
    detailed: str,
    merchants: list[Merchant],
    brands: list[Brand],
) -> tuple[list[Source], int]:
    """The chains of one country and category: hand-written first, then the KB's brands.

    Returns:
        The sources and how many of them (the first ones) are hand-written.
    """
    own = _hand_written(vocab, [m for m in merchants if country in m.regions])
    known = {_name_key(s.merchant) for s in own}
    profile = vocab.profiles[detailed]
    extra = [_brand_source(b, profile) for b in brands if _name_key(b.name) not in known]
    if not own and not extra:
        # Nobody trades here in this category: borrow the other countries' merchants.
        own = _hand_written(vocab, merchants)
    return own + extra, len(own)


def build_world(
    vocab: Vocabulary,
    kb: MerchantKB | None,
    seed: int,
    country_weights: Mapping[str, float],
    dates: list[dt.date],
) -> World:
    """Fix who trades where and how popular each merchant is, from the seed.

    Args:
        vocab: the hand-written vocabulary.
        kb: the merchant knowledge base, or None for the hand-written merchants alone.
        seed: the corpus seed.
        country_weights: share of rows per country (countries without weight are left out).
        dates: the days the transactions span.
    """
    rng = random.Random(seed)
    categories = list(vocab.profiles)
    countries = [c for c in COUNTRIES if country_weights.get(c, 0) > 0]
    by_category: dict[str, list[Merchant]] = {c: [] for c in categories}
    for merchant in vocab.merchants:
        by_category[merchant.detailed].append(merchant)
    chains: dict[tuple[str, str], Table] = {}
    locals_: dict[tuple[str, str], Table] = {}
    trade = _trade_words(kb)
    for country in countries:
        brands = _brands_by_category(kb, country)
        for detailed in categories:
            sources, head = chain_sources(
                vocab, country, detailed, by_category[detailed], brands.get(detailed, [])
            )
            if sources:
                chains[country, detailed] = (sources, cumulative(_zipf(len(sources), rng, head)))
            sources = local_sources(rng, vocab, trade, country, vocab.profiles[detailed])
            if sources:
                locals_[country, detailed] = (sources, cumulative(_zipf(len(sources), rng)))
    return World(
        vocab=vocab,
        categories=categories,
        category_cum=cumulative(vocab.profiles[c].weight for c in categories),
        countries=countries,
        country_cum=cumulative(country_weights[c] for c in countries),
        chains=chains,
        locals=locals_,
        dates=dates,
    )


def _brands_by_category(kb: MerchantKB | None, country: str) -> dict[str, list[Brand]]:
    out: dict[str, list[Brand]] = {}
    if kb is None:
        return out
    for brand in kb.brands_in(country):
        if brand.detailed is not None:
            out.setdefault(brand.detailed, []).append(brand)
    return out


def load_kb(root: Path | None) -> MerchantKB:
    """The merchant knowledge base the world draws from (the packaged one by default)."""
    from training.synthesis.merchant_kb import default_merchant_kb, load_merchant_kb

    return default_merchant_kb() if root is None else load_merchant_kb(root)
