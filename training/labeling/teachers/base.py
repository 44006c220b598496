"""What every teacher takes and returns, and the protocol the labeling loop drives.

A teacher turns transactions into a probability distribution over the taxonomy's primary
categories (the "soft labels" the student is distilled from). Three backends implement it: a
local causal LM (`hf:`), an OpenAI-compatible server (`openai:`), and existing labels (`labels:`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from categorizer.errors import InputError


class TeacherError(InputError):
    """The teacher cannot be used at all (bad spec, unreachable server): nothing was labeled."""


@dataclass(frozen=True)
class Example:
    """A labeled transaction shown to the teacher as a few-shot example."""

    text: str
    label: str
    detailed: str | None = None


@dataclass(frozen=True)
class LabelRequest:
    """One transaction to label.

    Args:
        key: its cache key (teacher, prompt version and text hashed together).
        text: the model input text (`categorizer.text.to_model_text`).
        examples: few-shot examples retrieved for it, most similar first.
        row: the input row, for teachers that read a column rather than the text.
    """

    key: str
    text: str
    examples: tuple[Example, ...] = ()
    row: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class TeacherResult:
    """A teacher's answer for one transaction.

    Args:
        probs: distribution over the taxonomy's primary labels (sums to 1); None when it failed.
        label_mass: probability the teacher put on valid answer codes before renormalising; None
            for hard labels (no logprobs) and existing labels.
        detailed: the detailed category from the second pass, when one was asked for.
        detailed_confidence: its probability within the chosen primary.
        hard: True when the answer is one-hot because the backend gave no probabilities.
        prompt_tokens: tokens sent (0 when cached or not an LLM).
        completion_tokens: tokens generated.
        seconds: wall time spent on this transaction (a batch's time shared among its rows).
        error: why the row failed; a failed row has no probs and is never given a label.
        source: where the answer came from when not from the model: "kb" for an answer from
            the merchant knowledge base (`training.labeling.teachers.kb_hints`).
    """

    probs: list[float] | None
    label_mass: float | None = None
    detailed: str | None = None
    detailed_confidence: float | None = None
    hard: bool = False
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    error: str | None = None
    source: str | None = None

    @property
    def failed(self) -> bool:
        """True when the row got no label."""
        return self.error is not None or self.probs is None

    def to_json(self) -> str:
        """Serialise for the cache (JSON: no pickle anywhere)."""
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> TeacherResult:
        """Inverse of `to_json`."""
        return cls(**json.loads(text))

    @classmethod
    def failure(cls, reason: str, seconds: float = 0.0) -> TeacherResult:
        """A failed row with its reason."""
        return cls(probs=None, error=reason, seconds=seconds)


class Teacher(Protocol):
    """A labeling backend.

    `label` returns one result per request, in order, and does not raise for a single bad row:
    it sets `error` on that row's result. It raises `TeacherError` only when nothing can work.
    """

    id: str
    prompt_version: str
    batch_size: int

    def label(self, requests: Sequence[LabelRequest]) -> list[TeacherResult]: ...

    def close(self) -> None: ...
