"""The ``llama:`` teacher: an offline GGUF model served by a llama-server this teacher owns.

``llama:qwen2.5-coder-1.5b`` (a `training.labeling.teachers.gguf_models` name, assembled by
``make qwen-model``) or ``llama:PATH.gguf`` (any GGUF file). The teacher starts llama.cpp's
``llama-server`` on 127.0.0.1 (`training.labeling.teachers.llama_server`), labels through the
``openai:`` backend (`OpenAITeacher`, same prompt, parsing, retries and per-row failures), and stops
the server on `close` or when its ``with`` block ends, exception or Ctrl-C included.

Why one slot per prompt family: every request of a pass shares a long system message (the
primary question's category list, ~750 tokens; each primary's detailed list, 300-900 tokens)
and only ~25-45 tokens of its own. llama-server reuses a slot's KV cache for the common prefix of
consecutive prompts, so a slot that alternates between families re-reads the whole system
message on each switch (~25 s on 2 cores). Here slot 0 holds the primary prompt and slot ``k``
the detailed prompt of the k-th primary; each request is pinned to its family's slot with
``id_slot``, so every system message is evaluated once per server (and, with `PrefixStore`, once
per machine), and the detailed requests go round-robin over the families, so that requests in
flight run side by side on different slots. llama-server's own RAM prompt cache is turned off
(``--cache-ram 0``): with pinned slots it has nothing to add, and it would copy every idle slot's
state on each new request.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from categorizer.cpus import usable_cpus
from categorizer.taxonomy import Taxonomy
from training.labeling.prompt import PromptBuilder, has_answer_words
from training.labeling.teachers.base import LabelRequest, TeacherError, TeacherResult
from training.labeling.teachers.gguf_models import KNOWN_MODELS, cache_dir, known_model, model_path
from training.labeling.teachers.llama_prefixes import PrefixStore, fingerprint
from training.labeling.teachers.llama_server import LlamaServer, find_binary

__all__ = ["LlamaTeacher", "resolve_model"]

logger = logging.getLogger(__name__)

# Room per slot: the longest system message (~930 tokens) plus a transaction and a few few-shot
# examples (~40 tokens each). KV costs ~28 KB per token for Qwen2.5-1.5B: 17 slots x 1536 tokens
# is ~730 MB.
_CTX_PER_SLOT = 1536
# One request's first evaluation of a family's system message takes 10-40 s on a busy 2-core
# machine; a client timeout would cancel it and start over.
_TIMEOUT = 900.0


def resolve_model(model: str) -> tuple[str, Path, str]:
    """A spec's model as (name in the teacher id, GGUF file, identity for saved states).

    Args:
        model: a known name (`KNOWN_MODELS`) or a path to a ``.gguf`` file.

    Raises:
        TeacherError: an unknown name, a missing file, or a known model not assembled yet.
    """
    text = model.strip()
    if text.lower() in KNOWN_MODELS:
        entry = known_model(text)
        return entry.name, model_path(entry.name), f"sha256:{entry.sha256}"
    path = Path(text).expanduser()
    if path.suffix.lower() != ".gguf" and not path.is_file():
        known = ", ".join(sorted(KNOWN_MODELS))
        raise TeacherError(
            f"unknown llama: model {model!r}; expected a known name ({known}) or a path to a "
            ".gguf file"
        )
    if not path.is_file():
        raise TeacherError(f"the GGUF file {path} does not exist (llama:{model})")
    stat = path.resolve().stat()
    return path.name, path, f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"


class LlamaTeacher:
    """Soft labels from a GGUF model in a llama-server that this teacher starts and stops.

    Args:
        model: a known model name (``qwen2.5-coder-1.5b``) or a path to a ``.gguf`` file.
        taxonomy: the categories.
        detailed: run the detailed second pass (one more slot per primary that has children).
        answers: the primary pass's answer codes, "letters" or "words" (`PromptBuilder`); by
            default words when the taxonomy has them (Plaid PFC): Qwen2.5-Coder-1.5B with
            knowledge-base hints was right on 54% of 300 synthetic rows with words, 37% with
            letters.
        primary_slots: slots holding the primary prompt (requests of the primary pass run on
            this many at once; each slot evaluates the system message once).
        ctx_per_slot: KV cache tokens per slot.
        threads: CPU threads for the server (default: the CPUs this process may use).
        concurrency: requests in flight (default: enough to keep every slot of a pass busy).
        server_args: more llama-server options (e.g. ``["-fa", "on"]``).
        prefix_cache: save each family's evaluated system prompt under the user cache and
            restore it when a later server starts (`PrefixStore`).
        batch_size: requests per `label` call (default 32).
        examples_id: the few-shot setup (goes into `prompt_version`).
        startup_timeout: seconds to wait for the server to load the model.
        binary: the llama-server executable (default `find_binary`).
        **options: passed to `OpenAITeacher` (``top_logprobs``, ``max_retries``, ``timeout``...).

    Raises:
        TeacherError: the model, the binary, or a healthy server is missing.
    """

    def __init__(
        self,
        model: str,
        taxonomy: Taxonomy,
        *,
        detailed: bool = True,
        answers: str | None = None,
        primary_slots: int = 1,
        ctx_per_slot: int = _CTX_PER_SLOT,
        threads: int | None = None,
        concurrency: int | None = None,
        server_args: Sequence[str] = (),
        prefix_cache: bool = True,
        batch_size: int | None = None,
        examples_id: str | None = None,
        startup_timeout: float = 180.0,
        binary: str | Path | None = None,
        **options: Any,
    ) -> None:
        if primary_slots < 1:
            raise TeacherError(f"primary_slots must be at least 1, got {primary_slots}")
        self.name, path, identity = resolve_model(model)
        self.id = f"llama:{self.name}"
        self.taxonomy = taxonomy
        if answers is None:
            answers = "words" if has_answer_words(taxonomy) else "letters"
        self.prompt = PromptBuilder(taxonomy, detailed=detailed, answers=answers)
        self._slots = self._layout(primary_slots, detailed)
        self._next = {family: itertools.cycle(slots) for family, slots in self._slots.items()}
        self.threads = threads or usable_cpus()
        self.device = f"cpu ({self.threads} threads, llama.cpp)"
        self.engine = "local"
        binary_path = Path(binary) if binary else find_binary()
        args = ["--cache-ram", "0", *server_args]
        slots = sum(len(s) for s in self._slots.values())
        self.store = None
        if prefix_cache:
            # A state saved by a server with another slot count does not load (llama.cpp says
            # "invalid slot save file"): the layout is part of the key.
            layout = [*server_args, f"slots={slots}", f"ctx={ctx_per_slot}"]
            key = fingerprint(identity, binary_path, layout)
            self.store = PrefixStore(cache_dir() / "llama-prefixes" / key)
            args += self.store.server_args()
        self.server = LlamaServer(
            path,
            ctx_size=ctx_per_slot * slots,
            parallel=slots,
            threads=self.threads,
            args=args,
            binary=binary_path,
            startup_timeout=startup_timeout,
        )
        self.restored: set[str | None] = set()  # families whose saved state was loaded
        self._used: set[str | None] = set()
        self._saved: set[str | None] = set()
        self.server.start()
        try:
            self._restore()
            self.client = self._client(concurrency, batch_size, examples_id, options)
        except BaseException:
            self.server.stop()
            raise
        self.prompt_version = self.client.prompt_version
        self.batch_size = self.client.batch_size
        self.hints = self.client.hints

    def __repr__(self) -> str:
        return f"LlamaTeacher({self.name!r}, {self.server!r})"

    # -- public ------------------------------------------------------------------------------

    def label(self, requests: Sequence[LabelRequest]) -> list[TeacherResult]:
        """Label a batch (see `OpenAITeacher.label`); then save newly evaluated prefixes.

        Raises:
            TeacherError: the server is not running (its log's tail is in the message).
        """
        self._check_alive()
        results = self.client.label(requests)
        self._check_alive()
        self._save_new()
        return results

    def close(self) -> None:
        """Stop the server (idempotent)."""
        self.server.stop()

    def __enter__(self) -> LlamaTeacher:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # -- slots -------------------------------------------------------------------------------

    def _layout(self, primary_slots: int, detailed: bool) -> dict[str | None, list[int]]:
        """Family → its slots: None (the primary prompt) first, then each primary with children."""
        families: list[str | None] = [None]
        if detailed:
            families += [p for p in self.taxonomy.labels if len(self.prompt.detailed_codes(p)) > 1]
        numbers = itertools.count()
        return {
            family: [next(numbers) for _ in range(primary_slots if family is None else 1)]
            for family in families
        }

    def _route(self, family: str | None) -> dict[str, Any]:
        """The request fields that pin a request of `family` to one of its slots."""
        self._used.add(family)
        return {"id_slot": next(self._next[family])}

    def _system(self, family: str | None) -> str:
        return self.prompt.system if family is None else self.prompt.detailed_system(family)

    def _restore(self) -> None:
        """Load every family's saved state into its slots (a few ms each)."""
        if self.store is None:
            return
        started = time.perf_counter()
        for family, slots in self._slots.items():
            name = self.store.name(family, self._system(family))
            loaded = [self.store.restore(self.server, slot, name) for slot in slots]  # every slot
            if all(loaded):
                self.restored.add(family)
        if self.restored:
            logger.info(
                "restored %d of %d prompt prefixes in %.2f s",
                len(self.restored),
                len(self._slots),
                time.perf_counter() - started,
            )

    def _save_new(self) -> None:
        """Save the state of each family first evaluated by this server (once per family)."""
        if self.store is None:
            return
        for family in self._used - self.restored - self._saved:
            name = self.store.name(family, self._system(family))
            if self.store.save(self.server, self._slots[family][0], name):
                self._saved.add(family)

    # -- helpers -----------------------------------------------------------------------------

    def _client(
        self,
        concurrency: int | None,
        batch_size: int | None,
        examples_id: str | None,
        options: dict[str, Any],
    ) -> Any:
        from training.labeling.teachers.openai_compat import OpenAITeacher

        options.setdefault("timeout", _TIMEOUT)
        options.setdefault("max_retries", 2)
        return OpenAITeacher(
            self.name,
            self.taxonomy,
            base_url=self.server.base_url,
            prompt=self.prompt,
            detailed=self.prompt.detailed,
            concurrency=concurrency or max(2, min(len(self._slots), 4)),
            batch_size=batch_size or 32,
            examples_id=examples_id,
            route=self._route,
            interleave_detailed=True,
            **options,
        )

    def _check_alive(self) -> None:
        if not self.server.running:
            tail = self.server.log_tail()
            raise TeacherError(f"{self.id}: llama-server is not running; its log ends:\n{tail}")
