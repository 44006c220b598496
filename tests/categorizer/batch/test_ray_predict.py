"""`predict --engine ray`: the same rows as the single-process `predict`, from a pool of actors.

The Ray runs start a local Ray runtime with 2 CPUs (slow: a few seconds to start). The output
partitions, read in name order, are compared with the single-process output of each input file
(sorted by name) as whole Arrow tables: same columns, same rows, same order, same values; the
confidences too, exactly (the actors run the same chunks through the same engine).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("ray")

from categorizer.batch.predict_file import PREDICTION_COLUMNS, predict_file
from categorizer.batch.ray_predict import (
    SUCCESS,
    chunk_bounds,
    list_inputs,
    plan_units,
    ray_predict,
    resolve,
)
from categorizer.engine import Categorizer
from categorizer.ingest.errors import DataError

# Ray Data reads its own deprecated DataContext fields when it copies the context
pytestmark = pytest.mark.filterwarnings("ignore:.*deprecated.*:DeprecationWarning:ray")

CLI = [str(Path(sys.executable).with_name("categorizer"))]
FILES, ROWS_PER_FILE = 4, 25_000
SMALL_CSV_ROWS = 300


def single_process(bundle: Path, files: list[Path], folder: Path) -> pa.Table:
    """The single-process `predict` output of each file, concatenated in file order."""
    engine = Categorizer.load(bundle, threads=1)
    tables = []
    for index, source in enumerate(files):
        out = folder / f"expected-{index}.parquet"
        predict_file(engine, source, out)
        tables.append(pq.read_table(out))
    return pa.concat_tables(tables)


def ray_output(folder: Path) -> pa.Table:
    """The Ray engine's partitions, read in name order (file, then first chunk)."""
    parts = sorted(folder.glob("part-*.parquet"))
    return pa.concat_tables([pq.read_table(p) for p in parts])


# -- planning (no Ray runtime) ---------------------------------------------------------------


def test_chunk_bounds_match_pyarrow_iter_batches(tmp_path: Path) -> None:
    """The planned chunks are the batches the single-process reader gets (across row groups)."""
    table = pa.table({"description": [f"ROW {i}" for i in range(2_500)]})
    path = tmp_path / "groups.parquet"
    pq.write_table(table, path, row_group_size=700)
    parquet = pq.ParquetFile(path)
    sizes = [parquet.metadata.row_group(i).num_rows for i in range(parquet.num_row_groups)]
    batches = [b.num_rows for b in parquet.iter_batches(batch_size=300)]
    bounds = chunk_bounds(sizes, 300)
    assert [stop - start for start, stop in bounds] == batches
    assert bounds[0] == (0, 300)
    assert bounds[-1][1] == 2_500
    assert chunk_bounds([], 300) == [(0, 0)]


def test_units_cover_every_chunk_once(tmp_path: Path) -> None:
    table = pa.table({"description": [f"ROW {i}" for i in range(10_000)]})
    pq.write_table(table, tmp_path / "a.parquet", row_group_size=4_000)
    (tmp_path / "b.csv").write_text("description\nUBER TRIP\n", encoding="utf-8")
    fs, root = resolve(tmp_path)
    units = plan_units(fs, list_inputs(fs, root, str(tmp_path)), chunk_size=500)
    parquet = [u for u in units if u["file"].endswith(".parquet")]
    assert [u["rows"] for u in parquet] == [1_000] * 10  # a quarter of a 4,000-row group
    chunks = [c for u in parquet for c in json.loads(u["chunks"])]
    assert [c[0] for c in chunks] == list(range(20))  # every chunk once, in order
    assert [(c[1], c[2]) for c in chunks] == [(i, i + 500) for i in range(0, 10_000, 500)]
    assert chunks[7][3] == [0]
    assert chunks[8][3] == [1]
    assert [u["file"].endswith("b.csv") for u in units][-1]
    assert units[-1]["rows"] is None
    assert units[-1]["file_index"] == 1


