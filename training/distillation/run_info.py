"""What `categorizer export` reads from a training run directory, checked.

A run directory (see `training.distillation.distill`) holds model/ (the student and its tokenizer),
student.json, taxonomy.yaml, train_config.json and metrics.json. Export needs all of them, and the
run's labeled data file to recompute its validation split for the parity gate.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from categorizer.bundle import TAXONOMY_FILE, TOKENIZER_FILE
from categorizer.errors import InputError
from categorizer.taxonomy import Taxonomy, TaxonomyError, load_taxonomy

STUDENT_FILE = "student.json"
"""A run directory's description of its student (`read_student`)."""
DEFAULT_MAX_ROWS = 2000
"""Validation rows the parity gate scores by default."""
_STUDENT_KEYS = (
    "format", "base_model", "label_level", "pooling", "labels", "primary_labels", "taxonomy",
    "text_format_version", "max_length", "temperature",
)  # fmt: skip


class ExportError(InputError):
    """The run cannot be exported: incomplete, inconsistent, or its ONNX graph fails parity."""


@dataclass(frozen=True)
class RunInfo:
    """What export reads from a run directory.

    Attributes:
        run_dir: The run directory.
        student: student.json's contents.
        taxonomy: RUN_DIR/taxonomy.yaml (its fingerprint matches student.json's).
        test_metrics: metrics.json's "test" figures.
    """

    run_dir: Path
    student: dict[str, Any]
    taxonomy: Taxonomy
    test_metrics: dict[str, Any]

    @property
    def model_dir(self) -> Path:
        """RUN_DIR/model: the trained student and its tokenizer."""
        return self.run_dir / "model"


def read_run(run_dir: str | Path) -> RunInfo:
    """Read and check the parts of a run directory that export needs.

    Raises:
        FileNotFoundError: RUN_DIR does not exist.
        ExportError: student.json, metrics.json or model/ is missing or malformed, or the
            run's taxonomy.yaml is not the taxonomy its student.json records.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        state = "is a file, not a folder" if run_dir.exists() else "does not exist"
        raise FileNotFoundError(
            f"run directory {run_dir} {state}; pass the folder `categorizer train --out` wrote"
        )
    student = read_student(run_dir)
    metrics = _read_json(run_dir / "metrics.json", "it is written when training finishes")
    for name in ("config.json", TOKENIZER_FILE):
        if not (run_dir / "model" / name).is_file():
            raise ExportError(
                f"{run_dir / 'model' / name} is missing: the run has no saved student "
                "(a fast tokenizer always saves tokenizer.json); retrain the run"
            )
    taxonomy = _run_taxonomy(run_dir, student)
    return RunInfo(run_dir, student, taxonomy, dict(metrics.get("test") or {}))


def read_student(run_dir: str | Path) -> dict[str, Any]:
    """RUN_DIR/student.json (what the student is, and the data file it trained on), checked.

    The one reader of the file `training.distillation.distill` writes
    (`training.distillation.run_record.student_info`).

    Raises:
        ExportError: The file is missing, not JSON, lacks a key, or has another format.
    """
    path = Path(run_dir) / STUDENT_FILE
    student = _read_json(path, "it is written when training finishes")
    from training.distillation.run_record import (
        STUDENT_FORMAT,  # numpy and the evaluation code: not cheap
    )

    missing = [key for key in _STUDENT_KEYS if key not in student]
    if missing or student["format"] != STUDENT_FORMAT:
        problem = f"lacks {missing}" if missing else f"has format {student['format']!r}"
        raise ExportError(
            f"{path} {problem} (expected a {STUDENT_FORMAT!r} file); "
            "retrain the run with this version of the categorizer"
        )
    return student


def _read_json(path: Path, hint: str) -> dict[str, Any]:
    if not path.is_file():
        raise ExportError(
            f"{path} is missing: is {path.parent} a `categorizer train` run directory? ({hint})"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ExportError(f"{path} is not readable JSON ({err}); retrain the run") from None
    if not isinstance(data, dict):
        raise ExportError(f"{path} is not a JSON object; retrain the run")
    return data


def _run_taxonomy(run_dir: Path, student: dict[str, Any]) -> Taxonomy:
    from training.distillation.distill_data import student_labels

    try:
        taxonomy = load_taxonomy(run_dir / TAXONOMY_FILE)
        taxonomy.check_compatible(student["taxonomy"], f"run {run_dir} (student.json)")
    except TaxonomyError as err:
        raise ExportError(str(err)) from None
    expected = student_labels(taxonomy, student["label_level"])
    if student["labels"] != expected or student["primary_labels"] != list(taxonomy.labels):
        raise ExportError(
            f"{run_dir / 'student.json'}: its labels are not the {student['label_level']} labels "
            f"of {run_dir / TAXONOMY_FILE} in order; retrain the run"
        )
    return taxonomy


def validation_texts(
    run: RunInfo, data_path: str | Path | None = None, max_rows: int | None = DEFAULT_MAX_ROWS
) -> list[str]:
    """The model texts of the run's validation split (the first `max_rows` of them).

    The split is recomputed exactly as training made it: same file, taxonomy and train config.

    Raises:
        ExportError: The labeled file is gone (pass `data_path`), or its validation split is empty.
        DataError, SplitError, TaxonomyError: The file is not the run's labeled data.
    """
    from training.distillation.distill_data import load_labeled
    from training.distillation.train_config import load_config

    raw = data_path or run.student.get("data_path")
    path = Path(raw) if raw else None
    if path is None or not path.is_file():
        state = f"{path} does not exist" if path else "is not recorded in student.json"
        raise ExportError(
            f"the labeled data of run {run.run_dir} {state}, and the parity gate scores its "
            "validation split; pass --data LABELED.parquet (the file the run was trained on)"
        )
    config = load_config(run.run_dir / "train_config.json")
    data = load_labeled(path, run.taxonomy, config)
    rows = data.subset("validation")[:max_rows]
    if len(rows) == 0:
        raise ExportError(f"{path}: no validation rows to check the export on")
    return [data.texts[i] for i in rows]
