"""The ONNX engine on real bundles of a tiny trained student: real sessions, no mocks."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("torch")

import categorizer
from categorizer.bundle import BundleError
from categorizer.engine import UNCATEGORIZED, Categorizer, Prediction, softmax
from categorizer.schema import Transaction
from categorizer.text import to_model_text

NON_ASCII = [
    "CAFÉ DU MONDE NOUVELLE-ORLÉANS",
    "中文 超市 北京",
    "🍔🍟 BURGER JOINT 😀",
    "مطعم الشام دبي",
    "ΑΘΗΝΑ ΤΑΒΕΡΝΑ",
    "straße münchen ß",
    "\u200f\u202eRTL\u202c MARKER",
]


@pytest.fixture(scope="module")
def texts() -> list[str]:
    """200 model input texts of synthetic transactions."""
    from training.synthesis.synth import SynthConfig, generate

    frame = generate(SynthConfig(n=200, seed=77, workers=1))
    return [to_model_text(row) for row in frame.to_dict("records")]


@pytest.fixture(scope="module")
def engine(tiny_bundle: Path) -> Categorizer:
    return Categorizer.load(tiny_bundle, threads=1, batch_size=16)


@pytest.fixture(scope="module")
def fp32_bundle(tiny_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An fp32 bundle of `tiny_run`: batch composition cannot change its results."""
    from training.export.to_bundle import export_run

    out = tmp_path_factory.mktemp("fp32") / "bundle"
    return export_run(tiny_run, out, quantize="none").bundle


