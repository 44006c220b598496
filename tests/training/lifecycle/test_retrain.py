"""`training.lifecycle.retrain` end to end: new data with a shifted merchant mix passes the gate and
is promoted in the registry; a corrupted label set is refused by the gate and not promoted."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("torch")

from categorizer.ingest.data import write_frame
from categorizer.taxonomy import default_taxonomy
from training.labeling.teachers import make_teacher
from training.lifecycle.gate import GateConfig, judge, scores
from training.synthesis.synth import SynthConfig, generate

# Margins for a 150-row fixed set: one row is 0.7 points of agreement.
GATE = GateConfig(
    max_agreement_drop=0.03, max_accuracy_drop=0.03, max_recall_drop=0.2, min_support=15
)
BASE_CONFIG = {
    "student": "scratch:L2-H128",
    "epochs": 6,
    "lr": 2e-3,
    "batch_size": 32,
    "threads": 2,
    "gold_column": "category",
    "hard_targets": "teacher",
}


@pytest.fixture(scope="module")
def base_run(tmp_path_factory: pytest.TempPathFactory, labeled_file) -> Path:
    from training.distillation.distill import train
    from training.distillation.train_config import TrainConfig

    folder = tmp_path_factory.mktemp("retrain_base")
    labels = labeled_file(folder, n=1_500, seed=21)
    run = folder / "run"
    train(labels, run, TrainConfig(**BASE_CONFIG), taxonomy=default_taxonomy(),
          show_progress=False)  # fmt: skip
    return run


@pytest.fixture(scope="module")
def new_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Another seed, twice the long tail and mostly UK/EU merchants: a shifted mix."""
    config = SynthConfig(n=800, seed=22, workers=1, longtail_share=0.5,
                         country_weights={"US": 0.2, "UK": 0.4, "DE": 0.4})  # fmt: skip
    frame = generate(config)
    categories = list(default_taxonomy().labels)
    # a systematically wrong label: every category shifted to the next one
    frame["corrupted"] = [categories[(categories.index(c) + 1) % len(categories)]
                          for c in frame["category"]]  # fmt: skip
    return write_frame(frame, tmp_path_factory.mktemp("retrain_new") / "new.parquet")


def run_retrain(base_run: Path, new_file: Path, out: Path, column: str, registry) -> object:
    from training.lifecycle.retrain import retrain

    teacher = make_teacher(f"labels:{column}", default_taxonomy())
    try:
        return retrain(base_run, new_file, teacher, out, gate=GATE, registry=registry,
                       overrides={"epochs": 3, "lr": 1e-3})  # fmt: skip
    finally:
        teacher.close()


@pytest.mark.slow
def test_retrain_promotes_good_data_and_refuses_corrupted_labels(
    base_run: Path, new_file: Path, tmp_path: Path
) -> None:
    from training.lifecycle.registry import Registry

    registry = Registry.open(tmp_path / "models")
    good = run_retrain(base_run, new_file, tmp_path / "good", "category", registry)
    assert good.gate.passed, good.gate.reasons
    assert good.promoted
    assert good.rows["new_added"] > 0
    assert good.rows["merged"] == good.rows["base"] + good.rows["new_added"]
    assert good.new_heldout["rows"] > 0
    versions = registry.versions()
    assert [v.version for v in versions] == ["v1", "v2"]  # the base, then the retrained model
    assert versions[1].parent == "v1"
    assert registry.promoted().version == "v2"
    assert versions[1].data is not None
    summary = json.loads((tmp_path / "good" / "retrain.json").read_text())
    assert summary["promoted"] is True
    assert {row["category"] for row in summary["gate"]["per_category"]} == set(
        default_taxonomy().labels
    )

    bad = run_retrain(base_run, new_file, tmp_path / "bad", "corrupted", registry)
    assert not bad.gate.passed
    assert any("fell" in reason for reason in bad.gate.reasons)
    assert not bad.promoted
    assert registry.promoted().version == "v2"  # the refused v3 is recorded, not promoted
    assert registry.get("v3").notes == "retrain (refused by the gate)"


def test_merge_keeps_base_splits_and_drops_known_rows(base_run: Path, tmp_path: Path) -> None:
    from training.labeling.runner import label_file
    from training.lifecycle.retrain import merge_labels

    student = json.loads((base_run / "student.json").read_text())
    base = pd.read_parquet(student["data_path"])
    # the new file repeats 50 base rows and brings 300 new ones
    repeated = base.drop(columns=[c for c in base.columns if c.startswith("teacher")] +
                         ["label_mass"]).head(50)  # fmt: skip
    fresh = pd.read_parquet(
        write_frame(generate(SynthConfig(n=300, seed=23, workers=1)), tmp_path / "fresh.parquet")
    )
    new = tmp_path / "new.parquet"
    # one file reads its dates back as timestamps, the other as date objects
    repeated = repeated.assign(date=pd.to_datetime(repeated["date"]))
    fresh = fresh.assign(date=pd.to_datetime(fresh["date"]))
    pd.concat([repeated, fresh], ignore_index=True).to_parquet(new)
    teacher = make_teacher("labels:category", default_taxonomy())
    labels = tmp_path / "new_labels.parquet"
    label_file(new, labels, teacher, taxonomy=default_taxonomy())
    feedback = pd.DataFrame(
        {"description": ["ACME WIDGETS 42"], "amount": [-3.0], "category": ["GENERAL_MERCHANDISE"]}
    )
    taxonomy = default_taxonomy()
    merged, rows = merge_labels(base_run, labels, feedback, 2, tmp_path, taxonomy=taxonomy)
    frame = pd.read_parquet(merged)
    assert rows["new_already_known"] >= 50
    assert rows["feedback"] == 1
    assert (frame["origin"] == "feedback").sum() == 2  # weight 2: the row counts twice
    assert set(frame.loc[frame["origin"] == "feedback", "split"]) == {"train"}
    assert set(frame["split"]) == {"train", "validation", "test"}
    assert len(frame) == rows["base"] + rows["new_added"] + 2


def test_gate_refuses_a_recall_drop_and_reports_every_category() -> None:
    labels = ["A", "B"]
    teacher = np.eye(2)[[0, 0, 1, 1] * 10]
    gold = np.array([0, 0, 1, 1] * 10)
    base = scores(teacher.copy(), teacher, gold, labels)
    worse = teacher.copy()
    worse[2::4] = [1.0, 0.0]  # half of B now predicted A
    result = judge(base, scores(worse, teacher, gold, labels), GateConfig(min_support=5))
    assert not result.passed
    assert any("recall of B fell 50.0%" in r for r in result.reasons)
    assert [row["category"] for row in result.per_category] == labels
    same = judge(base, scores(teacher, teacher, gold, labels), GateConfig())
    assert same.passed
    with pytest.raises(ValueError, match="max_recall_drop"):
        GateConfig(max_recall_drop=2.0)
