"""Operational routes, open without a key: GET /healthz, GET /readyz, GET /metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from serving.deps import MetricsDep, ModelsDep
from serving.metrics import CONTENT_TYPE
from serving.schemas import Status

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=Status, summary="Liveness: the process answers")
async def healthz() -> Status:
    """Always 200 while the process runs (restart it when this fails)."""
    return Status(status="ok")


@router.get(
    "/readyz",
    response_model=Status,
    responses={503: {"model": Status, "description": "Loading, or shutting down."}},
    summary="Readiness: a warmed model takes requests",
)
async def readyz(models: ModelsDep) -> Status | JSONResponse:
    """200 once the model is loaded and warmed; 503 before that and while shutting down."""
    if not models.ready:
        return JSONResponse({"status": "not ready", "model": None}, status_code=503)
    summary = models.current.summary
    return Status(status="ready", model=f"{summary['name']} {summary['version']}")


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE: {}}, "description": "Prometheus text format."}},
    summary="Prometheus metrics",
)
async def metrics(metrics: MetricsDep) -> Response:
    """Request counts and latencies, batch sizes, queue depth, predictions and confidence."""
    return Response(metrics.render(), media_type=CONTENT_TYPE)
