"""Back-pressure on a real server: a saturated queue answers 503 with Retry-After, not 5xx."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx

CONCURRENCY = 48
BODY = {"transactions": [{"description": f"MERCHANT {i} STORE #{i}"} for i in range(20)]}


async def fire(url: str) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as http:
        return await asyncio.gather(
            *(http.post("/v1/categorize", json=BODY) for _ in range(CONCURRENCY))
        )


def test_a_full_queue_answers_503_with_retry_after(serve: Any, tiny_bundle: Path) -> None:
    with serve(bundle=tiny_bundle, max_queue=1, retry_after_s=2) as live:
        responses = asyncio.run(fire(live.url))
        metrics = httpx.get(f"{live.url}/metrics", timeout=30).text
        after = httpx.post(f"{live.url}/v1/categorize", json=BODY, timeout=30)
    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {200, 503}, statuses
    refused = [r for r in responses if r.status_code == 503]
    assert refused, "the queue never filled"
    assert 200 in statuses
    assert all(r.headers["retry-after"] == "2" for r in refused)
    assert all("capacity" in r.json()["detail"] for r in refused)
    assert f"categorizer_queue_rejections_total {float(len(refused))}" in metrics
    assert after.status_code == 200  # recovers once the burst is over
