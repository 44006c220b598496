"""A synthetic corpus of bank transactions that reads like real bank feeds, with ground truth.

The corpus is the embedded default data of the demo, the tests and the benchmarks. It is built
in two steps: a *world* (which merchants exist where, how popular each is, a pool of local
businesses per region and category) fixed by the seed, then *rows* drawn from that world in
fixed-size chunks, each chunk from its own seeded stream. The output is therefore the same for a
seed whatever the number of worker processes.
"""

from __future__ import annotations

import bisect
import datetime as dt
import os
import random
import string
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from training.descriptors import Printed, digits, ref, render
from training.vocab import (
    REGIONS,
    CategoryProfile,
    Merchant,
    Vocabulary,
    default_vocabulary,
    load_vocabulary,
)

COLUMNS: tuple[str, ...] = (
    "id",
    "date",
    "description",
    "amount",
    "currency",
    "mcc",
    "merchant",
    "category",
    "detailed_category",
    "difficulty",
)
DEFAULT_REGION_WEIGHTS: dict[str, float] = {
    "US": 0.40,
    "UK": 0.18,
    "EU": 0.15,
    "AU": 0.10,
    "IN": 0.09,
    "ZA": 0.08,
}
_DEFAULT_PATTERNS = (
    "{place} {type}",
    "{first}'S {type}",
    "{surname} {type}",
    "{surname} & {surname} {type}",
    "{place} {surname} {type}",
    "{city} {type}",
)
_COMPANY_WORDS = (
    "INDUSTRIES", "LOGISTICS", "SYSTEMS", "FOODS", "TECHNOLOGIES", "CONSTRUCTION", "HOLDINGS",
    "MANUFACTURING", "SOLUTIONS", "HEALTH", "ENGINEERING", "PARTNERS", "RETAIL", "CONSULTING",
)  # fmt: skip
_LONGTAIL_POOL = 40  # local businesses per (region, category): they recur, as real ones do


@dataclass(frozen=True)
class SynthConfig:
    """What to generate.

    Args:
        n: number of rows.
        seed: the seed; the same seed gives the same corpus.
        start_date: first date of the year the transactions span.
        days: how many days they span.
        longtail_share: share of rows from generated local businesses (where a category has them).
        region_weights: share of rows per region (US, UK, EU, ZA, IN, AU).
        chunk_size: rows per independently seeded chunk (part of the output's identity).
        workers: processes to use; None picks up to 2 when the corpus is large.
        vocab_root: a vocabulary folder other than the packaged one.
    """

    n: int
    seed: int = 0
    start_date: dt.date = dt.date(2025, 1, 1)
    days: int = 365
    longtail_share: float = 0.25
    region_weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_REGION_WEIGHTS))
    chunk_size: int = 25_000
    workers: int | None = None
    vocab_root: Path | None = None

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ValueError(f"n must be at least 1, got {self.n}")
        if self.days < 1:
            raise ValueError(f"days must be at least 1, got {self.days}")
        if not 0.0 <= self.longtail_share <= 1.0:
            raise ValueError(f"longtail_share must be within [0, 1], got {self.longtail_share}")
        unknown = set(self.region_weights) - set(REGIONS)
        if unknown or not any(w > 0 for w in self.region_weights.values()):
            raise ValueError(
                f"region_weights must give a positive weight to some of {REGIONS}; "
                f"got {self.region_weights}"
            )
        if self.chunk_size < 1:
            raise ValueError(f"chunk_size must be at least 1, got {self.chunk_size}")


@dataclass(frozen=True)
class _Source:
    """One thing a row can be drawn from: a real merchant or a generated local business."""

    merchant: str
    aliases: tuple[str, ...]
    profile: CategoryProfile
    channel: str
    amount: tuple[float, float]
    mcc: str | None
    difficulty: str


@dataclass
class _World:
    """Sources per (region, detailed category), with cumulative popularity weights."""

    vocab: Vocabulary
    categories: list[str]
    category_cum: list[float]
    regions: list[str]
    region_cum: list[float]
    chains: dict[tuple[str, str], tuple[list[_Source], list[float]]]
    locals: dict[tuple[str, str], tuple[list[_Source], list[float]]]
    dates: list[dt.date]


def _cumulative(weights: list[float]) -> list[float]:
    return np.cumsum(np.asarray(weights, dtype=float)).tolist()


def _zipf(count: int, rng: random.Random) -> list[float]:
    # Popularity follows a power law: a few chains take most of the rows, as in real feeds.
    ranks = list(range(1, count + 1))
    rng.shuffle(ranks)
    return [1.0 / r**0.9 for r in ranks]


