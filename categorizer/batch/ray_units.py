"""Units of work of `predict --engine ray`: planned on the driver, before Ray runs anything.

No Ray here: the driver lists the input (a file, or a folder of .parquet/.csv/.tsv/.txt/.jsonl
files, on any filesystem pyarrow supports: local paths, s3://, gs://, hdfs://, ...), checks the
output folder, reads the bundle and the Parquet footers and cuts the files into units; each
actor reads its units through pyarrow's filesystem layer
(`categorizer.batch.ray_actor.unit_chunks`).

Why the actors read the files rather than `ray.data.read_parquet` / `read_csv`: the output rows
must be the single-process `predict` rows, value for value (checked with 1 ONNX Runtime thread
per engine; multi-threaded ONNX Runtime was once seen to round differently on a loaded
machine). An int8 bundle quantizes its activations dynamically, with one scale per model call,
so a row's prediction depends on which rows share its batch: 10,000 rows predicted as one chunk
and as ten chunks of 1,000 (the scratch:L2-H128 int8 bundle) differ in every confidence, by up
to 0.05, and in 9 categories. Identical rows need identical chunks. Ray Data's readers and
`map_batches(batch_size=...)` decide block and batch boundaries themselves and do not expose a
row's position in its file, so the units here are the single-process chunks themselves:

* Parquet: the chunks `ParquetFile.iter_batches(batch_size=chunk_size)` yields (the single-
  process reader: chunk_size rows each, across row groups), grouped into units of
  max(chunk_size, largest row group / 4) rows, so that a big file spreads over several actors
  while each row group is read only a few times; a unit reads the row groups it overlaps.
* CSV/TSV/JSONL: one unit per file, read by `categorizer.ingest.file_chunks.open_chunks` exactly as
  the single-process path does (encoding detection, delimiter sniffing, exact line numbers); a
  remote file is copied to the actor's local disk first. Parallelism is across files: split a
  big CSV, or convert it to Parquet.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs

from categorizer.ingest.errors import DataError
from categorizer.ingest.readers import CSV_SUFFIXES, JSONL_SUFFIXES, PARQUET_SUFFIXES

logger = logging.getLogger(__name__)

INPUT_SUFFIXES = PARQUET_SUFFIXES + CSV_SUFFIXES + JSONL_SUFFIXES
SUCCESS = "_SUCCESS"
REJECTS = "_rejects"
_READ_AMPLIFICATION = 4  # a Parquet row group is read by at most this many units


# -- inputs and output ------------------------------------------------------------------------


def resolve(target: str | Path) -> tuple[pafs.FileSystem, str]:
    """A pyarrow filesystem and the path in it: URIs by scheme, anything else local."""
    text = str(target)
    if "://" in text:
        try:
            return pafs.FileSystem.from_uri(text)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError) as exc:
            raise DataError(text, f"cannot open the filesystem: {exc}") from exc
    return pafs.LocalFileSystem(), Path(text).expanduser().resolve().as_posix()


def list_inputs(fs: pafs.FileSystem, path: str, shown: str) -> list[str]:
    """The input files: `path` itself, or the supported files under the folder, sorted."""
    info = fs.get_file_info(path)
    if info.type == pafs.FileType.NotFound:
        raise DataError(shown, "file or folder not found")
    if info.type == pafs.FileType.File:
        if not path.lower().endswith(INPUT_SUFFIXES):
            raise DataError(shown, f"unsupported file type; expected one of {INPUT_SUFFIXES}")
        return [path]
    found = fs.get_file_info(pafs.FileSelector(path, recursive=True))
    files = sorted(
        f.path
        for f in found
        if f.type == pafs.FileType.File
        and f.path.lower().endswith(INPUT_SUFFIXES)
        and not any(part.startswith(("_", ".")) for part in _relative_parts(f.path, path))
    )
    if not files:
        raise DataError(shown, f"no input files in the folder; expected {INPUT_SUFFIXES}")
    return files


def _relative_parts(path: str, root: str) -> list[str]:
    return path[len(root.rstrip("/")) :].strip("/").split("/")


def check_output(
    fs: pafs.FileSystem, path: str, in_fs: pafs.FileSystem, in_path: str, shown: str
) -> None:
    """The output folder must be new, empty, or a previous run's output (then cleared)."""
    if type(fs) is type(in_fs) and (_inside(path, in_path) or _inside(in_path, path)):
        raise DataError(shown, "the output folder overlaps the input; choose another --out")
    info = fs.get_file_info(path)
    if info.type == pafs.FileType.NotFound:
        return
    if info.type == pafs.FileType.File:
        raise DataError(shown, "the Ray engine writes a folder of Parquet parts; got a file")
    entries = fs.get_file_info(pafs.FileSelector(path, recursive=False))
    ours = all(_is_ours(e.base_name) for e in entries)
    if entries and not ours:
        raise DataError(shown, "the output folder is not empty; choose a new or empty folder")
    if entries:
        logger.info("replacing the previous output in %s", shown)
        fs.delete_dir_contents(path)


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def _is_ours(name: str) -> bool:
    return name in (SUCCESS, REJECTS) or (name.startswith("part-") and name.endswith(".parquet"))


