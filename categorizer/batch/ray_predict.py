"""Categorize transaction files on a Ray cluster (or a local Ray runtime): `predict --engine ray`.

The plan is made on the driver (`categorizer.batch.ray_units`): the input (a file, or a folder of
.parquet/.csv/.tsv/.txt/.jsonl files, on any filesystem pyarrow supports: local paths, s3://,
gs://, hdfs://, ...) is cut into units of work, and a Ray Data pipeline runs them:
`ray.data.from_items(units)` → `map_batches(PredictActor, compute=ActorPoolStrategy(size=actors),
num_cpus=threads)`. Each actor holds one `Categorizer` (ONNX Runtime with `threads_per_actor`
threads), reads its units through pyarrow's filesystem layer, and writes one Parquet partition
per unit (a row group per chunk). The driver receives one small summary row per unit (progress,
totals) and writes `_SUCCESS` (the summary as JSON) last, so a folder without it is an
unfinished run.

The units are the single-process reader's chunks (Parquet: runs of `iter_batches` chunks; text
files: one unit per file), so that the output rows are the single-process `predict` rows,
value for value; `categorizer.batch.ray_units` says why Ray Data's own readers cannot give that.

Each chunk goes through `categorizer.batch.predict_file.predict_chunk`, the single-process row →
prediction step. Partitions are named `part-FFFFF-CCCCC.parquet` (F: the file's index in sorted
input order; C: the index in the file of the unit's first chunk), so reading them in name order
gives the rows in the single-process order; bad rows (with skip_bad_rows) go to
`_rejects/part-FFFFF-CCCCC.csv` (names starting with `_` are skipped by Parquet dataset readers).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.fs as pafs

from categorizer.batch.predict_file import CHUNK_ROWS, Tally
from categorizer.batch.ray_actor import PredictActor, error_from_json
from categorizer.batch.ray_units import (
    SUCCESS,
    check_output,
    chunk_bounds,
    list_inputs,
    plan_units,
    read_bundle,
    resolve,
    total_rows,
)

__all__ = [
    "SUCCESS",
    "Progress",
    "RayPredictSummary",
    "chunk_bounds",
    "list_inputs",
    "plan_units",
    "ray_predict",
    "resolve",
]

logger = logging.getLogger(__name__)

Progress = Callable[[int, int | None], None]


@dataclass
class RayPredictSummary:
    """What `ray_predict` did.

    Attributes:
        input: The input file or folder, as given.
        output: The output folder, as given.
        files: Input files read.
        partitions: Parquet partitions written.
        units: Units of work the files were cut into.
        rows: Rows categorized (and written).
        rejected: Bad rows written under `_rejects/` (only with skip_bad_rows).
        seconds: Wall time from the start of the Ray runtime (or the connection) to `_SUCCESS`.
        actors: Engine actors (one `Categorizer` each).
        threads_per_actor: ONNX Runtime threads (and Ray CPUs) of each actor.
        cluster: "local" (a Ray runtime started here) or the address connected to.
        cluster_cpus: CPUs the cluster reported.
        mapped_columns: Field → column, of the first file.
        categories: Predicted category → rows, most frequent first.
        abstained: Rows below the abstain threshold.
        mean_confidence: Mean confidence over the rows (0.0 for none).
    """

    input: str
    output: str
    files: int = 0
    partitions: int = 0
    units: int = 0
    rows: int = 0
    rejected: int = 0
    seconds: float = 0.0
    actors: int = 0
    threads_per_actor: int = 1
    cluster: str = "local"
    cluster_cpus: float = 0.0
    mapped_columns: dict[str, str] = field(default_factory=dict)
    categories: dict[str, int] = field(default_factory=dict)
    abstained: int = 0
    mean_confidence: float = 0.0

    @property
    def rows_per_second(self) -> float:
        """Throughput over the whole run (Ray start and actor start-up included)."""
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields plus rows_per_second."""
        return {**asdict(self), "rows_per_second": self.rows_per_second}


