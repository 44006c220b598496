"""Follow a model registry: serve its promoted version, and swap in the next one when promoted.

`training.lifecycle.registry` writes ``registry.json`` atomically (a temp file, then a rename), so a
reader never sees half a file and needs no lock. The service reads it with the same reader
(`categorizer.registry_file`) for two things — which version is promoted, and that version's
bundle folder — and needs nothing from the training package.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from categorizer.registry_file import RegistryError, promoted_bundle
from serving.settings import Settings

logger = logging.getLogger(__name__)


def resolve_bundle(settings: Settings) -> Settings:
    """Settings whose bundle is the registry's promoted one when no bundle was given.

    Raises:
        RegistryError: The registry cannot be read.
        ValueError: Neither a bundle nor a registry with a promoted version.
    """
    if settings.bundle is not None or settings.registry is None:
        return settings
    bundle = promoted_bundle(settings.registry)
    if bundle is None:
        raise ValueError(
            f"the registry {settings.registry} has no promoted version yet: promote one "
            "(categorizer retrain --registry) or pass --bundle"
        )
    return settings.model_copy(update={"bundle": bundle})


async def follow(models: Any, root: Path, poll_s: float, serving: Path) -> None:
    """Poll the registry every `poll_s` seconds; load each newly promoted bundle.

    A bundle that fails to load is logged once and skipped (the current model keeps serving)
    until the registry promotes another one. Runs until cancelled.
    """
    current, failed = serving.resolve(), None
    while True:
        await asyncio.sleep(poll_s)
        try:
            bundle = await asyncio.to_thread(promoted_bundle, root)
        except RegistryError as exc:
            logger.warning("%s; still serving %s", exc, current)
            continue
        if bundle is None or bundle in (current, failed):
            continue
        try:
            await models.load(bundle)
        except Exception as exc:
            logger.warning("the registry promoted %s but it does not load: %s", bundle, exc)
            failed = bundle
            continue
        logger.info("the registry promoted %s: now serving it", bundle)
        current, failed = bundle, None
