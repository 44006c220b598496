"""Distillation end to end on tiny students: overfitting, determinism and the run directory."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("torch")

from categorizer.taxonomy import default_taxonomy, load_taxonomy
from training.distill import train
from training.train_config import ConfigError, TrainConfig

TINY = {"student": "scratch:L1-H64", "vocab_size": 300, "threads": 1, "batch_size": 16}


@pytest.fixture(scope="module")
def memorise(tmp_path_factory: pytest.TempPathFactory, labeled_file: Callable) -> Path:
    """64 training rows; validation and test repeat 32 of them, so scores measure memorisation."""
    folder = tmp_path_factory.mktemp("memorise")
    frame = pd.read_parquet(labeled_file(folder, 64, seed=11))
    frame["split"] = "train"
    repeat = frame.iloc[:32]
    frame = pd.concat([frame, repeat.assign(split="validation"), repeat.assign(split="test")])
    path = folder / "memorise.parquet"
    frame.reset_index(drop=True).to_parquet(path)
    return path


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory, labeled_file: Callable) -> Path:
    return labeled_file(tmp_path_factory.mktemp("corpus"), 400, seed=12)


def test_tiny_student_overfits_64_rows(memorise: Path, tmp_path: Path) -> None:
    config = TrainConfig(
        **{**TINY, "student": "scratch:L2-H128", "batch_size": 8},
        epochs=60,
        lr=1e-3,
        patience=60,
        temperature=1.0,
        warmup_ratio=0.0,
    )
    result = train(memorise, tmp_path / "run", config, taxonomy=default_taxonomy())
    assert result.metrics["validation"]["agreement"] >= 0.95
    first, last = result.history[0], result.history[-1]
    assert last["train_loss"] < 0.25 * first["train_loss"]


def test_run_directory_holds_model_config_metrics(corpus: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    config = TrainConfig(**TINY, epochs=2, lr=2e-3, gold_column="category")
    result = train(corpus, run, config, taxonomy=default_taxonomy())
    for name in ("model/model.safetensors", "model/tokenizer.json", "model/config.json"):
        assert (run / name).is_file(), name
    assert json.loads((run / "train_config.json").read_text()) == config.to_dict()
    assert load_taxonomy(run / "taxonomy.yaml").hash == default_taxonomy().hash
    lines = (run / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2]
    metrics = json.loads((run / "metrics.json").read_text())
    for key in ("agreement", "accuracy", "macro_f1", "ece", "kl"):
        assert metrics["test"][key] is not None, key
    assert set(metrics["test_by_difficulty"]) <= {"chain", "long_tail", "ambiguous"}
    assert metrics["rows"]["test"] == result.metrics["test"]["rows"] > 0
    student = json.loads((run / "student.json").read_text())
    assert student["labels"] == list(default_taxonomy().labels)
    assert student["taxonomy"] == default_taxonomy().fingerprint()
    assert student["temperature"] == pytest.approx(metrics["temperature"])
    assert 0.05 <= student["temperature"] <= 20


def test_without_gold_accuracy_is_null(corpus: Path, tmp_path: Path) -> None:
    result = train(
        corpus, tmp_path / "run", TrainConfig(**TINY, epochs=1), taxonomy=default_taxonomy()
    )
    assert result.metrics["test"]["accuracy"] is None
    assert result.metrics["test"]["agreement"] is not None


def test_same_seed_same_result(corpus: Path, tmp_path: Path) -> None:
    config = TrainConfig(**TINY, epochs=2, lr=2e-3, seed=3)
    a = train(corpus, tmp_path / "a", config, taxonomy=default_taxonomy())
    b = train(corpus, tmp_path / "b", config, taxonomy=default_taxonomy())
    assert a.metrics["test"] == b.metrics["test"]
    assert _weights(tmp_path / "a") == _weights(tmp_path / "b")
    train(
        corpus,
        tmp_path / "c",
        TrainConfig(**{**TINY, "seed": 4}, epochs=2, lr=2e-3),
        taxonomy=default_taxonomy(),
    )
    assert _weights(tmp_path / "c") != _weights(tmp_path / "a")


def test_detailed_student_predicts_detailed_labels(corpus: Path, tmp_path: Path) -> None:
    config = TrainConfig(**TINY, epochs=1, label_level="detailed")
    result = train(corpus, tmp_path / "run", config, taxonomy=default_taxonomy())
    student = json.loads((tmp_path / "run" / "student.json").read_text())
    assert student["label_level"] == "detailed"
    assert student["labels"] == list(default_taxonomy().detailed_labels)
    model_config = json.loads((tmp_path / "run" / "model" / "config.json").read_text())
    assert len(model_config["id2label"]) == len(default_taxonomy().detailed_labels)
    assert 0.0 <= result.metrics["test"]["agreement"] <= 1.0


def test_resume_with_another_config_is_refused(corpus: Path, tmp_path: Path) -> None:
    train(corpus, tmp_path / "run", TrainConfig(**TINY, epochs=1), taxonomy=default_taxonomy())
    other = TrainConfig(**TINY, epochs=2, lr=5e-3)
    with pytest.raises(ConfigError, match=r"lr=0\.0001"):
        train(corpus, tmp_path / "run", other, taxonomy=default_taxonomy(), resume=True)


def _weights(run: Path) -> list[bytes]:
    from safetensors.numpy import load_file

    tensors = load_file(str(run / "model" / "model.safetensors"))
    return [np.ascontiguousarray(tensors[k]).tobytes() for k in sorted(tensors)]
