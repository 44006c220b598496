"""The HTTP API on a real uvicorn server: shapes, errors, probes, metrics and docs."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from categorizer.bundle import load_bundle
from categorizer.engine import Categorizer
from categorizer.schema import Transaction
from serving.app import create_app
from serving.confidence import confidence_level
from serving.settings import Settings

MAX_TRANSACTIONS = 8
BATCH = [
    {"id": "t1", "description": "POS PURCHASE STARBUCKS #1234 SEATTLE WA", "amount": -5.75},
    {"id": 2, "description": "ACH DEPOSIT ACME PAYROLL", "amount": 2450.0, "date": "2024-05-31"},
    {"description": "UBER TRIP", "amount": 23.1, "amount_convention": "outflow_positive"},
    {"id": "t4", "description": "CVS PHARMACY #0921", "mcc": 5912, "direction": "debit"},
]


@pytest.fixture(scope="module")
def live(serve: Any, tiny_bundle: Path) -> Iterator[Any]:
    with serve(bundle=tiny_bundle, max_transactions=MAX_TRANSACTIONS) as server:
        yield server


@pytest.fixture
def client(live: Any) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live.url, timeout=30) as http:
        yield http


def categorize(client: httpx.Client, transactions: Any) -> httpx.Response:
    return client.post("/v1/categorize", json={"transactions": transactions})


def test_a_batch_gets_one_result_per_transaction_in_order(
    client: httpx.Client, tiny_bundle: Path
) -> None:
    response = categorize(client, BATCH)
    assert response.status_code == 200, response.text
    body = response.json()
    manifest = load_bundle(tiny_bundle)
    assert body["model"] == {
        "name": manifest.name,
        "version": manifest.version,
        "base_model": manifest.base_model,
        "quantization": manifest.quantization,
        "taxonomy": manifest.taxonomy,
        "created_at": manifest.created_at,
    }
    results = body["results"]
    assert [r["id"] for r in results] == ["t1", "2", None, "t4"]
    expected = Categorizer.load(tiny_bundle, threads=1).predict(
        [Transaction.model_validate(t) for t in BATCH]
    )
    assert [r["category"] for r in results] == [p.category for p in expected]
    for result, prediction in zip(results, expected, strict=True):
        assert set(result) == {
            "id", "category", "detailed_category", "confidence", "top",
            "personal_finance_category",
        }  # fmt: skip
        assert result["confidence"] == pytest.approx(prediction.confidence, abs=0.05)
        assert result["top"][0] == {"category": result["category"], "score": result["confidence"]}
        assert len(result["top"]) == 3
        assert result["personal_finance_category"] == {
            "primary": result["category"],
            "detailed": result["detailed_category"],
            "confidence_level": confidence_level(result["confidence"]),
        }


@pytest.mark.parametrize(
    ("transactions", "loc"),
    [
        ([{"description": "NETFLIX", "amount": "lots"}], ["body", "transactions", 0, "amount"]),
        ([BATCH[0], {"amount": -1.0}], ["body", "transactions", 1, "description"]),
        ([{"description": "   "}], ["body", "transactions", 0, "description"]),
        ([{"description": "X", "currency": "dollars"}], ["body", "transactions", 0, "currency"]),
        ([{"description": "X", "mcc": "54"}], ["body", "transactions", 0, "mcc"]),
        ([{"description": "X", "date": "yesterday"}], ["body", "transactions", 0, "date"]),
        ([], ["body", "transactions"]),
        ("NETFLIX", ["body", "transactions"]),
    ],
)
def test_invalid_input_is_422_with_the_field_path(
    client: httpx.Client, transactions: Any, loc: list[Any]
) -> None:
    response = categorize(client, transactions)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == loc


def test_text_with_a_lone_surrogate_is_422(client: httpx.Client) -> None:
    body = b'{"transactions": [{"id": "t\\udc00", "description": "NETFLIX"}]}'
    response = client.post(
        "/v1/categorize", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "transactions", 0, "id"]
    body = b'{"transactions": [{"description": "NETFLIX", "amount": "\\ud800"}]}'
    response = client.post(
        "/v1/categorize", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["input"] == "\ud800"  # echoed back, escaped


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity"])
def test_non_finite_amounts_are_422(client: httpx.Client, literal: bytes) -> None:
    body = b'{"transactions": [{"description": "NETFLIX", "amount": ' + literal + b"}]}"
    response = client.post(
        "/v1/categorize", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "transactions", 0, "amount"]


def test_a_body_that_is_not_json_is_422(client: httpx.Client) -> None:
    response = client.post(
        "/v1/categorize", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422


def test_too_many_transactions_is_413_before_validation(client: httpx.Client) -> None:
    # One more than allowed, every one of them invalid: the count is refused first.
    response = categorize(client, [{"amount": "x"}] * (MAX_TRANSACTIONS + 1))
    assert response.status_code == 413
    assert f"at most {MAX_TRANSACTIONS}" in response.json()["detail"]
    assert categorize(client, BATCH * 2).status_code == 200  # exactly the limit


def test_model_categories_and_probes(client: httpx.Client, tiny_bundle: Path) -> None:
    manifest = load_bundle(tiny_bundle)
    model = client.get("/v1/model").json()
    assert (model["name"], model["version"]) == (manifest.name, manifest.version)
    assert model["labels"] == manifest.labels
    assert model["threads"] == 1
    categories = client.get("/v1/categories").json()
    assert categories["taxonomy"] == manifest.taxonomy
    assert categories["primary"] == manifest.primary_labels
    ids = {c["id"] for c in categories["categories"]}
    assert set(manifest.primary_labels) <= ids
    assert len(ids) > len(manifest.primary_labels)  # detailed categories too
    assert client.get("/healthz").json() == {"status": "ok", "model": None}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "model": f"{manifest.name} {manifest.version}"}


def test_readyz_is_503_until_the_model_is_loaded(tiny_bundle: Path) -> None:
    app = create_app(Settings(bundle=tiny_bundle, threads=1))

    async def probe() -> httpx.Response:
        # ASGITransport does not run the lifespan: this is the app before its model loads.
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            assert (await http.get("/healthz")).status_code == 200
            not_ready = await http.post("/v1/categorize", json={"transactions": BATCH})
            assert not_ready.status_code == 503
            assert not_ready.headers["retry-after"] == "1"
            return await http.get("/readyz")

    response = asyncio.run(probe())
    assert response.status_code == 503
    assert response.json()["status"] == "not ready"


def test_a_library_input_error_is_a_400_naming_the_problem(tiny_bundle: Path) -> None:
    from categorizer.taxonomy import TaxonomyError

    app = create_app(Settings(bundle=tiny_bundle, threads=1))

    @app.get("/test/bad-input")
    def bad_input() -> None:
        raise TaxonomyError("unknown category 'FOOD'; expected one of the taxonomy's labels")

    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            return await http.get("/test/bad-input")

    response = asyncio.run(call())
    assert response.status_code == 400
    assert response.json() == {
        "detail": "unknown category 'FOOD'; expected one of the taxonomy's labels"
    }


def test_metrics_after_requests(client: httpx.Client) -> None:
    assert categorize(client, BATCH).status_code == 200
    assert categorize(client, [{"amount": 1}]).status_code == 422
    text = client.get("/metrics").text
    assert 'categorizer_http_requests_total{method="POST",route="/v1/categorize",status="200"}' in (
        text
    )
    assert 'route="/v1/categorize",status="422"' in text
    assert 'categorizer_http_request_duration_seconds_bucket{le="0.003"' in text
    assert "categorizer_batch_rows_count" in text
    assert "categorizer_batch_requests_count" in text
    assert "categorizer_queue_rows 0.0" in text
    assert "categorizer_prediction_confidence_count" in text
    assert 'categorizer_predictions_total{category="' in text
    assert 'categorizer_model_info{base_model="scratch:' in text
    assert client.get("/no/such/path").status_code == 404
    assert 'route="<unmatched>",status="404"' in client.get("/metrics").text


def test_transaction_text_is_not_logged_at_info(
    client: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "ZQXJ SECRET MERCHANT 8812"
    with caplog.at_level(logging.INFO):
        assert categorize(client, [{"description": secret}]).status_code == 200
        assert categorize(client, [{"description": secret, "amount": "x"}]).status_code == 422
    assert secret not in caplog.text


def test_openapi_documents_the_api_with_examples(client: httpx.Client) -> None:
    assert client.get("/docs").status_code == 200
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    for path in ("/v1/categorize", "/v1/model", "/v1/categories", "/v1/admin/reload"):
        assert path in paths
    for path in ("/healthz", "/readyz", "/metrics"):
        assert path in paths
    post = paths["/v1/categorize"]["post"]
    assert {"401", "413", "422", "503"} <= set(post["responses"])
    assert "Retry-After" in post["responses"]["503"]["headers"]
    examples = post["requestBody"]["content"]["application/json"]["examples"]
    assert "batch" in examples
    schemas = spec["components"]["schemas"]
    transactions = schemas["CategorizeRequest"]["properties"]["transactions"]
    assert (transactions["minItems"], transactions["maxItems"]) == (1, MAX_TRANSACTIONS)
    assert schemas["CategorizeResponse"]["examples"]
    assert schemas["CategorizeRequest"]["examples"]
