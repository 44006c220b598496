"""Tests for training.distillation.batching: length-bucketed batches, padding and batched
inference."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from training.distillation.batching import (
    bucketed_batches,
    collate,
    encode,
    mask_tokens,
    predict_logits,
    sorted_batches,
)


def _lengths(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(5, 41, size=n)


def _ids(n: int, seed: int = 0, vocab: int = 50) -> list[list[int]]:
    rng = np.random.default_rng(seed)
    # Ids start at 1: 0 is the pad id of the tests.
    return [rng.integers(1, vocab, size=int(k)).tolist() for k in rng.integers(1, 30, size=n)]


# -- mask_tokens --------------------------------------------------------------------------------


def test_mask_tokens_masks_inner_tokens_only_and_about_the_share() -> None:
    ids = _ids(400, seed=1)
    input_ids, mask = collate(ids, np.arange(len(ids)), pad_id=0)
    torch.manual_seed(0)
    masked = mask_tokens(input_ids, mask, 0.3, mask_id=99)
    lengths = mask.sum(dim=1)
    rows = torch.arange(len(ids))
    assert torch.equal(masked[:, 0], input_ids[:, 0])  # [CLS]
    assert torch.equal(masked[rows, lengths - 1], input_ids[rows, lengths - 1])  # [SEP]
    assert torch.equal(masked[mask == 0], input_ids[mask == 0])  # padding
    changed = masked != input_ids
    assert torch.all(masked[changed] == 99)
    inner = int((lengths - 2).clamp(min=0).sum())
    assert 0.25 < int(changed.sum()) / inner < 0.35
    assert torch.equal(input_ids, collate(ids, np.arange(len(ids)), pad_id=0)[0])  # a copy


# -- bucketed_batches ---------------------------------------------------------------------------


@pytest.mark.parametrize(("n", "batch_size"), [(1, 4), (7, 4), (100, 8), (1000, 16), (2049, 32)])
def test_bucketed_batches_cover_every_index_exactly_once(n: int, batch_size: int) -> None:
    lengths = _lengths(n)
    indices = np.arange(n)
    batches = bucketed_batches(lengths, indices, batch_size, seed=3)
    joined = np.concatenate(batches)
    assert len(joined) == n
    assert sorted(joined.tolist()) == list(range(n))
    sizes = [len(b) for b in batches]
    assert all(1 <= s <= batch_size for s in sizes)
    # Pools hold whole batches, so only the very last batch cut may be short.
    assert sum(s < batch_size for s in sizes) <= 1
    assert len(batches) == -(-n // batch_size)


def test_bucketed_batches_of_a_subset_use_only_its_rows() -> None:
    lengths = _lengths(500)
    indices = np.arange(0, 500, 3)  # e.g. the train split
    batches = bucketed_batches(lengths, indices, 10, seed=0)
    joined = np.concatenate(batches)
    assert sorted(joined.tolist()) == indices.tolist()
    assert all(b.dtype.kind == "i" for b in batches)


def test_bucketed_batches_of_no_rows() -> None:
    assert bucketed_batches(_lengths(10), np.array([], dtype=np.int64), 4, seed=0) == []


def test_bucketed_batches_same_seed_same_batches() -> None:
    lengths = _lengths(3000)
    indices = np.arange(3000)
    first = bucketed_batches(lengths, indices, 16, seed=42)
    second = bucketed_batches(lengths, indices, 16, seed=42)
    assert len(first) == len(second)
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))


def test_bucketed_batches_different_seed_different_order() -> None:
    lengths = _lengths(3000)
    indices = np.arange(3000)
    first = np.concatenate(bucketed_batches(lengths, indices, 16, seed=1))
    second = np.concatenate(bucketed_batches(lengths, indices, 16, seed=2))
    assert sorted(first.tolist()) == sorted(second.tolist())
    assert not np.array_equal(first, second)
    # Not merely a different order of the same batches: the batches themselves differ.
    batches_1 = {tuple(sorted(b.tolist())) for b in bucketed_batches(lengths, indices, 16, 1)}
    batches_2 = {tuple(sorted(b.tolist())) for b in bucketed_batches(lengths, indices, 16, 2)}
    assert batches_1 != batches_2


def test_bucketed_batches_are_shuffled_not_sorted() -> None:
    lengths = _lengths(4000)
    batches = bucketed_batches(lengths, np.arange(4000), 16, seed=0)
    means = np.array([lengths[b].mean() for b in batches])
    # Batches do not come out in length order (SGD wants them mixed).
    assert not np.all(np.diff(means) >= 0)
    assert not np.all(np.diff(means) <= 0)


def test_bucketed_rows_have_similar_lengths() -> None:
    n, batch_size = 4000, 16
    lengths = _lengths(n, seed=9)
    batches = bucketed_batches(lengths, np.arange(n), batch_size, seed=0)
    bucketed_spread = np.mean([np.ptp(lengths[b]) for b in batches])
    bucketed_pad = sum(len(b) * lengths[b].max() for b in batches)

    order = np.random.default_rng(0).permutation(n)
    random = [order[i : i + batch_size] for i in range(0, n, batch_size)]
    random_spread = np.mean([np.ptp(lengths[b]) for b in random])
    random_pad = sum(len(b) * lengths[b].max() for b in random)

    assert bucketed_spread < 0.1 * random_spread
    assert bucketed_pad < 0.8 * random_pad
    assert bucketed_pad >= lengths.sum()


# -- sorted_batches -----------------------------------------------------------------------------


def test_sorted_batches_sorted_by_length_stable_and_fixed() -> None:
    lengths = np.array([5, 3, 9, 3, 1, 5, 7, 3])
    indices = np.array([0, 1, 2, 3, 4, 5, 6, 7])
    batches = sorted_batches(lengths, indices, 3)
    assert [b.tolist() for b in batches] == [[4, 1, 3], [7, 0, 5], [6, 2]]
    again = sorted_batches(lengths, indices, 3)
    assert all(np.array_equal(a, b) for a, b in zip(batches, again, strict=True))


def test_sorted_batches_of_a_subset_in_any_order() -> None:
    lengths = _lengths(200, seed=4)
    indices = np.random.default_rng(1).permutation(200)[:77]
    batches = sorted_batches(lengths, indices, 10)
    joined = np.concatenate(batches)
    assert sorted(joined.tolist()) == sorted(indices.tolist())
    assert np.all(np.diff(lengths[joined]) >= 0)
    assert [len(b) for b in batches] == [10] * 7 + [7]


# -- collate ------------------------------------------------------------------------------------


def test_collate_pads_with_pad_id_and_masks() -> None:
    ids = [[5, 6, 7], [8], [9, 10, 11, 12, 13], [14, 15]]
    input_ids, mask = collate(ids, np.array([3, 0, 1]), pad_id=99)
    assert input_ids.dtype == torch.long
    assert mask.dtype == torch.long
    assert input_ids.tolist() == [[14, 15, 99], [5, 6, 7], [8, 99, 99]]
    assert mask.tolist() == [[1, 1, 0], [1, 1, 1], [1, 0, 0]]


def test_collate_width_is_the_longest_of_the_rows_given() -> None:
    ids = [[1] * 3, [2] * 40, [3] * 2]
    input_ids, mask = collate(ids, np.array([0, 2]), pad_id=0)
    assert tuple(input_ids.shape) == (2, 3)
    assert tuple(mask.shape) == (2, 3)
    assert mask.sum(1).tolist() == [3, 2]


def test_collate_no_padding_when_lengths_are_equal() -> None:
    ids = [[1, 2], [3, 4]]
    input_ids, mask = collate(ids, np.array([1, 0]), pad_id=-1)
    assert input_ids.tolist() == [[3, 4], [1, 2]]
    assert bool(mask.all())


# -- predict_logits -----------------------------------------------------------------------------

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def tiny_bert() -> torch.nn.Module:
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=50,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        num_labels=5,
        pad_token_id=0,
    )
    model = BertForSequenceClassification(config)
    model.train()  # predict_logits must switch it to eval (dropout off) itself
    return model


def _unbatched(model: torch.nn.Module, row: list[int]) -> np.ndarray:
    model.eval()
    with torch.inference_mode():
        input_ids = torch.tensor([row], dtype=torch.long)
        logits = model(input_ids=input_ids, attention_mask=torch.ones_like(input_ids)).logits
    return logits[0].float().numpy()


def test_predict_logits_rows_in_the_order_given(tiny_bert: torch.nn.Module) -> None:
    ids = _ids(60, seed=2)
    rows = np.random.default_rng(5).permutation(60)[:40]
    out = predict_logits(tiny_bert, ids, rows, pad_id=0, batch_size=7)
    assert out.dtype == np.float32
    assert out.shape == (40, 5)
    assert not tiny_bert.training
    for k, r in enumerate(rows):
        np.testing.assert_allclose(out[k], _unbatched(tiny_bert, ids[r]), atol=1e-5, rtol=0)


def test_predict_logits_independent_of_batch_size_and_row_order(tiny_bert: torch.nn.Module) -> None:
    ids = _ids(30, seed=3)
    rows = np.arange(30)
    whole = predict_logits(tiny_bert, ids, rows, pad_id=0, batch_size=256)
    single = predict_logits(tiny_bert, ids, rows, pad_id=0, batch_size=1)
    np.testing.assert_allclose(whole, single, atol=1e-5, rtol=0)
    reversed_rows = rows[::-1].copy()
    backwards = predict_logits(tiny_bert, ids, reversed_rows, pad_id=0, batch_size=4)
    np.testing.assert_allclose(backwards, whole[::-1], atol=1e-5, rtol=0)


def test_predict_logits_accepts_a_list_of_rows(tiny_bert: torch.nn.Module) -> None:
    ids = _ids(10, seed=4)
    out = predict_logits(tiny_bert, ids, [3, 1, 2], pad_id=0)  # type: ignore[arg-type]
    for k, r in enumerate([3, 1, 2]):
        np.testing.assert_allclose(out[k], _unbatched(tiny_bert, ids[r]), atol=1e-5, rtol=0)


def test_predict_logits_needs_rows(tiny_bert: torch.nn.Module) -> None:
    with pytest.raises(ValueError, match="at least one row"):
        predict_logits(tiny_bert, _ids(5), np.array([], dtype=np.int64), pad_id=0)


class _Recorder(torch.nn.Module):
    """Logits = (first token, length); records every batch's input it sees."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[list[list[int]], list[list[int]]]] = []

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> SimpleNamespace:
        self.calls.append((input_ids.tolist(), attention_mask.tolist()))
        assert not torch.is_grad_enabled()
        logits = torch.stack([input_ids[:, 0].float(), attention_mask.sum(1).float()], dim=1)
        return SimpleNamespace(logits=logits.to(torch.float64))


