"""Follow a model registry: serve its promoted version, and swap in the next one when promoted.

`training.registry` writes ``registry.json`` atomically (a temp file, then a rename), so a reader
never sees half a file and needs no lock. The service reads only two fields of it — which
version is promoted, and that version's bundle folder — and needs nothing from the training
package.
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

from categorizer.errors import InputError
from serving.settings import Settings

logger = logging.getLogger(__name__)

REGISTRY_FILE = "registry.json"


class RegistryUnreadable(InputError):
    """registry.json is missing, not JSON, or names a promoted version it does not hold."""


def promoted_bundle(root: Path) -> Path | None:
    """The promoted version's bundle folder, or None when nothing is promoted yet.

    Raises:
        RegistryUnreadable: No readable registry.json under `root` (the message names it).
    """
    path = root / REGISTRY_FILE
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise RegistryUnreadable(
            f"{path}: cannot read the model registry ({exc.__class__.__name__}); "
            "point --registry at a folder `categorizer retrain --registry` wrote"
        ) from None
    name = state.get("promoted") if isinstance(state, dict) else None
    if not name:
        return None
    for version in state.get("versions") or []:
        if isinstance(version, dict) and version.get("version") == name:
            return (root / str(version["bundle"])).resolve()
    raise RegistryUnreadable(f"{path}: the promoted version {name!r} is not among its versions")


def resolve_bundle(settings: Settings) -> Settings:
    """Settings whose bundle is the registry's promoted one when no bundle was given.

    Raises:
        RegistryUnreadable: The registry cannot be read.
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
        except RegistryUnreadable as exc:
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
