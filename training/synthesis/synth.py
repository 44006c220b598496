"""A synthetic corpus of bank transactions that reads like real bank feeds, with ground truth.

The corpus is the embedded default data of the demo, the tests and the benchmarks. It is built
in two steps: a *world* (`training.synthesis.synth_world`: which merchants exist in which of 19
countries, how popular each is, a pool of local businesses per country and category) fixed by the
seed, then *rows* drawn from that world in
fixed-size chunks, each chunk from its own seeded stream. The output is therefore the same for a
seed whatever the number of worker processes.
"""

from __future__ import annotations

import bisect
import datetime as dt
import os
import random
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from training.synthesis.descriptors import Printed, digits, ref, render
from training.synthesis.synth_world import Source, Table, World, build_world, company_name, load_kb
from training.synthesis.vocab import COUNTRIES, default_vocabulary, load_vocabulary

COLUMNS: tuple[str, ...] = (
    "id",
    "date",
    "description",
    "amount",
    "currency",
    "country",
    "mcc",
    "merchant",
    "category",
    "detailed_category",
    "difficulty",
)
# Share of rows per country: many countries' feeds, the big markets first.
DEFAULT_COUNTRY_WEIGHTS: dict[str, float] = {
    "US": 0.22, "UK": 0.12, "CA": 0.05, "AU": 0.05, "NZ": 0.03, "IE": 0.04, "DE": 0.06,
    "AT": 0.03, "CH": 0.02, "NL": 0.04, "BE": 0.03, "FR": 0.05, "ES": 0.04, "ZA": 0.04,
    "NG": 0.03, "KE": 0.03, "IN": 0.05, "SG": 0.03, "BR": 0.04,
}  # fmt: skip


@dataclass(frozen=True)
class SynthConfig:
    """What to generate.

    Args:
        n: number of rows.
        seed: the seed; the same seed gives the same corpus.
        start_date: first date of the year the transactions span.
        days: how many days they span.
        longtail_share: share of rows from generated local businesses (where a category has them).
        country_weights: share of rows per country (codes in `training.synthesis.vocab.COUNTRIES`).
        chunk_size: rows per independently seeded chunk (part of the output's identity).
        workers: processes to use; None picks up to 2 when the corpus is large.
        vocab_root: a vocabulary folder other than the packaged one.
        knowledge: draw chains from the merchant knowledge base too (not only the
            hand-written vocabulary).
        kb_root: a knowledge-base folder other than the repository's `data/merchant_kb`.
    """

    n: int
    seed: int = 0
    start_date: dt.date = dt.date(2025, 1, 1)
    days: int = 365
    longtail_share: float = 0.25
    country_weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_COUNTRY_WEIGHTS))
    chunk_size: int = 25_000
    workers: int | None = None
    vocab_root: Path | None = None
    knowledge: bool = True
    kb_root: Path | None = None

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ValueError(f"n must be at least 1, got {self.n}")
        if self.days < 1:
            raise ValueError(f"days must be at least 1, got {self.days}")
        if not 0.0 <= self.longtail_share <= 1.0:
            raise ValueError(f"longtail_share must be within [0, 1], got {self.longtail_share}")
        unknown = set(self.country_weights) - set(COUNTRIES)
        if unknown or not any(w > 0 for w in self.country_weights.values()):
            raise ValueError(
                f"country_weights must give a positive weight to some of {COUNTRIES}; "
                f"got {self.country_weights}"
            )
        if self.chunk_size < 1:
            raise ValueError(f"chunk_size must be at least 1, got {self.chunk_size}")


def _build_world(config: SynthConfig) -> World:
    vocab = (
        default_vocabulary() if config.vocab_root is None else load_vocabulary(config.vocab_root)
    )
    kb = load_kb(config.kb_root) if config.knowledge else None
    dates = [config.start_date + dt.timedelta(days=d) for d in range(config.days)]
    return build_world(vocab, kb, config.seed, config.country_weights, dates)


