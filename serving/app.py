"""The FastAPI application factory.

    uvicorn --factory serving.app:create_app      # settings from CATEGORIZER_* variables
    categorizer serve --bundle runs/bundle        # the same, flags over variables

Nothing is loaded at import: `create_app` only wires settings, metrics, routes and error
handlers; the model is loaded, warmed and swapped in by the lifespan, and drained at shutdown.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

import categorizer
from serving.auth import warn_if_open
from serving.errors import add_error_handlers
from serving.feedback import FeedbackStore
from serving.metrics import Metrics, MetricsMiddleware
from serving.models import ModelHolder
from serving.registry_watch import follow, resolve_bundle
from serving.routes import api_router
from serving.routes.feedback import document_feedback
from serving.settings import Settings

logger = logging.getLogger(__name__)

DESCRIPTION = """Categorizes bank and card transactions with a small model distilled from an LLM.

`POST /v1/categorize` takes 1 to `max_transactions` transactions and answers each with a
category, a calibrated confidence, the top categories and Plaid's `personal_finance_category`
object. The /v1 routes need `Authorization: Bearer <key>` when `CATEGORIZER_API_KEYS` is set;
/healthz, /readyz and /metrics are always open.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the application (the model loads when it starts, not here).

    Args:
        settings: The configuration (default: read from `CATEGORIZER_*` variables).

    Returns:
        The FastAPI app; `app.state` holds its settings, metrics, model holder and feedback
        store (None unless `feedback_db` is set; opened when the app starts).

    Raises:
        ValueError: No bundle is configured (and no registry with a promoted version).
        RegistryError: The configured registry cannot be read.
    """
    settings = resolve_bundle(settings or Settings())
    if settings.bundle is None:
        raise ValueError(
            "no model bundle: set CATEGORIZER_BUNDLE (--bundle) "
            "or CATEGORIZER_REGISTRY (--registry)"
        )
    configure_logging(settings.log_level)
    metrics = Metrics()
    models = ModelHolder(settings, metrics)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        warn_if_open(settings.api_keys)
        assert settings.bundle is not None
        app.state.feedback = await open_feedback(settings)
        await models.load(settings.bundle)
        watcher = None
        if settings.registry is not None:
            watcher = asyncio.create_task(
                follow(models, settings.registry, settings.registry_poll_s, settings.bundle)
            )
        yield
        if watcher is not None:
            watcher.cancel()
        logger.info("shutting down: answering %d pending rows", models.pending_rows())
        await models.close()
        if app.state.feedback is not None:
            app.state.feedback.close()

    app = FastAPI(
        title="Transaction categorizer",
        version=categorizer.__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        max_body_size=settings.max_body_bytes,
    )
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.models = models
    app.state.feedback = None  # a FeedbackStore once started, when feedback_db is set
    app.include_router(api_router)
    add_error_handlers(app, settings.retry_after_s)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    document_limits(app, settings)
    return app


def document_limits(app: FastAPI, settings: Settings) -> None:
    """Put this app's configuration into its OpenAPI schema: maxItems of transactions, and the
    feedback route (left out when not configured) with the served taxonomy's categories."""

    def openapi() -> dict[str, Any]:
        schema = FastAPI.openapi(app)  # built once, then cached on the app
        request = schema["components"]["schemas"]["CategorizeRequest"]
        request["properties"]["transactions"]["maxItems"] = settings.max_transactions
        models: ModelHolder = app.state.models
        taxonomy = models.current.taxonomy if models.ready else None  # may change on reload
        enabled = settings.feedback_db is not None
        return document_feedback(schema, enabled=enabled, taxonomy=taxonomy)

    app.openapi = openapi  # type: ignore[method-assign]


async def open_feedback(settings: Settings) -> FeedbackStore | None:
    """The feedback store of `settings.feedback_db`, opened off the event loop (None: unset).

    Raises:
        FeedbackError: The file cannot be opened or is not a feedback database.
    """
    if settings.feedback_db is None:
        return None
    store = await asyncio.to_thread(FeedbackStore, settings.feedback_db)
    logger.info("recording feedback in %s", settings.feedback_db)
    return store


def configure_logging(level: str) -> None:
    """Set the service's log level; add a handler when the process has none (plain uvicorn)."""
    numeric = logging.getLevelName(level.upper())
    for name in ("serving", "categorizer"):
        package_logger = logging.getLogger(name)
        package_logger.setLevel(numeric)
        if not logging.getLogger().handlers and not package_logger.handlers:
            handler = logging.StreamHandler()
            handler.setFormatter(logging.Formatter("%(levelname)s:     %(name)s: %(message)s"))
            package_logger.addHandler(handler)
