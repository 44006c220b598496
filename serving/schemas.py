"""Request and response bodies of the HTTP API, with the examples /docs shows.

The request's transactions are `categorizer.schema.Transaction`, validated by FastAPI (a bad
field answers 422 with its path, e.g. ``["body", "transactions", 0, "amount"]``). Each result
carries Plaid's `personal_finance_category` object as well, so a client written against Plaid
reads it unchanged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.config import JsonDict

from categorizer.schema import MAX_DESCRIPTION_CHARS, Transaction
from serving.confidence import ConfidenceLevel

if TYPE_CHECKING:
    from categorizer.bundle import Manifest

REQUEST_EXAMPLE: JsonDict = {
    "transactions": [
        {"id": "t1", "description": "POS PURCHASE STARBUCKS #1234 SEATTLE WA", "amount": -5.75},
        {
            "id": "t2",
            "description": "ACH DEPOSIT ACME CORP PAYROLL",
            "amount": 2450.00,
            "currency": "USD",
            "date": "2024-05-31",
            "direction": "credit",
        },
    ]
}
TAXONOMY_EXAMPLE: JsonDict = {"name": "plaid-pfc", "version": "1.0", "hash": "9f2c…"}
MODEL_EXAMPLE: JsonDict = {
    "name": "minilm_l6",
    "version": "1",
    "base_model": "minilm",
    "quantization": "int8",
    "taxonomy": TAXONOMY_EXAMPLE,
    "created_at": "2024-06-01T12:00:00+00:00",
}
RESULT_EXAMPLE: JsonDict = {
    "id": "t1",
    "category": "FOOD_AND_DRINK",
    "detailed_category": None,
    "confidence": 0.991,
    "top": [
        {"category": "FOOD_AND_DRINK", "score": 0.991},
        {"category": "GENERAL_MERCHANDISE", "score": 0.004},
        {"category": "ENTERTAINMENT", "score": 0.002},
    ],
    "personal_finance_category": {
        "primary": "FOOD_AND_DRINK",
        "detailed": None,
        "confidence_level": "VERY_HIGH",
    },
}


_BLANK = r"[ \t\n\r\f\v]*"
"""Whitespace that both Python's str.strip and ECMA regexes (JSON Schema's) call whitespace."""


def _document_constraints(schema: dict[str, Any]) -> None:
    """Write the checks `Transaction`'s validators make into its JSON schema.

    Validation is unchanged (it is `Transaction`'s); the schema only stops admitting values that
    the validators refuse, so a client generated from /openapi.json sends valid requests.
    """
    properties = schema["properties"]
    properties["description"].update(
        minLength=1,
        maxLength=MAX_DESCRIPTION_CHARS,
        pattern=r"[^\s\x1c-\x1f\x85]",  # \S of Python's str.strip, in ECMA regex terms
        description="The bank descriptor: 1..512 characters, not only whitespace.",
    )
    properties["currency"].update(
        pattern=rf"^{_BLANK}([A-Za-z]{{3}})?{_BLANK}$",
        description="ISO 4217 code (upper-cased; blank means USD).",
    )
    properties["mcc"]["anyOf"] = [
        {"type": "string", "pattern": rf"^{_BLANK}([0-9]{{4}})?{_BLANK}$"},
        {"type": "integer", "minimum": 0, "maximum": 9999},
        {"type": "null"},
    ]
    properties["mcc"]["description"] = "4-digit merchant category code, e.g. 5411."
    properties["id"]["anyOf"] = [{"type": "string"}, {"type": "integer"}, {"type": "null"}]
    properties["id"]["description"] = "Your id for the transaction, echoed back as a string."


def check_unicode(value: str | None) -> str | None:
    """`value` unchanged, or ValueError when it has a lone surrogate (not encodable as UTF-8)."""
    if value is not None and not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("expected valid Unicode text (it has a lone surrogate)") from None
    return value


class TransactionIn(Transaction):
    """One transaction of a request: `categorizer.schema.Transaction`, with a precise schema.

    Text must be valid Unicode: JSON can carry a lone surrogate (``"\\udc00"``) that no UTF-8
    answer can echo back, so it is refused here (422) rather than failing the response.
    """

    model_config = ConfigDict(json_schema_extra=_document_constraints)

    @field_validator("id", "description", "account_type")
    @classmethod
    def _valid_unicode(cls, value: str | None) -> str | None:
        return check_unicode(value)


class CategorizeRequest(BaseModel):
    """A batch of transactions to categorize."""

    model_config = ConfigDict(json_schema_extra={"examples": [REQUEST_EXAMPLE]})

    transactions: list[TransactionIn] = Field(
        min_length=1,
        description="1 to max_transactions (default 1000) transactions; more answers 413.",
    )


class TopCategory(BaseModel):
    """A primary category and its calibrated probability."""

    category: str
    score: float


class PersonalFinanceCategory(BaseModel):
    """Plaid's `personal_finance_category` object."""

    primary: str = Field(description="The primary category (or the abstain label).")
    detailed: str | None = Field(
        description="The detailed category (detailed models only; null otherwise)."
    )
    confidence_level: ConfidenceLevel = Field(
        description="VERY_HIGH > 0.98, HIGH > 0.90, MEDIUM > 0.60, LOW otherwise; UNKNOWN "
        "when the model abstained."
    )


class CategoryResult(BaseModel):
    """The category of one transaction."""

    model_config = ConfigDict(json_schema_extra={"examples": [RESULT_EXAMPLE]})

    id: str | None = Field(description="The transaction's id, echoed back.")
    category: str
    detailed_category: str | None
    confidence: float = Field(description="Calibrated probability of the category (0..1).")
    top: list[TopCategory]
    personal_finance_category: PersonalFinanceCategory


class TaxonomyRef(BaseModel):
    """Which taxonomy a model predicts."""

    name: str
    version: str
    hash: str


class ModelSummary(BaseModel):
    """The model that answered."""

    model_config = ConfigDict(json_schema_extra={"examples": [MODEL_EXAMPLE]})

    name: str
    version: str
    base_model: str
    quantization: str
    taxonomy: TaxonomyRef
    created_at: str


class CategorizeResponse(BaseModel):
    """The results, in request order, and the model that produced them."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"model": MODEL_EXAMPLE, "results": [RESULT_EXAMPLE]}]}
    )

    model: ModelSummary
    results: list[CategoryResult]


class ModelDetails(ModelSummary):
    """Everything known about the model being served."""

    label_level: str
    labels: list[str]
    primary_labels: list[str]
    max_length: int
    temperature: float
    metrics: dict[str, Any]
    parity: dict[str, Any]
    loaded_at: str
    load_seconds: float
    threads: int
    abstain_threshold: float


class CategoryInfo(BaseModel):
    """One category of the taxonomy."""

    id: str
    name: str
    description: str
    parent: str | None


class CategoriesResponse(BaseModel):
    """The served model's taxonomy: primary categories and their detailed categories."""

    taxonomy: TaxonomyRef
    primary: list[str] = Field(description="The primary category ids, in model order.")
    categories: list[CategoryInfo]


class ReloadRequest(BaseModel):
    """Which bundle to load (default: the one being served, re-read from disk)."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"bundle": "/models/bundle_v2"}]}
    )

    bundle: str | None = Field(None, description="A bundle folder on the server.")

    @field_validator("bundle")
    @classmethod
    def _valid_unicode(cls, value: str | None) -> str | None:
        return check_unicode(value)


class ReloadResponse(BaseModel):
    """The model now serving and the one it replaced."""

    model: ModelSummary
    previous: ModelSummary | None
    load_seconds: float


class Status(BaseModel):
    """A probe's answer."""

    status: str
    model: str | None = None


class ErrorMessage(BaseModel):
    """An error (FastAPI's shape)."""

    detail: str


def model_summary(manifest: Manifest) -> dict[str, Any]:
    """The `ModelSummary` of a bundle's manifest, as plain data."""
    taxonomy = manifest.taxonomy
    return {
        "name": manifest.name,
        "version": manifest.version,
        "base_model": manifest.base_model,
        "quantization": manifest.quantization,
        "taxonomy": {key: str(taxonomy.get(key, "")) for key in ("name", "version", "hash")},
        "created_at": manifest.created_at,
    }
