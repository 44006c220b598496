"""Serving from a model registry: the promoted version is served, and a newly promoted one is
swapped in by the running server (a real uvicorn on 127.0.0.1)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from categorizer.registry_file import RegistryError
from serving.registry_watch import promoted_bundle, resolve_bundle
from serving.settings import Settings

pytest.importorskip("torch")  # the registry writer lives in training

from training.lifecycle.registry import Registry


def test_promoted_bundle_follows_the_registry(tiny_bundle: Path, tmp_path: Path) -> None:
    registry = Registry.open(tmp_path / "models")
    assert promoted_bundle(registry.root) is None
    v1 = registry.register(tiny_bundle, parent=None, data=None, metrics=None)
    assert promoted_bundle(registry.root) is None  # registered is not promoted
    registry.promote(v1.version)
    assert promoted_bundle(registry.root) == registry.promoted_bundle()
    settings = resolve_bundle(Settings(registry=registry.root))
    assert settings.bundle == registry.promoted_bundle()


def test_unreadable_registries_are_named(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match=r"registry\.json"):
        promoted_bundle(tmp_path)
    (tmp_path / "registry.json").write_text(
        json.dumps({"format": "registry/1", "promoted": "v9", "versions": []})
    )
    with pytest.raises(RegistryError, match="'v9' is not among its versions"):
        promoted_bundle(tmp_path)
    (tmp_path / "registry.json").write_text(
        json.dumps({"format": "registry/1", "promoted": None, "versions": []})
    )
    with pytest.raises(ValueError, match="no promoted version yet"):
        resolve_bundle(Settings(registry=tmp_path))


def test_a_running_server_loads_the_next_promoted_version(
    serve: Any, tiny_bundle: Path, bundle_v2: Path, tmp_path: Path
) -> None:
    registry = Registry.open(tmp_path / "models")
    registry.promote(registry.register(tiny_bundle, parent=None, data=None, metrics=None).version)
    with serve(registry=registry.root, registry_poll_s=0.1) as live:
        assert httpx.get(f"{live.url}/v1/model").json()["version"] != "2"
        v2 = registry.register(bundle_v2, parent="v1", data=None, metrics=None)
        registry.promote(v2.version)
        deadline = time.monotonic() + 30
        while httpx.get(f"{live.url}/v1/model").json()["version"] != "2":
            assert time.monotonic() < deadline, "the promoted version was not loaded"
            time.sleep(0.1)
        body = {"transactions": [{"description": "UBER TRIP", "amount": -12.5}]}
        assert httpx.post(f"{live.url}/v1/categorize", json=body).status_code == 200
