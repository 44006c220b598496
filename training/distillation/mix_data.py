"""The rows a student trains on: the main labeled file, a mixed-in file, and the dev set kept out.

`load_training_data` is what `training.distillation.distill.train` (and the benchmark's baselines)
read:

* the main file, split exactly as `load_labeled` splits it (validation, test and gold accuracy
  come from it alone);
* with ``mix_data``, a second labeled file (say, your own transactions labeled by a teacher):
  90% of its descriptor groups join the training split at loss weight ``mix_weight``, 10% are
  held out as `MIX_VALIDATION` to score the student's agreement with that teacher on them. Mix
  rows sharing a descriptor with the main file's validation or test rows are dropped: they would
  leak into training;
* with a ``dev_set`` that exists, every training row whose `descriptor_key` is in the dev set is
  dropped, with a warning: the real dev set must never be trained on.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from categorizer.ingest.errors import DataError, SplitError
from categorizer.ingest.readers import read_raw
from categorizer.ingest.splits import descriptor_keys
from categorizer.taxonomy import Taxonomy
from training.distillation.distill_data import MIX_VALIDATION, LabeledData, load_labeled, load_mix
from training.distillation.train_config import DEFAULT_DEV_SET, TrainConfig

__all__ = [
    "MIX_HOLDOUT",
    "MIX_VALIDATION",
    "DataSources",
    "dev_descriptor_keys",
    "load_training_data",
]

logger = logging.getLogger(__name__)

MIX_HOLDOUT = 0.1
"""Share of a mix file's rows held out to measure `mix_val_agreement`."""


@dataclass
class DataSources:
    """Where a run's training rows came from (recorded in metrics.json and student.json).

    Attributes:
        mix: The mix file's figures (path, rows, train_rows, holdout_rows, weight,
            dropped_overlap, dropped_unlabeled), or None without one.
        dev_set: The dev set the training rows were checked against; None when none was.
        dev_rows_dropped: Training rows dropped because their descriptor is in the dev set.
    """

    mix: dict[str, Any] | None = None
    dev_set: str | None = None
    dev_rows_dropped: int = 0


def load_training_data(
    data_path: str | Path, taxonomy: Taxonomy, config: TrainConfig
) -> tuple[LabeledData, DataSources]:
    """The main file's rows, the mix file's (if any) and no training row of the dev set.

    Args:
        data_path: The main labeled file.
        taxonomy: The student's taxonomy; both files' meta.json must match it.
        config: Supplies mix_data, mix_weight and dev_set besides `load_labeled`'s fields.

    Returns:
        The rows (main rows first) and what was mixed in and dropped.

    Raises:
        FileNotFoundError, DataError, TaxonomyError, SplitError: as `load_labeled` and
            `load_mix`; DataError also for a mix file that is the main file, and SplitError when
            the dev set leaves no training row.
    """
    data = load_labeled(data_path, taxonomy, config)
    sources = DataSources()
    if config.mix_data is not None:
        if Path(config.mix_data).resolve() == Path(data_path).resolve():
            raise DataError(config.mix_data, "the mix file is the --data file; mix another one")
        mix = load_mix(config.mix_data, taxonomy, config, MIX_HOLDOUT)
        data, overlap = _mixed(data, mix)
        sources.mix = {
            "path": str(Path(config.mix_data).resolve()),
            "rows": len(mix.texts),
            "weight": config.mix_weight,
            "dropped_overlap": overlap,
            "dropped_unlabeled": mix.dropped,
        }
    data, sources.dev_set, sources.dev_rows_dropped = _without_dev_rows(data, config.dev_set)
    if sources.mix is not None and data.from_mix is not None:
        sources.mix["train_rows"] = int((data.from_mix & (data.split == "train")).sum())
        sources.mix["holdout_rows"] = int((data.split == MIX_VALIDATION).sum())
    return data, sources


def dev_descriptor_keys(path: str | Path) -> set[str]:
    """The `descriptor_key`s of a dev set's descriptions ("" left out: it groups bare numbers).

    Raises:
        DataError: The file cannot be read or has no description column.
    """
    path = Path(path)
    frame = read_raw(path, None).frame
    column = next((c for c in frame.columns if str(c).strip().casefold() == "description"), None)
    if column is None:
        raise DataError(path, "the dev set has no 'description' column", column="description")
    return set(descriptor_keys(frame[column]).tolist()) - {""}


