"""The model bundle: what `categorizer export` writes and serving loads.

A bundle is a folder of four files:

    model.onnx      the student (int8 or fp32), inputs named in the manifest, output "logits"
    tokenizer.json  the student's fast tokenizer, loadable by the plain `tokenizers` library
    taxonomy.yaml   the taxonomy the labels come from
    manifest.json   everything else: see `Manifest`

Loading (`load_bundle`) verifies the sha256 of every file the manifest lists, that the taxonomy
file is the one the model was exported with, and that the labels agree with it. This module
needs only the standard library and PyYAML (through `categorizer.taxonomy`): serving imports it
without torch. No pickle anywhere.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from categorizer.errors import InputError
from categorizer.taxonomy import Taxonomy, TaxonomyError, load_taxonomy

logger = logging.getLogger(__name__)

BUNDLE_FORMAT = "categorizer-bundle/1"
MODEL_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
TAXONOMY_FILE = "taxonomy.yaml"
MANIFEST_FILE = "manifest.json"
HASHED_FILES = (MODEL_FILE, TOKENIZER_FILE, TAXONOMY_FILE)
"""The files whose sha256 the manifest records (all but the manifest itself)."""
QUANTIZATIONS = ("int8", "none")
LABEL_LEVELS = ("primary", "detailed")

_FIX = "re-export the run with `categorizer export --run RUN_DIR --out BUNDLE_DIR`"
_CHUNK = 1 << 20


class BundleError(InputError):
    """A bundle folder is missing, incomplete, altered, or inconsistent with its taxonomy."""


@dataclass(frozen=True)
class Manifest:
    """The contents of a bundle's manifest.json.

    Attributes:
        format: Always `BUNDLE_FORMAT`.
        name: Model name (default: the run directory's name).
        version: Model version, e.g. "1".
        created_at: When it was exported, ISO 8601 UTC.
        base_model: The student spec it was trained from (e.g. "minilm", "scratch:L4-H256").
        pooling: "mean" or "cls".
        quantization: "int8" or "none".
        label_level: "primary" or "detailed".
        labels: The model's output labels in logit order.
        primary_labels: The taxonomy's primary labels in order.
        parents: For a detailed model, each label's index in primary_labels; None otherwise.
        taxonomy: The taxonomy fingerprint {"name", "version", "hash"}.
        text_format_version: Version of `categorizer.text.to_model_text` the model was trained on.
        max_length: Tokens per text, special tokens included (truncate to this).
        temperature: Calibration temperature: probabilities are softmax(logits / temperature).
        metrics: The run's test metrics at export.
        parity: {"fp32_agreement", "fp32_max_abs_diff", "int8_agreement", "rows"}: ONNX versus
            torch on the validation split (int8_agreement is None for an fp32 bundle).
        files: File name → sha256 hex of model.onnx, tokenizer.json and taxonomy.yaml.
        onnx_inputs: The graph's input names (feed zeros for "token_type_ids").
        onnx_output: The graph's output name ("logits").
    """

    format: str
    name: str
    version: str
    created_at: str
    base_model: str
    pooling: str
    quantization: str
    label_level: str
    labels: list[str]
    primary_labels: list[str]
    parents: list[int] | None
    taxonomy: dict[str, Any]
    text_format_version: str
    max_length: int
    temperature: float
    metrics: dict[str, Any]
    parity: dict[str, Any]
    files: dict[str, str]
    onnx_inputs: list[str]
    onnx_output: str

    def to_dict(self) -> dict[str, Any]:
        """The manifest as JSON-ready plain data (fields in declaration order)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Any, source: str = MANIFEST_FILE) -> Manifest:
        """Build a manifest from parsed JSON, checking every field's type.

        Args:
            data: The parsed manifest.json.
            source: Names the file in error messages.

        Raises:
            BundleError: Not an object, a field missing, or a field of the wrong type or value;
                the message names the field.
        """
        if not isinstance(data, dict):
            raise BundleError(f"{source}: expected a JSON object, got {_kind(data)}; {_FIX}")
        values: dict[str, Any] = {}
        for field in dataclasses.fields(cls):
            if field.name not in data:
                raise BundleError(f"{source}: field {field.name!r} is missing; {_FIX}")
            values[field.name] = _check_field(source, field.name, data[field.name])
        unknown = sorted(set(data) - set(values))
        if unknown:
            logger.debug("%s: ignoring unknown fields %s", source, unknown)
        manifest = cls(**values)
        manifest._check_values(source)
        return manifest

    def _check_values(self, source: str) -> None:
        """Cross-field checks that types alone do not catch."""
        if self.quantization not in QUANTIZATIONS:
            reason = f"must be one of {QUANTIZATIONS}, got {self.quantization!r}"
            _bad(source, "quantization", reason)
        if self.label_level not in LABEL_LEVELS:
            _bad(source, "label_level", f"must be one of {LABEL_LEVELS}, got {self.label_level!r}")
        if not self.labels or len(set(self.labels)) != len(self.labels):
            _bad(source, "labels", "must be a non-empty list of distinct labels")
        if self.max_length < 2:
            _bad(source, "max_length", f"must be at least 2, got {self.max_length}")
        if not self.temperature > 0:
            _bad(source, "temperature", f"must be positive, got {self.temperature}")
        if self.label_level == "detailed":
            if self.parents is None or len(self.parents) != len(self.labels):
                _bad(source, "parents", "a detailed model needs one parent index per label")
            elif not all(0 <= p < len(self.primary_labels) for p in self.parents):
                _bad(source, "parents", "indices must point into primary_labels")
        elif self.parents is not None:
            _bad(source, "parents", "must be null for a primary model")
        for name in self.files:
            if Path(name).name != name or name in ("", ".", ".."):
                _bad(source, "files", f"{name!r} is not a plain file name")
        missing = [f for f in HASHED_FILES if f not in self.files]
        if missing:
            _bad(source, "files", f"does not list {', '.join(missing)}")
        if "input_ids" not in self.onnx_inputs:
            _bad(source, "onnx_inputs", f"must include 'input_ids', got {self.onnx_inputs}")


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _bad(source: str, field: str, reason: str) -> None:
    raise BundleError(f"{source}: field {field!r} {reason}; {_FIX}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


_STR_FIELDS = {
    "format", "name", "version", "created_at", "base_model", "pooling", "quantization",
    "label_level", "text_format_version", "onnx_output",
}  # fmt: skip
_DICT_FIELDS = {"taxonomy", "metrics", "parity"}


def _check_field(source: str, name: str, value: Any) -> Any:
    """`value` if it has the field's type (ints accepted for floats), else BundleError."""
    if name in _STR_FIELDS:
        ok, want = isinstance(value, str), "a string"
    elif name in _DICT_FIELDS:
        ok, want = isinstance(value, dict), "an object"
    elif name in ("labels", "primary_labels", "onnx_inputs"):
        ok, want = _is_str_list(value), "a list of strings"
    elif name == "parents":
        ok = value is None or (isinstance(value, list) and all(_is_int(v) for v in value))
        want = "null or a list of integers"
    elif name == "max_length":
        ok, want = _is_int(value), "an integer"
    elif name == "temperature":
        ok, want = _is_int(value) or isinstance(value, float), "a number"
        value = float(value) if ok else value
    elif name == "files":
        ok = isinstance(value, dict) and all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        )
        want = "an object of file name → sha256"
    else:  # pragma: no cover - every field is listed above
        raise AssertionError(name)
    if not ok:
        _bad(source, name, f"must be {want}, got {_kind(value)}")
    return value


