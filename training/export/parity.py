"""The export parity gate: ONNX logits against the torch student's on the same token ids.

An exported graph must predict what the trained student predicts. On the run's validation rows,
tokenized once with the student's own tokenizer, the torch model and each ONNX graph score the
same padded batches:

* fp32: argmax agreement 100% and max |logit difference| <= 1e-4 (export bugs, not rounding);
* int8: argmax agreement >= 99.5% (quantization may flip a near-tie, rarely more).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from training.distillation.batching import collate, predict_logits, sorted_batches

logger = logging.getLogger(__name__)

FP32_MIN_AGREEMENT = 1.0
FP32_MAX_ABS_DIFF = 1e-4
INT8_MIN_AGREEMENT = 0.995
BATCH_SIZE = 64


@dataclass(frozen=True)
class Thresholds:
    """The gate's limits (module constants by default; tests tighten them)."""

    fp32_agreement: float = FP32_MIN_AGREEMENT
    fp32_max_abs_diff: float = FP32_MAX_ABS_DIFF
    int8_agreement: float = INT8_MIN_AGREEMENT


@dataclass(frozen=True)
class ParityReport:
    """How closely the ONNX graphs follow the torch student.

    Attributes:
        rows: Validation rows compared.
        fp32_agreement: Share of rows where fp32 ONNX and torch pick the same label.
        fp32_max_abs_diff: Largest |logit difference| between fp32 ONNX and torch.
        int8_agreement: Same as fp32_agreement for the int8 graph; None when not quantized.
        int8_max_abs_diff: Largest |logit difference| of the int8 graph (informative only).
    """

    rows: int
    fp32_agreement: float
    fp32_max_abs_diff: float
    int8_agreement: float | None = None
    int8_max_abs_diff: float | None = None

    def to_manifest(self) -> dict[str, Any]:
        """The figures the bundle manifest records under "parity"."""
        return {
            "fp32_agreement": self.fp32_agreement,
            "fp32_max_abs_diff": self.fp32_max_abs_diff,
            "int8_agreement": self.int8_agreement,
            "int8_max_abs_diff": self.int8_max_abs_diff,
            "rows": self.rows,
        }

    def failures(self, limits: Thresholds) -> list[str]:
        """One line per gate this report fails (empty: it passes)."""
        out = []
        fp32, int8, diff = self.fp32_agreement, self.int8_agreement, self.fp32_max_abs_diff
        if fp32 < limits.fp32_agreement:
            out.append(f"fp32 argmax agreement {fp32:.4%} < {limits.fp32_agreement:.4%}")
        if not diff <= limits.fp32_max_abs_diff:  # NaN fails too
            out.append(f"fp32 max |logit diff| {diff:.3g} > {limits.fp32_max_abs_diff:.3g}")
        if int8 is not None and int8 < limits.int8_agreement:
            out.append(f"int8 argmax agreement {int8:.4%} < {limits.int8_agreement:.4%}")
        return out


def compare(reference: np.ndarray, candidate: np.ndarray) -> tuple[float, float]:
    """(argmax agreement, max |difference|) of two (rows, labels) logit arrays."""
    agreement = float((reference.argmax(axis=1) == candidate.argmax(axis=1)).mean())
    diff = float(np.max(np.abs(reference.astype(np.float64) - candidate)))
    return agreement, diff


def torch_logits(model: Any, ids: Sequence[list[int]], pad_id: int) -> np.ndarray:
    """The torch student's fp32 logits of every row of `ids`, in order (one torch thread pool)."""
    rows = np.arange(len(ids))
    return predict_logits(model, ids, rows, pad_id=pad_id, batch_size=BATCH_SIZE)


def onnx_session(path: Path, threads: int | None = None) -> Any:
    """An onnxruntime CPU session of `path` with all graph optimisations on."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        options.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def onnx_logits(
    session: Any, inputs: Sequence[str], ids: Sequence[list[int]], pad_id: int
) -> np.ndarray:
    """Logits of every row of `ids` from an ONNX session, batched exactly as `torch_logits`.

    Args:
        session: An onnxruntime InferenceSession of an exported student.
        inputs: The graph's input names; "token_type_ids", when present, gets zeros.
        ids: Token ids of each row (special tokens included, unpadded).
        pad_id: The tokenizer's padding id.
    """
    lengths = np.array([len(i) for i in ids])
    out: np.ndarray | None = None
    for batch in sorted_batches(lengths, np.arange(len(ids)), BATCH_SIZE):
        input_ids, mask = collate(ids, batch, pad_id)
        feed = {"input_ids": input_ids.numpy(), "attention_mask": mask.numpy()}
        if "token_type_ids" in inputs:
            feed["token_type_ids"] = np.zeros_like(feed["input_ids"])
        logits = session.run(["logits"], {k: v for k, v in feed.items() if k in inputs})[0]
        if out is None:
            out = np.zeros((len(ids), logits.shape[1]), dtype=np.float32)
        out[batch] = logits
    assert out is not None
    return out


def measure(
    reference: np.ndarray,
    fp32: np.ndarray,
    int8: np.ndarray | None = None,
) -> ParityReport:
    """The parity report of fp32 (and int8) ONNX logits against the torch reference."""
    fp32_agreement, fp32_diff = compare(reference, fp32)
    int8_agreement = int8_diff = None
    if int8 is not None:
        int8_agreement, int8_diff = compare(reference, int8)
    report = ParityReport(
        rows=len(reference),
        fp32_agreement=fp32_agreement,
        fp32_max_abs_diff=fp32_diff,
        int8_agreement=int8_agreement,
        int8_max_abs_diff=int8_diff,
    )
    logger.info("parity on %d rows: %s", report.rows, report.to_manifest())
    return report


def tokenizer_mismatches(
    tokenizer_json: Path, texts: Sequence[str], max_length: int, expected: Sequence[list[int]]
) -> int:
    """Rows where the plain `tokenizers` library (what serving uses) gives other ids.

    Args:
        tokenizer_json: The bundle's tokenizer.json.
        texts: The model texts.
        max_length: Truncation length, special tokens included.
        expected: The ids the transformers tokenizer gave (what the gate scored).
    """
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(tokenizer_json))
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=max_length)
    encoded = tokenizer.encode_batch(list(texts))
    return sum(e.ids != list(x) for e, x in zip(encoded, expected, strict=True))
