"""Reading the service's feedback database back for retraining."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from categorizer.ingest.errors import DataError
from serving.feedback import FeedbackStore
from training.lifecycle.feedback import read_feedback

COLUMNS = [
    "id",
    "description",
    "amount",
    "category",
    "detailed_category",
    "model_version",
    "received_at",
]


def test_reads_every_correction_in_order(tmp_path: Path) -> None:
    path = tmp_path / "feedback.sqlite"
    store = FeedbackStore(path)
    store.record(
        [
            {"id": "t1", "description": "STARBUCKS", "amount": -5.75, "category": "FOOD_AND_DRINK"},
            {
                "id": "t2",
                "description": "NETFLIX.COM",
                "amount": None,
                "category": "ENTERTAINMENT",
                "detailed_category": "ENTERTAINMENT_TV_AND_MOVIES",
            },
        ],
        "run 1",
    )
    store.record([{"id": "t3", "description": "UBER", "category": "TRANSPORTATION"}], "run 2")

    frame = read_feedback(path)  # while the store is still open, as during serving

    assert list(frame.columns) == COLUMNS
    assert list(frame["id"]) == ["t1", "t2", "t3"]
    assert frame["amount"].dtype == "float64"
    assert frame["amount"].iloc[0] == -5.75
    assert frame["amount"].isna().tolist() == [False, True, True]
    assert list(frame["detailed_category"]) == [None, "ENTERTAINMENT_TV_AND_MOVIES", None]
    assert list(frame["model_version"]) == ["run 1", "run 1", "run 2"]
    assert frame["received_at"].iloc[0] == frame["received_at"].iloc[1]
    store.close()


def test_an_empty_database_gives_an_empty_frame(tmp_path: Path) -> None:
    path = tmp_path / "feedback.sqlite"
    FeedbackStore(path).close()
    frame = read_feedback(path)
    assert frame.empty
    assert list(frame.columns) == COLUMNS


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"nowhere\.sqlite: file not found"):
        read_feedback(tmp_path / "nowhere.sqlite")
    assert not (tmp_path / "nowhere.sqlite").exists()  # reading creates nothing


def test_a_file_that_is_not_sqlite_is_named(tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    path.write_text("description,amount\nSTARBUCKS,-5.75\n" * 200)
    with pytest.raises(DataError, match=r"labels\.csv: not a feedback database") as caught:
        read_feedback(path)
    assert caught.value.path == path


def test_another_sqlite_database_is_not_feedback(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE labels (key TEXT)")
    conn.close()
    with pytest.raises(DataError, match=r"cache\.sqlite: not a feedback database"):
        read_feedback(path)
