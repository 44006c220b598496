"""The `openai:` teacher: any OpenAI-compatible chat server (OpenAI, vLLM, llama.cpp, Ollama).

Each transaction is one ``POST {base_url}/chat/completions`` with ``max_tokens: 1``,
``temperature: 0``, ``logprobs: true`` and ``top_logprobs: N``. The answer codes are single letters
(`training.labeling.prompt`), so the ``top_logprobs`` of the one generated token hold the whole
distribution: ``exp(logprob)`` is summed per code (tokens are compared with surrounding spaces
stripped, so ``"B"`` and ``" B"`` both count for B), the total is `label_mass`, and the codes are
renormalised over ``taxonomy.labels``. A code missing from the top N gets probability 0. With a
detailed pass, a second request asks for the detailed category within the chosen primary.

When a server returns no logprobs the answer text becomes a one-hot hard label (``hard=True``,
``label_mass`` None) and a warning is logged once. An answer that is not one of the codes, or
logprobs with no probability on any code, fails the row: it is never given a label.

Requests run concurrently (at most ``concurrency`` in flight) on an asyncio loop inside `label`;
results keep the requests' order. 429, 408 and 5xx answers, timeouts, connection errors and
malformed bodies are retried with exponential backoff and full jitter, waiting what a
``Retry-After`` (seconds or an HTTP date) or ``retry-after-ms`` header asks, each wait capped at
``max_wait``; other 4xx answers fail the row at once (`training.labeling.teachers.openai_http`). The
constructor asks ``GET {base_url}/models`` once, so an unreachable server or a rejected key raises
`TeacherError` before any row is sent (the CLI exits 2) instead of failing every row slowly.

llama.cpp's ``llama-server`` caches the shared prompt prefix by default: several times faster per
transaction, but its logprobs then move by a few hundredths with what the server evaluated before
(the prefix split, the rows batched alongside). Pass ``extra_body={"cache_prompt": False}`` for
repeatable logprobs. Nothing server-specific is sent by default: OpenAI rejects unknown fields.

The API key goes only into the ``Authorization`` header; neither the key nor transaction text is
ever logged at INFO, and server error text is redacted before it becomes a row's error.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import logging
import math
import random
import re
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from categorizer.taxonomy import Taxonomy
from training.labeling.prompt import PromptBuilder, answer_code
from training.labeling.teachers.base import LabelRequest, TeacherError, TeacherResult
from training.labeling.teachers.openai_http import (
    HttpConnection,
    Retryable,
    RowFailed,
    backoff_delay,
    post_chat,
    probe,
    redact,
    retry_after,
)

__all__ = ["OpenAITeacher", "retry_after"]

logger = logging.getLogger(__name__)

_MINIMUMS = {"concurrency": 1, "max_retries": 0, "top_logprobs": 1, "batch_size": 1}


@dataclass
class _Scored:
    """One answered request: probabilities over its codes, or a hard answer."""

    probs: list[float]
    mass: float | None
    hard: bool
    prompt_tokens: int
    completion_tokens: int


class OpenAITeacher:
    """Soft labels from an OpenAI-compatible chat completions server.

    Args:
        model: the model name sent to the server (``gpt-4o-mini``; llama.cpp ignores it).
        taxonomy: the categories.
        base_url: the API root, e.g. ``https://api.openai.com/v1`` or ``http://127.0.0.1:8080/v1``.
        api_key: sent as ``Authorization: Bearer …`` when given (`make_teacher` reads it from
            ``OPENAI_API_KEY`` or the variable ``--api-key-env`` names).
        concurrency: requests in flight at once.
        timeout: seconds for each connect, read and write of one request.
        max_retries: extra attempts after a retryable failure (a row gets ``max_retries + 1``).
        prompt: the prompt builder; default
            ``PromptBuilder(taxonomy, detailed=detailed, answers=answers)``.
        detailed: run the detailed second pass within the chosen primary.
        answers: the primary pass's answer codes, "letters" or "words" (`PromptBuilder`).
        top_logprobs: alternatives asked per answer (OpenAI allows at most 20).
        batch_size: requests `label` wants at once (default ``4 * concurrency``).
        examples_id: identifies the few-shot setup of the requests (goes into `prompt_version`).
        backoff_base: seconds of the first backoff; attempt k waits up to ``base * 2**k``.
        backoff_cap: the most a jittered backoff waits.
        max_wait: the most any single wait lasts, ``Retry-After`` included.
        extra_body: server-specific request fields, e.g. ``{"cache_prompt": False}`` for llama.cpp.
        route: more request fields per prompt family, merged over `extra_body`: called with None
            for a primary request and with the chosen primary for a detailed one (the ``llama:``
            teacher pins each family to its own llama.cpp slot with ``{"id_slot": N}``).
        hints: what to tell the model about a request
            (`training.labeling.teachers.kb_hints.KBHints`: the merchant knowledge base's line on
            the brand it names); its ``version`` goes into `prompt_version`.
        kb_answers: with `hints`, answer a row whose brand the knowledge base maps to a category
            from the base, without asking the model: this probability on that primary (the rest
            spread evenly) and the mapped detailed category (`KB_ANSWER_CONFIDENCE` is measured);
            None asks the model about every row.
        interleave_detailed: send the detailed pass round-robin over the chosen primaries
            instead of grouped by primary; better when each primary has its own server slot,
            so that the requests in flight run side by side rather than queue for one slot.
        check: probe ``GET {base_url}/models`` now and raise when the server cannot be used.
        seed: seeds the backoff jitter (tests).

    Raises:
        TeacherError: the server is unreachable or rejects the key (with ``check``), or an
            argument is out of range.
    """

    def __init__(
        self,
        model: str,
        taxonomy: Taxonomy,
        *,
        base_url: str,
        api_key: str | None = None,
        concurrency: int = 8,
        timeout: float = 30.0,
        max_retries: int = 5,
        prompt: PromptBuilder | None = None,
        detailed: bool = True,
        answers: str = "letters",
        top_logprobs: int = 20,
        batch_size: int | None = None,
        examples_id: str | None = None,
        backoff_base: float = 0.5,
        backoff_cap: float = 20.0,
        max_wait: float = 60.0,
        extra_body: Mapping[str, Any] | None = None,
        route: Callable[[str | None], Mapping[str, Any]] | None = None,
        interleave_detailed: bool = False,
        hints: Any = None,
        kb_answers: float | None = None,
        check: bool = True,
        seed: int | None = None,
    ) -> None:
        _check_args(
            model,
            base_url,
            timeout,
            concurrency=concurrency,
            max_retries=max_retries,
            top_logprobs=top_logprobs,
            batch_size=batch_size,
        )
        self.model = model
        self.taxonomy = taxonomy
        self.base_url = base_url.rstrip("/")
        self.detailed = detailed
        self.prompt = prompt or PromptBuilder(taxonomy, detailed=detailed, answers=answers)
        self.id = f"openai:{model}"
        self.prompt_version = self.prompt.version(examples_id)
        self.hints = hints
        if hints is not None:
            self.prompt_version += f"/{hints.version}"
        if kb_answers is not None:
            if hints is None or not 0.0 < kb_answers <= 1.0:
                raise TeacherError(
                    f"kb_answers needs knowledge-base hints and a probability in (0, 1]; got "
                    f"{kb_answers!r} with hints={hints is not None}"
                )
            self.prompt_version += f"/kb-answers-{kb_answers:g}"
        self.kb_answers = kb_answers
        self.batch_size = batch_size or 4 * concurrency
        self.concurrency = concurrency
        self.timeout = timeout
        self.max_retries = max_retries
        self.top_logprobs = top_logprobs
        self.backoff_base, self.backoff_cap, self.max_wait = backoff_base, backoff_cap, max_wait
        self.extra_body = dict(extra_body or {})
        self.route = route
        self.interleave_detailed = interleave_detailed
        self._examples_id = examples_id
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._secrets = [api_key] if api_key else []
        self._random = random.Random(seed)
        self._warned: set[str] = set()
        if check:
            probe(self.model, self.base_url, self._headers, self.timeout, self._redact)

    def __repr__(self) -> str:
        return f"OpenAITeacher({self.model!r}, base_url={self.base_url!r})"

    # -- public ------------------------------------------------------------------------------

    def label(self, requests: Sequence[LabelRequest]) -> list[TeacherResult]:
        """Label a batch concurrently; one result per request, in order; failures carry a reason."""
        if not requests:
            return []
        if any(r.examples for r in requests) and not self._examples_id:
            self._warn_once("examples", "requests carry few-shot examples but no examples_id")
        started = time.perf_counter()
        results = _run(self._label_all(requests))
        share = (time.perf_counter() - started) / len(results)
        for result in results:
            result.seconds = share
        return results

    def close(self) -> None:
        """Nothing to release: each `label` call opens and closes its own connections."""

    # -- one batch ---------------------------------------------------------------------------

    async def _label_all(self, requests: Sequence[LabelRequest]) -> list[TeacherResult]:
        """The primary pass over every row, then the detailed pass grouped by primary.

        Grouping sends requests that share a system message together, so a server's prompt
        cache (llama.cpp's slots, vLLM's prefix cache) computes each prefix once, not per row.
        """
        limits = httpx.Limits(
            max_connections=self.concurrency, max_keepalive_connections=self.concurrency
        )
        async with httpx.AsyncClient(
            headers=self._headers, timeout=httpx.Timeout(self.timeout), limits=limits
        ) as client:
            conn = HttpConnection(
                client, asyncio.Semaphore(self.concurrency)
            )  # FIFO: in task order
            results = list(await asyncio.gather(*(self._primary(conn, r) for r in requests)))
            if self.detailed:
                primaries = {  # knowledge-base answers come with their detailed category
                    i: self._primary_of(r)
                    for i, r in enumerate(results)
                    if not r.failed and r.detailed is None
                }
                order = self._detailed_order(primaries)
                await asyncio.gather(
                    *(self._detailed(conn, requests[i], primaries[i], results[i]) for i in order)
                )
        return results

    def _detailed_order(self, primaries: Mapping[int, str]) -> list[int]:
        """Rows grouped by primary (taxonomy order), or round-robin over the primaries."""
        order = sorted(primaries, key=lambda i: self.taxonomy.index(primaries[i]))
        if not self.interleave_detailed:
            return order
        groups: dict[str, list[int]] = {}
        for i in order:
            groups.setdefault(primaries[i], []).append(i)
        rounds = itertools.zip_longest(*groups.values())
        return [i for round_ in rounds for i in round_ if i is not None]

    async def _primary(self, conn: HttpConnection, request: LabelRequest) -> TeacherResult:
        detailed = self.hints.answer(request) if self.kb_answers is not None else None
        if detailed is not None and detailed in self.taxonomy:  # the base maps to Plaid PFC
            return self._kb_answer(detailed, self.kb_answers)
        codes = self.prompt.codes
        hint = self.hints(request) if self.hints is not None else None
        messages = self.prompt.messages(request.text, request.examples, hint)
        try:
            scored = await self._score(conn, messages, list(codes), None)
        except RowFailed as exc:
            return TeacherResult.failure(str(exc))
        probs = [0.0] * len(self.taxonomy.labels)
        for code, p in zip(codes, scored.probs, strict=True):
            probs[self.taxonomy.index(codes[code])] = p
        return TeacherResult(
            probs=probs,
            label_mass=scored.mass,
            hard=scored.hard,
            prompt_tokens=scored.prompt_tokens,
            completion_tokens=scored.completion_tokens,
        )

    def _kb_answer(self, detailed: str, confidence: float) -> TeacherResult:
        labels = self.taxonomy.labels
        rest = (1.0 - confidence) / max(len(labels) - 1, 1)
        probs = [rest] * len(labels)
        probs[self.taxonomy.index(self.taxonomy.parent_of(detailed))] = confidence
        detailed_id = detailed if self.detailed else None
        return TeacherResult(
            probs=probs,
            detailed=detailed_id,
            detailed_confidence=confidence if self.detailed else None,
            source="kb",
        )

    def _primary_of(self, result: TeacherResult) -> str:
        probs = result.probs or []
        return self.taxonomy.labels[max(range(len(probs)), key=probs.__getitem__)]

    async def _detailed(
        self, conn: HttpConnection, request: LabelRequest, primary: str, result: TeacherResult
    ) -> None:
        """Fill `result.detailed` from a second request within `primary` (left None on failure)."""
        codes = self.prompt.detailed_codes(primary)
        if len(codes) <= 1:
            result.detailed = next(iter(codes.values()), None)
            result.detailed_confidence = 1.0 if codes else None
            return
        hint = self.hints(request) if self.hints is not None else None
        messages = self.prompt.detailed_messages(request.text, primary, request.examples, hint)
        try:
            scored = await self._score(conn, messages, list(codes), primary)
        except RowFailed as exc:
            logger.warning("detailed pass failed for a row: %s", exc)
            return
        best = max(range(len(scored.probs)), key=scored.probs.__getitem__)
        result.detailed = list(codes.values())[best]
        result.detailed_confidence = scored.probs[best]
        result.prompt_tokens += scored.prompt_tokens
        result.completion_tokens += scored.completion_tokens

    # -- one request, with retries -----------------------------------------------------------

    async def _score(
        self,
        conn: HttpConnection,
        messages: list[dict[str, str]],
        codes: list[str],
        family: str | None,
    ) -> _Scored:
        """Send one chat request (retrying) and read its answer as probabilities over `codes`.

        `family` is None for a primary request, else the primary of a detailed one (`route`).
        """
        body = {
            **self.extra_body,
            **(self.route(family) if self.route else {}),
            "model": self.model,
            "messages": messages,
            "max_tokens": 1,
            "temperature": 0,
            "logprobs": True,
            "top_logprobs": self.top_logprobs,
        }
        attempts = self.max_retries + 1
        for attempt in range(attempts):
            try:
                async with conn.semaphore:
                    data = await post_chat(
                        conn.client, self.base_url, body, self.timeout, self._redact
                    )
                return self._read(data, codes)
            except Retryable as exc:
                if attempt + 1 == attempts:
                    raise RowFailed(f"{exc} (gave up after {attempts} attempts)") from exc
                delay = backoff_delay(
                    attempt,
                    exc.retry_after,
                    base=self.backoff_base,
                    cap=self.backoff_cap,
                    max_wait=self.max_wait,
                    rng=self._random,
                )
                logger.debug(
                    "retrying in %.2f s (attempt %d/%d): %s", delay, attempt + 1, attempts, exc
                )
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _read(self, data: Any, codes: list[str]) -> _Scored:
        """Turn a decoded response into probabilities over `codes` (hard when no logprobs)."""
        try:
            choice = data["choices"][0]
            usage = data.get("usage") or {}
            tokens = int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
            entries = _top_logprobs(choice)
        except (KeyError, IndexError, TypeError, AttributeError, ValueError) as exc:
            raise Retryable(f"malformed response: {type(exc).__name__}: {exc}") from exc
        if entries is None:
            return self._hard(choice, codes, tokens)
        masses = dict.fromkeys(codes, 0.0)
        for token, logprob in entries:
            code = answer_code(token, codes)
            if code is not None and math.isfinite(logprob):
                masses[code] += math.exp(logprob)
        mass = sum(masses.values())
        if not mass > 0.0:
            raise RowFailed(f"no probability on the answer codes among the top {len(entries)}")
        probs = [masses[c] / mass for c in codes]
        return _Scored(probs, min(mass, 1.0), False, *tokens)

    def _hard(
        self, choice: Mapping[str, Any], codes: list[str], tokens: tuple[int, int]
    ) -> _Scored:
        self._warn_once(
            "hard",
            f"{self.base_url} returned no logprobs: answers become hard (one-hot) labels "
            "and label_mass is left empty",
        )
        message = choice.get("message") or {}
        text = str(message.get("content") or choice.get("text") or "").strip().rstrip(".:)")
        answer = answer_code(text, codes)
        if answer is None:
            shown = text[:20] + ("…" if len(text) > 20 else "")
            raise RowFailed(f"answer {shown!r} is not one of the codes {codes[0]}-{codes[-1]}")
        return _Scored([1.0 if c == answer else 0.0 for c in codes], None, True, *tokens)

    # -- helpers -----------------------------------------------------------------------------

    def _redact(self, text: str) -> str:
        return redact(text, self._secrets)

    def _warn_once(self, what: str, message: str) -> None:
        if what not in self._warned:
            self._warned.add(what)
            logger.warning("%s: %s", self.id, message)


def _top_logprobs(choice: Mapping[str, Any]) -> list[tuple[str, float]] | None:
    """(token, logprob) alternatives of the first generated token; None when there are none.

    Reads the chat shape (``logprobs.content[0].top_logprobs``, also what llama.cpp's
    ``/completions`` returns) and OpenAI's legacy completions shape (``logprobs.top_logprobs[0]``,
    a token → logprob mapping).
    """
    logprobs = choice.get("logprobs")
    if not isinstance(logprobs, Mapping):
        return None
    content = logprobs.get("content")
    if isinstance(content, list) and content:
        top = content[0].get("top_logprobs")
        if isinstance(top, list) and top:
            return [(str(t["token"]), float(t["logprob"])) for t in top]
        return None
    legacy = logprobs.get("top_logprobs")
    if isinstance(legacy, list) and legacy and isinstance(legacy[0], Mapping):
        return [(str(token), float(lp)) for token, lp in legacy[0].items()]
    return None


def _run(coro: Coroutine[Any, Any, list[TeacherResult]]) -> list[TeacherResult]:
    """Run a coroutine to completion from sync code, even when a loop already runs here."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def _check_args(model: str, base_url: str, timeout: float, **counts: int | None) -> None:
    problems = [
        f"{name} must be at least {_MINIMUMS[name]}, got {value}"
        for name, value in counts.items()
        if value is not None and value < _MINIMUMS[name]
    ]
    if not model or not model.strip():
        problems.append("a model name is required (openai:MODEL)")
    if not re.match(r"^https?://[^/\s]+", base_url or ""):
        problems.append(f"base URL must start with http:// or https://, got {base_url!r}")
    if not timeout > 0:
        problems.append(f"timeout must be positive, got {timeout}")
    if problems:
        raise TeacherError("openai teacher: " + "; ".join(problems))