def ray_predict(
    bundle: str | Path,
    input: str | Path,
    out: str | Path,
    *,
    address: str | None = None,
    actors: int | None = None,
    threads_per_actor: int = 1,
    num_cpus: int | None = None,
    batch_size: int = 64,
    abstain_threshold: float = 0.0,
    top_k: int = 3,
    columns: Mapping[str, str] | None = None,
    chunk_size: int = CHUNK_ROWS,
    encoding: str | None = None,
    amount_convention: str = "outflow_negative",
    skip_bad_rows: bool = False,
    progress: Progress | None = None,
) -> RayPredictSummary:
    """Categorize a file or a folder of files with a pool of Ray actors; write Parquet parts.

    Args:
        bundle: The model bundle folder, read here and shipped to the actors through Ray's
            object store (the cluster's nodes need not see it).
        input: A .parquet/.csv/.tsv/.txt/.jsonl file or a folder of them (searched
            recursively; names starting with "_" or "." skipped): a local path or a URI
            pyarrow can open (s3://bucket/prefix, gs://..., hdfs://...). On a cluster, every
            node must be able to read it.
        out: The output folder (local path or URI), created; it must be empty or hold only
            a previous run's output (which is replaced).
        address: A Ray cluster to connect to (default $RAY_ADDRESS; without either, a local
            Ray runtime is started and stopped again).
        actors: Engine actors (default: the cluster's CPUs // threads_per_actor, at most one
            per unit of work).
        threads_per_actor: ONNX Runtime threads of each actor; also the CPUs Ray reserves
            for it.
        num_cpus: CPUs of a local runtime (default: all); not allowed with an address.
        batch_size: Rows per model call (`Categorizer.load`).
        abstain_threshold: Below this confidence the category is the abstain label.
        top_k: `Categorizer.load`'s top_k (not written; kept for parity).
        columns: Field → column name in the files (see `categorizer.ingest.data.parse_columns`).
        chunk_size: Rows categorized and written at a time (as `predict_file`'s).
        encoding: Force the text encoding of CSV/JSONL files.
        amount_convention: As `predict_file`'s.
        skip_bad_rows: Write bad rows under `<out>/_rejects/` and go on, instead of failing.
        progress: Called with (rows done, total rows or None) as units finish.

    Returns:
        Counts, timing, actors and the distribution of predicted categories.

    Raises:
        DataError: No input files, a non-empty output folder, an unreadable file or (without
            skip_bad_rows) a bad row; the message names the file, line and column.
        ImportError: Ray is not installed (`pip install "txn-categorizer[scale]"`).
    """
    _check_counts(chunk_size=chunk_size, threads_per_actor=threads_per_actor, actors=actors)
    ray = _import_ray()
    address = address or os.environ.get("RAY_ADDRESS") or None
    if address and num_cpus is not None:
        raise ValueError("num_cpus is for a local Ray runtime; not allowed with an address")
    in_fs, in_path = resolve(input)
    out_fs, out_path = resolve(out)
    files = list_inputs(in_fs, in_path, str(input))
    check_output(out_fs, out_path, in_fs, in_path, str(out))
    units = plan_units(in_fs, files, chunk_size)
    actor_options = {
        "bundle_files": read_bundle(bundle),
        "engine_options": {
            "threads": threads_per_actor,
            "batch_size": batch_size,
            "abstain_threshold": abstain_threshold,
            "top_k": top_k,
        },
        "file_options": {
            "columns": dict(columns) if columns else None,
            "chunk_size": chunk_size,
            "encoding": encoding,
            "amount_convention": amount_convention,
            "skip_bad_rows": skip_bad_rows,
        },
        "in_fs": in_fs,
        "out_fs": out_fs,
        "out_path": out_path,
    }
    started = time.perf_counter()
    summary = RayPredictSummary(input=str(input), output=str(out), files=len(files))
    summary.units, summary.threads_per_actor = len(units), threads_per_actor
    summary.cluster = address or "local"
    with ray_runtime(ray, address, num_cpus):
        _run_pipeline(ray, units, actor_options, summary, actors, progress)
        summary.seconds = time.perf_counter() - started
        _write_success(out_fs, out_path, summary)
    logger.info(
        "categorized %d rows of %d files in %.1f s (%.0f rows/s, %d actors); %d rejected",
        summary.rows,
        summary.files,
        summary.seconds,
        summary.rows_per_second,
        summary.actors,
        summary.rejected,
    )
    return summary


