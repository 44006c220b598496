"""The micro-batcher on a real tiny engine: batching, order, admission, draining, isolation."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from categorizer.engine import Categorizer, Prediction
from serving.batcher import BatcherClosed, BatchStats, MicroBatcher, QueueFull

DESCRIPTIONS = [
    "POS PURCHASE STARBUCKS #1234 SEATTLE WA",
    "ACH DEPOSIT ACME CORP PAYROLL",
    "UBER TRIP HELP.UBER.COM",
    "SHELL OIL 5744 HOUSTON TX",
    "NETFLIX.COM",
    "CVS PHARMACY #0921",
    "RENT PAYMENT APT 4B",
    "ATM WITHDRAWAL FEE",
]


@pytest.fixture(scope="module")
def engine(tiny_bundle: Path) -> Categorizer:
    return Categorizer.load(tiny_bundle, threads=1)


def make_batcher(
    predict: Callable[[list[str]], list[Prediction]], **options: float
) -> tuple[MicroBatcher[str, Prediction], list[BatchStats]]:
    stats: list[BatchStats] = []
    batcher: MicroBatcher[str, Prediction] = MicroBatcher(predict, on_batch=stats.append, **options)
    return batcher, stats


def assert_same(got: Sequence[Prediction], expected: Sequence[Prediction]) -> None:
    """Same categories; confidences close (int8 activations are quantized per call, so the
    rows a batch holds move the numbers slightly)."""
    assert [p.category for p in got] == [p.category for p in expected]
    assert [p.confidence for p in got] == pytest.approx([p.confidence for p in expected], abs=0.05)


def requests(n: int, size: int) -> list[list[str]]:
    return [
        [DESCRIPTIONS[(i * size + j) % len(DESCRIPTIONS)] for j in range(size)] for i in range(n)
    ]


def test_concurrent_requests_share_calls_and_keep_their_order(engine: Categorizer) -> None:
    batches = requests(24, 3)

    async def main() -> tuple[list[list[Prediction]], list[BatchStats]]:
        batcher, stats = make_batcher(engine.predict, window_ms=20)
        batcher.start()
        answers = await asyncio.gather(*(batcher.submit(b) for b in batches))
        await batcher.close()
        return answers, stats

    answers, stats = asyncio.run(main())
    for answer, batch in zip(answers, batches, strict=True):
        assert_same(answer, engine.predict(batch))
    assert sum(s.rows for s in stats) == 72
    assert sum(s.requests for s in stats) == 24
    assert len(stats) < 24  # gathered, not one call per request


def test_batches_stop_at_max_batch_rows(engine: Categorizer) -> None:
    async def main() -> list[BatchStats]:
        batcher, stats = make_batcher(engine.predict, window_ms=20, max_batch=6)
        batcher.start()
        await asyncio.gather(*(batcher.submit(b) for b in requests(10, 3)))
        big = await batcher.submit(DESCRIPTIONS * 2)  # 16 rows: alone, never split
        assert len(big) == 16
        await batcher.close()
        return stats

    stats = asyncio.run(main())
    assert all(s.rows <= 6 for s in stats[:-1])
    assert stats[-1] == BatchStats(16, 1, stats[-1].seconds)


def test_a_sequential_caller_does_not_wait_for_the_window(engine: Categorizer) -> None:
    async def main() -> float:
        batcher, _ = make_batcher(engine.predict, window_ms=1000)
        batcher.start()
        started = time.perf_counter()
        for b in requests(3, 1):
            await batcher.submit(b)
        elapsed = time.perf_counter() - started
        await batcher.close()
        return elapsed

    assert asyncio.run(main()) < 1.5  # three requests that each waited would take 3 s


class Gate:
    """Wraps a predict function so that calls block until the test opens the gate."""

    def __init__(self, predict: Callable[[list[str]], list[Prediction]]) -> None:
        self.predict = predict
        self.entered = threading.Event()
        self.opened = threading.Event()

    def __call__(self, items: list[str]) -> list[Prediction]:
        self.entered.set()
        self.opened.wait(timeout=30)
        return self.predict(items)


def test_a_full_queue_refuses_and_recovers(engine: Categorizer) -> None:
    gate = Gate(engine.predict)

    async def main() -> None:
        batcher, _ = make_batcher(gate, window_ms=0, max_queue=4)
        batcher.start()
        first = asyncio.ensure_future(batcher.submit(DESCRIPTIONS[:3]))
        await asyncio.to_thread(gate.entered.wait, 30)
        assert batcher.pending_rows == 3
        second = asyncio.ensure_future(batcher.submit(DESCRIPTIONS[:1]))  # 4 rows: admitted
        await asyncio.sleep(0)
        with pytest.raises(QueueFull) as refused:
            await batcher.submit(DESCRIPTIONS[:1])
        assert (refused.value.pending, refused.value.limit) == (4, 4)
        gate.opened.set()
        assert len(await first) == 3
        assert len(await second) == 1
        assert batcher.pending_rows == 0
        assert len(await batcher.submit(DESCRIPTIONS[:2])) == 2  # accepted again
        await batcher.close()

    asyncio.run(main())


def test_a_request_larger_than_the_queue_runs_when_nothing_is_pending(engine: Categorizer) -> None:
    async def main() -> int:
        batcher, _ = make_batcher(engine.predict, max_queue=1)
        batcher.start()
        answer = await batcher.submit(DESCRIPTIONS)
        await batcher.close()
        return len(answer)

    assert asyncio.run(main()) == len(DESCRIPTIONS)


def test_close_answers_every_admitted_request_then_refuses(engine: Categorizer) -> None:
    gate = Gate(engine.predict)

    async def main() -> None:
        batcher, _ = make_batcher(gate, window_ms=0)
        batcher.start()
        pending = [asyncio.ensure_future(batcher.submit(b)) for b in requests(6, 2)]
        await asyncio.to_thread(gate.entered.wait, 30)
        closing = asyncio.ensure_future(batcher.close())
        await asyncio.sleep(0.05)
        assert not closing.done()
        with pytest.raises(BatcherClosed):
            await batcher.submit(["TOO LATE"])
        gate.opened.set()
        answers = await asyncio.gather(*pending)
        await closing
        assert [len(a) for a in answers] == [2] * 6

    asyncio.run(main())


def test_a_failing_request_does_not_fail_its_batch_mates(engine: Categorizer) -> None:
    def predict(items: Sequence[str]) -> list[Prediction]:
        if "BOOM" in items:
            raise ValueError("transactions[0].description: bad")
        return engine.predict(list(items))

    async def main() -> list[object]:
        batcher, _ = make_batcher(predict, window_ms=50)
        batcher.start()
        jobs = [["NETFLIX.COM"], ["BOOM"], ["UBER TRIP"]]
        answers = await asyncio.gather(*(batcher.submit(j) for j in jobs), return_exceptions=True)
        await batcher.close()
        return answers

    good, bad, other = asyncio.run(main())
    assert isinstance(bad, ValueError)
    assert_same(good, engine.predict(["NETFLIX.COM"]))
    assert_same(other, engine.predict(["UBER TRIP"]))


def test_a_cancelled_request_is_skipped(engine: Categorizer) -> None:
    gate = Gate(engine.predict)
    seen: list[int] = []

    def predict(items: list[str]) -> list[Prediction]:
        seen.append(len(items))
        return gate(items)

    async def main() -> None:
        batcher, _ = make_batcher(predict, window_ms=0)
        batcher.start()
        first = asyncio.ensure_future(batcher.submit(["NETFLIX.COM"]))
        await asyncio.to_thread(gate.entered.wait, 30)
        gone = asyncio.ensure_future(batcher.submit(["CVS PHARMACY"] * 5))
        kept = asyncio.ensure_future(batcher.submit(["UBER TRIP"]))
        await asyncio.sleep(0)
        gone.cancel()
        gate.opened.set()
        await first
        assert len(await kept) == 1
        assert batcher.pending_rows == 0
        await batcher.close()

    asyncio.run(main())
    assert seen == [1, 1]  # the cancelled 5 rows never reached the engine


def test_submit_before_start_is_refused(engine: Categorizer) -> None:
    batcher, _ = make_batcher(engine.predict)
    with pytest.raises(BatcherClosed):
        asyncio.run(batcher.submit(["NETFLIX.COM"]))


class ThreadRecorder:
    """Wraps a predict function and records the thread and size of every call."""

    def __init__(self, predict: Callable[[list[str]], list[Prediction]]) -> None:
        self.predict = predict
        self.calls: list[tuple[str, int]] = []

    def __call__(self, items: list[str]) -> list[Prediction]:
        self.calls.append((threading.current_thread().name, len(items)))
        return self.predict(items)


def test_a_lone_small_request_runs_inline(engine: Categorizer) -> None:
    recorder = ThreadRecorder(engine.predict)

    async def main() -> tuple[list[Prediction], list[BatchStats], str]:
        batcher, stats = make_batcher(recorder, inline_max_rows=1)
        batcher.start()
        answer = await batcher.submit(DESCRIPTIONS[:1])
        await batcher.close()
        return answer, stats, threading.current_thread().name

    answer, stats, loop_thread = asyncio.run(main())
    assert_same(answer, engine.predict(DESCRIPTIONS[:1]))
    assert recorder.calls == [(loop_thread, 1)]  # no hop to the batch thread
    assert stats == [BatchStats(1, 1, stats[0].seconds)]  # still counted in the metrics


def test_requests_arriving_together_are_batched_not_inlined(engine: Categorizer) -> None:
    recorder = ThreadRecorder(engine.predict)

    async def main() -> list[list[Prediction]]:
        batcher, _ = make_batcher(recorder, inline_max_rows=1, window_ms=20)
        batcher.start()
        answers = await asyncio.gather(*(batcher.submit([d]) for d in DESCRIPTIONS))
        await batcher.close()
        return answers

    answers = asyncio.run(main())
    for answer, description in zip(answers, DESCRIPTIONS, strict=True):
        assert_same(answer, engine.predict([description]))
    assert all(name.startswith("categorizer-batch") for name, _ in recorder.calls)
    assert len(recorder.calls) < len(DESCRIPTIONS)  # gathered into shared calls


@pytest.mark.parametrize(("inline_max_rows", "rows"), [(1, 2), (0, 1)])
def test_larger_requests_and_inline_off_use_the_batch_thread(
    engine: Categorizer, inline_max_rows: int, rows: int
) -> None:
    recorder = ThreadRecorder(engine.predict)

    async def main() -> None:
        batcher, _ = make_batcher(recorder, inline_max_rows=inline_max_rows)
        batcher.start()
        await batcher.submit(DESCRIPTIONS[:rows])
        await batcher.close()

    asyncio.run(main())
    assert [name.startswith("categorizer-batch") for name, _ in recorder.calls] == [True]
