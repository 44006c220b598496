"""The model holder: load, warm, hot-swap and drain, with real bundles."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from categorizer.bundle import BundleError
from categorizer.schema import Transaction
from serving.metrics import Metrics
from serving.models import ModelHolder, ModelNotReady
from serving.settings import Settings

TRANSACTIONS = [Transaction(description="NETFLIX.COM"), Transaction(description="UBER TRIP")]


def holder_for(bundle: Path) -> ModelHolder:
    return ModelHolder(Settings(bundle=bundle, threads=1), Metrics())


def test_load_serves_and_close_stops(tiny_bundle: Path) -> None:
    async def main() -> None:
        holder = holder_for(tiny_bundle)
        assert not holder.ready
        with pytest.raises(ModelNotReady):
            await holder.categorize(TRANSACTIONS)
        loaded = await holder.load(tiny_bundle)
        assert holder.ready
        model, predictions = await holder.categorize(TRANSACTIONS)
        assert model is loaded
        expected = loaded.engine.predict(TRANSACTIONS)
        assert [p.category for p in predictions] == [p.category for p in expected]
        assert loaded.summary["version"] == "1"
        assert loaded.taxonomy.fingerprint() == loaded.engine.manifest.taxonomy
        await holder.close()
        assert not holder.ready
        with pytest.raises(ModelNotReady):
            await holder.categorize(TRANSACTIONS)

    asyncio.run(main())


def test_a_reload_during_requests_answers_all_of_them(tiny_bundle: Path, bundle_v2: Path) -> None:
    async def main() -> list[str]:
        holder = holder_for(tiny_bundle)
        await holder.load(tiny_bundle)
        requests = [holder.categorize(TRANSACTIONS) for _ in range(30)]
        answers = await asyncio.gather(holder.load(bundle_v2), *requests)
        versions = [model.summary["version"] for model, _ in answers[1:]]
        assert holder.current.summary["version"] == "2"
        await holder.close()
        return versions

    versions = asyncio.run(main())
    assert len(versions) == 30
    assert set(versions) <= {"1", "2"}


def test_a_request_caught_by_the_swap_is_retried_on_the_new_model(
    tiny_bundle: Path, bundle_v2: Path
) -> None:
    async def main() -> str:
        holder = holder_for(tiny_bundle)
        old = await holder.load(tiny_bundle)
        submit = old.batcher.submit

        async def swap_then_submit(items: list[Transaction]) -> list[object]:
            await holder.load(bundle_v2)  # swaps in v2 and closes the old batcher
            return await submit(items)  # BatcherClosed: the holder retries on v2

        old.batcher.submit = swap_then_submit  # type: ignore[method-assign]
        model, predictions = await holder.categorize(TRANSACTIONS)
        assert len(predictions) == 2
        await holder.close()
        return model.summary["version"]

    assert asyncio.run(main()) == "2"


def test_a_failed_load_keeps_the_current_model(tiny_bundle: Path, tmp_path: Path) -> None:
    async def main() -> None:
        holder = holder_for(tiny_bundle)
        current = await holder.load(tiny_bundle)
        with pytest.raises(BundleError):
            await holder.load(tmp_path)
        assert holder.current is current
        assert len((await holder.categorize(TRANSACTIONS))[1]) == 2
        await holder.close()

    asyncio.run(main())
