"""`categorizer predict`: descriptions on the command line, or a whole file, through a bundle.

Loading the engine, the rich table or JSON lines for descriptions, and the
progress bar and summary for files. Files need the training extra (pandas, pyarrow); the
command-line mode needs only the serving dependencies.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from categorizer.engine import Categorizer, Prediction


def run_predict(
    *,
    bundle: Path,
    descriptions: Sequence[str],
    input: Path | None,
    out: Path | None,
    options: dict[str, Any],
    file_options: dict[str, Any],
    as_json: bool,
    console: Console,
    err_console: Console,
) -> None:
    """Run the predict command; bad input exits 2 with a one-line reason.

    Args:
        bundle: The bundle folder.
        descriptions: Transaction descriptions given on the command line.
        input: A transaction file (with `out`), instead of descriptions.
        out: The output file (.parquet, .csv or .tsv).
        options: `Categorizer.load` keywords (threads, batch_size, abstain_threshold, top_k).
        file_options: `predict_file` keywords (columns, chunk_size, amount_convention, ...).
        as_json: Print JSON lines instead of a table (descriptions only).
        console: Where results go.
        err_console: Where errors and progress go.
    """
    from categorizer.bundle import BundleError

    if bool(descriptions) == (input is not None) or (input is None) != (out is None):
        _fail(err_console, "give DESCRIPTION... or --input FILE with --out FILE (not both)")
    from categorizer.engine import Categorizer

    try:
        engine = Categorizer.load(bundle, **options)
        predictions = engine.predict(list(descriptions)) if input is None else []
    except (BundleError, ValueError) as exc:  # a bad bundle, option or description
        _fail(err_console, str(exc))
    if input is not None:  # a bad file raises DataError: cli.handle_errors exits 2 with it
        assert out is not None
        _predict_file(engine, input, out, file_options, console, err_console)
        return
    if as_json:
        for text, prediction in zip(descriptions, predictions, strict=True):
            typer.echo(json.dumps({"description": text, **prediction.to_dict()}))
    else:
        console.print(prediction_table(engine, descriptions, predictions))


def _fail(err_console: Console, reason: str) -> NoReturn:
    err_console.print(f"[red]error:[/red] {reason}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


def prediction_table(
    engine: Categorizer, descriptions: Sequence[str], predictions: Sequence[Prediction]
) -> Table:
    """One row per description: category, detailed category, confidence, runners-up."""
    manifest = engine.manifest
    table = Table(title=f"{manifest.name} {manifest.version} ({manifest.quantization})")
    detailed = manifest.label_level == "detailed"
    table.add_column("description", overflow="fold")
    table.add_column("category")
    if detailed:
        table.add_column("detailed category")
    table.add_column("confidence", justify="right")
    table.add_column("top", overflow="fold")
    for text, p in zip(descriptions, predictions, strict=True):
        top = ", ".join(f"{c} {s:.2f}" for c, s in p.top)
        cells = [text, p.category, *([p.detailed_category or "-"] if detailed else [])]
        table.add_row(*cells, f"{p.confidence:.3f}", top)
    return table


def _predict_file(
    engine: Categorizer,
    input: Path,
    out: Path,
    file_options: dict[str, Any],
    console: Console,
    err_console: Console,
) -> None:
    from categorizer.batch.predict_file import predict_file

    with _progress(err_console) as update:
        summary = predict_file(engine, input, out, progress=update, **file_options)
    table = Table(title=str(summary.output), show_header=False)
    table.add_row("rows", f"{summary.rows:,}")
    table.add_row("time", f"{summary.seconds:.1f} s ({summary.rows_per_second:,.0f} rows/s)")
    table.add_row("columns", ", ".join(f"{k} ← {v}" for k, v in summary.mapped_columns.items()))
    if summary.rejects_path is not None:
        table.add_row("rejected", f"{summary.rejected:,} → {summary.rejects_path}")
    table.add_row("mean confidence", f"{summary.mean_confidence:.3f}")
    table.add_row("abstained", f"{summary.abstained:,}")
    top = list(summary.categories.items())[:5]
    table.add_row("top categories", ", ".join(f"{c} {n:,}" for c, n in top) or "-")
    console.print(table)


@contextlib.contextmanager
def _progress(err_console: Console) -> Iterator[Callable[[int, int | None], None]]:
    """A rich progress bar (rows, rate, ETA) and the callback that drives it."""
    from categorizer.cli.tables import rows_progress

    started = time.perf_counter()
    with rows_progress("categorizing", err_console) as bar:
        task = bar.add_task("predict", total=None, rate="")

        def update(done: int, total: int | None) -> None:
            rate = done / max(time.perf_counter() - started, 1e-9)
            bar.update(
                task, completed=done, total=max(total or 0, done), rate=f"{rate:,.0f} rows/s"
            )

        yield update


def run_ray_predict(
    *,
    bundle: Path,
    descriptions: Sequence[str],
    input: str | None,
    out: str | None,
    options: dict[str, Any],
    console: Console,
    err_console: Console,
) -> None:
    """`predict --engine ray`: a file or folder through a pool of Ray actors, with a summary.

    Args:
        bundle: The bundle folder.
        descriptions: Must be empty (the Ray engine is for files).
        input: A file, a folder or a URI of transaction files.
        out: The output folder (local or URI).
        options: `categorizer.batch.ray_predict.ray_predict` keywords.
        console: Where the summary goes.
        err_console: Where errors and progress go.
    """
    if descriptions or input is None or out is None:
        _fail(err_console, "--engine ray categorizes files: give --input PATH and --out FOLDER")
    from categorizer.batch.ray_predict import ray_predict

    with _progress(err_console) as update:
        summary = ray_predict(bundle, input, out, progress=update, **options)
    table = Table(title=summary.output, show_header=False)
    table.add_row("rows", f"{summary.rows:,} from {summary.files:,} files")
    table.add_row("time", f"{summary.seconds:.1f} s ({summary.rows_per_second:,.0f} rows/s)")
    table.add_row(
        "actors",
        f"{summary.actors} × {summary.threads_per_actor} threads on {summary.cluster} "
        f"({summary.cluster_cpus:g} CPUs)",
    )
    table.add_row("partitions", f"{summary.partitions:,} Parquet files ({summary.units:,} units)")
    table.add_row("columns", ", ".join(f"{k} ← {v}" for k, v in summary.mapped_columns.items()))
    if summary.rejected:
        table.add_row("rejected", f"{summary.rejected:,} → {summary.output}/_rejects/")
    table.add_row("mean confidence", f"{summary.mean_confidence:.3f}")
    table.add_row("abstained", f"{summary.abstained:,}")
    top = list(summary.categories.items())[:5]
    table.add_row("top categories", ", ".join(f"{c} {n:,}" for c, n in top) or "-")
    console.print(table)
