"""Errors raised while reading bank exports, shared by the categorizer.ingest.data modules.

Kept apart so that amounts, columns, readers, fields and splits can all raise them without
importing one another (or categorizer.ingest.data) in a cycle.
"""

from pathlib import Path

from categorizer.errors import InputError


class DataError(InputError):
    """A problem with an input file, located by file, line and column.

    Attributes:
        path: The file.
        line: 1-based physical line (header = line 1) for CSV/JSONL; row number for Parquet;
            None when the problem is not in one row.
        column: The column as named in the file, or None.
        field: The Transaction field (or "debit"/"credit") the column maps to, when known; the
            message names it after the column when the two differ: column 'Memo' (description).
        reason: The message without the location prefix.
    """

    def __init__(
        self,
        path: str | Path,
        reason: str,
        *,
        line: int | None = None,
        column: str | None = None,
        field: str | None = None,
    ) -> None:
        self.path = Path(path)
        self.line = line
        self.column = column
        self.field = field
        self.reason = reason
        where = [str(path)]
        if line is not None:
            where.append(f"line {line}")
        if column is not None:
            mapped = f" ({field})" if field and field != column else ""
            where.append(f"column {column!r}{mapped}")
        super().__init__(f"{', '.join(where)}: {reason}")


class AmountError(InputError):
    """A value that is not an amount."""


class ColumnSpecError(DataError):
    """A bad ``--columns`` specification (a DataError located at "--columns")."""

    def __init__(self, reason: str) -> None:
        super().__init__("--columns", reason)


class SplitError(InputError):
    """Fractions that are invalid, or data too small for the requested split."""
