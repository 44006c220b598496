"""The `hf:` teacher: a local causal LM through transformers, one forward pass per batch.

Each category is a single-letter answer code (`training.labeling.prompt`), so the distribution over
the vocabulary at the answer position gives every category's probability at once: the probability of
each code's token(s) (the letter with and without a leading space) is summed, the total is
recorded as `label_mass`, and the codes are renormalised into ``probs`` (in ``taxonomy.labels``
order). No text is generated.

The system message is the same for every transaction and is most of the prompt, so its keys and
values are computed once per system message (the primary pass's, and each primary's for the
detailed pass) and reused (`training.labeling.teachers.kv_prefix`): a forward pass then runs only
over the short per-transaction suffixes (left-padded; attention mask ``[prefix mask, suffix mask]``;
positions continuing after each row's prefix). A batch may mix prefixes (the detailed pass asks
each row within its own primary): their keys and values are left-padded to the longest. The plain
path (whole prompts, left-padded) gives the same probabilities and is used when the cache is off
or does not work for a model.

Few-shot examples come with the requests (`LabelRequest.examples`); the caller that retrieved them
passes ``examples_id`` (e.g. ``ExampleRetriever.examples_id(k)``) so that `prompt_version`, and with
it the cache keys, say which examples were used.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from categorizer.taxonomy import Taxonomy
from training.labeling.prompt import PromptBuilder
from training.labeling.teachers.base import LabelRequest, TeacherError, TeacherResult
from training.labeling.teachers.kv_prefix import PrefixKV

logger = logging.getLogger(__name__)

_INSTALL_HINT = 'pip install "txn-categorizer[train]"'
_SENTINEL = "\u2063\u2063USER\u2063\u2063"  # splits a rendered prompt into prefix and suffix


@dataclass
class _Prompt:
    """One tokenized prompt: a shared prefix (the system part) and the row's own suffix."""

    prefix: tuple[int, ...]
    suffix: list[int]

    def __len__(self) -> int:
        return len(self.prefix) + len(self.suffix)


