"""The teacher prompt: codes, a cacheable system message, few-shot layout, detailed pass."""

from __future__ import annotations

import pytest

from categorizer.taxonomy import Category, Taxonomy, default_taxonomy
from training.labeling.prompt import (
    ANSWER_WORDS,
    PROMPT_VERSION,
    PromptBuilder,
    answer_code,
    has_answer_words,
)
from training.labeling.teachers.base import Example

COFFEE = Example("DUNKIN # BOSTON MA | debit | 1-10", "FOOD_AND_DRINK", "FOOD_AND_DRINK_COFFEE")
FUEL = Example("SHELL OIL # | debit | 10-50 | mcc 5541", "TRANSPORTATION", "TRANSPORTATION_GAS")


@pytest.fixture(scope="module")
def builder() -> PromptBuilder:
    return PromptBuilder(default_taxonomy())


def _small_taxonomy(primaries: int, children: int = 0) -> Taxonomy:
    categories = []
    for p in range(primaries):
        pid = f"P{p}"
        categories.append(Category(pid, f"Primary {p}", f"primary number {p}"))
        categories += [
            Category(f"{pid}_C{c}", f"Child {c}", f"child {c} of {p}", pid) for c in range(children)
        ]
    return Taxonomy(name="small", version="1", categories=tuple(categories))


def test_codes_are_letters_in_taxonomy_order(builder: PromptBuilder) -> None:
    labels = default_taxonomy().labels
    assert len(builder.codes) == 16
    assert list(builder.codes) == list("ABCDEFGHIJKLMNOP")
    assert list(builder.codes.values()) == list(labels)
    assert builder.code_of == {label: code for code, label in builder.codes.items()}


def test_system_message_lists_every_primary_with_its_description(builder: PromptBuilder) -> None:
    taxonomy = default_taxonomy()
    system = builder.messages("X")[0]
    assert system["role"] == "system"
    for code, label in builder.codes.items():
        assert f"\n{code}: {label} - {taxonomy.get(label).description}\n" in system["content"]
    assert "single letter" in system["content"]


def test_system_message_is_identical_for_every_transaction(builder: PromptBuilder) -> None:
    first = builder.messages("STARBUCKS # SEATTLE WA | debit | 1-10")
    second = builder.messages("PAYROLL ACME | credit | 1000-5000", [COFFEE, FUEL])
    assert first[0] == second[0]
    assert first[0]["content"] == builder.system
    assert first[1] != second[1]


def test_user_message_holds_the_examples_then_the_transaction(builder: PromptBuilder) -> None:
    text = "STARBUCKS # SEATTLE WA | debit | 1-10"
    messages = builder.messages(text, [COFFEE, FUEL])
    assert [m["role"] for m in messages] == ["system", "user"]
    user = messages[1]["content"]
    coffee = user.index(f"Transaction: {COFFEE.text}\nAnswer: G")
    fuel = user.index(f"Transaction: {FUEL.text}\nAnswer: N")
    assert coffee < fuel < user.index(f"Transaction: {text}")
    assert user.rstrip().endswith("Answer with the single letter.")


def test_zero_shot_user_message_has_no_examples(builder: PromptBuilder) -> None:
    user = builder.messages("A | debit")[1]["content"]
    assert "Answer:" not in user
    assert user.startswith("Transaction: A | debit")


def test_text_is_kept_on_one_line(builder: PromptBuilder) -> None:
    user = builder.messages("TWO\nLINES\r\n | debit")[1]["content"]
    assert "Transaction: TWO LINES | debit\n" in user


def test_detailed_codes_are_the_children_of_the_primary(builder: PromptBuilder) -> None:
    taxonomy = default_taxonomy()
    for primary in taxonomy.labels:
        codes = builder.detailed_codes(primary)
        assert list(codes.values()) == [c.id for c in taxonomy.children(primary)]
        assert list(codes) == [chr(ord("A") + i) for i in range(len(codes))]


