"""The benchmark's evaluation rows: a gold-only real-dev-shaped file and a labeled file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmarks.eval_set import UNKNOWN_COUNTRY, load_eval_set
from categorizer.ingest.errors import DataError
from categorizer.taxonomy import Taxonomy, default_taxonomy
from categorizer.text import to_model_text


@pytest.fixture(scope="module")
def taxonomy() -> Taxonomy:
    return default_taxonomy()


@pytest.fixture(scope="module")
def labeled(
    tmp_path_factory: pytest.TempPathFactory,
    taxonomy: Taxonomy,
    real_dev_rows: list[tuple[str, ...]],
    real_dev_writer: Callable[..., Path],
) -> Path:
    """The dev rows (amounts filled in) labeled by `labels:category`; row 2 left unlabeled."""
    from training.labeling.runner import label_file
    from training.labeling.teachers import make_teacher

    folder = tmp_path_factory.mktemp("labeled")
    rows = [(*row[:2], row[2] or "-1.00", *row[3:]) for row in real_dev_rows]
    source = real_dev_writer(folder / "dev.csv", rows)
    out = folder / "labels.parquet"
    teacher = make_teacher("labels:category", taxonomy, detailed_column="detailed_category")
    label_file(source, out, teacher, taxonomy=taxonomy)
    frame = pd.read_parquet(out)
    probs = frame["teacher_probs"].to_numpy(dtype=object).copy()
    probs[2] = None
    frame.assign(teacher_probs=probs).to_parquet(out)
    return out


def test_gold_only_file_gives_gold_detailed_and_countries(
    real_dev_csv: Path, taxonomy: Taxonomy, real_dev_rows: list[tuple[str, ...]]
) -> None:
    rows = load_eval_set(real_dev_csv, taxonomy, None)
    assert rows.teacher_probs is None
    assert rows.teacher_detailed is None
    assert rows.source == "file"
    assert len(rows.texts) == len(real_dev_rows)
    assert rows.gold is not None
    assert [taxonomy.labels[i] for i in rows.gold] == [r[5] for r in real_dev_rows]
    assert rows.detailed_gold is not None
    assert rows.detailed_gold.tolist() == [r[6] or None for r in real_dev_rows]
    assert rows.country is not None
    assert rows.country.tolist()[2] == "UK"  # "uk" in the file
    assert rows.country.tolist()[-1] == UNKNOWN_COUNTRY
    # the model text of a row without an amount has no direction and no amount bucket
    assert rows.texts[4] == to_model_text({"description": "REWE Markt GmbH Berlin"})
    assert rows.texts[0] == to_model_text({"description": real_dev_rows[0][1], "amount": -12.4})


def test_summary_counts_countries_largest_first(
    real_dev_csv: Path, taxonomy: Taxonomy, real_dev_rows: list[tuple[str, ...]]
) -> None:
    summary = load_eval_set(real_dev_csv, taxonomy, None).summary()
    assert summary["rows"] == len(real_dev_rows)
    assert summary["gold"] is True
    assert summary["teacher"] is False
    assert summary["detailed_rows"] == sum(1 for r in real_dev_rows if r[6])
    assert list(summary["countries"].items()) == [
        ("UK", 4), ("DE", 3), ("US", 2), ("AT", 1), ("BR", 1), (UNKNOWN_COUNTRY, 1)
    ]  # fmt: skip


def test_score_adds_detailed_and_per_country_figures(
    real_dev_csv: Path, taxonomy: Taxonomy
) -> None:
    rows = load_eval_set(real_dev_csv, taxonomy, None)
    assert rows.gold is not None
    probs = np.eye(len(taxonomy.labels))[rows.gold]
    probs[0] = np.roll(probs[0], 1)  # one UK row wrong
    detailed = [d or "INCOME_OTHER_INCOME" for d in rows.detailed_gold]
    block = rows.score(probs, taxonomy.labels, detailed)
    assert block["accuracy"] == pytest.approx(11 / 12)
    assert block["agreement"] is None
    assert block["detailed"] == {"rows": 8, "accuracy": 1.0}
    assert list(block["by_country"])[:2] == ["UK", "DE"]
    assert block["by_country"]["UK"]["rows"] == 4
    assert block["by_country"]["UK"]["accuracy"] == pytest.approx(3 / 4)
    assert block["by_country"]["DE"]["accuracy"] == 1.0
    assert rows.score(probs, taxonomy.labels, None)["detailed"] == {"rows": 8, "accuracy": None}


@pytest.mark.parametrize("column", ["description", "category"])
def test_a_missing_column_names_the_file_and_the_column(
    tmp_path: Path, taxonomy: Taxonomy, real_dev_writer: Callable[..., Path], column: str
) -> None:
    frame = pd.read_csv(real_dev_writer(tmp_path / "full.csv"), dtype=str, keep_default_na=False)
    path = tmp_path / "dev.csv"
    frame.drop(columns=[column]).to_csv(path, index=False)
    with pytest.raises(DataError) as info:
        load_eval_set(path, taxonomy, None)
    assert info.value.column == column
    assert str(path) in str(info.value)
    assert repr(column) in str(info.value)


def test_a_label_outside_the_taxonomy_names_its_line(
    tmp_path: Path,
    taxonomy: Taxonomy,
    real_dev_rows: list[tuple[str, ...]],
    real_dev_writer: Callable[..., Path],
) -> None:
    rows = list(real_dev_rows)
    rows[3] = (*rows[3][:5], "SALARY", *rows[3][6:])
    path = real_dev_writer(tmp_path / "dev.csv", rows)
    with pytest.raises(DataError, match="'SALARY' is not a primary category") as info:
        load_eval_set(path, taxonomy, None)
    assert info.value.line == 5  # the header is line 1
    assert info.value.column == "category"


def test_gold_column_can_be_named(
    tmp_path: Path, taxonomy: Taxonomy, real_dev_writer: Callable[..., Path]
) -> None:
    frame = pd.read_csv(real_dev_writer(tmp_path / "full.csv"), dtype=str, keep_default_na=False)
    path = tmp_path / "dev.csv"
    frame.rename(columns={"category": "gold"}).to_csv(path, index=False)
    rows = load_eval_set(path, taxonomy, "gold")
    assert rows.gold is not None
    assert taxonomy.labels[rows.gold[0]] == "GENERAL_MERCHANDISE"


def test_a_labeled_file_keeps_teacher_and_countries_aligned(
    labeled: Path, taxonomy: Taxonomy, real_dev_rows: list[tuple[str, ...]]
) -> None:
    rows = load_eval_set(labeled, taxonomy, None)
    kept = [r for i, r in enumerate(real_dev_rows) if i != 2]  # row 2 has no teacher label
    assert rows.teacher_probs is not None
    assert rows.teacher_probs.shape == (len(kept), len(taxonomy.labels))
    assert rows.gold is not None  # "category" is used when the file has it
    assert [taxonomy.labels[i] for i in rows.gold] == [r[5] for r in kept]
    assert rows.country is not None
    assert rows.country.tolist() == [r[4].upper() or UNKNOWN_COUNTRY for r in kept]
    assert rows.detailed_gold is not None
    assert rows.detailed_gold.tolist() == [r[6] or None for r in kept]
    assert rows.teacher_detailed is not None
    assert rows.teacher_detailed.tolist() == [r[6] or None for r in kept]
    block = rows.score(rows.teacher_probs, taxonomy.labels, list(rows.teacher_detailed))
    assert block["agreement"] == 1.0
    assert block["by_country"]["UK"]["agreement"] == 1.0
