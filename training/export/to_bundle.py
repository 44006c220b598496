"""`categorizer export`: a training run directory → a verified model bundle for serving.

Steps: read the run (student.json, model/, taxonomy.yaml, metrics.json); export the student to
fp32 ONNX (`training.export.onnx_export`); quantize it to int8 unless told not to; score the run's
validation rows with torch and with each graph on the same token ids and refuse the export when
the graphs drift (`training.export.parity`); write model.onnx, tokenizer.json, taxonomy.yaml and
manifest.json (`categorizer.bundle`).

The bundle is built in a temporary folder beside --out and renamed into place only when every
check has passed, so a failed export leaves nothing half-written at --out.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from categorizer.bundle import (
    BUNDLE_FORMAT,
    HASHED_FILES,
    MANIFEST_FILE,
    MODEL_FILE,
    QUANTIZATIONS,
    TAXONOMY_FILE,
    TOKENIZER_FILE,
    Manifest,
    file_sha256,
    load_bundle,
    write_manifest,
)
from training.distillation.run_info import (
    DEFAULT_MAX_ROWS,
    ExportError,
    RunInfo,
    read_run,
    validation_texts,
)
from training.export.parity import Thresholds

logger = logging.getLogger(__name__)


@dataclass
class ExportResult:
    """What `export_run` produced.

    Attributes:
        bundle: The bundle folder (--out).
        manifest: Its manifest.
        sizes: Bytes of "model_fp32", "model_int8" (int8 exports only), "model" (the bundle's
            model.onnx) and "bundle" (all four files).
        timings: Seconds per step ("load", "torch", "export", "quantize", "parity", "write")
            and "total".
        methods: How the graphs were made ("export", and "quantize" for int8).
    """

    bundle: Path
    manifest: Manifest
    sizes: dict[str, int]
    timings: dict[str, float]
    methods: dict[str, str] = field(default_factory=dict)


def export_run(
    run_dir: str | Path,
    out_dir: str | Path,
    *,
    quantize: str = "int8",
    data_path: str | Path | None = None,
    max_rows: int | None = DEFAULT_MAX_ROWS,
    name: str | None = None,
    version: str | None = None,
    show_progress: bool = False,
    thresholds: Thresholds | None = None,
) -> ExportResult:
    """Export a training run to a model bundle, refusing it if ONNX drifts from torch.

    Args:
        run_dir: A `categorizer train` run directory.
        out_dir: The bundle folder to write; an existing bundle there is replaced.
        quantize: "int8" (dynamic quantization, the bundle's model) or "none" (fp32).
        data_path: The run's labeled file, when student.json's data_path has moved.
        max_rows: Validation rows the parity gate scores (None: all).
        name: Model name in the manifest (default: the run directory's name).
        version: Model version in the manifest (default "1").
        show_progress: Show the current step on stderr.
        thresholds: Parity limits (default: `training.export.parity`'s constants).

    Returns:
        The bundle's folder, manifest, sizes and step timings.

    Raises:
        ImportError: torch, transformers, onnxruntime or optimum is missing.
        FileNotFoundError: No run directory.
        ExportError: An incomplete run, a bad --out or --quantize, or a failed parity gate
            (the message prints the figures).
        BundleError: The written bundle does not verify (a bug; nothing is left at --out).
    """
    from training.export.onnx_export import require_export_deps

    if quantize not in QUANTIZATIONS:
        raise ExportError(f"--quantize must be one of {QUANTIZATIONS}, got {quantize!r}")
    out = Path(out_dir)
    started = time.perf_counter()
    with _steps(show_progress) as step:
        step("load")
        run = read_run(run_dir)
        require_export_deps()
        _check_out(out, run.run_dir)
        texts = validation_texts(run, data_path, max_rows)
        out.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
        staging.chmod(0o755)  # mkdtemp makes it private; a bundle is read by the server's user
        try:
            result = _build(run, texts, staging, quantize, step, thresholds or Thresholds())
            step("write")
            manifest = _write_bundle(run, staging, result, name, version)
            load_bundle(staging, expected_taxonomy=run.taxonomy)
            _publish(staging, out)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    timings = {**step.timings, "total": round(time.perf_counter() - started, 3)}
    sizes = {**result.sizes, "bundle": sum((out / f).stat().st_size for f in _bundle_files())}
    logger.info("exported %s to %s in %.1f s", run.run_dir, out, timings["total"])
    return ExportResult(out, manifest, sizes, timings, result.methods)


def _bundle_files() -> tuple[str, ...]:
    return (*HASHED_FILES, MANIFEST_FILE)


def _check_out(out: Path, run_dir: Path) -> None:
    if out.exists() and not out.is_dir():
        raise ExportError(f"--out {out} is a file; pass a folder for the bundle")
    if out.is_dir() and any(out.iterdir()) and not (out / MANIFEST_FILE).is_file():
        raise ExportError(
            f"--out {out} is a non-empty folder that is not a model bundle; refusing to replace "
            "it: pass a new or empty folder"
        )
    if out.resolve() == run_dir.resolve():
        raise ExportError(f"--out {out} is the run directory itself; pass another folder")


@dataclass
class _Built:
    """The graphs `_build` made and checked, inside the staging folder's work area."""

    model: Path
    inputs: list[str]
    parity: dict[str, Any]
    sizes: dict[str, int]
    methods: dict[str, str]


def _build(
    run: RunInfo,
    texts: list[str],
    staging: Path,
    quantize: str,
    step: _Step,
    limits: Thresholds,
) -> _Built:
    """Export, quantize and gate; returns the graph the bundle will hold."""
    from transformers import AutoTokenizer

    from training.distillation.batching import encode
    from training.export import parity
    from training.export.onnx_export import export_fp32, load_torch_student

    step("torch")
    tokenizer = AutoTokenizer.from_pretrained(run.model_dir, local_files_only=True)
    max_length = int(run.student["max_length"])
    ids = encode(tokenizer, texts, max_length)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    _check_tokenizer(run, texts, ids)
    model = load_torch_student(run.model_dir, run.student["pooling"])
    reference = parity.torch_logits(model, ids, pad_id)
    del model
    step("export")
    work = staging / "_work"
    fp32 = export_fp32(run.model_dir, run.student["pooling"], work / "fp32")
    methods = {"export": fp32.method}
    sizes = {"model_fp32": fp32.path.stat().st_size}
    step("parity")
    fp32_logits = parity.onnx_logits(parity.onnx_session(fp32.path), fp32.inputs, ids, pad_id)
    report = parity.measure(reference, fp32_logits, None)
    chosen = fp32
    if quantize == "int8" and not report.failures(limits):
        step("quantize")
        chosen, report = _quantize_gated(fp32, work, reference, fp32_logits, ids, pad_id, limits)
        methods["quantize"] = chosen.method
        sizes["model_int8"] = chosen.path.stat().st_size
    failures = report.failures(limits)
    if failures:
        raise ExportError(
            f"the ONNX export of {run.run_dir} fails the parity gate on {report.rows} validation "
            f"rows: {'; '.join(failures)} (figures: {report.to_manifest()}); nothing was written"
        )
    sizes["model"] = chosen.path.stat().st_size
    figures = report.to_manifest()
    if "quantize" in methods:
        figures["int8_method"] = methods["quantize"]
    return _Built(chosen.path, chosen.inputs, figures, sizes, methods)


def _quantize_gated(
    fp32: Any,
    work: Path,
    reference: Any,
    fp32_logits: Any,
    ids: list[list[int]],
    pad_id: int,
    limits: Thresholds,
) -> tuple[Any, Any]:
    """Dynamic int8 (the fastest) if it passes the gate, else weight-only int8 (the closest).

    Returns the chosen graph and its parity report (the last one tried when none passes).
    """
    from training.export import parity
    from training.export.onnx_export import quantize_int8, quantize_weight_only

    makers = (
        lambda: quantize_int8(fp32, work / "int8"),
        lambda: quantize_weight_only(fp32, work / "int8_weight_only"),
    )
    for make in makers:
        graph = make()
        logits = parity.onnx_logits(parity.onnx_session(graph.path), graph.inputs, ids, pad_id)
        report = parity.measure(reference, fp32_logits, logits)
        if not report.failures(limits):
            break
        logger.info("%s fails the parity gate: %s", graph.method, report.failures(limits))
    return graph, report


def _check_tokenizer(run: RunInfo, texts: list[str], ids: list[list[int]]) -> None:
    """Serving's `tokenizers` reading tokenizer.json must give the ids the gate scores."""
    from training.export.parity import tokenizer_mismatches

    path = run.model_dir / TOKENIZER_FILE
    bad = tokenizer_mismatches(path, texts, int(run.student["max_length"]), ids)
    if bad:
        raise ExportError(
            f"{path}: the `tokenizers` library gives other token ids than the training "
            f"tokenizer on {bad} of {len(texts)} validation rows; serving would see other "
            "inputs than the model was trained on: retrain with a fast tokenizer"
        )


def _write_bundle(
    run: RunInfo, staging: Path, built: _Built, name: str | None, version: str | None
) -> Manifest:
    """Move the chosen graph in, copy tokenizer and taxonomy, write the manifest."""
    from training.distillation.distill_data import parent_index

    built.model.replace(staging / MODEL_FILE)
    shutil.rmtree(staging / "_work")
    shutil.copyfile(run.model_dir / TOKENIZER_FILE, staging / TOKENIZER_FILE)
    shutil.copyfile(run.run_dir / TAXONOMY_FILE, staging / TAXONOMY_FILE)
    student = run.student
    parents = parent_index(run.taxonomy, student["label_level"])
    manifest = Manifest(
        format=BUNDLE_FORMAT,
        name=name or run.run_dir.resolve().name,
        version=version or "1",
        created_at=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        base_model=str(student["base_model"]),
        pooling=str(student["pooling"]),
        quantization="int8" if "model_int8" in built.sizes else "none",
        label_level=str(student["label_level"]),
        labels=list(student["labels"]),
        primary_labels=list(student["primary_labels"]),
        parents=None if parents is None else [int(p) for p in parents],
        taxonomy=run.taxonomy.fingerprint(),
        text_format_version=str(student["text_format_version"]),
        max_length=int(student["max_length"]),
        temperature=float(student["temperature"]),
        metrics=run.test_metrics,
        parity=built.parity,
        files={f: file_sha256(staging / f) for f in HASHED_FILES},
        onnx_inputs=list(built.inputs),
        onnx_output="logits",
    )
    write_manifest(staging, manifest)
    return manifest


def _publish(staging: Path, out: Path) -> None:
    """Rename the finished bundle to `out`, replacing an older bundle there."""
    if not out.exists():
        staging.rename(out)
        return
    old = out.with_name(f".{out.name}.old-{uuid.uuid4().hex[:8]}")
    out.rename(old)
    staging.rename(out)
    shutil.rmtree(old, ignore_errors=True)


class _Step:
    """Call with a step name to start it; `timings` holds seconds per finished step."""

    def __init__(self, status: Any) -> None:
        self.status = status
        self.timings: dict[str, float] = {}
        self._current: tuple[str, float] | None = None

    def __call__(self, name: str) -> None:
        self.finish()
        logger.info("export: %s", name)
        if self.status is not None:
            self.status.update(f"export: {name}…")
        self._current = (name, time.perf_counter())

    def finish(self) -> None:
        """Close the running step's timer."""
        if self._current is not None:
            name, began = self._current
            self.timings[name] = round(time.perf_counter() - began, 3)
            self._current = None


@contextlib.contextmanager
def _steps(show_progress: bool) -> Iterator[_Step]:
    """A `_Step` recorder, with a spinner on stderr naming the step when `show_progress`."""
    with contextlib.ExitStack() as stack:
        status = None
        if show_progress:
            from rich.console import Console

            status = stack.enter_context(Console(stderr=True).status("export…"))
        step = _Step(status)
        yield step
        step.finish()
