"""Tests for categorizer.ingest.splits: deduplication and leakage-free splits."""

import numpy as np
import pandas as pd
import pytest

from categorizer.ingest.errors import SplitError
from categorizer.ingest.splits import dedup_key, drop_duplicates, split_frame
from categorizer.text import descriptor_key


def test_dedup_key_and_drop_duplicates() -> None:
    frame = pd.DataFrame(
        {
            "description": ["SQ *JOE'S BBQ 0123", "SQ *JOE'S BBQ 9876", "SQ *JOE'S BBQ 1", "SHELL"],
            "amount": [-12.0, -12.0001, -13.0, -12.0],
            "date": pd.to_datetime(["2024-01-05"] * 4),
            "currency": ["USD"] * 4,
        }
    )
    keys = dedup_key(frame)
    assert keys.iloc[0] == keys.iloc[1]
    assert keys.nunique() == 3
    deduped, dropped = drop_duplicates(frame)
    assert dropped == 1
    assert deduped["description"].tolist() == ["SQ *JOE'S BBQ 0123", "SQ *JOE'S BBQ 1", "SHELL"]


def _corpus(n_groups: int = 200, per_group: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    rows = []
    for group in range(n_groups):
        name = "".join(chr(65 + int(c)) for c in rng.integers(0, 26, size=8))
        for copy in range(per_group):
            rows.append({"description": f"{name} {copy * 1111}", "category": f"C{group % 4}"})
    return pd.DataFrame(rows)


def test_split_has_no_leakage_and_is_deterministic() -> None:
    frame = _corpus()
    split = split_frame(frame, seed=3)
    assert split.index.equals(frame.index)
    assert set(split) == {"train", "validation", "test"}
    keys = frame["description"].map(descriptor_key)
    assert keys.groupby(split).apply(set).pipe(lambda s: len(set.union(*s)) == sum(map(len, s)))
    assert keys.groupby(keys).apply(lambda k: split[k.index].nunique()).max() == 1
    assert split_frame(frame, seed=3).equals(split)
    assert split_frame(frame.iloc[::-1], seed=3).sort_index().equals(split)  # order-independent
    assert not split_frame(frame, seed=4).equals(split)
    shares = split.value_counts(normalize=True)
    assert 0.7 < shares["train"] < 0.9
    for category, labels in split.groupby(frame["category"]):
        assert set(labels) == {"train", "validation", "test"}, category


def test_split_without_stratify_column_and_zero_fraction() -> None:
    frame = _corpus().drop(columns="category")
    split = split_frame(frame, fractions=(0.9, 0.1, 0.0))
    assert set(split) == {"train", "validation"}


@pytest.mark.parametrize(
    "fractions",
    [(0.8, 0.1), (0.8, 0.1, 0.2), (1.2, -0.1, -0.1), (0.8, float("nan"), 0.2), ("a",), None],
)
def test_split_rejects_invalid_fractions(fractions: tuple) -> None:
    with pytest.raises(SplitError, match="fractions must be three non-negative numbers"):
        split_frame(_corpus(10), fractions=fractions)


def test_split_refuses_empty_splits() -> None:
    with pytest.raises(SplitError, match="would be empty"):
        split_frame(_corpus(n_groups=2))
    with pytest.raises(SplitError, match="empty frame"):
        split_frame(_corpus().iloc[:0])
