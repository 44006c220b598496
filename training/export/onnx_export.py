"""Turn a trained student folder into ONNX: an fp32 graph, then a dynamically quantized int8 one.

Two exporters, one per student head:

* ``pooling == "cls"``: a Hugging Face ``BertForSequenceClassification`` (or any
  ``AutoModelForSequenceClassification``), exported with optimum's ``main_export`` for the
  ``text-classification`` task. Its graph takes ``input_ids``, ``attention_mask`` and
  ``token_type_ids``.
* ``pooling == "mean"``: `training.distillation.mean_pool.MeanPoolClassifier`, a custom module
  optimum has no export config for, exported with ``torch.onnx.export`` (TorchScript exporter,
  ``dynamo=False``) with dynamic batch and sequence axes. Its graph takes ``input_ids`` and
  ``attention_mask``: training never fed ``token_type_ids`` (BERT then uses zeros), so the graph
  bakes them in.

Both graphs output ``logits`` of shape (batch, labels) at the same opset.

int8 is first dynamic quantization (weights int8 offline, activations quantized at run time, no
calibration data) with optimum's ``ORTQuantizer`` and the ``AutoQuantizationConfig`` preset for
the CPU this runs on, falling back to onnxruntime's ``quantize_dynamic`` if optimum refuses.
When that graph fails the parity gate (`training.export.to_bundle` decides), `quantize_weight_only`
makes a weight-only int8 graph instead: on the 3-layer MiniLM demo student dynamic int8 agreed with
torch on 99.1% of 998 validation rows, weight-only int8 on 99.9% (18.8 MB against 17.5 MB).

Graph optimisation (optimum's ``ORTOptimizer``) is deliberately not applied. Measured on a
3-epoch all-MiniLM-L6-v2 student (2 ORT threads, batch 64, shared 2-core AVX2 EPYC, medians of
12 interleaved runs): seq 16: fp32 540 ms vs 530 ms optimized (level 2), int8 457 vs 449 ms;
seq 32: fp32 908 vs 954 ms, int8 793 vs 793 ms; i.e. no gain beyond noise, because onnxruntime
already applies its fusions when a session loads the graph. Worse, optimum's ORTQuantizer refuses
the optimized graph (shape inference fails on the fused ops), and the int8 graph that
``quantize_dynamic`` makes of it agreed with torch on 95.7% of 300 validation rows against 98.0%
without the optimizer.

Quantization knobs measured on the same model and rows (argmax agreement with torch): the avx2
preset with per-channel weights 98.0% (23.0 MB); reduce_range 98.0%; asymmetric weights 96.7%;
u8/s8 with reduce_range 96.3%; per-tensor weights lost 2.6 points against per-channel on a
1-epoch model (93.7% vs 96.3%). Keeping the embeddings' Gather in fp32 costs 36 MB; keeping
the most sensitive MatMuls (layer 0-2 FFN output) in fp32 did not raise agreement. The avx2
per-channel preset is kept.
"""

from __future__ import annotations

import logging
import platform
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

ONNX_OPSET = 18
"""The opset of both exporters (optimum's recommended minimum for BERT)."""
OUTPUT_NAME = "logits"
INSTALL_HINT = 'pip install "txn-categorizer[train]"'
_MEAN_INPUTS = ["input_ids", "attention_mask"]


@dataclass(frozen=True)
class OnnxGraph:
    """An exported ONNX file and how to call it.

    Attributes:
        path: The .onnx file.
        inputs: The graph's input names, in order.
        method: How it was made, for logs and reports (e.g. "optimum main_export").
    """

    path: Path
    inputs: list[str]
    method: str


def require_export_deps() -> None:
    """Fail early, naming the extra to install, when an export dependency is missing.

    Raises:
        ImportError: torch, transformers, onnx, onnxruntime or optimum is not installed.
    """
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError as err:
        raise ImportError(f"export needs torch, transformers and onnxruntime ({err}); "
                          f"install them with: {INSTALL_HINT}") from None  # fmt: skip


def load_torch_student(model_dir: Path, pooling: str) -> Any:
    """The trained student of a run's model/ folder, in eval mode.

    Args:
        model_dir: RUN_DIR/model (save_pretrained output).
        pooling: "mean" (a MeanPoolClassifier folder) or "cls" (a Hugging Face classifier).
    """
    if pooling == "mean":
        from training.distillation.mean_pool import MeanPoolClassifier

        model = MeanPoolClassifier.from_folder(model_dir)
    else:
        from transformers import AutoModelForSequenceClassification

        model = AutoModelForSequenceClassification.from_pretrained(model_dir, local_files_only=True)
    return model.eval()


