"""Knowledge-base hints: what the merchant KB tells an LLM teacher about a descriptor."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from categorizer.taxonomy import default_taxonomy
from training.labeling.prompt import PromptBuilder
from training.labeling.runner import label_file
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


def test_kb_answers_skip_the_model_for_mapped_brands(fault_server: Any, hints: KBHints) -> None:
    teacher = OpenAITeacher(
        "fault", TAXONOMY, base_url=fault_server.url, hints=KBHints(hints.kb), kb_answers=0.85,
        detailed=True, timeout=5,
    )  # fmt: skip
    assert teacher.prompt_version.endswith(f"/{hints.version}/kb-answers-0.85")
    tesco = request("CARD PAYMENT TO TESCO STORES 3217 ON 12-03", "UK", key="tesco")
    unknown = request("BLUE LANTERN 4471", "UK", key="unknown")
    known, asked = teacher.label([tesco, unknown])
    assert known.source == "kb"
    assert known.probs[TAXONOMY.index("FOOD_AND_DRINK")] == pytest.approx(0.85)
    assert sum(known.probs) == pytest.approx(1.0)
    assert (known.detailed, known.detailed_confidence) == ("FOOD_AND_DRINK_GROCERIES", 0.85)
    assert known.label_mass is None
    assert asked.source is None
    assert asked.detailed is not None  # the model's row still gets its detailed pass
    # only the unknown row went to the server: its primary and its detailed request
    assert len(fault_server.log) == 2
    assert all("BLUE LANTERN" in e["body"]["messages"][1]["content"] for e in fault_server.log)


def test_kb_answers_need_hints_and_a_probability(fault_server: Any) -> None:
    with pytest.raises(TeacherError, match="kb_answers needs knowledge-base hints"):
        OpenAITeacher("fault", TAXONOMY, base_url=fault_server.url, kb_answers=0.85)
    with pytest.raises(TeacherError, match="kb_answers needs"):
        OpenAITeacher("fault", TAXONOMY, base_url=fault_server.url, hints=KBHints(), kb_answers=1.5)
    with pytest.raises(TeacherError, match="openai: and llama: teachers only"):
        make_teacher("labels:category", TAXONOMY, kb_answers=0.85)


def test_the_label_summary_counts_rows_answered_from_the_base(
    fault_server: Any, hints: KBHints, tmp_path: Path
) -> None:
    data = tmp_path / "rows.csv"
    data.write_text(
        "description,amount,country\n"
        "CARD PAYMENT TO TESCO STORES 3217,-12.40,UK\n"
        "BLUE LANTERN 4471,-8.00,UK\n"
    )
    for run in ("first", "cached"):
        teacher = OpenAITeacher(
            "fault", TAXONOMY, base_url=fault_server.url, hints=KBHints(hints.kb),
            kb_answers=0.85, detailed=False, timeout=5,
        )  # fmt: skip
        summary = label_file(data, tmp_path / f"{run}.parquet", teacher, taxonomy=TAXONOMY,
                             cache_path=tmp_path / "cache.sqlite")  # fmt: skip
        assert summary.kb_hints["answered"] == 1
        assert summary.kb_hints["answered_share"] == 0.5
    assert len(fault_server.log) == 1  # the second run came from the cache
