"""The inference engine: a model bundle run with ONNX Runtime and the `tokenizers` library.

`Categorizer.load(folder)` verifies the bundle, opens one ONNX Runtime session and the bundle's
fast tokenizer; `predict` turns transactions into categories with calibrated confidences. Inputs
are tokenized once, sorted by token count and run in batches padded only to their longest row,
and results come back in input order. Only numpy, tokenizers and onnxruntime are imported (the
last two when a bundle is loaded), so serving needs neither torch nor transformers.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from categorizer.bundle import BundleError, Manifest, load_bundle
from categorizer.cpus import usable_cpus
from categorizer.schema import Transaction
from categorizer.text import MAX_CLEAN_CHARS, TEXT_FORMAT_VERSION, is_missing, to_model_text

if TYPE_CHECKING:
    from categorizer.taxonomy import Taxonomy

logger = logging.getLogger(__name__)

UNCATEGORIZED = "UNCATEGORIZED"
"""What an abstention is called when the taxonomy has no catch-all category of its own."""

MAX_TEXT_CHARS = 4_096
"""Texts are cut to this many characters before tokenizing: the model keeps `max_length` tokens
(at most a few hundred characters), so tokenizing more is wasted work."""

MAX_RAW_DESCRIPTION_CHARS = 4 * MAX_CLEAN_CHARS
"""A plain-string description is cut to this before cleaning (cleaning keeps 256 characters)."""

_CATCH_ALL_IDS = ("UNCATEGORIZED", "OTHER", "GENERAL_OTHER")
_PAD_TOKENS = ("[PAD]", "<pad>", "<PAD>")
_INT_TYPES = {"tensor(int64)": np.int64, "tensor(int32)": np.int32}

TransactionLike = Transaction | Mapping[str, Any] | str


@dataclass(frozen=True)
class Prediction:
    """The category of one transaction.

    Attributes:
        category: Primary category id, or the abstain label when confidence is below the
            threshold.
        detailed_category: Detailed category id (detailed models only; None otherwise and when
            abstaining).
        confidence: Calibrated probability of the primary category (the sum over its detailed
            categories for a detailed model); kept when abstaining.
        top: The `top_k` most probable primary categories with their probabilities, best first.
    """

    category: str
    detailed_category: str | None
    confidence: float
    top: tuple[tuple[str, float], ...]

    def to_dict(self) -> dict[str, Any]:
        """Return the HTTP API's result shape (without the caller's id)."""
        return {
            "category": self.category,
            "detailed_category": self.detailed_category,
            "confidence": self.confidence,
            "top": [{"category": c, "score": s} for c, s in self.top],
        }


class Categorizer:
    """A loaded model bundle: transactions in, categories out.

    Build one with `Categorizer.load`; it is safe to share between threads (ONNX Runtime
    sessions are), and each call runs its batches one after another.
    """

    def __init__(
        self,
        session: Any,
        tokenizer: Any,
        manifest: Manifest,
        *,
        threads: int,
        batch_size: int,
        abstain_threshold: float,
        top_k: int,
    ) -> None:
        """Wrap an open session and tokenizer; use `Categorizer.load` instead."""
        if batch_size < 1:
            raise ValueError(f"batch_size: expected at least 1; got {batch_size}")
        if top_k < 0:
            raise ValueError(f"top_k: expected 0 or more; got {top_k}")
        self._session = session
        self._tokenizer = tokenizer
        self._manifest = manifest
        self._threads = threads
        # settings are fixed at construction (read-only properties below): a server shares one
        # engine between requests, so none may change it under another
        self._batch_size = batch_size
        self._abstain_threshold = abstain_threshold
        self._top_k = top_k
        self._labels = tuple(manifest.labels)
        self._primary = tuple(manifest.primary_labels)
        self._to_primary = _primary_matrix(manifest)
        self._abstain_label = _abstain_label(self._primary)
        self._pad_id = _pad_id(tokenizer)
        self._inputs, self._int_type = _session_inputs(session, manifest)
        self._output = manifest.onnx_output
        # encode_batch_fast (tokenizers >= 0.21) skips the character offsets nobody reads here.
        self._encode_batch = getattr(tokenizer, "encode_batch_fast", tokenizer.encode_batch)

    # -- construction -----------------------------------------------------------------------

    @classmethod
    def load(
        cls,
        bundle: str | Path,
        *,
        threads: int | None = None,
        batch_size: int = 64,
        abstain_threshold: float = 0.0,
        top_k: int = 3,
        expected_taxonomy: Taxonomy | None = None,
    ) -> Categorizer:
        """Verify a bundle and open it for inference.

        Args:
            bundle: The bundle folder (model.onnx, tokenizer.json, taxonomy.yaml,
                manifest.json).
            threads: ONNX Runtime intra-op threads (default: the CPUs this process may use).
            batch_size: Rows per model call.
            abstain_threshold: Below this confidence the category is the abstain label.
            top_k: How many primary categories `Prediction.top` lists.
            expected_taxonomy: Refuse a bundle made with another taxonomy.

        Returns:
            The loaded categorizer.

        Raises:
            BundleError: A missing or tampered file, a bad manifest, or a text format other
                than this library's, or a taxonomy other than `expected_taxonomy`.
        """
        folder = Path(bundle)
        manifest = load_bundle(folder, expected_taxonomy=expected_taxonomy)
        if str(manifest.text_format_version) != TEXT_FORMAT_VERSION:
            raise BundleError(
                f"{folder}: the model was trained on input text format "
                f"{manifest.text_format_version!r}, but this library writes format "
                f"{TEXT_FORMAT_VERSION!r}; re-export the model with this version"
            )
        threads = threads or usable_cpus()
        session = _open_session(folder / "model.onnx", threads)
        tokenizer = _open_tokenizer(folder / "tokenizer.json", manifest.max_length)
        logger.info(
            "loaded bundle %s %s (%s, %d labels, %d threads)",
            manifest.name,
            manifest.version,
            manifest.quantization,
            len(manifest.labels),
            threads,
        )
        return cls(
            session,
            tokenizer,
            manifest,
            threads=threads,
            batch_size=batch_size,
            abstain_threshold=abstain_threshold,
            top_k=top_k,
        )

    # -- properties -------------------------------------------------------------------------

    @property
    def manifest(self) -> Manifest:
        """The bundle's manifest."""
        return self._manifest

    @property
    def labels(self) -> tuple[str, ...]:
        """The model's output labels, in logit order."""
        return self._labels

    @property
    def primary_labels(self) -> tuple[str, ...]:
        """The taxonomy's primary categories (the order of `Prediction.top` scores)."""
        return self._primary

    @property
    def threads(self) -> int:
        """ONNX Runtime intra-op threads."""
        return self._threads

    @property
    def batch_size(self) -> int:
        """Rows per model call."""
        return self._batch_size

    @property
    def abstain_threshold(self) -> float:
        """Below this confidence a prediction is UNCATEGORIZED."""
        return self._abstain_threshold

    @property
    def top_k(self) -> int:
        """Runner-up categories in each `Prediction.top`."""
        return self._top_k

    # -- inference --------------------------------------------------------------------------

    def predict(self, transactions: Iterable[TransactionLike]) -> list[Prediction]:
        """Categorize transactions.

        Args:
            transactions: `Transaction` objects, mappings with Transaction fields (validated
                here; None, NaN and pandas' NA mean unknown), or plain description strings.

        Returns:
            One prediction per transaction, in input order; [] for no input.

        Raises:
            ValueError: A mapping or string is not a valid transaction; the message names its
                index and field, e.g. ``transactions[3].amount: ...``.
            TypeError: An item is neither a Transaction, a mapping nor a string.
        """
        texts = [_model_text(item, i) for i, item in enumerate(transactions)]
        return self.predict_texts(texts)

    def predict_texts(self, texts: Sequence[str]) -> list[Prediction]:
        """Categorize texts already in the model's input format (`to_model_text`).

        Args:
            texts: Model input texts.

        Returns:
            One prediction per text, in input order.
        """
        if not texts:
            return []
        return self.decide(self.logits(texts))

    def primary_probs(self, logits: np.ndarray) -> np.ndarray:
        """Calibrated probabilities over the primary categories (rows × primaries)."""
        return self._summed(softmax(logits, self._manifest.temperature))

    def _summed(self, probs: np.ndarray) -> np.ndarray:
        """Label probabilities summed into primaries (unchanged for a primary model)."""
        return probs if self._to_primary is None else probs @ self._to_primary

    def decide(self, logits: np.ndarray) -> list[Prediction]:
        """Turn raw logits (rows × labels) into calibrated predictions."""
        probs = softmax(logits, self._manifest.temperature)
        primary = self._summed(probs)
        best = probs.argmax(axis=1)
        k = min(self._top_k, len(self._primary))
        top = np.argsort(-primary, axis=1, kind="stable")[:, :k]
        out = []
        for row, label in enumerate(best.tolist()):
            if self._to_primary is None:
                category, detailed = self._labels[label], None
                confidence = float(primary[row, label])
            else:  # a detailed model: the manifest's check guarantees its parents
                assert self._manifest.parents is not None
                parent = int(self._manifest.parents[label])
                category, detailed = self._primary[parent], self._labels[label]
                confidence = float(primary[row, parent])
            if confidence < self._abstain_threshold:
                category, detailed = self._abstain_label, None
            pairs = tuple((self._primary[j], float(primary[row, j])) for j in top[row].tolist())
            out.append(Prediction(category, detailed, confidence, pairs))
        return out

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        """Raw (uncalibrated) logits of model input texts.

        Args:
            texts: Model input texts.

        Returns:
            A float32 array (len(texts) × len(labels)), rows in input order.
        """
        ids = self.encode(texts)
        out = np.empty((len(ids), len(self._labels)), dtype=np.float32)
        if not ids:
            return out
        lengths = np.fromiter((len(row) for row in ids), dtype=np.int64, count=len(ids))
        order = np.argsort(lengths, kind="stable")
        for start in range(0, len(order), self._batch_size):
            rows = order[start : start + self._batch_size]
            out[rows] = self._run([ids[r] for r in rows.tolist()])
        return out

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids of model input texts, with special tokens, truncated to max_length."""
        if isinstance(texts, str):
            raise TypeError("expected a sequence of texts, not one string")
        if not texts:
            return []
        clipped = [text[:MAX_TEXT_CHARS] for text in texts]
        return [encoding.ids for encoding in self._encode_batch(clipped)]

    def _run(self, batch: list[list[int]]) -> np.ndarray:
        width = max(len(row) for row in batch)
        input_ids: np.ndarray = np.full((len(batch), width), self._pad_id, dtype=self._int_type)
        mask: np.ndarray = np.zeros((len(batch), width), dtype=self._int_type)
        for i, row in enumerate(batch):
            input_ids[i, : len(row)] = row
            mask[i, : len(row)] = 1
        arrays = {"input_ids": input_ids, "attention_mask": mask}
        feed = {name: arrays.get(name, np.zeros_like(input_ids)) for name in self._inputs}
        return self._session.run([self._output], feed)[0]


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Softmax of logits / temperature over the last axis (classes), in float64.

    The one softmax of the project: the engine, training's evaluation and the baselines use it.
    """
    z = np.asarray(logits, dtype=np.float64) / temperature
    exp = np.exp(z - z.max(axis=-1, keepdims=True))
    return exp / exp.sum(axis=-1, keepdims=True)


