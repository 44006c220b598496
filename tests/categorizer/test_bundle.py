"""The bundle contract: a real exported bundle loads; altered, incomplete or foreign ones do not."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from categorizer.bundle import (
    BUNDLE_FORMAT,
    BundleError,
    Manifest,
    file_sha256,
    load_bundle,
    write_manifest,
)
from categorizer.taxonomy import Taxonomy, default_taxonomy

pytest.importorskip("torch")


@pytest.fixture
def bundle(tiny_bundle: Path, tmp_path: Path) -> Path:
    """A private copy of the session's int8 bundle, free to damage."""
    return Path(shutil.copytree(tiny_bundle, tmp_path / "bundle"))


def _edit_manifest(folder: Path, **changes: Any) -> None:
    path = folder / "manifest.json"
    data = json.loads(path.read_text())
    for key, value in changes.items():
        if value is _DELETE:
            del data[key]
        else:
            data[key] = value
    path.write_text(json.dumps(data))


_DELETE = object()


def test_a_fresh_export_loads(tiny_bundle: Path) -> None:
    manifest = load_bundle(tiny_bundle, expected_taxonomy=default_taxonomy())
    assert manifest.format == BUNDLE_FORMAT
    assert manifest.quantization == "int8"
    assert manifest.labels == list(default_taxonomy().labels)
    assert manifest.parents is None
    assert manifest.onnx_inputs == ["input_ids", "attention_mask"]
    assert manifest.onnx_output == "logits"
    assert manifest.parity["fp32_agreement"] == 1.0
    assert manifest.parity["int8_agreement"] >= 0.995
    assert manifest.parity["rows"] > 0
    assert manifest.files["model.onnx"] == file_sha256(tiny_bundle / "model.onnx")
    assert manifest.metrics["agreement"] is not None
    assert manifest.created_at.endswith("Z")


def test_manifest_round_trips(tiny_bundle: Path, tmp_path: Path) -> None:
    manifest = load_bundle(tiny_bundle)
    assert Manifest.from_dict(manifest.to_dict()) == manifest
    write_manifest(tmp_path, manifest)
    assert Manifest.from_dict(json.loads((tmp_path / "manifest.json").read_text())) == manifest


def test_a_changed_model_is_refused(bundle: Path) -> None:
    with (bundle / "model.onnx").open("ab") as f:
        f.write(b"\0")
    with pytest.raises(BundleError, match=r"model\.onnx: sha256 mismatch") as err:
        load_bundle(bundle)
    assert str(bundle) in str(err.value)
    assert "re-export" in str(err.value)


@pytest.mark.parametrize("name", ["model.onnx", "tokenizer.json", "taxonomy.yaml", "manifest.json"])
def test_a_missing_file_is_refused(bundle: Path, name: str) -> None:
    (bundle / name).unlink()
    with pytest.raises(BundleError, match=re.escape(f"{name} is missing")):
        load_bundle(bundle)


def test_a_missing_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="does not exist"):
        load_bundle(tmp_path / "nope")


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("labels", 3, "'labels' must be a list of strings, got int"),
        ("max_length", "48", "'max_length' must be an integer, got str"),
        ("temperature", None, "'temperature' must be a number, got null"),
        ("parents", [0, 1], "'parents' must be null for a primary model"),
        ("quantization", "int4", "'quantization' must be one of"),
        ("files", {"model.onnx": "0" * 64}, "'files' does not list tokenizer.json"),
        ("files", {"../model.onnx": "0" * 64}, "not a plain file name"),
        ("onnx_inputs", ["ids"], "'onnx_inputs' must include 'input_ids'"),
        ("version", _DELETE, "'version' is missing"),
    ],
)
def test_a_bad_manifest_field_is_named(bundle: Path, field: str, value: Any, expected: str) -> None:
    _edit_manifest(bundle, **{field: value})
    with pytest.raises(BundleError, match=re.escape(expected)) as err:
        load_bundle(bundle)
    assert "manifest.json" in str(err.value)


def test_another_format_is_refused(bundle: Path) -> None:
    _edit_manifest(bundle, format="categorizer-bundle/99")
    with pytest.raises(BundleError, match="categorizer-bundle/99"):
        load_bundle(bundle)


def test_a_manifest_that_is_not_json_is_refused(bundle: Path) -> None:
    (bundle / "manifest.json").write_text("{not json")
    with pytest.raises(BundleError, match="not valid JSON"):
        load_bundle(bundle)


def _other_taxonomy() -> Taxonomy:
    data = default_taxonomy().to_dict()
    data["version"] = "2.0"
    return Taxonomy.from_dict(data)


def test_another_expected_taxonomy_is_refused(tiny_bundle: Path) -> None:
    with pytest.raises(BundleError, match="taxonomy"):
        load_bundle(tiny_bundle, expected_taxonomy=_other_taxonomy())


def test_a_swapped_taxonomy_file_is_refused(bundle: Path) -> None:
    """Another taxonomy.yaml with a matching sha256 still fails: the fingerprint differs."""
    _other_taxonomy().to_yaml(bundle / "taxonomy.yaml")
    files = json.loads((bundle / "manifest.json").read_text())["files"]
    files["taxonomy.yaml"] = file_sha256(bundle / "taxonomy.yaml")
    _edit_manifest(bundle, files=files)
    with pytest.raises(BundleError, match=r"taxonomy\.yaml is taxonomy"):
        load_bundle(bundle)


def test_labels_out_of_taxonomy_order_are_refused(bundle: Path) -> None:
    labels = list(reversed(default_taxonomy().labels))
    _edit_manifest(bundle, labels=labels, primary_labels=labels)
    with pytest.raises(BundleError, match="'primary_labels' differs"):
        load_bundle(bundle)


def test_loading_a_bundle_needs_no_torch(tiny_bundle: Path) -> None:
    code = (
        "import sys; from categorizer.bundle import load_bundle; "
        f"load_bundle({str(tiny_bundle)!r}); assert 'torch' not in sys.modules"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
