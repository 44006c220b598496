"""The model registry on disk: versions, lineage, promotion, atomic locked writes, refusals."""

from __future__ import annotations

import json
import os
import shutil
import threading
from pathlib import Path

import pandas as pd
import pytest

from categorizer.bundle import MANIFEST_FILE, TOKENIZER_FILE, file_sha256, load_bundle
from training.lifecycle.registry import (
    REGISTRY_FILE,
    DataRef,
    Registry,
    RegistryError,
    UnknownVersionError,
    Version,
)

pytest.importorskip("onnxruntime")


@pytest.fixture
def data_file(tmp_path: Path) -> Path:
    path = tmp_path / "labels.parquet"
    pd.DataFrame({"description": ["A", "B", "C"], "amount": [1.0, 2.0, 3.0]}).to_parquet(path)
    return path


@pytest.fixture
def registry(tmp_path: Path) -> Registry:
    return Registry.open(tmp_path / "models")


def test_open_creates_an_empty_registry(tmp_path: Path) -> None:
    root = tmp_path / "models"
    registry = Registry.open(root)
    assert json.loads((root / REGISTRY_FILE).read_text()) == {
        "format": "registry/1",
        "promoted": None,
        "versions": [],
    }
    assert registry.versions() == []
    assert registry.promoted() is None
    assert registry.promoted_bundle() is None
    assert Registry.open(root).versions() == []  # reopening keeps it


def test_register_two_versions_with_lineage(
    registry: Registry, tiny_bundle: Path, data_file: Path
) -> None:
    before = {p.name: file_sha256(p) for p in tiny_bundle.iterdir()}
    v1 = registry.register(
        tiny_bundle, parent=None, data=data_file, metrics={"accuracy": 0.9}, notes="first"
    )
    v2 = registry.register(tiny_bundle, parent="v1", data=None, metrics=None)

    assert (v1.version, v1.parent, v1.bundle) == ("v1", None, "v1")
    assert (v2.version, v2.parent, v2.data, v2.metrics, v2.notes) == ("v2", "v1", None, {}, "")
    assert v1.data == DataRef(str(data_file.resolve()), file_sha256(data_file), 3)
    assert v1.metrics == {"accuracy": 0.9}
    assert v1.manifest_sha256 == file_sha256(tiny_bundle / MANIFEST_FILE)
    assert registry.versions() == [v1, v2]
    assert registry.get("v2") == v2
    for version in (v1, v2):  # verified copies, and the source is untouched
        folder = registry.bundle_path(version)
        assert folder == (registry.root / version.bundle).resolve()
        assert load_bundle(folder) == load_bundle(tiny_bundle)
    assert {p.name: file_sha256(p) for p in tiny_bundle.iterdir()} == before
    stored = json.loads(registry.file.read_text())["versions"][0]
    assert stored["data"] == {"path": str(data_file.resolve()), "sha256": v1.data.sha256, "rows": 3}
    assert hash(v1) == hash(registry.get("v1"))  # frozen and hashable


def test_promote_and_promoted_bundle(registry: Registry, tiny_bundle: Path) -> None:
    registry.register(tiny_bundle, parent=None, data=None, metrics=None)
    registry.register(tiny_bundle, parent="v1", data=None, metrics=None)
    registry.promote("v2")
    assert registry.promoted() == registry.get("v2")
    assert registry.promoted_bundle() == (registry.root / "v2").resolve()
    assert Registry.open(registry.root).promoted_bundle() == registry.promoted_bundle()
    registry.promote("v1")  # rolling back is promoting the older one
    assert json.loads(registry.file.read_text())["promoted"] == "v1"


def test_unknown_versions_name_the_known_ones(registry: Registry, tiny_bundle: Path) -> None:
    registry.register(tiny_bundle, parent=None, data=None, metrics=None)
    registry.register(tiny_bundle, parent="v1", data=None, metrics=None)
    with pytest.raises(UnknownVersionError, match=r"'v7' \(known: v1, v2\)") as caught:
        registry.get("v7")
    assert isinstance(caught.value, KeyError)
    assert isinstance(caught.value, RegistryError)
    with pytest.raises(UnknownVersionError, match="known: v1, v2"):
        registry.promote("v9")
    with pytest.raises(UnknownVersionError, match="'v5'"):
        registry.register(tiny_bundle, parent="v5", data=None, metrics=None)
    assert [v.version for v in registry.versions()] == ["v1", "v2"]


