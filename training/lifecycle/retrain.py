"""`categorizer retrain`: label only the new transactions, merge, fine-tune, export, gate.

1. The teacher labels the new file (its cache makes rows it has already answered free).
2. The new rows are merged with the base run's labeled data: rows whose descriptor the base data
   already holds are dropped (the base label stands), base rows keep their split, and the new
   rows are split the same leakage-free way. Corrections from the feedback store join the
   training split as gold-labeled rows, each repeated `feedback_weight` times.
3. The student is fine-tuned from the base student (or trained from scratch) on the merged file,
   and exported to a bundle.
4. The regression gate (`training.lifecycle.gate`) compares the new bundle with the base run's on
   the base test split, a fixed set neither model trained on; the new data's held-out split is
   reported too. A registry, when given, records the new version and promotes it only if the gate
   passed.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from training.distillation.train_config import ConfigError
from training.labeling.label_output import meta_path
from training.labeling.teachers.base import Teacher
from training.lifecycle.gate import GateConfig, GateResult, judge, scores

if TYPE_CHECKING:
    from categorizer.taxonomy import Taxonomy
    from training.lifecycle.registry import Registry

logger = logging.getLogger(__name__)


@dataclass
class RetrainResult:
    """What a retrain produced and decided."""

    run_dir: Path
    bundle: Path
    gate: GateResult
    new_heldout: dict[str, Any]
    rows: dict[str, int]
    registry_version: str | None
    promoted: bool
    seconds: float


def retrain(
    base_run: Path,
    new_file: Path,
    teacher: Teacher,
    out: Path,
    *,
    from_scratch: bool = False,
    feedback: pd.DataFrame | None = None,
    feedback_weight: int = 3,
    gate: GateConfig | None = None,
    registry: Registry | None = None,
    overrides: dict[str, Any] | None = None,
    cache: Path | None = None,
) -> RetrainResult:
    """Retrain a run on new transactions and decide whether the new model may be promoted.

    Args:
        base_run: The base model's `categorizer train` run directory.
        new_file: New transactions (any file `categorizer label` reads).
        teacher: A teacher from `training.labeling.teachers.make_teacher` (closed by the caller).
        out: Folder for the new labels, the merged data, the run, the bundle and retrain.json.
        from_scratch: Train a fresh student instead of fine-tuning the base one.
        feedback: Corrections (`training.lifecycle.feedback.read_feedback`): description, amount,
            category.
        feedback_weight: How many times each correction counts in the training split.
        gate: The gate's margins.
        registry: A `training.lifecycle.registry.Registry` to record the new version in.
        overrides: TrainConfig fields over the base run's (e.g. epochs, lr).
        cache: The teacher's answer cache (default: beside the new labels).

    Raises:
        FileNotFoundError, ExportError: The base run is incomplete.
        DataError: A bad new file or feedback row (the message names it).
        ConfigError: A feedback weight below 1, or a base run trained on a max_rows sample.
    """
    from training.distillation.run_info import read_run
    from training.export.to_bundle import export_run
    from training.labeling.runner import label_file

    started = time.perf_counter()
    if feedback_weight < 1:
        raise ConfigError(f"feedback_weight must be at least 1, got {feedback_weight}")
    out.mkdir(parents=True, exist_ok=True)
    base = read_run(base_run)
    labels_path = out / "new_labels.parquet"
    label_file(new_file, labels_path, teacher, taxonomy=base.taxonomy, cache_path=cache)
    merged, rows = merge_labels(
        base_run, labels_path, feedback, feedback_weight, out, taxonomy=base.taxonomy
    )
    run_dir = out / "run"
    _train(base_run, merged, run_dir, from_scratch, overrides or {}, base.taxonomy)
    bundle = export_run(run_dir, out / "bundle", quantize="int8").bundle
    base_bundle = export_run(base_run, out / "base_bundle", quantize="int8").bundle
    result, heldout = _compare(merged, base_bundle, bundle, base.taxonomy, gate or GateConfig())
    version, promoted = _register(registry, base_bundle, bundle, merged, result)
    outcome = RetrainResult(
        run_dir, bundle, result, heldout, rows, version, promoted, time.perf_counter() - started
    )
    _write_summary(out / "retrain.json", outcome)
    return outcome


def merge_labels(
    base_run: Path,
    new_labels: Path,
    feedback: pd.DataFrame | None,
    feedback_weight: int,
    out: Path,
    *,
    taxonomy: Taxonomy,
) -> tuple[Path, dict[str, int]]:
    """The base run's labeled rows (with their splits), the new rows not already there (split
    afresh) and the feedback rows (train split); written to OUT/merged.parquet.

    `taxonomy` is the base run's (`read_run(base_run).taxonomy`)."""
    from categorizer.ingest.splits import split_frame
    from training.distillation.distill_data import load_labeled
    from training.distillation.run_info import read_student
    from training.distillation.train_config import load_config

    student = read_student(base_run)
    base_path = Path(student["data_path"])
    config = load_config(base_run / "train_config.json")
    if config.max_rows is not None:
        raise ConfigError(
            f"{base_run} trained on a max_rows sample: its rows cannot be told apart from the "
            "rest of its data; retrain from a run trained on its whole labeled file"
        )
    base_frame = pd.read_parquet(base_path)
    base_frame = base_frame[base_frame["teacher_probs"].notna()].reset_index(drop=True)
    # load_labeled reproduces the exact split the base run trained with
    base_frame["split"] = load_labeled(base_path, taxonomy, config).split
    base_frame["origin"] = "base"
    new = pd.read_parquet(new_labels)
    new = new[new["teacher_probs"].notna()]
    known = set(_dedup_keys(base_frame))
    fresh = new[~_dedup_keys(new).isin(known)].reset_index(drop=True)
    if len(fresh):
        keyed = fresh.assign(label=[int(np.argmax(p)) for p in fresh["teacher_probs"]])
        fresh["split"] = split_frame(keyed, fractions=config.fractions, seed=config.seed,
                                     stratify="label").to_numpy()  # fmt: skip
    fresh["origin"] = "new"
    parts = [base_frame, fresh]
    if feedback is not None and len(feedback):
        parts.append(_feedback_rows(feedback, feedback_weight, taxonomy))
    merged = pd.concat(parts, ignore_index=True, sort=False)
    path = out / "merged.parquet"
    merged.to_parquet(path, index=False)
    meta = json.loads(meta_path(base_path).read_text(encoding="utf-8"))
    meta_path(path).write_text(json.dumps({"taxonomy": meta["taxonomy"]}), "utf-8")
    rows = {
        "base": len(base_frame),
        "new": len(new),
        "new_already_known": len(new) - len(fresh),
        "new_added": len(fresh),
        "feedback": 0 if feedback is None else len(feedback),
        "merged": len(merged),
    }
    logger.info("merged %s", rows)
    return path, rows