def _model_text(item: TransactionLike, index: int) -> str:
    if isinstance(item, Transaction):
        return to_model_text(item)
    if isinstance(item, str):
        description = item[:MAX_RAW_DESCRIPTION_CHARS].strip()
        if not description:
            raise ValueError(f"transactions[{index}].description: expected a non-empty description")
        return to_model_text({"description": description})
    if isinstance(item, Mapping):
        return to_model_text(_validate(item, index))
    raise TypeError(
        f"transactions[{index}]: expected a Transaction, a mapping or a description string; "
        f"got {type(item).__name__}"
    )


def _validate(item: Mapping[str, Any], index: int) -> Transaction:
    from pydantic import ValidationError

    # Rows of a dataframe carry NaN or pandas' NA for missing values: they mean "unknown".
    present = {key: value for key, value in item.items() if not is_missing(value)}
    try:
        return Transaction.model_validate(present)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        suffix = f".{where}" if where else ""
        raise ValueError(f"transactions[{index}]{suffix}: {first['msg']}") from None


def _primary_matrix(manifest: Manifest) -> np.ndarray | None:
    """labels × primaries 0/1 matrix that sums detailed probabilities into primaries."""
    if manifest.label_level != "detailed":
        if list(manifest.labels) != list(manifest.primary_labels):
            raise BundleError(
                f"bundle {manifest.name}: a primary model's labels must be the taxonomy's "
                "primary categories in order"
            )
        return None
    parents = manifest.parents
    if parents is None or len(parents) != len(manifest.labels):
        raise BundleError(
            f"bundle {manifest.name}: a detailed model needs one parent index per label"
        )
    return parent_matrix(parents, len(manifest.primary_labels))


