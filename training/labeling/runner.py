"""Label a transaction file with a teacher: cached, resumable, costed.

`label_file` reads transactions, looks every row up in the on-disk cache (`LabelCache`), sends
the misses to the teacher in batches of `teacher.batch_size`, commits each finished batch to the
cache before asking for the next, and writes the soft labels (Parquet) and a summary of what it
cost (``<out>.meta.json``; both written by `training.labeling.label_output`, whose names are
re-exported here). Killed at any moment, a rerun pays only for the batch that was in flight. Rows
the teacher could not label keep empty labels, a ``failed: <reason>`` status, and are counted: never
silently given a label.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from categorizer.ingest.data import DataError, read_transactions
from categorizer.taxonomy import Taxonomy, default_taxonomy
from categorizer.text import to_model_text
from training.labeling.label_output import (
    META_FORMAT,
    OUTPUT_COLUMNS,
    LabelSummary,
    meta_path,
    write_json,
    write_labels,
)
from training.labeling.teacher_cache import LabelCache, cache_key
from training.labeling.teachers.base import Example, LabelRequest, Teacher, TeacherResult

if TYPE_CHECKING:
    from training.labeling.fewshot import ExampleRetriever

__all__ = [
    "META_FORMAT",
    "OUTPUT_COLUMNS",
    "LabelSummary",
    "Prices",
    "Progress",
    "Runner",
    "default_cache_path",
    "examples_id_of",
    "label_file",
    "load_examples",
    "local_runner",
    "meta_path",
]

logger = logging.getLogger(__name__)

_MAX_REASONS = 10
_PROB_TOLERANCE = 1e-3
_TEXT_FIELDS = ("description", "amount", "direction", "mcc", "amount_convention")
Progress = Callable[[int, int], None]
# A runner labels the batches of a run: given the batches (lazily built lists of requests), it
# yields (batch index, answers, teacher seconds) as batches finish, in any order.
# `local_runner` is the default; `training.labeling.ray_label` dispatches to Ray actors.
Answered = tuple[int, list[TeacherResult], float]
Runner = Callable[[Iterable[list[LabelRequest]]], Iterator[Answered]]


@dataclass(frozen=True)
class Prices:
    """What a teacher costs.

    Args:
        price_in: USD per million prompt tokens.
        price_out: USD per million completion tokens.
        hourly_price: USD per hour of teacher time (a local GPU or CPU, a rented server).

    Raises:
        ValueError: a price that is negative or not finite.
    """

    price_in: float = 0.0
    price_out: float = 0.0
    hourly_price: float = 0.0

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{name} must be a number, got {value!r}")
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite number ≥ 0, got {value!r}")

    def cost(self, prompt_tokens: int, completion_tokens: int, seconds: float) -> float:
        """USD for this many tokens and this much teacher time."""
        return (
            prompt_tokens * self.price_in / 1e6
            + completion_tokens * self.price_out / 1e6
            + seconds * self.hourly_price / 3600.0
        )


def default_cache_path(out: str | Path) -> Path:
    """``<out>.cache.sqlite``: the default cache beside a labels file."""
    out = Path(out)
    return out.with_name(out.name + ".cache.sqlite")


def label_file(
    input: str | Path,
    out: str | Path,
    teacher: Teacher,
    *,
    taxonomy: Taxonomy | None = None,
    columns: Mapping[str, str] | None = None,
    examples: str | Path | ExampleRetriever | None = None,
    k: int = 4,
    limit: int | None = None,
    cache_path: str | Path | None = None,
    prices: Prices | None = None,
    progress: Progress | None = None,
    runner: Runner | None = None,
) -> LabelSummary:
    """Label a transaction file with a teacher and write soft labels plus their cost.

    Args:
        input: transactions (CSV, Parquet, JSONL), read with `read_transactions`.
        out: the labels file (``.parquet``): the input columns plus `OUTPUT_COLUMNS`.
        teacher: the backend (see `training.labeling.teachers.make_teacher`); the caller closes it.
        taxonomy: the categories (default: `default_taxonomy()`).
        columns: field → column name in the input file (``--columns``).
        examples: a labeled seed file, or a built `training.labeling.fewshot.ExampleRetriever`; each
            transaction gets its `k` most similar seed rows as few-shot examples. Build the
            teacher with ``examples_id=examples_id_of(retriever, k)`` so its prompt version
            names them (otherwise it is appended here).
        k: examples per transaction.
        limit: label only the first N rows.
        cache_path: the cache (default ``<out>.cache.sqlite``).
        prices: token and hourly prices for the cost (default: all zero).
        progress: called with (rows done, rows in total) as rows finish.
        runner: who runs the teacher on the cache misses (default `local_runner(teacher)`);
            each batch is committed to the cache as soon as the runner yields it.

    Returns:
        The summary, also written to ``<out>.meta.json``.

    Raises:
        DataError: an unreadable input, a missing column, an output that is not .parquet.
        TeacherError: the teacher stopped working altogether (finished batches stay cached).
    """
    clock = time.perf_counter()
    taxonomy = taxonomy or default_taxonomy()
    out, cache_path = Path(out), Path(cache_path) if cache_path else default_cache_path(out)
    if out.suffix.lower() != ".parquet":
        raise DataError(out, "the labels file must be a .parquet file")
    if limit is not None and limit < 1:
        raise DataError(input, f"--limit must be at least 1, got {limit}")
    frame = _read(Path(input), columns, limit, teacher)
    texts = _texts(frame)
    retriever, version = _examples(examples, k, taxonomy, teacher.prompt_version)
    keys = _keys(teacher, version, taxonomy, texts, frame)
    run = LabelSummary(
        input=str(input),
        output=str(out),
        cache=str(cache_path),
        teacher=teacher.id,
        prompt_version=version,
        taxonomy=dict(taxonomy.fingerprint()),
        labels=list(taxonomy.labels),
        prices=asdict(prices or Prices()),
        rows=len(frame),
        limit=limit,
        started=_now(),
        device=str(getattr(teacher, "device", "")),
        vcpus=os.cpu_count(),
        engine=str(getattr(teacher, "engine", "local")),
        actors=int(getattr(teacher, "actors", 1)),
    )
    if retriever is not None:
        source = examples if isinstance(examples, str | Path) else getattr(retriever, "source", "")
        run.examples = {"source": str(source), "id": str(retriever.id), "k": k}
    results: list[TeacherResult | None] = [None] * len(frame)
    logger.info("labeling %d rows of %s with %s", len(frame), Path(input).name, teacher.id)
    with LabelCache(cache_path) as cache:
        work = list(_lookup(cache, keys, results, run).items())
        _report(progress, run)
        size = max(1, int(teacher.batch_size or 1))
        batches = [work[start : start + size] for start in range(0, len(work), size)]
        requests = (_requests(batch, texts, frame, retriever, k) for batch in batches)
        for index, answers, seconds in (runner or local_runner(teacher))(requests):
            _record(teacher, batches[index], answers, seconds, taxonomy, results, run)
            answered = {key: results[rows[0]] for key, rows in batches[index]}
            cache.put_many(answered, teacher=teacher.id, prompt_version=version)
            _report(progress, run)
    _finish(run, results, prices or Prices())
    hints = getattr(teacher, "hints", None)
    if hints is not None:
        # answered from the base: counted over every row, those read back from the cache too
        answered = sum(r is not None and r.source == "kb" for r in results)
        run.kb_hints = {"version": hints.version, "asked": hints.asked, "hinted": hints.hinted,
                        "share": hints.share(), "answered": answered,
                        "answered_share": answered / len(results) if results else None}  # fmt: skip
    write_labels(frame, results, taxonomy, f"{teacher.id}|{version}", out)
    run.seconds, run.finished = time.perf_counter() - clock, _now()
    write_json(run.meta_path, run.to_dict())
    logger.info("labeled %d rows (%d failed) for $%.4f", run.rows, run.failed, run.cost_usd)
    return run


def _read(
    path: Path, columns: Mapping[str, str] | None, limit: int | None, teacher: Teacher
) -> pd.DataFrame:
    # a blank amount is an unknown amount (the prompt leaves out direction and range), as in
    # `predict`: exports without amounts, such as most of the real dev set's sources, still label
    frame = read_transactions(path, columns=columns, require_amount=False).frame
    if limit is not None:
        frame = frame.head(limit)
    frame = frame.reset_index(drop=True)
    for column in getattr(teacher, "key_columns", ()):
        if column not in frame.columns:
            found = ", ".join(repr(str(c)) for c in frame.columns)
            raise DataError(
                path,
                f"teacher {teacher.id!r} reads column {column!r}, which the file lacks; "
                f"columns: {found}",
                column=column,
            )
    return frame


def _examples(
    examples: str | Path | ExampleRetriever | None, k: int, taxonomy: Taxonomy, prompt_version: str
) -> tuple[ExampleRetriever | None, str]:
    """The few-shot retriever (or None) and the prompt version that goes into keys.

    The version names the example set and k: a teacher built with ``examples_id`` already says
    so; for any other the examples' id is appended, so that keys never mix setups.
    """
    if examples is None:
        return None, prompt_version
    if k < 1:
        raise DataError(str(examples), f"--k must be at least 1 with --examples, got {k}")
    retriever = load_examples(examples, taxonomy) if isinstance(examples, str | Path) else examples
    examples_id = examples_id_of(retriever, k)
    if examples_id in prompt_version.split("/"):
        return retriever, prompt_version
    return retriever, f"{prompt_version}/{examples_id}"


def load_examples(path: str | Path, taxonomy: Taxonomy) -> ExampleRetriever:
    """A `training.labeling.fewshot.ExampleRetriever` over a labeled seed file.

    Raises:
        DataError: the file cannot be read, or a label in it is missing or unknown.
    """
    from training.labeling.fewshot import ExampleRetriever

    try:
        return ExampleRetriever.from_file(path, taxonomy)
    except DataError:
        raise
    except ValueError as exc:
        # The retriever's messages already start with the file; DataError adds it again.
        reason = str(exc).removeprefix(f"{path}: ").removeprefix(f"{Path(path).name}: ")
        raise DataError(path, reason) from None


def examples_id_of(retriever: ExampleRetriever, k: int) -> str:
    """The few-shot part of a prompt version, ``"fs<k>-<retriever id>"``."""
    if hasattr(retriever, "examples_id"):
        return str(retriever.examples_id(k))
    return f"fs{k}-{retriever.id}"


def _texts(frame: pd.DataFrame) -> list[str]:
    """`to_model_text` of every row, reading only the columns it uses (fast on big files)."""
    names = [c for c in _TEXT_FIELDS if c in frame.columns]
    values = [frame[c].tolist() for c in names]
    return [to_model_text(dict(zip(names, row, strict=True))) for row in zip(*values, strict=True)]


def _keys(
    teacher: Teacher,
    prompt_version: str,
    taxonomy: Taxonomy,
    texts: Sequence[str],
    frame: pd.DataFrame,
) -> list[str]:
    """One cache key per row: teacher, prompt and taxonomy versions, text, and key columns.

    The taxonomy hash is part of the key because the order of the probabilities depends on it
    even when the prompt does not (``labels:`` teachers); teachers that answer from columns
    besides the text name them in ``key_columns``.
    """
    version = f"{prompt_version}|tax-{taxonomy.hash[:16]}"
    extras = [[_cell(v) for v in frame[c].tolist()] for c in getattr(teacher, "key_columns", ())]
    keys = []
    for i, text in enumerate(texts):
        extra = "".join(f"\x1f{values[i]}" for values in extras)
        keys.append(cache_key(teacher.id, version, text + extra))
    return keys


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "\x00"
    return "\x00" if type(value).__name__ in ("NAType", "NaTType") else str(value)


def _lookup(
    cache: LabelCache,
    keys: Sequence[str],
    results: list[TeacherResult | None],
    run: LabelSummary,
) -> dict[str, list[int]]:
    """Fill in cache hits; return the misses, key → rows, in first-seen order."""
    found = cache.get_many(keys)
    misses: dict[str, list[int]] = {}
    for row, key in enumerate(keys):
        if key in found:
            results[row] = found[key]
            run.cache_hits += 1
        else:
            misses.setdefault(key, []).append(row)
    return misses


def local_runner(teacher: Teacher) -> Runner:
    """The in-process runner: each batch through `teacher.label`, one after the other."""

    def run(batches: Iterable[list[LabelRequest]]) -> Iterator[Answered]:
        for index, requests in enumerate(batches):
            clock = time.perf_counter()
            answers = teacher.label(requests)
            yield index, answers, time.perf_counter() - clock

    return run


def _requests(
    batch: Sequence[tuple[str, list[int]]],
    texts: Sequence[str],
    frame: pd.DataFrame,
    retriever: ExampleRetriever | None,
    k: int,
) -> list[LabelRequest]:
    """One batch of distinct transactions as requests (text, few-shot examples, input row)."""
    firsts = [rows[0] for _, rows in batch]
    shots: list[tuple[Example, ...]] = [()] * len(batch)
    if retriever is not None:
        shots = [tuple(s) for s in retriever.retrieve([texts[i] for i in firsts], k)]
    records = frame.iloc[firsts].to_dict("records")
    return [
        LabelRequest(key=key, text=texts[i], examples=shots[j], row=records[j])
        for j, (i, (key, _)) in enumerate(zip(firsts, batch, strict=True))
    ]


def _record(
    teacher: Teacher,
    batch: Sequence[tuple[str, list[int]]],
    answers: Sequence[TeacherResult],
    seconds: float,
    taxonomy: Taxonomy,
    results: list[TeacherResult | None],
    run: LabelSummary,
) -> None:
    """Record one answered batch: each answer for all the rows that share its key."""
    run.teacher_seconds += seconds
    if len(answers) != len(batch):
        raise RuntimeError(
            f"teacher {teacher.id} returned {len(answers)} results for {len(batch)} requests"
        )
    run.batches += 1
    run.teacher_calls += len(batch)
    for (_, rows), answer in zip(batch, answers, strict=True):
        run.prompt_tokens += int(answer.prompt_tokens or 0)
        run.completion_tokens += int(answer.completion_tokens or 0)
        checked = _check(answer, taxonomy)
        for row in rows:
            results[row] = checked
        run.duplicates += len(rows) - 1


def _check(result: TeacherResult, taxonomy: Taxonomy) -> TeacherResult:
    """The result, or a failure when its probabilities are not a distribution over the labels."""
    if result.failed:
        if not result.error:
            result.error = "the teacher gave no probabilities"
        result.probs = None
        return result
    probs = result.probs or []
    if len(probs) != len(taxonomy.labels):
        reason = f"teacher gave {len(probs)} probabilities for {len(taxonomy.labels)} labels"
    elif not all(isinstance(p, int | float) and math.isfinite(p) and p >= 0 for p in probs):
        reason = "teacher gave a negative or non-finite probability"
    elif abs(sum(probs) - 1.0) > _PROB_TOLERANCE:
        reason = f"teacher probabilities sum to {sum(probs):.4f}, not 1"
    else:
        if result.detailed is not None and _bad_detailed(result, taxonomy):
            logger.warning("dropping detailed label %r: not under the primary", result.detailed)
            result.detailed, result.detailed_confidence = None, None
        return result
    return TeacherResult.failure(reason, seconds=result.seconds)


def _bad_detailed(result: TeacherResult, taxonomy: Taxonomy) -> bool:
    primary = taxonomy.labels[max(range(len(taxonomy.labels)), key=lambda i: result.probs[i])]
    detailed = result.detailed
    return detailed not in taxonomy.detailed_labels or taxonomy.parent_of(detailed) != primary


def _report(progress: Progress | None, run: LabelSummary) -> None:
    if progress is not None:
        progress(run.done, run.rows)


def _finish(run: LabelSummary, results: Sequence[TeacherResult | None], prices: Prices) -> None:
    """Count failures and hard labels, and price the run."""
    failures = Counter(r.error or "no probabilities" for r in results if r is None or r.failed)
    run.failed = sum(failures.values())
    run.failures = dict(failures.most_common(_MAX_REASONS))
    run.hard = sum(1 for r in results if r is not None and not r.failed and r.hard)
    run.cost_usd = prices.cost(run.prompt_tokens, run.completion_tokens, run.teacher_seconds)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
