"""The HTTP routes: /v1 (categorize, model, categories, admin, feedback) and the probes."""

from fastapi import APIRouter

from serving.routes import categorize, feedback, model, ops

api_router = APIRouter()
api_router.include_router(categorize.router)
api_router.include_router(model.router)
api_router.include_router(feedback.router)
api_router.include_router(ops.router)

__all__ = ["api_router"]