def _dedup_keys(frame: pd.DataFrame) -> pd.Series:
    """`dedup_key` with dates as ISO strings: files store them as dates or as timestamps."""
    from categorizer.ingest.splits import dedup_key

    if "date" in frame.columns:
        dates = pd.to_datetime(frame["date"], errors="coerce").dt.strftime("%Y-%m-%d")
        frame = frame.assign(date=dates)
    return dedup_key(frame)


def _feedback_rows(feedback: pd.DataFrame, weight: int, taxonomy: Taxonomy) -> pd.DataFrame:
    """Corrections as one-hot labeled training rows, each repeated `weight` times."""
    labels = list(taxonomy.labels)
    probs = [[1.0 if label == category else 0.0 for label in labels] for category in
             feedback["category"]]  # fmt: skip
    rows = pd.DataFrame(
        {
            "description": feedback["description"].to_numpy(),
            "amount": feedback["amount"].to_numpy(),
            "teacher_probs": probs,
            "teacher_label": feedback["category"].to_numpy(),
            "category": feedback["category"].to_numpy(),
            "split": "train",
            "origin": "feedback",
        }
    )
    return pd.concat([rows] * weight, ignore_index=True)


def _train(
    base_run: Path,
    data: Path,
    run_dir: Path,
    from_scratch: bool,
    overrides: dict[str, Any],
    taxonomy: Taxonomy,
) -> None:
    from training.distillation.distill import train
    from training.distillation.train_config import load_config

    config = load_config(base_run / "train_config.json")
    if not from_scratch:
        # the base student's folder is a local model: its encoder and (same labels) its head
        config = dataclasses.replace(config, student=str(base_run / "model"), layers=None)
    if config.gold_column is None and "category" in pq.read_schema(data).names:
        config = dataclasses.replace(config, gold_column="category")
    config = dataclasses.replace(config, **overrides)
    train(data, run_dir, config, taxonomy=taxonomy)


