"""The teacher prompt: categories as short answer codes, few-shot examples, versioning.

Each primary category gets one answer code, and the model is asked to answer with that code alone,
so one forward pass (or one ``top_logprobs`` response) gives the probability of every category at
once. The codes are either capital letters (A, B, C… in taxonomy order; single tokens in SmolLM2's
and OpenAI's tokenizers) or, for the default taxonomy, one meaningful word per category ("Food",
"Travel", "Utilities"): a small model that has to map a transaction to "G" must also remember
which letter stood for what, while "Food" says it. Each word's first token differs from every
other's, so the first generated token's alternatives still name every category (`answer_code`).

The system message is byte-identical for every transaction (instructions and the category list),
so backends can compute or cache that prefix once; the few-shot examples and the transaction go
into the user message. A second, detailed pass asks for the detailed category within the chosen
primary, with its own per-primary system message.

Bump `PROMPT_VERSION` whenever the wording or layout of any message changes: the version goes into
the cache keys and the outputs, so old answers are never mixed with new ones.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from functools import cache

from categorizer.taxonomy import Category, Taxonomy
from training.labeling.teachers.base import Example

PROMPT_VERSION = "1"
LETTERS = string.ascii_uppercase
ANSWERS = ("letters", "words")
"""How the primary pass's answer codes are written (`PromptBuilder`'s ``answers``)."""
ANSWER_WORDS = {
    "INCOME": "Income",
    "TRANSFER_IN": "Received",
    "TRANSFER_OUT": "Sent",
    "LOAN_PAYMENTS": "Loan",
    "BANK_FEES": "Fee",
    "ENTERTAINMENT": "Entertainment",
    "FOOD_AND_DRINK": "Food",
    "GENERAL_MERCHANDISE": "Shopping",
    "HOME_IMPROVEMENT": "Home",
    "MEDICAL": "Medical",
    "PERSONAL_CARE": "Personal",
    "GENERAL_SERVICES": "Services",
    "GOVERNMENT_AND_NON_PROFIT": "Government",
    "TRANSPORTATION": "Transport",
    "TRAVEL": "Travel",
    "RENT_AND_UTILITIES": "Utilities",
}
"""One answer word per primary of Plaid PFC v1: single tokens in Qwen2.5's tokenizer (but
"Entertainment", whose first piece "Ent" no other word starts with)."""
_FORMAT_NOTE = (
    'Each transaction is written as "<bank description> | <debit or credit> | <amount range> | '
    'mcc <merchant category code>"; the parts after the description are left out when unknown.'
)
_ANSWER_RULE = (
    "Answer with the single letter of the category that fits the transaction best, "
    "and nothing else."
)
_LETTER_REPLY = "Answer with the single letter."
_WORD_RULE = (
    "Answer with the one word before the colon of the category that fits the transaction best, "
    "and nothing else."
)


def has_answer_words(taxonomy: Taxonomy) -> bool:
    """Whether every primary of `taxonomy` has an answer word (``answers="words"`` works)."""
    return all(label in ANSWER_WORDS for label in taxonomy.labels)


def answer_code(token: str, codes: Sequence[str]) -> str | None:
    """The answer code a generated token stands for, or None.

    A token counts for a code it spells exactly (surrounding spaces stripped, so "B" and " B" are
    both B), or, for codes longer than one character, whose start it spells case-insensitively
    and unambiguously ("Ent" for "Entertainment"; "Se" for neither "Sent" nor "Services").
    """
    text = token.strip()
    if text in codes:
        return text
    if len(text) < 2:
        return None
    low = text.lower()
    hits = [code for code in codes if len(code) > 1 and code.lower().startswith(low)]
    return hits[0] if len(hits) == 1 else None


class PromptBuilder:
    """Chat messages for the teacher, with short answer codes.

    Args:
        taxonomy: the categories to choose from (at most 26 primaries, and 26 children each).
        detailed: whether the detailed second pass is part of this prompt (it changes `version`).
        answers: the primary pass's codes: "letters" (A, B, C…) or "words" (`ANSWER_WORDS`, for
            a taxonomy whose primaries all have one); the detailed pass always uses letters.

    Attributes:
        codes: answer code → primary category id, in taxonomy order ("A" → "INCOME", ...).
        code_of: primary category id → answer code.
    """

    def __init__(
        self, taxonomy: Taxonomy, *, detailed: bool = True, answers: str = "letters"
    ) -> None:
        if answers not in ANSWERS:
            raise ValueError(f"answers: expected one of {ANSWERS}; got {answers!r}")
        if len(taxonomy.labels) > len(LETTERS):
            raise ValueError(
                f"taxonomy {taxonomy.name!r} has {len(taxonomy.labels)} primary categories; "
                f"the prompt has single-letter codes for at most {len(LETTERS)}"
            )
        self.taxonomy = taxonomy
        self.detailed = detailed
        self.answers = answers
        labels = list(taxonomy.labels)
        if answers == "words":
            if not has_answer_words(taxonomy):
                missing = [label for label in labels if label not in ANSWER_WORDS]
                raise ValueError(
                    f"answers='words' knows no answer word for {missing} of taxonomy "
                    f"{taxonomy.name!r}; use answers='letters'"
                )
            keys = [ANSWER_WORDS[label] for label in labels]
        else:
            keys = list(LETTERS[: len(labels)])
        self.codes: dict[str, str] = dict(zip(keys, labels, strict=True))
        self.code_of: dict[str, str] = {label: code for code, label in self.codes.items()}
        self._system = _system_text(
            "You sort bank and card transactions into spending categories.",
            "Categories:",
            taxonomy.primaries,
            keys,
            _WORD_RULE if answers == "words" else _ANSWER_RULE,
        )
        self._reply = "Answer with the single word." if answers == "words" else _LETTER_REPLY
        self._detailed_system = cache(self._build_detailed_system)

    @property
    def system(self) -> str:
        """The system message of the primary pass (the same for every transaction)."""
        return self._system

    def messages(
        self, text: str, examples: Sequence[Example] = (), hint: str | None = None
    ) -> list[dict[str, str]]:
        """Chat messages asking for the primary category of one transaction.

        Args:
            text: the transaction's model text (`categorizer.text.to_model_text`).
            examples: labeled few-shot examples, most similar first.
            hint: what the merchant knowledge base knows of it
                (`training.labeling.teachers.kb_hints`).

        Returns:
            ``[{"role": "system", ...}, {"role": "user", ...}]``; the answer is one code letter.
        """
        shots = [(e.text, self.code_of[e.label]) for e in examples if e.label in self.code_of]
        return [
            {"role": "system", "content": self._system},
            {"role": "user", "content": _user_text(text, shots, hint, self._reply)},
        ]

    def detailed_codes(self, primary: str) -> dict[str, str]:
        """Answer code → detailed category id for the children of `primary` (may be empty)."""
        children = self.taxonomy.children(primary)
        if len(children) > len(LETTERS):
            raise ValueError(
                f"{primary} has {len(children)} detailed categories; "
                f"the prompt has single-letter codes for at most {len(LETTERS)}"
            )
        return {code: child.id for code, child in zip(LETTERS, children, strict=False)}

    def detailed_system(self, primary: str) -> str:
        """The system message of the detailed pass within `primary` (the same for its rows)."""
        return self._detailed_system(primary)

    def detailed_messages(
        self,
        text: str,
        primary: str,
        examples: Sequence[Example] = (),
        hint: str | None = None,
    ) -> list[dict[str, str]]:
        """Chat messages asking for the detailed category of a transaction within `primary`.

        Only the examples of the same primary with a known detailed category are shown.

        Raises:
            ValueError: `primary` has no detailed categories.
        """
        codes = self.detailed_codes(primary)
        if not codes:
            raise ValueError(f"{primary} has no detailed categories")
        code_of = {detailed: code for code, detailed in codes.items()}
        shots = [
            (e.text, code_of[e.detailed])
            for e in examples
            if e.label == primary and e.detailed in code_of
        ]
        return [
            {"role": "system", "content": self.detailed_system(primary)},
            {"role": "user", "content": _user_text(text, shots, hint)},
        ]

    def version(self, examples_id: str | None = None) -> str:
        """The prompt's version for cache keys and outputs.

        Args:
            examples_id: identifies the few-shot setup when examples are used, e.g.
                ``ExampleRetriever.examples_id(k)`` = ``"fs4-1a2b3c4d"``.

        Returns:
            ``"1/tax-<taxonomy hash 8>"``, then ``"/<examples_id>"`` when given, then
            ``"/primary-only"`` when the detailed pass is off, then ``"/words"`` for word codes.
        """
        parts = [PROMPT_VERSION, f"tax-{self.taxonomy.hash[:8]}"]
        if examples_id:
            parts.append(examples_id)
        if not self.detailed:
            parts.append("primary-only")
        if self.answers == "words":
            parts.append("words")
        return "/".join(parts)

    def _build_detailed_system(self, primary: str) -> str:
        parent = self.taxonomy.get(primary)
        children = self.taxonomy.children(primary)
        self.detailed_codes(primary)  # validates the number of children
        intro = (
            "You sort bank and card transactions into detailed spending categories.\n"
            f"This transaction belongs to {parent.id}: {_one_line(parent.description)}\n"
            "Choose its detailed category."
        )
        return _system_text(
            intro, "Detailed categories:", children, LETTERS[: len(children)], _ANSWER_RULE
        )


def _one_line(text: str) -> str:
    """Keep a transaction on one line of the prompt."""
    return " ".join(str(text).split())


def _system_text(
    intro: str, heading: str, categories: Sequence[Category], codes: Sequence[str], rule: str
) -> str:
    lines = [intro, _FORMAT_NOTE, "", heading]
    lines += [
        f"{code}: {c.id} - {_one_line(c.description)}"
        for code, c in zip(codes, categories, strict=True)
    ]
    lines += ["", rule]
    return "\n".join(lines)


def _user_text(
    text: str,
    shots: Sequence[tuple[str, str]],
    hint: str | None = None,
    reply: str = _LETTER_REPLY,
) -> str:
    lines: list[str] = []
    if shots:
        lines.append("Labeled examples of similar transactions:")
        for shot_text, code in shots:
            lines += [f"Transaction: {_one_line(shot_text)}", f"Answer: {code}", ""]
        lines.append("Now this transaction:")
    lines.append(f"Transaction: {_one_line(text)}")
    if hint:
        lines.append(f"Known merchant: {_one_line(hint)}")
    lines.append(reply)
    return "\n".join(lines)
