"""Settings from CATEGORIZER_* variables, with keyword arguments (CLI flags) on top."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from serving.settings import Settings


def test_defaults_without_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("BUNDLE", "API_KEYS", "MAX_TRANSACTIONS", "MAX_QUEUE", "BATCH_WINDOW_MS"):
        monkeypatch.delenv(f"CATEGORIZER_{name}", raising=False)
    settings = Settings()
    assert settings.bundle is None
    assert settings.max_transactions == 1000
    assert settings.api_keys == ()
    assert not settings.auth_enabled
    assert 0 < settings.batch_window_ms <= 10


def test_environment_is_read_with_the_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CATEGORIZER_BUNDLE", "/models/b1")
    monkeypatch.setenv("CATEGORIZER_MAX_TRANSACTIONS", "50")
    monkeypatch.setenv("CATEGORIZER_MAX_QUEUE", "7")
    monkeypatch.setenv("CATEGORIZER_BATCH_WINDOW_MS", "0.5")
    monkeypatch.setenv("CATEGORIZER_THREADS", "2")
    monkeypatch.setenv("CATEGORIZER_LOG_LEVEL", "DEBUG")
    settings = Settings()
    assert settings.bundle == Path("/models/b1")
    assert (settings.max_transactions, settings.max_queue, settings.threads) == (50, 7, 2)
    assert settings.batch_window_ms == 0.5
    assert settings.log_level == "debug"


def test_api_keys_are_comma_separated_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CATEGORIZER_API_KEYS", " k1, ,k2 ,")
    settings = Settings()
    assert [key.get_secret_value() for key in settings.api_keys] == ["k1", "k2"]
    assert settings.auth_enabled
    assert "k1" not in repr(settings)


def test_keywords_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CATEGORIZER_BUNDLE", "/from/env")
    monkeypatch.setenv("CATEGORIZER_THREADS", "4")
    settings = Settings(bundle=Path("/from/flag"))
    assert settings.bundle == Path("/from/flag")
    assert settings.threads == 4


def test_to_env_round_trips(monkeypatch: pytest.MonkeyPatch) -> None:
    original = Settings(
        bundle=Path("/b"), api_keys="a,b", max_queue=3, access_log=False, abstain_threshold=0.2
    )
    for name, value in original.to_env().items():
        monkeypatch.setenv(name, value)
    assert Settings() == original


@pytest.mark.parametrize(
    ("name", "value"),
    [("max_transactions", 0), ("max_queue", 0), ("batch_window_ms", -1), ("log_level", "loud")],
)
def test_bad_values_are_refused(name: str, value: object) -> None:
    with pytest.raises(ValidationError, match=name):
        Settings(**{name: value})
