"""The engine actor of `predict --engine ray`: reads units of work, categorizes, writes parts.

No Ray import at module level (the actor imports it to fetch the bundle from the object store).
Each `PredictActor` holds one `Categorizer`; per unit (one per call) it reads the unit's chunks
through pyarrow's filesystem layer exactly as the single-process reader cuts them
(`unit_chunks`; see `categorizer.batch.ray_units` for why), runs each through
`categorizer.batch.predict_file.predict_chunk`, writes one Parquet partition (a row group per chunk)
and the bad rows under `_rejects/`, and returns one small summary row (`empty_result`'s columns);
a DataError travels back in it as JSON (`error_to_json` / `error_from_json`).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs

from categorizer.batch.predict_file import (
    ChunkResult,
    Tally,
    column_mapping,
    predict_chunk,
    rejects_frame,
)
from categorizer.batch.ray_units import REJECTS
from categorizer.ingest.errors import DataError
from categorizer.ingest.file_chunks import Chunk, open_chunks
from categorizer.ingest.readers import PARQUET_SUFFIXES, RawFrame, broken_frame


class PredictActor:
    """One Categorizer; runs units of work (one per call) and writes their partitions."""

    def __init__(
        self,
        bundle_files: Any,
        engine_options: dict[str, Any],
        file_options: dict[str, Any],
        in_fs: pafs.FileSystem,
        out_fs: pafs.FileSystem,
        out_path: str,
    ) -> None:
        import ray

        from categorizer.engine import Categorizer

        if isinstance(bundle_files, ray.ObjectRef):
            bundle_files = ray.get(bundle_files)
        self._folder = Path(tempfile.mkdtemp(prefix="categorizer-bundle-"))
        for name, data in bundle_files.items():
            target = self._folder / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        self.engine = Categorizer.load(self._folder, **engine_options)
        self.options = file_options
        self.in_fs, self.out_fs, self.out_path = in_fs, out_fs, out_path

    def __del__(self) -> None:
        shutil.rmtree(getattr(self, "_folder", ""), ignore_errors=True)

    def __call__(self, batch: pa.Table) -> pa.Table:
        return pa.Table.from_pylist([self._run(unit) for unit in batch.to_pylist()])

    def _run(self, unit: dict[str, Any]) -> dict[str, Any]:
        """Categorize one unit into its partition; its summary row (an error as data)."""
        result = empty_result(unit["file_index"])
        tally = Tally()
        writer: _PartWriter | None = None
        rejects: list[Any] = []
        try:
            for number, done in self._predicted(unit, result):
                if writer is None:
                    name = f"part-{unit['file_index']:05d}-{number:05d}"
                    writer = _PartWriter(self.out_fs, f"{self.out_path}/{name}.parquet")
                writer.write(done.table)
                if len(done.rejects):
                    rejects.append(done.rejects)
                tally.add(done, self.engine.abstain_threshold)
        except DataError as exc:
            result["error"] = error_to_json(exc)
        finally:
            if writer is not None:
                writer.close()
                result["partitions"] = 1
        if rejects and writer is not None:
            import pandas as pd

            self._write_rejects(pd.concat(rejects), Path(writer.path).with_suffix(".csv").name)
        return result | tally.to_row()

    def _predicted(
        self, unit: dict[str, Any], result: dict[str, Any]
    ) -> Iterator[tuple[int, ChunkResult]]:
        """(chunk index, categorized chunk); the first chunk's column mapping goes in result."""
        options = self.options
        shown = Path(unit["file"])
        mapping: dict[str, str] | None = None
        chunks = unit_chunks(self.in_fs, unit, options["encoding"], options["chunk_size"])
        for number, chunk in chunks:
            if mapping is None:
                mapping = column_mapping(chunk, options["columns"], shown)
                result["mapped_columns"] = json.dumps(mapping)
            yield (
                number,
                predict_chunk(
                    self.engine,
                    chunk,
                    mapping,
                    shown,
                    options["amount_convention"],
                    options["skip_bad_rows"],
                ),
            )

    def _write_rejects(self, rejects: Any, name: str) -> None:
        folder = f"{self.out_path}/{REJECTS}"
        self.out_fs.create_dir(folder, recursive=True)
        with self.out_fs.open_output_stream(f"{folder}/{name}") as f:
            f.write(rejects_frame(rejects).to_csv(index=False).encode())


