"""The rows a run trains on: a mixed-in labeled file, and the dev set kept out of training."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from categorizer.ingest.errors import DataError, SplitError
from categorizer.taxonomy import Taxonomy, default_taxonomy
from categorizer.text import descriptor_key
from training.distillation.distill_data import load_labeled
from training.distillation.mix_data import MIX_VALIDATION, dev_descriptor_keys, load_training_data
from training.distillation.train_config import TrainConfig


@pytest.fixture(scope="module")
def taxonomy() -> Taxonomy:
    return default_taxonomy()


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory, labeled_file: Callable) -> dict[str, Path]:
    """A main labeled file (200 rows) and a mix file (120 rows of another corpus)."""
    main = labeled_file(tmp_path_factory.mktemp("main"), 200, seed=41)
    mix = labeled_file(tmp_path_factory.mktemp("mix"), 120, seed=42)
    return {"main": main, "mix": mix}


def _config(tmp_path: Path, **fields: object) -> TrainConfig:
    """A config whose dev set is a file of the test's own (absent unless it writes one)."""
    return TrainConfig(**{"dev_set": tmp_path / "dev.csv", **fields})  # type: ignore[arg-type]


def _write_dev(path: Path, descriptions: list[str]) -> Path:
    frame = pd.DataFrame({"id": range(len(descriptions)), "description": descriptions})
    frame.assign(category="GENERAL_MERCHANDISE").to_csv(path, index=False)
    return path


def test_mix_rows_join_training_only(
    files: dict[str, Path], taxonomy: Taxonomy, tmp_path: Path
) -> None:
    config = _config(tmp_path, mix_data=files["mix"], mix_weight=0.5, gold_column="category")
    data, sources = load_training_data(files["main"], taxonomy, config)
    main = load_labeled(files["main"], taxonomy, config)
    assert data.from_mix is not None
    assert data.weights is not None
    mixed = data.from_mix
    assert set(data.split[mixed].tolist()) == {"train", MIX_VALIDATION}
    assert not (data.split[~mixed] == MIX_VALIDATION).any()
    for split in ("validation", "test"):  # exactly the main file's, in its order
        assert [data.texts[i] for i in data.subset(split)] == [
            main.texts[i] for i in main.subset(split)
        ]
    assert set(data.weights[mixed].tolist()) == {0.5}
    assert set(data.weights[~mixed].tolist()) == {1.0}
    assert data.gold is not None
    assert (data.gold[mixed] == -1).all()
    assert sources.mix is not None
    assert sources.mix["path"] == str(files["mix"].resolve())
    assert sources.mix["weight"] == 0.5
    assert sources.mix["rows"] == len(pd.read_parquet(files["mix"]))
    assert sources.mix["train_rows"] == int((mixed & (data.split == "train")).sum()) > 0
    assert sources.mix["holdout_rows"] == int((data.split == MIX_VALIDATION).sum()) > 0
    kept = sources.mix["train_rows"] + sources.mix["holdout_rows"]
    assert kept + sources.mix["dropped_overlap"] == sources.mix["rows"]
    assert sources.dev_rows_dropped == 0
    assert sources.dev_set is None  # the test's dev set does not exist


def test_mix_rows_sharing_a_held_out_descriptor_are_dropped(
    files: dict[str, Path], taxonomy: Taxonomy, tmp_path: Path
) -> None:
    copy = tmp_path / "copy.parquet"  # the main file itself, as a mix: every held-out row leaks
    shutil.copy(files["main"], copy)
    shutil.copy(f"{files['main']}.meta.json", f"{copy}.meta.json")
    data, sources = load_training_data(files["main"], taxonomy, _config(tmp_path, mix_data=copy))
    main = load_labeled(files["main"], taxonomy, _config(tmp_path))
    assert main.keys is not None
    held_out = set(main.keys[main.split != "train"].tolist())
    assert sources.mix is not None
    assert sources.mix["dropped_overlap"] == int(np.isin(main.keys, list(held_out)).sum()) > 0
    assert data.keys is not None
    assert data.from_mix is not None
    assert not set(data.keys[data.from_mix].tolist()) & held_out


