"""The `categorizer` command line.

Each subcommand imports what it needs (pandas, torch, fastapi) inside its body, so `categorizer
--help` and the light commands start fast. Exit codes: 0 success, 2 bad input (one line naming
the file, row and column), 1 internal failure.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from categorizer.cli_tables import label_table, train_table

app = typer.Typer(
    name="categorizer",
    help="Categorize bank transactions with a small model distilled from an LLM.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)
log = logging.getLogger("categorizer")
F = TypeVar("F", bound=Callable[..., Any])

ColumnsOption = Annotated[
    str | None,
    typer.Option(
        "--columns",
        help="Map the file's column names: description=Memo,amount=Amount,date=Posted",
    ),
]


def _bad_input_types() -> tuple[type[BaseException], ...]:
    """Exceptions that mean the user's input is wrong (exit 2), not that we failed (exit 1)."""
    types: list[type[BaseException]] = [FileNotFoundError, IsADirectoryError]
    from categorizer.taxonomy import TaxonomyError

    types.append(TaxonomyError)
    try:
        from training.data import DataError, SplitError
        from training.teachers.base import TeacherError
        from training.train_config import ConfigError
        from training.vocab import VocabularyError

        types += [DataError, SplitError, VocabularyError, TeacherError, ConfigError]
    except ImportError:  # the serve-only install has no training package dependencies
        pass
    return tuple(types)


