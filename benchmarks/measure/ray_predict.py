"""Throughput of file categorization: single-process `predict` against the Ray engine.

On the same input (``--rows`` synthetic transactions in ``--files`` Parquet files, or
``--input`` FOLDER), this measures rows/s end to end (read, validate, categorize, write) for:

* single-process `predict` (`categorizer.batch.predict_file`, file after file) with 1 thread and
  with all the CPUs (the CLI's default);
* `predict --engine ray` (`categorizer.batch.ray_predict`) on a local Ray runtime with every CPU,
  with 1 and 2 actors of 1 thread each, and 1 actor of 2 threads. The runtime is started once,
  before the timed runs (its start is reported apart); each run includes its actors' start (loading
  the bundle), as a real run does.

It also checks that each Ray output equals the single-process output with the same ONNX Runtime
threads, row for row, and compares the single-process outputs on 1 and on all threads (ONNX
Runtime's multi-threaded results have been seen to differ in the last digits on a loaded
machine). Results go to benchmarks/results/ray_predict.json with
the machine's description and its load average before and after.

    python -m benchmarks.measure.ray_predict --bundle runs/bundle
    python -m benchmarks.measure.ray_predict --bundle runs/bundle --rows 50000 --files 4

This is a measurement, not a test: on a shared machine the times vary with the load.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.machine import machine_info, write_result
from benchmarks.measure import RESULTS

SCALING = (
    "Each actor is an independent ONNX Runtime session, so on a cluster throughput is about "
    "actors x (rows/s of one actor) until something shared runs out. Here one 1-thread actor "
    "does about 2,400 rows/s with this model (8% under the single process: actor start-up and "
    "per-unit scheduling), and 2 actors about 1.7x that, not 2x: the driver, Ray's raylet and "
    "object store and the OS share the same 2 cores. What bounds it on a cluster: "
    "(1) cores: an actor of t threads reserves t CPUs; one thread per actor scales best (here "
    "2 actors x 1 thread beat 1 actor x 2 threads by 30%), so a 16-core node runs about 16 "
    "actors, and throughput grows with the cores of the cluster; "
    "(2) units of work: Parquet files are cut into units of whole chunks (10,000 rows; at "
    "least a quarter of a row group), a CSV/JSONL file is one unit, so no more actors are busy "
    "than there are units: many files or big Parquet files spread, one big CSV does not; "
    "(3) storage: each row is about 60 bytes of Parquet read and 90 written, so even 100 actors "
    "(~240,000 rows/s) move only ~40 MB/s to S3/GCS/NFS: far from a limit; "
    "(4) fixed costs: starting or connecting to Ray (5-8 s here), actor start-up (loading the "
    "bundle, a few seconds on 2 busy cores) and planning (one Parquet footer read per file on "
    "the driver) are paid once per run, so small inputs gain nothing; the driver receives one "
    "small summary row per unit, so it is not the bottleneck."
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, required=True, help="A model bundle folder.")
    parser.add_argument("--input", type=Path, help="A folder of Parquet files (default: synth).")
    parser.add_argument("--rows", type=int, default=100_000, help="Synthetic rows in all.")
    parser.add_argument("--files", type=int, default=4, help="Parquet files to split them in.")
    parser.add_argument("--out", type=Path, default=RESULTS / "ray_predict.json")
    args = parser.parse_args()
    os.environ.pop("RAY_ADDRESS", None)  # always a local runtime: this machine's numbers
    with tempfile.TemporaryDirectory(prefix="bench-ray-") as scratch:
        folder = Path(scratch)
        source = args.input or _synthetic_input(folder / "input", args.rows, args.files)
        result = run(args.bundle, source, folder)
    write_result(result, args.out)


def _synthetic_input(folder: Path, rows: int, files: int) -> Path:
    from training.synthesis.synth import SynthConfig, generate

    folder.mkdir(parents=True)
    per_file = -(-rows // files)
    for index in range(files):
        n = min(per_file, rows - index * per_file)
        frame = generate(SynthConfig(n=n, seed=1_000 + index, workers=1))
        frame.to_parquet(folder / f"transactions-{index}.parquet")
    return folder


def run(bundle: Path, source: Path, scratch: Path) -> dict[str, Any]:
    """Time every configuration on the same files; check the outputs agree."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq
    import ray

    from categorizer.batch.predict_file import predict_file
    from categorizer.batch.ray_predict import ray_predict
    from categorizer.cpus import usable_cpus
    from categorizer.engine import Categorizer

    files = sorted(source.glob("*.parquet"))
    rows = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
    cpus = usable_cpus()
    load_before = os.getloadavg()
    results: list[dict[str, Any]] = []
    expected: dict[int, pa.Table] = {}  # single-process output by ONNX Runtime threads
    for threads in sorted({1, cpus}):
        started = time.perf_counter()
        engine = Categorizer.load(bundle, threads=threads)
        outs = []
        for index, path in enumerate(files):
            outs.append(scratch / f"single-{threads}-{index}.parquet")
            predict_file(engine, path, outs[-1])
        seconds = time.perf_counter() - started
        expected[threads] = pa.concat_tables([pq.read_table(p) for p in outs])
        results.append(_row("single-process predict", 1, threads, rows, seconds))
        print(results[-1])

    started = time.perf_counter()
    ray.init(num_cpus=cpus, include_dashboard=False, logging_level="WARNING")
    ray_start = time.perf_counter() - started
    try:
        for actors, threads in ((1, 1), (2, 1), (1, 2)):
            if actors * threads > cpus:
                continue
            out = scratch / f"ray-{actors}x{threads}"
            summary = ray_predict(
                bundle, source, out, actors=actors, threads_per_actor=threads, progress=_quiet
            )
            parts = sorted(out.glob("part-*.parquet"))
            got = pa.concat_tables([pq.read_table(p) for p in parts])
            row = _row("ray", actors, threads, summary.rows, summary.seconds)
            row["units"] = summary.units
            # the same chunks through the same number of ORT threads: the same numbers
            row["equals_single_process_same_threads"] = got.equals(expected[threads])
            results.append(row)
            print(row)
    finally:
        ray.shutdown()
    same = expected[1].equals(expected[cpus]) if cpus in expected else True
    predicted = [t["predicted_category"] for t in expected.values()]
    return {
        "load_average_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        "single_process_1_vs_all_threads_equal": same,
        "single_process_1_vs_all_threads_category_differences": int(
            pc.sum(pc.not_equal(predicted[0], predicted[-1])).as_py() or 0
        ),
        "bundle": str(bundle),
        "bundle_name": _bundle_name(bundle),
        "rows": rows,
        "files": len(files),
        "chunk_size": 10_000,
        "ray_runtime_start_s": round(ray_start, 2),
        "results": results,
        "scaling": SCALING,
        "machine": machine_info(),
    }


def _row(engine: str, actors: int, threads: int, rows: int, seconds: float) -> dict[str, Any]:
    return {
        "engine": engine,
        "actors": actors,
        "threads_per_actor": threads,
        "rows": rows,
        "seconds": round(seconds, 2),
        "rows_per_s": round(rows / seconds, 1),
    }


def _quiet(done: int, total: int | None) -> None:
    """Progress callback that shows nothing (and turns Ray Data's own bars off)."""


def _bundle_name(bundle: Path) -> str:
    import json

    manifest = json.loads((bundle / "manifest.json").read_text())
    return f"{manifest.get('name')} {manifest.get('version')} ({manifest.get('quantization')})"


if __name__ == "__main__":
    main()
