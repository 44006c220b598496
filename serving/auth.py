"""Optional bearer-key authentication of the /v1 routes.

Keys come from `CATEGORIZER_API_KEYS` (comma-separated). With none configured the service is
open, and `warn_if_open` says so at start. A presented key is compared with every configured key
in constant time (`hmac.compare_digest`), so timing reveals neither which key nor how much of
one matched.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Sequence

from pydantic import SecretStr

logger = logging.getLogger(__name__)


def key_matches(presented: str | None, keys: Sequence[SecretStr]) -> bool:
    """Whether `presented` is one of `keys`.

    Args:
        presented: The bearer token of the request (None when absent).
        keys: The configured keys.

    Returns:
        True when it equals a configured key; False for none, an empty token or no keys.
    """
    if not presented or not keys:
        return False
    given = presented.encode("utf-8")
    # Compare with every key (no short-circuit), so the time does not depend on the match.
    matches = [hmac.compare_digest(given, key.get_secret_value().encode("utf-8")) for key in keys]
    return any(matches)


def warn_if_open(keys: Sequence[SecretStr]) -> None:
    """Log a warning when no key is configured (anyone who reaches the port may call)."""
    if keys:
        logger.info("bearer-key authentication is on (%d keys)", len(keys))
        return
    logger.warning(
        "no API keys configured (CATEGORIZER_API_KEYS): the service is open, including "
        "POST /v1/admin/reload; set keys before exposing it beyond a trusted network"
    )
