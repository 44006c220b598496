"""The feedback database's identity: shared by the service that writes it (`serving.feedback`)
and the retraining code that reads it (`training.lifecycle.feedback`), which may not import each
other."""

from __future__ import annotations

APPLICATION_ID = 0x46454544  # "FEED": marks a feedback database (PRAGMA application_id)
SCHEMA_VERSION = 1
TABLE = "feedback"
COLUMNS = (
    "id",
    "description",
    "amount",
    "category",
    "detailed_category",
    "model_version",
    "received_at",
)
"""The columns a reader gets, in order (the table also has `seq`, the arrival order)."""
