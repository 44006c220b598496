"""The `categorizer` command line.

Each subcommand imports what it needs (pandas, torch, fastapi) inside its body, so `categorizer
--help` and the light commands start fast. Exit codes: 0 success, 2 bad input (one line naming
the file, row and column), 1 internal failure.
"""

from __future__ import annotations

import contextlib
import functools
import json
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
    from categorizer.bundle import BundleError

    types.append(BundleError)
    try:
        from training.run_info import ExportError

        types.append(ExportError)
    except ImportError:
        pass
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
    from categorizer.cli_tables import rows_progress

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
def export(
    run: Annotated[
        Path, typer.Option("--run", "-r", help="A run directory from `categorizer train`.")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="The bundle folder to write.")],
    quantize: Annotated[
        str, typer.Option(help="int8 (dynamic, or weight-only if that drifts) or none (fp32).")
    ] = "int8",
    data: Annotated[
        Path | None,
        typer.Option(help="The run's labeled file, if it moved (the parity gate's rows)."),
    ] = None,
    max_rows: Annotated[
        int, typer.Option(min=1, help="Validation rows the parity gate scores.")
    ] = 2000,
    name: Annotated[str | None, typer.Option(help="Model name (default: the run's).")] = None,
    version: Annotated[str | None, typer.Option(help="Model version (default 1).")] = None,
    min_int8_agreement: Annotated[
        float,
        typer.Option(min=0.0, max=1.0, help="int8 gate: least share of rows keeping their label."),
    ] = 0.995,
) -> None:
    """Export a trained student to a verified ONNX model bundle for `predict` and `serve`.

    Refuses the export when ONNX logits drift from torch's on the run's validation rows.

    Example: categorizer export --run runs/minilm --out runs/bundle --quantize int8
    """
    from training.export import export_run
    from training.parity import Thresholds

    result = export_run(
        run,
        out,
        quantize=quantize,
        data_path=data,
        max_rows=max_rows,
        name=name,
        version=version,
        show_progress=True,
        thresholds=Thresholds(int8_agreement=min_int8_agreement),
    )
    parity = result.manifest.parity
    table = Table(title=f"bundle written to {result.bundle}", show_header=False)
    table.add_row("model", f"{result.manifest.name} {result.manifest.version}")
    table.add_row("quantization", result.manifest.quantization)
    for key, size in result.sizes.items():
        table.add_row(f"size: {key.replace('_', ' ')}", f"{size / 1e6:,.2f} MB")
    table.add_row("parity rows", f"{parity['rows']:,}")
    table.add_row("fp32 agreement", f"{parity['fp32_agreement']:.2%}")
    table.add_row("fp32 max |logit diff|", f"{parity['fp32_max_abs_diff']:.2e}")
    if parity["int8_agreement"] is not None:
        table.add_row("int8 agreement", f"{parity['int8_agreement']:.2%}")
        table.add_row("int8 method", str(parity.get("int8_method", "")))
    table.add_row("seconds", f"{result.timings['total']:,.1f}")
    table.add_row("path", str(result.bundle))
    console.print(table)


