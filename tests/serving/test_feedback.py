"""POST /v1/feedback on a real server, and the SQLite store behind it."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from categorizer.bundle import load_bundle, load_bundle_taxonomy
from categorizer.taxonomy import Taxonomy
from serving.app import open_feedback
from serving.feedback import COLUMNS, CategoryError, FeedbackError, FeedbackStore, check_categories
from serving.routes.feedback import NOT_CONFIGURED
from serving.settings import Settings
from training.lifecycle.feedback import read_feedback

KEY = "feedback-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
SECRET_TEXT = "ACME DENTAL CARE 0042 SPRINGFIELD"  # must never reach the logs at INFO


@pytest.fixture(scope="module")
def taxonomy(tiny_bundle: Path) -> Taxonomy:
    return load_bundle_taxonomy(tiny_bundle)


@pytest.fixture(scope="module")
def pair(taxonomy: Taxonomy) -> tuple[str, str]:
    """A primary category with detailed ones, and its first detailed category."""
    primary = next(label for label in taxonomy.labels if taxonomy.children(label))
    return primary, taxonomy.children(primary)[0].id


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("feedback") / "sub" / "feedback.sqlite"


@pytest.fixture(scope="module")
def live(serve: Any, tiny_bundle: Path, db: Path) -> Iterator[Any]:
    with serve(bundle=tiny_bundle, api_keys=KEY, feedback_db=db) as server:
        yield server


@pytest.fixture
def client(live: Any) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live.url, timeout=30, headers=AUTH) as http:
        yield http


def correction(category: str, detailed: str | None = None, **extra: Any) -> dict[str, Any]:
    row = {"id": "t1", "description": "STARBUCKS #1234", "amount": -5.75, "category": category}
    return {**row, "detailed_category": detailed, **extra}


def post(client: httpx.Client, *rows: dict[str, Any]) -> httpx.Response:
    return client.post("/v1/feedback", json={"corrections": list(rows)})


# -- over HTTP --------------------------------------------------------------------------------


def test_corrections_are_recorded(
    client: httpx.Client, db: Path, pair: tuple[str, str], tiny_bundle: Path
) -> None:
    primary, detailed = pair
    before = len(read_feedback(db))
    rows = [
        correction(primary, detailed, id="a1", description="  STARBUCKS #1234  "),
        correction(primary, None, id="a2", amount=None),
    ]
    response = post(client, *rows)
    assert response.status_code == 201, response.text
    assert response.json() == {"recorded": 2}

    frame = read_feedback(db).iloc[before:]
    assert list(frame.columns) == list(COLUMNS)
    assert list(frame["id"]) == ["a1", "a2"]
    assert list(frame["description"]) == ["STARBUCKS #1234"] * 2  # stripped
    assert frame["amount"].iloc[0] == -5.75
    assert frame["amount"].isna().iloc[1]
    assert list(frame["category"]) == [primary] * 2
    assert list(frame["detailed_category"]) == [detailed, None]
    manifest = load_bundle(tiny_bundle)
    assert set(frame["model_version"]) == {f"{manifest.name} {manifest.version}"}
    assert frame["received_at"].iloc[0].endswith("+00:00")


def test_an_unknown_category_is_422_naming_the_field_and_allowed_values(
    client: httpx.Client, db: Path, taxonomy: Taxonomy, pair: tuple[str, str]
) -> None:
    primary, detailed = pair
    before = len(read_feedback(db))
    response = post(client, correction(primary), correction("NOT_A_CATEGORY"))
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "corrections", 1, "category"]
    assert error["input"] == "NOT_A_CATEGORY"
    assert error["ctx"]["allowed"] == list(taxonomy.labels)
    assert ", ".join(taxonomy.labels) in error["msg"]
    assert len(read_feedback(db)) == before  # nothing of a refused request is recorded

    response = post(client, correction(detailed))  # a detailed id sent as the primary
    assert response.status_code == 422
    assert f"detailed category of {primary!r}" in response.json()["detail"][0]["msg"]


def test_a_detailed_category_must_belong_to_the_primary(
    client: httpx.Client, taxonomy: Taxonomy, pair: tuple[str, str]
) -> None:
    primary, _ = pair
    other = next(c.id for c in taxonomy.detailed if c.parent != primary)
    response = post(client, correction(primary, other), correction(primary, "NOPE"))
    assert response.status_code == 422
    errors = response.json()["detail"]
    assert [e["loc"] for e in errors] == [
        ["body", "corrections", 0, "detailed_category"],
        ["body", "corrections", 1, "detailed_category"],
    ]
    assert errors[0]["ctx"]["allowed"] == [c.id for c in taxonomy.children(primary)]


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"corrections": []}, ["body", "corrections"]),
        (
            {"corrections": [{"description": "X", "category": "A"}]},
            ["body", "corrections", 0, "id"],
        ),
        (
            {"corrections": [{"id": "1", "description": " \t", "category": "A"}]},
            ["body", "corrections", 0, "description"],
        ),
        (
            {"corrections": [{"id": "1", "description": "X" * 513, "category": "A"}]},
            ["body", "corrections", 0, "description"],
        ),
        (
            {"corrections": [{"id": "1", "description": "X", "category": "A", "extra": 1}]},
            ["body", "corrections", 0, "extra"],
        ),
    ],
)
def test_malformed_bodies_are_422(
    client: httpx.Client, body: dict[str, Any], loc: list[Any]
) -> None:
    response = client.post("/v1/feedback", json=body)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == loc


def test_at_most_1000_corrections(client: httpx.Client, pair: tuple[str, str]) -> None:
    response = post(client, *[correction(pair[0])] * 1001)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "corrections"]
    assert post(client, *[correction(pair[0])] * 1000).json() == {"recorded": 1000}


def test_without_a_key_it_is_401(live: Any, pair: tuple[str, str]) -> None:
    body = {"corrections": [correction(pair[0])]}
    response = httpx.post(f"{live.url}/v1/feedback", json=body, timeout=30)
    assert response.status_code == 401


def test_the_metric_counts_recorded_corrections(
    client: httpx.Client, pair: tuple[str, str]
) -> None:
    def counted() -> float:
        for line in client.get("/metrics").text.splitlines():
            if line.startswith("categorizer_feedback_corrections_total "):
                return float(line.split()[1])
        raise AssertionError("no feedback counter")

    before = counted()
    post(client, correction(pair[0]), correction(pair[0]), correction(pair[0]))
    assert counted() == before + 3


def test_the_schema_lists_the_served_categories(client: httpx.Client, taxonomy: Taxonomy) -> None:
    schema = client.get("/openapi.json").json()
    assert "/v1/feedback" in schema["paths"]
    fields = schema["components"]["schemas"]["Correction"]["properties"]
    assert fields["category"]["enum"] == list(taxonomy.labels)


def test_transaction_text_is_not_logged_at_info(
    client: httpx.Client, pair: tuple[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    assert post(client, correction(pair[0], description=SECRET_TEXT)).status_code == 201
    assert post(client, correction("NOPE", description=SECRET_TEXT)).status_code == 422
    assert SECRET_TEXT not in caplog.text


def test_without_a_database_it_is_503_and_undocumented(
    serve: Any, tiny_bundle: Path, pair: tuple[str, str]
) -> None:
    with serve(bundle=tiny_bundle) as live, httpx.Client(base_url=live.url, timeout=30) as http:
        response = http.post("/v1/feedback", json={"corrections": [correction(pair[0])]})
        schema = http.get("/openapi.json").json()
    assert response.status_code == 503
    assert response.json() == {"detail": NOT_CONFIGURED}
    assert NOT_CONFIGURED == "feedback is not configured: set CATEGORIZER_FEEDBACK_DB"
    assert "/v1/feedback" not in schema["paths"]
    assert "/v1/categorize" in schema["paths"]


def test_a_foreign_database_stops_the_start(tmp_path: Path) -> None:
    path = tmp_path / "other.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE labels (key TEXT)")
    with pytest.raises(FeedbackError, match="not a feedback database"):
        asyncio.run(open_feedback(Settings(bundle=tmp_path, feedback_db=path)))
    assert asyncio.run(open_feedback(Settings(bundle=tmp_path))) is None


# -- the store ---------------------------------------------------------------------------------


def rows(n: int, prefix: str = "r") -> list[dict[str, Any]]:
    return [
        {"id": f"{prefix}{i}", "description": f"SHOP {i}", "amount": float(i), "category": "A"}
        for i in range(n)
    ]


def test_store_records_counts_and_reads_in_order(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / "fb.sqlite")
    assert store.journal_mode == "wal"
    assert store.count() == 0
    assert store.record(rows(3), "m 1") == 3
    assert store.record(rows(2, "s"), "m 2") == 2
    assert store.count() == 5
    read = store.read_all()
    assert [r["id"] for r in read] == ["r0", "r1", "r2", "s0", "s1"]
    assert read[0] == {
        "id": "r0",
        "description": "SHOP 0",
        "amount": 0.0,
        "category": "A",
        "detailed_category": None,
        "model_version": "m 1",
        "received_at": read[0]["received_at"],
    }
    store.close()
    reopened = FeedbackStore(tmp_path / "fb.sqlite")
    assert reopened.count() == 5
    reopened.close()


def test_store_is_safe_to_share_between_threads(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / "fb.sqlite")
    other = FeedbackStore(tmp_path / "fb.sqlite")  # another connection, as another worker
    errors: list[BaseException] = []

    def write(target: FeedbackStore, name: str) -> None:
        try:
            for _ in range(20):
                target.record(rows(5, name), name)
        except BaseException as exc:
            errors.append(exc)

    threads = [
        threading.Thread(target=write, args=(store if i % 2 else other, f"t{i}")) for i in range(6)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert store.count() == other.count() == 6 * 20 * 5
    written = Counter(r["model_version"] for r in store.read_all())
    assert written == {f"t{i}": 100 for i in range(6)}
    store.close()
    other.close()


def test_store_refuses_files_that_are_not_feedback(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("x" * 4096)
    with pytest.raises(FeedbackError, match=r"notes\.txt: not a usable SQLite file"):
        FeedbackStore(text)
    foreign = tmp_path / "cache.sqlite"
    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE labels (key TEXT)")
    with pytest.raises(FeedbackError, match=r"cache\.sqlite: an SQLite database of something"):
        FeedbackStore(foreign)
    with sqlite3.connect(foreign) as conn:  # left as it was
        assert conn.execute("SELECT name FROM sqlite_master").fetchall() == [("labels",)]


def test_check_categories_collects_every_bad_field(taxonomy: Taxonomy) -> None:
    primary = taxonomy.labels[0]
    good = {"category": primary, "detailed_category": None}
    check_categories([good], taxonomy)
    bad = [good, {"category": "X"}, {"category": primary, "detailed_category": "Y"}]
    with pytest.raises(CategoryError) as caught:
        check_categories(bad, taxonomy)
    assert [e["loc"] for e in caught.value.errors] == [
        ("body", "corrections", 1, "category"),
        ("body", "corrections", 2, "detailed_category"),
    ]
    assert isinstance(caught.value, ValueError)