class HFTeacher:
    """Soft labels from a local causal LM.

    Args:
        model: a Hugging Face model id or folder, or ``smollm2`` (the offline SmolLM2-135M-Instruct,
            converted once by `training.labeling.teachers.smollm2.smollm2_folder`).
        taxonomy: the categories.
        prompt: the prompt builder; default ``PromptBuilder(taxonomy, detailed=detailed)``.
        batch_size: transactions per forward pass.
        device: torch device; default CUDA when available, else CPU.
        dtype: torch dtype or its name; default bfloat16 on CUDA, float32 on CPU.
        detailed: run the detailed second pass within the chosen primary.
        examples_id: identifies the few-shot setup of the requests (goes into `prompt_version`).
        prefix_cache: reuse the system prompt's keys/values across rows (same results, faster).
        threads: set torch's CPU thread count (process-wide); on a busy machine 1 thread can be
            several times faster than 2 (OpenMP threads wait on each other).

    Raises:
        TeacherError: the model or its tokenizer cannot be loaded, or an answer code is not a
            single token of its tokenizer.
    """

    def __init__(
        self,
        model: str,
        taxonomy: Taxonomy,
        *,
        prompt: PromptBuilder | None = None,
        batch_size: int = 16,
        device: str | None = None,
        dtype: Any = None,
        detailed: bool = True,
        examples_id: str | None = None,
        prefix_cache: bool = True,
        threads: int | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        if prompt is not None and prompt.detailed != detailed:
            raise ValueError(
                f"the prompt builder has detailed={prompt.detailed} but the teacher "
                f"detailed={detailed}: the prompt version would not match the results"
            )
        self.taxonomy = taxonomy
        self.prompt = prompt or PromptBuilder(taxonomy, detailed=detailed)
        self.detailed = detailed
        self.batch_size = batch_size
        self.prefix_cache = prefix_cache
        self.id = f"hf:{model}"
        self.prompt_version = self.prompt.version(examples_id)
        self._examples_id = examples_id
        self._warned_examples = False
        self._torch, self._tokenizer, self._model = _load(model, device, dtype)
        if threads is not None:
            self._torch.set_num_threads(threads)
        self.device = self._model.device
        self._pad_id = _pad_id(self._tokenizer, self._model)
        self._max_tokens = getattr(self._model.config, "max_position_embeddings", None)
        self._last_only = _last_logits_only(self._model)
        most_children = max(len(self.prompt.detailed_codes(p)) for p in taxonomy.labels)
        self._letter_ids = _letter_token_ids(
            self._tokenizer, max(len(self.prompt.codes), most_children if detailed else 0)
        )
        self._prefixes: dict[str, tuple[int, ...]] = {}
        self._kv = PrefixKV(self._torch, self._model, self._last_only)
        self._cache_worked = False  # once it has, a failure is the batch's, not the method's

    # -- public ------------------------------------------------------------------------------

    def label(self, requests: Sequence[LabelRequest]) -> list[TeacherResult]:
        """Label a batch; one result per request, in order; a row that fails gets its reason."""
        if (
            any(r.examples for r in requests)
            and not self._examples_id
            and not self._warned_examples
        ):
            logger.warning("requests carry few-shot examples but no examples_id was given")
            self._warned_examples = True
        prompts = [self._tokenize(self.prompt.messages(r.text, r.examples)) for r in requests]
        scored = self._score_all(prompts, [list(self.prompt.codes)] * len(prompts))
        results: list[TeacherResult] = []
        for prompt, (probs, mass, seconds, error) in zip(prompts, scored, strict=True):
            if error is not None:
                results.append(TeacherResult.failure(error, seconds))
                continue
            results.append(
                TeacherResult(
                    probs=probs,
                    label_mass=mass,
                    prompt_tokens=len(prompt),
                    completion_tokens=1,
                    seconds=seconds,
                )
            )
        if self.detailed:
            self._detailed_pass(requests, results)
        return results

    def close(self) -> None:
        """Drop the cached prefixes (the model is freed with the teacher)."""
        self._kv.clear()
        self._prefixes.clear()

    # -- passes ------------------------------------------------------------------------------

    def _detailed_pass(
        self, requests: Sequence[LabelRequest], results: list[TeacherResult]
    ) -> None:
        """Fill `detailed` within each row's most likely primary (one pass for all primaries)."""
        todo: list[tuple[int, dict[str, str]]] = []
        prompts: list[_Prompt] = []
        for i, result in enumerate(results):
            if result.failed:
                continue
            primary = self.taxonomy.labels[_argmax(result.probs)]
            codes = self.prompt.detailed_codes(primary)
            if len(codes) <= 1:  # nothing to choose
                result.detailed = next(iter(codes.values()), None)
                result.detailed_confidence = 1.0 if codes else None
                continue
            request = requests[i]
            messages = self.prompt.detailed_messages(request.text, primary, request.examples)
            todo.append((i, codes))
            prompts.append(self._tokenize(messages))
        scored = self._score_all(prompts, [list(codes) for _, codes in todo])
        for (i, codes), prompt, (probs, _, seconds, error) in zip(
            todo, prompts, scored, strict=True
        ):
            result = results[i]
            result.seconds += seconds
            if error is not None:
                logger.warning("detailed pass failed for a row: %s", error)
                continue
            best = _argmax(probs)
            result.detailed = list(codes.values())[best]
            result.detailed_confidence = probs[best]
            result.prompt_tokens += len(prompt)
            result.completion_tokens += 1

    def _score_all(self, prompts: list[_Prompt], codes: list[list[str]]) -> list[Any]:
        """(probs over its codes, label mass, seconds, error) per prompt, in batches.

        Prompts are batched by prefix and length, so that a batch shares one prefix where it
        can and pads little.
        """
        out: list[Any] = [None] * len(prompts)
        order = sorted(range(len(prompts)), key=lambda i: (len(prompts[i].prefix), len(prompts[i])))
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            scored = self._score_batch([prompts[i] for i in chunk], [codes[i] for i in chunk])
            for i, row in zip(chunk, scored, strict=True):
                out[i] = row
        return out

    def _score_batch(self, prompts: list[_Prompt], codes: list[list[str]]) -> list[Any]:
        too_long = self._max_tokens is not None and any(len(p) > self._max_tokens for p in prompts)
        started = time.perf_counter()
        try:
            if too_long:
                raise ValueError("a prompt is longer than the model's context")
            code_probs = self._code_probs(self._answer_probs(prompts), codes)
        except Exception as exc:
            if len(prompts) == 1:
                reason = f"{type(exc).__name__}: {exc}"
                return [(None, None, time.perf_counter() - started, reason)]
            logger.warning("a batch of %d failed (%s); retrying row by row", len(prompts), exc)
            return [self._score_batch([p], [c])[0] for p, c in zip(prompts, codes, strict=True)]
        seconds = (time.perf_counter() - started) / len(prompts)
        rows = []
        for mass, probs in code_probs:
            if not mass > 0.0:
                rows.append((None, None, seconds, "no probability on the answer codes"))
            else:
                rows.append((probs, mass, seconds, None))
        return rows

    def _code_probs(self, vocab_probs: Any, codes: list[list[str]]) -> list[tuple[float, list]]:
        """Sum each code's token probabilities; return (mass, renormalised probs) per row."""
        torch = self._torch
        letters = sorted(set().union(*codes))
        column = {letter: j for j, letter in enumerate(letters)}
        per_letter = torch.stack(
            [vocab_probs[:, self._letter_ids[letter]].sum(dim=1) for letter in letters], dim=1
        )
        per_letter = per_letter.double().cpu()
        rows = []
        for row, row_codes in zip(per_letter, codes, strict=True):
            values = row[[column[code] for code in row_codes]]
            mass = float(values.sum())
            rows.append((mass, (values / max(mass, 1e-300)).tolist()))
        return rows

    # -- forward passes ----------------------------------------------------------------------

    def _answer_probs(self, prompts: list[_Prompt]) -> Any:
        """Next-token probabilities (batch × vocab, float32) at the end of each prompt."""
        if self.prefix_cache and all(p.prefix for p in prompts):
            try:
                probs = self._forward_cached(prompts)
            except Exception as exc:
                if self._cache_worked:
                    raise
                # A model whose cache cannot be reused this way: use whole prompts from now on.
                logger.warning("prefix cache off for %s: %s", self.id, exc)
                self.prefix_cache = False
                self._kv.clear()
            else:
                self._cache_worked = True
                return probs
        return self._forward_plain([list(p.prefix) + p.suffix for p in prompts])

    def _forward_plain(self, rows: list[list[int]]) -> Any:
        torch = self._torch
        ids, mask = self._left_pad(rows)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        with torch.inference_mode():
            out = self._model(
                input_ids=ids,
                attention_mask=mask,
                position_ids=positions,
                use_cache=False,
                **self._last_only,
            )
            return torch.softmax(out.logits[:, -1].float(), dim=-1)

    def _forward_cached(self, prompts: list[_Prompt]) -> Any:
        """Run only the suffixes, on top of their prefixes' cached keys and values."""
        ids, suffix_mask = self._left_pad([p.suffix for p in prompts])
        return self._kv.forward(ids, suffix_mask, [p.prefix for p in prompts])

    def _left_pad(self, rows: list[list[int]]) -> tuple[Any, Any]:
        torch = self._torch
        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), self._pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):
            if row:
                ids[i, width - len(row) :] = torch.tensor(row, dtype=torch.long)
                mask[i, width - len(row) :] = 1
        return ids.to(self.device), mask.to(self.device)

    # -- prompts -----------------------------------------------------------------------------

    def _tokenize(self, messages: list[dict[str, str]]) -> _Prompt:
        """Tokenize the chat prompt and split it where the user message starts.

        The split is only taken where the whole prompt's tokens start with the prefix's own
        tokens, so both forward paths see exactly the tokens of the whole rendered prompt.
        """
        system = messages[0]["content"]
        prefix = self._prefixes.get(system)
        if prefix is None:
            probe = [messages[0], {"role": "user", "content": _SENTINEL}]
            prefix = tuple(self._encode(self._render(probe).split(_SENTINEL)[0]))
            self._prefixes[system] = prefix
        ids = self._encode(self._render(messages))
        if len(ids) > len(prefix) and tuple(ids[: len(prefix)]) == prefix:
            return _Prompt(prefix, ids[len(prefix) :])
        return _Prompt((), ids)

    def _encode(self, text: str) -> list[int]:
        # The rendered template already holds the special tokens (BOS, role markers).
        return list(self._tokenizer(text, add_special_tokens=False)["input_ids"])

    def _render(self, messages: list[dict[str, str]]) -> str:
        if getattr(self._tokenizer, "chat_template", None):
            return self._tokenizer.apply_chat_template(
                messages, tokenize=False, add_generation_prompt=True
            )
        # A base model without a chat template: plain text ending where the answer goes.
        return "\n\n".join(m["content"] for m in messages) + "\nAnswer:"