@app.command()
@handle_errors
def predict(
    bundle: Annotated[
        Path, typer.Option("--bundle", "-b", help="The model bundle (`categorizer export`).")
    ],
    descriptions: Annotated[
        list[str] | None, typer.Argument(help="Transaction descriptions to categorize.")
    ] = None,
    input: Annotated[
        Path | None, typer.Option("--input", "-i", help="Transactions: CSV, Parquet, JSONL.")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Rows plus predictions: .parquet or .csv.")
    ] = None,
    threads: Annotated[int | None, typer.Option(min=1, help="ONNX Runtime threads.")] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Rows per model call.")] = 64,
    abstain: Annotated[
        float, typer.Option(min=0.0, help="Below this confidence, answer UNCATEGORIZED.")
    ] = 0.0,
    top_k: Annotated[int, typer.Option(min=0, help="Runner-up categories to show.")] = 3,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines, not a table.")] = False,
    columns: ColumnsOption = None,
    amount_convention: Annotated[
        str, typer.Option(help="outflow_negative (default) or outflow_positive (Plaid).")
    ] = "outflow_negative",
    chunk_size: Annotated[
        int, typer.Option(min=1, help="Rows read and written at a time.")
    ] = 10_000,
    skip_bad_rows: Annotated[
        bool, typer.Option(help="Write bad rows to <out>.rejects.csv instead of stopping.")
    ] = False,
) -> None:
    """Categorize descriptions, or a whole file, with a model bundle.

    Example: categorizer predict --bundle runs/bundle "POS PURCHASE STARBUCKS #1234 SEATTLE WA"

    Example: categorizer predict --bundle runs/bundle --input export.csv --out categorized.parquet
    """
    from categorizer.cli_predict import run_predict
    from categorizer.schema import AMOUNT_CONVENTIONS

    if amount_convention not in AMOUNT_CONVENTIONS:
        err_console.print(
            f"[red]error:[/red] --amount-convention: expected one of {AMOUNT_CONVENTIONS}"
        )
        raise typer.Exit(2)
    file_options: dict[str, Any] = {
        "chunk_size": chunk_size,
        "amount_convention": amount_convention,
        "skip_bad_rows": skip_bad_rows,
    }
    if columns:
        from training.data import parse_columns

        file_options["columns"] = parse_columns(columns)
    run_predict(
        bundle=bundle,
        descriptions=descriptions or [],
        input=input,
        out=out,
        options={
            "threads": threads,
            "batch_size": batch_size,
            "abstain_threshold": abstain,
            "top_k": top_k,
        },
        file_options=file_options,
        as_json=as_json,
        console=console,
        err_console=err_console,
    )


@app.command()
@handle_errors
def select(
    bundle: Annotated[
        Path, typer.Option("--bundle", "-b", help="The model bundle (`categorizer export`).")
    ],
    input: Annotated[
        Path, typer.Option("--input", "-i", help="The unlabeled pool: CSV, Parquet, JSONL.")
    ],
    budget: Annotated[int, typer.Option(min=1, help="Rows to select for the teacher.")],
    out: Annotated[
        Path,
        typer.Option("--out", "-o", help="Selected rows: .csv, .tsv, .parquet or .jsonl."),
    ],
    strategy: Annotated[
        str, typer.Option(help="entropy, margin, or random (the baseline).")
    ] = "entropy",
    columns: ColumnsOption = None,
    seed: Annotated[int, typer.Option(help="Seed of the random strategy.")] = 0,
    threads: Annotated[int | None, typer.Option(min=1, help="ONNX Runtime threads.")] = None,
) -> None:
    """Pick the pool transactions the model is least sure of, to label with the teacher.

    At most one row per near-duplicate descriptor until every group has one. The output is the
    selected rows plus `uncertainty` and `selection_rank` (0 = most uncertain).

    Example: categorizer select --bundle runs/bundle --input pool.csv --budget 500
    --out to_label.csv
    """
    from categorizer.cli_select import run_select

    run_select(
        bundle, input, budget, out, strategy, columns, seed, console, err_console, threads=threads
    )


