"""Pieces every `categorizer` subcommand shares: the consoles, the logger, the error handling
that maps exceptions to exit codes (0 success, 2 bad input, 1 internal failure), and common
options.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from enum import StrEnum
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from categorizer.bundle import QUANTIZATIONS
from categorizer.errors import InputError
from categorizer.schema import AMOUNT_CONVENTIONS

console = Console()
err_console = Console(stderr=True)
log = logging.getLogger("categorizer")
F = TypeVar("F", bound=Callable[..., Any])

# Choices typer checks itself (a bad one exits 2 listing them), each built from the tuple that
# owns the rule, so the CLI keeps no second list.
Engine = StrEnum("Engine", ["local", "ray"])
"""Where a command's work runs: this process, or a pool of Ray actors."""
# mypy cannot list members built from a tuple: defaults below are looked up by value
Quantize = StrEnum("Quantize", list(QUANTIZATIONS))  # type: ignore[misc]
AmountConvention = StrEnum("AmountConvention", list(AMOUNT_CONVENTIONS))  # type: ignore[misc]
INT8 = Quantize("int8")
OUTFLOW_NEGATIVE = AmountConvention("outflow_negative")

RayAddressOption = Annotated[
    str | None,
    typer.Option(help="--engine ray: the cluster (default $RAY_ADDRESS, else start one)."),
]
ColumnsOption = Annotated[
    str | None,
    typer.Option(
        "--columns",
        help="Map the file's column names: description=Memo,amount=Amount,date=Posted",
    ),
]


def handle_errors(func: F) -> F:
    """Translate library exceptions into the CLI's exit codes and one-line messages."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        # bad input: every library error of that kind derives from InputError
        except (InputError, FileNotFoundError, IsADirectoryError) as exc:
            err_console.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except ImportError as exc:
            err_console.print(
                f"[red]error:[/red] {exc}. Install the extra this command needs: "
                # escaped: rich would read [train] as a style and print nothing of it
                'pip install "txn-categorizer\\[train]" (or \\[serve], \\[scale], \\[all]).',
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
