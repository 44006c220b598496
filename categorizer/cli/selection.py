"""`categorizer select`: the pool transactions worth paying the teacher for (active learning).

It runs `training.lifecycle.active.select_file` and prints a small summary table. It
needs the training extra (pandas, pyarrow) besides the serving dependencies.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table


def run_select(
    bundle: Path,
    input: Path,
    budget: int,
    out: Path,
    strategy: str,
    columns: str | Mapping[str, str] | None,
    seed: int,
    console: Console,
    err_console: Console,
    threads: int | None = None,
) -> None:
    """Run the select command; bad input exits 2 with a one-line reason.

    Args:
        bundle: The bundle folder.
        input: The unlabeled pool: CSV, Parquet or JSONL.
        budget: Rows to select.
        out: The selected rows (.csv, .tsv, .parquet, .jsonl).
        strategy: "entropy", "margin" or "random".
        columns: Field → column name in the pool, as a mapping or as the ``--columns`` text
            (``description=Memo,amount=Amount``); None to recognise the columns.
        seed: Seeds the "random" strategy.
        console: Where the summary goes.
        err_console: Where errors go.
        threads: ONNX Runtime threads (default: the CPUs this process may use).
    """
    from training.lifecycle.active import STRATEGIES, select_file

    if strategy not in STRATEGIES:
        _fail(err_console, f"--strategy: expected one of {', '.join(STRATEGIES)}; got {strategy!r}")
    if budget < 1:
        _fail(err_console, f"--budget: expected at least 1 row; got {budget}")
    if isinstance(columns, str):
        from categorizer.ingest.data import parse_columns

        columns = parse_columns(columns) or None
    # A bad pool, column or bundle raises DataError/BundleError: cli.handle_errors exits 2.
    summary = select_file(
        bundle, input, out, budget, strategy=strategy, columns=columns, seed=seed, threads=threads
    )
    console.print(selection_table(summary))


def selection_table(summary: Mapping[str, Any]) -> Table:
    """The selection's figures: rows, groups, mean uncertainty of the picks and of the pool."""
    table = Table(title=str(summary["output"]), show_header=False)
    table.add_row("strategy", str(summary["strategy"]))
    table.add_row("selected", f"{summary['selected']:,} of {summary['pool_rows']:,} rows")
    groups = f"{summary['groups_selected']:,} of {summary['groups_pool']:,}"
    table.add_row("descriptor groups", groups)
    uncertainty = (
        f"{summary['mean_uncertainty_selected']:.3f} selected, "
        f"{summary['mean_uncertainty_pool']:.3f} pool"
    )
    table.add_row("mean uncertainty", uncertainty)
    table.add_row("time", f"{summary['seconds']:.1f} s")
    return table


def _fail(err_console: Console, reason: str) -> NoReturn:
    err_console.print(f"[red]error:[/red] {reason}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)