def test_a_tampered_bundle_refuses_to_register(
    registry: Registry, tiny_bundle: Path, tmp_path: Path
) -> None:
    tampered = tmp_path / "tampered"
    shutil.copytree(tiny_bundle, tampered)
    with (tampered / TOKENIZER_FILE).open("a", encoding="utf-8") as f:
        f.write(" ")
    with pytest.raises(RegistryError, match=r"refusing to register.*sha256 mismatch"):
        registry.register(tampered, parent=None, data=None, metrics=None)
    with pytest.raises(RegistryError, match="does not exist"):
        registry.register(tmp_path / "nowhere", parent=None, data=None, metrics=None)
    assert registry.versions() == []
    assert sorted(p.name for p in registry.root.iterdir()) == [".registry.lock", REGISTRY_FILE]


def test_a_bundle_changed_in_the_registry_cannot_be_promoted(
    registry: Registry, tiny_bundle: Path
) -> None:
    version = registry.register(tiny_bundle, parent=None, data=None, metrics=None)
    manifest = registry.bundle_path(version) / MANIFEST_FILE
    data = json.loads(manifest.read_text())
    manifest.write_text(json.dumps({**data, "version": "99"}))  # still a valid bundle
    with pytest.raises(RegistryError, match="not the one registered as v1"):
        registry.promote("v1")
    assert registry.promoted() is None


def test_bad_metrics_and_data_are_refused(registry: Registry, tiny_bundle: Path) -> None:
    with pytest.raises(RegistryError, match="metrics: not JSON-ready"):
        registry.register(tiny_bundle, parent=None, data=None, metrics={"f": float("nan")})
    with pytest.raises(RegistryError, match="metrics: not JSON-ready"):
        registry.register(tiny_bundle, parent=None, data=None, metrics={"p": Path("x")})
    with pytest.raises(RegistryError, match=r"data file .*missing\.parquet does not exist"):
        registry.register(tiny_bundle, parent=None, data="missing.parquet", metrics=None)
    assert registry.versions() == []


def test_a_failed_write_leaves_the_previous_valid_registry(
    registry: Registry, tiny_bundle: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry.register(tiny_bundle, parent=None, data=None, metrics=None)
    before = registry.file.read_text()

    def crash(src: object, dst: object) -> None:
        raise OSError("disk gone")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk gone"):
        registry.promote("v1")
    monkeypatch.undo()
    assert registry.file.read_text() == before
    assert json.loads(before)["promoted"] is None
    leftovers = [p.name for p in registry.root.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []


def test_concurrent_registrations_get_distinct_versions(
    registry: Registry, tiny_bundle: Path
) -> None:
    errors: list[BaseException] = []

    def register() -> None:
        try:  # each thread opens its own registry, as another process would
            Registry.open(registry.root).register(tiny_bundle, parent=None, data=None, metrics={})
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=register) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    names = [v.version for v in registry.versions()]
    assert sorted(names) == ["v1", "v2", "v3", "v4"]
    assert all((registry.root / name).is_dir() for name in names)


def test_a_folder_left_by_a_crash_is_skipped(registry: Registry, tiny_bundle: Path) -> None:
    (registry.root / "v1").mkdir()  # a copy whose registration never completed
    version = registry.register(tiny_bundle, parent=None, data=None, metrics=None)
    assert version.version == "v2"


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("{not json", "is not valid JSON"),
        ('{"format": "other/1", "promoted": null, "versions": []}', "field 'format'"),
        ('["registry/1"]', "field 'format'"),
        ('{"format": "registry/1", "promoted": null, "versions": {}}', "field 'versions'"),
        ('{"format": "registry/1", "promoted": "v3", "versions": []}', "'v3' is not listed"),
        ('{"format": "registry/1", "promoted": null, "versions": [{"version": 1}]}', r"\[0\]"),
    ],
)
def test_a_corrupt_registry_names_the_file(tmp_path: Path, content: str, reason: str) -> None:
    root = tmp_path / "models"
    root.mkdir()
    (root / REGISTRY_FILE).write_text(content)
    with pytest.raises(RegistryError, match=reason) as caught:
        Registry.open(root)  # checks the whole file
    assert str(root / REGISTRY_FILE) in str(caught.value)


def test_version_round_trips_through_json() -> None:
    version = Version("v3", "v2", "2024-01-01T00:00:00+00:00", "v3", "ab" * 32)
    assert version.to_dict()["data"] is None
    assert version.to_dict()["metrics"] == {}
