"""FastAPI dependencies, as `Annotated` aliases the routes declare parameters with.

Everything lives on `app.state` (set by `serving.app.create_app`), so two apps in one process
never share settings, models or metrics. The dependencies are `async def`: FastAPI runs a plain
`def` dependency on its thread pool, a thread hop per request for nothing.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from serving.auth import key_matches
from serving.errors import TooManyTransactions, Unauthorized
from serving.metrics import Metrics
from serving.models import ModelHolder
from serving.settings import Settings

bearer = HTTPBearer(
    auto_error=False,
    description="One of the keys in CATEGORIZER_API_KEYS (needed only when keys are set).",
)


async def get_settings(request: Request) -> Settings:
    """The app's settings."""
    return request.app.state.settings


async def get_metrics(request: Request) -> Metrics:
    """The app's metrics."""
    return request.app.state.metrics


async def get_models(request: Request) -> ModelHolder:
    """The app's model holder."""
    return request.app.state.models


SettingsDep = Annotated[Settings, Depends(get_settings)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
ModelsDep = Annotated[ModelHolder, Depends(get_models)]
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


async def require_key(settings: SettingsDep, credentials: Credentials) -> None:
    """Let the request through when keys are off or it bears a configured key.

    Raises:
        Unauthorized: Keys are configured and the request has none of them (401).
    """
    if not settings.api_keys:
        return
    token = credentials.credentials if credentials is not None else None
    if not key_matches(token, settings.api_keys):
        raise Unauthorized


async def limit_transactions(request: Request, settings: SettingsDep) -> None:
    """Refuse a request with too many transactions before they are validated one by one.

    FastAPI has already parsed the JSON body (Starlette caches it), so counting is cheap.

    Raises:
        TooManyTransactions: More than `max_transactions` (413).
    """
    try:
        payload = await request.json()
    except ValueError:  # not JSON: body validation answers 422
        return
    transactions = payload.get("transactions") if isinstance(payload, dict) else None
    if isinstance(transactions, list) and len(transactions) > settings.max_transactions:
        raise TooManyTransactions(len(transactions), settings.max_transactions)


RequireKey = Depends(require_key)
LimitTransactions = Depends(limit_transactions)