def _mixed(main: LabeledData, mix: LabeledData) -> tuple[LabeledData, int]:
    """Main rows then mix rows, without the mix rows that share a held-out main descriptor."""
    assert main.keys is not None  # set by load_labeled
    assert mix.keys is not None  # set by load_mix
    held_out = set(main.keys[main.split != "train"].tolist()) - {""}
    overlap = np.isin(mix.keys, list(held_out))
    if overlap.any():
        logger.warning(
            "%d mix rows share a descriptor with the main file's validation or test rows: "
            "dropped, so they cannot leak into training",
            int(overlap.sum()),
        )
    mix = _take(mix, ~overlap)
    if not (mix.split == "train").any():
        raise SplitError("no mix row is left for the training split: mix another file")
    return _concat(main, mix), int(overlap.sum())


def _without_dev_rows(
    data: LabeledData, dev_set: Path | None
) -> tuple[LabeledData, str | None, int]:
    """Drop the training rows whose descriptor is in the dev set (when the dev set exists)."""
    if dev_set is None:
        return data, None, 0
    if not Path(dev_set).is_file():
        log = logger.debug if Path(dev_set) == DEFAULT_DEV_SET else logger.warning
        log("dev set %s does not exist: no training row is checked against it", dev_set)
        return data, None, 0
    keys = dev_descriptor_keys(dev_set)
    assert data.keys is not None
    hit = (data.split == "train") & np.isin(data.keys, list(keys))
    dropped = int(hit.sum())
    if dropped:
        logger.warning(
            "%d training rows share a descriptor with the dev set %s: dropped, never trained on",
            dropped,
            dev_set,
        )
    if dropped and not (data.split[~hit] == "train").any():
        raise SplitError(f"every training row is in the dev set {dev_set}: nothing to train on")
    return (_take(data, ~hit) if dropped else data), str(Path(dev_set).resolve()), dropped


def _take(data: LabeledData, keep: np.ndarray) -> LabeledData:
    """The rows of `keep` (a boolean mask) of every per-row field."""
    changes: dict[str, Any] = {"texts": [t for t, k in zip(data.texts, keep, strict=True) if k]}
    for name in ("teacher_probs", "targets", "gold", "split", "difficulty", "keys", "weights",
                 "from_mix"):  # fmt: skip
        value = getattr(data, name)
        changes[name] = None if value is None else value[keep]
    changes["extras"] = {name: values[keep] for name, values in data.extras.items()}
    return dataclasses.replace(data, **changes)


def _concat(main: LabeledData, mix: LabeledData) -> LabeledData:
    """Main rows then mix rows; mix rows have no gold (-1) and weigh what load_mix gave them."""
    n, m = len(main.texts), len(mix.texts)
    assert main.keys is not None
    assert mix.keys is not None
    assert mix.weights is not None
    extras = {
        name: np.concatenate([main.extras.get(name, _nones(n)), mix.extras.get(name, _nones(m))])
        for name in sorted(main.extras.keys() | mix.extras.keys())
    }
    difficulty = main.difficulty
    if difficulty is not None:
        other = mix.difficulty if mix.difficulty is not None else np.full(m, "")
        difficulty = np.concatenate([difficulty, other])
    return dataclasses.replace(
        main,
        texts=main.texts + mix.texts,
        teacher_probs=np.concatenate([main.teacher_probs, mix.teacher_probs]),
        targets=np.concatenate([main.targets, mix.targets]),
        gold=None if main.gold is None else np.concatenate([main.gold, np.full(m, -1)]),
        split=np.concatenate([main.split, mix.split]),
        difficulty=difficulty,
        keys=np.concatenate([main.keys, mix.keys]),
        extras=extras,
        weights=np.concatenate([np.ones(n, dtype=np.float32), mix.weights]),
        from_mix=np.concatenate([np.zeros(n, dtype=bool), np.ones(m, dtype=bool)]),
    )


def _nones(rows: int) -> np.ndarray:
    return np.full(rows, None, dtype=object)