def parent_matrix(parents: Sequence[int] | np.ndarray, primaries: int) -> np.ndarray:
    """labels × primaries 0/1 matrix: ``probs @ matrix`` sums each detailed label's probability
    into its primary. The one owner of that sum (the engine and training's evaluation use it)."""
    parents = np.asarray(parents, dtype=np.int64)
    matrix = np.zeros((len(parents), primaries))
    matrix[np.arange(len(parents)), parents] = 1.0
    return matrix


def _abstain_label(primary: Sequence[str]) -> str:
    return next((label for label in _CATCH_ALL_IDS if label in primary), UNCATEGORIZED)


def _open_session(path: Path, threads: int) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3  # errors only
    # Idle ORT threads spin by default: measured through the server, that doubled the CPU time
    # of a single-transaction request (9.0 ms vs 3.9 ms) on 2 cores shared with the HTTP stack.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )
    except Exception as exc:  # onnxruntime raises its own unrelated exception types
        raise BundleError(f"{path}: ONNX Runtime cannot load the model: {exc}") from exc


def _open_tokenizer(path: Path, max_length: int) -> Any:
    from tokenizers import Tokenizer

    try:
        tokenizer = Tokenizer.from_file(str(path))
    except Exception as exc:  # tokenizers raises a plain Exception on a malformed file
        raise BundleError(f"{path}: cannot load the tokenizer: {exc}") from exc
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=max_length)
    return tokenizer


def _pad_id(tokenizer: Any) -> int:
    # Padded positions are masked out, so the id changes no result; [PAD] matches training.
    for token in _PAD_TOKENS:
        found = tokenizer.token_to_id(token)
        if found is not None:
            return int(found)
    return 0


def _session_inputs(session: Any, manifest: Manifest) -> tuple[tuple[str, ...], type]:
    """The input names the graph takes (as the manifest lists them) and their integer type."""
    graph = {node.name: node.type for node in session.get_inputs()}
    missing = [name for name in graph if name not in manifest.onnx_inputs]
    if missing or "input_ids" not in graph:
        raise BundleError(
            f"bundle {manifest.name}: model inputs {sorted(graph)} do not match the manifest's "
            f"{list(manifest.onnx_inputs)}"
        )
    return tuple(graph), _INT_TYPES.get(graph["input_ids"], np.int64)
