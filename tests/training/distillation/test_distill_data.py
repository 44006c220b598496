"""Tests for training.distillation.distill_data: loading a soft-label file for distillation.

The labeled file is real: a synthetic corpus labeled by the `labels:category` teacher (with
detailed labels) through `label_file`, built once per module.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from categorizer.ingest.data import write_frame
from categorizer.ingest.errors import DataError, SplitError
from categorizer.ingest.splits import SPLITS
from categorizer.taxonomy import Taxonomy, TaxonomyError, default_taxonomy
from categorizer.text import descriptor_key, to_model_text
from training.distillation.distill_data import (
    MIX_VALIDATION,
    LabeledData,
    load_eval,
    load_labeled,
    load_mix,
    parent_index,
    student_labels,
)
from training.distillation.losses import IGNORE_INDEX
from training.distillation.train_config import ConfigError, TrainConfig
from training.labeling.runner import label_file
from training.labeling.teachers import make_teacher
from training.synthesis.synth import SynthConfig, generate

ROWS = 600


@pytest.fixture(scope="module")
def taxonomy() -> Taxonomy:
    return default_taxonomy()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The unlabeled synthetic corpus (Parquet)."""
    frame = generate(SynthConfig(n=ROWS, seed=5, workers=1))
    return write_frame(frame, tmp_path_factory.mktemp("corpus") / "synth.parquet")


