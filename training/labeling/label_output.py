"""What a labeling run writes: the soft labels (Parquet) and the summary (``<out>.meta.json``).

`write_labels` writes the input columns plus `OUTPUT_COLUMNS` (``teacher_probs``,
``teacher_label``, …, ``teacher_status``), one row per input row; `LabelSummary` is what a run did
and cost, written by `write_json` to `meta_path`. Both are written atomically (a staging file,
then a rename).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from categorizer.taxonomy import Taxonomy
from training.labeling.teachers.base import TeacherResult

META_FORMAT = "teacher-labels/1"
OUTPUT_COLUMNS = (
    "teacher_probs",
    "teacher_label",
    "teacher_confidence",
    "teacher",
    "label_mass",
    "teacher_detailed_label",
    "teacher_detailed_confidence",
    "teacher_status",
)


@dataclass
class LabelSummary:
    """What a labeling run did and cost; `to_dict` is the ``<out>.meta.json`` content.

    Counts: ``rows == cache_hits + duplicates + teacher_calls``; ``teacher_calls`` counts the
    distinct transactions sent to the teacher in this run, ``duplicates`` the rows that repeated
    one of them, ``failed`` the rows left unlabeled (duplicates included). Cost counts only this
    run's calls: cache hits are free.
    """

    input: str
    output: str
    cache: str
    teacher: str
    prompt_version: str
    taxonomy: dict[str, str]
    labels: list[str]
    prices: dict[str, float]
    rows: int = 0
    cache_hits: int = 0
    duplicates: int = 0
    teacher_calls: int = 0
    batches: int = 0
    failed: int = 0
    hard: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    teacher_seconds: float = 0.0
    cost_usd: float = 0.0
    started: str = ""
    finished: str = ""
    limit: int | None = None
    examples: dict[str, Any] | None = None
    # Knowledge-base hints in the prompt: version, rows asked, rows hinted, their share.
    kb_hints: dict[str, Any] | None = None
    failures: dict[str, int] = field(default_factory=dict)
    # Where a local teacher ran, so a report can price its seconds (cores × an hourly price).
    device: str = ""
    vcpus: int | None = None
    # Who ran the teacher: "local" (this process) or "ray" (that many actors, one replica each).
    engine: str = "local"
    actors: int = 1

    @property
    def done(self) -> int:
        """Rows answered so far."""
        return self.cache_hits + self.duplicates + self.teacher_calls

    @property
    def rows_per_second(self) -> float:
        """Rows labeled per second of wall time, cache hits included."""
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    @property
    def meta_path(self) -> Path:
        """Where the summary was written."""
        return meta_path(self.output)

    def to_dict(self) -> dict[str, Any]:
        """The summary as JSON-serialisable data."""
        return {"format": META_FORMAT, **asdict(self), "rows_per_second": self.rows_per_second}


def meta_path(out: str | Path) -> Path:
    """``<out>.meta.json``: the summary beside a labels file."""
    out = Path(out)
    return out.with_name(out.name + ".meta.json")


def write_labels(
    frame: pd.DataFrame,
    results: Sequence[TeacherResult | None],
    taxonomy: Taxonomy,
    teacher: str,
    out: Path,
) -> None:
    """Write the input columns plus the teacher's columns, atomically (staging file + rename)."""
    probs, label, confidence, mass, detailed, detailed_conf, status = ([] for _ in range(7))
    for result in results:
        ok = result is not None and not result.failed
        p = result.probs if ok else None
        best = max(range(len(p)), key=p.__getitem__) if p else None
        probs.append(p)
        label.append(taxonomy.labels[best] if best is not None else None)
        confidence.append(p[best] if best is not None else None)
        mass.append(result.label_mass if ok else None)
        detailed.append(result.detailed if ok else None)
        detailed_conf.append(result.detailed_confidence if ok else None)
        status.append(_status(result))
    inputs = frame.drop(columns=[c for c in OUTPUT_COLUMNS if c in frame.columns])
    table = pa.Table.from_pandas(inputs, preserve_index=False)
    arrays = {
        "teacher_probs": pa.array(probs, type=pa.list_(pa.float32())),
        "teacher_label": pa.array(label, type=pa.string()),
        "teacher_confidence": pa.array(confidence, type=pa.float32()),
        "teacher": pa.array([teacher] * len(results), type=pa.string()),
        "label_mass": pa.array(mass, type=pa.float32()),
        "teacher_detailed_label": pa.array(detailed, type=pa.string()),
        "teacher_detailed_confidence": pa.array(detailed_conf, type=pa.float32()),
        "teacher_status": pa.array(status, type=pa.string()),
    }
    for name in OUTPUT_COLUMNS:
        table = table.append_column(name, arrays[name])
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = out.with_name(f".{out.name}.partial")
    pq.write_table(table, staging)
    staging.replace(out)


def _status(result: TeacherResult | None) -> str:
    if result is None:
        return "failed: not labeled"
    if result.failed:
        return f"failed: {result.error or 'no probabilities'}"
    return "hard" if result.hard else "ok"


def write_json(path: Path, data: Mapping[str, Any]) -> None:
    """Write JSON data, atomically (staging file + rename)."""
    staging = path.with_name(f".{path.name}.partial")
    staging.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    staging.replace(path)
