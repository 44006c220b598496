"""Micro-batching: concurrent requests share one engine call, run off the event loop.

Requests `submit` their rows; one worker task gathers the queued requests into a batch and runs
the predict function on a single worker thread (ONNX Runtime parallelises inside a call with its
own threads, so one call at a time is the fastest way to use the CPUs). While a batch runs, new
requests queue up and form the next batch.

Gathering: a batch takes whole requests in arrival order, up to `max_batch` rows (a single
larger request goes alone). After its first request it waits at most `window_ms` for more, and
only until as many requests are queued as the previous batch held: a sequential caller (one
request per batch) never waits, while under concurrent load batches fill up. A small request
that finds the model idle (nothing queued or running) may skip all of this: with
`inline_max_rows`, it is predicted at once on the event loop thread.

Admission is bounded: a request whose rows would take the rows admitted and not yet answered
past `max_queue` is refused with `QueueFull` (the service answers 503 with Retry-After) instead
of growing memory and latency without bound. A request is always admitted when nothing is
pending. `close` stops admission and answers every admitted request before it returns.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")


class QueueFull(Exception):
    """The batcher holds too many rows to admit a request now; retry later."""

    def __init__(self, pending: int, rows: int, limit: int) -> None:
        """Record the pending rows, the refused request's rows and the limit."""
        super().__init__(
            f"queue full: {pending} rows pending, {rows} more would pass the limit of {limit}"
        )
        self.pending = pending
        self.rows = rows
        self.limit = limit


class BatcherClosed(RuntimeError):
    """The batcher is closing or closed and takes no new requests."""


@dataclass(frozen=True)
class BatchStats:
    """What one engine call did.

    Attributes:
        rows: Items predicted.
        requests: Requests the batch served.
        seconds: Wall time of the predict call.
    """

    rows: int
    requests: int
    seconds: float


@dataclass(eq=False)
class _Job(Generic[T, R]):
    items: Sequence[T]
    future: asyncio.Future[list[R]]


