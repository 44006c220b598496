"""Active learning: pick the pool transactions the student is least sure of, for the teacher.

A teacher LLM is paid per transaction, and most transactions of a new pool are ones the student
already gets right. `select_file` runs the student over an unlabeled pool and keeps the `budget`
rows it is least certain about (normalised entropy or the top-two margin of its calibrated
primary-category probabilities), with a diversity rule: bank feeds repeat the same merchant
under many store numbers and dates, so at most one row per near-duplicate group (same
`categorizer.text.descriptor_key`) is taken until every group has one. `strategy="random"` is
the baseline: a seeded random sample under the same diversity rule.

    summary = select_file(Path("runs/bundle"), Path("pool.csv"), Path("to_label.csv"), 500)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from categorizer.ingest.data import JSONL_SUFFIXES, read_transactions, write_frame
from categorizer.ingest.errors import DataError
from categorizer.text import descriptor_key, to_model_text
from training.lifecycle.uncertainty import STRATEGIES, uncertainty

logger = logging.getLogger(__name__)

SELECTION_COLUMNS = ("uncertainty", "selection_rank")
"""Columns `select_file` adds to the selected rows."""

OUTPUT_SUFFIXES = (".csv", ".tsv", ".parquet", *JSONL_SUFFIXES)
INFERENCE_ROWS = 8_192
"""Rows sent to the model at a time by `select_file` (bounds the token ids held at once)."""

_FIELD_SEPARATOR = " | "  # between the descriptor and the other parts of a model text


def group_keys(texts: Sequence[str]) -> list[str]:
    """The near-duplicate group of each model text: the `descriptor_key` of its descriptor.

    The descriptor is the part of `to_model_text`'s output before the first " | " (cleaning
    removes "|" from descriptors, so the split is unambiguous). A descriptor with no key (only
    numbers and punctuation) is its own key, so such rows are not all lumped together.
    """
    descriptors = [text.split(_FIELD_SEPARATOR, 1)[0] for text in texts]
    return [descriptor_key(d) or f"\0{d}" for d in descriptors]


def select_uncertain(
    texts: Sequence[str],
    probs: np.ndarray,
    budget: int,
    *,
    strategy: str = "entropy",
    seed: int = 0,
    diversity: bool = True,
) -> np.ndarray:
    """Pick the rows worth sending to the teacher, most informative first.

    Rows are ordered by `uncertainty` (or, for "random", by a seeded random priority; ties keep
    pool order). With `diversity`, the first pass takes only the best row of each near-duplicate
    group (`group_keys`); the remaining rows follow in the same order, so they are reached only
    when the budget exceeds the number of groups.

    Args:
        texts: Model input texts (`to_model_text`), one per row of `probs`.
        probs: (rows, C) calibrated probabilities of the current student.
        budget: How many rows to pick; a budget larger than the pool picks every row.
        strategy: "entropy", "margin" or "random".
        seed: Seeds the "random" strategy.
        diversity: Spread the picks over near-duplicate groups first.

    Returns:
        Row indices (int64) in pick order, min(budget, rows) of them.

    Raises:
        ValueError: budget < 1, an unknown strategy, or texts and probs of different lengths.
    """
    if budget < 1:
        raise ValueError(f"budget: expected at least 1 row; got {budget}")
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy: expected one of {STRATEGIES}; got {strategy!r}")
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or len(probs) != len(texts):
        raise ValueError(
            f"probs: expected one row per text ({len(texts)}); got shape {probs.shape}"
        )
    if strategy == "random":
        priority = np.random.default_rng(seed).random(len(texts))
    else:
        priority = uncertainty(probs, strategy)
    order = np.argsort(-priority, kind="stable")
    if diversity and len(order):
        codes, _ = pd.factorize(pd.Series(group_keys(texts), dtype=object))
        # np.unique's first index of each group code, in `order`, is that group's best row.
        _, first = np.unique(codes[order], return_index=True)
        leads = np.zeros(len(order), dtype=bool)
        leads[first] = True
        order = np.concatenate([order[leads], order[~leads]])
    return order[:budget].astype(np.int64)


def select_file(
    bundle: Path,
    input: Path,
    out: Path,
    budget: int,
    *,
    strategy: str = "entropy",
    columns: Mapping[str, str] | None = None,
    seed: int = 0,
    threads: int | None = None,
) -> dict[str, Any]:
    """Select the `budget` most informative rows of a pool file and write them.

    The output holds the selected rows as `read_transactions` normalises them (every column of
    the file; amounts in the outflow_negative convention), plus `uncertainty` (normalised
    entropy for "entropy" and "random", the margin score for "margin") and `selection_rank`
    (0 = picked first), in rank order. It is ready for ``categorizer label``.

    Args:
        bundle: A model bundle (`categorizer export`).
        input: The unlabeled pool: CSV, Parquet or JSONL.
        out: The selected rows: .csv, .tsv, .parquet, .jsonl or .ndjson.
        budget: Rows to select (every row when the pool is smaller).
        strategy: "entropy", "margin" or "random" (see `select_uncertain`).
        columns: Field → column name in the pool (see `categorizer.ingest.data.parse_columns`).
        seed: Seeds the "random" strategy.
        threads: ONNX Runtime threads (default: the CPUs this process may use).

    Returns:
        pool_rows, selected, strategy, budget, mean uncertainty of the selected rows and of
        the pool, distinct near-duplicate groups among both, seconds, input and output.

    Raises:
        DataError: An unreadable pool, a missing or bad column, an empty pool, or an output
            name that is unsupported or the input's.
        BundleError: A bad bundle.
        ValueError: budget < 1 or an unknown strategy.
    """
    from categorizer.engine import Categorizer

    started = time.perf_counter()
    input, out = Path(input), Path(out)
    _check_request(input, out, budget, strategy)
    frame = read_transactions(input, columns=columns, require_amount=False).frame
    if frame.empty:
        raise DataError(input, "the pool has no transactions to select from")
    texts = model_texts(frame)
    engine = Categorizer.load(bundle, threads=threads)
    probs = pool_probs(engine, texts)
    picks = select_uncertain(texts, probs, budget, strategy=strategy, seed=seed)
    scores = uncertainty(probs, "margin" if strategy == "margin" else "entropy")
    selected = frame.drop(columns=[c for c in SELECTION_COLUMNS if c in frame.columns])
    selected = selected.iloc[picks].reset_index(drop=True)
    selected["uncertainty"] = scores[picks]
    selected["selection_rank"] = np.arange(len(picks), dtype=np.int64)
    write_frame(selected, out)
    keys = group_keys(texts)
    summary = {
        "input": str(input),
        "output": str(out),
        "strategy": strategy,
        "budget": budget,
        "pool_rows": len(frame),
        "selected": len(picks),
        "mean_uncertainty_selected": float(scores[picks].mean()),
        "mean_uncertainty_pool": float(scores.mean()),
        "groups_pool": len(set(keys)),
        "groups_selected": len({keys[i] for i in picks.tolist()}),
        "seconds": time.perf_counter() - started,
    }
    logger.info(
        "selected %d of %d rows of %s by %s in %.1f s",
        summary["selected"],
        summary["pool_rows"],
        input.name,
        strategy,
        summary["seconds"],
    )
    return summary


def model_texts(frame: pd.DataFrame) -> list[str]:
    """`to_model_text` of each row of a `read_transactions` frame, reading only its columns."""
    names = [c for c in ("description", "amount", "direction", "mcc") if c in frame.columns]
    values = [frame[c].tolist() for c in names]
    return [to_model_text(dict(zip(names, row, strict=True))) for row in zip(*values, strict=True)]


def pool_probs(engine: Any, texts: Sequence[str], rows: int = INFERENCE_ROWS) -> np.ndarray:
    """Calibrated primary-category probabilities of `texts`, `rows` texts per model pass."""
    parts = [
        engine.primary_probs(engine.logits(texts[start : start + rows]))
        for start in range(0, len(texts), rows)
    ]
    return np.concatenate(parts) if parts else np.zeros((0, len(engine.primary_labels)))


def _check_request(input: Path, out: Path, budget: int, strategy: str) -> None:
    """Refuse a bad request before the pool is read and scored (the slow part)."""
    if budget < 1:
        raise ValueError(f"budget: expected at least 1 row; got {budget}")
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy: expected one of {STRATEGIES}; got {strategy!r}")
    if out.suffix.lower() not in OUTPUT_SUFFIXES:
        raise DataError(out, f"unsupported output type; expected one of {OUTPUT_SUFFIXES}")
    if input.exists() and out.resolve() == input.resolve():
        raise DataError(out, "the output would overwrite the pool; choose another --out")
