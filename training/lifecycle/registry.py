"""A model registry on disk: versioned copies of bundles, their lineage, and the promoted one.

A registry is a folder:

    models/
      registry.json   {"format": "registry/1", "promoted": "v2", "versions": [...]}
      v1/             a verified copy of a bundle (`categorizer export --out`)
      v2/
      .registry.lock  held (fcntl.flock) while registry.json is read, changed and written

Each version records its parent (the version it was retrained from), when it was registered,
the sha256 of its manifest.json, the training data's path, sha256 and row count, the figures of
the gate that let it in (free-form) and notes. Bundles are copied in, so the registry never
depends on the run folder they came from; a copy is verified (`load_bundle`) before it is
registered and again before it is promoted.

Writes are atomic (a temp file, fsynced, then `os.replace`) and every read-modify-write holds
the lock file, so two processes registering at once get two versions and an intact file; a
process killed mid-write leaves the previous registry.json. Readers need no lock: they see
either the old file or the new one.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from categorizer.bundle import MANIFEST_FILE, BundleError, file_sha256, load_bundle
from categorizer.ingest.errors import DataError
from categorizer.registry_file import (
    REGISTRY_FILE,
    REGISTRY_FORMAT,
    RegistryError,
    read_registry,
)

LOCK_FILE = ".registry.lock"
_VERSION_RE = re.compile(r"v([1-9][0-9]*)")
_FIX = "restore it from a backup, or move the folder aside and register the bundles again"


class UnknownVersionError(RegistryError, KeyError):
    """A version name the registry does not hold (also a ``KeyError``)."""

    __str__ = ValueError.__str__  # KeyError would quote the whole message


@dataclass(frozen=True)
class DataRef:
    """The training data a version was trained on.

    Attributes:
        path: The data file, as an absolute path when registered.
        sha256: Its sha256 hex digest.
        rows: Its row count (Parquet and JSONL: exact; CSV: lines after the header).
    """

    path: str
    sha256: str
    rows: int


@dataclass(frozen=True)
class Version:
    """One registered model version.

    Attributes:
        version: Its name, "v1", "v2", ... in registration order.
        parent: The version it was retrained from (None for a first model).
        created: When it was registered, ISO 8601 UTC.
        bundle: Its bundle folder, relative to the registry folder.
        manifest_sha256: sha256 of the bundle's manifest.json (which hashes the other files).
        data: The training data, when it was given.
        metrics: Free-form figures (the gate's), JSON-ready.
        notes: Free text.
    """

    version: str
    parent: str | None
    created: str
    bundle: str
    manifest_sha256: str
    data: DataRef | None = None
    metrics: dict[str, Any] = field(default_factory=dict, hash=False)
    notes: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The version as registry.json stores it."""
        data = None if self.data is None else vars(self.data).copy()
        return {
            "version": self.version,
            "parent": self.parent,
            "created": self.created,
            "bundle": self.bundle,
            "manifest_sha256": self.manifest_sha256,
            "data": data,
            "metrics": self.metrics,
            "notes": self.notes,
        }


class Registry:
    """A registry folder. Every method reads registry.json afresh: other processes may write it.

    Build one with `Registry.open`.
    """

    def __init__(self, root: Path) -> None:
        """Use the registry at `root` (call `Registry.open`, which creates and checks it)."""
        self.root = root
        self.file = root / REGISTRY_FILE

    @classmethod
    def open(cls, root: str | Path) -> Registry:
        """Open the registry folder `root`, creating an empty registry when it has none.

        Raises:
            RegistryError: registry.json exists but is not a valid registry (names the file).
        """
        registry = cls(Path(root))
        registry.root.mkdir(parents=True, exist_ok=True)
        with registry._locked():
            if not registry.file.exists():
                registry._write({"format": REGISTRY_FORMAT, "promoted": None, "versions": []})
        registry.versions()  # checks the whole file now rather than at first use
        return registry

    # -- reading ------------------------------------------------------------------------------

    def versions(self) -> list[Version]:
        """Every version, in registration order."""
        return _parse_versions(self._read(), self.file)

    def get(self, version: str) -> Version:
        """The version named `version`.

        Raises:
            UnknownVersionError: No such version (the message lists the known ones).
        """
        return self._find(self.versions(), version)

    def promoted(self) -> Version | None:
        """The promoted version (the one to serve), or None before any promotion."""
        state = self._read()
        name = state["promoted"]
        return None if name is None else self._find(_parse_versions(state, self.file), name)

    def promoted_bundle(self) -> Path | None:
        """The bundle folder of the promoted version, or None before any promotion."""
        version = self.promoted()
        return None if version is None else self.bundle_path(version)

    def bundle_path(self, version: Version) -> Path:
        """The absolute bundle folder of `version`."""
        return (self.root / version.bundle).resolve()

    # -- changing -----------------------------------------------------------------------------

    def register(
        self,
        bundle: str | Path,
        *,
        parent: str | None,
        data: str | Path | None,
        metrics: Mapping[str, Any] | None,
        notes: str = "",
    ) -> Version:
        """Verify a bundle, copy it into the registry as the next version and record it.

        Args:
            bundle: The bundle folder (left untouched).
            parent: The registered version it was retrained from, or None.
            data: The training data file, hashed and counted; or None.
            metrics: JSON-ready figures to keep with it (the gate's), or None.
            notes: Free text.

        Returns:
            The new version.

        Raises:
            RegistryError: The bundle fails verification (missing, altered, inconsistent), the
                parent is unknown, the data file cannot be read, or `metrics` is not JSON.
        """
        source = Path(bundle)
        _verify_bundle(source, "register")
        figures = _json_ready(metrics)
        data_ref = _data_ref(Path(data)) if data is not None else None  # before the lock: slow
        with self._locked():
            state = self._read()
            versions = _parse_versions(state, self.file)
            if parent is not None:
                self._find(versions, parent)
            name = self._next_name(versions)
            folder = self._copy_in(source, name)
            new = Version(
                version=name,
                parent=parent,
                created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                bundle=name,
                manifest_sha256=file_sha256(folder / MANIFEST_FILE),
                data=data_ref,
                metrics=figures,
                notes=notes,
            )
            state["versions"].append(new.to_dict())
            self._write(state)
        return new

    def promote(self, version: str) -> None:
        """Make `version` the promoted one, after checking its bundle is intact.

        Raises:
            UnknownVersionError: No such version.
            RegistryError: Its bundle folder fails verification or is not the one registered.
        """
        with self._locked():
            state = self._read()
            chosen = self._find(_parse_versions(state, self.file), version)
            folder = self.bundle_path(chosen)
            _verify_bundle(folder, f"promote {version}")
            if file_sha256(folder / MANIFEST_FILE) != chosen.manifest_sha256:
                raise RegistryError(
                    f"{folder}: {MANIFEST_FILE} is not the one registered as {version} "
                    "(it was changed afterwards); register the bundle again as a new version"
                )
            state["promoted"] = version
            self._write(state)

    # -- internals ----------------------------------------------------------------------------

    def _find(self, versions: list[Version], name: str) -> Version:
        for version in versions:
            if version.version == name:
                return version
        known = ", ".join(v.version for v in versions) or "none yet"
        raise UnknownVersionError(f"registry {self.root}: no version {name!r} (known: {known})")

    def _next_name(self, versions: list[Version]) -> str:
        """One past the highest version, skipping folders a crashed `register` left behind."""
        numbers = [int(m.group(1)) for v in versions if (m := _VERSION_RE.fullmatch(v.version))]
        number = max(numbers, default=0) + 1
        while (self.root / f"v{number}").exists():
            number += 1
        return f"v{number}"

    def _copy_in(self, source: Path, name: str) -> Path:
        """Copy the bundle to a temp folder, verify the copy, then rename it into place."""
        staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=self.root))
        try:
            shutil.copytree(source, staging, dirs_exist_ok=True)
            _verify_bundle(staging, "register (the copy differs)")
            target = self.root / name
            os.replace(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return target

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Hold the registry's lock file exclusively (blocks while another process holds it)."""
        with (self.root / LOCK_FILE).open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _read(self) -> dict[str, Any]:
        """registry.json, checked for shape (not each version: `_parse_versions` does that)."""
        return read_registry(self.root)

    def _write(self, state: dict[str, Any]) -> None:
        """Replace registry.json atomically: a temp file in the same folder, fsynced, renamed."""
        text = json.dumps(state, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
        fd, temp = tempfile.mkstemp(prefix=".registry-", suffix=".json.tmp", dir=self.root)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.replace(temp, self.file)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
            raise
        _fsync_folder(self.root)


def _fsync_folder(folder: Path) -> None:
    """Make a rename in `folder` durable (a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _parse_versions(state: dict[str, Any], source: Path) -> list[Version]:
    """The `Version`s of a registry.json's contents; RegistryError naming the bad entry."""
    versions = []
    for i, entry in enumerate(state["versions"]):
        try:
            data = entry["data"]
            versions.append(
                Version(
                    version=_typed(entry["version"], str),
                    parent=_typed(entry["parent"], str, optional=True),
                    created=_typed(entry["created"], str),
                    bundle=_typed(entry["bundle"], str),
                    manifest_sha256=_typed(entry["manifest_sha256"], str),
                    data=None if data is None else DataRef(**_typed(data, dict)),
                    metrics=_typed(entry.get("metrics") or {}, dict),
                    notes=_typed(entry.get("notes", ""), str),
                )
            )
        except (KeyError, TypeError) as exc:
            raise RegistryError(f"{source}: versions[{i}] is malformed ({exc}); {_FIX}") from None
    names = [v.version for v in versions]
    promoted = state["promoted"]
    if promoted is not None and promoted not in names:
        raise RegistryError(f"{source}: promoted version {promoted!r} is not listed; {_FIX}")
    return versions


def _typed(value: Any, kind: type, *, optional: bool = False) -> Any:
    if (value is None and optional) or isinstance(value, kind):
        return value
    raise TypeError(f"expected {kind.__name__}, got {type(value).__name__}")


def _verify_bundle(folder: Path, action: str) -> None:
    """RegistryError saying `action` is refused unless `folder` is an intact bundle."""
    try:
        load_bundle(folder)
    except BundleError as exc:
        raise RegistryError(f"refusing to {action}: {exc}") from exc


def _json_ready(metrics: Mapping[str, Any] | None) -> dict[str, Any]:
    """`metrics` as a plain dict, checked to survive a JSON round trip."""
    figures = dict(metrics or {})
    try:
        json.dumps(figures, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise RegistryError(
            f"metrics: not JSON-ready ({exc}); pass numbers, strings, lists and dicts only "
            "(NaN and infinities: as null or text)"
        ) from None
    return figures


def _data_ref(path: Path) -> DataRef:
    """Hash and count a training data file (CSV, JSONL or Parquet)."""
    from categorizer.ingest.file_chunks import open_chunks  # pyarrow: only when data is given

    if not path.is_file():
        raise RegistryError(f"data file {path} does not exist; pass the training data file")
    try:
        _, rows = open_chunks(path, None, 1)
    except DataError as exc:
        raise RegistryError(f"data file: {exc}") from exc
    return DataRef(path=str(path.resolve()), sha256=file_sha256(path), rows=int(rows or 0))