def _compare(
    merged: Path, base_bundle: Path, bundle: Path, taxonomy: Taxonomy, gate: GateConfig
) -> tuple[GateResult, dict[str, Any]]:
    """Gate on the base test split; report the new data's test split."""
    from categorizer.engine import Categorizer
    from categorizer.text import to_model_text

    frame = pd.read_parquet(merged)
    labels = list(taxonomy.labels)
    engines = [Categorizer.load(b) for b in (base_bundle, bundle)]

    def figures(rows: pd.DataFrame) -> list[dict[str, Any]]:
        texts = [to_model_text(r) for r in rows.to_dict("records")]
        teacher = np.stack(rows["teacher_probs"].to_numpy())
        gold = _gold(rows, labels)
        return [scores(e.primary_probs(e.logits(texts)), teacher, gold, labels) for e in engines]

    fixed = frame[(frame["origin"] == "base") & (frame["split"] == "test")]
    base_scores, new_scores = figures(fixed)
    heldout = frame[(frame["origin"] == "new") & (frame["split"] == "test")]
    report: dict[str, Any] = {"rows": len(heldout)}
    if len(heldout):
        before, after = figures(heldout)
        for name, values in (("base", before), ("new", after)):
            report[name] = {k: values[k] for k in ("agreement", "accuracy")}
    return judge(base_scores, new_scores, gate), report


def _gold(rows: pd.DataFrame, labels: Sequence[str]) -> np.ndarray | None:
    if "category" not in rows.columns:
        return None
    index = {label: i for i, label in enumerate(labels)}
    return np.array([index.get(c, -1) if isinstance(c, str) else -1 for c in rows["category"]])


def _register(
    registry: Registry | None, base_bundle: Path, bundle: Path, merged: Path, result: GateResult
) -> tuple[str | None, bool]:
    """Record the new version (and the base first, on an empty registry); promote if passed."""
    if registry is None:
        return None, False
    parent = registry.promoted()
    if parent is None and not registry.versions():
        parent = registry.register(
            base_bundle, parent=None, data=None, metrics=None, notes="retrain base"
        )
        registry.promote(parent.version)
    metrics = {"gate": result.to_dict()}
    parent_version = parent.version if parent is not None else None
    notes = "retrain" if result.passed else "retrain (refused by the gate)"
    new = registry.register(
        bundle, parent=parent_version, data=merged, metrics=metrics, notes=notes
    )
    if result.passed:
        registry.promote(new.version)
    return new.version, result.passed


def _write_summary(path: Path, result: RetrainResult) -> None:
    summary = {
        "run_dir": str(result.run_dir),
        "bundle": str(result.bundle),
        "gate": result.gate.to_dict(),
        "new_heldout": result.new_heldout,
        "rows": result.rows,
        "registry_version": result.registry_version,
        "promoted": result.promoted,
        "seconds": round(result.seconds, 1),
    }
    path.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
