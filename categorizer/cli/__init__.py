"""The `categorizer` command line.

Each subcommand imports what it needs (pandas, torch, fastapi) inside its body, so `categorizer
--help` and the light commands start fast. Exit codes: 0 success, 2 bad input (one line naming
the file, row and column), 1 internal failure.
"""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from categorizer.cli.common import (
    ColumnsOption,
    console,
    err_console,
    handle_errors,
    log,
)
from categorizer.cli.data import label, synth, validate
from categorizer.cli.model import export, predict, train
from categorizer.cli.ops import bench, demo, retrain, select, serve

__all__ = [
    "ColumnsOption",
    "app",
    "bench",
    "console",
    "demo",
    "err_console",
    "export",
    "handle_errors",
    "label",
    "log",
    "main",
    "predict",
    "retrain",
    "select",
    "serve",
    "synth",
    "train",
    "validate",
]

app = typer.Typer(
    name="categorizer",
    help="Categorize bank transactions with a small model distilled from an LLM.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


# Registration order is the order `categorizer --help` lists the commands in.
app.command()(synth)
app.command()(validate)
app.command()(label)
app.command()(train)
app.command()(export)
app.command()(predict)
app.command()(select)
app.command()(retrain)
app.command()(serve)
app.command()(bench)
app.command()(demo)


def main() -> None:
    """Console-script entry point."""
    app()
