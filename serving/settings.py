"""Service settings, read from `CATEGORIZER_*` environment variables.

`Settings()` reads the environment; keyword arguments win over it (the CLI passes its flags that
way). `CATEGORIZER_API_KEYS` is a comma-separated list of bearer keys; with none the service is
open (a warning is logged at start).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

ENV_PREFIX = "CATEGORIZER_"

LogLevel = Literal["critical", "error", "warning", "info", "debug"]


class Settings(BaseSettings):
    """What the HTTP service is configured with.

    Attributes:
        bundle: The model bundle folder to serve (`categorizer export --out`).
        max_transactions: Most transactions one request may carry (more: 413).
        max_queue: Most transaction rows admitted and not yet answered; past it, requests are
            refused with 503 and Retry-After. A request is always admitted when nothing is
            pending, so a limit below `max_transactions` serves large requests one at a time.
        batch_window_ms: How long a micro-batch may wait for more requests after its first
            one (skipped while traffic is sequential).
        max_batch: Most rows per engine call.
        inline_max_rows: A request of at most this many rows that arrives while the model is
            idle runs on the event loop thread itself, without the hop to the batch thread
            (0: never). It blocks the loop for one small engine call, when nothing waits.
        threads: ONNX Runtime intra-op threads (default: the CPUs this process may use).
        api_keys: Bearer keys; empty means no authentication.
        abstain_threshold: Below this confidence the category is the abstain label.
        top_k: How many primary categories each result's `top` lists.
        retry_after_s: The Retry-After seconds sent with a 503.
        max_body_bytes: Largest request body accepted (more: 413).
        access_log: Whether uvicorn logs one line per request (method, path, status).
        log_level: Logging level of the service.
        registry: A model registry folder (`categorizer retrain --registry`): serve its promoted
            version when no bundle is given, and load each newly promoted one.
        registry_poll_s: How often the registry is checked for a new promoted version.
        feedback_db: SQLite file where `POST /v1/feedback` records corrections (None: the route
            answers 503).
    """

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    bundle: Path | None = None
    max_transactions: int = Field(1000, ge=1, le=100_000)
    max_queue: int = Field(8192, ge=1)
    batch_window_ms: float = Field(2.0, ge=0.0, le=1000.0)
    max_batch: int = Field(256, ge=1)
    inline_max_rows: int = Field(1, ge=0, le=64)
    threads: int | None = Field(None, ge=1)
    api_keys: Annotated[tuple[SecretStr, ...], NoDecode] = ()
    abstain_threshold: float = Field(0.0, ge=0.0, le=1.0)
    top_k: int = Field(3, ge=0, le=100)
    retry_after_s: int = Field(1, ge=1)
    max_body_bytes: int = Field(8 * 1024 * 1024, ge=1024)
    access_log: bool = True
    log_level: LogLevel = "info"
    registry: Path | None = None
    registry_poll_s: float = Field(5.0, gt=0.0, le=3600.0)
    feedback_db: Path | None = None

    @field_validator("api_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(key.strip() for key in value.split(",") if key.strip())
        if isinstance(value, list | tuple):
            return tuple(
                key for key in value if not isinstance(key, str) or key.strip()
            )  # blank entries never become a key
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower_level(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @property
    def auth_enabled(self) -> bool:
        """Whether requests to /v1 need a bearer key."""
        return bool(self.api_keys)

    def to_env(self) -> dict[str, str]:
        """These settings as `CATEGORIZER_*` variables (for worker processes to read back)."""
        env: dict[str, str] = {}
        for name, value in self.model_dump().items():
            if value is None:
                continue
            if name == "api_keys":
                if not value:
                    continue
                text = ",".join(key.get_secret_value() for key in value)
            elif isinstance(value, bool):
                text = "true" if value else "false"
            else:
                text = str(value)
            env[f"{ENV_PREFIX}{name.upper()}"] = text
        return env
