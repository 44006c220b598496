"""The hf: teacher (a tiny random Llama for shapes, SmolLM2 for real) and the SmolLM2 cache."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from categorizer.taxonomy import default_taxonomy
from training.labeling.prompt import PromptBuilder
from training.labeling.teachers import smollm2
from training.labeling.teachers.base import Example, LabelRequest, TeacherError, TeacherResult

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from training.labeling.teachers.hf import HFTeacher  # noqa: E402

CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content']"
    " + '<|im_end|>\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}"
    "{% endif %}"
)
TEXTS = [
    "STARBUCKS STORE # SEATTLE WA | debit | 1-10 | mcc 5814",
    "ACME CORP PAYROLL PPD | credit | 1k-5k",
    "SHELL OIL # HOUSTON TX | debit | 10-50 | mcc 5541",
    "NETFLIX.COM | debit | 10-50",
    "TRANSFER TO SAVINGS XXXX | debit | 200-1k",
]
SHOTS = (
    Example("DUNKIN # BOSTON MA | debit | 1-10", "FOOD_AND_DRINK", "FOOD_AND_DRINK_COFFEE"),
    Example("CHEVRON # | debit | 10-50", "TRANSPORTATION", "TRANSPORTATION_GAS"),
)


def _small_tokenizer() -> transformers.PreTrainedTokenizerFast:
    """A byte-level BPE trained in milliseconds on the prompts themselves (short sequences)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    builder = PromptBuilder(default_taxonomy())
    corpus = [builder.system, *TEXTS, *(e.text for e in SHOTS)]
    corpus += [builder.detailed_system(p) for p in default_taxonomy().labels]
    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    trainer = trainers.BpeTrainer(
        vocab_size=1200,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(corpus * 3, trainer=trainer)
    return transformers.PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token="<|im_start|>",
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        chat_template=CHATML,
    )


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A random 2-layer Llama with a small tokenizer, saved like a hub model (no download)."""
    folder = tmp_path_factory.mktemp("tiny-llama")
    tokenizer = _small_tokenizer()
    config = transformers.LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM(config)
    with torch.no_grad():  # a sharper output distribution than the default init gives
        model.lm_head.weight.mul_(50.0)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="module")
def tiny(tiny_model: str) -> HFTeacher:
    return HFTeacher(tiny_model, default_taxonomy(), batch_size=4, device="cpu")


def _requests(texts: list[str], examples: tuple[Example, ...] = ()) -> list[LabelRequest]:
    return [LabelRequest(key=str(i), text=t, examples=examples) for i, t in enumerate(texts)]


def _check_result(result: TeacherResult, prompt: PromptBuilder) -> None:
    taxonomy = default_taxonomy()
    assert not result.failed
    assert len(result.probs) == len(taxonomy.labels) == 16
    assert math.isclose(sum(result.probs), 1.0, abs_tol=1e-9)
    assert all(p >= 0 for p in result.probs)
    assert 0.0 < result.label_mass <= 1.0 + 1e-9
    primary = taxonomy.labels[max(range(16), key=result.probs.__getitem__)]
    assert result.detailed in prompt.detailed_codes(primary).values()
    assert taxonomy.parent_of(result.detailed) == primary
    assert 0.0 < result.detailed_confidence <= 1.0
    assert result.completion_tokens == 2
    assert result.prompt_tokens > 0
    assert not result.hard


def _close(a: list[TeacherResult], b: list[TeacherResult], tol: float = 1e-4) -> None:
    for x, y in zip(a, b, strict=True):
        assert max(abs(p - q) for p, q in zip(x.probs, y.probs, strict=True)) < tol
        assert abs(x.label_mass - y.label_mass) < tol
        assert x.detailed == y.detailed
        assert x.prompt_tokens == y.prompt_tokens


# -- tiny random Llama: shapes, paths, failures ------------------------------------------------


def test_results_are_distributions_over_the_16_labels(tiny: HFTeacher, tiny_model: str) -> None:
    results = tiny.label(_requests(TEXTS))
    assert len(results) == len(TEXTS)
    for result in results:
        _check_result(result, tiny.prompt)
        assert result.seconds > 0
    assert tiny.id == f"hf:{tiny_model}"
    assert tiny.prompt_version == PromptBuilder(default_taxonomy()).version()
    assert tiny.batch_size == 4


def test_codes_use_every_single_token_variant(tiny: HFTeacher) -> None:
    tokenizer = tiny._tokenizer
    for letter, ids in tiny._letter_ids.items():
        assert tokenizer.encode(letter, add_special_tokens=False) == ids[:1]
        spaced = tokenizer.encode(f" {letter}", add_special_tokens=False)
        assert ids[1:] == (spaced if len(spaced) == 1 else [])


def test_prefix_cache_gives_the_plain_path_probabilities(tiny: HFTeacher, tiny_model: str) -> None:
    plain = HFTeacher(
        tiny_model, default_taxonomy(), batch_size=4, prefix_cache=False, device="cpu"
    )
    requests = _requests(TEXTS[:4], SHOTS)
    cached = tiny.label(requests)
    assert tiny.prefix_cache, "the cached path fell back to the plain one"
    _close(cached, plain.label(requests))
    system, user = tiny.prompt.messages(TEXTS[0])
    assert len(system["content"]) > 10 * len(user["content"])  # the shared prefix is most of it


def test_mixed_prefixes_in_one_batch_equal_the_plain_path(tiny: HFTeacher, tiny_model: str) -> None:
    # one batch: few-shot and zero-shot primary prompts, then each row's detailed prompt (one
    # system prefix per primary), all through the cache, against the plain path
    plain = HFTeacher(
        tiny_model, default_taxonomy(), batch_size=4, prefix_cache=False, device="cpu"
    )
    requests = [*_requests(TEXTS[:2], SHOTS), *_requests(TEXTS[2:4])]
    _close(tiny.label(requests), plain.label(requests), tol=1e-5)
    assert tiny.prefix_cache, "the cached path fell back to the plain one"


def test_a_batch_equals_its_rows_one_by_one(tiny: HFTeacher) -> None:
    texts = [*TEXTS[:3], TEXTS[3] + " AND A MUCH LONGER DESCRIPTION FOR PADDING"]
    batch = tiny.label(_requests(texts))
    single = [tiny.label(_requests([t]))[0] for t in texts]
    _close(batch, single)


def test_examples_change_the_answer_and_version(tiny: HFTeacher, tiny_model: str) -> None:
    zero = tiny.label(_requests(TEXTS[:1]))[0]
    shot = tiny.label(_requests(TEXTS[:1], SHOTS))[0]
    assert shot.prompt_tokens > zero.prompt_tokens
    assert shot.probs != zero.probs
    few = HFTeacher(tiny_model, default_taxonomy(), examples_id="fs2-0123abcd", device="cpu")
    assert few.prompt_version.endswith("/fs2-0123abcd")


def test_primary_only(tiny_model: str) -> None:
    teacher = HFTeacher(tiny_model, default_taxonomy(), detailed=False, device="cpu")
    result = teacher.label(_requests(TEXTS[:2]))[0]
    assert result.detailed is None
    assert result.detailed_confidence is None
    assert result.completion_tokens == 1
    assert teacher.prompt_version.endswith("/primary-only")


def test_a_row_that_cannot_be_labeled_fails_alone(tiny: HFTeacher) -> None:
    too_long = " ".join(f"W{i}" for i in range(1200))  # past the tiny model's 2048 positions
    results = tiny.label(_requests([TEXTS[0], too_long, TEXTS[1]]))
    assert [r.failed for r in results] == [False, True, False]
    assert "context" in results[1].error
    assert results[1].probs is None
    _check_result(results[0], tiny.prompt)


def test_an_unloadable_model_is_a_teacher_error(tmp_path: Path) -> None:
    with pytest.raises(TeacherError, match="cannot load"):
        HFTeacher(str(tmp_path / "no-such-model"), default_taxonomy())


def test_a_prompt_builder_must_agree_on_the_detailed_pass(tiny_model: str) -> None:
    with pytest.raises(ValueError, match="detailed"):
        HFTeacher(
            tiny_model, default_taxonomy(), prompt=PromptBuilder(default_taxonomy()), detailed=False
        )


def test_an_unknown_dtype_is_a_teacher_error(tiny_model: str) -> None:
    with pytest.raises(TeacherError, match="dtype"):
        HFTeacher(tiny_model, default_taxonomy(), dtype="float13", device="cpu")


# -- SmolLM2 conversion cache (the conversion itself replaced by a stub) -------------------------


def _fake_convert(source: Path, out: Path) -> None:
    (out / "config.json").write_text("{}", encoding="utf-8")


def test_smollm2_folder_converts_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Path] = []

    def convert(source: Path, out: Path) -> None:
        calls.append(out)
        _fake_convert(source, out)

    monkeypatch.setattr(smollm2, "_convert", convert)
    monkeypatch.setattr(smollm2, "gguf_path", lambda: tmp_path / smollm2.GGUF_NAME)
    monkeypatch.setenv(smollm2.CACHE_ENV, str(tmp_path / "env-cache"))
    folder = smollm2.smollm2_folder()
    assert folder == tmp_path / "env-cache" / smollm2.FOLDER_NAME
    assert (folder / "config.json").is_file()
    assert smollm2.smollm2_folder() == folder
    assert len(calls) == 1
    assert [p.name for p in folder.parent.iterdir()] == [smollm2.FOLDER_NAME]


def test_an_interrupted_conversion_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(source: Path, out: Path) -> None:
        _fake_convert(source, out)
        raise KeyboardInterrupt

    monkeypatch.setattr(smollm2, "_convert", broken)
    monkeypatch.setattr(smollm2, "gguf_path", lambda: Path("SmolLM2.gguf"))
    with pytest.raises(KeyboardInterrupt):
        smollm2.smollm2_folder(tmp_path)
    assert list(tmp_path.iterdir()) == []
    half = tmp_path / smollm2.FOLDER_NAME  # a folder without the completion marker is redone
    half.mkdir()
    monkeypatch.setattr(smollm2, "_convert", _fake_convert)
    assert smollm2.smollm2_folder(tmp_path) == half
    assert (half / "config.json").is_file()


# -- SmolLM2 (slow: converts the GGUF once, ~1 min, then loads in ~1 s) --------------------------


@pytest.fixture(scope="module")
def smol() -> HFTeacher:
    pytest.importorskip("gguf")
    try:
        smollm2.gguf_path()
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    return HFTeacher("smollm2", default_taxonomy(), batch_size=4, device="cpu")  # fp32: exact


@pytest.mark.slow
def test_smollm2_letters_are_single_tokens(smol: HFTeacher) -> None:
    assert smol.id == "hf:smollm2"
    assert all(len(ids) == 2 for ids in smol._letter_ids.values())  # "A" and " A"
    folder = smollm2.smollm2_folder()
    assert (folder / "model.safetensors").is_file()
    assert (folder / "tokenizer.json").is_file()


@pytest.mark.slow
def test_smollm2_labels_batches_like_single_rows(smol: HFTeacher) -> None:
    requests = _requests(TEXTS[:2])
    batch = smol.label(requests)
    for result in batch:
        _check_result(result, smol.prompt)
    _close(batch, [smol.label([r])[0] for r in requests])


@pytest.mark.slow
def test_smollm2_prefix_cache_equals_plain_path(smol: HFTeacher) -> None:
    plain = HFTeacher("smollm2", default_taxonomy(), batch_size=4, prefix_cache=False, device="cpu")
    requests = _requests(TEXTS[:2])
    _close(smol.label(requests), plain.label(requests))
