"""The generator's vocabulary: size, coverage, and errors that name the file and line."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import pytest

from categorizer.taxonomy import default_taxonomy
from training.synthesis.vocab import COUNTRIES, VocabularyError, default_vocabulary, load_vocabulary


def test_at_least_800_real_merchants() -> None:
    assert len(default_vocabulary().merchant_names) >= 800


def test_every_detailed_category_has_a_profile_and_merchants() -> None:
    vocab = default_vocabulary()
    taxonomy = default_taxonomy()
    assert set(vocab.profiles) == set(taxonomy.detailed_labels)
    covered = {m.detailed for m in vocab.merchants}
    assert covered == set(taxonomy.detailed_labels)


def test_every_country_has_its_own_bank_forms_and_billers() -> None:
    # Chains come from the merchant knowledge base; what the hand-written vocabulary must give
    # every country is its banks' own lines: fees, transfers, payroll, bills.
    per_country = Counter(c for m in default_vocabulary().merchants for c in m.regions)
    for country in COUNTRIES:
        assert per_country[country] >= 25, (country, per_country[country])


def test_a_market_group_expands_to_its_countries(vocab_copy: Path) -> None:
    path = vocab_copy / "merchants" / "TRAVEL.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    name = lines[1].split(",")[0]
    lines[1] = ",".join([*lines[1].split(",")[:2], "EU|KE", *lines[1].split(",")[3:]])
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    merchant = next(m for m in load_vocabulary(vocab_copy).merchants if m.name == name)
    assert merchant.regions == {"IE", "DE", "AT", "CH", "NL", "BE", "FR", "ES", "KE"}


def test_no_duplicate_merchant_category_pairs() -> None:
    pairs = Counter(
        (m.name, m.detailed, tuple(sorted(m.regions))) for m in default_vocabulary().merchants
    )
    assert [p for p, k in pairs.items() if k > 1] == []


@pytest.fixture
def vocab_copy(tmp_path: Path) -> Path:
    root = tmp_path / "vocab"
    shutil.copytree(default_vocabulary().root, root)
    return root


def test_a_bad_merchant_row_names_file_line_and_column(vocab_copy: Path) -> None:
    path = vocab_copy / "merchants" / "TRAVEL.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[2] = lines[2].replace("TRAVEL_", "TRAVLE_", 1)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(VocabularyError, match=r"TRAVEL\.csv, line 3: column 'detailed_category'"):
        load_vocabulary(vocab_copy)


def test_a_missing_profile_is_named(vocab_copy: Path) -> None:
    path = vocab_copy / "categories" / "TRAVEL.yaml"
    text = path.read_text(encoding="utf-8").replace("TRAVEL_LODGING:", "TRAVEL_LODGINGS:")
    path.write_text(text, encoding="utf-8")
    with pytest.raises(VocabularyError, match="TRAVEL_LODGING"):
        load_vocabulary(vocab_copy)