def test_predict_logits_batches_by_length_with_padding() -> None:
    model = _Recorder()
    ids = [[10 + i] * k for i, k in enumerate([4, 1, 3, 1, 2, 5])]
    rows = np.array([5, 0, 2, 1, 4, 3])
    out = predict_logits(model, ids, rows, pad_id=7, batch_size=2)
    assert out.dtype == np.float32  # cast from the model's float64
    assert out.tolist() == [[15, 5], [10, 4], [12, 3], [11, 1], [14, 2], [13, 1]]
    # Three calls, each on rows of similar length, padded with pad_id.
    assert len(model.calls) == 3
    first_ids, first_mask = model.calls[0]
    assert first_ids == [[11], [13]]
    assert first_mask == [[1], [1]]
    second_ids, second_mask = model.calls[1]
    assert second_ids == [[14, 14, 7], [12, 12, 12]]
    assert second_mask == [[1, 1, 0], [1, 1, 1]]


def test_predict_logits_with_a_repeated_row() -> None:
    model = _Recorder()
    ids = [[10], [11, 11], [12, 12, 12]]
    out = predict_logits(model, ids, np.array([1, 2, 1]), pad_id=0)
    assert out.tolist() == [[11, 2], [12, 3], [11, 2]]


# -- encode -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tokenizer():
    from training.distillation.students import train_wordpiece

    words = ["starbucks", "coffee", "seattle", "shell", "oil", "payroll", "deposit", "uber", "trip"]
    rng = np.random.default_rng(0)
    texts = [" ".join(rng.choice(words, size=int(rng.integers(1, 8)))) for _ in range(300)]
    texts += ["STARBUCKS STORE # SEATTLE WA | debit | 1-10 | mcc 5814", "PAYROLL ACME | credit"]
    return train_wordpiece(texts, vocab_size=300)


