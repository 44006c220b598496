"""The service's own errors and the HTTP answers they map to.

Dependencies and the model layer raise these plain exceptions; `add_error_handlers` turns each
into a JSON response of FastAPI's usual shape (``{"detail": "..."}``) with its status code and
headers, so that no layer below the routes builds an HTTP error.
"""

from __future__ import annotations

import json
import logging
import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from categorizer.errors import InputError
from serving.batcher import QueueFull
from serving.models import ModelNotReady

logger = logging.getLogger(__name__)


class Unauthorized(Exception):
    """The request has no bearer key, or not one of the configured keys."""


class TooManyTransactions(Exception):
    """A request carries more transactions than the service accepts in one call."""

    def __init__(self, count: int, limit: int) -> None:
        """Record how many transactions came and the limit."""
        super().__init__(
            f"too many transactions: {count} in one request; at most {limit} are accepted "
            "(split the batch)"
        )
        self.count = count
        self.limit = limit


class AsciiJSONResponse(JSONResponse):
    """JSON with non-ASCII characters escaped: renders any str, lone surrogates included."""

    def render(self, content: Any) -> bytes:
        """Serialize `content` as ASCII-only JSON."""
        return json.dumps(content, ensure_ascii=True, allow_nan=False).encode("ascii")


async def validation_error(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422 answer (``{"detail": [{"loc", "msg", "type", "input"}, ...]}``), rendered
    so that an input holding invalid Unicode or NaN is echoed back escaped instead of failing."""
    assert isinstance(exc, RequestValidationError)
    detail = _finite(jsonable_encoder(exc.errors()))
    return AsciiJSONResponse({"detail": detail}, status_code=422)


def _finite(value: Any) -> Any:
    """`value` with NaN and infinities (which Python's JSON parser accepts) as strings."""
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_finite(item) for item in value]
    return value


def add_error_handlers(app: FastAPI, retry_after_s: int) -> None:
    """Register the handlers of this module's errors (and the batcher's) on `app`.

    Args:
        app: The application.
        retry_after_s: The Retry-After seconds of a 503.
    """
    retry = {"Retry-After": str(retry_after_s)}

    async def unauthorized(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse(
            {"detail": "a valid bearer key is required: send 'Authorization: Bearer <key>'"},
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )

    async def too_many(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=413)

    async def queue_full(request: Request, exc: Exception) -> JSONResponse:
        request.app.state.metrics.rejected.inc()
        logger.debug("refused a request: %s", exc)
        detail = "the service is at capacity; retry after the Retry-After seconds"
        return JSONResponse({"detail": detail}, status_code=503, headers=retry)

    async def not_ready(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": f"not ready: {exc}"}, status_code=503, headers=retry)

    async def bad_input(request: Request, exc: Exception) -> JSONResponse:
        # any library error that says the caller's input is wrong: the message names it
        return JSONResponse({"detail": str(exc)}, status_code=400)

    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(Unauthorized, unauthorized)
    app.add_exception_handler(TooManyTransactions, too_many)
    app.add_exception_handler(QueueFull, queue_full)
    app.add_exception_handler(ModelNotReady, not_ready)
    app.add_exception_handler(InputError, bad_input)
