"""Hot reload on a real server under continuous load: no failed request, the version changes."""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

BODY = {"transactions": [{"description": "POS PURCHASE STARBUCKS #1234"}, {"description": "X"}]}


class Load:
    """Threads that send requests until stopped, tallying model versions and failures."""

    def __init__(self, url: str, threads: int = 3) -> None:
        self.url = url
        self.versions: Counter[str] = Counter()
        self.failures: list[str] = []
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.run, daemon=True) for _ in range(threads)]

    def run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as http:
            while not self.stop.is_set():
                try:
                    response = http.post("/v1/categorize", json=BODY)
                except httpx.HTTPError as exc:
                    outcome = f"error: {exc!r}"
                else:
                    ok = response.status_code == 200
                    outcome = response.json()["model"]["version"] if ok else response.text
                with self.lock:
                    if outcome in ("1", "2"):
                        self.versions[outcome] += 1
                    else:
                        self.failures.append(outcome)

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)

    def wait_for(self, version: str, count: int = 20, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while self.versions[version] < count and time.monotonic() < deadline:
            time.sleep(0.01)


def test_reload_under_load_drops_nothing(serve: Any, tiny_bundle: Path, bundle_v2: Path) -> None:
    with serve(bundle=tiny_bundle, batch_window_ms=1) as live, Load(live.url) as load:
        load.wait_for("1")
        response = httpx.post(
            f"{live.url}/v1/admin/reload", json={"bundle": str(bundle_v2)}, timeout=60
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["previous"]["version"], body["model"]["version"]) == ("1", "2")
        load.wait_for("2")
        model = httpx.get(f"{live.url}/v1/model", timeout=30).json()
        metrics = httpx.get(f"{live.url}/metrics", timeout=30).text
    assert load.failures == []
    assert load.versions["1"] >= 20
    assert load.versions["2"] >= 20
    assert model["version"] == "2"
    assert 'categorizer_model_info{base_model="scratch:' in metrics
    assert 'version="2"' in metrics
    assert 'version="1"' not in metrics
    assert 'categorizer_model_reloads_total{outcome="ok"} 1.0' in metrics


def test_a_failed_reload_keeps_the_current_model(serve: Any, tiny_bundle: Path) -> None:
    with serve(bundle=tiny_bundle) as live, httpx.Client(base_url=live.url, timeout=60) as http:
        missing = http.post("/v1/admin/reload", json={"bundle": "/no/such/bundle"})
        assert missing.status_code == 404
        assert "still serving" in missing.json()["detail"]
        broken = http.post("/v1/admin/reload", json={"bundle": str(tiny_bundle.parent)})
        assert broken.status_code == 400  # a folder, but not a bundle
        assert "still serving" in broken.json()["detail"]
        assert http.post("/v1/admin/reload", json={"bundel": "x"}).status_code == 422
        again = http.post("/v1/admin/reload")  # no body: the same bundle, re-read
        assert again.status_code == 200
        assert http.post("/v1/categorize", json=BODY).status_code == 200
        metrics = http.get("/metrics").text
    assert 'categorizer_model_reloads_total{outcome="failed"} 2.0' in metrics
    assert 'categorizer_model_reloads_total{outcome="ok"} 1.0' in metrics
