"""POST /v1/feedback: users' corrections of categories, recorded for retraining."""

from __future__ import annotations

import asyncio
import copy
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.config import JsonDict

from categorizer.schema import MAX_DESCRIPTION_CHARS
from categorizer.taxonomy import Taxonomy
from serving.deps import MetricsDep, ModelsDep, RequireKey
from serving.feedback import CategoryError, FeedbackStore, FeedbackUnavailable, check_categories
from serving.routes.categorize import ERROR_RESPONSES
from serving.schemas import ErrorMessage, check_unicode

logger = logging.getLogger(__name__)

PATH = "/v1/feedback"
MAX_CORRECTIONS = 1000
MAX_ID_CHARS = 256
NOT_CONFIGURED = "feedback is not configured: set CATEGORIZER_FEEDBACK_DB"
_NON_BLANK = r"[^\s\x1c-\x1f\x85]"  # what Python's str.strip keeps, in ECMA regex terms
EXAMPLE: JsonDict = {
    "corrections": [
        {
            "id": "t1",
            "description": "POS PURCHASE STARBUCKS #1234 SEATTLE WA",
            "amount": -5.75,
            "category": "FOOD_AND_DRINK",
            "detailed_category": "FOOD_AND_DRINK_COFFEE",
        }
    ]
}


class Correction(BaseModel):
    """The category a user says one transaction belongs to."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=MAX_ID_CHARS, description="The transaction's id.")
    description: str = Field(
        min_length=1,
        max_length=MAX_DESCRIPTION_CHARS,
        json_schema_extra={"pattern": _NON_BLANK},
        description="The bank descriptor: 1..512 characters, not only whitespace.",
    )
    amount: float | None = Field(None, allow_inf_nan=False, description="Signed amount.")
    category: str = Field(description="A primary category of the served model's taxonomy.")
    detailed_category: str | None = Field(
        None, description="A detailed category of `category` (GET /v1/categories lists them)."
    )

    @field_validator("id", "category", "detailed_category")
    @classmethod
    def _valid_unicode(cls, value: str | None) -> str | None:
        return check_unicode(value)

    @field_validator("description")
    @classmethod
    def _non_blank(cls, value: str) -> str:
        text = check_unicode(value.strip())
        if not text:
            raise ValueError("expected a non-empty description")
        return text


class FeedbackRequest(BaseModel):
    """Corrections to record."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [EXAMPLE]})

    corrections: list[Correction] = Field(
        min_length=1, max_length=MAX_CORRECTIONS, description="1 to 1000 corrections."
    )


class FeedbackResponse(BaseModel):
    """How many corrections were recorded."""

    recorded: int


async def get_feedback_store(request: Request) -> FeedbackStore:
    """The app's feedback store.

    Raises:
        HTTPException: 503 when no CATEGORIZER_FEEDBACK_DB is configured.
    """
    store: FeedbackStore | None = getattr(request.app.state, "feedback", None)
    if store is None:
        raise HTTPException(503, NOT_CONFIGURED)
    return store


FeedbackDep = Annotated[FeedbackStore, Depends(get_feedback_store)]

router = APIRouter(prefix="/v1", tags=["feedback"], dependencies=[RequireKey])


@router.post(
    "/feedback",
    status_code=201,
    response_model=FeedbackResponse,
    responses={
        400: ERROR_RESPONSES[400],
        401: ERROR_RESPONSES[401],
        503: {
            "model": ErrorMessage,
            "description": "Feedback is not configured, the model is not ready, or the "
            "database is busy.",
        },
    },
    summary="Record users' corrections of categories",
)
async def record_feedback(
    body: FeedbackRequest, store: FeedbackDep, models: ModelsDep, metrics: MetricsDep
) -> dict[str, Any]:
    """Record 1 to 1000 corrections for the next retraining; 201 once they are on disk.

    Each `category` must be a primary category of the served model's taxonomy and each
    `detailed_category`, when given, one of its detailed categories (else 422, naming the field
    and the values allowed). The model serving now is recorded with them.
    """
    model = models.current
    rows = [correction.model_dump() for correction in body.corrections]
    try:
        check_categories(rows, model.taxonomy)
    except CategoryError as exc:
        raise RequestValidationError(exc.errors) from None
    version = f"{model.summary['name']} {model.summary['version']}"
    try:
        recorded = await asyncio.to_thread(store.record, rows, version)
    except FeedbackUnavailable as exc:
        logger.warning("%s", exc)
        raise HTTPException(503, "feedback could not be recorded; retry later") from None
    metrics.feedback_recorded.inc(recorded)
    return {"recorded": recorded}


def document_feedback(
    schema: dict[str, Any], *, enabled: bool, taxonomy: Taxonomy | None
) -> dict[str, Any]:
    """The OpenAPI schema with the feedback route as this app serves it (a copy).

    Without CATEGORIZER_FEEDBACK_DB the route only answers 503, so it is left out of the
    schema; with it, the served taxonomy's categories are listed as the allowed values.

    Args:
        schema: The app's schema (not changed).
        enabled: Whether the app has a feedback store (CATEGORIZER_FEEDBACK_DB is set).
        taxonomy: The served model's taxonomy (None before it is loaded).
    """
    schema = copy.deepcopy(schema)
    if not enabled:
        schema["paths"].pop(PATH, None)
        return schema
    if taxonomy is not None:
        fields = schema["components"]["schemas"]["Correction"]["properties"]
        fields["category"]["enum"] = list(taxonomy.labels)
        detailed = {"type": "string", "enum": list(taxonomy.detailed_labels)}
        fields["detailed_category"]["anyOf"] = [detailed, {"type": "null"}]
    return schema