def _check_counts(**counts: int | None) -> None:
    """Each count (None: its default) must be at least 1."""
    for name, count in counts.items():
        if count is not None and count < 1:
            raise ValueError(f"{name}: expected at least 1; got {count}")


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise ImportError(
            f"{exc}; the Ray engine needs the scale extra: pip install 'txn-categorizer[scale]'"
        ) from exc
    import ray.data  # before any planning, as the ImportError above (ray.data needs extras)

    return ray


@contextlib.contextmanager
def ray_runtime(ray: Any, address: str | None, num_cpus: int | None) -> Iterator[None]:
    """Connect to `address`, or start a local runtime, unless Ray is up; stop what was started."""
    own_runtime = not ray.is_initialized()
    if own_runtime and address:
        ray.init(address=address, logging_level=logging.WARNING)
    elif own_runtime:
        ray.init(num_cpus=num_cpus, include_dashboard=False, logging_level=logging.WARNING)
    try:
        yield
    finally:
        if own_runtime:
            ray.shutdown()


def _run_pipeline(
    ray: Any,
    units: list[dict[str, Any]],
    actor_options: dict[str, Any],
    summary: RayPredictSummary,
    actors: int | None,
    progress: Progress | None,
) -> None:
    """Size the actor pool, run the units on it and add their results up into summary."""
    from ray.data import ActorPoolStrategy, DataContext

    summary.cluster_cpus = float(ray.cluster_resources().get("CPU", 1.0))
    wanted = actors or max(1, int(summary.cluster_cpus // summary.threads_per_actor))
    summary.actors = min(wanted, len(units))
    total = total_rows(units)
    logger.info(
        "%d files, %d units, %s rows → %d actors × %d threads on %s (%g CPUs)",
        summary.files,
        len(units),
        "?" if total is None else f"{total:,}",
        summary.actors,
        summary.threads_per_actor,
        summary.cluster,
        summary.cluster_cpus,
    )
    context = DataContext.get_current()
    context.enable_progress_bars = progress is None  # Ray Data's own bars, else ours
    if progress is not None:  # and none of its notes about them (errors still show)
        logging.getLogger("ray.data").setLevel(logging.ERROR)
    actor_options["out_fs"].create_dir(actor_options["out_path"], recursive=True)
    dataset = ray.data.from_items(units, override_num_blocks=len(units)).map_batches(
        PredictActor,
        fn_constructor_kwargs={
            **actor_options,
            "bundle_files": ray.put(actor_options["bundle_files"]),
        },
        batch_size=1,
        batch_format="pyarrow",
        compute=ActorPoolStrategy(size=summary.actors),
        num_cpus=summary.threads_per_actor,
    )
    _collect(dataset, summary, total, progress)


def _collect(
    dataset: Any, summary: RayPredictSummary, total: int | None, progress: Progress | None
) -> None:
    """Run the pipeline, adding up the units' summary rows as they arrive."""
    tally = Tally()
    mapped: dict[int, dict[str, str]] = {}
    for row in dataset.iter_rows():
        if row["error"]:
            raise error_from_json(row["error"])
        tally.merge(Tally.from_row(row))
        summary.partitions += row["partitions"]
        mapped.setdefault(row["file_index"], json.loads(row["mapped_columns"]))
        if progress is not None:
            progress(tally.rows + tally.rejected, total)
    tally.finish(summary)
    summary.mapped_columns = mapped.get(0, {}) if summary.files else {}


def _write_success(fs: pafs.FileSystem, path: str, summary: RayPredictSummary) -> None:
    with fs.open_output_stream(f"{path}/{SUCCESS}") as f:
        f.write((json.dumps(summary.to_dict(), indent=2) + "\n").encode())
