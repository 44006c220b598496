"""The model commands: `train` a student, `export` it to a bundle, `predict` with the bundle."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from categorizer.cli.common import (
    INT8,
    OUTFLOW_NEGATIVE,
    AmountConvention,
    ColumnsOption,
    Engine,
    Quantize,
    RayAddressOption,
    console,
    err_console,
    handle_errors,
)
from categorizer.cli.tables import train_table


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
    mix: Annotated[
        Path | None,
        typer.Option(help="Another labeled file (e.g. your real transactions) for training only."),
    ] = None,
    mix_weight: Annotated[
        float | None, typer.Option(help="Loss weight of a --mix row against a --data row (> 0).")
    ] = None,
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

    Example: categorizer train --data synth_labels.parquet --mix real_labels.parquet
    --mix-weight 0.5 --out runs/mixed

    Under several GPUs: torchrun --nproc-per-node 4 -m categorizer.cli train --data ... --out ...
    """
    from categorizer.taxonomy import load_taxonomy
    from training.distillation.distill import train as run_training
    from training.distillation.train_config import ConfigError, load_config, parse_overrides

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
        "mix_data": mix,
        "mix_weight": mix_weight,
    }
    train_config = load_config(config, overrides)
    # --set wins over the flags and the file, a None included (--set dev_set=none)
    explicit = parse_overrides(set_ or [])
    if explicit:
        try:
            train_config = dataclasses.replace(train_config, **explicit)
        except ValueError as err:
            raise ConfigError(f"the command line: {err}") from None
    result = run_training(data, out, train_config, taxonomy=load_taxonomy(taxonomy), resume=resume)
    console.print(train_table(result))
    _print_data_figures(result.metrics)


def _print_data_figures(metrics: dict[str, Any]) -> None:
    """The mix file's held-out agreement and the dev-set rows kept out, when there are any."""
    mix = metrics.get("mix")
    if mix is not None:
        agreement = metrics.get("mix_val_agreement")
        shown = "—" if agreement is None else f"{agreement:.2%}"
        console.print(
            f"mix {mix['path']}: {mix['train_rows']:,} training rows at weight {mix['weight']}; "
            f"agreement with its teacher on {mix['holdout_rows']:,} held-out rows: {shown}"
        )
    if metrics.get("dev_rows_dropped"):
        console.print(
            f"{metrics['dev_rows_dropped']:,} training rows share a descriptor with the dev set "
            f"{metrics['dev_set']}: dropped"
        )


@handle_errors
def export(
    run: Annotated[
        Path, typer.Option("--run", "-r", help="A run directory from `categorizer train`.")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="The bundle folder to write.")],
    quantize: Annotated[
        Quantize, typer.Option(help="int8 (dynamic, or weight-only if that drifts) or none (fp32).")
    ] = INT8,
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
    from training.export.parity import Thresholds
    from training.export.to_bundle import export_run

    result = export_run(
        run,
        out,
        quantize=quantize.value,
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


@handle_errors
def predict(
    bundle: Annotated[
        Path, typer.Option("--bundle", "-b", help="The model bundle (`categorizer export`).")
    ],
    descriptions: Annotated[
        list[str] | None, typer.Argument(help="Transaction descriptions to categorize.")
    ] = None,
    input: Annotated[
        str | None,
        typer.Option(
            "--input",
            "-i",
            help="Transactions: CSV, Parquet, JSONL (--engine ray: also a folder or a URI).",
        ),
    ] = None,
    out: Annotated[
        str | None,
        typer.Option(
            "--out",
            "-o",
            help="Rows plus predictions: .parquet or .csv (--engine ray: a folder of parts).",
        ),
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
        AmountConvention,
        typer.Option(help="outflow_negative (default) or outflow_positive (Plaid)."),
    ] = OUTFLOW_NEGATIVE,
    chunk_size: Annotated[
        int, typer.Option(min=1, help="Rows read and written at a time.")
    ] = 10_000,
    skip_bad_rows: Annotated[
        bool, typer.Option(help="Write bad rows to <out>.rejects.csv instead of stopping.")
    ] = False,
    engine: Annotated[
        Engine, typer.Option(help="local (this process) or ray (a pool of Ray actors).")
    ] = Engine.local,
    ray_address: RayAddressOption = None,
    actors: Annotated[
        int | None,
        typer.Option(min=1, help="--engine ray: engine actors (default: CPUs // threads)."),
    ] = None,
    threads_per_actor: Annotated[
        int, typer.Option(min=1, help="--engine ray: ONNX Runtime threads (and CPUs) per actor.")
    ] = 1,
) -> None:
    """Categorize descriptions, or a whole file, with a model bundle.

    Example: categorizer predict --bundle runs/bundle "POS PURCHASE STARBUCKS #1234 SEATTLE WA"

    Example: categorizer predict --bundle runs/bundle --input export.csv --out categorized.parquet

    Example: RAY_ADDRESS=auto categorizer predict --engine ray --bundle runs/bundle
    --input s3://bucket/exports/ --out s3://bucket/categorized/ --threads-per-actor 2
    """
    from categorizer.cli.predict import run_predict, run_ray_predict

    ray_only = {
        "--ray-address": ray_address is not None,
        "--actors": actors is not None,
        "--threads-per-actor": threads_per_actor != 1,
    }
    if engine == "local" and any(ray_only.values()):
        given = ", ".join(name for name, used in ray_only.items() if used)
        err_console.print(f"[red]error:[/red] {given}: only with --engine ray")
        raise typer.Exit(2)
    if engine == "ray" and threads is not None:
        err_console.print("[red]error:[/red] --threads: use --threads-per-actor with --engine ray")
        raise typer.Exit(2)
    file_options: dict[str, Any] = {
        "chunk_size": chunk_size,
        "amount_convention": amount_convention.value,
        "skip_bad_rows": skip_bad_rows,
    }
    if columns:
        from categorizer.ingest.data import parse_columns

        file_options["columns"] = parse_columns(columns)
    if engine == "ray":
        run_ray_predict(
            bundle=bundle,
            descriptions=descriptions or [],
            input=input,
            out=out,
            options={
                "address": ray_address,
                "actors": actors,
                "threads_per_actor": threads_per_actor,
                "batch_size": batch_size,
                "abstain_threshold": abstain,
                "top_k": top_k,
                **file_options,
            },
            console=console,
            err_console=err_console,
        )
        return
    run_predict(
        bundle=bundle,
        descriptions=descriptions or [],
        input=None if input is None else Path(input),
        out=None if out is None else Path(out),
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
