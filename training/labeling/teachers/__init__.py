"""Teachers: backends that turn transactions into soft labels, and `make_teacher` to pick one.

Specs: ``hf:MODEL`` (a local causal LM through transformers), ``llama:MODEL`` (an offline GGUF
model in a llama.cpp server the teacher starts itself), ``openai:MODEL`` (any OpenAI-compatible
server, with ``base_url``) and ``labels:COLUMN`` (labels the file already has).
Backends are imported only when asked for, so a missing optional dependency of one never breaks
the others.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from training.labeling.teachers.base import (
    Example,
    LabelRequest,
    Teacher,
    TeacherError,
    TeacherResult,
)

if TYPE_CHECKING:
    from categorizer.taxonomy import Taxonomy

__all__ = [
    "SPEC_FORMS",
    "Example",
    "LabelRequest",
    "Teacher",
    "TeacherError",
    "TeacherResult",
    "make_teacher",
]

SPEC_FORMS = (
    "hf:MODEL (a local model: hf:smollm2, hf:Qwen/Qwen2.5-7B-Instruct or a folder)",
    "llama:MODEL (a GGUF model in a local llama.cpp server: llama:qwen2.5-coder-1.5b, "
    "llama:PATH.gguf)",
    "openai:MODEL with --base-url (openai:gpt-4o-mini --base-url https://api.openai.com/v1)",
    "labels:COLUMN (labels the file already has: labels:category)",
)
BASE_URL_ENV = "OPENAI_BASE_URL"


def make_teacher(
    spec: str,
    taxonomy: Taxonomy,
    *,
    base_url: str | None = None,
    api_key_env: str = "OPENAI_API_KEY",
    batch_size: int | None = None,
    **options: Any,
) -> Teacher:
    """Build the teacher a spec names.

    Args:
        spec: ``hf:MODEL``, ``llama:MODEL``, ``openai:MODEL`` or ``labels:COLUMN``.
        taxonomy: the categories to label with.
        base_url: the OpenAI-compatible server (``openai:`` only; default ``$OPENAI_BASE_URL``).
        api_key_env: the environment variable holding the API key (``openai:`` only).
        batch_size: requests per `label` call (default: the backend's own).
        **options: passed on to the backend: ``label_smoothing`` and ``detailed_column`` for
            ``labels:``; ``examples_id`` (the few-shot setup, part of the prompt version; ignored
            by ``labels:``) and backend-specific settings for the others.

    Returns:
        A ready teacher; close it when done.

    Raises:
        TeacherError: an unknown spec (the message lists the valid forms), a missing model or
            column, a missing base URL, or a backend that cannot start.
    """
    kind, sep, name = (spec or "").strip().partition(":")
    kind, name = kind.strip().lower(), name.strip()
    if not sep or not name or kind not in ("hf", "llama", "openai", "labels"):
        raise TeacherError(f"unknown teacher {spec!r}; expected one of: {'; '.join(SPEC_FORMS)}")
    if batch_size is not None and batch_size < 1:
        raise TeacherError(f"batch size must be at least 1, got {batch_size}")
    sized: dict[str, Any] = {"batch_size": batch_size} if batch_size is not None else {}
    smoothing = options.pop("label_smoothing", 0.0) or 0.0
    detailed_column = options.pop("detailed_column", None)
    examples_id = options.pop("examples_id", None)
    if options.pop("kb_hints", False):
        if kind not in ("openai", "llama"):
            raise TeacherError("knowledge-base hints apply to openai: and llama: teachers")
        from training.labeling.teachers.kb_hints import KBHints

        options["hints"] = KBHints()
    for option in ("answers", "kb_answers"):
        if options.get(option) is not None and kind not in ("openai", "llama"):
            raise TeacherError(f"{option} applies to openai: and llama: teachers only")
    if examples_id and kind != "labels":
        options["examples_id"] = examples_id  # labels: teachers show the model no examples
    if kind != "labels" and (smoothing or detailed_column):
        raise TeacherError("label smoothing and a detailed column apply to labels: teachers only")
    if kind == "labels":
        if options:
            raise TeacherError(f"labels: teacher takes no options {sorted(options)}")
        from training.labeling.teachers.labels import LabelsTeacher

        return LabelsTeacher(
            name,
            taxonomy,
            label_smoothing=smoothing,
            detailed_column=detailed_column,
            **sized,
        )
    if kind == "hf":
        from training.labeling.teachers.hf import HFTeacher

        return HFTeacher(name, taxonomy, **sized, **options)
    if kind == "llama":
        if base_url:
            raise TeacherError(
                f"teacher {spec!r} starts its own server: --base-url is for openai: teachers"
            )
        from training.labeling.teachers.llama import LlamaTeacher

        return LlamaTeacher(name, taxonomy, **sized, **options)
    url = base_url or os.environ.get(BASE_URL_ENV)
    if not url:
        raise TeacherError(
            f"teacher {spec!r} needs a server: pass --base-url URL (e.g. "
            f"http://127.0.0.1:8080/v1) or set {BASE_URL_ENV}"
        )
    from training.labeling.teachers.openai_compat import OpenAITeacher

    return OpenAITeacher(
        name, taxonomy, base_url=url, api_key=os.environ.get(api_key_env), **sized, **options
    )
