"""Knowledge-base hints: what the merchant KB tells an LLM teacher about a descriptor."""

from __future__ import annotations

from typing import Any

import pytest

from categorizer.taxonomy import default_taxonomy
from training.labeling.prompt import PromptBuilder
from training.labeling.teachers import make_teacher
from training.labeling.teachers.base import LabelRequest, TeacherError
from training.labeling.teachers.kb_hints import KBHints
from training.labeling.teachers.openai_compat import OpenAITeacher

TAXONOMY = default_taxonomy()


def request(description: str, country: str | None = None, key: str = "k") -> LabelRequest:
    row = {"description": description, "country": country}
    return LabelRequest(key=key, text=f"{description.upper()} | debit | 10-50", row=row)


@pytest.fixture(scope="module")
def hints() -> KBHints:
    return KBHints()


def test_a_known_brand_gets_its_category_and_countries(hints: KBHints) -> None:
    hint = hints(request("CARD PAYMENT TO TESCO STORES 3217 ON 12-03", "UK", key="tesco"))
    assert hint is not None
    assert hint.startswith("Tesco, a supermarket brand (shop/supermarket) in ")
    assert "GB" in hint
    assert "FOOD_AND_DRINK_GROCERIES" in hint


def test_no_brand_no_hint_and_each_row_counts_once(hints: KBHints) -> None:
    fresh = KBHints(hints.kb)
    transfer = request("TRANSFER TO GEORGE SMITH REF 1234", "UK", key="transfer")
    assert fresh(transfer) is None
    rewe = request("Kartenzahlung REWE SAGT DANKE 41400673//Hamburg", "DE", key="rewe")
    assert fresh(rewe) is not None
    fresh(rewe)  # the detailed pass asks again: not a second row
    assert (fresh.asked, fresh.hinted, fresh.share()) == (2, 1, 0.5)
    assert fresh.version.startswith("kb-")


def test_the_prompt_carries_the_hint_after_the_transaction() -> None:
    prompt = PromptBuilder(TAXONOMY)
    user = prompt.messages("HOFER DANKT 0527 | debit", hint="Hofer, a supermarket brand.")[1]
    lines = user["content"].splitlines()
    assert lines[-3:] == [
        "Transaction: HOFER DANKT 0527 | debit",
        "Known merchant: Hofer, a supermarket brand.",
        "Answer with the single letter.",
    ]
    assert "Known merchant" not in prompt.messages("HOFER DANKT 0527 | debit")[1]["content"]


def test_a_hinted_teacher_sends_the_hint_and_versions_it(fault_server: Any) -> None:
    teacher = OpenAITeacher(
        "fault", TAXONOMY, base_url=fault_server.url, hints=KBHints(), detailed=False, timeout=5
    )
    assert teacher.prompt_version.endswith("/" + teacher.hints.version)
    teacher.label([request("POS PURCHASE TESCO EXPRESS 2231 LONDON", "UK")])
    user = fault_server.log[-1]["body"]["messages"][1]["content"]
    assert "Known merchant: Tesco" in user


def test_hints_are_for_http_teachers_only() -> None:
    with pytest.raises(TeacherError, match="openai: and llama:"):
        make_teacher("labels:category", TAXONOMY, kb_hints=True)
