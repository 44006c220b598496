"""Bearer-key matching and the warning of an open service."""

from __future__ import annotations

import logging

import pytest
from pydantic import SecretStr

from serving.auth import key_matches, warn_if_open

KEYS = (SecretStr("first-key"), SecretStr("second-këy"))


@pytest.mark.parametrize("presented", ["first-key", "second-këy"])
def test_every_configured_key_matches(presented: str) -> None:
    assert key_matches(presented, KEYS)


@pytest.mark.parametrize("presented", [None, "", "first-ke", "first-key ", "FIRST-KEY", "x" * 500])
def test_other_keys_do_not_match(presented: str | None) -> None:
    assert not key_matches(presented, KEYS)


def test_nothing_matches_without_keys() -> None:
    assert not key_matches("anything", ())


def test_an_open_service_logs_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="serving.auth"):
        warn_if_open(())
        warn_if_open(KEYS)
    levels = [record.levelno for record in caplog.records]
    assert levels == [logging.WARNING, logging.INFO]
    assert "open" in caplog.records[0].getMessage()
    assert "first-key" not in caplog.text