def handle_errors(func: F) -> F:
    """Translate library exceptions into the CLI's exit codes and one-line messages."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except _bad_input_types() as exc:
            err_console.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except ImportError as exc:
            err_console.print(
                f"[red]error:[/red] {exc}. Install the extra this command needs: "
                'pip install "txn-categorizer[train]" (or [serve], [all]).',
                highlight=False,
            )
            raise typer.Exit(1) from None
        except Exception as exc:
            log.debug("internal failure", exc_info=True)
            err_console.print(
                f"[red]internal error:[/red] {type(exc).__name__}: {exc} "
                "(run with --verbose for the traceback)",
                highlight=False,
                soft_wrap=True,
            )
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


@app.callback()
def _main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


@app.command()
@handle_errors
def synth(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output file: .parquet or .csv")],
    n: Annotated[int, typer.Option("--n", "-n", min=1, help="Number of transactions.")] = 10_000,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed, the same corpus.")] = 0,
    workers: Annotated[int | None, typer.Option(help="Processes (default: up to 2).")] = None,
) -> None:
    """Generate a synthetic corpus of bank transactions with ground-truth categories.

    Example: categorizer synth --n 100000 --seed 1 --out data/corpus.parquet
    """
    from training.commands import run_synth

    started = time.perf_counter()
    summary = run_synth(out=out, n=n, seed=seed, workers=workers, console=console)
    elapsed = time.perf_counter() - started
    console.print(
        f"wrote {summary['rows']:,} rows to {out} in {elapsed:.1f} s "
        f"({summary['rows'] / elapsed:,.0f} rows/s): {summary['merchants']:,} distinct merchants, "
        f"{summary['categories']} primary categories"
    )


@app.command()
@handle_errors
def validate(
    file: Annotated[Path, typer.Argument(help="A bank export: CSV, Parquet or JSONL.")],
    columns: ColumnsOption = None,
    encoding: Annotated[str | None, typer.Option(help="utf-8, latin-1... (default: auto)")] = None,
    skip_bad_rows: Annotated[
        bool, typer.Option(help="Write bad rows to a rejects file instead of stopping.")
    ] = False,
    rejects: Annotated[Path | None, typer.Option(help="Where to write rejected rows.")] = None,
) -> None:
    """Check a bank export before anything is spent on it, and summarise it.

    Example: categorizer validate export.csv --columns description=Memo,amount=Amount
    """
    from training.data import parse_columns, validate_file

    report = validate_file(
        file,
        columns=parse_columns(columns),
        encoding=encoding,
        skip_bad_rows=skip_bad_rows,
        rejects_path=rejects,
    )
    table = Table(title=f"{file}", show_header=False)
    table.add_row("rows", f"{report.rows:,}")
    table.add_row("bad rows", f"{report.bad_rows:,}")
    table.add_row("encoding", report.encoding)
    table.add_row("columns", ", ".join(f"{k} ← {v}" for k, v in report.mapped_columns.items()))
    table.add_row("currencies", ", ".join(f"{c} {k:,}" for c, k in report.currencies.items()))
    table.add_row("dates", f"{report.date_min or '-'} … {report.date_max or '-'}")
    if report.rejects_path is not None:
        table.add_row("rejects", str(report.rejects_path))
    console.print(table)


@app.command()
@handle_errors
def label(
    input: Annotated[
        Path,
        typer.Option(
            "--input", "-i", exists=True, dir_okay=False, help="Transactions: CSV, Parquet, JSONL."
        ),
    ],
    teacher: Annotated[
        str,
        typer.Option(
            "--teacher",
            "-t",
            help="hf:MODEL (hf:smollm2), openai:MODEL (with --base-url) or labels:COLUMN.",
        ),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="The soft labels: a .parquet file.")],
    columns: ColumnsOption = None,
    examples: Annotated[
        Path | None, typer.Option(help="Labeled seed file for retrieved few-shot examples.")
    ] = None,
    k: Annotated[int, typer.Option("--k", min=1, help="Few-shot examples per row.")] = 4,
    limit: Annotated[
        int | None, typer.Option(min=1, help="Label only the first N rows (try a sample).")
    ] = None,
    base_url: Annotated[
        str | None, typer.Option(help="OpenAI-compatible server (default $OPENAI_BASE_URL).")
    ] = None,
    api_key_env: Annotated[
        str, typer.Option(help="Environment variable holding the API key.")
    ] = "OPENAI_API_KEY",
    batch_size: Annotated[
        int | None, typer.Option(min=1, help="Rows per teacher call (default: the backend's).")
    ] = None,
    price_in: Annotated[
        float | None, typer.Option(min=0.0, help="USD per million prompt tokens.")
    ] = None,
    price_out: Annotated[
        float | None, typer.Option(min=0.0, help="USD per million completion tokens.")
    ] = None,
    hourly_price: Annotated[
        float | None, typer.Option(min=0.0, help="USD per hour of local teacher time.")
    ] = None,
    label_smoothing: Annotated[
        float, typer.Option(min=0.0, max=0.999, help="labels: teachers: smooth one-hot targets.")
    ] = 0.0,
    detailed_column: Annotated[
        str | None, typer.Option(help="labels: teachers: column with detailed category ids.")
    ] = None,
    taxonomy: Annotated[
        Path | None, typer.Option(help="A taxonomy YAML file (default: Plaid PFC v1).")
    ] = None,
    cache: Annotated[
        Path | None, typer.Option(help="The answer cache (default: <out>.cache.sqlite).")
    ] = None,
) -> None:
    """Label transactions with a teacher: soft labels, cached (a rerun resumes) and costed.

    Writes OUT (the input rows plus teacher_probs, teacher_label, teacher_confidence, teacher,
    label_mass, teacher_detailed_label, teacher_status) and OUT.meta.json (rows, cache hits,
    teacher calls, failures, tokens, seconds, cost). Rows the teacher cannot label are counted
    and left unlabeled.

    Example: categorizer label --input corpus.parquet --teacher hf:smollm2 --out labels.parquet
    --limit 200 --hourly-price 0.10
    """
    from categorizer.taxonomy import load_taxonomy
    from training.data import parse_columns
    from training.labeling import Prices, examples_id_of, label_file, load_examples
    from training.teachers import make_teacher

    if hourly_price is not None and (price_in is not None or price_out is not None):
        err_console.print(
            "[red]error:[/red] give --price-in/--price-out or --hourly-price, not both",
            highlight=False,
        )
        raise typer.Exit(2)
    prices = Prices(price_in or 0.0, price_out or 0.0, hourly_price or 0.0)
    mapping = parse_columns(columns)
    tax = load_taxonomy(taxonomy)
    options: dict[str, Any] = {}
    if label_smoothing:
        options["label_smoothing"] = label_smoothing
    if detailed_column:
        options["detailed_column"] = detailed_column
    retriever = None
    if examples is not None and teacher.strip().lower().startswith("labels:"):
        err_console.print("[yellow]warning:[/yellow] labels: teachers use no --examples")
    elif examples is not None:
        retriever = load_examples(examples, tax)
        options["examples_id"] = examples_id_of(retriever, k)
    with err_console.status(f"starting teacher {teacher}…"):
        backend = make_teacher(
            teacher,
            tax,
            base_url=base_url,
            api_key_env=api_key_env,
            batch_size=batch_size,
            **options,
        )
    try:
        with _label_progress() as progress:
            summary = label_file(
                input,
                out,
                backend,
                taxonomy=tax,
                columns=mapping,
                examples=retriever,
                k=k,
                limit=limit,
                cache_path=cache,
                prices=prices,
                progress=progress,
            )
    finally:
        backend.close()
    console.print(label_table(summary))
    if summary.failed:
        reasons = "; ".join(f"{n:,}× {why}" for why, n in summary.failures.items())
        err_console.print(
            f"[yellow]warning:[/yellow] {summary.failed:,} of {summary.rows:,} rows were not "
            f"labeled (teacher_status 'failed: …'); a rerun retries them. Reasons: {reasons}",
            highlight=False,
            soft_wrap=True,
        )


@contextlib.contextmanager
def _label_progress() -> Iterator[Callable[[int, int], None]]:
    """A rich progress bar (rows, rate, ETA) and the callback that drives it."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("labeling"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=err_console, transient=True) as bar:
        task = bar.add_task("label", total=None, rate="")
        first: list[float] = []  # (rows already done, time) when the teacher's work began

        def update(done: int, total: int) -> None:
            now = time.perf_counter()
            if not first:  # cache hits arrive at once: keep them out of the rate and the ETA
                first.extend((done, now))
                bar.reset(task, total=total, completed=done, rate="")
                return
            rate = (done - first[0]) / max(now - first[1], 1e-9)
            bar.update(task, completed=done, rate=f"{rate:,.1f} rows/s")

        yield update