def _weighted(rng: random.Random, items: list, cum: list[float]) -> Any:
    # What rng.choices(items, cum_weights=cum)[0] returns, without its per-call overhead.
    return items[bisect.bisect(cum, rng.random() * cum[-1], 0, len(cum) - 1)]


def _pick(rng: random.Random, table: Table) -> Source:
    return _weighted(rng, *table)


def _fill_alias(rng: random.Random, world: World, country: str, alias: str) -> str:
    if "{" not in alias:
        return alias
    reg = world.vocab.countries[country]
    return alias.format(
        person=f"{rng.choice(reg.first_names)} {rng.choice(reg.surnames)}",
        ref=ref(rng),
        n=digits(rng, 1, 4),
        company=company_name(rng, world.vocab, country),
    )


def _amount(rng: random.Random, low: float, high: float, country: str, world: World) -> float:
    factor = world.vocab.countries[country].price_factor
    value = low * (high / low) ** rng.random() * factor
    if factor >= 40 or (value > 500 and rng.random() < 0.5):
        return float(round(value))
    return round(max(value, 0.01), 2)


def _row(rng: random.Random, world: World, config: SynthConfig) -> dict[str, Any]:
    country = _weighted(rng, world.countries, world.country_cum)
    detailed = _weighted(rng, world.categories, world.category_cum)
    chain = world.chains.get((country, detailed))
    local = world.locals.get((country, detailed))
    use_local = local is not None and (chain is None or rng.random() < config.longtail_share)
    source = _pick(rng, local if use_local else chain)  # type: ignore[arg-type]
    profile = source.profile
    day = world.dates[rng.randrange(len(world.dates))]
    refund = profile.direction == "debit" and rng.random() < profile.refund_rate
    magnitude = _amount(rng, *source.amount, country, world)
    places = world.vocab.countries[country]
    printed = Printed(
        country=country,
        channel=source.channel,
        name=_fill_alias(rng, world, country, rng.choice(source.aliases)),
        city=rng.choice(places.cities),
        year=day.year,
        month=day.month,
        day=day.day,
        refund=refund,
        chain=not use_local,
        first_names=places.first_names,
        surnames=places.surnames,
        amount=magnitude,
        legal_forms=places.company_suffixes,
    )
    credit = (profile.direction == "credit") != refund
    card = source.channel in ("card", "online")
    return {
        "date": day,
        "description": render(rng, printed),
        "amount": magnitude if credit else -magnitude,
        "currency": places.currency,
        "country": country,
        "mcc": source.mcc if card and source.mcc and rng.random() < 0.6 else None,
        "merchant": source.merchant,
        "category": profile.primary,
        "detailed_category": profile.detailed,
        "difficulty": source.difficulty,
    }


def _chunk_seed(seed: int, chunk: int) -> int:
    return int(np.random.SeedSequence([seed, chunk]).generate_state(1, dtype=np.uint64)[0])


def _generate_chunk(config: SynthConfig, chunk: int, world: World | None = None) -> dict[str, list]:
    world = world or _worker_world(config)
    rng = random.Random(_chunk_seed(config.seed, chunk))
    start = chunk * config.chunk_size
    stop = min(config.n, start + config.chunk_size)
    rows = [_row(rng, world, config) for _ in range(start, stop)]
    # Columns, not row dicts: far cheaper to send back from a worker process.
    columns = {name: [row[name] for row in rows] for name in COLUMNS if name != "id"}
    columns["id"] = [f"syn{config.seed}-{i:08d}" for i in range(start, stop)]
    return columns


_WORLDS: dict[int, World] = {}


def _worker_world(config: SynthConfig) -> World:
    # Each worker process builds the world once (deterministic from the seed) and reuses it.
    weights = tuple(sorted(config.country_weights.items()))
    key = hash((config.seed, config.vocab_root, config.knowledge, config.kb_root, weights))
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