@pytest.fixture(scope="module")
def detailed_bundle(tiny_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An int8 bundle of a detailed-level student trained like `tiny_run`, on its labels."""
    from categorizer.taxonomy import default_taxonomy
    from training.distillation.distill import train
    from training.distillation.train_config import load_config
    from training.export.to_bundle import export_run

    folder = tmp_path_factory.mktemp("detailed")
    config = load_config(tiny_run / "train_config.json", {"label_level": "detailed"})
    labels = tiny_run.parent / "labels.parquet"
    train(labels, folder / "run", config, taxonomy=default_taxonomy(), show_progress=False)
    return export_run(folder / "run", folder / "bundle").bundle


def assert_same(a: list[Prediction], b: list[Prediction], tolerance: float = 1e-4) -> None:
    """Same categories; confidences equal up to float noise (int8: batch composition noise)."""
    assert [(p.category, p.detailed_category) for p in a] == [
        (p.category, p.detailed_category) for p in b
    ]
    np.testing.assert_allclose([p.confidence for p in a], [p.confidence for p in b], atol=tolerance)


def torch_logits(run: Path, texts: list[str]) -> tuple[list[list[int]], np.ndarray]:
    """The run's torch student: its HF tokenizer's ids and its logits."""
    import torch
    from transformers import AutoTokenizer

    from training.distillation.batching import encode, predict_logits
    from training.export.onnx_export import load_torch_student

    student = json.loads((run / "student.json").read_text())
    tokenizer = AutoTokenizer.from_pretrained(run / "model", local_files_only=True)
    ids = encode(tokenizer, texts, student["max_length"])
    model = load_torch_student(run / "model", student["pooling"])
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        rows = np.arange(len(ids))
        logits = predict_logits(model, ids, rows, pad_id=tokenizer.pad_token_id or 0)
    finally:
        torch.set_num_threads(threads)
    return ids, logits


def test_predictions_are_the_calibrated_argmax_of_the_logits(
    engine: Categorizer, texts: list[str]
) -> None:
    logits = engine.logits(texts)
    predictions = engine.predict_texts(texts)
    probs = softmax(logits / engine.manifest.temperature)
    assert [p.category for p in predictions] == [engine.labels[i] for i in logits.argmax(1)]
    for p, row in zip(predictions, probs, strict=True):
        assert p.detailed_category is None
        assert p.confidence == pytest.approx(row.max())
        assert len(p.top) == 3
        assert p.top[0] == (p.category, pytest.approx(p.confidence))
        assert [s for _, s in p.top] == sorted((s for _, s in p.top), reverse=True)


def test_engine_matches_the_torch_student(
    engine: Categorizer, fp32_bundle: Path, tiny_run: Path, texts: list[str]
) -> None:
    all_texts = texts + NON_ASCII
    ids, logits = torch_logits(tiny_run, all_texts)
    assert engine.encode(all_texts) == ids  # the tokenizers library, exactly as training
    agreement = (engine.logits(texts).argmax(1) == logits[: len(texts)].argmax(1)).mean()
    assert agreement >= 0.995
    fp32 = Categorizer.load(fp32_bundle, threads=1)
    np.testing.assert_allclose(fp32.logits(all_texts), logits, atol=1e-4)


def test_results_come_back_in_input_order(fp32_bundle: Path, texts: list[str]) -> None:
    mixed = [texts[i] for i in np.random.default_rng(0).permutation(len(texts))[:60]]
    mixed += ["A", "B " * 40, *NON_ASCII]
    batched = Categorizer.load(fp32_bundle, threads=1, batch_size=4)
    one_by_one = np.concatenate([batched.logits([text]) for text in mixed])
    np.testing.assert_allclose(batched.logits(mixed), one_by_one, atol=1e-4)
    reversed_predictions = batched.predict_texts(mixed[::-1])
    assert_same(batched.predict_texts(mixed), reversed_predictions[::-1])


def test_accepts_transactions_mappings_and_strings(engine: Categorizer) -> None:
    mapping = {"description": "UBER TRIP HELP.UBER.COM", "amount": -14.2, "mcc": 4121}
    txn = Transaction.model_validate(mapping)
    from_txn, from_mapping, from_text = engine.predict([txn, mapping, to_model_text(txn)])
    assert_same([from_txn], [from_mapping], tolerance=0.02)
    assert_same(engine.predict(["UBER TRIP"]), engine.predict([{"description": "UBER TRIP"}]))
    assert from_text.category in engine.labels
    nan_row = {"description": "UBER TRIP", "amount": float("nan"), "mcc": None}
    assert_same(engine.predict([nan_row]), engine.predict(["UBER TRIP"]))


def test_empty_input(engine: Categorizer) -> None:
    assert engine.predict([]) == []
    assert engine.predict_texts([]) == []
    assert engine.encode([]) == []
    assert engine.logits([]).shape == (0, len(engine.labels))


def test_a_10000_character_description_is_truncated(engine: Categorizer) -> None:
    long = "STARBUCKS STORE SEATTLE WA " * 371  # 10,017 characters
    (prediction,) = engine.predict([long[:10_000]])
    assert prediction.category in engine.labels
    ids = engine.encode([long])[0]
    assert len(ids) == engine.manifest.max_length
    assert engine.logits([long, "x" * 10_000]).shape == (2, len(engine.labels))


def test_non_ascii_text(engine: Categorizer) -> None:
    predictions = engine.predict(NON_ASCII)
    assert len(predictions) == len(NON_ASCII)
    assert all(p.category in engine.labels for p in predictions)
    assert all(0.0 < p.confidence <= 1.0 for p in predictions)


def test_bad_input_names_the_index_and_field(engine: Categorizer) -> None:
    good = {"description": "UBER TRIP", "amount": -5}
    with pytest.raises(ValueError, match=r"transactions\[1\]\.amount"):
        engine.predict([good, {"description": "TESCO", "amount": "twelve"}])
    with pytest.raises(ValueError, match=r"transactions\[0\]\.mcc"):
        engine.predict([{"description": "TESCO", "mcc": "12"}])
    with pytest.raises(ValueError, match=r"transactions\[2\]\.description"):
        engine.predict([good, "UBER", "   "])
    with pytest.raises(TypeError, match=r"transactions\[0\]"):
        engine.predict([42])  # type: ignore[list-item]


def test_abstaining_keeps_the_confidence_and_top(tiny_bundle: Path) -> None:
    engine = Categorizer.load(tiny_bundle, threads=1, abstain_threshold=1.01, top_k=2)
    predictions = engine.predict(["UBER TRIP", "PAYROLL ACME CORP", *NON_ASCII])
    assert {p.category for p in predictions} == {UNCATEGORIZED}
    assert all(p.detailed_category is None and p.confidence > 0 for p in predictions)
    assert all(len(p.top) == 2 and p.top[0][0] in engine.labels for p in predictions)


@pytest.mark.parametrize("setting", ["batch_size", "abstain_threshold", "top_k", "threads"])
def test_settings_are_fixed_at_load(tiny_bundle: Path, setting: str) -> None:
    # one engine serves every request of a server: none may change it under another
    engine = Categorizer.load(tiny_bundle, threads=1, batch_size=8, abstain_threshold=0.3, top_k=2)
    assert (engine.batch_size, engine.abstain_threshold, engine.top_k) == (8, 0.3, 2)
    with pytest.raises(AttributeError):
        setattr(engine, setting, 5)


def test_detailed_model_sums_its_primary(detailed_bundle: Path, texts: list[str]) -> None:
    engine = Categorizer.load(detailed_bundle, threads=1, top_k=16)
    manifest = engine.manifest
    assert manifest.label_level == "detailed"
    probs = softmax(engine.logits(texts) / manifest.temperature)
    for p, row in zip(engine.predict_texts(texts), probs, strict=True):
        best = int(row.argmax())
        parent = manifest.parents[best]
        assert p.detailed_category == manifest.labels[best]
        assert p.category == manifest.primary_labels[parent]
        in_primary = [i for i, q in enumerate(manifest.parents) if q == parent]
        assert p.confidence == pytest.approx(row[in_primary].sum())
        assert sum(s for _, s in p.top) == pytest.approx(1.0)
        assert dict(p.top)[p.category] == pytest.approx(p.confidence)


def test_a_tampered_bundle_is_refused(tiny_bundle: Path, tmp_path: Path) -> None:
    copy = shutil.copytree(tiny_bundle, tmp_path / "bundle")
    with (copy / "model.onnx").open("ab") as f:
        f.write(b"\0")
    with pytest.raises(BundleError, match="sha256"):
        Categorizer.load(copy)


def test_another_text_format_is_refused(tiny_bundle: Path, tmp_path: Path) -> None:
    copy = shutil.copytree(tiny_bundle, tmp_path / "bundle")
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["text_format_version"] = "0"
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="text format"):
        Categorizer.load(copy)


def test_prediction_to_dict_has_the_api_shape() -> None:
    p = Prediction("FOOD_AND_DRINK", None, 0.9, (("FOOD_AND_DRINK", 0.9), ("TRAVEL", 0.05)))
    assert p.to_dict() == {
        "category": "FOOD_AND_DRINK",
        "detailed_category": None,
        "confidence": 0.9,
        "top": [
            {"category": "FOOD_AND_DRINK", "score": 0.9},
            {"category": "TRAVEL", "score": 0.05},
        ],
    }


def test_package_exports_the_engine_lazily(engine: Categorizer) -> None:
    assert categorizer.Categorizer is Categorizer
    assert categorizer.Prediction is Prediction
    assert engine.threads == 1
    with pytest.raises(AttributeError):
        categorizer.NoSuchThing  # noqa: B018


def test_the_engine_imports_no_torch_transformers_or_pandas(tiny_bundle: Path) -> None:
    script = textwrap.dedent(
        f"""
        import sys
        import categorizer.engine
        engine = categorizer.engine.Categorizer.load({str(tiny_bundle)!r}, threads=1)
        assert engine.predict(["UBER TRIP", {{"description": "TESCO", "amount": -5}}])
        heavy = [m for m in ("torch", "transformers", "pandas") if m in sys.modules]
        print(",".join(heavy) or "none")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "none"
