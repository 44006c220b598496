"""Bearer keys on a real server: /v1 needs one of the keys, the probes never do."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

KEYS = ("key-one", "key-two")
BODY = {"transactions": [{"description": "NETFLIX.COM", "amount": -15.49}]}


@pytest.fixture(scope="module")
def client(serve: Any, tiny_bundle: Path) -> Iterator[httpx.Client]:
    with (
        serve(bundle=tiny_bundle, api_keys=",".join(KEYS)) as live,
        httpx.Client(base_url=live.url, timeout=30) as http,
    ):
        yield http


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": "Bearer key-one-and-more"},
        {"Authorization": "Basic a2V5LW9uZTo="},
        {"Authorization": "key-one"},
        {"Authorization": "Bearer  x"},
    ],
)
def test_without_a_valid_key_it_is_401(client: httpx.Client, headers: dict[str, str]) -> None:
    response = client.post("/v1/categorize", json=BODY, headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert "bearer key" in response.json()["detail"]


@pytest.mark.parametrize("key", KEYS)
def test_every_configured_key_is_accepted(client: httpx.Client, key: str) -> None:
    headers = {"Authorization": f"Bearer {key}"}
    assert client.post("/v1/categorize", json=BODY, headers=headers).status_code == 200
    assert client.get("/v1/model", headers=headers).status_code == 200


def test_the_other_v1_routes_need_a_key_too(client: httpx.Client) -> None:
    assert client.get("/v1/model").status_code == 401
    assert client.get("/v1/categories").status_code == 401
    assert client.post("/v1/admin/reload").status_code == 401


def test_auth_is_checked_before_the_body(client: httpx.Client) -> None:
    response = client.post("/v1/categorize", json={"transactions": [{"amount": "x"}] * 5000})
    assert response.status_code == 401


def test_probes_and_docs_are_open(client: httpx.Client) -> None:
    for path in ("/healthz", "/readyz", "/metrics", "/openapi.json"):
        assert client.get(path).status_code == 200, path


def test_without_keys_the_service_is_open(serve: Any, tiny_bundle: Path) -> None:
    with serve(bundle=tiny_bundle) as live:
        response = httpx.post(f"{live.url}/v1/categorize", json=BODY, timeout=30)
    assert response.status_code == 200
