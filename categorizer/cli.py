"""The `categorizer` command line.

Each subcommand imports what it needs (pandas, torch, fastapi) inside its body, so `categorizer
--help` and the light commands start fast. Exit codes: 0 success, 2 bad input (one line naming
the file, row and column), 1 internal failure.
"""

from __future__ import annotations

import functools
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

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
        from training.vocab import VocabularyError

        types += [DataError, SplitError, VocabularyError]
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
