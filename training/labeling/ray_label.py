"""Label a file with a pool of Ray actors, one teacher replica each: `label --engine ray`.

Each `TeacherActor` builds its teacher once (`training.labeling.teachers.make_teacher`), on a GPU of
its own (``num_gpus=1``) when the cluster has GPUs, else on ``threads`` CPUs. Everything else is
`training.labeling.runner.label_file`: the driver reads the input, computes the cache keys, looks
them up, and hands the misses to `ray_runner`, which keeps up to `IN_FLIGHT` batches queued on every
actor and yields each batch as soon as it comes back.

The cache: the driver stays the only writer of the SQLite answer cache
(`training.labeling.teacher_cache.LabelCache`) and commits every batch the moment an actor returns
it. A failure (the driver killed, an actor lost) therefore loses at most the batches in flight, one
running and one queued per actor, and a rerun pays for nothing twice; there is no merge step.
Why not per-actor shards or a shared store: SQLite is unsafe with concurrent writers on a shared
filesystem, and shards would only reach the cache at a merge that a failure can skip. The actors
send back answers (a few hundred bytes a row), so the single writer is never the bottleneck.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from categorizer.batch.ray_predict import ray_runtime
from categorizer.taxonomy import Taxonomy, default_taxonomy
from training.labeling.runner import Answered, LabelSummary, Runner, label_file
from training.labeling.teachers.base import LabelRequest, TeacherResult

__all__ = ["IN_FLIGHT", "TeacherActor", "ray_label_file", "ray_runner"]

logger = logging.getLogger(__name__)

IN_FLIGHT = 2  # batches queued per actor: one running, one waiting, so no actor idles


class TeacherActor:
    """One teacher replica; the teacher is built by `describe`, so build errors reach the driver."""

    def __init__(self, spec: str, taxonomy: Taxonomy, options: Mapping[str, Any]) -> None:
        self.spec, self.taxonomy, self.options = spec, taxonomy, dict(options)
        self.teacher: Any = None

    def describe(self) -> dict[str, Any]:
        """Build the teacher (once) and say what the driver needs for its cache keys."""
        from training.labeling.teachers import make_teacher

        if self.teacher is None:
            self.teacher = make_teacher(self.spec, self.taxonomy, **self.options)
        return {
            "id": self.teacher.id,
            "prompt_version": self.teacher.prompt_version,
            "batch_size": int(self.teacher.batch_size or 1),
            "key_columns": tuple(getattr(self.teacher, "key_columns", ())),
            "device": str(getattr(self.teacher, "device", "")),
        }

    def label(self, requests: list[LabelRequest]) -> tuple[list[TeacherResult], float]:
        """One batch: the answers and the teacher's seconds."""
        import time

        self.describe()
        clock = time.perf_counter()
        answers = self.teacher.label(requests)
        return answers, time.perf_counter() - clock

    def close(self) -> None:
        if self.teacher is not None:
            self.teacher.close()
            self.teacher = None


@dataclass
class RemoteTeacher:
    """The teacher as the driver sees it: its identity, no model (that lives in the actors)."""

    id: str
    prompt_version: str
    batch_size: int
    key_columns: tuple[str, ...] = ()
    device: str = ""
    engine: str = "ray"  # what `label_file` writes into the summary
    actors: int = 1

    def label(self, requests: Any) -> list[TeacherResult]:
        raise RuntimeError("a RemoteTeacher labels through ray_runner, not in the driver")

    def close(self) -> None:
        pass


def ray_runner(ray: Any, actors: list[Any], in_flight: int = IN_FLIGHT) -> Runner:
    """A `label_file` runner: batches to the actors, up to `in_flight` each, yielded as done."""

    def run(batches: Iterable[list[LabelRequest]]) -> Iterator[Answered]:
        todo = iter(enumerate(batches))
        pending: dict[Any, tuple[int, Any]] = {}

        def submit(actor: Any) -> None:
            nxt = next(todo, None)
            if nxt is not None:
                pending[actor.label.remote(nxt[1])] = (nxt[0], actor)

        for actor in actors * in_flight:
            submit(actor)
        while pending:
            [ready], _ = ray.wait(list(pending), num_returns=1)
            index, actor = pending.pop(ready)
            answers, seconds = ray.get(ready)
            submit(actor)  # keep the actor busy while the driver commits this batch
            yield index, answers, seconds

    return run


def ray_label_file(
    input: str | Path,
    out: str | Path,
    spec: str,
    *,
    taxonomy: Taxonomy | None = None,
    teacher_options: Mapping[str, Any] | None = None,
    address: str | None = None,
    actors: int | None = None,
    threads_per_actor: int = 1,
    num_cpus: int | None = None,
    **label_options: Any,
) -> LabelSummary:
    """`label_file` with the teacher `spec` replicated over a pool of Ray actors.

    Args:
        input: transactions, as for `label_file`.
        out: the labels file (``.parquet``).
        spec: the teacher (``hf:smollm2``, ``openai:…``, ``labels:COLUMN``).
        taxonomy: the categories (default: `default_taxonomy()`).
        teacher_options: `make_teacher` keywords (``batch_size``, ``detailed_column``, …).
        address: the cluster (default ``$RAY_ADDRESS``, else a local runtime); an already
            initialised Ray is used as it is.
        actors: teacher replicas (default: one per GPU, else CPUs ÷ `threads_per_actor`).
        threads_per_actor: CPUs per actor where there is no GPU.
        num_cpus: CPUs of a local runtime started here (default: all).
        **label_options: `label_file` keywords (examples, k, limit, cache_path, prices, …).

    Returns:
        The summary (``engine="ray"``, ``actors``), also written to ``<out>.meta.json``.
    """
    try:
        import ray
    except ImportError as exc:
        raise ImportError(
            f"{exc}; the Ray engine needs the scale extra: pip install 'txn-categorizer[scale]'"
        ) from exc
    if (actors is not None and actors < 1) or threads_per_actor < 1:
        raise ValueError("actors and threads_per_actor must be at least 1")
    taxonomy = taxonomy or default_taxonomy()
    options = dict(teacher_options or {})
    with ray_runtime(ray, address, num_cpus):
        resources = ray.cluster_resources()
        gpus, cpus = int(resources.get("GPU", 0)), float(resources.get("CPU", 1.0))
        if gpus:
            count, placement = actors or gpus, {"num_gpus": 1}
        else:
            count = actors or max(1, int(cpus // threads_per_actor))
            placement = {"num_cpus": threads_per_actor}
            if spec.strip().lower().startswith("hf:"):
                options.setdefault("threads", threads_per_actor)
        remote = ray.remote(TeacherActor).options(**placement)
        pool = [remote.remote(spec, taxonomy, options) for _ in range(count)]
        logger.info(
            "%d teacher actors (%s each) on %s", count, placement, address or "a local runtime"
        )
        try:
            # One replica says who the teacher is (for the cache keys); the others build theirs
            # at their first batch, so a rerun that the cache answers loads a single model.
            teacher = RemoteTeacher(**ray.get(pool[0].describe.remote()), actors=count)
            return label_file(
                input,
                out,
                teacher,
                taxonomy=taxonomy,
                runner=ray_runner(ray, pool),
                **label_options,
            )
        finally:
            for actor in pool:
                ray.kill(actor)