class MicroBatcher(Generic[T, R]):
    """Gathers concurrent requests into batched calls of a blocking predict function.

    Use it from one event loop: `start()`, `await submit(items)` from many tasks, then
    `await close()`.
    """

    def __init__(
        self,
        predict: Callable[[list[T]], list[R]],
        *,
        max_batch: int = 256,
        window_ms: float = 2.0,
        max_queue: int = 8192,
        inline_max_rows: int = 0,
        on_batch: Callable[[BatchStats], None] | None = None,
    ) -> None:
        """Configure the batcher (nothing runs until `start`).

        Args:
            predict: Blocking function from items to one result per item, in order.
            max_batch: Most rows per call (a larger single request goes alone).
            window_ms: Longest wait for more requests after a batch's first one.
            max_queue: Most rows admitted and not yet answered.
            inline_max_rows: A request of at most this many rows that finds nothing queued or
                running is predicted right away on the calling (event loop) thread: no wake-up
                of the worker task and no thread hop, which are most of a lone small request's
                time. 0 turns this off.
            on_batch: Called on the event loop after every call (for metrics).
        """
        if max_batch < 1 or max_queue < 1 or window_ms < 0 or inline_max_rows < 0:
            raise ValueError("max_batch and max_queue must be ≥ 1, window_ms and inline ≥ 0")
        self._predict = predict
        self.max_batch = max_batch
        self.max_queue = max_queue
        self.inline_max_rows = inline_max_rows
        self._window_s = window_ms / 1000.0
        self._on_batch = on_batch
        self._jobs: deque[_Job[T, R]] = deque()
        self._running: list[_Job[T, R]] = []
        self._pending_rows = 0
        self._arriving = 0  # requests between their inline check and its decision
        self._last_requests = 1
        self._closing = False
        self._arrived: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._executor: ThreadPoolExecutor | None = None

    @property
    def pending_rows(self) -> int:
        """Rows admitted and not yet answered (queued or running)."""
        return self._pending_rows

    @property
    def running(self) -> bool:
        """Whether the batcher is started and takes requests."""
        return self._task is not None and not self._closing

    def start(self) -> None:
        """Start the worker task on the running event loop."""
        if self._task is not None:
            raise RuntimeError("the batcher is already started")
        self._arrived = asyncio.Event()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="categorizer-batch")
        self._task = asyncio.get_running_loop().create_task(self._run(), name="micro-batcher")

    async def submit(self, items: Sequence[T]) -> list[R]:
        """Predict `items` as part of a batch.

        Args:
            items: The request's items.

        Returns:
            One result per item, in order.

        Raises:
            QueueFull: Admitting the rows would pass `max_queue`.
            BatcherClosed: The batcher is not started, or is closing.
        """
        if not self.running or self._arrived is None:
            raise BatcherClosed("the model is not taking requests")
        if not items:
            return []
        rows = len(items)
        if rows <= self.inline_max_rows and not self._pending_rows:
            if await self._alone():
                return self._predict_inline(items)
            if not self.running:  # closed while this request yielded
                raise BatcherClosed("the model is not taking requests")
        if self._pending_rows and self._pending_rows + rows > self.max_queue:
            raise QueueFull(self._pending_rows, rows, self.max_queue)
        future: asyncio.Future[list[R]] = asyncio.get_running_loop().create_future()
        self._jobs.append(_Job(items, future))
        self._pending_rows += rows
        self._arrived.set()
        return await future

    async def _alone(self) -> bool:
        """Whether no other request is on its way in: yield once, so that requests that arrived
        with this one reach `submit` too; inline only if none did and nothing is pending."""
        self._arriving += 1
        try:
            await asyncio.sleep(0)
        finally:
            self._arriving -= 1
        return not self._arriving and not self._pending_rows and self.running

    def _predict_inline(self, items: Sequence[T]) -> list[R]:
        """One small call on this thread while the model is idle (nothing pending)."""
        started = time.perf_counter()
        results = self._predict(list(items))
        if len(results) != len(items):
            raise RuntimeError(f"predict returned {len(results)} results for {len(items)} items")
        if self._on_batch is not None:
            self._on_batch(BatchStats(len(items), 1, time.perf_counter() - started))
        return results

    async def close(self) -> None:
        """Refuse new requests, answer every admitted one, then stop the worker thread."""
        if self._task is None or self._arrived is None:
            return
        self._closing = True
        self._arrived.set()
        await asyncio.shield(self._task)
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    # -- the worker -------------------------------------------------------------------------

    async def _run(self) -> None:
        assert self._arrived is not None
        try:
            while True:
                while not self._jobs and not self._closing:
                    self._arrived.clear()
                    await self._arrived.wait()
                if not self._jobs:
                    return  # closing, and everything admitted is answered
                await self._gather()
                self._running = self._take()
                if self._running:
                    await self._execute(self._running)
                self._running = []
        except asyncio.CancelledError:
            self._fail_all(BatcherClosed("the service stopped before answering"))
            raise

    async def _gather(self) -> None:
        """Wait up to the window for as many requests as the last batch held."""
        assert self._arrived is not None
        if self._window_s <= 0 or self._closing:
            return
        deadline = time.monotonic() + self._window_s
        while len(self._jobs) < self._last_requests and self._queued_rows() < self.max_batch:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self._arrived.clear()
            try:
                async with asyncio.timeout(remaining):
                    await self._arrived.wait()
            except TimeoutError:
                return

    def _queued_rows(self) -> int:
        return sum(len(job.items) for job in self._jobs)

    def _take(self) -> list[_Job[T, R]]:
        """Whole requests in arrival order, up to max_batch rows (at least one request)."""
        batch: list[_Job[T, R]] = []
        rows = 0
        while self._jobs:
            job = self._jobs[0]
            if job.future.done():  # the caller went away while it waited
                self._jobs.popleft()
                self._pending_rows -= len(job.items)
                continue
            if batch and rows + len(job.items) > self.max_batch:
                break
            self._jobs.popleft()
            batch.append(job)
            rows += len(job.items)
        return batch

    async def _execute(self, batch: list[_Job[T, R]]) -> None:
        """Run one call for the batch and hand each request its slice of the results."""
        items = [item for job in batch for item in job.items]
        started = time.perf_counter()
        try:
            results = await self._call(items)
        except Exception as exc:
            if len(batch) > 1:  # find the request that failed; answer the others
                logger.warning("a batch of %d requests failed; retrying each alone", len(batch))
                for job in batch:
                    await self._execute([job])
                return
            _settle(batch[0].future, exc=exc)
            self._pending_rows -= len(items)
            return
        seconds = time.perf_counter() - started
        offset = 0
        for job in batch:
            _settle(job.future, result=results[offset : offset + len(job.items)])
            offset += len(job.items)
        self._pending_rows -= len(items)
        self._last_requests = len(batch)
        if self._on_batch is not None:
            self._on_batch(BatchStats(len(items), len(batch), seconds))

    async def _call(self, items: list[T]) -> list[R]:
        loop = asyncio.get_running_loop()
        results = await loop.run_in_executor(self._executor, self._predict, items)
        if len(results) != len(items):
            raise RuntimeError(f"predict returned {len(results)} results for {len(items)} items")
        return results

    def _fail_all(self, exc: BaseException) -> None:
        for job in [*self._running, *self._jobs]:
            _settle(job.future, exc=exc)
        self._jobs.clear()
        self._running = []
        self._pending_rows = 0


def _settle(
    future: asyncio.Future[Any], *, result: Any = None, exc: BaseException | None = None
) -> None:
    """Resolve a future unless its caller has gone (cancelled)."""
    if future.done():
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(result)