@app.command()
@handle_errors
def retrain(
    base: Annotated[Path, typer.Option(help="The base model's training run directory.")],
    new: Annotated[Path, typer.Option(help="New transactions: CSV, Parquet, JSONL.")],
    teacher: Annotated[
        str, typer.Option("--teacher", "-t", help="hf:MODEL, openai:MODEL or labels:COLUMN.")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for labels, run, bundle.")],
    from_scratch: Annotated[
        bool, typer.Option(help="Train a fresh student instead of fine-tuning the base one.")
    ] = False,
    feedback: Annotated[
        Path | None, typer.Option(help="The service's feedback DB: corrections as gold rows.")
    ] = None,
    feedback_weight: Annotated[
        int, typer.Option(min=1, help="How many times each correction counts.")
    ] = 3,
    registry: Annotated[
        Path | None, typer.Option(help="Model registry folder: record, promote if it passes.")
    ] = None,
    epochs: Annotated[int | None, typer.Option(min=1, help="Epochs (default: the base's).")] = None,
    lr: Annotated[float | None, typer.Option(help="Learning rate (default: the base's).")] = None,
    max_agreement_drop: Annotated[float, typer.Option(help="Gate: agreement margin.")] = 0.01,
    max_accuracy_drop: Annotated[float, typer.Option(help="Gate: accuracy margin.")] = 0.01,
    max_recall_drop: Annotated[float, typer.Option(help="Gate: per-category recall.")] = 0.05,
    min_support: Annotated[int, typer.Option(help="Gate: rows a category needs.")] = 20,
    base_url: Annotated[str | None, typer.Option(help="OpenAI-compatible server.")] = None,
    api_key_env: Annotated[str, typer.Option(help="Env variable of the API key.")] = (
        "OPENAI_API_KEY"
    ),
    cache: Annotated[Path | None, typer.Option(help="The teacher's answer cache.")] = None,
) -> None:
    """Label only the new transactions, merge, fine-tune, export, and gate against the base.

    Example: categorizer retrain --base runs/student --new march.csv --teacher hf:smollm2
    --out runs/retrain_march --registry models
    """
    from categorizer.cli_retrain import run_retrain

    overrides = {k: v for k, v in {"epochs": epochs, "lr": lr}.items() if v is not None}
    gate = {
        "max_agreement_drop": max_agreement_drop,
        "max_accuracy_drop": max_accuracy_drop,
        "max_recall_drop": max_recall_drop,
        "min_support": min_support,
    }
    run_retrain(
        base=base, new=new, teacher_spec=teacher, out=out,
        teacher_options={"base_url": base_url, "api_key_env": api_key_env}
        if teacher.startswith("openai:") else {},
        gate_options=gate, overrides=overrides, from_scratch=from_scratch, feedback_db=feedback,
        feedback_weight=feedback_weight, registry_root=registry, cache=cache, console=console,
    )  # fmt: skip


@app.command()
@handle_errors
def serve(
    bundle: Annotated[
        Path | None,
        typer.Option("--bundle", "-b", help="The model bundle (default $CATEGORIZER_BUNDLE)."),
    ] = None,
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8000,
    workers: Annotated[
        int, typer.Option(min=1, help="Processes, each with its own model and metrics.")
    ] = 1,
    threads: Annotated[
        int | None, typer.Option(min=1, help="ONNX Runtime threads per worker.")
    ] = None,
    access_log: Annotated[
        bool | None, typer.Option(help="One log line per request (method, path, status).")
    ] = None,
    log_level: Annotated[str | None, typer.Option(help="debug, info, warning...")] = None,
    registry: Annotated[
        Path | None,
        typer.Option(help="Serve a registry's promoted version; reload each newly promoted one."),
    ] = None,
    feedback_db: Annotated[
        Path | None, typer.Option(help="SQLite file for POST /v1/feedback corrections.")
    ] = None,
) -> None:
    """Serve a model bundle over HTTP: POST /v1/categorize, /docs, /metrics.

    Flags win over CATEGORIZER_* variables (CATEGORIZER_API_KEYS, CATEGORIZER_MAX_QUEUE...).

    Example: categorizer serve --bundle runs/bundle --port 8000
    (or --registry models: the promoted version, followed)
    """
    from pydantic import ValidationError

    from serving.server import resolve_settings, run_server

    overrides = {
        "bundle": bundle,
        "threads": threads,
        "access_log": access_log,
        "log_level": log_level,
        "registry": registry,
        "feedback_db": feedback_db,
    }
    try:
        settings = resolve_settings(overrides, workers)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = "CATEGORIZER_" + "_".join(str(part) for part in first["loc"]).upper()
        err_console.print(f"[red]error:[/red] {where}: {first['msg']}", highlight=False)
        raise typer.Exit(2) from None
    if settings.bundle is None and settings.registry is None:
        err_console.print("[red]error:[/red] pass --bundle DIR (or --registry DIR)")
        raise typer.Exit(2)
    try:
        run_server(settings, host=host, port=port, workers=workers)
    except ValueError as exc:  # the registry is unreadable or has nothing promoted
        err_console.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None


@app.command()
@handle_errors
def bench(
    bundle: Annotated[Path, typer.Option(help="The student's bundle (the headline student).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="The report folder to write.")],
    data: Annotated[
        Path | None, typer.Option(help="Labeled held-out file (default: the run's test split).")
    ] = None,
    run: Annotated[
        Path | None,
        typer.Option(help="The bundle's training run: adds torch, fp32, baselines, pipeline."),
    ] = None,
    compare: Annotated[
        list[str] | None, typer.Option(help="Another bundle to score: NAME=DIR (repeatable).")
    ] = None,
    teacher_meta: Annotated[
        Path | None, typer.Option(help="The label run's metadata (default: DATA.meta.json).")
    ] = None,
    gold_column: Annotated[
        str | None, typer.Option(help="Gold primary labels (default: category, if present).")
    ] = None,
    price: Annotated[
        list[str] | None,
        typer.Option(help="API price per 1M tokens: NAME=IN/OUT[@DATE] (repeatable)."),
    ] = None,
    vcpu_hour_usd: Annotated[float | None, typer.Option(min=0.0, help="USD per vCPU-hour.")] = None,
    gpu_hour_usd: Annotated[float | None, typer.Option(min=0.0, help="USD per GPU-hour.")] = None,
    calls: Annotated[int, typer.Option(min=1, help="Batch-1 calls per variant.")] = 200,
    batches: Annotated[int, typer.Option(min=1, help="Batch-64 calls per variant.")] = 20,
    http_seconds: Annotated[
        float, typer.Option(min=0.0, help="Seconds per HTTP phase (0: skip HTTP).")
    ] = 3.0,
    baselines: Annotated[bool, typer.Option(help="Train and score the baselines.")] = True,
) -> None:
    """Benchmark a student against its teacher: accuracy, speed, cost; write the report.

    Writes OUT/results.json, OUT/report.md (+ figures) and a self-contained OUT/report.html.

    Example: categorizer bench --bundle runs/bundle --run runs/student --out reports/student
    """
    from benchmarks.bench import BenchConfig, parse_bench_options, run_bench

    try:
        prices, pairs = parse_bench_options(price, vcpu_hour_usd, gpu_hour_usd, compare)
        config = BenchConfig(
            bundle=bundle, out=out, data=data, run=run, compare=pairs, teacher_meta=teacher_meta,
            gold_column=gold_column, calls=calls, batches=batches, http_seconds=http_seconds,
            baselines=baselines, prices=prices,
        )  # fmt: skip
    except ValueError as exc:
        err_console.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    with err_console.status("bench…") as status:
        paths = run_bench(config, lambda name: status.update(f"bench: {name}…"))
    from benchmarks.demo import headline_table

    console.print(headline_table(json.loads(paths["results"].read_text(encoding="utf-8"))))
    console.print(f"report: {paths['html']} (and {paths['markdown'].name}, results.json)")


@app.command()
@handle_errors
def demo(
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("runs/demo"),
    fast: Annotated[bool, typer.Option(help="A small run for CI (under 5 minutes).")] = False,
    n: Annotated[
        int | None, typer.Option(help="Oracle corpus size (default 10,000; 2,000 fast).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    """Run the whole loop offline: synth, teacher labels, train, export int8, bench, report.

    Example: categorizer demo --fast --out runs/demo
    """
    from benchmarks.demo import DemoConfig, run_demo

    try:
        config = DemoConfig(out=out, fast=fast, seed=seed, rows=n)
    except ValueError as exc:
        err_console.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    run_demo(config, console=console)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
