"""A crash-safe on-disk cache of teacher answers: SQLite in WAL mode.

Every teacher call is keyed by (teacher id, prompt version, input text) hashed together, so a
rerun, a resumed run or a run on an overlapping file pays nothing twice. `LabelCache.put_many`
commits one transaction per batch before it returns: a process killed with SIGKILL at any moment
loses at most the batch that was in flight, and a committed batch is never asked for again.
Failed results are not cached, so a rerun retries them.

WAL with ``synchronous=NORMAL`` survives the death of the process (what this cache is for); a
power cut may lose the last few commits, which a rerun then pays for again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType

from categorizer.ingest.data import DataError
from training.labeling.teachers.base import TeacherResult

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
_CHUNK = 500  # keys per SELECT: well under SQLite's bound-parameter limit
_SCHEMA = """
CREATE TABLE IF NOT EXISTS labels (
    key TEXT PRIMARY KEY,
    teacher TEXT NOT NULL,
    prompt_version TEXT NOT NULL,
    result TEXT NOT NULL,
    created REAL NOT NULL
)
"""


def cache_key(teacher_id: str, prompt_version: str, text: str) -> str:
    """Hash what determines a teacher's answer into a cache key.

    Args:
        teacher_id: e.g. ``"hf:smollm2"``.
        prompt_version: e.g. ``"1/tax-0a1b2c3d"``.
        text: the transaction's model input text (plus anything else the answer depends on).

    Returns:
        A sha256 hex digest; the three parts are length-prefixed so that no two different
        triples collide by concatenation.
    """
    digest = hashlib.sha256()
    for part in (teacher_id, prompt_version, text):
        data = part.encode("utf-8")
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)
    return digest.hexdigest()


def _dumps(result: TeacherResult) -> str:
    """`TeacherResult.to_json` without `dataclasses.asdict`'s deep copies (5× faster)."""
    try:
        return json.dumps(vars(result), separators=(",", ":"))
    except TypeError:  # slots, or a field json cannot write as it stands
        return result.to_json()


class LabelCache:
    """Teacher answers by cache key, in one SQLite file.

    Args:
        path: the database file; created (with its folder) when missing.
        timeout: seconds to wait for another process's write lock.

    Raises:
        DataError: the file exists but is not a label cache.
    """

    def __init__(self, path: str | Path, *, timeout: float = 30.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn: sqlite3.Connection | None = None
        try:
            conn = sqlite3.connect(self.path, timeout=timeout, isolation_level=None)
            self._conn = conn
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise DataError(
                    self.path,
                    f"label cache schema version {version} is newer than this program's "
                    f"({SCHEMA_VERSION}); upgrade txn-categorizer or use another --cache file",
                )
            conn.execute(_SCHEMA)
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            conn.execute("SELECT key, teacher, prompt_version, result, created FROM labels LIMIT 0")
        except sqlite3.DatabaseError as exc:
            self.close()
            raise DataError(self.path, f"not a usable label cache (SQLite): {exc}") from None
        except DataError:
            self.close()
            raise

    @property
    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError(f"label cache {self.path} is closed")
        return self._conn

    def get_many(self, keys: Iterable[str]) -> dict[str, TeacherResult]:
        """Look up keys; missing ones are absent from the answer.

        A stored entry that no longer parses is treated as missing (and logged).
        """
        unique = list(dict.fromkeys(keys))
        found: dict[str, TeacherResult] = {}
        for start in range(0, len(unique), _CHUNK):
            chunk = unique[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                f"SELECT key, result FROM labels WHERE key IN ({marks})", chunk
            ).fetchall()
            for key, text in rows:
                try:
                    found[key] = TeacherResult.from_json(text)
                except (ValueError, TypeError) as exc:
                    logger.warning("ignoring unreadable cache entry %s…: %s", key[:12], exc)
        return found

    def put_many(
        self,
        items: Mapping[str, TeacherResult] | Iterable[tuple[str, TeacherResult]],
        *,
        teacher: str = "",
        prompt_version: str = "",
    ) -> int:
        """Store a batch of answers in one transaction, committed before returning.

        Args:
            items: key → result (a mapping or pairs); failed results are skipped.
            teacher: the teacher id, stored beside each entry for inspection.
            prompt_version: the prompt version, likewise.

        Returns:
            How many entries were written.
        """
        pairs: Sequence[tuple[str, TeacherResult]] = list(
            items.items() if isinstance(items, Mapping) else items
        )
        now = time.time()
        rows = [
            (key, teacher, prompt_version, _dumps(result), now)
            for key, result in pairs
            if not result.failed
        ]
        if not rows:
            return 0
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany(
                "INSERT OR REPLACE INTO labels (key, teacher, prompt_version, result, created) "
                "VALUES (?, ?, ?, ?, ?)",
                rows,
            )
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        return len(rows)

    def __len__(self) -> int:
        """Number of cached answers (all teachers)."""
        return int(self._db.execute("SELECT COUNT(*) FROM labels").fetchone()[0])

    def close(self) -> None:
        """Close the connection (idempotent)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> LabelCache:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
