"""Run the service under uvicorn (what `categorizer serve` calls).

Settings given here win over `CATEGORIZER_*` variables; they are written back into the
environment so that every uvicorn worker process (`--workers N`) builds the same app with
`serving.app:create_app`.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from categorizer.bundle import load_bundle
from serving.settings import Settings

logger = logging.getLogger(__name__)

APP_FACTORY = "serving.app:create_app"


def resolve_settings(overrides: dict[str, Any], workers: int = 1) -> Settings:
    """Settings from the environment with `overrides` (None values ignored) on top.

    With several workers and no thread count, the CPUs are shared out between the workers.

    Raises:
        pydantic.ValidationError: A setting has a bad value.
    """
    settings = Settings(**{key: value for key, value in overrides.items() if value is not None})
    if workers > 1 and settings.threads is None:
        from categorizer.cpus import usable_cpus

        settings = settings.model_copy(update={"threads": max(1, usable_cpus() // workers)})
    return settings


def run_server(settings: Settings, *, host: str, port: int, workers: int = 1) -> None:
    """Verify the bundle, then serve until interrupted.

    Args:
        settings: The configuration (`resolve_settings`).
        host: Interface to bind.
        port: TCP port.
        workers: uvicorn worker processes, each with its own model.

    Raises:
        ValueError: No bundle is configured.
        BundleError: The bundle is missing, altered or inconsistent.
    """
    import uvicorn

    from serving.registry_watch import resolve_bundle

    settings = resolve_bundle(settings)
    if settings.bundle is None:
        raise ValueError(
            "no model bundle: pass --bundle DIR (or --registry) or set CATEGORIZER_BUNDLE"
        )
    manifest = load_bundle(settings.bundle)  # fail here, with exit code 2, not in a worker
    logger.info("serving %s %s on http://%s:%d", manifest.name, manifest.version, host, port)
    os.environ.update(settings.to_env())
    uvicorn.run(
        APP_FACTORY,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=settings.log_level,
        access_log=settings.access_log,
    )
