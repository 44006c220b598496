"""The operations commands: `select`, `retrain`, `serve`, `bench` and `demo`."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from categorizer.cli.common import ColumnsOption, console, err_console, handle_errors

# typer checks the choice itself; the owner's tuple lives in a module light enough to import at
# start (no numpy, no pandas), the only import of `training` not made inside a subcommand
from training.lifecycle.uncertainty import STRATEGIES

Strategy = StrEnum("Strategy", list(STRATEGIES))  # type: ignore[misc]
ENTROPY = Strategy("entropy")


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
        Strategy, typer.Option(help="How to rank the pool; random is the baseline.")
    ] = ENTROPY,
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
    from categorizer.cli.selection import run_select

    run_select(
        bundle,
        input,
        budget,
        out,
        strategy.value,
        columns,
        seed,
        console,
        err_console,
        threads=threads,
    )


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
    from categorizer.cli.retrain import run_retrain

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
    real_data: Annotated[
        Path | None,
        typer.Option(help="Hand-labeled real rows (or a teacher's labels of them) to score too."),
    ] = None,
) -> None:
    """Benchmark a student against its teacher: accuracy, speed, cost; write the report.

    Writes OUT/results.json, OUT/report.md (+ figures) and a self-contained OUT/report.html.

    Example: categorizer bench --bundle runs/bundle --run runs/student --out reports/student
    --real-data data/real_dev/real_dev.csv
    """
    from benchmarks.bench import BenchConfig, parse_bench_options, run_bench

    try:
        prices, pairs = parse_bench_options(price, vcpu_hour_usd, gpu_hour_usd, compare)
        config = BenchConfig(
            bundle=bundle, out=out, data=data, run=run, compare=pairs, teacher_meta=teacher_meta,
            gold_column=gold_column, calls=calls, batches=batches, http_seconds=http_seconds,
            baselines=baselines, prices=prices, real_data=real_data,
        )  # fmt: skip
    except ValueError as exc:
        err_console.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    with err_console.status("bench…") as status:
        paths = run_bench(config, lambda name: status.update(f"bench: {name}…"))
    from benchmarks.demo import headline_table

    console.print(headline_table(json.loads(paths["results"].read_text(encoding="utf-8"))))
    console.print(f"report: {paths['html']} (and {paths['markdown'].name}, results.json)")


@handle_errors
def demo(
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("runs/demo"),
    fast: Annotated[bool, typer.Option(help="A small run for CI (under 5 minutes).")] = False,
    n: Annotated[
        int | None, typer.Option(help="Oracle corpus size (default 50,000; 2,000 fast).")
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
