"""Tokenize once, then batch by length: dynamic padding without wasting compute on pad tokens.

Bank descriptors are short and vary from 5 to 40 tokens; padding every batch to the longest row
of the whole set would double the work. Rows are shuffled, cut into pools of many batches, sorted
by length inside each pool, batched, and the batches shuffled again: close to the speed of a full
sort, with the randomness SGD wants.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch

_POOL_BATCHES = 50


def encode(tokenizer: Any, texts: Sequence[str], max_length: int) -> list[list[int]]:
    """Token ids of each text with the special tokens, truncated to max_length, not padded."""
    encoded = tokenizer(list(texts), truncation=True, max_length=max_length, padding=False)
    return encoded["input_ids"]


def bucketed_batches(
    lengths: np.ndarray, indices: np.ndarray, batch_size: int, seed: int
) -> list[np.ndarray]:
    """Split `indices` into shuffled batches of rows of similar length.

    Args:
        lengths: Token count of every row of the dataset.
        indices: The rows to batch (e.g. the train split).
        batch_size: Rows per batch; the last batch may be smaller.
        seed: Same seed, same batches (use a new one each epoch).
    """
    rng = np.random.default_rng(seed)
    order = rng.permutation(indices)
    pool = batch_size * _POOL_BATCHES
    batches = []
    for start in range(0, len(order), pool):
        chunk = order[start : start + pool]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


def sorted_batches(lengths: np.ndarray, indices: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Batches for inference: sorted by length, in a fixed order."""
    order = indices[np.argsort(lengths[indices], kind="stable")]
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def collate(
    ids: Sequence[list[int]], rows: np.ndarray, pad_id: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """input_ids and attention_mask of `rows`, padded to the longest of them."""
    import torch

    width = max(len(ids[r]) for r in rows)
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        n = len(ids[r])
        input_ids[i, :n] = torch.tensor(ids[r], dtype=torch.long)
        mask[i, :n] = 1
    return input_ids, mask


def mask_tokens(
    input_ids: torch.Tensor, attention_mask: torch.Tensor, share: float, mask_id: int
) -> torch.Tensor:
    """A copy of `input_ids` with about `share` of each row's inner tokens set to `mask_id`.

    The first and last real tokens ([CLS] and [SEP]) and the padding are never masked. Draws from
    torch's global generator, which the training loop seeds per epoch.
    """
    import torch

    lengths = attention_mask.sum(dim=1, keepdim=True)
    positions = torch.arange(input_ids.shape[1]).unsqueeze(0)
    inner = (positions > 0) & (positions < lengths - 1)
    drop = inner & (torch.rand(input_ids.shape) < share)
    return input_ids.masked_fill(drop, mask_id)


def predict_logits(
    model: Any,
    ids: Sequence[list[int]],
    rows: np.ndarray,
    *,
    pad_id: int,
    batch_size: int = 256,
    device: str = "cpu",
    bf16: bool = False,
) -> np.ndarray:
    """Logits of `rows` (in the order given), batched by length, without gradients.

    Returns:
        A float32 array of shape (len(rows), labels).
    """
    import torch

    if len(rows) == 0:
        raise ValueError("predict_logits needs at least one row")
    model.eval()
    # Each distinct row once; a row asked for twice gets its logits twice.
    unique, inverse = np.unique(np.asarray(rows), return_inverse=True)
    out: np.ndarray | None = None
    lengths = np.array([len(i) for i in ids])
    with torch.inference_mode(), torch.autocast("cuda", torch.bfloat16, enabled=bf16):
        for batch in sorted_batches(lengths, unique, batch_size):
            input_ids, mask = collate(ids, batch, pad_id)
            logits = model(input_ids=input_ids.to(device), attention_mask=mask.to(device)).logits
            if out is None:
                out = np.zeros((len(unique), logits.shape[1]), dtype=np.float32)
            out[np.searchsorted(unique, batch)] = logits.float().cpu().numpy()
    assert out is not None
    return out[inverse]
