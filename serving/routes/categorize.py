"""POST /v1/categorize: transactions in, categories out."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Body

from categorizer.engine import Prediction
from categorizer.schema import Transaction
from serving.confidence import confidence_level
from serving.deps import LimitTransactions, MetricsDep, ModelsDep, RequireKey, SettingsDep
from serving.schemas import REQUEST_EXAMPLE, CategorizeRequest, CategorizeResponse, ErrorMessage

logger = logging.getLogger(__name__)

RETRY_AFTER_HEADER = {
    "Retry-After": {
        "description": "Seconds to wait before retrying.",
        "schema": {"type": "integer"},
    }
}
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorMessage, "description": "The body cannot be read (not UTF-8)."},
    401: {"model": ErrorMessage, "description": "API keys are configured and none was sent."},
    413: {"model": ErrorMessage, "description": "More than max_transactions transactions."},
    503: {
        "model": ErrorMessage,
        "description": "The queue is full or the model is not ready: retry after Retry-After.",
        "headers": RETRY_AFTER_HEADER,
    },
}
EXAMPLES = {
    "card purchase": {
        "summary": "One card purchase",
        "value": {"transactions": [{"description": "STARBUCKS #1234 SEATTLE WA", "amount": -5.75}]},
    },
    "batch": {"summary": "A batch with ids, dates and directions", "value": REQUEST_EXAMPLE},
    "plaid signs": {
        "summary": "Plaid's sign convention (money out is positive)",
        "value": {
            "transactions": [
                {
                    "id": "p1",
                    "description": "UBER TRIP HELP.UBER.COM",
                    "amount": 23.10,
                    "amount_convention": "outflow_positive",
                    "mcc": "4121",
                }
            ]
        },
    },
}

router = APIRouter(prefix="/v1", tags=["categorize"], dependencies=[RequireKey])


@router.post(
    "/categorize",
    response_model=CategorizeResponse,
    responses=ERROR_RESPONSES,
    dependencies=[LimitTransactions],
    summary="Categorize transactions",
)
async def categorize(
    request: Annotated[CategorizeRequest, Body(openapi_examples=EXAMPLES)],
    models: ModelsDep,
    metrics: MetricsDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    """Categorize 1 to max_transactions transactions; results come back in request order.

    Each result has the primary category, the detailed one (detailed models), the calibrated
    confidence, the top categories, and Plaid's `personal_finance_category` object.
    """
    started = time.perf_counter()
    model, predictions = await models.categorize(request.transactions)
    metrics.observe_predictions(predictions)
    results = build_results(request.transactions, predictions, settings.abstain_threshold)
    logger.debug(
        "categorized %d transactions in %.2f ms",
        len(results),
        (time.perf_counter() - started) * 1e3,
    )
    return {"model": model.summary, "results": results}


def build_results(
    transactions: Sequence[Transaction],
    predictions: Sequence[Prediction],
    abstain_threshold: float,
) -> list[dict[str, Any]]:
    """The API's result objects of predictions, with the transactions' ids.

    Args:
        transactions: The request's transactions.
        predictions: One prediction per transaction, in order.
        abstain_threshold: Below it the confidence level is UNKNOWN.

    Returns:
        `CategoryResult`-shaped dicts, in order.
    """
    results = []
    for transaction, prediction in zip(transactions, predictions, strict=True):
        result = prediction.to_dict()
        result["id"] = transaction.id
        result["personal_finance_category"] = {
            "primary": prediction.category,
            "detailed": prediction.detailed_category,
            "confidence_level": confidence_level(prediction.confidence, abstain_threshold),
        }
        results.append(result)
    return results
