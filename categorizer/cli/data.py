"""The data commands: `synth`, `validate` and `label` (with its progress bar)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from categorizer.cli.common import (
    ColumnsOption,
    Engine,
    RayAddressOption,
    console,
    err_console,
    handle_errors,
)
from categorizer.cli.tables import label_table


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
    from training.synthesis.commands import run_synth

    started = time.perf_counter()
    summary = run_synth(out=out, n=n, seed=seed, workers=workers, console=console)
    elapsed = time.perf_counter() - started
    console.print(
        f"wrote {summary['rows']:,} rows to {out} in {elapsed:.1f} s "
        f"({summary['rows'] / elapsed:,.0f} rows/s): {summary['merchants']:,} distinct merchants, "
        f"{summary['categories']} primary categories"
    )


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
    from categorizer.ingest.data import parse_columns, validate_file

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
            help="hf:MODEL (hf:smollm2), llama:MODEL (llama:qwen2.5-coder-1.5b, a GGUF), "
            "openai:MODEL (with --base-url) or labels:COLUMN.",
        ),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="The soft labels: a .parquet file.")],
    kb_hints: Annotated[
        bool,
        typer.Option(
            "--kb-hints",
            help="openai:/llama: teachers: tell the model what the merchant knowledge base "
            "knows of the brand a row names (data/merchant_kb).",
        ),
    ] = False,
    kb_answers: Annotated[
        bool,
        typer.Option(
            "--kb-answers",
            help="With --kb-hints: answer rows whose brand the knowledge base maps to a "
            "category from the base, and ask the model only about the rest.",
        ),
    ] = False,
    answer_words: Annotated[
        bool,
        typer.Option(
            "--answer-words",
            help="openai:/llama: teachers: answer with one word per primary category (Food, "
            "Travel, ...) instead of a letter (Plaid PFC taxonomy).",
        ),
    ] = False,
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
    engine: Annotated[
        Engine, typer.Option(help="local (this process) or ray (one teacher replica per actor).")
    ] = Engine.local,
    ray_address: RayAddressOption = None,
    actors: Annotated[
        int | None,
        typer.Option(min=1, help="--engine ray: teacher actors (default: one per GPU, else CPU)."),
    ] = None,
) -> None:
    """Label transactions with a teacher: soft labels, cached (a rerun resumes) and costed.

    Writes OUT (the input rows plus teacher_probs, teacher_label, teacher_confidence, teacher,
    label_mass, teacher_detailed_label, teacher_status) and OUT.meta.json (rows, cache hits,
    teacher calls, failures, tokens, seconds, cost). Rows the teacher cannot label are counted
    and left unlabeled.

    Example: categorizer label --input corpus.parquet --teacher hf:smollm2 --out labels.parquet
    --limit 200 --hourly-price 0.10

    Example: RAY_ADDRESS=auto categorizer label --engine ray --input corpus.parquet
    --teacher hf:Qwen/Qwen2.5-7B-Instruct --out labels.parquet
    """
    from categorizer.ingest.data import parse_columns
    from categorizer.taxonomy import load_taxonomy
    from training.labeling.runner import Prices, examples_id_of, label_file, load_examples
    from training.labeling.teachers import make_teacher

    if hourly_price is not None and (price_in is not None or price_out is not None):
        err_console.print(
            "[red]error:[/red] give --price-in/--price-out or --hourly-price, not both",
            highlight=False,
        )
        raise typer.Exit(2)
    ray_only = {"--ray-address": ray_address is not None, "--actors": actors is not None}
    if engine == "local" and any(ray_only.values()):
        given = ", ".join(name for name, used in ray_only.items() if used)
        err_console.print(f"[red]error:[/red] {given}: only with --engine ray")
        raise typer.Exit(2)
    prices = Prices(price_in or 0.0, price_out or 0.0, hourly_price or 0.0)
    mapping = parse_columns(columns)
    tax = load_taxonomy(taxonomy)
    options: dict[str, Any] = {}
    if label_smoothing:
        options["label_smoothing"] = label_smoothing
    if detailed_column:
        options["detailed_column"] = detailed_column
    if kb_hints:
        options["kb_hints"] = True
    if answer_words:
        options["answers"] = "words"
    if kb_answers:
        from training.labeling.teachers.kb_hints import KB_ANSWER_CONFIDENCE

        options["kb_hints"] = True
        options["kb_answers"] = KB_ANSWER_CONFIDENCE
    retriever = None
    if examples is not None and teacher.strip().lower().startswith("labels:"):
        err_console.print("[yellow]warning:[/yellow] labels: teachers use no --examples")
    elif examples is not None:
        retriever = load_examples(examples, tax)
        options["examples_id"] = examples_id_of(retriever, k)
    run: dict[str, Any] = {
        "taxonomy": tax,
        "columns": mapping,
        "examples": retriever,
        "k": k,
        "limit": limit,
        "cache_path": cache,
        "prices": prices,
    }
    if engine == "ray":
        from training.labeling.ray_label import ray_label_file

        options.update(base_url=base_url, api_key_env=api_key_env, batch_size=batch_size)
        with _label_progress() as progress:
            summary = ray_label_file(
                input,
                out,
                teacher,
                teacher_options=options,
                address=ray_address,
                actors=actors,
                progress=progress,
                **run,
            )
        _print_summary(summary)
        return
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
            summary = label_file(input, out, backend, progress=progress, **run)
    finally:
        backend.close()
    _print_summary(summary)


def _print_summary(summary: Any) -> None:
    """The run's table, and a warning with the reasons when rows were left unlabeled."""
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
    from categorizer.cli.tables import rows_progress

    with rows_progress("labeling", err_console) as bar:
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