def export_fp32(model_dir: Path, pooling: str, out_dir: Path) -> OnnxGraph:
    """Export the student of `model_dir` to OUT_DIR/model.onnx (fp32).

    Args:
        model_dir: RUN_DIR/model.
        pooling: The student's head: "cls" goes through optimum, "mean" through torch.onnx.
        out_dir: A folder for the graph (and optimum's side files); created if missing.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        # The tracer flags transformers' mask arithmetic on the constant 1.0: a true constant.
        warnings.filterwarnings("ignore", message=r".*torch\.tensor results are registered")
        # dynamo=False is a deliberate choice (see `_export_mean_pool`), not a stale call.
        warnings.filterwarnings("ignore", message=r".*legacy TorchScript-based ONNX export")
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.onnx")
        if pooling == "cls":
            graph = _export_with_optimum(model_dir, out_dir)
        else:
            model = load_torch_student(model_dir, pooling)
            graph = _export_mean_pool(model, out_dir / "model.onnx")
            # ORTQuantizer reads config.json beside the graph (it warns without one).
            shutil.copyfile(model_dir / "config.json", out_dir / "config.json")
    _check_graph(graph)
    return graph


def _export_with_optimum(model_dir: Path, out_dir: Path) -> OnnxGraph:
    try:
        from optimum.exporters.onnx import main_export
    except ImportError as err:
        raise ImportError(
            f"exporting a cls student needs optimum ({err}): {INSTALL_HINT}"
        ) from None
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # optimum passes transformers a deprecated torch_dtype
    try:
        _main_export(main_export, model_dir, out_dir)
    finally:
        hf_logging.set_verbosity(level)
    path = out_dir / "model.onnx"
    return OnnxGraph(path=path, inputs=onnx_input_names(path), method="optimum main_export")


def _main_export(main_export: Any, model_dir: Path, out_dir: Path) -> None:
    main_export(
        str(model_dir),
        output=out_dir,
        task="text-classification",
        opset=ONNX_OPSET,
        device="cpu",
        do_validation=False,  # our own parity gate compares on real validation rows
    )


def _logits_only(model: Any) -> Any:
    """`model` as a module whose forward returns the logits tensor (what the exporter traces)."""
    import torch

    class LogitsOnly(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            return self.inner(input_ids=input_ids, attention_mask=attention_mask).logits

    return LogitsOnly(model).eval()


def _export_mean_pool(model: Any, path: Path) -> OnnxGraph:
    """Export a MeanPoolClassifier with torch.onnx's TorchScript exporter (``dynamo=False``).

    It traces the BERT encoder and the masked mean into one graph with dynamic batch and
    sequence axes, at the same opset as optimum's cls export; the dynamo exporter needs
    onnxscript and gains nothing here.
    """
    import torch

    axes = {0: "batch_size", 1: "sequence_length"}
    example = torch.ones((2, 8), dtype=torch.long)
    with torch.inference_mode():
        torch.onnx.export(
            _logits_only(model),
            (example, example),
            str(path),
            input_names=_MEAN_INPUTS,
            output_names=[OUTPUT_NAME],
            dynamic_axes={
                "input_ids": axes,
                "attention_mask": axes,
                OUTPUT_NAME: {0: "batch_size"},
            },
            opset_version=ONNX_OPSET,
            do_constant_folding=True,
            dynamo=False,
        )
    return OnnxGraph(path=path, inputs=list(_MEAN_INPUTS), method="torch.onnx.export")


def onnx_input_names(path: Path) -> list[str]:
    """The input names of an ONNX file (initialisers excluded)."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    initialisers = {i.name for i in model.graph.initializer}
    return [i.name for i in model.graph.input if i.name not in initialisers]


def _check_graph(graph: OnnxGraph) -> None:
    """The graph is valid ONNX with the inputs we feed and a single "logits" output."""
    import onnx

    onnx.checker.check_model(str(graph.path))
    outputs = [o.name for o in onnx.load(str(graph.path), load_external_data=False).graph.output]
    if outputs != [OUTPUT_NAME] or "input_ids" not in graph.inputs:
        raise RuntimeError(
            f"{graph.path}: unexpected graph signature (inputs {graph.inputs}, outputs {outputs})"
        )


def cpu_target() -> str:
    """The `AutoQuantizationConfig` preset for this CPU: avx512_vnni, avx512, avx2 or arm64."""
    machine = platform.machine().lower()
    if machine in ("arm64", "aarch64"):
        return "arm64"
    flags = _cpu_flags()
    if "avx512_vnni" in flags or "avx512vnni" in flags:
        return "avx512_vnni"
    if "avx512f" in flags:
        return "avx512"
    return "avx2"  # x86-64 without readable flags: avx2 (u8/u8) is the portable choice


def _cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.partition(":")[2].split())
    return set()


