"""`categorizer retrain`: prints the gate decision and per-category diff."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table


def run_retrain(
    *,
    base: Path,
    new: Path,
    teacher_spec: str,
    out: Path,
    teacher_options: dict[str, Any],
    gate_options: dict[str, Any],
    overrides: dict[str, Any],
    from_scratch: bool,
    feedback_db: Path | None,
    feedback_weight: int,
    registry_root: Path | None,
    cache: Path | None,
    console: Console,
) -> None:
    """Retrain, then print the rows merged, the gate's figures, reasons and per-category diff."""
    from categorizer.taxonomy import default_taxonomy
    from training.distillation.run_info import read_run
    from training.labeling.teachers import make_teacher
    from training.lifecycle.feedback import read_feedback
    from training.lifecycle.gate import GateConfig, format_diff
    from training.lifecycle.registry import Registry
    from training.lifecycle.retrain import retrain

    taxonomy = read_run(base).taxonomy if (base / "student.json").is_file() else default_taxonomy()
    gate = GateConfig(**gate_options)
    feedback = read_feedback(feedback_db) if feedback_db is not None else None
    registry = Registry.open(registry_root) if registry_root is not None else None
    teacher = make_teacher(teacher_spec, taxonomy, **teacher_options)
    try:
        result = retrain(
            base, new, teacher, out, from_scratch=from_scratch, feedback=feedback,
            feedback_weight=feedback_weight, gate=gate, registry=registry, overrides=overrides,
            cache=cache,
        )  # fmt: skip
    finally:
        teacher.close()
    console.print(_figures_table(result))
    for line in format_diff(result.gate):
        console.print(f"  {line}", highlight=False)
    if result.gate.passed:
        console.print("[green]gate passed[/green]", highlight=False)
    else:
        console.print("[red]gate refused the new model:[/red] " + "; ".join(result.gate.reasons))
    if result.registry_version:
        state = "promoted" if result.promoted else "recorded, not promoted"
        console.print(f"registry {registry_root}: {result.registry_version} {state}")
    console.print(f"bundle: {result.bundle}; summary: {out / 'retrain.json'}")


def _figures_table(result: Any) -> Table:
    table = Table(title=f"retrained in {result.seconds:.0f} s ({result.rows['merged']:,} rows)")
    for column in ("set", "model", "rows", "agreement", "accuracy"):
        table.add_column(column, justify="left" if column in ("set", "model") else "right")
    base, new = result.gate.base, result.gate.new
    for name, figures in (("base", base), ("new", new)):
        table.add_row("fixed (base test)", name, f"{figures['rows']:,}", *_pair(figures))
    heldout = result.new_heldout
    for name in ("base", "new"):
        if name in heldout:
            table.add_row("new data (test)", name, f"{heldout['rows']:,}", *_pair(heldout[name]))
    return table


def _pair(figures: dict[str, Any]) -> tuple[str, str]:
    accuracy = figures.get("accuracy")
    return f"{figures['agreement']:.1%}", "—" if accuracy is None else f"{accuracy:.1%}"