def test_inputs_skip_hidden_and_underscore_files(tmp_path: Path) -> None:
    (tmp_path / "x.csv").write_text("description\nA\n", encoding="utf-8")
    (tmp_path / "_rejects").mkdir()
    (tmp_path / "_rejects" / "y.csv").write_text("description\nB\n", encoding="utf-8")
    (tmp_path / ".z.csv").write_text("description\nC\n", encoding="utf-8")
    (tmp_path / "notes.md").write_text("hello", encoding="utf-8")
    fs, root = resolve(tmp_path)
    assert list_inputs(fs, root, "in") == [f"{root}/x.csv"]
    with pytest.raises(DataError, match="not found"):
        list_inputs(fs, f"{root}/missing", "missing")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="no input files"):
        list_inputs(*resolve(empty), "empty")


def test_a_foreign_output_folder_is_refused(tiny_bundle: Path, tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_text("description\nUBER TRIP\n", encoding="utf-8")
    out = tmp_path / "out"
    out.mkdir()
    (out / "precious.txt").write_text("keep me", encoding="utf-8")
    with pytest.raises(DataError, match="not empty"):
        ray_predict(tiny_bundle, source, out)
    assert (out / "precious.txt").exists()
    with pytest.raises(DataError, match="overlaps the input"):
        ray_predict(tiny_bundle, tmp_path, tmp_path / "inside")


# -- the CLI (a Ray runtime of its own, in a subprocess) -------------------------------------


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    env.pop("RAY_ADDRESS", None)
    return subprocess.run(
        [*CLI, *map(str, args)], capture_output=True, text=True, env=env, timeout=600
    )


@pytest.mark.slow
def test_cli_engine_ray_on_a_small_csv(tiny_bundle: Path, tmp_path: Path) -> None:
    from training.synthesis.synth import SynthConfig, generate

    source = tmp_path / "bank.csv"
    generate(SynthConfig(n=SMALL_CSV_ROWS, seed=5, workers=1)).to_csv(source, index=False)
    out = tmp_path / "categorized"
    args = ["predict", "-b", tiny_bundle, "-i", source, "-o", out, "--chunk-size", "100"]
    result = run(*args, "--engine", "ray", "--actors", "2", "--threads-per-actor", "1")
    assert result.returncode == 0, result.stderr
    assert f"{SMALL_CSV_ROWS:,} from 1 files" in result.stdout
    assert "1 × 1 threads on local" in result.stdout  # one CSV file: one unit, one actor
    assert (out / SUCCESS).exists()
    assert [p.name for p in out.glob("part-*")] == ["part-00000-00000.parquet"]
    assert pq.ParquetFile(out / "part-00000-00000.parquet").num_row_groups == 3  # 3 chunks
    expected = tmp_path / "expected.parquet"
    local = run(*args[:5], "-o", expected, "--chunk-size", "100", "--threads", "1")
    assert local.returncode == 0, local.stderr
    assert ray_output(out).equals(pq.read_table(expected))


@pytest.mark.slow
def test_cli_engine_ray_bad_row_exits_2(tiny_bundle: Path, tmp_path: Path) -> None:
    source = tmp_path / "bank.csv"
    source.write_text("Narrative,Debit,Credit\nUBER TRIP,14.20,\nTESCO,abc,\n", encoding="utf-8")
    args = ["predict", "-b", tiny_bundle, "-i", source, "-o", tmp_path / "o"]
    result = run(*args, "--engine", "spark")
    assert result.returncode == 2
    assert "Invalid value for '--engine'" in result.stderr
    assert "'spark' is not one of 'local', 'ray'" in result.stderr
    result = run(*args, "--actors", "2")
    assert result.returncode == 2
    assert "only with --engine ray" in result.stderr
    result = run(*args, "--engine", "ray")
    assert result.returncode == 2, result.stderr
    assert "bank.csv, line 3, column 'Debit'" in result.stderr
    assert not (tmp_path / "o" / SUCCESS).exists()


@pytest.mark.slow
def test_row_groups_csv_and_bad_rows_equal_single_process(
    tiny_bundle: Path, tmp_path: Path
) -> None:
    """Chunks across row groups, a CSV beside the Parquet, bad rows skipped into _rejects/."""
    from training.synthesis.synth import SynthConfig, generate

    source = tmp_path / "in"
    source.mkdir()
    frame = generate(SynthConfig(n=2_500, seed=9, workers=1))
    pq.write_table(pa.Table.from_pandas(frame), source / "a.parquet", row_group_size=700)
    bank = "Narrative,Debit,Credit\nUBER TRIP,14.20,\nTESCO,abc,\nPAYROLL ACME,,2500.00\n"
    (source / "b.csv").write_text(bank, encoding="utf-8")
    out = tmp_path / "out"
    summary = ray_predict(
        tiny_bundle, source, out, num_cpus=2, chunk_size=300, skip_bad_rows=True, progress=None
    )
    assert summary.rows == 2_502
    assert summary.rejected == 1
    assert summary.units == 10  # a.parquet: 9 chunks of 300 rows (700-row groups); b.csv: 1
    engine = Categorizer.load(tiny_bundle, threads=1)
    options = {"chunk_size": 300, "skip_bad_rows": True}
    predict_file(engine, source / "a.parquet", tmp_path / "a.parquet", **options)
    predict_file(engine, source / "b.csv", tmp_path / "b.parquet", **options)
    parts = sorted(out.glob("part-*.parquet"))
    a_parts = [p for p in parts if p.name.startswith("part-00000-")]
    assert len(a_parts) == 9  # chunks 2 (rows 600-900) and 4 (1,200-1,500) span two groups
    got_a = pa.concat_tables([pq.read_table(p) for p in a_parts])
    assert got_a.equals(pq.read_table(tmp_path / "a.parquet"))
    assert pq.read_table(out / "part-00001-00000.parquet").equals(
        pq.read_table(tmp_path / "b.parquet")
    )
    rejects = (out / "_rejects" / "part-00001-00000.csv").read_text(encoding="utf-8")
    assert rejects == (tmp_path / "b.rejects.csv").read_text(encoding="utf-8")


# -- the done-when test: 100,000 rows in 4 Parquet files, 2 CPUs -----------------------------


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """100,000 synthetic rows in 4 Parquet files of 25,000 (4 seeds)."""
    from training.synthesis.synth import SynthConfig, generate

    folder = tmp_path_factory.mktemp("ray_corpus") / "transactions"
    folder.mkdir()
    files = []
    for index in range(FILES):
        frame = generate(SynthConfig(n=ROWS_PER_FILE, seed=200 + index, workers=1))
        files.append(folder / f"bank-{index}.parquet")
        frame.to_parquet(files[-1])
    return files


@pytest.mark.slow
def test_100000_rows_in_4_files_equal_single_process_predict(
    tiny_bundle: Path, corpus: list[Path], tmp_path: Path
) -> None:
    import ray

    out = tmp_path / "categorized"
    done: list[int] = []
    assert not ray.is_initialized()
    summary = ray_predict(
        tiny_bundle,
        corpus[0].parent,
        out,
        num_cpus=2,
        actors=2,
        threads_per_actor=1,
        progress=lambda rows, total: done.append(rows),
    )
    assert not ray.is_initialized()  # the runtime it started is stopped again
    assert summary.rows == FILES * ROWS_PER_FILE == done[-1]
    assert summary.files == FILES
    assert summary.actors == 2
    assert summary.partitions == FILES * 3  # 10,000 + 10,000 + 5,000 rows per file
    assert summary.rows_per_second > 0
    assert (out / SUCCESS).exists()
    got = ray_output(out)
    expected = single_process(tiny_bundle, sorted(corpus), tmp_path)
    assert got.column_names == [*pq.read_schema(corpus[0]).names, *PREDICTION_COLUMNS]
    assert got.num_rows == expected.num_rows == 100_000
    assert got.equals(expected)  # row for row, in order, confidences exactly
    counts = pc.value_counts(expected["predicted_category"]).to_pylist()
    assert summary.categories == {c["values"]: c["counts"] for c in counts}