def file_sha256(path: str | Path) -> str:
    """The sha256 hex digest of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def write_manifest(folder: str | Path, manifest: Manifest) -> Path:
    """Write `manifest` as FOLDER/manifest.json (computes nothing) and return its path."""
    path = Path(folder) / MANIFEST_FILE
    text = json.dumps(manifest.to_dict(), indent=2, ensure_ascii=False) + "\n"
    path.write_text(text, encoding="utf-8")
    return path


def load_bundle(folder: str | Path, expected_taxonomy: Taxonomy | None = None) -> Manifest:
    """Read and verify a bundle folder.

    Args:
        folder: The bundle folder (`categorizer export --out`).
        expected_taxonomy: When given, the bundle must have been exported with this taxonomy.

    Returns:
        The verified manifest.

    Raises:
        BundleError: The folder or a file is missing, manifest.json is unreadable or has a bad
            field, a file's sha256 differs from the manifest's (changed after export), the
            taxonomy file or labels do not match the manifest, or the taxonomy is not
            `expected_taxonomy`. The message names the bundle folder and the file or field.
    """
    folder = Path(folder)
    label = f"bundle {folder}"
    if not folder.is_dir():
        state = "is a file, not a folder" if folder.exists() else "does not exist"
        raise BundleError(f"{label} {state}; pass the folder written by `categorizer export`")
    manifest = _read_manifest(folder, label)
    _verify_files(folder, label, manifest)
    taxonomy = _load_taxonomy(folder, label, manifest)
    _check_labels(label, manifest, taxonomy)
    if expected_taxonomy is not None:
        try:
            expected_taxonomy.check_compatible(manifest.taxonomy, label)
        except TaxonomyError as err:
            raise BundleError(str(err)) from None
    return manifest


def load_bundle_taxonomy(folder: str | Path) -> Taxonomy:
    """The taxonomy of a bundle (call `load_bundle` first: this does not verify hashes)."""
    path = Path(folder) / TAXONOMY_FILE
    try:
        return load_taxonomy(path)
    except TaxonomyError as err:
        raise BundleError(f"bundle {folder}: {TAXONOMY_FILE}: {err}; {_FIX}") from None


def _read_manifest(folder: Path, label: str) -> Manifest:
    path = folder / MANIFEST_FILE
    if not path.is_file():
        raise BundleError(f"{label}: {MANIFEST_FILE} is missing; {_FIX}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise BundleError(f"{label}: {MANIFEST_FILE} is not valid JSON ({err}); {_FIX}") from None
    if isinstance(data, dict) and data.get("format") != BUNDLE_FORMAT:
        raise BundleError(
            f"{label}: {MANIFEST_FILE}: field 'format' is {data.get('format')!r}, this version "
            f"reads {BUNDLE_FORMAT!r}; {_FIX} using this version of the categorizer"
        )
    return Manifest.from_dict(data, source=f"{label}: {MANIFEST_FILE}")


def _verify_files(folder: Path, label: str, manifest: Manifest) -> None:
    for name, expected in manifest.files.items():
        path = folder / name
        if not path.is_file():
            raise BundleError(f"{label}: {name} is missing (listed in {MANIFEST_FILE}); {_FIX}")
        actual = file_sha256(path)
        if actual != expected:
            raise BundleError(
                f"{label}: {name}: sha256 mismatch (expected {expected}, got {actual}): the file "
                f"was changed after export; {_FIX}"
            )


def _load_taxonomy(folder: Path, label: str, manifest: Manifest) -> Taxonomy:
    taxonomy = load_bundle_taxonomy(folder)
    if taxonomy.fingerprint() != manifest.taxonomy:
        raise BundleError(
            f"{label}: {TAXONOMY_FILE} is taxonomy {taxonomy.fingerprint()}, but "
            f"{MANIFEST_FILE} field 'taxonomy' records {manifest.taxonomy}; {_FIX}"
        )
    return taxonomy


def _check_labels(label: str, manifest: Manifest, taxonomy: Taxonomy) -> None:
    where = f"{label}: {MANIFEST_FILE}"
    if manifest.primary_labels != list(taxonomy.labels):
        _bad(where, "primary_labels", f"differs from the primary labels of {TAXONOMY_FILE}")
    if manifest.label_level == "primary":
        if manifest.labels != manifest.primary_labels:
            _bad(where, "labels", "of a primary model must equal primary_labels")
        return
    known = set(taxonomy.detailed_labels)
    unknown = [x for x in manifest.labels if x not in known]
    if unknown:
        _bad(where, "labels", f"has labels not in {TAXONOMY_FILE}: {unknown[:5]}")
    assert manifest.parents is not None  # checked by from_dict
    for i, detailed in enumerate(manifest.labels):
        parent = taxonomy.get(detailed).parent
        if manifest.primary_labels[manifest.parents[i]] != parent:
            _bad(where, "parents", f"entry {i} ({detailed!r}) does not point at {parent!r}")
