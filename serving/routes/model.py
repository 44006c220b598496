"""The model being served: GET /v1/model, GET /v1/categories, POST /v1/admin/reload."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException

from categorizer.bundle import BundleError
from serving.deps import MetricsDep, ModelsDep, RequireKey, SettingsDep
from serving.routes.categorize import ERROR_RESPONSES
from serving.schemas import (
    CategoriesResponse,
    ErrorMessage,
    ModelDetails,
    ReloadRequest,
    ReloadResponse,
)

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/v1", dependencies=[RequireKey])
_READ_ERRORS: dict[int | str, dict[str, Any]] = {code: ERROR_RESPONSES[code] for code in (401, 503)}


@router.get(
    "/model",
    response_model=ModelDetails,
    responses=_READ_ERRORS,
    tags=["model"],
    summary="The model being served",
)
async def get_model(models: ModelsDep, settings: SettingsDep) -> dict[str, Any]:
    """Name, version, taxonomy, labels, calibration, metrics and parity at export."""
    model = models.current
    manifest = model.engine.manifest
    return {
        **model.summary,
        "label_level": manifest.label_level,
        "labels": manifest.labels,
        "primary_labels": manifest.primary_labels,
        "max_length": manifest.max_length,
        "temperature": manifest.temperature,
        "metrics": manifest.metrics,
        "parity": manifest.parity,
        "loaded_at": model.loaded_at,
        "load_seconds": round(model.load_seconds, 3),
        "threads": model.engine.threads,
        "abstain_threshold": settings.abstain_threshold,
    }


@router.get(
    "/categories",
    response_model=CategoriesResponse,
    responses=_READ_ERRORS,
    tags=["model"],
    summary="The taxonomy's categories",
)
async def get_categories(models: ModelsDep) -> dict[str, Any]:
    """The served model's taxonomy: primary categories (the model's classes) and detailed ones."""
    taxonomy = models.current.taxonomy
    return {
        "taxonomy": taxonomy.fingerprint(),
        "primary": list(taxonomy.labels),
        "categories": [
            {"id": c.id, "name": c.name, "description": c.description, "parent": c.parent}
            for c in taxonomy.categories
        ],
    }


@router.post(
    "/admin/reload",
    response_model=ReloadResponse,
    responses={
        400: {"model": ErrorMessage, "description": "The bundle cannot be loaded (or bad body)."},
        404: {"model": ErrorMessage, "description": "No bundle folder at that path."},
        **_READ_ERRORS,
    },
    tags=["admin"],
    summary="Load a model bundle and swap it in without dropping requests",
)
async def reload_model(
    models: ModelsDep, metrics: MetricsDep, body: ReloadRequest | None = None
) -> dict[str, Any]:
    """Load a bundle (default: the current one, re-read), warm it and swap it in atomically.

    Loading runs off the event loop while the current model keeps serving; requests it has
    admitted finish on it. A missing folder (404) or a bundle that fails to load (400) leaves
    the current model in place.
    """
    previous = models.current
    bundle = Path(body.bundle) if body is not None and body.bundle else previous.bundle
    if not bundle.is_dir():
        metrics.reloads.labels("failed").inc()
        raise HTTPException(404, f"no bundle folder at {bundle} (still serving the current model)")
    try:
        new = await models.load(bundle)
    except (BundleError, OSError) as exc:
        metrics.reloads.labels("failed").inc()
        logger.warning("reload of %s failed: %s", bundle, exc)
        version = f"{previous.summary['name']} {previous.summary['version']}"
        raise HTTPException(400, f"reload failed (still serving {version}): {exc}") from None
    metrics.reloads.labels("ok").inc()
    return {"model": new.summary, "previous": previous.summary, "load_seconds": new.load_seconds}