def test_encode_adds_special_tokens_and_does_not_pad(tokenizer) -> None:
    texts = ["starbucks coffee", "shell oil seattle uber trip", "payroll"]
    ids = encode(tokenizer, texts, max_length=48)
    assert isinstance(ids, list)
    assert len(ids) == 3
    assert all(isinstance(row, list) for row in ids)
    cls, sep = tokenizer.cls_token_id, tokenizer.sep_token_id
    for row, text in zip(ids, texts, strict=True):
        assert row[0] == cls
        assert row[-1] == sep
        assert tokenizer.pad_token_id not in row
        assert tokenizer.decode(row, skip_special_tokens=True) == text
    assert len({len(row) for row in ids}) == 3  # not padded to a common length


def test_encode_truncates_to_max_length(tokenizer) -> None:
    long = " ".join(["starbucks coffee seattle"] * 20)
    short = "uber"
    ids = encode(tokenizer, (long, short), max_length=8)
    assert len(ids[0]) == 8
    assert ids[0][0] == tokenizer.cls_token_id
    assert ids[0][-1] == tokenizer.sep_token_id
    assert len(ids[1]) < 8


def test_encode_feeds_collate(tokenizer) -> None:
    texts = ["starbucks", "shell oil seattle", "uber trip"]
    ids = encode(tokenizer, texts, max_length=16)
    input_ids, mask = collate(ids, np.arange(3), pad_id=tokenizer.pad_token_id)
    batch = tokenizer(texts, padding=True, truncation=True, max_length=16, return_tensors="pt")
    assert input_ids.tolist() == batch["input_ids"].tolist()
    assert mask.tolist() == batch["attention_mask"].tolist()
