"""The transaction schema: the one input shape shared by files, the CLI and the HTTP API.

A `Transaction` is validated once, at the edge. Amounts follow a sign convention
(`outflow_negative` by default: money out is negative); an explicit `direction` always wins over
the amount's sign. Unknown fields are kept so that callers get them back unchanged.
"""

import datetime
import math
import re
from typing import Any, Literal, TypeAlias

from pydantic import BaseModel, ConfigDict, field_validator

from categorizer.text import DIRECTION_ALIASES, resolve_direction

AmountConvention: TypeAlias = Literal["outflow_negative", "outflow_positive"]
Direction: TypeAlias = Literal["debit", "credit"]

AMOUNT_CONVENTIONS: tuple[str, ...] = ("outflow_negative", "outflow_positive")
DIRECTIONS: tuple[str, ...] = ("debit", "credit")
DEFAULT_CURRENCY = "USD"
MAX_DESCRIPTION_CHARS = 512

TRANSACTION_FIELDS: tuple[str, ...] = (
    "id",
    "description",
    "amount",
    "currency",
    "date",
    "mcc",
    "account_type",
    "direction",
    "amount_convention",
)

_CURRENCY_RE = re.compile(r"[A-Z]{3}")
_MCC_RE = re.compile(r"[0-9]{4}")


class Transaction(BaseModel):
    """One bank or card transaction, as files and requests send it.

    Attributes:
        id: Caller's identifier, echoed back in results.
        description: The bank descriptor, 1..512 characters after stripping.
        amount: Signed amount in `amount_convention`; finite.
        currency: ISO 4217 code, upper-cased (default USD).
        date: Transaction or posting date.
        mcc: 4-digit merchant category code.
        account_type: Free-form account type (e.g. "checking", "credit_card").
        direction: "debit" (money out) or "credit" (money in); wins over the amount's sign.
        amount_convention: "outflow_negative" (default) or "outflow_positive" (Plaid).
    """

    model_config = ConfigDict(extra="allow")

    id: str | None = None
    description: str
    amount: float | None = None
    currency: str = DEFAULT_CURRENCY
    date: datetime.date | None = None
    mcc: str | None = None
    account_type: str | None = None
    direction: Direction | None = None
    amount_convention: AmountConvention = "outflow_negative"

    @field_validator("id", mode="before")
    @classmethod
    def _id_to_text(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        return value

    @field_validator("description")
    @classmethod
    def _check_description(cls, value: str) -> str:
        text = value.strip()
        if not text:
            raise ValueError("expected a non-empty description")
        if len(text) > MAX_DESCRIPTION_CHARS:
            raise ValueError(
                f"expected at most {MAX_DESCRIPTION_CHARS} characters; got {len(text)}"
            )
        return text

    @field_validator("amount")
    @classmethod
    def _check_amount(cls, value: float | None) -> float | None:
        if value is not None and not math.isfinite(value):
            raise ValueError(f"expected a finite amount; got {value}")
        return value

    @field_validator("currency", mode="before")
    @classmethod
    def _check_currency(cls, value: Any) -> Any:
        if value is None:
            return DEFAULT_CURRENCY
        if not isinstance(value, str):
            return value  # pydantic reports the type error
        code = value.strip().upper()
        if not code:
            return DEFAULT_CURRENCY
        if not _CURRENCY_RE.fullmatch(code):
            raise ValueError(
                f"expected a 3-letter ISO 4217 currency code such as USD; got {value!r}"
            )
        return code

    @field_validator("mcc", mode="before")
    @classmethod
    def _check_mcc(cls, value: Any) -> Any:
        return normalise_mcc(value)

    @field_validator("account_type", mode="before")
    @classmethod
    def _blank_account_type(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            return None
        return value.strip() if isinstance(value, str) else value

    @field_validator("direction", mode="before")
    @classmethod
    def _normalise_direction(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip().lower()
            return DIRECTION_ALIASES.get(value, value) or None
        return value

    def resolved_direction(self) -> Direction | None:
        """Return the direction, from `direction` if given, else from the amount's sign.

        Returns:
            "debit", "credit", or None when the amount is missing or zero and no direction is
            given.
        """
        return resolve_direction(self.amount, self.direction, self.amount_convention)

    def outflow_negative_amount(self) -> float | None:
        """Return the amount in the outflow_negative convention (money out is negative).

        The magnitude comes from `amount`, the sign from `resolved_direction()`.

        Returns:
            The signed amount, 0.0 for a zero amount, or None when the amount is unknown.
        """
        if self.amount is None:
            return None
        magnitude = abs(self.amount)
        direction = self.resolved_direction()
        if direction is None:
            return 0.0
        return -magnitude if direction == "debit" else magnitude


def normalise_mcc(value: Any) -> str | None:
    """Turn an MCC given as text or a whole number into its 4-digit form.

    Args:
        value: "5411", 5411, 742 (→ "0742"), 5411.0, "" or None.

    Returns:
        The 4-digit code, or None for None or blank text.

    Raises:
        ValueError: The value is not a 4-digit code or a whole number from 0 to 9999.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(f"expected a 4-digit merchant category code such as 5411; got {value!r}")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int):
        if 0 <= value <= 9999:
            return f"{value:04d}"
    elif isinstance(value, str):
        code = value.strip()
        if not code:
            return None
        if _MCC_RE.fullmatch(code):
            return code
    raise ValueError(f"expected a 4-digit merchant category code such as 5411; got {value!r}")
