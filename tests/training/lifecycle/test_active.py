"""Active learning: uncertainty scores, diverse selection, and selecting from a pool file."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from categorizer.ingest.errors import DataError
from training.lifecycle.active import (
    SELECTION_COLUMNS,
    group_keys,
    select_uncertain,
    uncertainty,
)

# Three near-duplicate groups: store numbers, amounts and dates differ within a group.
STARBUCKS = [f"STARBUCKS STORE {n} SEATTLE WA | debit | 1-10" for n in (1234, 5678, 9012)]
JOES = [f"SQ *JOE'S BBQ {n} AUSTIN TX | debit | 10-50" for n in ("0123", "9876")]
PAYROLL = ["PAYROLL ACME CORP | credit | 1k-5k", "PAYROLL ACME CORP | credit | 1k-5k"]
TEXTS = STARBUCKS + JOES + PAYROLL


def _probs(uncertain: list[float]) -> np.ndarray:
    """Two-category rows whose margin uncertainty is each given value (p1 - p2 = 1 - u)."""
    p1 = (2 - np.asarray(uncertain)) / 2
    return np.stack([p1, 1 - p1], axis=1)


# -- uncertainty --------------------------------------------------------------------------------


def test_entropy_is_normalised_by_log_categories() -> None:
    probs = np.array([[1.0, 0.0, 0.0], [1 / 3, 1 / 3, 1 / 3], [0.5, 0.5, 0.0]])
    expected = [0.0, 1.0, math.log(2) / math.log(3)]
    np.testing.assert_allclose(uncertainty(probs, "entropy"), expected, atol=1e-12)


def test_margin_is_one_minus_the_top_two_gap() -> None:
    probs = np.array([[1.0, 0.0, 0.0], [0.2, 0.7, 0.1], [0.5, 0.0, 0.5]])
    np.testing.assert_allclose(uncertainty(probs, "margin"), [0.0, 0.5, 1.0], atol=1e-12)


def test_uncertainty_refuses_an_unknown_strategy() -> None:
    with pytest.raises(ValueError, match=r"\('entropy', 'margin'\); got 'random'"):
        uncertainty(np.eye(2), "random")


# -- select_uncertain ---------------------------------------------------------------------------


def test_group_keys_join_near_duplicates() -> None:
    keys = group_keys(TEXTS)
    assert [keys.index(key) for key in keys] == [0, 0, 0, 3, 3, 5, 5]


def test_one_row_per_group_while_the_budget_allows() -> None:
    # The Starbucks rows are the most uncertain: without diversity they would take every pick.
    probs = _probs([0.99, 0.98, 0.97, 0.5, 0.6, 0.1, 0.2])
    picks = select_uncertain(TEXTS, probs, 3, strategy="margin")
    assert picks.tolist() == [0, 4, 6]  # each group's most uncertain row, best first
    assert select_uncertain(TEXTS, probs, 3, strategy="margin", diversity=False).tolist() == [
        0,
        1,
        2,
    ]


def test_a_larger_budget_fills_up_with_the_most_uncertain_rows() -> None:
    probs = _probs([0.99, 0.98, 0.97, 0.5, 0.6, 0.1, 0.2])
    assert select_uncertain(TEXTS, probs, 5, strategy="margin").tolist() == [0, 4, 6, 1, 2]


def test_a_budget_beyond_the_pool_picks_everything_in_order() -> None:
    probs = _probs([0.99, 0.98, 0.97, 0.5, 0.6, 0.1, 0.2])
    picks = select_uncertain(TEXTS, probs, 100, strategy="margin")
    assert picks.tolist() == [0, 4, 6, 1, 2, 3, 5]
    assert picks.dtype == np.int64


def test_random_is_seeded_and_one_per_group_first() -> None:
    texts = [f"MERCHANT {chr(65 + i % 20)}{chr(65 + i // 20)} | debit" for i in range(200)]
    texts += texts  # every group twice
    probs = np.full((len(texts), 2), 0.5)
    first = select_uncertain(texts, probs, 150, strategy="random", seed=7)
    assert first.tolist() == select_uncertain(texts, probs, 150, strategy="random", seed=7).tolist()
    other = select_uncertain(texts, probs, 150, strategy="random", seed=8)
    assert first.tolist() != other.tolist()
    keys = group_keys(texts)
    assert len({keys[i] for i in first.tolist()}) == 150
    assert sorted(first.tolist()) != first.tolist()  # not pool order


def test_bad_budget_and_strategy_are_refused() -> None:
    probs = _probs([0.5] * len(TEXTS))
    with pytest.raises(ValueError, match="budget: expected at least 1"):
        select_uncertain(TEXTS, probs, 0)
    with pytest.raises(ValueError, match=r"\('entropy', 'margin', 'random'\)"):
        select_uncertain(TEXTS, probs, 2, strategy="confidence")
    with pytest.raises(ValueError, match="one row per text"):
        select_uncertain(TEXTS[:3], probs, 2)


# -- select_file --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pool(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 60-row synthetic pool as a bank CSV (gold columns included, as extra columns)."""
    from categorizer.ingest.data import write_frame
    from training.synthesis.synth import SynthConfig, generate

    folder = tmp_path_factory.mktemp("pool")
    return write_frame(generate(SynthConfig(n=60, seed=5, workers=1)), folder / "pool.csv")


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".jsonl"])
def test_select_file_writes_the_selected_rows(
    tiny_bundle: Path, pool: Path, tmp_path: Path, suffix: str
) -> None:
    pytest.importorskip("onnxruntime")
    from categorizer.engine import Categorizer
    from categorizer.ingest.data import read_transactions
    from training.lifecycle.active import model_texts, pool_probs, select_file

    out = tmp_path / f"to_label{suffix}"
    summary = select_file(tiny_bundle, pool, out, 12, strategy="entropy", threads=1)
    selected = read_transactions(out).frame
    source = pd.read_csv(pool)
    assert len(selected) == summary["selected"] == 12
    assert summary["pool_rows"] == 60
    for column in [*source.columns, *SELECTION_COLUMNS]:
        assert column in selected.columns
    # read_transactions keeps a CSV's extra columns as text
    assert selected["selection_rank"].astype(int).tolist() == list(range(12))
    assert selected["uncertainty"].astype(float).between(0, 1).all()
    assert summary["mean_uncertainty_selected"] >= summary["mean_uncertainty_pool"]
    # The same picks as select_uncertain over the engine's own probabilities.
    frame = read_transactions(pool).frame
    texts = model_texts(frame)
    engine = Categorizer.load(tiny_bundle, threads=1)
    probs = pool_probs(engine, texts)
    picks = select_uncertain(texts, probs, 12)
    assert selected["id"].tolist() == frame["id"].iloc[picks].tolist()
    # Smaller model passes change only int8 batch noise (activations quantized per batch).
    np.testing.assert_allclose(pool_probs(engine, texts, rows=7), probs, atol=0.02)


def test_select_file_names_the_file_on_a_bad_column(
    tiny_bundle: Path, pool: Path, tmp_path: Path
) -> None:
    from training.lifecycle.active import select_file

    with pytest.raises(DataError, match=r"pool\.csv.*Memo"):
        select_file(tiny_bundle, pool, tmp_path / "out.csv", 5, columns={"description": "Memo"})


def test_select_file_refuses_bad_requests_before_reading(pool: Path, tmp_path: Path) -> None:
    from training.lifecycle.active import select_file

    bundle = tmp_path / "no_bundle"
    with pytest.raises(DataError, match=r"out\.xlsx.*\.csv"):
        select_file(bundle, pool, tmp_path / "out.xlsx", 5)
    with pytest.raises(DataError, match="overwrite the pool"):
        select_file(bundle, pool, pool, 5)
    with pytest.raises(ValueError, match="budget"):
        select_file(bundle, pool, tmp_path / "out.csv", 0)
    with pytest.raises(ValueError, match="strategy"):
        select_file(bundle, pool, tmp_path / "out.csv", 5, strategy="least")
