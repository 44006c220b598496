"""`benchmarks.measure.user_journey`: the 60/40 split of a hand-labeled real file."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from benchmarks.measure.user_journey import split_user_file
from categorizer.ingest.splits import descriptor_keys
from training.distillation.train_config import DEFAULT_DEV_SET


def test_split_keeps_descriptors_apart_and_hides_the_human_labels(tmp_path: Path) -> None:
    user, held_out, summary = split_user_file(DEFAULT_DEV_SET, tmp_path, seed=0)
    dev = pd.read_csv(DEFAULT_DEV_SET, dtype=str, keep_default_na=False)
    user_rows = pd.read_csv(user, dtype=str, keep_default_na=False)
    held_rows = pd.read_csv(held_out, dtype=str, keep_default_na=False)
    assert summary == {"rows": len(dev), "user_rows": len(user_rows),
                       "held_out_rows": len(held_rows)}  # fmt: skip
    assert len(user_rows) + len(held_rows) == len(dev)
    assert 0.55 < len(user_rows) / len(dev) < 0.65
    # the teacher's copy has no human label; the held-out part keeps it for scoring
    assert "category" not in user_rows.columns
    assert "category" in held_rows.columns
    overlap = set(descriptor_keys(user_rows["description"])) & set(
        descriptor_keys(held_rows["description"])
    )
    assert not overlap
    # every category with a few rows is in both parts
    common = dev["category"].value_counts()
    held = set(held_rows["category"])
    assert all(c in held for c in common[common >= 5].index)


def test_a_file_without_human_labels_is_refused(tmp_path: Path) -> None:
    bare = tmp_path / "bare.csv"
    bare.write_text("description\nTESCO STORES 2041\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bare\.csv has no 'category' column"):
        split_user_file(bare, tmp_path, seed=0)