def _local_name(
    rng: random.Random, vocab: Vocabulary, region: str, profile: CategoryProfile
) -> str:
    reg = vocab.regions[region]
    pattern = rng.choice(profile.longtail_patterns or _DEFAULT_PATTERNS)
    town = rng.choice(reg.cities)
    if region in ("US", "AU"):  # drop the state code: "AUSTIN TX" -> "AUSTIN"
        town = town.rsplit(" ", 1)[0]
    company = _company(rng, vocab, region) if "{company}" in pattern else ""
    return " ".join(
        pattern.format(
            type=rng.choice(profile.longtail) if profile.longtail else "",
            place=rng.choice(vocab.place_words),
            first=rng.choice(reg.first_names),
            surname=rng.choice(reg.surnames),
            city=town,
            company=company,
            person=f"{rng.choice(reg.first_names)} {rng.choice(reg.surnames)}",
        ).split()
    )


def _company(rng: random.Random, vocab: Vocabulary, region: str) -> str:
    reg = vocab.regions[region]
    head = rng.choice(vocab.place_words + reg.surnames)
    return f"{head} {rng.choice(_COMPANY_WORDS)} {rng.choice(reg.company_suffixes)}"


def _chain_sources(
    vocab: Vocabulary, region: str, detailed: str, merchants: list[Merchant]
) -> list[_Source]:
    profile = vocab.profiles[detailed]
    here = [m for m in merchants if region in m.regions] or merchants
    return [
        _Source(
            merchant=m.name,
            aliases=m.aliases,
            profile=profile,
            channel=m.channel,
            amount=m.amount,
            mcc=m.mcc or (profile.mcc[0] if profile.mcc else None),
            difficulty="ambiguous" if m.ambiguous else "chain",
        )
        for m in here
    ]


def _local_sources(
    rng: random.Random, vocab: Vocabulary, region: str, profile: CategoryProfile
) -> list[_Source]:
    if not profile.longtail and not profile.longtail_patterns:
        return []
    names = {_local_name(rng, vocab, region, profile) for _ in range(_LONGTAIL_POOL)}
    return [
        _Source(
            merchant=string.capwords(name.lower()),
            aliases=(name,),
            profile=profile,
            channel=profile.channel,
            amount=profile.amount,
            mcc=profile.mcc[0] if profile.mcc else None,
            difficulty="long_tail",
        )
        for name in sorted(names)
    ]


def _build_world(config: SynthConfig) -> _World:
    vocab = (
        default_vocabulary() if config.vocab_root is None else load_vocabulary(config.vocab_root)
    )
    rng = random.Random(config.seed)
    categories = list(vocab.profiles)
    regions = [r for r in REGIONS if config.region_weights.get(r, 0) > 0]
    by_category: dict[str, list[Merchant]] = {c: [] for c in categories}
    for merchant in vocab.merchants:
        by_category[merchant.detailed].append(merchant)
    chains, locals_ = {}, {}
    for region in regions:
        for detailed in categories:
            sources = _chain_sources(vocab, region, detailed, by_category[detailed])
            if sources:
                chains[region, detailed] = (sources, _cumulative(_zipf(len(sources), rng)))
            sources = _local_sources(rng, vocab, region, vocab.profiles[detailed])
            if sources:
                locals_[region, detailed] = (sources, _cumulative(_zipf(len(sources), rng)))
    return _World(
        vocab=vocab,
        categories=categories,
        category_cum=_cumulative([vocab.profiles[c].weight for c in categories]),
        regions=regions,
        region_cum=_cumulative([config.region_weights[r] for r in regions]),
        chains=chains,
        locals=locals_,
        dates=[config.start_date + dt.timedelta(days=d) for d in range(config.days)],
    )


def _weighted(rng: random.Random, items: list, cum: list[float]) -> Any:
    # What rng.choices(items, cum_weights=cum)[0] returns, without its per-call overhead.
    return items[bisect.bisect(cum, rng.random() * cum[-1], 0, len(cum) - 1)]


def _pick(rng: random.Random, table: tuple[list[_Source], list[float]]) -> _Source:
    return _weighted(rng, *table)


def _fill_alias(rng: random.Random, world: _World, region: str, alias: str) -> str:
    if "{" not in alias:
        return alias
    reg = world.vocab.regions[region]
    return alias.format(
        person=f"{rng.choice(reg.first_names)} {rng.choice(reg.surnames)}",
        ref=ref(rng),
        n=digits(rng, 1, 4),
        company=_company(rng, world.vocab, region),
    )


