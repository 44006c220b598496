"""Distillation end to end on tiny students: overfitting, determinism and the run directory."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("torch")

from categorizer.taxonomy import default_taxonomy, load_taxonomy
from training.distillation.distill import train
from training.distillation.distill_data import MIX_VALIDATION, load_labeled
from training.distillation.mix_data import load_training_data
from training.distillation.train_config import ConfigError, TrainConfig

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


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory, labeled_file: Callable) -> dict[str, Path]:
    """A 60-row main file, a 40-row file of another corpus to mix in, and a dev set holding
    five of the main file's descriptors."""
    folder = tmp_path_factory.mktemp("small")
    main = labeled_file(folder / "main", 60, seed=14)
    mix = labeled_file(folder / "mix", 40, seed=15)
    dev = folder / "dev.csv"
    descriptions = pd.read_parquet(main)["description"].head(5)
    pd.DataFrame({"description": descriptions, "category": "INCOME"}).to_csv(dev, index=False)
    return {"main": main, "mix": mix, "dev": dev}


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


def test_token_dropout_is_seeded_and_changes_what_is_learned(corpus: Path, tmp_path: Path) -> None:
    masked = TrainConfig(**TINY, epochs=1, lr=2e-3, seed=3, token_dropout=0.3)
    for name, config in (("a", masked), ("b", masked), ("plain", replace(masked, token_dropout=0))):
        train(corpus, tmp_path / name, config, taxonomy=default_taxonomy())
    assert _weights(tmp_path / "a") == _weights(tmp_path / "b")
    assert _weights(tmp_path / "a") != _weights(tmp_path / "plain")


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


def test_a_mixed_in_file_trains_at_its_weight_and_is_scored_apart(
    small: dict[str, Path], tmp_path: Path
) -> None:
    taxonomy = default_taxonomy()
    config = TrainConfig(
        **TINY, epochs=1, gold_column="category", mix_data=small["mix"], mix_weight=0.5,
        dev_set=small["dev"],
    )  # fmt: skip
    result = train(small["main"], tmp_path / "run", config, taxonomy=taxonomy)
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics == json.loads(json.dumps(result.metrics))
    mix = metrics["mix"]
    assert mix["path"] == str(small["mix"].resolve())
    assert (mix["rows"], mix["weight"]) == (40, 0.5)
    assert mix["train_rows"] > 0
    assert mix["holdout_rows"] > 0
    assert 0.0 <= metrics["mix_val_agreement"] <= 1.0
    assert 0.0 <= result.history[0]["mix_val_agreement"] <= 1.0
    assert metrics["dev_set"] == str(small["dev"].resolve())
    assert metrics["dev_rows_dropped"] > 0
    student = json.loads((tmp_path / "run" / "student.json").read_text())
    assert student["mix"] == {"path": mix["path"], "rows": 40, "weight": 0.5}
    # validation and test (and so gold accuracy) are the main file's alone
    main = load_labeled(small["main"], taxonomy, config)
    for split in ("validation", "test"):
        assert metrics["rows"][split] == len(main.subset(split))
    assert metrics["test"]["rows"] == len(main.subset("test"))
    data, _ = load_training_data(small["main"], taxonomy, config)
    assert data.from_mix is not None
    assert set(data.split[data.from_mix].tolist()) <= {"train", MIX_VALIDATION}
    trained = int((data.split == "train").sum())
    assert metrics["rows"]["train"] == trained
    assert trained == len(main.subset("train")) - metrics["dev_rows_dropped"] + mix["train_rows"]


def test_without_a_mix_the_data_figures_are_empty(small: dict[str, Path], tmp_path: Path) -> None:
    config = TrainConfig(**TINY, epochs=1, dev_set=None)
    metrics = train(small["main"], tmp_path / "run", config, taxonomy=default_taxonomy()).metrics
    assert (metrics["mix"], metrics["mix_val_agreement"]) == (None, None)
    assert (metrics["dev_set"], metrics["dev_rows_dropped"]) == (None, 0)
    assert json.loads((tmp_path / "run" / "student.json").read_text())["mix"] is None


def _weights(run: Path) -> list[bytes]:
    from safetensors.numpy import load_file

    tensors = load_file(str(run / "model" / "model.safetensors"))
    return [np.ascontiguousarray(tensors[k]).tobytes() for k in sorted(tensors)]
