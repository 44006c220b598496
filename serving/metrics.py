"""Prometheus metrics of one app, in a registry of its own (two apps never share counters).

`Metrics` holds the collectors; `MetricsMiddleware` counts every HTTP request by method, route
template (never the raw path, so unknown URLs cannot explode the label set) and status, with a
latency histogram whose buckets suit millisecond latencies.
"""

from __future__ import annotations

import time
from collections import Counter as Tally
from collections.abc import Callable, Iterable, MutableMapping
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from categorizer.bundle import Manifest
    from categorizer.engine import Prediction
    from serving.batcher import BatchStats

LATENCY_BUCKETS_S = (
    0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    2.5, 5.0,
)  # fmt: skip
"""Request and batch latency buckets in seconds: dense around the 3 ms / 10 ms targets."""

BATCH_ROWS_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048)
CONFIDENCE_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99, 1.0)
"""Confidence buckets; 0.6, 0.9 and 0.98 are the confidence-level thresholds."""

CONTENT_TYPE = CONTENT_TYPE_LATEST
UNMATCHED_ROUTE = "<unmatched>"


class Metrics:
    """The service's collectors, registered in their own `CollectorRegistry`."""

    def __init__(self) -> None:
        """Create every collector in a fresh registry."""
        self.registry = CollectorRegistry()
        labels = ("method", "route", "status")
        self.requests = Counter(
            "categorizer_http_requests", "HTTP requests.", labels, registry=self.registry
        )
        self.latency = Histogram(
            "categorizer_http_request_duration_seconds",
            "HTTP request latency, first byte in to last byte out.",
            labels,
            buckets=LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self.batch_rows = Histogram(
            "categorizer_batch_rows",
            "Transactions per engine call.",
            buckets=BATCH_ROWS_BUCKETS,
            registry=self.registry,
        )
        self.batch_requests = Histogram(
            "categorizer_batch_requests",
            "Requests served per engine call.",
            buckets=BATCH_ROWS_BUCKETS,
            registry=self.registry,
        )
        self.batch_seconds = Histogram(
            "categorizer_batch_duration_seconds",
            "Wall time of one engine call.",
            buckets=LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self.queue_rows = Gauge(
            "categorizer_queue_rows",
            "Transactions admitted and not yet answered.",
            registry=self.registry,
        )
        self.rejected = Counter(
            "categorizer_queue_rejections",
            "Requests refused with 503 because the queue was full.",
            registry=self.registry,
        )
        self.predictions = Counter(
            "categorizer_predictions",
            "Predictions by primary category.",
            ("category",),
            registry=self.registry,
        )
        self.confidence = Histogram(
            "categorizer_prediction_confidence",
            "Calibrated confidence of each prediction.",
            buckets=CONFIDENCE_BUCKETS,
            registry=self.registry,
        )
        self.model_info = Gauge(
            "categorizer_model_info",
            "The model being served (value 1).",
            ("name", "version", "quantization", "base_model", "taxonomy"),
            registry=self.registry,
        )
        self.reloads = Counter(
            "categorizer_model_reloads",
            "Model reloads by outcome.",
            ("outcome",),
            registry=self.registry,
        )
        self.feedback_recorded = Counter(
            "categorizer_feedback_corrections",
            "Corrections recorded by POST /v1/feedback.",
            registry=self.registry,
        )

    def track_queue(self, pending_rows: Callable[[], int]) -> None:
        """Read the queue depth from `pending_rows` at every scrape."""
        self.queue_rows.set_function(lambda: float(pending_rows()))

    def observe_batch(self, stats: BatchStats) -> None:
        """Record one engine call."""
        self.batch_rows.observe(stats.rows)
        self.batch_requests.observe(stats.requests)
        self.batch_seconds.observe(stats.seconds)

    def observe_predictions(self, predictions: Iterable[Prediction]) -> None:
        """Count predictions by category and record their confidences."""
        tally: Tally[str] = Tally()
        for prediction in predictions:
            tally[prediction.category] += 1
            self.confidence.observe(prediction.confidence)
        for category, count in tally.items():
            self.predictions.labels(category).inc(count)

    def set_model(self, manifest: Manifest) -> None:
        """Make `manifest`'s model the only one the info gauge reports."""
        self.model_info.clear()
        taxonomy = manifest.taxonomy
        self.model_info.labels(
            manifest.name,
            manifest.version,
            manifest.quantization,
            manifest.base_model,
            f"{taxonomy.get('name', '')}@{taxonomy.get('version', '')}",
        ).set(1)

    def render(self) -> bytes:
        """The registry in Prometheus' text format."""
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Pure-ASGI middleware that counts and times HTTP requests by route template."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        """Wrap `app`, recording into `metrics`."""
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the request and record its method, route, status and latency."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]

        async def send_and_record(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            labels = (scope["method"], _route_of(scope), str(status[0]))
            self.metrics.requests.labels(*labels).inc()
            self.metrics.latency.labels(*labels).observe(time.perf_counter() - started)


def _route_of(scope: MutableMapping[str, Any]) -> str:
    route = scope.get("route")
    return getattr(route, "path", None) or UNMATCHED_ROUTE
