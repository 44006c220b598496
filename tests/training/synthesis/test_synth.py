"""The synthetic corpus: shape, ground truth, realism checks and determinism."""

from __future__ import annotations

import datetime as dt
import re

import pandas as pd
import pytest

from categorizer.taxonomy import default_taxonomy
from training.synthesis.synth import COLUMNS, SynthConfig, generate
from training.synthesis.vocab import COUNTRIES


@pytest.fixture(scope="module")
def corpus() -> pd.DataFrame:
    return generate(SynthConfig(n=20_000, seed=7, workers=1))


def test_columns_and_types(corpus: pd.DataFrame) -> None:
    assert tuple(corpus.columns) == COLUMNS
    assert len(corpus) == 20_000
    assert corpus["id"].is_unique
    assert corpus["description"].str.len().between(1, 512).all()
    assert corpus["description"].str.strip().ne("").all()
    mcc = corpus["mcc"].dropna()
    assert len(mcc) > 0
    assert mcc.str.fullmatch(r"\d{4}").all()


def test_every_primary_and_most_detailed_categories(corpus: pd.DataFrame) -> None:
    taxonomy = default_taxonomy()
    assert set(corpus["category"]) == set(taxonomy.labels)
    detailed = set(corpus["detailed_category"])
    assert detailed <= set(taxonomy.detailed_labels)
    assert len(detailed) >= 0.9 * len(taxonomy.detailed_labels)
    parents = corpus["detailed_category"].map(taxonomy.parent_of)
    assert (parents == corpus["category"]).all()


def test_difficulty_mix(corpus: pd.DataFrame) -> None:
    shares = corpus["difficulty"].value_counts(normalize=True)
    assert set(shares.index) == {"chain", "long_tail", "ambiguous"}
    assert 0.1 < shares["long_tail"] < 0.45
    assert shares["ambiguous"] > 0.01


def test_amounts_fit_the_category(corpus: pd.DataFrame) -> None:
    wages = corpus[corpus["detailed_category"] == "INCOME_WAGES"]
    assert (wages["amount"] > 0).all()
    groceries = corpus[corpus["detailed_category"] == "FOOD_AND_DRINK_GROCERIES"]
    # Groceries are money out, except the occasional refund.
    assert (groceries["amount"] < 0).mean() > 0.9
    usd = corpus[corpus["currency"] == "USD"]
    rent = usd[usd["detailed_category"] == "RENT_AND_UTILITIES_RENT"]["amount"].abs()
    coffee = usd[usd["detailed_category"] == "FOOD_AND_DRINK_COFFEE"]["amount"].abs()
    assert rent.median() > 20 * coffee.median()


def test_countries_and_currencies(corpus: pd.DataFrame) -> None:
    assert set(corpus["country"]) == set(COUNTRIES)
    assert {
        "USD",
        "CAD",
        "BRL",
        "GBP",
        "EUR",
        "CHF",
        "ZAR",
        "NGN",
        "KES",
        "INR",
        "SGD",
        "NZD",
    } <= set(corpus["currency"])
    shares = corpus["country"].value_counts(normalize=True)
    assert shares["US"] == shares.max()
    euro = corpus[corpus["currency"] == "EUR"]["country"]
    assert set(euro) == {"IE", "DE", "AT", "NL", "BE", "FR", "ES"}


def test_world_merchants_trade_where_they_do(corpus: pd.DataFrame) -> None:
    # Chains come from the knowledge base by country: many distinct merchants, local to each.
    chains = corpus[corpus["difficulty"] == "chain"]
    assert chains["merchant"].nunique() > 2_500
    by_country = chains.groupby("merchant")["country"].nunique()
    assert (by_country == 1).mean() > 0.5  # most chains are national, not global


def test_local_businesses_speak_the_language(corpus: pd.DataFrame) -> None:
    german = corpus[(corpus["country"] == "DE") & (corpus["difficulty"] == "long_tail")]
    words = r"BÄCKEREI|BAECKEREI|BACKEREI|METZGEREI|APOTHEKE|FRISEUR|GASTSTÄTTE|RESTAURANT|KIOSK"
    assert german["description"].str.upper().str.contains(words).any()


def test_dates_span_a_year(corpus: pd.DataFrame) -> None:
    dates = pd.to_datetime(corpus["date"])
    assert dates.min().date() >= dt.date(2025, 1, 1)
    assert dates.max().date() <= dt.date(2025, 12, 31)
    assert dates.dt.month.nunique() == 12


def test_descriptors_carry_bank_noise(corpus: pd.DataFrame) -> None:
    text = corpus["description"]
    for pattern in (r"^POS ", r"CHECKCARD \d{4}", r"^SQ \*|^TST\*|PAYPAL \*", r"ZELLE|VENMO"):
        assert text.str.contains(pattern, regex=True).any(), pattern
    assert text.str.contains(r"\d{4,}", regex=True).mean() > 0.3  # store numbers, refs
    assert (text != text.str.upper()).mean() > 0.05  # some feeds print mixed case
    # Descriptors are not just the merchant name: most differ from it.
    assert (text.str.upper() != corpus["merchant"].str.upper()).mean() > 0.8


def test_long_tail_names_reveal_the_category(corpus: pd.DataFrame) -> None:
    dental = corpus[
        (corpus["difficulty"] == "long_tail")
        & (corpus["detailed_category"] == "MEDICAL_DENTAL_CARE")
    ]
    assert len(dental) > 0
    words = re.compile(r"DENT|ORTHO|SMILE|TOOTH|TEETH|ORAL|DDS|ENDO", re.IGNORECASE)
    assert dental["merchant"].str.contains(words).mean() > 0.8


def test_deterministic_for_a_seed() -> None:
    config = SynthConfig(n=3_000, seed=11, workers=1, chunk_size=1_000)
    pd.testing.assert_frame_equal(generate(config), generate(config))
    other = generate(SynthConfig(n=3_000, seed=12, workers=1, chunk_size=1_000))
    assert not other["description"].equals(generate(config)["description"])


def test_same_output_whatever_the_number_of_workers() -> None:
    one = generate(SynthConfig(n=4_000, seed=3, workers=1, chunk_size=500))
    two = generate(SynthConfig(n=4_000, seed=3, workers=2, chunk_size=500))
    pd.testing.assert_frame_equal(one, two)


def test_progress_counts_every_row() -> None:
    seen: list[int] = []
    generate(SynthConfig(n=2_500, seed=0, workers=1, chunk_size=1_000), progress=seen.append)
    assert seen == [1_000, 1_000, 500]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n": 0}, "n must be at least 1"),
        ({"n": 10, "days": 0}, "days must be at least 1"),
        ({"n": 10, "longtail_share": 1.5}, "longtail_share"),
        ({"n": 10, "country_weights": {"XX": 1.0}}, "country_weights"),
        ({"n": 10, "country_weights": {"US": 0.0}}, "country_weights"),
    ],
)
def test_config_is_checked(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SynthConfig(**kwargs)