def test_the_main_file_cannot_be_its_own_mix(
    files: dict[str, Path], taxonomy: Taxonomy, tmp_path: Path
) -> None:
    with pytest.raises(DataError, match="the mix file is the --data file"):
        load_training_data(files["main"], taxonomy, _config(tmp_path, mix_data=files["main"]))


def test_training_rows_in_the_dev_set_are_dropped_and_counted(
    files: dict[str, Path], taxonomy: Taxonomy, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = _config(tmp_path, mix_data=files["mix"])
    before, _ = load_training_data(files["main"], taxonomy, config)
    train = before.subset("train")
    validation = before.subset("validation")
    main_frame, mix_frame = pd.read_parquet(files["main"]), pd.read_parquet(files["mix"])
    descriptions = main_frame["description"].tolist() + mix_frame["description"].tolist()
    by_key = {descriptor_key(d): d for d in descriptions}
    assert before.keys is not None
    assert before.from_mix is not None
    chosen = {before.keys[train[0]], before.keys[validation[0]]}
    chosen.add(before.keys[np.flatnonzero(before.from_mix & (before.split == "train"))[0]])
    dev = _write_dev(tmp_path / "dev.csv", [by_key[k] for k in chosen])
    hit = np.isin(before.keys, list(chosen)) & (before.split == "train")
    with caplog.at_level(logging.WARNING, logger="training.distillation.mix_data"):
        after, sources = load_training_data(files["main"], taxonomy, config)
    assert sources.dev_rows_dropped == int(hit.sum()) >= 2
    assert sources.dev_set == str(dev.resolve())
    assert f"{int(hit.sum())} training rows share a descriptor with the dev set" in caplog.text
    assert after.keys is not None
    assert not set(after.keys[after.split == "train"].tolist()) & chosen
    # the dev set's rows in the validation split stay: only training is kept off the dev set
    assert [after.texts[i] for i in after.subset("validation")] == [
        before.texts[i] for i in validation
    ]
    assert len(after.texts) == len(before.texts) - int(hit.sum())


def test_dev_set_that_is_missing_or_off_checks_nothing(
    files: dict[str, Path], taxonomy: Taxonomy, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="training.distillation.mix_data"):
        _, sources = load_training_data(files["main"], taxonomy, _config(tmp_path))
    assert (sources.dev_set, sources.dev_rows_dropped) == (None, 0)
    assert "dev.csv does not exist" in caplog.text
    _, off = load_training_data(files["main"], taxonomy, _config(tmp_path, dev_set=None))
    assert (off.dev_set, off.dev_rows_dropped) == (None, 0)


def test_dev_set_errors(files: dict[str, Path], taxonomy: Taxonomy, tmp_path: Path) -> None:
    no_description = tmp_path / "bad.csv"
    pd.DataFrame({"memo": ["x"], "category": ["INCOME"]}).to_csv(no_description, index=False)
    with pytest.raises(DataError, match="no 'description' column") as info:
        dev_descriptor_keys(no_description)
    assert info.value.path == no_description
    everything = _write_dev(tmp_path / "dev.csv", pd.read_parquet(files["main"])["description"])
    with pytest.raises(SplitError, match="every training row is in the dev set"):
        load_training_data(files["main"], taxonomy, _config(tmp_path, dev_set=everything))


def test_dev_keys_group_like_the_splits(tmp_path: Path) -> None:
    dev = _write_dev(tmp_path / "dev.csv", ["SQ *JOE'S BBQ 0123 AUSTIN TX", "12345", "  "])
    assert dev_descriptor_keys(dev) == {descriptor_key("SQ *JOE'S BBQ 9876 AUSTIN TX")}
