"""What the `synth` and `demo` CLI commands do, with progress bars, kept out of the CLI module.

The CLI stays free of pandas imports; these functions print through the console they are given.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.table import Table

from training.data import read_transactions, split_frame, write_frame
from training.synth import SynthConfig, generate


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


def _summary_table(frame: Any, splits: Any) -> Table:
    table = Table(title="Synthetic corpus by primary category")
    for name in ("category", "rows", "share", "train", "validation", "test", "long tail"):
        table.add_column(name, justify="left" if name == "category" else "right")
    counts = frame.groupby("category").size().sort_values(ascending=False)
    by_split = frame.groupby(["category", splits]).size().unstack(fill_value=0)
    long_tail = frame[frame["difficulty"] == "long_tail"].groupby("category").size()
    for category, rows in counts.items():
        table.add_row(
            str(category),
            f"{rows:,}",
            f"{rows / len(frame):.1%}",
            *(f"{by_split.loc[category].get(s, 0):,}" for s in ("train", "validation", "test")),
            f"{long_tail.get(category, 0):,}",
        )
    return table


def run_demo(out: Path, n: int, seed: int, console: Console) -> None:
    """The end-to-end demo, as far as the pipeline exists: synth, read back, split, summarise."""
    out.mkdir(parents=True, exist_ok=True)
    corpus = out / "corpus.parquet"
    timings: dict[str, float] = {}

    started = time.perf_counter()
    run_synth(corpus, n=n, seed=seed, console=console)
    timings["synth"] = time.perf_counter() - started

    started = time.perf_counter()
    loaded = read_transactions(corpus)
    frame = loaded.frame
    frame["split"] = split_frame(frame, seed=seed)
    write_frame(frame, out / "corpus_split.parquet")
    timings["read + split"] = time.perf_counter() - started

    console.print(_summary_table(frame, frame["split"]))
    difficulty = frame["difficulty"].value_counts()
    console.print(
        f"{len(frame):,} transactions, {frame['merchant'].nunique():,} distinct merchants, "
        f"{frame['detailed_category'].nunique()} detailed categories, currencies "
        + ", ".join(f"{c} {k:,}" for c, k in frame["currency"].value_counts().items())
    )
    console.print(
        "difficulty: " + ", ".join(f"{name} {count:,}" for name, count in difficulty.items())
    )
    console.print("steps: " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()))
    console.print(f"corpus with splits: {out / 'corpus_split.parquet'}")
