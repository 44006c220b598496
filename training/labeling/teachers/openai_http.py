"""HTTP for the `openai:` teacher: one request, how it can fail, and how long to wait to retry.

`post_chat` sends one ``POST {base_url}/chat/completions`` and sorts the answer into the decoded
JSON body, a `Retryable` failure (429, 408, 409, 425 and 5xx answers, timeouts, connection errors,
malformed JSON) or a `RowFailed` one (any other 4xx). `backoff_delay` is the wait before the next
attempt: what the server asked (`retry_after` reads ``Retry-After``, in seconds or as an HTTP date,
and ``retry-after-ms``), else exponential backoff with full jitter, capped at ``max_wait``. `probe`
checks once that the server is reachable and accepts the key; `redact` keeps keys out of the
server text that becomes a row's error.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import math
import random
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from training.labeling.teachers.base import TeacherError

logger = logging.getLogger(__name__)

_RETRY_STATUS = frozenset({408, 409, 425, 429})
_SNIPPET_CHARS = 200
_KEY_PATTERN = re.compile(r"\b(sk|key|token)-[A-Za-z0-9_*.\-]{4,}", re.IGNORECASE)
_PROBE_TIMEOUT = 10.0


class Retryable(Exception):
    """A failure worth another attempt (rate limit, server error, timeout, malformed body)."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class RowFailed(Exception):
    """A failure that another attempt would repeat (bad request, an answer outside the codes)."""


@dataclass
class HttpConnection:
    """One batch's HTTP client and the semaphore bounding its requests in flight."""

    client: httpx.AsyncClient
    semaphore: asyncio.Semaphore


async def post_chat(
    client: httpx.AsyncClient,
    base_url: str,
    body: dict[str, Any],
    timeout: float,
    redact: Callable[[str], str],
) -> Any:
    """POST once; return the decoded JSON body or raise `Retryable` / `RowFailed`."""
    try:
        response = await client.post(f"{base_url}/chat/completions", json=body)
    except httpx.TimeoutException as exc:
        raise Retryable(f"timed out after {timeout:g} s ({type(exc).__name__})") from exc
    except httpx.TransportError as exc:
        raise Retryable(f"connection error to {base_url}: {type(exc).__name__}") from exc
    status = response.status_code
    if status in _RETRY_STATUS or status >= 500:
        raise Retryable(f"HTTP {status}", retry_after(response.headers))
    if status >= 400:
        raise RowFailed(f"HTTP {status}: {redact(response.text)}")
    try:
        return response.json()
    except ValueError as exc:
        raise Retryable(f"malformed JSON in the response: {exc}") from exc


def backoff_delay(
    attempt: int,
    retry_after_s: float | None,
    *,
    base: float,
    cap: float,
    max_wait: float,
    rng: random.Random,
) -> float:
    """Seconds to wait before the next attempt: the server's ask, else full jitter."""
    if retry_after_s is not None:
        return min(retry_after_s, max_wait)
    ceiling = min(cap, base * 2.0**attempt)
    return min(rng.uniform(0.0, ceiling), max_wait)


def retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds a response asks the client to wait (``retry-after-ms`` or ``Retry-After``).

    ``Retry-After`` may be seconds or an HTTP date; None when absent or unreadable.
    """
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000.0)
        except ValueError:
            pass
    value = (headers.get("retry-after") or "").strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    return max(0.0, seconds) if math.isfinite(seconds) else None


def probe(
    model: str,
    base_url: str,
    headers: Mapping[str, str],
    timeout: float,
    redact: Callable[[str], str],
) -> None:
    """Fail fast when the server cannot be reached or refuses the key."""
    url = f"{base_url}/models"
    try:
        with httpx.Client(headers=headers, timeout=min(timeout, _PROBE_TIMEOUT)) as c:
            response = c.get(url)
    except httpx.HTTPError as exc:
        raise TeacherError(
            f"openai:{model}: cannot reach {base_url} ({type(exc).__name__}: "
            f"{redact(str(exc))}); is the server running and --base-url right?"
        ) from exc
    if response.status_code in (401, 403):
        raise TeacherError(
            f"openai:{model}: {base_url} refused the API key "
            f"(HTTP {response.status_code}); set OPENAI_API_KEY or --api-key-env"
        )
    logger.debug("probe %s: HTTP %d", url, response.status_code)


def redact(text: str, secrets: list[str]) -> str:
    """Server text fit for an error: one line, at most 200 characters, with no keys in it."""
    text = " ".join(text.split())[:_SNIPPET_CHARS]
    for secret in secrets:
        text = text.replace(secret, "***")
    return _KEY_PATTERN.sub("***", text)