def empty_result(file_index: int) -> dict[str, Any]:
    """A unit's summary row before any chunk: the columns `categorizer.batch.ray_predict` sums."""
    return {
        "file_index": file_index,
        "rows": 0,
        "rejected": 0,
        "abstained": 0,
        "partitions": 0,
        "confidence_sum": 0.0,
        "categories": "{}",
        "mapped_columns": "{}",
        "error": "",
    }


class _PartWriter:
    """One Parquet partition, a row group per chunk (later chunks cast to the first's schema)."""

    def __init__(self, fs: pafs.FileSystem, path: str) -> None:
        self.fs, self.path = fs, path
        self._sink: Any = None

    def write(self, table: pa.Table) -> None:
        import pyarrow.parquet as pq

        if self._sink is None:
            self._sink = pq.ParquetWriter(self.path, table.schema, filesystem=self.fs)
        elif table.schema != self._sink.schema:
            table = table.cast(self._sink.schema)
        self._sink.write_table(table)

    def close(self) -> None:
        if self._sink is not None:
            self._sink.close()
            self._sink = None


def error_to_json(exc: DataError) -> str:
    """The error as data: DataError does not survive pickling."""
    error = {"path": str(exc.path), "reason": exc.reason, "line": exc.line}
    return json.dumps(error | {"column": exc.column, "field": exc.field})


def error_from_json(text: str) -> DataError:
    """The DataError `error_to_json` wrote."""
    error = json.loads(text)
    return DataError(
        error["path"],
        error["reason"],
        line=error["line"],
        column=error["column"],
        field=error["field"],
    )


# -- reading a unit -----------------------------------------------------------------------------


def unit_chunks(
    fs: pafs.FileSystem, unit: dict[str, Any], encoding: str | None, chunk_size: int
) -> Iterator[tuple[int, Chunk]]:
    """(chunk index in the file, chunk) of a unit, as the single-process reader cuts them."""
    path = unit["file"]
    if path.lower().endswith(PARQUET_SUFFIXES):
        yield from _parquet_unit(fs, path, json.loads(unit["chunks"]))
        return
    with _local_copy(fs, path) as local:
        try:
            chunks, _ = open_chunks(local, encoding, chunk_size)
            yield from enumerate(chunks)
        except DataError as exc:  # name the input, not a temporary copy
            if exc.path == local:
                raise DataError(
                    path, exc.reason, line=exc.line, column=exc.column, field=exc.field
                ) from exc
            raise


def _parquet_unit(
    fs: pafs.FileSystem, path: str, chunks: list[list[Any]]
) -> Iterator[tuple[int, Chunk]]:
    """The unit's chunks, as open_chunks yields them: row numbers 1-based within the file."""
    import pyarrow.parquet as pq

    try:
        handle = fs.open_input_file(path)
        parquet = pq.ParquetFile(handle)
    except Exception as exc:  # pyarrow raises several unrelated types for corrupt files
        raise DataError(path, f"cannot read as Parquet: {exc}") from exc
    with handle:
        groups: list[int] = sorted({g for chunk in chunks for g in chunk[3]})
        sizes = [parquet.metadata.row_group(i).num_rows for i in range(parquet.num_row_groups)]
        first = sum(sizes[: groups[0]]) if groups else 0
        table = parquet.read_row_groups(groups) if groups else parquet.schema_arrow.empty_table()
        for number, start, stop, _ in chunks:
            part = table.slice(start - first, stop - start)
            raw = RawFrame(
                part.to_pandas(), np.arange(start + 1, stop + 1), "utf-8", broken_frame([])
            )
            yield number, Chunk(part, raw)


@contextlib.contextmanager
def _local_copy(fs: pafs.FileSystem, path: str) -> Iterator[Path]:
    """The file as a local path: itself on the local filesystem, else a temporary copy."""
    if isinstance(fs, pafs.LocalFileSystem):
        yield Path(path)
        return
    fd, name = tempfile.mkstemp(suffix=Path(path).suffix)
    try:
        with os.fdopen(fd, "wb") as out, fs.open_input_stream(path) as source:
            while block := source.read(1 << 20):
                out.write(block)
        yield Path(name)
    finally:
        Path(name).unlink(missing_ok=True)
