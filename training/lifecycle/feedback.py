"""Users' corrections, read back for retraining: the file `POST /v1/feedback` records into.

`read_feedback(db)` gives one row per correction, in arrival order. The database is opened
read-only, so reading it while the service writes is safe (WAL lets both proceed).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pandas as pd

from categorizer.feedback_schema import APPLICATION_ID, COLUMNS, TABLE
from categorizer.ingest.errors import DataError

_WHAT = "expected the SQLite file the service records corrections in (CATEGORIZER_FEEDBACK_DB)"


def read_feedback(db: str | Path) -> pd.DataFrame:
    """Every correction recorded in a feedback database.

    Args:
        db: The feedback database file.

    Returns:
        A frame with columns id, description, amount (float, NaN when not given), category,
        detailed_category (None when not given), model_version and received_at (ISO 8601 UTC).

    Raises:
        DataError: The file is missing, not SQLite, or not a feedback database (names it).
    """
    path = Path(db)
    if not path.is_file():
        raise DataError(path, f"file not found; {_WHAT}")
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise DataError(path, f"cannot open ({exc}); {_WHAT}") from None
    try:
        if conn.execute("PRAGMA application_id").fetchone()[0] != APPLICATION_ID:
            raise DataError(path, f"not a feedback database; {_WHAT}")
        query = f"SELECT {', '.join(COLUMNS)} FROM {TABLE} ORDER BY seq"
        rows = conn.execute(query).fetchall()
    except sqlite3.DatabaseError as exc:
        raise DataError(path, f"not a feedback database ({exc}); {_WHAT}") from None
    finally:
        conn.close()
    frame = pd.DataFrame.from_records(rows, columns=list(COLUMNS))
    frame["amount"] = frame["amount"].astype("float64")
    detailed = frame["detailed_category"].astype(object)
    frame["detailed_category"] = detailed.where(detailed.notna(), None)  # None, never NaN
    return frame