def _load(model: str, device: str | None, dtype: Any) -> tuple[Any, Any, Any]:
    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as exc:
        raise ImportError(f"the hf: teacher needs torch and transformers: {_INSTALL_HINT}") from exc
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if dtype is None:
        dtype = torch.bfloat16 if str(device).startswith("cuda") else torch.float32
    elif isinstance(dtype, str):
        dtype = getattr(torch, dtype.removeprefix("torch."), None)
        if not isinstance(dtype, torch.dtype):
            raise TeacherError(f"hf:{model}: unknown dtype {dtype!r}")
    started = time.perf_counter()
    try:
        path = _resolve(model)
        tokenizer = AutoTokenizer.from_pretrained(path)
        lm = AutoModelForCausalLM.from_pretrained(path, dtype=dtype).to(device)
    except TeacherError:
        raise
    except Exception as exc:
        raise TeacherError(f"hf:{model}: cannot load the model: {exc}") from exc
    lm.eval()
    logger.info(
        "loaded hf:%s on %s (%s) in %.1f s", model, device, dtype, time.perf_counter() - started
    )
    return torch, tokenizer, lm


def _resolve(model: str) -> str | Path:
    if model.lower() == "smollm2":
        from training.labeling.teachers.smollm2 import smollm2_folder

        try:
            return smollm2_folder()
        except (FileNotFoundError, ImportError) as exc:
            raise TeacherError(f"hf:smollm2: {exc}") from exc
    return model