@app.command()
@handle_errors
def train(
    data: Annotated[
        Path, typer.Option("--data", "-d", help="Soft labels from `categorizer label` (.parquet).")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="The run directory to write.")],
    student: Annotated[
        str | None,
        typer.Option(help="minilm (default), a Hugging Face id or folder, or scratch:L4-H256."),
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="A TOML/YAML file of config fields.")
    ] = None,
    layers: Annotated[
        int | None, typer.Option(min=1, help="Keep the first K layers (a faster student).")
    ] = None,
    epochs: Annotated[int | None, typer.Option(min=1, help="At most this many epochs.")] = None,
    batch_size: Annotated[int | None, typer.Option(min=1, help="Rows per batch.")] = None,
    lr: Annotated[float | None, typer.Option(help="Peak learning rate.")] = None,
    temperature: Annotated[float | None, typer.Option(help="Distillation temperature T.")] = None,
    alpha: Annotated[
        float | None, typer.Option(help="Weight of the hard-label cross-entropy (0..1).")
    ] = None,
    gold_column: Annotated[
        str | None, typer.Option(help="Gold primary labels: hard targets and accuracy.")
    ] = None,
    label_level: Annotated[
        str | None, typer.Option(help="primary (default) or detailed categories.")
    ] = None,
    max_rows: Annotated[int | None, typer.Option(min=3, help="Train on a sample.")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of split, init and order.")] = None,
    threads: Annotated[int | None, typer.Option(min=1, help="torch CPU threads.")] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Any config field: --set warmup_ratio=0.1 (repeatable)."),
    ] = None,
    resume: Annotated[
        bool, typer.Option(help="Continue from OUT/checkpoint (same data and config).")
    ] = False,
    taxonomy: Annotated[
        Path | None, typer.Option(help="A taxonomy YAML file (default: Plaid PFC v1).")
    ] = None,
) -> None:
    """Distill a student from a teacher's soft labels; write the run directory.

    Example: categorizer train --data labels.parquet --student minilm --out runs/minilm

    Under several GPUs: torchrun --nproc-per-node 4 -m categorizer.cli train --data ... --out ...
    """
    from categorizer.taxonomy import load_taxonomy
    from training.distill import train as run_training
    from training.train_config import load_config, parse_overrides

    overrides: dict[str, Any] = {
        "student": student,
        "layers": layers,
        "epochs": epochs,
        "batch_size": batch_size,
        "lr": lr,
        "temperature": temperature,
        "alpha": alpha,
        "gold_column": gold_column,
        "label_level": label_level,
        "max_rows": max_rows,
        "seed": seed,
        "threads": threads,
    }
    overrides |= parse_overrides(set_ or [])
    train_config = load_config(config, overrides)
    result = run_training(data, out, train_config, taxonomy=load_taxonomy(taxonomy), resume=resume)
    console.print(train_table(result))


@app.command()
@handle_errors
def demo(
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("runs/demo"),
    fast: Annotated[bool, typer.Option(help="A small run for CI (a minute or less).")] = False,
    n: Annotated[int | None, typer.Option(help="Corpus size (default 50,000; 5,000 fast).")] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    """Run the pipeline end to end on the embedded synthetic corpus and print a summary.

    Example: categorizer demo --fast --out runs/demo
    """
    from training.commands import run_demo

    run_demo(out=out, n=n or (5_000 if fast else 50_000), seed=seed, console=console)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
