"""What the `synth` CLI command does, with a progress bar, kept out of the CLI module.

The CLI stays free of pandas imports; these functions print through the console they are given.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

from categorizer.ingest.data import write_frame
from training.synthesis.synth import SynthConfig, generate


def run_synth(
    out: Path, n: int, seed: int, workers: int | None = None, console: Console | None = None
) -> dict[str, Any]:
    """Generate a corpus and write it to `out` (.parquet or .csv), with a progress bar.

    Returns:
        rows, distinct merchants and primary categories written.
    """
    config = SynthConfig(n=n, seed=seed, workers=workers)
    columns = (BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("synth", total=n)
        frame = generate(config, progress=lambda k: progress.advance(task, k))
    out.parent.mkdir(parents=True, exist_ok=True)
    write_frame(frame, out)
    return {
        "rows": len(frame),
        "merchants": int(frame["merchant"].nunique()),
        "categories": int(frame["category"].nunique()),
    }