def _last_logits_only(model: Any) -> dict[str, int]:
    """The forward argument that skips the vocabulary projection except at the last position."""
    import inspect

    parameters = inspect.signature(model.forward).parameters
    for name in ("logits_to_keep", "num_logits_to_keep"):
        if name in parameters:
            return {name: 1}
    return {}


def _argmax(values: Sequence[float]) -> int:
    return max(range(len(values)), key=values.__getitem__)


def _pad_id(tokenizer: Any, model: Any) -> int:
    for candidate in (tokenizer.pad_token_id, model.config.pad_token_id, tokenizer.eos_token_id):
        if isinstance(candidate, int):
            return candidate
    return 0


def _letter_token_ids(tokenizer: Any, count: int) -> dict[str, list[int]]:
    """Token ids of each code letter, bare and with a leading space (when a single token)."""
    from training.labeling.prompt import LETTERS

    found: dict[str, list[int]] = {}
    for letter in LETTERS[:count]:
        ids: list[int] = []
        for variant in (letter, f" {letter}"):
            encoded = tokenizer.encode(variant, add_special_tokens=False)
            if len(encoded) == 1 and encoded[0] not in ids:
                ids.append(encoded[0])
        if not ids:
            raise TeacherError(
                f"answer code {letter!r} is not a single token of this tokenizer: "
                "the hf: teacher needs single-token codes"
            )
        found[letter] = ids
    return found