def _amount(rng: random.Random, low: float, high: float, region: str, world: _World) -> float:
    factor = world.vocab.regions[region].price_factor
    value = low * (high / low) ** rng.random() * factor
    if region == "IN" or (value > 500 and rng.random() < 0.5):
        return float(round(value))
    return round(max(value, 0.01), 2)


def _row(rng: random.Random, world: _World, config: SynthConfig) -> dict[str, Any]:
    region = _weighted(rng, world.regions, world.region_cum)
    detailed = _weighted(rng, world.categories, world.category_cum)
    chain = world.chains.get((region, detailed))
    local = world.locals.get((region, detailed))
    use_local = local is not None and (chain is None or rng.random() < config.longtail_share)
    source = _pick(rng, local if use_local else chain)  # type: ignore[arg-type]
    profile = source.profile
    day = world.dates[rng.randrange(len(world.dates))]
    refund = profile.direction == "debit" and rng.random() < profile.refund_rate
    places = world.vocab.regions[region]
    printed = Printed(
        region=region,
        channel=source.channel,
        name=_fill_alias(rng, world, region, rng.choice(source.aliases)),
        city=rng.choice(places.cities),
        year=day.year,
        month=day.month,
        day=day.day,
        refund=refund,
        chain=not use_local,
        first_names=places.first_names,
        surnames=places.surnames,
    )
    magnitude = _amount(rng, *source.amount, region, world)
    credit = (profile.direction == "credit") != refund
    card = source.channel in ("card", "online")
    return {
        "date": day,
        "description": render(rng, printed),
        "amount": magnitude if credit else -magnitude,
        "currency": world.vocab.regions[region].currency,
        "mcc": source.mcc if card and source.mcc and rng.random() < 0.6 else None,
        "merchant": source.merchant,
        "category": profile.primary,
        "detailed_category": profile.detailed,
        "difficulty": source.difficulty,
    }


def _chunk_seed(seed: int, chunk: int) -> int:
    return int(np.random.SeedSequence([seed, chunk]).generate_state(1, dtype=np.uint64)[0])


def _generate_chunk(
    config: SynthConfig, chunk: int, world: _World | None = None
) -> dict[str, list]:
    world = world or _worker_world(config)
    rng = random.Random(_chunk_seed(config.seed, chunk))
    start = chunk * config.chunk_size
    stop = min(config.n, start + config.chunk_size)
    rows = [_row(rng, world, config) for _ in range(start, stop)]
    # Columns, not row dicts: far cheaper to send back from a worker process.
    columns = {name: [row[name] for row in rows] for name in COLUMNS if name != "id"}
    columns["id"] = [f"syn{config.seed}-{i:08d}" for i in range(start, stop)]
    return columns


_WORLDS: dict[int, _World] = {}


def _worker_world(config: SynthConfig) -> _World:
    # Each worker process builds the world once (deterministic from the seed) and reuses it.
    key = hash((config.seed, config.vocab_root, tuple(sorted(config.region_weights.items()))))
    if key not in _WORLDS:
        _WORLDS[key] = _build_world(config)
    return _WORLDS[key]


def iter_chunks(config: SynthConfig) -> Iterator[dict[str, list]]:
    """Generate the corpus chunk by chunk, in order (in parallel when it pays).

    Args:
        config: what to generate.

    Yields:
        One dict of columns (the names in `COLUMNS`, each a list) per chunk.
    """
    chunks = range((config.n + config.chunk_size - 1) // config.chunk_size)
    workers = config.workers or min(2, os.cpu_count() or 1)
    if workers <= 1 or len(chunks) < 4:
        world = _worker_world(config)
        for chunk in chunks:
            yield _generate_chunk(config, chunk, world)
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        yield from pool.map(_generate_chunk, [config] * len(chunks), chunks)


def generate(config: SynthConfig, progress: Callable[[int], None] | None = None) -> Any:
    """Generate the corpus as a pandas DataFrame with the columns in `COLUMNS`.

    Args:
        config: what to generate.
        progress: called with the number of rows after each chunk.

    Returns:
        The DataFrame, `mcc` null where no card network would send one.
    """
    import pandas as pd

    columns: dict[str, list] = {name: [] for name in COLUMNS}
    for chunk in iter_chunks(config):
        for name in COLUMNS:
            columns[name].extend(chunk[name])
        if progress is not None:
            progress(len(chunk["id"]))
    frame = pd.DataFrame(columns)
    frame["mcc"] = frame["mcc"].astype("string")
    return frame