def quantize_int8(fp32: OnnxGraph, out_dir: Path, *, per_channel: bool = True) -> OnnxGraph:
    """Dynamic int8 quantization of `fp32` into OUT_DIR/model_quantized.onnx.

    Uses optimum's ``ORTQuantizer`` with the `cpu_target` preset; if optimum is missing or
    refuses the graph, onnxruntime's ``quantize_dynamic`` (u8 weights and activations, the
    AVX2-safe combination).

    Args:
        fp32: The exported fp32 graph.
        out_dir: Where to write the int8 graph; created if missing.
        per_channel: One scale per output channel of each weight (more accurate, a little
            larger) instead of one per tensor.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    target = cpu_target()
    try:
        path = _quantize_with_optimum(fp32.path, out_dir, target, per_channel)
        method = f"optimum ORTQuantizer ({target}, dynamic, per_channel={per_channel})"
    except ImportError as err:
        logger.warning("optimum is not usable (%s): quantizing with onnxruntime", err)
        path, method = _quantize_with_onnxruntime(fp32.path, out_dir, per_channel)
    except Exception as err:  # optimum raises several types for graphs it cannot handle
        logger.warning("optimum could not quantize %s (%s): using onnxruntime", fp32.path, err)
        path, method = _quantize_with_onnxruntime(fp32.path, out_dir, per_channel)
    logger.info("quantized %s to int8 with %s", fp32.path.name, method)
    return OnnxGraph(path=path, inputs=list(fp32.inputs), method=method)


def _quantize_with_optimum(source: Path, out_dir: Path, target: str, per_channel: bool) -> Path:
    from optimum.onnxruntime import ORTQuantizer
    from optimum.onnxruntime.configuration import AutoQuantizationConfig

    config = getattr(AutoQuantizationConfig, target)(is_static=False, per_channel=per_channel)
    quantizer = ORTQuantizer.from_pretrained(source.parent, file_name=source.name)
    quantizer.quantize(quantization_config=config, save_dir=out_dir)
    path = out_dir / f"{source.stem}_quantized.onnx"
    if not path.is_file():
        raise RuntimeError(f"ORTQuantizer wrote no {path.name} in {out_dir}")
    return path


def _quantize_with_onnxruntime(source: Path, out_dir: Path, per_channel: bool) -> tuple[Path, str]:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    path = out_dir / f"{source.stem}_quantized.onnx"
    quantize_dynamic(
        source, path, per_channel=per_channel, weight_type=QuantType.QUInt8, reduce_range=False
    )
    return path, f"onnxruntime quantize_dynamic (u8/u8, per_channel={per_channel})"


def quantize_weight_only(fp32: OnnxGraph, out_dir: Path, *, block_size: int = 32) -> OnnxGraph:
    """Weight-only int8: the fallback when dynamic int8 flips too many predictions.

    Dynamic quantization also rounds every activation to 8 bits with one scale per tensor, and
    BERT's activations have outlier channels: on a 3-layer MiniLM student it flipped 0.9% of
    validation predictions, above the gate. Here only weights are int8: each MatMul's in blocks
    of `block_size` rows (onnxruntime's MatMulNBits, computing in fp32) and the word-embedding
    table with one scale per token row. Measured on that student (998 validation rows): 99.9%
    agreement with torch, 18.8 MB against 69 MB fp32, at about fp32 speed.
    """
    import onnx
    from onnxruntime.quantization import matmul_nbits_quantizer as nbits

    out_dir.mkdir(parents=True, exist_ok=True)
    config = nbits.DefaultWeightOnlyQuantConfig(
        block_size=block_size, is_symmetric=True, accuracy_level=0, bits=8
    )
    quantizer = nbits.MatMulNBitsQuantizer(onnx.load(str(fp32.path)), algo_config=config)
    quantizer.process()
    model = quantizer.model.model
    _int8_embedding_rows(model)
    path = out_dir / f"{fp32.path.stem}_weight_only.onnx"
    onnx.save(model, str(path))
    method = f"weight-only int8 (MatMulNBits block {block_size}, per-row int8 embeddings)"
    return OnnxGraph(path=path, inputs=list(fp32.inputs), method=method)


def _int8_embedding_rows(model: Any, min_elements: int = 1_000_000) -> None:
    """Store each large Gather table as int8 rows and a scale per row, dequantized after Gather.

    Only the looked-up rows are dequantized (Gather → Cast → Mul), so the cost per call is
    (tokens × hidden), not the table's size.
    """
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    graph = model.graph
    tables = {i.name: i for i in graph.initializer}
    for node in list(graph.node):
        table = tables.get(node.input[0]) if node.op_type == "Gather" else None
        if table is None:
            continue
        weights = numpy_helper.to_array(table)
        if weights.ndim != 2 or weights.size < min_elements or weights.dtype != np.float32:
            continue
        scale = np.abs(weights).max(axis=1, keepdims=True) / 127.0
        scale[scale == 0] = 1.0
        rows = np.clip(np.round(weights / scale), -127, 127).astype(np.int8)
        name, ids, out = table.name, node.input[1], node.output[0]
        graph.initializer.remove(table)
        graph.initializer.extend(
            [
                numpy_helper.from_array(rows, f"{name}_int8"),
                numpy_helper.from_array(scale.astype(np.float32), f"{name}_scale"),
            ]
        )
        at = list(graph.node).index(node)
        graph.node.remove(node)
        new = [
            helper.make_node("Gather", [f"{name}_int8", ids], [f"{out}_q"], axis=0),
            helper.make_node("Gather", [f"{name}_scale", ids], [f"{out}_s"], axis=0),
            helper.make_node("Cast", [f"{out}_q"], [f"{out}_f"], to=TensorProto.FLOAT),
            helper.make_node("Mul", [f"{out}_f", f"{out}_s"], [out]),
        ]
        for offset, item in enumerate(new):
            graph.node.insert(at + offset, item)
