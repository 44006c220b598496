"""Deduplication and leakage-free train/validation/test splits of transaction frames."""

from collections.abc import Sequence

import numpy as np
import pandas as pd

from categorizer.ingest.errors import SplitError
from categorizer.ingest.fields import cell_text
from categorizer.text import descriptor_key

SPLITS = ("train", "validation", "test")


def descriptor_keys(descriptions: pd.Series) -> pd.Series:
    """`descriptor_key` per row, computed once per distinct description.

    Args:
        descriptions: Raw descriptors; missing values count as "".

    Returns:
        A str Series of keys aligned with `descriptions`.
    """
    text = descriptions.fillna("").astype("str")
    # Keys ignore digits' values (see descriptor_key): zeroing them first shrinks the work.
    codes, uniques = pd.factorize(text.str.replace(r"[1-9]", "0", regex=True))
    keys = np.array([descriptor_key(unique) for unique in uniques], dtype=object)
    return pd.Series(keys[codes] if len(codes) else [], index=descriptions.index, dtype="str")


def dedup_key(frame: pd.DataFrame) -> pd.Series:
    """Hash each row's descriptor_key, amount (to the cent), date and currency.

    Args:
        frame: A frame with a description column; amount, date and currency are used when
            present.

    Returns:
        A uint64 Series aligned with the frame; equal values mean duplicates.
    """
    n = len(frame)
    parts = pd.DataFrame(
        {
            "key": descriptor_keys(frame["description"]).to_numpy(),
            "amount": (frame["amount"].astype(float).round(2) + 0.0).to_numpy()
            if "amount" in frame
            else np.full(n, np.nan),
            "date": frame["date"].to_numpy() if "date" in frame else np.full(n, None),
            "currency": frame["currency"].to_numpy() if "currency" in frame else np.full(n, None),
        }
    )
    hashes = pd.util.hash_pandas_object(parts, index=False).to_numpy()
    return pd.Series(hashes, index=frame.index, name="dedup_key")


def drop_duplicates(frame: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Drop rows whose `dedup_key` repeats an earlier row's.

    Args:
        frame: A transaction frame.

    Returns:
        The frame without duplicates (index reset) and how many rows were dropped.
    """
    duplicated = dedup_key(frame).duplicated(keep="first").to_numpy()
    return frame[~duplicated].reset_index(drop=True), int(duplicated.sum())


def _check_fractions(fractions: Sequence[float]) -> np.ndarray:
    message = (
        "fractions must be three non-negative numbers (train, validation, test) summing to 1; "
        f"got {fractions!r}"
    )
    try:
        values = np.asarray([float(f) for f in fractions], dtype=float)
    except (TypeError, ValueError):
        raise SplitError(message) from None
    if values.shape != (3,) or not np.isfinite(values).all() or (values < 0).any():
        raise SplitError(message)
    if abs(values.sum() - 1.0) > 1e-6:
        raise SplitError(message)
    return values / values.sum()


def split_frame(
    frame: pd.DataFrame,
    *,
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    seed: int = 0,
    stratify: str | None = "category",
) -> pd.Series:
    """Assign each row to "train", "validation" or "test" without descriptor leakage.

    Rows sharing a `descriptor_key` always land in the same split. When the `stratify` column
    exists, each group is stratified by its majority label: within a label, groups are ordered
    by a seeded hash of their key and laid out systematically (from a seeded random offset) over
    the fractions, so every label spreads across the splits in proportion to its rows.

    Args:
        frame: A frame with a description column.
        fractions: Train, validation and test fractions of the rows; a zero leaves that split
            empty on purpose.
        seed: Same seed and same data, same split.
        stratify: Label column to stratify by; ignored when absent or None.

    Returns:
        A Series of split names aligned with the frame's index.

    Raises:
        SplitError: Invalid fractions, an empty frame, or a split with a positive fraction
            that would be empty.
    """
    targets = _check_fractions(fractions)
    if frame.empty:
        raise SplitError("cannot split an empty frame")
    codes, keys = pd.factorize(descriptor_keys(frame["description"]))
    sizes = np.bincount(codes, minlength=len(keys))
    strata = _group_majority(frame, codes, len(keys), stratify)
    order_hash = pd.util.hash_array(
        np.asarray(keys, dtype=object), hash_key=f"{seed & (2**64 - 1):016x}"
    )
    rng = np.random.default_rng(seed)
    bounds = np.cumsum(targets)[:-1]
    assignment = np.zeros(len(keys), dtype=np.int64)
    for stratum in sorted(set(strata.tolist())):
        members = np.flatnonzero(strata == stratum)
        members = members[np.argsort(order_hash[members], kind="stable")]
        member_sizes = sizes[members].astype(float)
        middle = (np.cumsum(member_sizes) - member_sizes / 2) / member_sizes.sum()
        position = (middle + rng.random()) % 1.0
        assignment[members] = np.searchsorted(bounds, position, side="right")
    split = assignment[codes]
    for index, name in enumerate(SPLITS):
        if targets[index] > 0 and not (split == index).any():
            raise SplitError(
                f"the {name!r} split would be empty: {len(frame)} rows in {len(keys)} "
                f"descriptor groups are too few for fractions {fractions!r}; "
                "add rows or set that fraction to 0"
            )
    return pd.Series(np.asarray(SPLITS, dtype=object)[split], index=frame.index, name="split")


def _group_majority(
    frame: pd.DataFrame, codes: np.ndarray, groups: int, stratify: str | None
) -> np.ndarray:
    if not stratify or stratify not in frame.columns:
        return np.zeros(groups, dtype=object).astype(str)
    labels = frame[stratify].map(cell_text).to_numpy(dtype=object)
    counts = pd.DataFrame({"group": codes, "label": labels}).value_counts().reset_index(name="n")
    counts = counts.sort_values(["group", "n", "label"], ascending=[True, False, True])
    majority = counts.drop_duplicates("group").set_index("group")["label"]
    return majority.reindex(range(groups)).to_numpy(dtype=object).astype(str)
