"""The served model: an engine with its micro-batcher, loaded, warmed and hot-swapped.

`ModelHolder` owns the current `LoadedModel`. `load` builds a new engine on a worker thread
(the event loop keeps serving), warms it with one prediction, starts its batcher and swaps it
in atomically; the old batcher then answers every request it admitted before it stops. A
request that reached the old model just as it closed is retried on the new one, so a reload
drops nothing.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from categorizer.bundle import load_bundle_taxonomy
from categorizer.engine import Categorizer, Prediction
from categorizer.schema import Transaction
from categorizer.taxonomy import Taxonomy
from serving.batcher import BatcherClosed, MicroBatcher
from serving.metrics import Metrics
from serving.schemas import model_summary
from serving.settings import Settings

logger = logging.getLogger(__name__)

WARMUP_TRANSACTION = Transaction(
    description="POS PURCHASE STARBUCKS #1234 SEATTLE WA", amount=-5.75
)
"""The dummy transaction a new engine predicts once before it takes traffic."""


class ModelNotReady(RuntimeError):
    """No model is loaded yet, or the service is shutting down."""


@dataclass(eq=False)
class LoadedModel:
    """One engine, the bundle it came from and its batcher.

    Attributes:
        engine: The loaded categorizer.
        taxonomy: The bundle's taxonomy.
        bundle: The bundle folder.
        batcher: Gathers requests into engine calls.
        load_seconds: How long loading and warming took.
        loaded_at: When it finished loading and warming (UTC, ISO 8601).
        summary: The `ModelSummary` every answer carries (computed once).
    """

    engine: Categorizer
    taxonomy: Taxonomy
    bundle: Path
    batcher: MicroBatcher[Transaction, Prediction]
    load_seconds: float = 0.0
    loaded_at: str = field(default_factory=lambda: dt.datetime.now(dt.UTC).isoformat())
    summary: dict[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        self.summary = model_summary(self.engine.manifest)


def load_engine(bundle: Path, settings: Settings) -> tuple[Categorizer, Taxonomy, float]:
    """Load and warm an engine (blocking: run it on a worker thread).

    Returns:
        The engine, the bundle's taxonomy and the seconds loading and warming took.

    Raises:
        BundleError: The bundle is missing, altered or inconsistent.
    """
    started = time.perf_counter()
    engine = Categorizer.load(
        bundle,
        threads=settings.threads,
        batch_size=64,
        abstain_threshold=settings.abstain_threshold,
        top_k=settings.top_k,
    )
    taxonomy = load_bundle_taxonomy(bundle)
    engine.predict([WARMUP_TRANSACTION])
    return engine, taxonomy, time.perf_counter() - started


class ModelHolder:
    """The current model of one app, and the lock that serialises reloads."""

    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        """Hold no model yet; `load` puts one in."""
        self._settings = settings
        self._metrics = metrics
        self._current: LoadedModel | None = None
        self._lock = asyncio.Lock()
        self._stopping = False
        metrics.track_queue(self.pending_rows)

    @property
    def ready(self) -> bool:
        """Whether a warmed model takes requests."""
        return self._current is not None and not self._stopping

    @property
    def current(self) -> LoadedModel:
        """The model serving now.

        Raises:
            ModelNotReady: None is loaded, or the service is stopping.
        """
        if self._current is None or self._stopping:
            raise ModelNotReady("the model is not loaded yet" if not self._stopping else "stopping")
        return self._current

    def pending_rows(self) -> int:
        """Rows admitted and not yet answered by the current model."""
        return self._current.batcher.pending_rows if self._current is not None else 0

    async def load(self, bundle: Path) -> LoadedModel:
        """Load, warm and swap in the bundle's model; drain the previous one.

        Args:
            bundle: The bundle folder.

        Returns:
            The new current model.

        Raises:
            BundleError: The bundle cannot be loaded (the current model keeps serving).
        """
        async with self._lock:
            loaded = await asyncio.to_thread(load_engine, bundle, self._settings)
            engine, taxonomy, seconds = loaded
            batcher: MicroBatcher[Transaction, Prediction] = MicroBatcher(
                engine.predict,
                max_batch=self._settings.max_batch,
                window_ms=self._settings.batch_window_ms,
                max_queue=self._settings.max_queue,
                inline_max_rows=self._settings.inline_max_rows,
                on_batch=self._metrics.observe_batch,
            )
            batcher.start()
            new = LoadedModel(engine, taxonomy, bundle, batcher, load_seconds=seconds)
            old, self._current = self._current, new
            self._metrics.set_model(engine.manifest)
            manifest = engine.manifest
            logger.info(
                "serving model %s %s from %s (loaded and warmed in %.2f s)",
                manifest.name,
                manifest.version,
                bundle,
                seconds,
            )
            if old is not None:
                await old.batcher.close()
            return new

    async def categorize(
        self, transactions: Sequence[Transaction]
    ) -> tuple[LoadedModel, list[Prediction]]:
        """Predict through the current model's batcher.

        Returns:
            The model that answered and one prediction per transaction.

        Raises:
            ModelNotReady: No model is loaded, or the service is stopping.
            QueueFull: The queue is full.
        """
        while True:
            model = self.current
            try:
                return model, await model.batcher.submit(transactions)
            except BatcherClosed:
                if self._current is model or self._stopping:
                    raise ModelNotReady("the model is not taking requests") from None
                # swapped out by a reload just now: the new model answers

    async def close(self) -> None:
        """Stop taking requests and answer the admitted ones."""
        self._stopping = True
        async with self._lock:
            if self._current is not None:
                await self._current.batcher.close()