@pytest.fixture(scope="module")
def labeled(corpus: Path, taxonomy: Taxonomy, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The corpus labeled by the labels:category teacher, with its meta.json beside it."""
    out = tmp_path_factory.mktemp("labeled") / "labels.parquet"
    teacher = make_teacher("labels:category", taxonomy, detailed_column="detailed_category")
    try:
        summary = label_file(corpus, out, teacher, taxonomy=taxonomy)
    finally:
        teacher.close()
    assert summary.failed == 0
    assert out.with_name(out.name + ".meta.json").is_file()
    return out


@pytest.fixture(scope="module")
def frame(labeled: Path) -> pd.DataFrame:
    return pd.read_parquet(labeled)


@pytest.fixture(scope="module")
def data(labeled: Path, taxonomy: Taxonomy) -> LabeledData:
    return load_labeled(labeled, taxonomy, TrainConfig())


@pytest.fixture
def variant(labeled: Path, tmp_path: Path) -> Callable[..., Path]:
    """Write a changed copy of the labeled file (with a copy of its meta.json unless told)."""

    def make(change: Callable[[pd.DataFrame], pd.DataFrame | None], *, meta: bool = True) -> Path:
        frame = pd.read_parquet(labeled)
        changed = change(frame)
        frame = frame if changed is None else changed
        path = tmp_path / "changed.parquet"
        frame.to_parquet(path)
        if meta:
            shutil.copy(labeled.with_name(labeled.name + ".meta.json"), meta_of(path))
        return path

    return make


def meta_of(path: Path) -> Path:
    return path.with_name(path.name + ".meta.json")


def _set_cell(frame: pd.DataFrame, row: int, column: str, value: object) -> None:
    if isinstance(value, np.ndarray):
        value = value.astype(np.float32)  # like the other rows' distributions
    values = frame[column].to_numpy(dtype=object).copy()
    values[row] = value
    frame[column] = values


# -- the happy path -----------------------------------------------------------------------------


def test_shapes_and_types(data: LabeledData, taxonomy: Taxonomy) -> None:
    width = len(taxonomy.labels)
    assert len(data.texts) == ROWS
    assert all(isinstance(t, str) and t for t in data.texts)
    assert data.teacher_probs.shape == (ROWS, width)
    assert data.teacher_probs.dtype == np.float32
    np.testing.assert_allclose(data.teacher_probs.sum(axis=1), 1.0, atol=1e-6)
    assert data.targets.shape == (ROWS,)
    assert data.targets.dtype == np.int64
    assert data.split.shape == (ROWS,)
    assert data.gold is None
    assert data.dropped == 0


def test_texts_are_the_model_text_of_each_row(data: LabeledData, frame: pd.DataFrame) -> None:
    expected = [to_model_text(row) for row in frame.to_dict("records")]
    assert data.texts == expected


def test_teacher_probs_and_targets_follow_the_teacher(
    data: LabeledData, frame: pd.DataFrame, taxonomy: Taxonomy
) -> None:
    expected = np.stack(frame["teacher_probs"].to_list()).astype(np.float32)
    np.testing.assert_allclose(data.teacher_probs, expected, atol=1e-6)
    # Without a gold column the hard target is the teacher's argmax.
    assert data.targets.tolist() == [taxonomy.index(label) for label in frame["teacher_label"]]
    np.testing.assert_array_equal(data.targets, data.teacher_probs.argmax(axis=1))


def test_difficulty_is_kept(data: LabeledData, frame: pd.DataFrame) -> None:
    assert data.difficulty is not None
    assert data.difficulty.tolist() == frame["difficulty"].astype(str).tolist()


def test_no_difficulty_column_gives_none(variant, taxonomy: Taxonomy) -> None:
    path = variant(lambda f: f.drop(columns=["difficulty"]))
    assert load_labeled(path, taxonomy, TrainConfig()).difficulty is None


def test_accepts_a_string_path(labeled: Path, taxonomy: Taxonomy, data: LabeledData) -> None:
    again = load_labeled(str(labeled), taxonomy, TrainConfig())
    assert again.texts == data.texts
    assert again.split.tolist() == data.split.tolist()


# -- splits -------------------------------------------------------------------------------------


def test_split_is_leakage_free_and_non_empty(data: LabeledData, frame: pd.DataFrame) -> None:
    assert set(data.split.tolist()) == set(SPLITS)
    keys = np.array([descriptor_key(d) for d in frame["description"]], dtype=object)
    seen: dict[str, str] = {}
    for key, split in zip(keys, data.split, strict=True):
        assert seen.setdefault(key, split) == split, f"descriptor {key!r} in two splits"
    # Groups do repeat in this corpus, so the check above is not vacuous.
    assert len(seen) < ROWS
    counts = {name: len(data.subset(name)) for name in SPLITS}
    assert sum(counts.values()) == ROWS
    assert counts["train"] > counts["validation"] > 0
    assert counts["train"] > counts["test"] > 0


def test_subset_gives_the_row_indices_of_a_split(data: LabeledData) -> None:
    rows = np.concatenate([data.subset(name) for name in SPLITS])
    assert sorted(rows.tolist()) == list(range(ROWS))
    assert all((data.split[data.subset(name)] == name).all() for name in SPLITS)


def test_split_follows_seed_and_fractions(labeled: Path, taxonomy: Taxonomy) -> None:
    first = load_labeled(labeled, taxonomy, TrainConfig(seed=1)).split
    again = load_labeled(labeled, taxonomy, TrainConfig(seed=1)).split
    other = load_labeled(labeled, taxonomy, TrainConfig(seed=2)).split
    assert first.tolist() == again.tolist()
    assert first.tolist() != other.tolist()
    halves = load_labeled(labeled, taxonomy, TrainConfig(fractions=(0.5, 0.25, 0.25))).split
    share = (halves == "train").mean()
    assert 0.4 < share < 0.6
    assert (first == "train").mean() > 0.7


def test_split_column_is_used_as_is(variant, taxonomy: Taxonomy) -> None:
    names = np.array(SPLITS, dtype=object)[np.arange(ROWS) % 3]
    path = variant(lambda f: f.assign(split=names))
    data = load_labeled(path, taxonomy, TrainConfig(seed=123, fractions=(0.5, 0.25, 0.25)))
    assert data.split.tolist() == names.tolist()


def test_split_column_stays_aligned_after_dropped_rows(variant, taxonomy: Taxonomy) -> None:
    names = np.array(SPLITS, dtype=object)[np.arange(ROWS) % 3]

    def change(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.assign(split=names)
        _set_cell(frame, 0, "teacher_probs", None)
        _set_cell(frame, 4, "teacher_probs", None)
        return frame

    data = load_labeled(variant(change), taxonomy, TrainConfig())
    assert data.dropped == 2
    assert data.split.tolist() == np.delete(names, [0, 4]).tolist()


def test_bad_split_value_names_the_row_and_column(variant, taxonomy: Taxonomy) -> None:
    def change(frame: pd.DataFrame) -> pd.DataFrame:
        names = np.array(SPLITS, dtype=object)[np.arange(ROWS) % 3]
        names[41] = "dev"
        return frame.assign(split=names)

    path = variant(change)
    with pytest.raises(DataError, match="'dev'") as info:
        load_labeled(path, taxonomy, TrainConfig())
    assert info.value.line == 42
    assert info.value.column == "split"
    assert info.value.path == path
    assert "line 42" in str(info.value)


def test_empty_split_column_split_raises_split_error(variant, taxonomy: Taxonomy) -> None:
    names = np.where(np.arange(ROWS) % 2 == 0, "train", "test").astype(object)
    path = variant(lambda f: f.assign(split=names))
    with pytest.raises(SplitError, match="'validation' split is empty"):
        load_labeled(path, taxonomy, TrainConfig())


def test_zero_fraction_split_raises_split_error(labeled: Path, taxonomy: Taxonomy) -> None:
    with pytest.raises(SplitError, match="'test' split is empty"):
        load_labeled(labeled, taxonomy, TrainConfig(fractions=(0.9, 0.1, 0.0)))


# -- teacher_probs problems ---------------------------------------------------------------------


def test_file_without_teacher_probs_names_the_column(corpus: Path, taxonomy: Taxonomy) -> None:
    # The unlabeled corpus: a file that was never labeled.
    with pytest.raises(DataError, match="label the file first") as info:
        load_labeled(corpus, taxonomy, TrainConfig())
    assert info.value.column == "teacher_probs"
    assert "'teacher_probs'" in str(info.value)


def test_file_without_description_names_the_column(variant, taxonomy: Taxonomy) -> None:
    path = variant(lambda f: f.drop(columns=["description"]))
    with pytest.raises(DataError) as info:
        load_labeled(path, taxonomy, TrainConfig())
    assert info.value.column == "description"


def test_wrong_width_names_the_row_and_column(variant, taxonomy: Taxonomy) -> None:
    width = len(taxonomy.labels)
    path = variant(lambda f: _set_cell(f, 17, "teacher_probs", np.full(width - 1, 1 / (width - 1))))
    with pytest.raises(DataError, match=f"expected {width} probabilities") as info:
        load_labeled(path, taxonomy, TrainConfig())
    assert info.value.line == 18
    assert info.value.column == "teacher_probs"
    assert str(path) in str(info.value)
    assert "line 18" in str(info.value)


def test_wrong_width_row_is_counted_in_file_rows_after_drops(variant, taxonomy: Taxonomy) -> None:
    def change(frame: pd.DataFrame) -> None:
        _set_cell(frame, 2, "teacher_probs", None)
        _set_cell(frame, 3, "teacher_probs", None)
        _set_cell(frame, 30, "teacher_probs", np.ones(3) / 3)

    with pytest.raises(DataError) as info:
        load_labeled(variant(change), taxonomy, TrainConfig())
    assert info.value.line == 31  # the row of the file, not of the rows left


@pytest.mark.parametrize("kind", ["sum", "negative", "nan"])
def test_bad_distribution_names_the_row(variant, taxonomy: Taxonomy, kind: str) -> None:
    width = len(taxonomy.labels)
    probs = np.full(width, 1.0 / width)
    if kind == "sum":
        probs = probs * 0.9
    elif kind == "negative":
        probs[0], probs[1] = -0.1, probs[1] + 0.1
    else:
        probs[0] = np.nan
    path = variant(lambda f: _set_cell(f, 9, "teacher_probs", probs))
    with pytest.raises(DataError, match="sum to 1") as info:
        load_labeled(path, taxonomy, TrainConfig())
    assert info.value.line == 10
    assert info.value.column == "teacher_probs"


def test_nearly_normalised_rows_are_renormalised(variant, taxonomy: Taxonomy) -> None:
    width = len(taxonomy.labels)
    probs = np.full(width, 1.0 / width) * (1 + 5e-4)
    data = load_labeled(
        variant(lambda f: _set_cell(f, 0, "teacher_probs", probs)), taxonomy, TrainConfig()
    )
    np.testing.assert_allclose(data.teacher_probs[0], 1.0 / width, atol=1e-6)


def test_rows_without_teacher_probs_are_dropped_and_counted(
    variant, taxonomy: Taxonomy, data: LabeledData, caplog: pytest.LogCaptureFixture
) -> None:
    dropped_rows = [0, 5, 9, 599]

    def change(frame: pd.DataFrame) -> None:
        for row in dropped_rows:
            _set_cell(frame, row, "teacher_probs", None)

    path = variant(change)
    with caplog.at_level(logging.WARNING, logger="training.distillation.distill_data"):
        loaded = load_labeled(path, taxonomy, TrainConfig())
    assert loaded.dropped == len(dropped_rows)
    kept = [i for i in range(ROWS) if i not in dropped_rows]
    assert loaded.texts == [data.texts[i] for i in kept]
    np.testing.assert_allclose(loaded.teacher_probs, data.teacher_probs[kept])
    assert loaded.targets.tolist() == data.targets[kept].tolist()
    assert len(loaded.split) == len(kept)
    assert loaded.difficulty is not None
    assert len(loaded.difficulty) == len(kept)
    assert any("4 rows have no teacher label" in r.getMessage() for r in caplog.records)


def test_no_labeled_rows_at_all(variant, taxonomy: Taxonomy) -> None:
    path = variant(lambda f: f.assign(teacher_probs=[None] * ROWS))
    with pytest.raises(DataError, match="no labeled rows") as info:
        load_labeled(path, taxonomy, TrainConfig())
    assert info.value.column == "teacher_probs"


# -- files and taxonomy -------------------------------------------------------------------------


def test_missing_file(tmp_path: Path, taxonomy: Taxonomy) -> None:
    with pytest.raises(FileNotFoundError):
        load_labeled(tmp_path / "nope.parquet", taxonomy, TrainConfig())


def test_not_parquet(tmp_path: Path, taxonomy: Taxonomy) -> None:
    path = tmp_path / "labels.parquet"
    path.write_text("description,teacher_probs\nx,y\n", encoding="utf-8")
    with pytest.raises(DataError, match="cannot read it as Parquet") as info:
        load_labeled(path, taxonomy, TrainConfig())
    assert info.value.path == path


def test_no_meta_json_loads_with_a_warning(
    variant, taxonomy: Taxonomy, caplog: pytest.LogCaptureFixture
) -> None:
    path = variant(lambda f: None, meta=False)
    with caplog.at_level(logging.WARNING, logger="training.distillation.distill_data"):
        data = load_labeled(path, taxonomy, TrainConfig())
    assert len(data.texts) == ROWS
    assert any("cannot check its taxonomy" in r.getMessage() for r in caplog.records)


def test_taxonomy_mismatch_raises(variant, taxonomy: Taxonomy) -> None:
    path = variant(lambda f: None)
    meta = json.loads(meta_of(path).read_text(encoding="utf-8"))
    assert meta["taxonomy"]["hash"] == taxonomy.hash
    meta["taxonomy"]["hash"] = "0" * 64
    meta_of(path).write_text(json.dumps(meta), encoding="utf-8")
    with pytest.raises(TaxonomyError, match="different content") as info:
        load_labeled(path, taxonomy, TrainConfig())
    assert str(path) in str(info.value)


def test_meta_without_taxonomy_raises(variant, taxonomy: Taxonomy) -> None:
    path = variant(lambda f: None)
    meta_of(path).write_text(json.dumps({"format": "teacher-labels/1"}), encoding="utf-8")
    with pytest.raises(TaxonomyError, match="no taxonomy fingerprint"):
        load_labeled(path, taxonomy, TrainConfig())


@pytest.mark.parametrize("text", ["[1, 2]", "{not json"])
def test_meta_that_is_not_a_json_object(variant, taxonomy: Taxonomy, text: str) -> None:
    path = variant(lambda f: None)
    meta_of(path).write_text(text, encoding="utf-8")
    with pytest.raises(DataError, match=r"not a labeling meta\.json") as info:
        load_labeled(path, taxonomy, TrainConfig())
    assert info.value.path == meta_of(path)


# -- gold labels --------------------------------------------------------------------------------


def test_gold_column_maps_labels(labeled: Path, frame: pd.DataFrame, taxonomy: Taxonomy) -> None:
    data = load_labeled(labeled, taxonomy, TrainConfig(gold_column="category"))
    assert data.gold is not None
    assert data.gold.dtype == np.int64
    expected = [taxonomy.index(label) for label in frame["category"]]
    assert data.gold.tolist() == expected
    assert data.targets.tolist() == expected  # gold, not the teacher, gives the hard targets
    assert [taxonomy.labels[i] for i in data.gold] == frame["category"].tolist()


def test_blank_gold_labels_are_unknown(variant, taxonomy: Taxonomy) -> None:
    def change(frame: pd.DataFrame) -> None:
        _set_cell(frame, 1, "category", None)
        _set_cell(frame, 2, "category", "")

    data = load_labeled(variant(change), taxonomy, TrainConfig(gold_column="category"))
    assert data.gold is not None
    assert data.gold[1] == data.gold[2] == -1
    assert data.targets[1] == data.targets[2] == IGNORE_INDEX
    assert (data.gold[3:] >= 0).all()


def test_missing_gold_in_a_nullable_string_column_is_unknown(variant, taxonomy: Taxonomy) -> None:
    def change(frame: pd.DataFrame) -> None:
        frame["category"] = frame["category"].astype("string")
        frame.loc[1, "category"] = pd.NA

    data = load_labeled(variant(change), taxonomy, TrainConfig(gold_column="category"))
    assert data.gold is not None
    assert data.gold[1] == -1
    assert data.targets[1] == IGNORE_INDEX


def test_unknown_gold_label_names_the_row(variant, taxonomy: Taxonomy) -> None:
    path = variant(lambda f: _set_cell(f, 12, "category", "NOT_A_CATEGORY"))
    with pytest.raises(DataError, match="'NOT_A_CATEGORY' is not a primary category") as info:
        load_labeled(path, taxonomy, TrainConfig(gold_column="category"))
    assert info.value.line == 13
    assert info.value.column == "category"


def test_missing_gold_column(labeled: Path, taxonomy: Taxonomy) -> None:
    with pytest.raises(DataError, match="no gold column 'gold'") as info:
        load_labeled(labeled, taxonomy, TrainConfig(gold_column="gold"))
    assert info.value.column == "gold"


# -- detailed labels ----------------------------------------------------------------------------


def test_student_labels_and_parent_index(taxonomy: Taxonomy) -> None:
    assert student_labels(taxonomy, "primary") == list(taxonomy.labels)
    assert student_labels(taxonomy, "detailed") == list(taxonomy.detailed_labels)
    assert parent_index(taxonomy, "primary") is None
    parents = parent_index(taxonomy, "detailed")
    assert parents is not None
    assert parents.shape == (len(taxonomy.detailed_labels),)
    for detailed, parent in zip(taxonomy.detailed_labels, parents, strict=True):
        assert taxonomy.labels[parent] == taxonomy.parent_of(detailed)
    assert set(parents.tolist()) == set(range(len(taxonomy.labels)))


def test_detailed_targets(
    labeled: Path, frame: pd.DataFrame, taxonomy: Taxonomy, data: LabeledData
) -> None:
    detailed = load_labeled(labeled, taxonomy, TrainConfig(label_level="detailed"))
    expected = [taxonomy.detailed_labels.index(d) for d in frame["teacher_detailed_label"]]
    assert detailed.targets.tolist() == expected
    assert detailed.targets.max() < len(taxonomy.detailed_labels)
    assert len(set(detailed.targets.tolist())) > len(taxonomy.labels)  # really detailed
    parents = parent_index(taxonomy, "detailed")
    assert parents is not None
    # Each detailed target's primary is the teacher's primary for that row.
    np.testing.assert_array_equal(parents[detailed.targets], data.teacher_probs.argmax(axis=1))
    # The distillation side stays over primaries, and the split does not depend on the level.
    np.testing.assert_allclose(detailed.teacher_probs, data.teacher_probs)
    assert detailed.split.tolist() == data.split.tolist()


def test_detailed_with_gold_still_targets_detailed(labeled: Path, taxonomy: Taxonomy) -> None:
    config = TrainConfig(label_level="detailed", gold_column="category")
    data = load_labeled(labeled, taxonomy, config)
    assert data.gold is not None
    assert data.targets.max() >= len(taxonomy.labels)


def test_detailed_needs_the_detailed_column(variant, taxonomy: Taxonomy) -> None:
    path = variant(lambda f: f.drop(columns=["teacher_detailed_label"]))
    with pytest.raises(DataError, match="needs detailed labels") as info:
        load_labeled(path, taxonomy, TrainConfig(label_level="detailed"))
    assert info.value.column == "teacher_detailed_label"
    # The primary level does not need it.
    assert len(load_labeled(path, taxonomy, TrainConfig()).texts) == ROWS


def test_detailed_blank_and_unknown_labels(variant, taxonomy: Taxonomy) -> None:
    blank = variant(lambda f: _set_cell(f, 6, "teacher_detailed_label", None))
    data = load_labeled(blank, taxonomy, TrainConfig(label_level="detailed"))
    assert data.targets[6] == IGNORE_INDEX
    assert (np.delete(data.targets, 6) >= 0).all()

    unknown = variant(lambda f: _set_cell(f, 8, "teacher_detailed_label", "FOOD_AND_DRINK"))
    with pytest.raises(DataError, match="not a detailed category") as info:
        load_labeled(unknown, taxonomy, TrainConfig(label_level="detailed"))
    assert info.value.line == 9
    assert info.value.column == "teacher_detailed_label"


# -- max_rows -----------------------------------------------------------------------------------


def test_max_rows_samples_deterministically(
    labeled: Path, taxonomy: Taxonomy, data: LabeledData
) -> None:
    first = load_labeled(labeled, taxonomy, TrainConfig(max_rows=100, seed=3))
    again = load_labeled(labeled, taxonomy, TrainConfig(max_rows=100, seed=3))
    other = load_labeled(labeled, taxonomy, TrainConfig(max_rows=100, seed=4))
    assert len(first.texts) == 100
    assert first.teacher_probs.shape == (100, len(taxonomy.labels))
    assert len(first.split) == len(first.targets) == 100
    assert first.texts == again.texts
    np.testing.assert_array_equal(first.teacher_probs, again.teacher_probs)
    assert first.split.tolist() == again.split.tolist()
    assert first.texts != other.texts
    # The sample keeps the file's order: it is a subsequence of all rows' texts.
    remaining = iter(data.texts)
    assert all(any(text == t for t in remaining) for text in first.texts)


def test_max_rows_larger_than_the_file_keeps_every_row(
    labeled: Path, taxonomy: Taxonomy, data: LabeledData
) -> None:
    loaded = load_labeled(labeled, taxonomy, TrainConfig(max_rows=ROWS))
    assert loaded.texts == data.texts


def test_max_rows_samples_labeled_rows_only(variant, taxonomy: Taxonomy) -> None:
    def change(frame: pd.DataFrame) -> None:
        for row in range(0, ROWS, 2):
            _set_cell(frame, row, "teacher_probs", None)

    data = load_labeled(variant(change), taxonomy, TrainConfig(max_rows=120))
    assert data.dropped == ROWS // 2
    assert len(data.texts) == 120


def test_hard_targets_teacher_keeps_gold_for_scoring_only(
    frame: pd.DataFrame, taxonomy: Taxonomy, tmp_path: Path
) -> None:
    labels = list(taxonomy.labels)
    # A gold column that disagrees with the teacher on every row.
    other = frame.assign(
        gold=[labels[(labels.index(c) + 1) % len(labels)] for c in frame["category"]]
    )
    path = tmp_path / "disagree.parquet"
    other.to_parquet(path)
    teacher = load_labeled(path, taxonomy, TrainConfig(gold_column="gold", hard_targets="teacher"))
    assert teacher.gold is not None
    assert np.array_equal(teacher.targets, teacher.teacher_probs.argmax(axis=1))
    gold = load_labeled(path, taxonomy, TrainConfig(gold_column="gold"))
    assert np.array_equal(gold.targets, gold.gold)
    with pytest.raises(ConfigError, match="gold column"):
        TrainConfig(hard_targets="gold")


def test_load_eval_keeps_every_row_as_test(labeled: Path, taxonomy: Taxonomy) -> None:
    data = load_eval(labeled, taxonomy, "category")
    frame = pd.read_parquet(labeled)
    assert len(data.texts) == len(frame)
    assert set(data.split) == {"test"}
    assert data.gold is not None
    assert (data.gold == [taxonomy.index(c) for c in frame["category"]]).all()
    assert load_eval(labeled, taxonomy, None).gold is None
    with pytest.raises(DataError, match="no gold column 'nope'"):
        load_eval(labeled, taxonomy, "nope")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_eval(labeled.with_name("missing.parquet"), taxonomy, None)


def test_label_metadata_records_where_the_teacher_ran(labeled: Path) -> None:
    meta = json.loads(labeled.with_name(labeled.name + ".meta.json").read_text())
    assert meta["vcpus"] >= 1
    assert meta["device"] == ""  # a labels: teacher runs nowhere


# -- keys, report columns and mix files ----------------------------------------------------------


def test_keys_and_report_columns_are_kept(data: LabeledData, frame: pd.DataFrame) -> None:
    assert data.keys is not None
    assert data.keys.tolist() == [descriptor_key(d) for d in frame["description"]]
    assert set(data.extras) == {"country", "detailed_category", "teacher_detailed_label"}
    assert data.extras["country"].tolist() == frame["country"].tolist()
    assert data.weights is None
    assert data.from_mix is None


def test_load_mix_holds_out_a_tenth_and_trains_on_the_rest(
    variant, taxonomy: Taxonomy, frame: pd.DataFrame
) -> None:
    # a split column and a gold column are the main file's business: a mix file's are ignored
    path = variant(lambda f: f.assign(split="test"))
    config = TrainConfig(gold_column="category", mix_data=path, mix_weight=0.5)
    mix = load_mix(path, taxonomy, config)
    assert set(mix.split.tolist()) == {"train", MIX_VALIDATION}
    held = (mix.split == MIX_VALIDATION).mean()
    assert 0.05 < held < 0.15
    keys = np.array([descriptor_key(d) for d in frame["description"]], dtype=object)
    assert not set(keys[mix.split == "train"]) & set(keys[mix.split == MIX_VALIDATION])
    assert mix.gold is None
    np.testing.assert_array_equal(mix.targets, mix.teacher_probs.argmax(axis=1))
    assert mix.weights is not None
    assert set(mix.weights.tolist()) == {0.5}
    assert mix.from_mix is not None
    assert mix.from_mix.all()


def test_load_mix_with_gold_only_hard_targets_has_no_hard_target(
    labeled: Path, taxonomy: Taxonomy
) -> None:
    config = TrainConfig(gold_column="category", hard_targets="gold", mix_data=labeled)
    assert (load_mix(labeled, taxonomy, config).targets == IGNORE_INDEX).all()


def test_load_mix_refuses_another_taxonomy(variant, taxonomy: Taxonomy) -> None:
    path = variant(lambda f: None)
    meta = json.loads(meta_of(path).read_text(encoding="utf-8"))
    meta["taxonomy"]["hash"] = "0" * 64
    meta_of(path).write_text(json.dumps(meta), encoding="utf-8")
    with pytest.raises(TaxonomyError, match="different content") as info:
        load_mix(path, taxonomy, TrainConfig(mix_data=path))
    assert str(path) in str(info.value)


def test_load_mix_errors_name_the_mix_file(tmp_path: Path, variant, taxonomy: Taxonomy) -> None:
    missing = tmp_path / "missing.parquet"
    with pytest.raises(FileNotFoundError, match=re.escape(f"mix file {missing}")):
        load_mix(missing, taxonomy, TrainConfig())
    tiny = variant(lambda f: f.head(1))
    with pytest.raises(SplitError, match=re.escape(f"mix file {tiny}")):
        load_mix(tiny, taxonomy, TrainConfig(mix_data=tiny))