def read_bundle(bundle: str | Path) -> dict[str, bytes]:
    """The bundle's files (relative path → bytes), to ship to actors on other machines.

    The bundle is loaded here first, so that a missing or tampered bundle fails before any
    actor starts, with `Categorizer.load`'s BundleError.
    """
    from categorizer.engine import Categorizer

    folder = Path(bundle)
    Categorizer.load(folder, threads=1)
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


# -- planning -----------------------------------------------------------------------------------


def plan_units(fs: pafs.FileSystem, files: list[str], chunk_size: int) -> list[dict[str, Any]]:
    """Cut the files into units of work: runs of Parquet chunks, or whole text files.

    Each unit is a dict (a Ray Data row): file, file_index, rows (None for text files) and
    `chunks`, a JSON list of [chunk index, first row, end row, [row groups]] (empty for text
    files: open_chunks cuts them).
    """
    units: list[dict[str, Any]] = []
    for index, path in enumerate(files):
        unit = {"file": path, "file_index": index, "rows": None, "chunks": "[]"}
        if path.lower().endswith(PARQUET_SUFFIXES):
            units.extend(_parquet_units(fs, unit, chunk_size))
        else:
            units.append(unit)
    return units


def _parquet_units(
    fs: pafs.FileSystem, unit: dict[str, Any], chunk_size: int
) -> list[dict[str, Any]]:
    """A Parquet file's units: runs of its chunks, of about max(chunk_size, group / 4) rows."""
    groups = _row_group_sizes(fs, unit["file"])
    largest = max(groups, default=0)
    unit_rows = max(chunk_size, math.ceil(largest / _READ_AMPLIFICATION))
    runs: list[list[list[Any]]] = [[]]
    for number, (start, stop) in enumerate(chunk_bounds(groups, chunk_size)):
        run = runs[-1]
        if run and stop - run[0][1] > unit_rows:
            run = []
            runs.append(run)
        run.append([number, start, stop, _groups_of(groups, start, stop)])
    return [
        {**unit, "rows": run[-1][2] - run[0][1] if run else 0, "chunks": json.dumps(run)}
        for run in runs
    ]


def chunk_bounds(group_sizes: list[int], chunk_size: int) -> list[tuple[int, int]]:
    """(first row, end row) of each batch `ParquetFile.iter_batches(batch_size)` yields.

    pyarrow's batches run across row groups: every batch has chunk_size rows but the last
    (a test pins this against the installed pyarrow). An empty file has one empty chunk, as
    open_chunks gives.
    """
    total = sum(group_sizes)
    bounds = [(start, min(start + chunk_size, total)) for start in range(0, total, chunk_size)]
    return bounds or [(0, 0)]


def _row_group_sizes(fs: pafs.FileSystem, path: str) -> list[int]:
    import pyarrow.parquet as pq

    try:
        with fs.open_input_file(path) as f:
            metadata = pq.ParquetFile(f).metadata
            return [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)]
    except Exception as exc:  # pyarrow raises several unrelated types for corrupt files
        raise DataError(path, f"cannot read as Parquet: {exc}") from exc


def _groups_of(group_sizes: list[int], start: int, stop: int) -> list[int]:
    """Indexes of the row groups holding rows [start, stop)."""
    ends = np.cumsum(group_sizes)
    starts = ends - np.asarray(group_sizes)
    return [i for i in range(len(group_sizes)) if starts[i] < stop and ends[i] > start]


def total_rows(units: list[dict[str, Any]]) -> int | None:
    """The rows of all units, or None when a text file's rows are unknown until read."""
    if any(u["rows"] is None for u in units):
        return None
    return sum(u["rows"] for u in units)
