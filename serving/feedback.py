"""Users' corrections of categories: checked against the served taxonomy, kept in SQLite.

`POST /v1/feedback` checks each correction's categories with `check_categories` and appends the
rows to a `FeedbackStore`, one SQLite file in WAL mode (`CATEGORIZER_FEEDBACK_DB`). Retraining
reads that file back as a frame (`read_feedback` in the training package).

The file is marked with SQLite's `application_id`, so a store never writes its table into some
other database (a label cache, say) that the setting points at by mistake, and a reader can tell
a feedback file from any other SQLite file. Corrections hold transaction text, which is personal
data: nothing here logs it.
"""

from __future__ import annotations

import datetime as dt
import logging
import sqlite3
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from categorizer.errors import InputError
from categorizer.feedback_schema import APPLICATION_ID, COLUMNS, SCHEMA_VERSION, TABLE
from categorizer.taxonomy import Taxonomy

logger = logging.getLogger(__name__)

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL,
    description TEXT NOT NULL,
    amount REAL,
    category TEXT NOT NULL,
    detailed_category TEXT,
    model_version TEXT NOT NULL,
    received_at TEXT NOT NULL
)
"""
_INSERT = (
    f"INSERT INTO {TABLE} (id, description, amount, category, detailed_category, "
    "model_version, received_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_FIX = "point CATEGORIZER_FEEDBACK_DB at a new file or at a feedback database"


class FeedbackError(InputError):
    """A feedback database cannot be opened, or is some other kind of file."""


class FeedbackUnavailable(RuntimeError):
    """SQLite refused a write (disk full, locked past the timeout): worth retrying later."""


class CategoryError(ValueError):
    """Corrections whose categories are not in the served taxonomy.

    Attributes:
        errors: One error per bad field, in FastAPI's 422 shape: ``type``, ``loc`` (e.g.
            ``("body", "corrections", 3, "category")``), ``msg``, ``input`` and ``ctx``
            (``{"allowed": [...]}``, the values that field accepts).
    """

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        """Keep the errors; the message is the first one's."""
        super().__init__(errors[0]["msg"] if errors else "invalid categories")
        self.errors = errors


def check_categories(
    rows: Sequence[Mapping[str, Any]], taxonomy: Taxonomy, loc: tuple[str, ...] = ("body",)
) -> None:
    """Check each row's `category` (a primary) and `detailed_category` (one of its children).

    Args:
        rows: Corrections with "category" and "detailed_category" (None: not given).
        taxonomy: The taxonomy of the model being served.
        loc: Where the rows are in the request; errors name ``loc + ("corrections", i, field)``.

    Raises:
        CategoryError: Every bad field, each naming its path and the values allowed there.
    """
    errors = []
    primaries = list(taxonomy.labels)
    for i, row in enumerate(rows):
        where = (*loc, "corrections", i)
        category, detailed = row["category"], row.get("detailed_category")
        if category not in primaries:
            hint = ""
            if category in taxonomy:  # a detailed id sent as the primary
                hint = f" ({category!r} is a detailed category of {taxonomy.parent_of(category)!r})"
            msg = f"unknown primary category{hint}; expected one of {', '.join(primaries)}"
            errors.append(_error((*where, "category"), msg, category, primaries))
            continue
        children = [c.id for c in taxonomy.children(category)]
        if detailed is not None and detailed not in children:
            msg = (
                f"not a detailed category of {category!r}; expected one of "
                f"{', '.join(children) or '(none: leave it null)'}, or null"
            )
            errors.append(_error((*where, "detailed_category"), msg, detailed, children))
    if errors:
        raise CategoryError(errors)


def _error(loc: tuple[Any, ...], msg: str, value: Any, allowed: list[str]) -> dict[str, Any]:
    return {"type": "enum", "loc": loc, "msg": msg, "input": value, "ctx": {"allowed": allowed}}


class FeedbackStore:
    """Corrections in one SQLite file (WAL), safe to share between threads and processes.

    One connection serves every thread, a lock serialising its use; other processes (more
    workers, a reader) wait up to `timeout` seconds for SQLite's write lock. Each `record` is
    one transaction with ``synchronous=FULL``: a correction answered 201 survives a power cut.
    The calls block: from async code run them with `asyncio.to_thread`.

    Args:
        path: The database file; it and its folder are created when missing.
        timeout: Seconds to wait for another process's write lock.

    Raises:
        FeedbackError: The file is not SQLite, or is a database of something else.
    """

    def __init__(self, path: str | Path, *, timeout: float = 30.0) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(
                self.path, timeout=timeout, isolation_level=None, check_same_thread=False
            )
        except (OSError, sqlite3.Error) as exc:
            raise FeedbackError(f"{self.path}: cannot open ({exc}); {_FIX}") from None
        try:
            self._prepare()
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            raise FeedbackError(f"{self.path}: not a usable SQLite file ({exc}); {_FIX}") from None
        except FeedbackError:
            self._conn.close()
            raise

    def _prepare(self) -> None:
        """Refuse a foreign database; create the table and mark the file as feedback."""
        conn = self._conn
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        if app_id != APPLICATION_ID and tables:
            raise FeedbackError(
                f"{self.path}: an SQLite database of something else (application_id "
                f"{app_id}, {tables} objects), not a feedback database; {_FIX}"
            )
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise FeedbackError(
                f"{self.path}: feedback schema version {version} is newer than this program's "
                f"({SCHEMA_VERSION}); upgrade txn-categorizer"
            )
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute(_SCHEMA)
        conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
        conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def record(self, rows: Sequence[Mapping[str, Any]], model_version: str) -> int:
        """Append corrections in one transaction, all stamped with the same arrival time.

        Args:
            rows: Mappings with id, description, amount, category and detailed_category.
            model_version: The model that was serving when they arrived ("name version").

        Returns:
            How many rows were recorded.

        Raises:
            FeedbackUnavailable: SQLite could not write them (nothing was recorded).
        """
        received = dt.datetime.now(dt.UTC).isoformat()
        values = [
            (
                str(row["id"]),
                row["description"],
                row.get("amount"),
                row["category"],
                row.get("detailed_category"),
                model_version,
                received,
            )
            for row in rows
        ]
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    self._conn.executemany(_INSERT, values)
                    self._conn.execute("COMMIT")
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                raise FeedbackUnavailable(f"{self.path}: cannot record feedback ({exc})") from exc
        logger.debug("recorded %d corrections in %s", len(values), self.path)
        return len(values)

    def read_all(self) -> list[dict[str, Any]]:
        """Every correction in arrival order, as dicts of `COLUMNS`."""
        with self._lock:
            cursor = self._conn.execute(f"SELECT {', '.join(COLUMNS)} FROM {TABLE} ORDER BY seq")
            return [dict(zip(COLUMNS, row, strict=True)) for row in cursor.fetchall()]

    def count(self) -> int:
        """How many corrections are recorded."""
        with self._lock:
            return int(self._conn.execute(f"SELECT count(*) FROM {TABLE}").fetchone()[0])

    @property
    def journal_mode(self) -> str:
        """SQLite's journal mode of the file ("wal")."""
        with self._lock:
            return str(self._conn.execute("PRAGMA journal_mode").fetchone()[0])

    def close(self) -> None:
        """Close the connection (later calls fail)."""
        with self._lock:
            self._conn.close()