def test_detailed_messages_show_only_the_same_primary(builder: PromptBuilder) -> None:
    text = "STARBUCKS # SEATTLE WA | debit | 1-10"
    no_detail = Example("SUBWAY # | debit | 1-10", "FOOD_AND_DRINK")
    messages = builder.detailed_messages(text, "FOOD_AND_DRINK", [COFFEE, FUEL, no_detail])
    system, user = messages[0]["content"], messages[1]["content"]
    codes = builder.detailed_codes("FOOD_AND_DRINK")
    for code, child in codes.items():
        assert f"\n{code}: {child} - " in system
    assert "FOOD_AND_DRINK" in system
    coffee_code = next(c for c, d in codes.items() if d == "FOOD_AND_DRINK_COFFEE")
    assert f"Transaction: {COFFEE.text}\nAnswer: {coffee_code}" in user
    assert FUEL.text not in user
    assert no_detail.text not in user
    other = builder.detailed_messages("OTHER | debit", "FOOD_AND_DRINK")
    assert other[0] == messages[0]  # the same system message for all rows of a primary
    assert builder.detailed_system("FOOD_AND_DRINK") == system


def test_a_primary_without_children_has_no_detailed_pass() -> None:
    builder = PromptBuilder(_small_taxonomy(3))
    assert builder.detailed_codes("P0") == {}
    with pytest.raises(ValueError, match="P0 has no detailed categories"):
        builder.detailed_messages("X", "P0")


def test_too_many_primaries_is_an_error() -> None:
    with pytest.raises(ValueError, match="at most 26"):
        PromptBuilder(_small_taxonomy(27))


def test_version(builder: PromptBuilder) -> None:
    taxonomy = default_taxonomy()
    base = f"{PROMPT_VERSION}/tax-{taxonomy.hash[:8]}"
    assert builder.version() == base
    assert builder.version(None) == base
    assert builder.version("fs4-0123abcd") == f"{base}/fs4-0123abcd"
    assert PromptBuilder(taxonomy, detailed=False).version() == f"{base}/primary-only"
    assert PromptBuilder(_small_taxonomy(3, 2)).version() != base


# -- answer words -------------------------------------------------------------------------------


def test_word_codes_name_each_primary_in_taxonomy_order() -> None:
    taxonomy = default_taxonomy()
    words = PromptBuilder(taxonomy, answers="words")
    assert list(words.codes.values()) == list(taxonomy.labels)
    assert list(words.codes) == [ANSWER_WORDS[label] for label in taxonomy.labels]
    system = words.system
    for word, label in words.codes.items():
        assert f"\n{word}: {label} - {taxonomy.get(label).description}\n" in system
    assert "one word before the colon" in system
    assert words.messages("SHELL OIL")[1]["content"].endswith("Answer with the single word.")
    # the detailed pass keeps its letters
    assert "single letter" in words.detailed_system("FOOD_AND_DRINK")
    assert next(iter(words.detailed_codes("FOOD_AND_DRINK"))) == "A"
    base = f"{PROMPT_VERSION}/tax-{taxonomy.hash[:8]}"
    assert words.version("fs4-0123abcd") == f"{base}/fs4-0123abcd/words"


def test_no_answer_word_starts_another() -> None:
    # `answer_code` tells words apart by their first token: no word may start another
    words = [w.lower() for w in ANSWER_WORDS.values()]
    assert not [(a, b) for a in words for b in words if a != b and b.startswith(a)]


def test_word_codes_need_a_word_for_every_primary() -> None:
    assert has_answer_words(default_taxonomy())
    assert not has_answer_words(_small_taxonomy(3))
    with pytest.raises(ValueError, match=r"no answer word for .*P0.*answers='letters'"):
        PromptBuilder(_small_taxonomy(3), answers="words")
    with pytest.raises(ValueError, match="answers: expected one of"):
        PromptBuilder(default_taxonomy(), answers="emoji")


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ("B", "B"),
        (" B", "B"),
        ("b", None),  # letters match exactly
        ("Food", "Food"),
        (" food", "Food"),
        ("Ent", "Entertainment"),  # the first piece of a word of several tokens
        ("Se", None),  # Sent or Services
        ("S", None),
        ("The", None),
        ("Foods", None),
    ],
)
def test_answer_code_reads_a_token(token: str, expected: str | None) -> None:
    codes = ["A", "B", "Food", "Entertainment", "Sent", "Services", "Transport", "Travel"]
    assert answer_code(token, codes) == expected
