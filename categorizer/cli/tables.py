"""The rich tables and progress bars the CLI prints."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import Progress
from rich.table import Table


def label_table(summary: Any) -> Table:
    """The labeling summary: the figures written to <out>.meta.json."""
    table = Table(title=f"{summary.output}", show_header=False)
    rows = [
        ("teacher", summary.teacher),
        ("prompt version", summary.prompt_version),
        ("rows", f"{summary.rows:,}"),
        ("cache hits", f"{summary.cache_hits:,}"),
        ("teacher calls", f"{summary.teacher_calls:,} in {summary.batches:,} batch(es)"),
        ("repeated rows", f"{summary.duplicates:,}"),
        ("failed", f"{summary.failed:,}"),
        ("hard labels", f"{summary.hard:,}"),
        ("prompt tokens", f"{summary.prompt_tokens:,}"),
        ("completion tokens", f"{summary.completion_tokens:,}"),
        ("seconds", f"{summary.seconds:,.1f} ({summary.teacher_seconds:,.1f} in the teacher)"),
        ("rows/s", f"{summary.rows_per_second:,.1f}"),
        ("engine", f"{summary.engine}, {summary.actors} actor(s)"),
        ("cost", f"${summary.cost_usd:,.4f}"),
        ("meta", str(summary.meta_path)),
        ("cache", summary.cache),
    ]
    for name, value in rows:
        table.add_row(name, value)
    return table


def train_table(result: Any) -> Table:
    """The run's validation and test figures, per difficulty subset where known."""
    metrics = result.metrics
    table = Table(title=f"student written to {result.run_dir / 'model'}")
    for column in ("split", "rows", "agreement", "accuracy", "macro-F1", "ECE"):
        table.add_column(column, justify="left" if column == "split" else "right")

    def cell(value: Any) -> str:
        return "-" if value is None else f"{value:.4f}"

    subsets = {"validation": metrics["validation"], "test": metrics["test"]}
    subsets |= {f"test: {k}": v for k, v in metrics["test_by_difficulty"].items()}
    for name, m in subsets.items():
        row = (m["agreement"], m["accuracy"], m["macro_f1"], m["ece"])
        table.add_row(name, f"{m['rows']:,}", *map(cell, row))
    table.caption = (
        f"best epoch {result.best_epoch} of {result.epochs_run}, "
        f"temperature {metrics['temperature']:.3f}, {result.seconds:.0f} s on {metrics['device']}"
    )
    return table


def rows_progress(label: str, console: Console) -> Progress:
    """A transient progress bar over rows: count, a `rate` field, elapsed time and ETA.

    Add its task with a `rate=""` field; `label` and `predict` drive it their own way.
    """
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    return Progress(*columns, console=console, transient=True)
